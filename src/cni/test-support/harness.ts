// Shared by the CNI end-to-end tests and the benchmark: private network
// namespaces (a "host" namespace the plugin runs in, and workload
// namespaces), a temporary SQLite datastore with pools and a Node, and
// running the real executables.
//
// Every namespace is named `tcni<pid>-…` and removed by cleanup(), which also
// kills any process the harness started; nothing touches the machine's own
// network namespace.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatastore } from '../../datastore/open.js';
import { ResourceStore } from '../../datastore/resources.js';
import type { Datastore } from '../../datastore/types.js';
import type { IPPoolSpec, NodeSpec } from '../../model/resource.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const TORTIE_CNI_BIN = join(REPO, 'bin/tortie-cni');
export const TORTIE_IPAM_BIN = join(REPO, 'bin/tortie-ipam');
export const REFERENCE_CNI_DIR = '/usr/lib/cni';

export function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export interface PluginRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  json?: Record<string, unknown>;
  ms: number;
}

export class Lab {
  readonly prefix: string;
  readonly dir: string;
  readonly cniBinDir: string;
  private readonly namespaces = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  ds?: Datastore;
  store?: ResourceStore;
  datastoreUrl: string;

  constructor(tag = '') {
    this.prefix = `tcni${process.pid}${tag}-`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.prefix}`));
    this.cniBinDir = join(this.dir, 'bin');
    mkdirSync(this.cniBinDir);
    // The runtime finds plugins by type name.
    symlinkSync(TORTIE_CNI_BIN, join(this.cniBinDir, 'tortie'));
    symlinkSync(TORTIE_IPAM_BIN, join(this.cniBinDir, 'tortie-ipam'));
    for (const p of ['bridge', 'host-local', 'loopback']) {
      symlinkSync(join(REFERENCE_CNI_DIR, p), join(this.cniBinDir, p));
    }
    this.datastoreUrl = `sqlite:${join(this.dir, 'tortie.db')}`;
  }

  /** Creates a namespace `<prefix><name>`; returns its full name. */
  netns(name: string): string {
    const full = `${this.prefix}${name}`;
    sh('ip', ['netns', 'add', full]);
    this.namespaces.add(full);
    sh('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  delNetns(full: string): void {
    spawnSync('ip', ['netns', 'del', full]);
    this.namespaces.delete(full);
  }

  /**
   * A namespace that plays the host: lo up with `hostAddress`, and a veth pair
   * carrying a default route, so proxy ARP has a route for 169.254.1.1 that
   * leaves by another interface (as a real host's default route does).
   */
  hostNetns(name: string, hostAddress: string): string {
    const full = this.netns(name);
    const batch = [
      `addr add ${hostAddress}/32 dev lo`,
      `link add up0 type veth peer name up1`,
      `link set up0 up`,
      `link set up1 up`,
      `route add default dev up0`,
    ].join('\n');
    sh('ip', ['-n', full, '-batch', '-'], batch + '\n');
    sh('ip', ['netns', 'exec', full, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    return full;
  }

  async openStore(): Promise<ResourceStore> {
    this.ds = await openDatastore(this.datastoreUrl);
    this.store = new ResourceStore(this.ds);
    return this.store;
  }

  async addPool(name: string, cidr: string, extra: Partial<IPPoolSpec> = {}): Promise<void> {
    await this.store!.create<IPPoolSpec>({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name },
      spec: {
        cidr,
        blockSize: cidr.includes(':') ? 122 : 28,
        ipipMode: 'Never',
        vxlanMode: 'Never',
        nodeSelector: 'all()',
        ...extra,
      },
    });
  }

  async addNode(name: string): Promise<void> {
    await this.store!.create<NodeSpec>({
      apiVersion: 'projectcalico.org/v3',
      kind: 'Node',
      metadata: { name },
      spec: {},
    });
  }

  track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /**
   * Runs an executable with the CNI environment, inside `inNetns` when given
   * (so host-side interfaces land in a namespace of ours).
   */
  run(
    bin: string,
    env: Record<string, string>,
    stdin: string,
    inNetns?: string,
  ): Promise<PluginRun> {
    return runExecutable(bin, { CNI_PATH: this.cniBinDir, ...env }, stdin, inNetns, (c) =>
      this.track(c),
    );
  }

  /** Host-side links in a namespace whose name starts with `cali`. */
  caliLinks(inNetns: string): string[] {
    const links = JSON.parse(sh('ip', ['-n', inNetns, '-json', 'link', 'show'])) as {
      ifname: string;
    }[];
    return links.map((l) => l.ifname).filter((n) => n.startsWith('cali'));
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    await this.ds?.close().catch(() => undefined);
    for (const ns of this.namespaces) spawnSync('ip', ['netns', 'del', ns]);
    this.namespaces.clear();
    // Namespaces of ours made by another process (the benchmark's worker).
    const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    for (const line of listed.split('\n')) {
      const name = line.split(' ')[0] ?? '';
      if (name.startsWith(this.prefix)) spawnSync('ip', ['netns', 'del', name]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function cniEnv(
  command: string,
  containerId: string,
  netnsName: string | undefined,
  ifName = 'eth0',
  args = '',
): Record<string, string> {
  const env: Record<string, string> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_IFNAME: ifName,
  };
  if (netnsName !== undefined)
    env['CNI_NETNS'] = netnsName.startsWith('/') ? netnsName : `/run/netns/${netnsName}`;
  if (args) env['CNI_ARGS'] = args;
  return env;
}

/** Runs a CNI executable; PATH is kept, the rest of the environment is `env`. */
export function runExecutable(
  bin: string,
  env: Record<string, string>,
  stdin: string,
  inNetns?: string,
  track: (c: ChildProcess) => void = () => undefined,
): Promise<PluginRun> {
  const [file, args] = inNetns ? ['ip', ['netns', 'exec', inNetns, bin]] : [bin, []];
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args as string[], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    track(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const r: PluginRun = {
        exitCode: code ?? -1,
        stdout,
        stderr: Buffer.concat(err).toString('utf8'),
        ms: performance.now() - started,
      };
      try {
        if (stdout.trim()) r.json = JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        /* not JSON: the test will say so */
      }
      resolvePromise(r);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}
