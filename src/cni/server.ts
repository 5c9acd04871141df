// The agent side of the thin path: a unix socket server that runs CNI calls
// with the same skel and verbs as the standalone executable, but with
// datastore connections (and the allocator's caches) kept open across calls.
// The agent mounts it with startCniServer; tests and the benchmark start it
// on their own.

import { chmodSync, mkdirSync, unlinkSync, existsSync, lstatSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { cachedContexts } from './context.js';
import { tortieIpamVerbs } from './ipam-plugin.js';
import { tortieVerbs, type PluginDeps } from './plugin.js';
import { decodeRequest, encodeReply, type CniReply } from './protocol.js';
import { CniError, ERR_DECODE } from './errors.js';
import { runSkel, type PluginVerbs } from './skel.js';
import { ABOUT } from './standalone.js';

export interface CniServerOptions {
  socketPath: string;
  /** The agent's readiness for STATUS: a reason it cannot serve ADD, or undefined. */
  agentNotReady?: () => string | undefined;
  /** Largest request accepted, bytes (default 4 MiB). */
  maxRequestBytes?: number;
}

export interface CniServer {
  readonly socketPath: string;
  /** Requests served so far. */
  readonly served: number;
  close(): Promise<void>;
}

/**
 * Listens on `socketPath` (mode 0600: the plugin runs as root, nobody else may
 * ask for networking). A stale socket file is replaced; any other file there
 * is an error.
 */
export async function startCniServer(opts: CniServerOptions): Promise<CniServer> {
  const contexts = cachedContexts();
  const deps: PluginDeps = { contexts };
  if (opts.agentNotReady) deps.agentNotReady = opts.agentNotReady;
  const verbs: Record<string, PluginVerbs> = {
    tortie: tortieVerbs(deps),
    'tortie-ipam': tortieIpamVerbs(contexts),
  };
  const max = opts.maxRequestBytes ?? 4 * 1024 * 1024;
  let served = 0;
  const sockets = new Set<Socket>();

  const handle = (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    const chunks: Buffer[] = [];
    let size = 0;
    sock.on('error', () => sock.destroy());
    sock.on('data', (b: Buffer) => {
      size += b.length;
      if (size > max) {
        sock.destroy();
        return;
      }
      chunks.push(b);
    });
    sock.on('end', () => {
      void (async () => {
        let reply: CniReply;
        try {
          const req = decodeRequest(Buffer.concat(chunks));
          reply = await runSkel(
            { env: req.env, stdin: req.stdin },
            verbs[req.plugin]!,
            ABOUT[req.plugin],
          );
        } catch (err) {
          reply = {
            exitCode: 1,
            stdout:
              JSON.stringify(
                new CniError(ERR_DECODE, 'bad request to agent', (err as Error).message).toJSON(
                  '1.1.0',
                ),
              ) + '\n',
            stderr: '',
          };
        }
        served++;
        if (!sock.destroyed) sock.end(encodeReply(reply));
      })();
    });
  };

  mkdirSync(dirname(opts.socketPath), { recursive: true, mode: 0o700 });
  if (existsSync(opts.socketPath)) {
    if (!lstatSync(opts.socketPath).isSocket()) {
      throw new Error(`${opts.socketPath} exists and is not a socket`);
    }
    unlinkSync(opts.socketPath);
  }
  const server: Server = createServer({ allowHalfOpen: true }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(opts.socketPath, 0o600);

  return {
    socketPath: opts.socketPath,
    get served() {
      return served;
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      try {
        unlinkSync(opts.socketPath);
      } catch {
        /* gone already */
      }
      await contexts.close();
    },
  };
}
