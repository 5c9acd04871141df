import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A throwaway single-member etcd for tests and benchmarks, on 127.0.0.1 with
 * ports the OS picked. The server runs in its own process group; stop() kills
 * the group. It dies with this process too: via the kernel's parent-death
 * signal (setpriv --pdeathsig) where available, and an exit hook otherwise.
 */

export interface EtcdServer {
  /** Datastore URL for openDatastore, e.g. `etcd://127.0.0.1:40123`. */
  url: string;
  /** Client endpoint for the etcd3 client, e.g. `http://127.0.0.1:40123`. */
  endpoint: string;
  dataDir: string;
  /** Stops the server and, if startEtcd created it, removes the data dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops and starts the server on the same ports and data dir. */
  restart(): Promise<void>;
}

const ETCD = 'etcd';
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

/** Why etcd tests cannot run here, or undefined if they can. Use as `{ skip: etcdSkipReason() }`. */
export function etcdSkipReason(): string | undefined {
  const probe = spawnSync(ETCD, ['--version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    return `etcd is not installed (no working "${ETCD}" on PATH); skipping etcd tests`;
  }
  return undefined;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

export async function startEtcd(opts: { dataDir?: string } = {}): Promise<EtcdServer> {
  const reason = etcdSkipReason();
  if (reason) throw new Error(reason);
  const ownsDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'tortie-etcd-'));

  let launched: { proc: EtcdProcess; ports: Ports };
  try {
    launched = await launchOnFreePorts(dataDir);
  } catch (err) {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const { ports } = launched;
  let proc = launched.proc;

  let stopped = false;
  const endpoint = `http://127.0.0.1:${ports.client}`;
  return {
    url: `etcd://127.0.0.1:${ports.client}`,
    endpoint,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChild(proc.child);
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async restart() {
      if (stopped) throw new Error('etcd server was stopped');
      await stopChild(proc.child);
      proc = await launchEtcd(dataDir, ports);
    },
  };
}

interface Ports {
  client: number;
  peer: number;
}

/** Another process may take a probed port before etcd binds it: retry with fresh ones. */
async function launchOnFreePorts(dataDir: string): Promise<{ proc: EtcdProcess; ports: Ports }> {
  for (let attempt = 1; ; attempt++) {
    const ports = { client: await freePort(), peer: await freePort() };
    try {
      return { proc: await launchEtcd(dataDir, ports), ports };
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

interface EtcdProcess {
  child: ChildProcess;
  /** The tail of its stderr, for startup failure messages. */
  stderr(): string;
}

/** Starts etcd and waits until it reports healthy; kills it if it does not. */
async function launchEtcd(dataDir: string, ports: Ports): Promise<EtcdProcess> {
  const proc = spawnEtcd(dataDir, ports.client, ports.peer);
  try {
    await waitHealthy(proc, `http://127.0.0.1:${ports.client}`);
    return proc;
  } catch (err) {
    await stopChild(proc.child);
    throw err;
  }
}

function spawnEtcd(dataDir: string, clientPort: number, peerPort: number): EtcdProcess {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name=tortie-test',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=tortie-test=${peer}`,
    '--logger=zap',
    '--log-level=error',
  ];
  const hasSetpriv = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;
  const [command, argv] = hasSetpriv
    ? ['setpriv', ['--pdeathsig', 'SIGKILL', ETCD, ...args]]
    : [ETCD, args];
  const child = spawn(command, argv, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  child.on('exit', () => running.delete(child));
  return { child, stderr: () => stderr };
}

async function waitHealthy({ child, stderr }: EtcdProcess, endpoint: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const status = child.exitCode ?? child.signalCode;
      throw new Error(`etcd exited during startup (${status}): ${stderr()}`);
    }
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (res.ok && body.health === 'true') return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`etcd at ${endpoint} not healthy within ${READY_TIMEOUT_MS}ms`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
