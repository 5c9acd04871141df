// The same policy state rendered the way Felix renders it for iptables:
// one ipset per selector (`ipset restore` input) and `iptables-restore`
// input with per-endpoint chains (cali-tw-/cali-fw-, not shared), a chain
// per policy and profile, marks for accept and pass, and dispatch chains
// that fan out on the interface name. It exists for the benchmark (bench/
// policy.ts) to load beside the nftables rendering; Tortie does not use it.

import type {
  EndpointChainPlan,
  IRMatch,
  IRRule,
  LocalEndpointPlan,
  PolicyState,
  RuleChain,
} from '../../calc/policy/types.js';
import { shortHash } from '../../calc/policy/selectors.js';
import { MARK_ACCEPT, MARK_PASS } from './render.js';

const A = `0x${MARK_ACCEPT.toString(16)}`;
const P = `0x${MARK_PASS.toString(16)}`;
const BOTH = `0x${(MARK_ACCEPT | MARK_PASS).toString(16)}`;
const SCRATCH = '0x40000';

/** iptables chain names are at most 28 characters. */
function chainName(prefix: string, id: string): string {
  const name = `${prefix}${id}`;
  return name.length <= 28 ? name : `${prefix}${shortHash(id)}`;
}

const ipsetName = (set: string) => `cali40${set}`.slice(0, 31);

export interface FelixScripts {
  ipset: string;
  iptables: string;
  chains: number;
  rules: number;
  sets: number;
}

function ports(r: PortList): string {
  return r.map((p) => (p.min === p.max ? `${p.min}` : `${p.min}:${p.max}`)).join(',');
}

type PortList = IRMatch['ports'];

function sideArgs(m: IRMatch, dir: 'src' | 'dst'): string[][] | undefined {
  const flag = dir === 'src' ? 's' : 'd';
  const groups: string[][] = [];
  if (m.nets.length)
    groups.push(m.nets.filter((n) => !n.includes(':')).map((n) => `-${flag} ${n}`));
  // notNets: iptables takes one -s/-d per rule, so (as Felix) a scratch mark set
  // by one rule per excluded net, and the rule requires it clear.
  if (m.notNets.some((x) => !x.includes(':'))) groups.push([`-m mark --mark 0x0/${SCRATCH}`]);
  if (m.selector) {
    const alts = [`-m set --match-set ${ipsetName(`${m.selector.id}-a4`)} ${dir}`];
    if (m.selector.nets4)
      alts.push(`-m set --match-set ${ipsetName(`${m.selector.id}-n4`)} ${dir}`);
    groups.push(alts);
  }
  if (m.notSelector)
    groups.push([`-m set ! --match-set ${ipsetName(`${m.notSelector.id}-a4`)} ${dir}`]);
  if (m.ports.length || m.namedPorts.length) {
    const alts: string[] = [];
    if (m.ports.length)
      alts.push(`-m multiport --${dir === 'src' ? 's' : 'd'}ports ${ports(m.ports)}`);
    for (const id of m.namedPorts)
      alts.push(`-m set --match-set ${ipsetName(`${id}-p4`)} ${dir},${dir}`);
    groups.push(alts);
  }
  if (m.notPorts.length)
    groups.push([`-m multiport ! --${dir === 'src' ? 's' : 'd'}ports ${ports(m.notPorts)}`]);
  return groups.some((g) => g.length === 0) ? undefined : groups;
}

function product(groups: string[][]): string[] {
  let out = [''];
  for (const g of groups) out = out.flatMap((p) => g.map((x) => (p ? `${p} ${x}` : x)));
  return out;
}

function ruleLines(chain: string, r: IRRule): string[] {
  if (r.unsupported || r.ipVersion === 6 || r.protocol === 58) return [];
  const groups: string[][] = [];
  const pre: string[] = [];
  for (const [side, flag] of [
    [r.src, 's'],
    [r.dst, 'd'],
  ] as const) {
    const nots = side.notNets.filter((x) => !x.includes(':'));
    if (nots.length === 0) continue;
    if (pre.length === 0) pre.push(`-A ${chain} -j MARK --set-xmark 0x0/${SCRATCH}`);
    for (const n of nots)
      pre.push(`-A ${chain} -${flag} ${n} -j MARK --set-xmark ${SCRATCH}/${SCRATCH}`);
  }
  if (r.protocol !== undefined) groups.push([`-p ${r.protocol}`]);
  if (r.notProtocol !== undefined) groups.push([`! -p ${r.notProtocol}`]);
  if (r.icmp)
    groups.push([
      `-m icmp --icmp-type ${r.icmp.type}${r.icmp.code !== undefined ? `/${r.icmp.code}` : ''}`,
    ]);
  const src = sideArgs(r.src, 'src');
  const dst = sideArgs(r.dst, 'dst');
  if (!src || !dst) return [];
  groups.push(...src, ...dst);
  const out: string[] = [...pre];
  for (const m of product(groups)) {
    const head = `-A ${chain}${m ? ` ${m}` : ''}`;
    switch (r.action) {
      case 'allow':
        out.push(
          `${head} -j MARK --set-xmark ${A}/${A}`,
          `-A ${chain} -m mark --mark ${A}/${A} -j RETURN`,
        );
        break;
      case 'pass':
        out.push(
          `${head} -j MARK --set-xmark ${P}/${P}`,
          `-A ${chain} -m mark --mark ${P}/${P} -j RETURN`,
        );
        break;
      case 'deny':
        out.push(`${head} -j DROP`);
        break;
      case 'log':
        out.push(`${head} -j LOG --log-prefix "calico-packet: "`);
        break;
    }
  }
  return out;
}

function ruleChainName(c: RuleChain): string {
  const prefix = c.chain.startsWith('pi')
    ? 'cali-pi-'
    : c.chain.startsWith('po')
      ? 'cali-po-'
      : c.chain.startsWith('ri')
        ? 'cali-pri-'
        : 'cali-pro-';
  return chainName(prefix, c.chain.slice(3));
}

function endpointChain(
  name: string,
  plan: EndpointChainPlan,
  chains: Map<string, string>,
): string[] {
  const out = [
    `-A ${name} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${name} -m conntrack --ctstate INVALID -j DROP`,
    `-A ${name} -j MARK --set-xmark 0x0/${BOTH}`,
  ];
  for (const tier of plan.tiers) {
    out.push(`-A ${name} -j MARK --set-xmark 0x0/${P}`);
    for (const c of tier.chains) {
      out.push(`-A ${name} -m mark --mark 0x0/${P} -j ${chains.get(c)}`);
      out.push(`-A ${name} -m mark --mark ${A}/${A} -j RETURN`);
    }
    if (tier.defaultAction === 'Deny') out.push(`-A ${name} -m mark --mark 0x0/${P} -j DROP`);
  }
  for (const c of plan.profiles) {
    out.push(`-A ${name} -j ${chains.get(c)}`);
    out.push(`-A ${name} -m mark --mark ${A}/${A} -j RETURN`);
  }
  out.push(`-A ${name} -j DROP`);
  return out;
}

/** The dispatch fan-out key: the interface name's character after "cali". */
const bucket = (iface: string) => iface.slice(4, 5) || '_';

export function endpointChainNames(ep: LocalEndpointPlan): { tw: string; fw: string } {
  return { tw: chainName('cali-tw-', ep.iface), fw: chainName('cali-fw-', ep.iface) };
}

/** Dispatch sub-chain rules for one bucket (Felix rewrites such a chain when an endpoint in it changes). */
export function dispatchChain(
  dir: 'to' | 'from',
  key: string,
  endpoints: LocalEndpointPlan[],
): string[] {
  const name = `cali-${dir}-wl-dispatch-${key}`;
  const out: string[] = [];
  for (const ep of endpoints) {
    const { tw, fw } = endpointChainNames(ep);
    out.push(
      dir === 'to' ? `-A ${name} -o ${ep.iface} -g ${tw}` : `-A ${name} -i ${ep.iface} -g ${fw}`,
    );
  }
  out.push(`-A ${name} -j DROP`);
  return out;
}

/** Felix-style scripts for the whole state (IPv4 only, filter table). */
export function renderFelix(state: PolicyState): FelixScripts {
  const ipset: string[] = [];
  let sets = 0;
  for (const { spec, elements } of state.sets.values()) {
    if (spec.family !== 4) continue;
    const name = ipsetName(spec.name);
    const type =
      spec.kind === 'addr' ? 'hash:ip' : spec.kind === 'net' ? 'hash:net' : 'hash:ip,port';
    ipset.push(`create ${name} ${type} family inet maxelem 1048576`);
    sets++;
    for (const e of elements) {
      if (spec.kind === 'port') {
        const [ip, proto, port] = e.split(' . ');
        ipset.push(
          `add ${name} ${ip},${proto === '6' ? 'tcp' : proto === '17' ? 'udp' : 'sctp'}:${port}`,
        );
      } else ipset.push(`add ${name} ${e}`);
    }
  }
  const chains = new Map<string, string>();
  for (const c of state.ruleChains.values()) chains.set(c.chain, ruleChainName(c));
  const decl: string[] = ['*filter'];
  const rules: string[] = [];
  const declare = (name: string) => decl.push(`:${name} - [0:0]`);
  declare('cali-FORWARD');
  declare('cali-to-wl-dispatch');
  declare('cali-from-wl-dispatch');
  for (const c of state.ruleChains.values()) {
    const name = chains.get(c.chain)!;
    declare(name);
    for (const r of c.rules) rules.push(...ruleLines(name, r));
  }
  const buckets = new Map<string, LocalEndpointPlan[]>();
  for (const ep of state.endpoints.values()) {
    if (ep.kind !== 'workload') continue;
    const { tw, fw } = endpointChainNames(ep);
    declare(tw);
    declare(fw);
    rules.push(...endpointChain(tw, state.endpointChains.get(ep.ingress)!, chains));
    rules.push(...endpointChain(fw, state.endpointChains.get(ep.egress)!, chains));
    const k = bucket(ep.iface);
    buckets.set(k, [...(buckets.get(k) ?? []), ep]);
  }
  for (const [k, eps] of [...buckets].sort()) {
    declare(`cali-to-wl-dispatch-${k}`);
    declare(`cali-from-wl-dispatch-${k}`);
    rules.push(`-A cali-to-wl-dispatch -o cali${k}+ -g cali-to-wl-dispatch-${k}`);
    rules.push(`-A cali-from-wl-dispatch -i cali${k}+ -g cali-from-wl-dispatch-${k}`);
    rules.push(...dispatchChain('to', k, eps), ...dispatchChain('from', k, eps));
  }
  rules.push(
    '-A cali-FORWARD -i cali+ -j cali-from-wl-dispatch',
    '-A cali-FORWARD -o cali+ -j cali-to-wl-dispatch',
    '-A cali-FORWARD -i cali+ -j ACCEPT',
    '-A cali-FORWARD -o cali+ -j ACCEPT',
    '-A FORWARD -j cali-FORWARD',
  );
  const iptables = `${[...decl, ...rules, 'COMMIT'].join('\n')}\n`;
  return {
    ipset: `${ipset.join('\n')}\n`,
    iptables,
    chains: decl.length - 1,
    rules: rules.length,
    sets,
  };
}

/** What Felix would write for one new endpoint: its two chains and its dispatch bucket, rewritten. */
export function renderFelixEndpointAdd(
  state: PolicyState,
  ep: LocalEndpointPlan,
  chains: Map<string, string>,
): string {
  const { tw, fw } = endpointChainNames(ep);
  const k = bucket(ep.iface);
  const eps = [...state.endpoints.values()].filter(
    (e) => e.kind === 'workload' && bucket(e.iface) === k,
  );
  const lines = [
    '*filter',
    `:${tw} - [0:0]`,
    `:${fw} - [0:0]`,
    `:cali-to-wl-dispatch-${k} - [0:0]`,
    `:cali-from-wl-dispatch-${k} - [0:0]`,
    ...endpointChain(tw, state.endpointChains.get(ep.ingress)!, chains),
    ...endpointChain(fw, state.endpointChains.get(ep.egress)!, chains),
    ...dispatchChain('to', k, eps),
    ...dispatchChain('from', k, eps),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

export function felixChainNames(state: PolicyState): Map<string, string> {
  return new Map([...state.ruleChains.values()].map((c) => [c.chain, ruleChainName(c)]));
}
