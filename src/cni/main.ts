// Entry point of the tortie and tortie-ipam executables (bin/tortie-cni,
// bin/tortie-ipam). Kept to the smallest import graph: VERSION is answered
// here, every other call goes to the agent's socket when one listens, and
// only otherwise is the plugin loaded (standalone.js) and run in-process.
// TORTIE_CNI_STANDALONE=1 skips the agent.

import { emit, readStdin, runSkel, type PluginVerbs } from './skel.js';
import type { PluginName } from './protocol.js';
import { agentSocketFor, callAgent } from './thin-client.js';

const NO_VERBS = new Proxy({} as PluginVerbs, {
  get() {
    throw new Error('unreachable: VERSION and environment errors need no plugin');
  },
});

export async function main(plugin: PluginName, argv: string[] = []): Promise<void> {
  if (argv[0] === 'serve') return serve(argv.slice(1));
  const env = process.env;
  const command = env['CNI_COMMAND'] ?? '';
  if (command === 'VERSION' || command === '') {
    emit(await runSkel({ env, stdin: '' }, NO_VERBS, `CNI plugin ${plugin}`));
    return;
  }
  const stdin = await readStdin();
  if (env['TORTIE_CNI_STANDALONE'] !== '1') {
    const socket = agentSocketFor(stdin, env);
    if (socket !== '') {
      const reply = await callAgent(socket, plugin, env, stdin);
      if (reply) {
        emit(reply);
        return;
      }
    }
  }
  const { runStandalone } = await import('./standalone.js');
  emit(await runStandalone(plugin, { env, stdin }));
}

/**
 * `tortie-cni serve [--socket PATH]`: the agent-side server on its own, until
 * the agent hosts it (SIGINT/SIGTERM stop it and remove the socket).
 */
async function serve(args: string[]): Promise<void> {
  const i = args.indexOf('--socket');
  const socketPath =
    (i >= 0 ? args[i + 1] : undefined) ??
    process.env['TORTIE_AGENT_SOCKET'] ??
    '/run/tortie/agent.sock';
  const { startCniServer } = await import('./server.js');
  const server = await startCniServer({ socketPath });
  process.stderr.write(`tortie-cni: serving CNI calls on ${socketPath}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
