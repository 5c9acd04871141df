// The thin path: hand the whole CNI call to the agent over its unix socket and
// print what it answers. Only node:net and the protocol are loaded here; the
// plugin itself (datastore, allocator, dataplane) is never imported on this
// path.

import { connect } from 'node:net';
import {
  decodeReply,
  encodeRequest,
  forwardedEnv,
  type CniReply,
  type PluginName,
} from './protocol.js';
import { CniError, ERR_TRY_AGAIN } from './errors.js';

export const DEFAULT_AGENT_SOCKET = '/run/tortie/agent.sock';

/** agent_socket from the configuration text; "" disables the agent path. */
export function agentSocketFor(
  stdin: string,
  env: Readonly<Record<string, string | undefined>>,
): string {
  try {
    const conf = JSON.parse(stdin) as Record<string, unknown>;
    if (typeof conf['agent_socket'] === 'string') return conf['agent_socket'];
  } catch {
    /* malformed: the plugin reports it, wherever it runs */
  }
  return env['TORTIE_AGENT_SOCKET'] ?? DEFAULT_AGENT_SOCKET;
}

/**
 * Sends the call to the agent. Resolves undefined when no agent listens (no
 * socket file, or connection refused): the caller then runs standalone. Once
 * connected, a failure is an error reply with code 11 (try again): the agent
 * may have done part of the work, and only a retry of the runtime's is safe.
 */
export function callAgent(
  socketPath: string,
  plugin: PluginName,
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
  timeoutMs = 120_000,
): Promise<CniReply | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let connected = false;
    let done = false;
    const finish = (r: CniReply | undefined) => {
      if (done) return;
      done = true;
      sock.destroy();
      resolve(r);
    };
    const retry = (why: string): CniReply => ({
      exitCode: 1,
      stdout:
        JSON.stringify(new CniError(ERR_TRY_AGAIN, 'agent call failed', why).toJSON('1.1.0')) +
        '\n',
      stderr: '',
    });
    const sock = connect(socketPath);
    sock.setTimeout(timeoutMs, () =>
      finish(retry(`no answer from ${socketPath} within ${timeoutMs} ms`)),
    );
    sock.on('connect', () => {
      connected = true;
      sock.end(encodeRequest({ plugin, env: forwardedEnv(env), stdin }));
    });
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('end', () => {
      try {
        finish(decodeReply(Buffer.concat(chunks)));
      } catch (err) {
        finish(retry(`${socketPath}: ${(err as Error).message}`));
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (
        !connected &&
        (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK')
      ) {
        finish(undefined);
      } else {
        finish(retry(`${socketPath}: ${err.message}`));
      }
    });
  });
}
