// The root-namespace end of the lab's datastore relays: a unix socket whose
// connections are piped to a TCP datastore (etcd on 127.0.0.1), and that can
// be shut — existing connections cut, new ones refused — to stand for a
// datastore outage as the hosts see it, while the test itself still talks
// to the datastore directly.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostProcess } from '../lab.js';

export class DatastoreGate {
  private readonly sockets = new Set<Socket>();
  private open = true;
  private server: Server | undefined;

  constructor(
    readonly socketPath: string,
    private readonly target: { host: string; port: number },
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = connect(this.target.port, this.target.host);
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.pipe(upstream).pipe(client);
      const done = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      for (const s of [client, upstream]) {
        s.on('error', done);
        s.on('close', done);
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, () => resolve());
    });
  }

  /** The outage begins: every connection is cut and new ones are refused. */
  shut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  reopen(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.shut();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}

const RELAY = join(dirname(fileURLToPath(import.meta.url)), 'loopback-relay.ts');

/** A lab host process that relays 127.0.0.1:<port> in the host namespace to the gate's socket. */
export function relayHostProcess(gate: DatastoreGate, port: number): HostProcess {
  return {
    role: 'datastore-relay',
    argv: () => [
      process.execPath,
      '--import',
      'tsx',
      RELAY,
      '127.0.0.1',
      String(port),
      gate.socketPath,
    ],
  };
}
