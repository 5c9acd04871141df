// Evaluates a packet against the calculation's output (PolicyState) the way
// the nftables rendering does: endpoint chain, tiers with the accept and pass
// marks, rule chains, set look-ups. Tests hold it against the reference
// evaluator; the dataplane renders exactly these semantics.

import {
  cidrContainsAddress,
  formatIP,
  parseCidr,
  tryParseIP,
  type IPAddress,
} from '../../model/cidr.js';
import type {
  Direction,
  EndpointChainPlan,
  IRMatch,
  IRRule,
  PolicyState,
  PortRange,
  SetRef,
} from './types.js';

export interface IRFlow {
  src: IPAddress;
  dst: IPAddress;
  protocol: number;
  srcPort: number | undefined;
  dstPort: number | undefined;
  icmpType: number | undefined;
  icmpCode: number | undefined;
}

export type IRDecision =
  | { allowed: boolean; by: 'rule'; chain: string; rule: number }
  | { allowed: false; by: 'end-of-tier'; tier: string }
  | { allowed: false; by: 'no-profile-matched' }
  | { allowed: false; by: 'unknown-endpoint' };

const ipText = (ip: IPAddress): string => formatIP(ip);

export class IREvaluator {
  private readonly elements = new Map<string, Set<string>>();
  private readonly nets = new Map<string, ReturnType<typeof parseCidr>[]>();

  constructor(readonly state: PolicyState) {
    for (const [name, { spec, elements }] of state.sets) {
      this.elements.set(name, elements);
      if (spec.kind === 'net')
        this.nets.set(
          name,
          [...elements].map((e) => parseCidr(e)),
        );
    }
  }

  private inSelector(ref: SetRef, ip: IPAddress): boolean {
    const f = ip.family;
    if (this.elements.get(`${ref.id}-a${f}`)?.has(ipText(ip))) return true;
    const hasNets = f === 4 ? ref.nets4 : ref.nets6;
    if (!hasNets) return false;
    return (this.nets.get(`${ref.id}-n${f}`) ?? []).some((c) => cidrContainsAddress(c, ip));
  }

  private portIn(
    ranges: PortRange[],
    named: string[],
    ip: IPAddress,
    protocol: number,
    port: number | undefined,
  ): boolean {
    if (port === undefined) return false;
    if (ranges.some((r) => port >= r.min && port <= r.max)) return true;
    const element = `${ipText(ip)} . ${protocol} . ${port}`;
    return named.some((id) => this.elements.get(`${id}-p${ip.family}`)?.has(element));
  }

  private side(m: IRMatch, ip: IPAddress, protocol: number, port: number | undefined): boolean {
    const fam = (list: string[]) =>
      list.filter((n) => n.includes(':') === (ip.family === 6)).map((n) => parseCidr(n));
    if (m.nets.length && !fam(m.nets).some((c) => cidrContainsAddress(c, ip))) return false;
    if (m.notNets.length && fam(m.notNets).some((c) => cidrContainsAddress(c, ip))) return false;
    if (m.selector && !this.inSelector(m.selector, ip)) return false;
    if (m.notSelector && this.inSelector(m.notSelector, ip)) return false;
    if (
      (m.ports.length || m.namedPorts.length) &&
      !this.portIn(m.ports, m.namedPorts, ip, protocol, port)
    )
      return false;
    if (
      (m.notPorts.length || m.notNamedPorts.length) &&
      this.portIn(m.notPorts, m.notNamedPorts, ip, protocol, port)
    ) {
      return false;
    }
    return true;
  }

  ruleMatches(r: IRRule, f: IRFlow): boolean {
    if (r.unsupported) return false;
    const fam = f.src.family;
    if (r.ipVersion !== undefined && r.ipVersion !== fam) return false;
    for (const list of [r.src.nets, r.src.notNets, r.dst.nets, r.dst.notNets]) {
      if (list.length && !list.some((n) => n.includes(':') === (fam === 6))) return false;
    }
    if (r.protocol !== undefined && r.protocol !== f.protocol) return false;
    if (r.notProtocol !== undefined && r.notProtocol === f.protocol) return false;
    const icmpProto = fam === 4 ? 1 : 58;
    if (r.icmp) {
      if (f.protocol !== icmpProto || f.icmpType !== r.icmp.type) return false;
      if (r.icmp.code !== undefined && f.icmpCode !== r.icmp.code) return false;
    }
    if (r.notIcmp) {
      const hit =
        f.protocol === icmpProto &&
        f.icmpType === r.notIcmp.type &&
        (r.notIcmp.code === undefined || f.icmpCode === r.notIcmp.code);
      if (hit) return false;
    }
    return (
      this.side(r.src, f.src, f.protocol, f.srcPort) &&
      this.side(r.dst, f.dst, f.protocol, f.dstPort)
    );
  }

  /** Runs one rule chain: 'accept' | 'pass' | 'drop' | undefined (fell through). */
  private runChain(
    name: string,
    f: IRFlow,
  ): { verdict: 'accept' | 'pass' | 'drop'; rule: number } | undefined {
    const chain = this.state.ruleChains.get(name);
    for (const r of chain?.rules ?? []) {
      if (!this.ruleMatches(r, f)) continue;
      if (r.action === 'log') continue;
      return {
        verdict: r.action === 'allow' ? 'accept' : r.action === 'pass' ? 'pass' : 'drop',
        rule: r.index,
      };
    }
    return undefined;
  }

  runEndpointChain(plan: EndpointChainPlan, f: IRFlow): IRDecision {
    for (const tier of plan.tiers) {
      let passed = false;
      for (const chain of tier.chains) {
        const out = this.runChain(chain, f);
        if (!out) continue;
        if (out.verdict === 'pass') {
          passed = true;
          break;
        }
        return { allowed: out.verdict === 'accept', by: 'rule', chain, rule: out.rule };
      }
      if (!passed && tier.defaultAction !== 'Pass')
        return { allowed: false, by: 'end-of-tier', tier: tier.tier };
    }
    for (const chain of plan.profiles) {
      const out = this.runChain(chain, f);
      if (out && out.verdict !== 'pass')
        return { allowed: out.verdict === 'accept', by: 'rule', chain, rule: out.rule };
    }
    return { allowed: false, by: 'no-profile-matched' };
  }

  /** The endpoint of this host that holds the address, by interface. */
  endpointAt(ip: IPAddress): string | undefined {
    const text = `${ipText(ip)}/${ip.family === 4 ? 32 : 128}`;
    for (const [iface, ep] of this.state.endpoints) {
      if (ep.kind === 'workload' && (ip.family === 4 ? ep.sources4 : ep.sources6).includes(text))
        return iface;
    }
    return undefined;
  }

  evaluate(iface: string, direction: Direction, f: IRFlow): IRDecision {
    const ep = this.state.endpoints.get(iface);
    if (!ep) return { allowed: false, by: 'unknown-endpoint' };
    const plan = this.state.endpointChains.get(direction === 'ingress' ? ep.ingress : ep.egress);
    if (!plan) return { allowed: false, by: 'unknown-endpoint' };
    return this.runEndpointChain(plan, f);
  }
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, sctp: 132 };

/** A flow from text, as the reference evaluator reads packets. */
export function irFlow(pkt: {
  src: string;
  dst: string;
  protocol: string | number;
  port?: number;
  srcPort?: number;
  icmpType?: number;
  icmpCode?: number;
}): IRFlow {
  const src = tryParseIP(pkt.src);
  const dst = tryParseIP(pkt.dst);
  if (!src || !dst) throw new Error('bad address');
  let protocol = typeof pkt.protocol === 'number' ? pkt.protocol : PROTOCOLS[pkt.protocol]!;
  if (protocol === 1 && src.family === 6) protocol = 58;
  const icmp = protocol === 1 || protocol === 58;
  return {
    src,
    dst,
    protocol,
    srcPort: pkt.srcPort,
    dstPort: pkt.port,
    icmpType: pkt.icmpType ?? (icmp ? (src.family === 4 ? 8 : 128) : undefined),
    icmpCode: pkt.icmpCode ?? (icmp ? 0 : undefined),
  };
}
