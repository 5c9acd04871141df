// A kernel in memory for manager tests: it understands exactly the iproute2
// and nft lines the managers write, keeps routes, links, addresses,
// neighbours, FDB entries, the nftables table and sysctls, logs every write,
// and can be told to fail lines.

import { formatCidr, parseCidr } from '../../model/cidr.js';
import type { BatchOutcome } from '../batch-process.js';
import type {
  Kernel,
  KernelAddress,
  KernelFdbEntry,
  KernelLink,
  KernelNeighbour,
  KernelRoute,
  NftTableState,
} from '../kernel.js';

export class FakeKernel implements Kernel {
  routesByDst = new Map<string, KernelRoute>();
  linksByName = new Map<string, KernelLink>();
  addrs: KernelAddress[] = [];
  neigh = new Map<string, Map<string, KernelNeighbour>>();
  fdbs = new Map<string, KernelFdbEntry[]>();
  sysctls = new Map<string, string>();
  nftState: NftTableState | undefined;
  /** Every line written, in order (ip, bridge and "nft: <first line>"). */
  log: string[] = [];
  reads = { routes: 0, links: 0, addresses: 0, neighbours: 0, fdb: 0, nft: 0 };
  /** Lines matching this fail with "RTNETLINK answers: Invalid argument". */
  failing: RegExp | undefined;
  ipipSupported = false;
  private nextIndex = 10;

  addLink(name: string, opts: Partial<KernelLink> = {}): KernelLink {
    const link: KernelLink = {
      name,
      index: this.nextIndex++,
      kind: opts.kind,
      mac: opts.mac,
      mtu: opts.mtu ?? 1500,
      up: opts.up ?? true,
      vxlan: opts.vxlan,
    };
    this.linksByName.set(name, link);
    return link;
  }

  addRoute(r: Partial<KernelRoute> & { dst: string }): void {
    this.routesByDst.set(formatCidr(parseCidr(r.dst)), {
      dst: formatCidr(parseCidr(r.dst)),
      type: r.type ?? 'unicast',
      gateway: r.gateway,
      dev: r.dev,
      protocol: r.protocol ?? '80',
      scope: r.scope,
      onlink: r.onlink ?? false,
    });
  }

  /** Our routes as text, sorted, for assertions. */
  ourRoutes(): string[] {
    return [...this.routesByDst.values()]
      .filter((r) => r.protocol === '80')
      .map((r) =>
        [
          r.type === 'blackhole' ? 'blackhole' : '',
          r.dst,
          r.gateway ? `via ${r.gateway}` : '',
          r.dev ? `dev ${r.dev}` : '',
          r.onlink ? 'onlink' : '',
          r.scope ? `scope ${r.scope}` : '',
        ]
          .filter(Boolean)
          .join(' '),
      )
      .sort();
  }

  async routes(): Promise<KernelRoute[]> {
    this.reads.routes++;
    return [...this.routesByDst.values()].map((r) => ({ ...r }));
  }

  async links(): Promise<KernelLink[]> {
    this.reads.links++;
    return [...this.linksByName.values()].map((l) => ({
      ...l,
      vxlan: l.vxlan ? { ...l.vxlan } : undefined,
    }));
  }

  linkExists(name: string): boolean {
    return this.linksByName.has(name);
  }

  async addresses(): Promise<KernelAddress[]> {
    this.reads.addresses++;
    return this.addrs.map((a) => ({ ...a }));
  }

  async neighbours(dev: string): Promise<KernelNeighbour[]> {
    this.reads.neighbours++;
    return [...(this.neigh.get(dev)?.values() ?? [])].map((n) => ({ ...n }));
  }

  async fdb(dev: string): Promise<KernelFdbEntry[]> {
    this.reads.fdb++;
    return (this.fdbs.get(dev) ?? []).map((e) => ({ ...e }));
  }

  async ip(lines: readonly string[]): Promise<BatchOutcome> {
    return this.batch(lines, (l) => this.ipLine(l));
  }

  async bridge(lines: readonly string[]): Promise<BatchOutcome> {
    return this.batch(lines, (l) => this.bridgeLine(l));
  }

  private batch(lines: readonly string[], apply: (line: string) => void): BatchOutcome {
    const failures: BatchOutcome['failures'] = [];
    lines.forEach((line, index) => {
      this.log.push(line);
      try {
        if (this.failing?.test(line)) throw new Error('RTNETLINK answers: Invalid argument');
        apply(line);
      } catch (err) {
        failures.push({ index, line, error: (err as Error).message });
      }
    });
    return { failures };
  }

  private removeDevice(name: string): void {
    this.linksByName.delete(name);
    this.addrs = this.addrs.filter((a) => a.dev !== name);
    this.neigh.delete(name);
    this.fdbs.delete(name);
    for (const [dst, r] of this.routesByDst) if (r.dev === name) this.routesByDst.delete(dst);
  }

  private ipLine(line: string): void {
    const w = line.split(/\s+/);
    const arg = (name: string) => {
      const i = w.indexOf(name);
      return i >= 0 ? w[i + 1] : undefined;
    };
    if (w[0] === 'route' && w[1] === 'replace') {
      const blackhole = w[2] === 'blackhole';
      const dst = formatCidr(parseCidr(blackhole ? w[3]! : w[2]!));
      const dev = arg('dev');
      const gateway = arg('via');
      if (dev && !this.linksByName.has(dev)) throw new Error(`Cannot find device "${dev}"`);
      this.routesByDst.set(dst, {
        dst,
        type: blackhole ? 'blackhole' : 'unicast',
        gateway,
        dev: blackhole ? undefined : (dev ?? (gateway ? 'eth0' : undefined)),
        protocol: arg('proto'),
        scope: line.includes('scope link') ? 'link' : undefined,
        onlink: w.includes('onlink'),
      });
    } else if (w[0] === 'route' && w[1] === 'del') {
      const dst = formatCidr(parseCidr(w[2]!));
      if (!this.routesByDst.delete(dst)) throw new Error('RTNETLINK answers: No such process');
    } else if (w[0] === 'link' && w[1] === 'add') {
      const name = arg('name')!;
      if (this.linksByName.has(name)) throw new Error('RTNETLINK answers: File exists');
      const kind = arg('type');
      if (kind === 'ipip' && !this.ipipSupported) throw new Error('Error: Unknown device type.');
      this.addLink(name, {
        kind,
        mac: arg('address'),
        mtu: Number(arg('mtu') ?? 1500),
        up: false,
        vxlan:
          kind === 'vxlan'
            ? {
                vni: Number(arg('id')),
                port: Number(arg('dstport')),
                local: arg('local'),
                parent: arg('dev'),
                learning: !w.includes('nolearning'),
              }
            : undefined,
      });
    } else if (w[0] === 'link' && w[1] === 'del') {
      const name = arg('dev')!;
      if (!this.linksByName.has(name)) throw new Error(`Cannot find device "${name}"`);
      this.removeDevice(name);
    } else if (w[0] === 'link' && w[1] === 'set') {
      const link = this.linksByName.get(arg('dev')!);
      if (!link) throw new Error(`Cannot find device "${arg('dev')}"`);
      if (w.includes('up')) link.up = true;
      if (arg('mtu')) link.mtu = Number(arg('mtu'));
    } else if (w[0] === 'addr' && (w[1] === 'replace' || w[1] === 'del')) {
      const [address = '', len = '32'] = w[2]!.split('/');
      const dev = arg('dev')!;
      if (!this.linksByName.has(dev)) throw new Error(`Cannot find device "${dev}"`);
      this.addrs = this.addrs.filter((a) => !(a.dev === dev && a.address === address));
      if (w[1] === 'replace')
        this.addrs.push({ dev, family: 4, address, prefixLength: Number(len), scope: 'global' });
    } else if (w[0] === 'neigh' && w[1] === 'replace') {
      const dev = arg('dev')!;
      if (!this.linksByName.has(dev)) throw new Error(`Cannot find device "${dev}"`);
      const table = this.neigh.get(dev) ?? new Map<string, KernelNeighbour>();
      table.set(w[2]!, {
        dst: w[2]!,
        lladdr: arg('lladdr'),
        permanent: arg('nud') === 'permanent',
      });
      this.neigh.set(dev, table);
    } else if (w[0] === 'neigh' && w[1] === 'del') {
      if (!this.neigh.get(arg('dev')!)?.delete(w[2]!))
        throw new Error('RTNETLINK answers: No such file or directory');
    } else {
      throw new Error(`fake kernel: unknown ip line "${line}"`);
    }
  }

  private bridgeLine(line: string): void {
    const w = line.split(/\s+/);
    const arg = (name: string) => {
      const i = w.indexOf(name);
      return i >= 0 ? w[i + 1] : undefined;
    };
    const dev = arg('dev')!;
    if (!this.linksByName.has(dev)) throw new Error(`Cannot find device "${dev}"`);
    const entries = this.fdbs.get(dev) ?? [];
    const mac = w[2]!;
    const dst = arg('dst');
    if (w[0] === 'fdb' && w[1] === 'replace') {
      this.fdbs.set(dev, [
        ...entries.filter((e) => e.mac !== mac),
        { mac, dst, permanent: w.includes('permanent') },
      ]);
    } else if (w[0] === 'fdb' && w[1] === 'del') {
      const kept = entries.filter((e) => !(e.mac === mac && e.dst === dst));
      if (kept.length === entries.length)
        throw new Error('RTNETLINK answers: No such file or directory');
      this.fdbs.set(dev, kept);
    } else {
      throw new Error(`fake kernel: unknown bridge line "${line}"`);
    }
  }

  async nft(script: string): Promise<void> {
    this.log.push(`nft: ${script.split('\n')[0]}`);
    const sets: Record<string, string[]> = {};
    for (const m of script.matchAll(/set (\S+) \{[^}]*?(?:elements = \{ ([^}]*) \};)? \}/g)) {
      sets[m[1]!] = m[2] ? m[2].split(', ').map((s) => s.trim()) : [];
    }
    const chains: string[] = [];
    const rules: NftTableState['rules'] = [];
    let chain = '';
    for (const line of script.split('\n')) {
      const c = /^\s*chain (\S+) \{/.exec(line);
      if (c) chains.push((chain = c[1]!));
      const r = / comment "([^"]*)"$/.exec(line);
      if (r) rules.push({ chain, masquerade: line.includes(' masquerade '), comment: r[1] });
    }
    this.nftState = { sets, chains, rules };
  }

  async nftTable(): Promise<NftTableState | undefined> {
    this.reads.nft++;
    return this.nftState ? structuredClone(this.nftState) : undefined;
  }

  readSysctl(name: string): string | undefined {
    return this.sysctls.get(name);
  }

  writeSysctl(name: string, value: string): void {
    this.log.push(`sysctl ${name}=${value}`);
    this.sysctls.set(name, value);
  }

  async probeIpip(): Promise<boolean> {
    return this.ipipSupported;
  }

  async close(): Promise<void> {}
}

/** A host as the agent tests start from: loopback, and eth0 with 172.31.1.11/24. */
export function fakeHost(): FakeKernel {
  const k = new FakeKernel();
  k.addLink('lo', { mtu: 65536 });
  k.addLink('eth0', { mtu: 1500 });
  k.addrs.push({
    dev: 'eth0',
    family: 4,
    address: '172.31.1.11',
    prefixLength: 24,
    scope: 'global',
  });
  return k;
}
