// BIRD 2, GoBGP and FRR bgpd in a namespace, each with its configuration,
// control socket and pid file in the lab's temporary directory, never the
// system's defaults.

import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

import type { NetLab } from './netns.js';

export async function waitFor<T>(
  what: string,
  ms: number,
  poll: () => T | undefined,
  every = 100,
): Promise<T> {
  const end = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const v = poll();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// ---------------------------------------------------------------------------
// BIRD 2

export class Bird {
  readonly socket: string;
  readonly config: string;
  child: ChildProcess | undefined;

  constructor(
    readonly lab: NetLab,
    readonly ns: string,
    readonly name: string,
    configText: string,
  ) {
    const dir = join(lab.dir, name);
    mkdirSync(dir, { recursive: true });
    this.socket = join(dir, 'bird.ctl');
    this.config = join(dir, 'bird.conf');
    writeFileSync(this.config, configText);
  }

  /** Starts BIRD in the foreground; recovery: with -R (graceful restart recovery). */
  async start(options: { recovery?: boolean } = {}): Promise<void> {
    this.child = this.lab.spawn(this.ns, [
      'bird',
      '-f',
      '-c',
      this.config,
      '-s',
      this.socket,
      '-P',
      `${this.socket}.pid`,
      ...(options.recovery ? ['-R'] : []),
    ]);
    await waitFor(
      'BIRD control socket',
      10_000,
      () =>
        this.lab.execQuiet(this.ns, ['birdc', '-s', this.socket, 'show', 'status']).code === 0 ||
        undefined,
    );
  }

  birdc(...args: string[]): string {
    return this.lab.exec(this.ns, ['birdc', '-s', this.socket, ...args]);
  }

  /** Prefixes in BIRD's table learnt from a protocol. */
  routesFrom(protocol: string): string[] {
    const out = this.birdc('show', 'route', 'protocol', protocol);
    return [...out.matchAll(/^([0-9a-f.:]+\/\d+)\s/gm)].map((m) => m[1]!).sort();
  }

  protocolState(protocol: string): string {
    const out = this.birdc('show', 'protocols', protocol);
    const line = out.split('\n').find((l) => l.startsWith(protocol));
    return line?.trim().split(/\s+/).slice(5).join(' ') ?? '';
  }

  /** `birdc graceful restart`: BIRD exits asking its peers to keep its routes. */
  async gracefulRestartStop(): Promise<void> {
    const child = this.child;
    this.lab.execQuiet(this.ns, ['birdc', '-s', this.socket, 'graceful', 'restart']);
    if (child !== undefined) await this.lab.kill(child, 'SIGCONT', 5000);
  }

  async stop(): Promise<void> {
    if (this.child !== undefined) await this.lab.kill(this.child);
    this.child = undefined;
  }
}

// ---------------------------------------------------------------------------
// GoBGP

export class GoBgp {
  readonly config: string;
  child: ChildProcess | undefined;

  constructor(
    readonly lab: NetLab,
    readonly ns: string,
    readonly name: string,
    configText: string,
    readonly apiPort: number,
  ) {
    const dir = join(lab.dir, name);
    mkdirSync(dir, { recursive: true });
    this.config = join(dir, 'gobgpd.toml');
    writeFileSync(this.config, configText);
  }

  async start(extra: string[] = []): Promise<void> {
    this.child = this.lab.spawn(this.ns, [
      'gobgpd',
      '-f',
      this.config,
      '--api-hosts',
      `127.0.0.1:${this.apiPort}`,
      '--pprof-disable',
      '-l',
      'warn',
      ...extra,
    ]);
    await waitFor(
      'gobgpd API',
      10_000,
      () =>
        this.lab.execQuiet(this.ns, ['gobgp', '-p', String(this.apiPort), 'global']).code === 0 ||
        undefined,
    );
  }

  gobgp(...args: string[]): string {
    return this.lab.exec(this.ns, ['gobgp', '-p', String(this.apiPort), ...args]);
  }

  neighborState(address: string): string {
    const j = JSON.parse(this.gobgp('neighbor', address, '-j')) as {
      state?: { session_state?: number | string };
    };
    return String(j.state?.session_state ?? '');
  }

  /** Prefixes of the global RIB (IPv4), with their next hops. */
  rib(): Map<string, string> {
    const out = this.gobgp('global', 'rib', '-a', 'ipv4', '-j');
    const j = JSON.parse(out.trim() === '' ? '{}' : out) as Record<
      string,
      { attrs?: { type: number; nexthop?: string }[] }[]
    >;
    const m = new Map<string, string>();
    for (const [prefix, paths] of Object.entries(j)) {
      const nh = paths[0]?.attrs?.find((a) => a.type === 3)?.nexthop ?? '';
      m.set(prefix, nh);
    }
    return m;
  }

  async stop(): Promise<void> {
    if (this.child !== undefined) await this.lab.kill(this.child);
    this.child = undefined;
  }
}

// ---------------------------------------------------------------------------
// FRR bgpd (no zebra: -Z; nothing goes to the kernel: -n)

export class Frr {
  readonly config: string;
  readonly vtyDir: string;
  child: ChildProcess | undefined;

  constructor(
    readonly lab: NetLab,
    readonly ns: string,
    readonly name: string,
    configText: string,
  ) {
    this.vtyDir = join(lab.dir, name);
    mkdirSync(this.vtyDir, { recursive: true });
    this.config = join(this.vtyDir, 'bgpd.conf');
    writeFileSync(this.config, configText);
  }

  async start(): Promise<void> {
    this.child = this.lab.spawn(this.ns, [
      '/usr/lib/frr/bgpd',
      '-f',
      this.config,
      '-i',
      join(this.vtyDir, 'bgpd.pid'),
      '-z',
      join(this.vtyDir, 'zserv.api'),
      '--vty_socket',
      this.vtyDir,
      '-A',
      '127.0.0.1',
      '-P',
      '0',
      '-S',
      '-Z',
      '-n',
      '--log',
      `file:${join(this.vtyDir, 'bgpd.log')}`,
    ]);
    await waitFor(
      'bgpd vty',
      15_000,
      () => this.lab.execQuiet(this.ns, this.vtyshArgv('show bgp summary')).code === 0 || undefined,
    );
  }

  private vtyshArgv(command: string): string[] {
    return ['vtysh', '--vty_socket', this.vtyDir, '-d', 'bgpd', '-c', command];
  }

  vtysh(command: string): string {
    return this.lab.exec(this.ns, this.vtyshArgv(command));
  }

  neighborState(address: string): string {
    const j = JSON.parse(this.vtysh(`show bgp neighbors ${address} json`)) as Record<
      string,
      { bgpState?: string }
    >;
    return j[address]?.bgpState ?? '';
  }

  /** IPv4 unicast table: prefix → next hop. */
  rib(): Map<string, string> {
    const j = JSON.parse(this.vtysh('show bgp ipv4 unicast json')) as {
      routes?: Record<string, { nexthops?: { ip?: string }[] }[]>;
    };
    const m = new Map<string, string>();
    for (const [prefix, paths] of Object.entries(j.routes ?? {}))
      m.set(prefix, paths[0]?.nexthops?.[0]?.ip ?? '');
    return m;
  }

  async stop(): Promise<void> {
    if (this.child !== undefined) await this.lab.kill(this.child);
    this.child = undefined;
  }
}
