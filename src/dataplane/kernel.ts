// The agent's view of the kernel: what the managers read (routes, links,
// addresses, neighbours, FDB entries, nftables, sysctls) and the two ways
// they write (iproute2 batches and nftables transactions). Behind an
// interface so that managers are tested against a fake kernel, and so that
// every write goes through one long-lived batch process per program.
//
// The agent runs inside the host's network namespace, so the real kernel is
// "the caller's namespace" throughout; tests that drive a namespace from
// outside pass its name (`ip -n`, `ip netns exec`).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCidr, tryParseCidr } from '../model/cidr.js';
import { BRIDGE_SENTINEL, BatchProcess, IP_SENTINEL, type BatchOutcome } from './batch-process.js';
import { run } from './ip.js';
import { readSysctl, sysctlPath } from './sysctl.js';

export interface KernelRoute {
  /** Canonical CIDR: "10.244.0.7/32", never a bare address. */
  dst: string;
  /** "unicast" unless the kernel says otherwise ("blackhole", "unreachable", "local", …). */
  type: string;
  gateway: string | undefined;
  dev: string | undefined;
  /** "80", "kernel", "boot", … as iproute2 prints it. */
  protocol: string | undefined;
  scope: string | undefined;
  onlink: boolean;
}

export interface KernelLink {
  name: string;
  index: number;
  kind: string | undefined;
  mac: string | undefined;
  mtu: number;
  up: boolean;
  vxlan:
    | {
        vni: number;
        port: number;
        local: string | undefined;
        parent: string | undefined;
        learning: boolean;
      }
    | undefined;
}

export interface KernelAddress {
  dev: string;
  family: 4 | 6;
  address: string;
  prefixLength: number;
  scope: string | undefined;
}

export interface KernelNeighbour {
  dst: string;
  lladdr: string | undefined;
  permanent: boolean;
}

export interface KernelFdbEntry {
  mac: string;
  dst: string | undefined;
  permanent: boolean;
}

/** Sets and the masquerade rule as found in the agent's nftables table. */
export interface NftTableState {
  sets: Record<string, string[]>;
  /** One entry per rule: its chain, whether it masquerades, and its comment. */
  rules: { chain: string; masquerade: boolean; comment: string | undefined }[];
  chains: string[];
}

export interface Kernel {
  /** IPv4 routes of the main table, every protocol. */
  routes(): Promise<KernelRoute[]>;
  links(): Promise<KernelLink[]>;
  /** Cheap: does the interface exist now (no process started for the real kernel). */
  linkExists(name: string): boolean;
  addresses(): Promise<KernelAddress[]>;
  neighbours(dev: string): Promise<KernelNeighbour[]>;
  fdb(dev: string): Promise<KernelFdbEntry[]>;
  /** Lines for `ip -batch`, e.g. "route replace …". */
  ip(lines: readonly string[]): Promise<BatchOutcome>;
  /** Lines for `bridge -batch`, e.g. "fdb replace …". */
  bridge(lines: readonly string[]): Promise<BatchOutcome>;
  /** Runs an nftables script as one transaction. */
  nft(script: string): Promise<void>;
  /** The table's sets and rules, or undefined if it does not exist. */
  nftTable(family: string, name: string): Promise<NftTableState | undefined>;
  readSysctl(name: string): string | undefined;
  writeSysctl(name: string, value: string): void;
  /** Whether `ip link add … type ipip` works here (tried on a scratch device). */
  probeIpip(): Promise<boolean>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Parsing iproute2's JSON

interface RawRoute {
  dst?: string;
  type?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  flags?: string[];
}

export function parseRoutes(json: string): KernelRoute[] {
  const raw = (json.trim() === '' ? [] : JSON.parse(json)) as RawRoute[];
  const out: KernelRoute[] = [];
  for (const r of raw) {
    if (!r.dst || r.dst === 'default') continue;
    const cidr = tryParseCidr(r.dst);
    if (!cidr || cidr.family !== 4) continue;
    out.push({
      dst: formatCidr(cidr),
      type: r.type ?? 'unicast',
      gateway: r.gateway,
      dev: r.dev,
      protocol: r.protocol,
      scope: r.scope,
      onlink: (r.flags ?? []).includes('onlink'),
    });
  }
  return out;
}

interface RawLink {
  ifindex: number;
  ifname: string;
  flags?: string[];
  mtu?: number;
  address?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

export function parseLinks(json: string): KernelLink[] {
  const raw = (json.trim() === '' ? [] : JSON.parse(json)) as RawLink[];
  return raw.map((l) => {
    const data = l.linkinfo?.info_data ?? {};
    const kind = l.linkinfo?.info_kind;
    return {
      name: l.ifname,
      index: l.ifindex,
      kind,
      mac: l.address?.toLowerCase(),
      mtu: l.mtu ?? 0,
      up: (l.flags ?? []).includes('UP'),
      vxlan:
        kind === 'vxlan'
          ? {
              vni: Number(data['id']),
              port: Number(data['port']),
              local: typeof data['local'] === 'string' ? data['local'] : undefined,
              parent: typeof data['link'] === 'string' ? data['link'] : undefined,
              learning: data['learning'] === true,
            }
          : undefined,
    };
  });
}

interface RawAddr {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

export function parseAddresses(json: string): KernelAddress[] {
  const raw = (json.trim() === '' ? [] : JSON.parse(json)) as RawAddr[];
  const out: KernelAddress[] = [];
  for (const l of raw) {
    for (const a of l.addr_info ?? []) {
      if (a.family !== 'inet' && a.family !== 'inet6') continue;
      out.push({
        dev: l.ifname,
        family: a.family === 'inet' ? 4 : 6,
        address: a.local,
        prefixLength: a.prefixlen,
        scope: a.scope,
      });
    }
  }
  return out;
}

export function parseNeighbours(json: string): KernelNeighbour[] {
  const raw = (json.trim() === '' ? [] : JSON.parse(json)) as {
    dst: string;
    lladdr?: string;
    state?: string[];
  }[];
  return raw.map((n) => ({
    dst: n.dst,
    lladdr: n.lladdr?.toLowerCase(),
    permanent: (n.state ?? []).includes('PERMANENT'),
  }));
}

export function parseFdb(json: string): KernelFdbEntry[] {
  const raw = (json.trim() === '' ? [] : JSON.parse(json)) as {
    mac: string;
    dst?: string;
    state?: string;
  }[];
  return raw.map((e) => ({
    mac: e.mac.toLowerCase(),
    dst: e.dst,
    permanent: e.state === 'permanent',
  }));
}

interface NftJsonItem {
  set?: { name: string; elem?: unknown[] };
  chain?: { name: string };
  rule?: { chain: string; expr?: Record<string, unknown>[]; comment?: string };
}

function nftElement(e: unknown): string {
  if (typeof e === 'string') return e.includes('/') ? e : `${e}/${e.includes(':') ? 128 : 32}`;
  if (typeof e === 'object' && e !== null) {
    const o = e as Record<string, unknown>;
    const prefix = o['prefix'] as { addr: string; len: number } | undefined;
    if (prefix) return `${prefix.addr}/${prefix.len}`;
    const range = o['range'] as [string, string] | undefined;
    if (range) return `${range[0]}-${range[1]}`;
    if (o['elem'] !== undefined) return nftElement((o['elem'] as Record<string, unknown>)['val']);
  }
  return JSON.stringify(e);
}

export function parseNftTable(json: string): NftTableState {
  const items = ((JSON.parse(json) as { nftables?: NftJsonItem[] }).nftables ??
    []) as NftJsonItem[];
  const state: NftTableState = { sets: {}, rules: [], chains: [] };
  for (const item of items) {
    if (item.set) state.sets[item.set.name] = (item.set.elem ?? []).map(nftElement).sort();
    if (item.chain) state.chains.push(item.chain.name);
    if (item.rule) {
      state.rules.push({
        chain: item.rule.chain,
        masquerade: (item.rule.expr ?? []).some((x) => 'masquerade' in x),
        comment: item.rule.comment,
      });
    }
  }
  return state;
}

// ---------------------------------------------------------------------------
// The real kernel

export interface LinuxKernelOptions {
  /** A named network namespace to work in (tests); default: the caller's own. */
  netns?: string;
}

export class LinuxKernel implements Kernel {
  private readonly ipProcess: BatchProcess;
  private readonly bridgeProcess: BatchProcess;
  private readonly prefix: string[];

  constructor(private readonly opts: LinuxKernelOptions = {}) {
    this.prefix = opts.netns ? ['ip', 'netns', 'exec', opts.netns] : [];
    this.ipProcess = new BatchProcess({
      command: opts.netns ? ['ip', '-n', opts.netns] : ['ip'],
      sentinel: IP_SENTINEL,
    });
    this.bridgeProcess = new BatchProcess({
      command: [...this.prefix, 'bridge'],
      sentinel: BRIDGE_SENTINEL,
    });
  }

  /** Batch processes started (1 each while healthy). */
  get batchProcessStarts(): number {
    return this.ipProcess.starts + this.bridgeProcess.starts;
  }

  private async ipJson(args: string[]): Promise<string> {
    const argv = this.opts.netns ? ['-n', this.opts.netns, '-json', ...args] : ['-json', ...args];
    return (await run('ip', argv)).stdout;
  }

  async routes(): Promise<KernelRoute[]> {
    return parseRoutes(await this.ipJson(['-4', 'route', 'show', 'table', 'main']));
  }

  async links(): Promise<KernelLink[]> {
    return parseLinks(await this.ipJson(['-details', 'link', 'show']));
  }

  linkExists(name: string): boolean {
    if (this.opts.netns)
      return (
        spawnSync('ip', ['-n', this.opts.netns, 'link', 'show', 'dev', name], { stdio: 'ignore' })
          .status === 0
      );
    return existsSync(`/proc/sys/net/ipv4/conf/${name}`);
  }

  async addresses(): Promise<KernelAddress[]> {
    return parseAddresses(await this.ipJson(['addr', 'show']));
  }

  async neighbours(dev: string): Promise<KernelNeighbour[]> {
    return parseNeighbours(await this.ipJson(['-4', 'neigh', 'show', 'dev', dev]));
  }

  async fdb(dev: string): Promise<KernelFdbEntry[]> {
    const argv = [...this.prefix, 'bridge', '-json', 'fdb', 'show', 'dev', dev];
    return parseFdb((await run(argv[0]!, argv.slice(1))).stdout);
  }

  ip(lines: readonly string[]): Promise<BatchOutcome> {
    return this.ipProcess.run(lines);
  }

  bridge(lines: readonly string[]): Promise<BatchOutcome> {
    return this.bridgeProcess.run(lines);
  }

  /**
   * nft reads the script from a file: `nft -f -` misbehaves when stdin is a
   * socket, which is what Node's child stdio pipes are. The file lives only
   * while nft runs.
   */
  async nft(script: string): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'tortie-nft-'));
    try {
      const file = join(dir, 'ruleset.nft');
      writeFileSync(file, script, { mode: 0o600 });
      const argv = [...this.prefix, 'nft', '-f', file];
      await run(argv[0]!, argv.slice(1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async nftTable(family: string, name: string): Promise<NftTableState | undefined> {
    const argv = [...this.prefix, 'nft', '-j', 'list', 'table', family, name];
    try {
      return parseNftTable((await run(argv[0]!, argv.slice(1))).stdout);
    } catch (err) {
      if (/No such file or directory|does not exist/i.test((err as Error).message))
        return undefined;
      throw err;
    }
  }

  // From outside the namespace (tests) these start a process each; the agent,
  // inside it, reads and writes /proc/sys directly.
  readSysctl(name: string): string | undefined {
    if (!this.opts.netns) return readSysctl(name);
    const r = spawnSync('ip', ['netns', 'exec', this.opts.netns, 'cat', sysctlPath(name)], {
      encoding: 'utf8',
    });
    return r.status === 0 ? r.stdout.trim() : undefined;
  }

  writeSysctl(name: string, value: string): void {
    if (!this.opts.netns) {
      writeFileSync(sysctlPath(name), value);
      return;
    }
    const r = spawnSync('ip', [
      'netns',
      'exec',
      this.opts.netns,
      'sh',
      '-c',
      'echo "$1" > "$2"',
      'sh',
      value,
      sysctlPath(name),
    ]);
    if (r.status !== 0) throw new Error(`cannot write ${sysctlPath(name)} in ${this.opts.netns}`);
  }

  async probeIpip(): Promise<boolean> {
    const name = 'tortie-probe';
    const outcome = await this.ip([`link add name ${name} type ipip`]);
    if (outcome.failures.length > 0) return false;
    await this.ip([`link del dev ${name}`]);
    return true;
  }

  async close(): Promise<void> {
    await Promise.all([this.ipProcess.close(), this.bridgeProcess.close()]);
  }
}
