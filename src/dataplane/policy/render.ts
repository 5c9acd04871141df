// nftables rendering of the policy calculation's output, in the agent's own
// table `inet tortie-policy` (the masquerade manager replaces `inet tortie`
// whole, so policy lives beside it).
//
//   prerouting (raw)  workload sources: iifname . saddr must be the endpoint's ─► else drop (anti-spoofing)
//                     other interfaces: vmap hep-raw-in[iif] ─► jump ui-<plan> (doNotTrack; Allow: notrack)
//   prerouting (mangle) vmap hep-dnat-in[iif] ─► jump di-<plan> (preDNAT)
//   output (raw)      vmap hep-raw-out[oif] ─► jump ue-<plan> (doNotTrack; Allow: notrack)
//   (these three stages are hooked only while some host endpoint has such policy: see hookNeeds)
//   forward           established/related accept, invalid drop;
//                     host endpoints: vmap hep-fwd-in[iif], hep-fwd-out[oif] ─► jump fi-/fe-<plan> (applyOnForward)
//                     from a workload: mark = wl[iif] ─► vmap plans[mark & egress bits]  ─► jump we-<plan>  (its egress policy)
//                     to a workload:   mark = wl[oif] ─► vmap plans[mark & ingress bits] ─► jump wi-<plan>  (its ingress policy)
//   input             from a workload: its egress policy, then defaultEndpointToHostAction
//                     from a host endpoint: vmap hep-in[iif] ─► goto hi-<plan> (failsafes, ingress policy)
//   output            to a workload: accept (the host reaches its workloads);
//                     to a host endpoint: vmap hep-out[oif] ─► goto he-<plan> (failsafes, egress policy)
//   (a host endpoint for "*" is tried through hep-any-* chains after the maps miss;
//   what an untracked or preDNAT policy allowed skips the host endpoint's normal policy)
//
// Workload dispatch goes through numbers: the interface maps to its two
// chains' dispatch numbers (one data map element: egress number in bits
// 18-31, ingress number in bits 0-13), each number to its chain (one verdict
// map element per shared chain). Adding, moving or relabelling an endpoint
// then changes data elements only; a verdict-map element with a jump makes
// the kernel re-validate every jump path of the table on commit, which costs
// ~0.4 µs per element (7 ms at 20,000 per-interface elements). While policy
// runs the mark holds the numbers beside the accept and pass bits (16, 17);
// the mark is restored before the dispatch chain returns. A packet that arrives with other bits of the
// mark set (kube-proxy's 0x4000, say) has its mark kept in the connection's
// conntrack mark meanwhile; one that carries both a mark and a conntrack mark
// of someone else's cannot be dispatched without losing one, and is dropped
// and counted.
//
// An endpoint chain (content-addressed, shared by endpoints with the same
// policies) jumps, per tier, to each policy's chain while neither the accept
// nor the pass bit is set, returns if the accept bit is set, and drops at the
// end of a tier unless a policy passed; after the tiers, the profiles; then
// drop. A policy chain's rule sets the accept bit and returns (Allow), sets
// the pass bit and returns (Pass), drops (Deny) or logs and goes on (Log).
// Every rule has a counter and a comment naming its rule, so counters read
// back per rule.
//
// Sets: per selector `<id>-a4` (addresses, hash) and, only while the selector
// has CIDR members, `<id>-n4` (interval); named ports `<id>-p4`
// (ip . protocol . port). No anonymous sets: nft and the kernel pay per set
// on every transaction, and interval sets make nft read their elements each
// time, so lists in rules are expanded into rules instead.

import { shortHash } from '../../calc/policy/selectors.js';
import { ownElements } from '../../calc/policy/state.js';
import { STAGE_CHAINS } from '../../calc/policy/types.js';
import type {
  EndpointChainPlan,
  Family,
  IRMatch,
  IRRule,
  LocalEndpointPlan,
  PolicySettings,
  PolicyState,
  PolicyUpdate,
  ProtoPort,
  RuleChain,
  SetSpec,
} from '../../calc/policy/types.js';

export const POLICY_TABLE = 'tortie-policy';
export const POLICY_FAMILY = 'inet';
/** Felix's first two mark bits (nftablesMarkMask 0xffff0000). */
export const MARK_ACCEPT = 0x10000;
export const MARK_PASS = 0x20000;
/** Where an egress endpoint chain's dispatch number sits in the mark (ingress: bits 0-13). */
const MARK_CHAIN_SHIFT = 18;
const EGRESS_BITS = 0xfffc0000;
const INGRESS_BITS = 0x00003fff;
/** The bits that are not Tortie's: kept, or restored, whatever policy does. */
const FOREIGN = 0x0000ffff;
/** A chain's key in the dispatch map: its number where its direction keeps it. */
const chainMark = (mark: number, direction: 'ingress' | 'egress') =>
  direction === 'egress' ? (mark << MARK_CHAIN_SHIFT) >>> 0 : mark;
export const LOG_PREFIX = 'calico-packet: ';

export interface RenderOptions {
  table?: string;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;
const CLEAR_BOTH = hex(~(MARK_ACCEPT | MARK_PASS) >>> 0);

const CLEAR_PASS = hex(~MARK_PASS >>> 0);
/** The match of a packet some policy allowed (the accept bit). */
const ACCEPTED = `meta mark & ${hex(MARK_ACCEPT)} == ${hex(MARK_ACCEPT)}`;

const UNQUOTABLE = /["\\;\n\r]/;

function q(text: string): string {
  return `"${UNQUOTABLE.test(text) ? text.replace(new RegExp(UNQUOTABLE, 'g'), '') : text}"`;
}

/** The comment on a rule's nftables rules: "rule <index>: <policy> <direction>". */
export function ruleComment(chain: RuleChain, index: number): string {
  const text = `rule ${index}: ${chain.name} ${chain.direction}`;
  return text.length <= 120 ? text : text.slice(0, 120);
}

export function parseRuleComment(comment: string | undefined): number | undefined {
  const m = comment ? /^rule (\d+):/.exec(comment) : null;
  return m ? Number(m[1]) : undefined;
}

function setDecl(spec: SetSpec): string {
  const addr = spec.family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  if (spec.kind === 'addr') return `type ${addr};`;
  if (spec.kind === 'net') return `type ${addr}; flags interval;`;
  return `type ${addr} . inet_proto . inet_service;`;
}

// ---------------------------------------------------------------------------
// Rules

type Alternatives = string[][];

/** All combinations: one choice from each list of alternatives. */
function product(groups: Alternatives): string[] {
  let out: string[] = [''];
  for (const alts of groups) {
    if (alts.length === 0) return [];
    const next: string[] = [];
    for (const prefix of out)
      for (const a of alts) next.push(prefix && a ? `${prefix} ${a}` : prefix || a);
    out = next;
  }
  return out;
}

const ofFamily = (nets: string[], f: Family) => nets.filter((n) => n.includes(':') === (f === 6));

function sideMatches(
  m: IRMatch,
  f: Family | undefined,
  side: 'saddr' | 'daddr',
  protocol: number | undefined,
): Alternatives | undefined {
  const groups: Alternatives = [];
  const ip = f === 6 ? 'ip6' : 'ip';
  const portKey = side === 'saddr' ? 'sport' : 'dport';
  if (f !== undefined) {
    if (m.nets.length) {
      const nets = ofFamily(m.nets, f);
      if (nets.length === 0) return undefined;
      groups.push(nets.map((n) => `${ip} ${side} ${n}`));
    }
    const not = ofFamily(m.notNets, f);
    if (m.notNets.length && not.length === 0) return undefined;
    for (const n of not) groups.push([`${ip} ${side} != ${n}`]);
    if (m.selector) {
      const alts = [`${ip} ${side} @${m.selector.id}-a${f}`];
      if (f === 4 ? m.selector.nets4 : m.selector.nets6)
        alts.push(`${ip} ${side} @${m.selector.id}-n${f}`);
      groups.push(alts);
    }
    if (m.notSelector) {
      groups.push([`${ip} ${side} != @${m.notSelector.id}-a${f}`]);
      if (f === 4 ? m.notSelector.nets4 : m.notSelector.nets6) {
        groups.push([`${ip} ${side} != @${m.notSelector.id}-n${f}`]);
      }
    }
  }
  if (m.ports.length || m.namedPorts.length) {
    const alts = m.ports.map(
      (p) => `th ${portKey} ${p.min === p.max ? p.min : `${p.min}-${p.max}`}`,
    );
    if (f !== undefined) {
      for (const id of m.namedPorts)
        alts.push(`${ip} ${side} . meta l4proto . th ${portKey} @${id}-p${f}`);
    }
    if (alts.length === 0) return undefined;
    groups.push(alts);
  }
  for (const p of m.notPorts)
    groups.push([`th ${portKey} != ${p.min === p.max ? p.min : `${p.min}-${p.max}`}`]);
  if (f !== undefined) {
    for (const id of m.notNamedPorts)
      groups.push([`${ip} ${side} . meta l4proto . th ${portKey} != @${id}-p${f}`]);
  }
  void protocol;
  return groups;
}

/** Whether a rule needs per-family rendering (addresses, sets, ICMP). */
function familySpecific(r: IRRule): boolean {
  const m = (x: IRMatch) =>
    x.nets.length > 0 ||
    x.notNets.length > 0 ||
    x.selector !== undefined ||
    x.notSelector !== undefined ||
    x.namedPorts.length > 0 ||
    x.notNamedPorts.length > 0;
  return (
    m(r.src) ||
    m(r.dst) ||
    r.icmp !== undefined ||
    r.notIcmp !== undefined ||
    r.ipVersion !== undefined ||
    r.protocol === 1 ||
    r.protocol === 58 ||
    r.notProtocol === 1 ||
    r.notProtocol === 58
  );
}

function families(r: IRRule, ipv6: boolean): (Family | undefined)[] {
  if (!familySpecific(r)) return [undefined];
  const out: Family[] = [];
  for (const f of [4, 6] as const) {
    if (f === 6 && !ipv6) continue;
    if (r.ipVersion !== undefined && r.ipVersion !== f) continue;
    if (r.protocol === 1 && f === 6) continue;
    if (r.protocol === 58 && f === 4) continue;
    out.push(f);
  }
  return out;
}

function icmpMatch(
  f: Family,
  fields: { type: number; code: number | undefined },
  negate: boolean,
): Alternatives {
  const kw = f === 4 ? 'icmp' : 'icmpv6';
  if (!negate) {
    const parts = [`${kw} type ${fields.type}`];
    if (fields.code !== undefined) parts.push(`${kw} code ${fields.code}`);
    return [[parts.join(' ')]];
  }
  const alts = [`${kw} type != ${fields.type}`];
  if (fields.code !== undefined)
    alts.push(`${kw} type ${fields.type} ${kw} code != ${fields.code}`);
  return [alts];
}

function actionText(r: IRRule, settings: PolicySettings): string {
  switch (r.action) {
    // One verdict rather than a mark read, change, write and return: the
    // kernel and nft pay per expression, and every Allow has one.
    case 'allow':
      return `goto ${ALLOW_CHAIN}`;
    case 'pass':
      return `goto ${PASS_CHAIN}`;
    case 'deny':
      return settings.denyAction === 'Reject' ? 'reject' : 'drop';
    case 'log':
      return `log prefix ${q(LOG_PREFIX)} level info`;
  }
}

/** The nftables rules (statement text) for one IR rule; none if it can never match. */
export function renderRule(chain: RuleChain, r: IRRule, settings: PolicySettings): string[] {
  if (r.unsupported) return [];
  const out: string[] = [];
  for (const f of families(r, settings.ipv6)) {
    const groups: Alternatives = [];
    if (r.protocol !== undefined) groups.push([`meta l4proto ${r.protocol}`]);
    if (r.notProtocol !== undefined) groups.push([`meta l4proto != ${r.notProtocol}`]);
    if (f !== undefined) {
      if (r.icmp) groups.push(...icmpMatch(f, r.icmp, false));
      if (r.notIcmp) groups.push(...icmpMatch(f, r.notIcmp, true));
    }
    const src = sideMatches(r.src, f, 'saddr', r.protocol);
    const dst = sideMatches(r.dst, f, 'daddr', r.protocol);
    if (!src || !dst) continue;
    // A family-specific rule with no address match still has to be of that family.
    if (
      f !== undefined &&
      ![...src, ...dst].flat().some((x) => x.startsWith(f === 4 ? 'ip ' : 'ip6 '))
    ) {
      const icmp = r.icmp || r.notIcmp || r.protocol === 1 || r.protocol === 58;
      if (!icmp) groups.unshift([`meta nfproto ${f === 4 ? 'ipv4' : 'ipv6'}`]);
    }
    groups.push(...src, ...dst);
    const action = `counter ${actionText(r, settings)} comment ${q(ruleComment(chain, r.index))}`;
    for (const match of product(groups)) out.push(match ? `${match} ${action}` : action);
  }
  return out;
}

export function renderRuleChainBody(chain: RuleChain, settings: PolicySettings): string[] {
  return chain.rules.flatMap((r) => renderRule(chain, r, settings));
}

/**
 * The rules of an endpoint chain (see the file comment). The dispatch chains
 * clear the accept and pass marks before they go to it. Within a tier a
 * policy runs only while neither mark is set (an earlier policy neither
 * allowed nor passed), so one check after the tier's policies returns on
 * accept; the tier then drops unless a policy passed. Profiles run while
 * nothing accepted (a profile's Pass only moves on to the next profile).
 */
export function renderEndpointChainBody(
  plan: EndpointChainPlan,
  settings: PolicySettings,
): string[] {
  const deny = settings.denyAction === 'Reject' ? 'reject' : 'drop';
  // Normal and forward chains deny what nothing allowed; preDNAT and untracked
  // ones return undecided traffic to the hook, which lets it on.
  const out: string[] = [];
  const failsafe = `jump ${plan.direction === 'ingress' ? 'failsafe-in' : 'failsafe-out'}`;
  if (plan.stage === 'normal' && plan.chain.startsWith('h')) {
    out.push('ct state established,related accept');
    out.push('ct state invalid counter drop');
    out.push(failsafe);
  } else if (plan.stage === 'preDNAT' || plan.stage === 'untracked') {
    // A host can't be locked out by these stages either.
    out.push(failsafe);
  }
  if (plan.stage !== 'normal' || plan.chain.startsWith('h'))
    out.push(`meta mark set meta mark & ${CLEAR_BOTH}`);
  // Every chain but the first runs only while nothing decided (accept or, in
  // its tier, pass); a tier drops what nothing in it decided. An accepted
  // packet falls through the rest without matching and returns at the end.
  let first = true;
  const when = (mask: number) => (first ? '' : `meta mark & ${hex(mask)} == 0 `);
  plan.tiers.forEach((tier, t) => {
    if (t > 0) out.push(`meta mark set meta mark & ${CLEAR_PASS}`);
    for (const chain of tier.chains) {
      out.push(`${when(MARK_ACCEPT | MARK_PASS)}jump ${chain}`);
      first = false;
    }
    // The last tier's end is the tail's first rule.
    if (decidesAll(plan) && tier.defaultAction === 'Deny' && t < plan.tiers.length - 1) {
      out.push(endOfTier(tier.tier, deny));
    }
  });
  if (!decidesAll(plan)) return out;
  // The end (the last tier's drop, profiles, the return of accepted packets,
  // the final drop) is shared by every chain that ends in the same tier with
  // the same profiles: one rule here instead of four. Per-rule kernel work
  // is what a full load costs, so every rule saved on each of a thousand
  // endpoint chains counts.
  out.push(`goto ${tailChain(plan)}`);
  return out;
}

function endOfTier(tier: string, deny: string): string {
  const both = hex(MARK_ACCEPT | MARK_PASS);
  return `meta mark & ${both} == 0 counter ${deny} comment ${q(`end of tier ${tier}`)}`;
}

/** The tier whose end-of-tier drop closes a normal or forward plan's policies, if any. */
function lastTierEnd(plan: EndpointChainPlan): string | undefined {
  const last = plan.tiers[plan.tiers.length - 1];
  return last && last.defaultAction === 'Deny' ? last.tier : undefined;
}

/**
 * The shared end of normal and forward endpoint chains (their goto target),
 * named by what it holds: the direction, the last tier's end and the profiles.
 */
export function tailChain(plan: EndpointChainPlan): string {
  let name = tails.get(plan);
  if (name === undefined) {
    const end = lastTierEnd(plan);
    const kind = plan.profiles.length ? 'p' : 'n';
    const key = `${end ?? ''}|${plan.profiles.join(',')}`;
    name = `t${plan.direction === 'ingress' ? 'i' : 'e'}-${kind}${key === '|' ? '' : shortHash(key)}`;
    tails.set(plan, name);
  }
  return name;
}

const tails = new WeakMap<EndpointChainPlan, string>();

/**
 * A tail chain's rules: the last tier's end-of-tier drop, the profiles while
 * nothing accepted, then return accepted, then drop.
 */
function renderTailBody(plan: EndpointChainPlan, settings: PolicySettings): string[] {
  const deny = settings.denyAction === 'Reject' ? 'reject' : 'drop';
  const end = lastTierEnd(plan);
  return [
    ...(end === undefined ? [] : [endOfTier(end, deny)]),
    ...plan.profiles.map((chain) => `meta mark & ${hex(MARK_ACCEPT)} == 0 jump ${chain}`),
    `${ACCEPTED} return`,
    `counter ${deny} comment ${q(plan.profiles.length ? 'no profile allowed it' : 'no policy or profile allowed it')}`,
  ];
}

const decidesAll = (plan: EndpointChainPlan) => plan.stage === 'normal' || plan.stage === 'forward';

function failsafeRules(ports: ProtoPort[], direction: 'in' | 'out'): string[] {
  return ports.map((p) => {
    const net = p.net
      ? `${p.net.includes(':') ? 'ip6' : 'ip'} ${direction === 'in' ? 'saddr' : 'daddr'} ${p.net} `
      : '';
    return `${net}meta l4proto ${p.protocol} th dport ${p.port} counter accept comment ${q(`failsafe ${direction} ${p.protocol}/${p.port}`)}`;
  });
}

// ---------------------------------------------------------------------------
// The fixed skeleton

/** A host endpoint's interface to its chains of the other stages (jumped to: they return). */
const HOST_STAGE_MAP: Record<(typeof STAGE_CHAINS)[number][0], string> = {
  forwardIngress: 'hep-fwd-in',
  forwardEgress: 'hep-fwd-out',
  preDnatIngress: 'hep-dnat-in',
  untrackedIngress: 'hep-raw-in',
  untrackedEgress: 'hep-raw-out',
};
const HOST_STAGE_MAPS = Object.values(HOST_STAGE_MAP);

/**
 * An all-interfaces host endpoint (`interfaceName: "*"`) is reached through
 * chains of its own, tried after the per-interface maps miss: every
 * interface but loopback and workloads'. Its untracked policy does not
 * apply (as in Calico).
 */
const STAR_CHAINS = [
  { chain: 'hep-any-in', ifname: 'iifname', field: 'ingress', verb: 'goto' },
  { chain: 'hep-any-out', ifname: 'oifname', field: 'egress', verb: 'goto' },
  { chain: 'hep-any-fwd-in', ifname: 'iifname', field: 'forwardIngress', verb: 'jump' },
  { chain: 'hep-any-fwd-out', ifname: 'oifname', field: 'forwardEgress', verb: 'jump' },
  { chain: 'hep-any-dnat-in', ifname: 'iifname', field: 'preDnatIngress', verb: 'jump' },
] as const;

const ALL_INTERFACES = '*';

/** The all-interfaces chains' rules for the endpoint (none: emptied). */
function starChainLines(t: string, ep: LocalEndpointPlan | undefined): string[] {
  const lines: string[] = [];
  for (const s of STAR_CHAINS) {
    lines.push(`flush chain ${t} ${s.chain}`);
    const target = ep?.[s.field];
    if (target)
      lines.push(
        `add rule ${t} ${s.chain} ${s.ifname} != "lo" ${s.ifname} != "cali*" ${s.verb} ${target}`,
      );
  }
  return lines;
}

/** The chains Allow and Pass go to: set their bit, and return from the policy's chain. */
export const ALLOW_CHAIN = 'allow';
export const PASS_CHAIN = 'pass';

/** The skeleton's sets and maps (no references to chains but the dispatch map's type). */
function skeletonDecls(t: string, settings: PolicySettings): string[] {
  const lines = [
    `add map ${t} wl { type ifname : mark; }`,
    `add map ${t} plans { type mark : verdict; }`,
    `add map ${t} hep-in { type ifname : verdict; }`,
    `add map ${t} hep-out { type ifname : verdict; }`,
    ...HOST_STAGE_MAPS.map((m) => `add map ${t} ${m} { type ifname : verdict; }`),
    `add set ${t} wl-src4 { type ifname . ipv4_addr; }`,
    `add set ${t} wl-src4-net { type ifname . ipv4_addr; flags interval; }`,
  ];
  if (settings.ipv6) {
    lines.push(`add set ${t} wl-src6 { type ifname . ipv6_addr; }`);
    lines.push(`add set ${t} wl-src6-net { type ifname . ipv6_addr; flags interval; }`);
  }
  return lines;
}

function chainLines(t: string, name: string, rules: string[], hook?: string): string[] {
  return [
    `add chain ${t} ${name}${hook ? ` { ${hook} }` : ''}`,
    ...rules.map((r) => `add rule ${t} ${name} ${r}`),
  ];
}

/** The skeleton's regular chains: dispatch, failsafes, workload to host, allow and pass. */
function skeletonChains(t: string, settings: PolicySettings): string[] {
  const deny = settings.denyAction === 'Reject' ? 'reject' : 'drop';
  const lines: string[] = [];
  const chain = (name: string, rules: string[]) => lines.push(...chainLines(t, name, rules));
  chain(ALLOW_CHAIN, [`meta mark set meta mark | ${hex(MARK_ACCEPT)}`]);
  chain(PASS_CHAIN, [`meta mark set meta mark | ${hex(MARK_PASS)}`]);
  // Dispatch (see the file comment): a fast path for packets without other
  // marks, a path that parks the mark in conntrack for those with, and a drop.
  const dispatch = (name: string, ifname: 'iifname' | 'oifname', bits: number) => {
    const lookup = `meta mark set ${ifname} map @wl meta mark & ${hex(bits)} vmap @plans`;
    const unknown = `counter ${deny} comment ${q('unknown workload interface')}`;
    chain(`${name}-marked`, [
      `ct mark != 0 counter ${deny} comment ${q('packet mark and conntrack mark both set')}`,
      `ct state untracked counter ${deny} comment ${q('packet mark on an untracked packet')}`,
      `ct mark set meta mark ${lookup}`,
      `${ACCEPTED} meta mark set ct mark ct mark set 0 return`,
      `ct mark set 0 ${unknown}`,
    ]);
    chain(name, [
      `meta mark set meta mark & ${hex(FOREIGN)}`,
      `meta mark != 0 goto ${name}-marked`,
      lookup,
      `${ACCEPTED} meta mark set 0 return`,
      unknown,
    ]);
  };
  dispatch('from-wl', 'iifname', EGRESS_BITS);
  dispatch('to-wl', 'oifname', INGRESS_BITS);
  chain('failsafe-in', failsafeRules(settings.failsafeInbound, 'in'));
  chain('failsafe-out', failsafeRules(settings.failsafeOutbound, 'out'));
  const toHost = [
    'ct state established,related accept',
    'ct state invalid counter drop',
    'jump from-wl',
    // Neighbour discovery to the host (IPv6's ARP) is always allowed.
    'icmpv6 type nd-router-solicit accept',
    'icmpv6 type nd-neighbor-solicit accept',
    'icmpv6 type nd-neighbor-advert accept',
  ];
  const e2h = settings.defaultEndpointToHostAction;
  toHost.push(
    `counter ${e2h === 'Accept' ? 'accept' : e2h === 'Return' ? 'return' : deny} comment ${q(`defaultEndpointToHostAction ${e2h}`)}`,
  );
  chain('wl-to-host', toHost);
  for (const { chain: name } of STAR_CHAINS) chain(name, []);
  // Host endpoints' untracked stage (raw, before conntrack): what their
  // doNotTrack policy allows is not tracked, and skips the later stages.
  chain('raw-in', ['iifname vmap @hep-raw-in', `${ACCEPTED} notrack accept`]);
  // Forwarded through host endpoints (applyOnForward): what untracked policy
  // allowed skips it; otherwise the ingress endpoint's, then the egress one's.
  chain('hep-forward', [
    `${ACCEPTED} ct state untracked return`,
    'iifname vmap @hep-fwd-in',
    'jump hep-any-fwd-in',
    'oifname vmap @hep-fwd-out',
    'jump hep-any-fwd-out',
  ]);
  chain('forward-hosts', [
    'ct state established,related accept',
    `ct state invalid iifname @hep-fwd-in counter ${deny} comment ${q('conntrack invalid')}`,
    `ct state invalid oifname @hep-fwd-out counter ${deny} comment ${q('conntrack invalid')}`,
    'jump hep-forward',
    'accept',
  ]);
  return lines;
}

/**
 * Which of the host endpoints' optional stages some endpoint has: their base
 * chains are hooked only then. Every base chain is a call on every packet of
 * its hook, established or not, so a table without preDNAT or doNotTrack
 * policy does not make forwarded traffic pay for them.
 */
export interface HookNeeds {
  preDnat: boolean;
  untrackedIngress: boolean;
  untrackedEgress: boolean;
}

export function hookNeeds(state: Pick<PolicyState, 'endpoints'>): HookNeeds {
  const needs: HookNeeds = { preDnat: false, untrackedIngress: false, untrackedEgress: false };
  for (const ep of state.endpoints.values()) {
    if (ep.kind !== 'host') continue;
    if (ep.preDnatIngress) needs.preDnat = true;
    // An all-interfaces endpoint's untracked policy does not apply (see STAR_CHAINS).
    if (ep.iface === ALL_INTERFACES) continue;
    if (ep.untrackedIngress) needs.untrackedIngress = true;
    if (ep.untrackedEgress) needs.untrackedEgress = true;
  }
  return needs;
}

function sameNeeds(a: HookNeeds, b: HookNeeds): boolean {
  return (
    a.preDnat === b.preDnat &&
    a.untrackedIngress === b.untrackedIngress &&
    a.untrackedEgress === b.untrackedEgress
  );
}

/**
 * The base chains: what hooks the table into the kernel's paths. Established
 * and related packets leave each at its first rule.
 */
function skeletonHooks(t: string, settings: PolicySettings, needs: HookNeeds): string[] {
  const spoof = [
    // Other interfaces: only host endpoints' untracked stage has work here.
    needs.untrackedIngress ? 'iifname != "cali*" goto raw-in' : 'iifname != "cali*" accept',
    'meta nfproto ipv4 iifname . ip saddr @wl-src4 return',
    'meta nfproto ipv4 iifname . ip saddr @wl-src4-net return',
    'ip6 saddr fe80::/10 return',
    'ip6 saddr :: return',
  ];
  if (settings.ipv6) {
    spoof.push('meta nfproto ipv6 iifname . ip6 saddr @wl-src6 return');
    spoof.push('meta nfproto ipv6 iifname . ip6 saddr @wl-src6-net return');
  }
  spoof.push(`counter drop comment ${q('workload source address not its own')}`);
  const hook = (name: string, rules: string[], spec: string) =>
    chainLines(t, name, rules, `type filter hook ${spec}; policy accept;`);
  const lines = [...hook('anti-spoof', spoof, 'prerouting priority raw')];
  if (needs.untrackedEgress)
    lines.push(
      ...hook(
        'raw-out',
        ['oifname vmap @hep-raw-out', `${ACCEPTED} notrack accept`],
        'output priority raw',
      ),
    );
  // Host endpoints' preDNAT stage: before kube-proxy's (or anyone's) DNAT.
  if (needs.preDnat)
    lines.push(
      ...hook(
        'pre-dnat',
        [
          'ct state established,related accept',
          `${ACCEPTED} accept`,
          'iifname vmap @hep-dnat-in',
          'jump hep-any-dnat-in',
        ],
        'prerouting priority mangle',
      ),
    );
  lines.push(
    ...hook(
      'forward',
      [
        // Whatever the interfaces (forward-hosts starts with the same accept).
        'ct state established,related accept',
        'iifname != "cali*" oifname != "cali*" goto forward-hosts',
        `ct state invalid counter drop comment ${q('conntrack invalid')}`,
        'jump hep-forward',
        'iifname "cali*" jump from-wl',
        'oifname "cali*" jump to-wl',
        'accept',
      ],
      'forward priority filter',
    ),
    ...hook(
      'input',
      // What a host endpoint's untracked or preDNAT policy allowed skips its normal policy.
      [
        'iifname "cali*" goto wl-to-host',
        `${ACCEPTED} accept`,
        'iifname vmap @hep-in',
        'jump hep-any-in',
      ],
      'input priority filter',
    ),
    ...hook(
      'output',
      // Only the untracked stage (raw output) decides before this: an accept bit
      // on a tracked packet is no decision of ours (an application's SO_MARK, say).
      [
        'oifname "cali*" accept',
        `${ACCEPTED} ct state untracked accept`,
        'oifname vmap @hep-out',
        'jump hep-any-out',
      ],
      'output priority filter',
    ),
  );
  return lines;
}

// ---------------------------------------------------------------------------
// Scripts

const CHUNK = 1000;

function elementLines(
  verb: 'add' | 'delete',
  t: string,
  set: string,
  elements: string[],
): string[] {
  const out: string[] = [];
  for (let i = 0; i < elements.length; i += CHUNK) {
    out.push(`${verb} element ${t} ${set} { ${elements.slice(i, i + CHUNK).join(', ')} }`);
  }
  return out;
}

/** An endpoint chain's dispatch number by chain name, as the kernel holds it. */
type MarkOf = (chain: string) => number | undefined;

const markLookup =
  (state: PolicyState): MarkOf =>
  (chain) =>
    state.endpointChains.get(chain)?.mark;

/**
 * An endpoint's map and set elements, one call of `emit` each. A workload's
 * interface maps to its chains' dispatch numbers (none while a chain has
 * none: its traffic is dropped as from an unknown interface); a host
 * endpoint's to its chains.
 */
function forEachEndpointElement(
  ep: LocalEndpointPlan,
  markOf: MarkOf,
  emit: (set: string, element: string) => void,
): void {
  const name = q(ep.iface);
  if (ep.kind === 'host' && ep.iface === ALL_INTERFACES) return;
  if (ep.kind === 'host') {
    emit('hep-in', `${name} : goto ${ep.ingress}`);
    emit('hep-out', `${name} : goto ${ep.egress}`);
    for (const [field] of STAGE_CHAINS) {
      const chain = ep[field];
      if (chain) emit(HOST_STAGE_MAP[field], `${name} : jump ${chain}`);
    }
    return;
  }
  const numbers =
    chainMark(markOf(ep.ingress) ?? 0, 'ingress') | chainMark(markOf(ep.egress) ?? 0, 'egress');
  if (numbers) emit('wl', `${name} : ${hex(numbers >>> 0)}`);
  for (const cidr of ep.sources4) {
    if (cidr.endsWith('/32')) emit('wl-src4', `${name} . ${cidr.slice(0, -3)}`);
    else emit('wl-src4-net', `${name} . ${cidr}`);
  }
  for (const cidr of ep.sources6) {
    if (cidr.endsWith('/128')) emit('wl-src6', `${name} . ${cidr.slice(0, -4)}`);
    else emit('wl-src6-net', `${name} . ${cidr}`);
  }
}

function endpointElements(
  ep: LocalEndpointPlan,
  markOf: MarkOf,
): { set: string; element: string }[] {
  const out: { set: string; element: string }[] = [];
  forEachEndpointElement(ep, markOf, (set, element) => out.push({ set, element }));
  return out;
}

const isMap = (set: string) => set === 'wl' || set.endsWith('-in') || set.endsWith('-out');

/** The keys to delete an endpoint's map and set elements by. */
function endpointKeys(
  ep: LocalEndpointPlan,
  markOf: MarkOf,
  ipv6: boolean,
): { set: string; element: string }[] {
  return endpointElements(ep, markOf)
    .filter((e) => ipv6 || !e.set.startsWith('wl-src6'))
    .map((e) => ({ set: e.set, element: isMap(e.set) ? q(ep.iface) : e.element }));
}

function tailLines(t: string, plan: EndpointChainPlan, settings: PolicySettings): string[] {
  const name = tailChain(plan);
  return [
    `add chain ${t} ${name}`,
    ...renderTailBody(plan, settings).map((r) => `add rule ${t} ${name} ${r}`),
  ];
}

/** Whether another endpoint chain than `except` ends in the tail. */
function tailUsed(have: PolicyState, tail: string, except: string): boolean {
  for (const p of have.endpointChains.values())
    if (p.chain !== except && decidesAll(p) && tailChain(p) === tail) return true;
  return false;
}

/** A workload endpoint chain's element in the dispatch map (host chains are reached by interface). */
function planElement(plan: EndpointChainPlan): string | undefined {
  if (!plan.chain.startsWith('w') || !plan.mark) return undefined;
  return `${hex(chainMark(plan.mark, plan.direction))} : jump ${plan.chain}`;
}

function groupBy(items: { set: string; element: string }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { set, element } of items) {
    const list = out.get(set) ?? [];
    list.push(element);
    out.set(set, list);
  }
  return out;
}

/**
 * The whole table in three parts, for loading it into a namespace that has
 * none as three transactions, the first two at once (nft parses one while
 * the kernel loads the other), the table taking effect with the third:
 *
 *   sets    set and map declarations, the selector sets' elements and the
 *           workload maps' (nothing here refers to a chain);
 *   chains  the same declarations, every regular chain, the dispatch map's
 *           and the host endpoint maps' elements;
 *   hooks   the base chains.
 *
 * Each is a list of commands without the table's own; `wholeTableScript`
 * puts them together as one transaction that replaces any table of the name.
 */
export interface FullRender {
  table: string;
  decls: string[];
  setElements: string[];
  chains: string[];
  hooks: string[];
}

export function renderFullSets(
  state: PolicyState,
  opts: RenderOptions = {},
): Pick<FullRender, 'table' | 'decls' | 'setElements'> {
  const t = `${POLICY_FAMILY} ${opts.table ?? POLICY_TABLE}`;
  const s = state.settings;
  const decls = skeletonDecls(t, s);
  const setElements: string[] = [];
  for (const { spec, elements } of byLookups(state)) {
    if (spec.family === 6 && !s.ipv6) continue;
    decls.push(`add set ${t} ${spec.name} { ${setDecl(spec)} }`);
    setElements.push(...elementLines('add', t, spec.name, [...elements]));
  }
  const markOf = markLookup(state);
  const bySet = new Map<string, string[]>();
  for (const ep of state.endpoints.values()) {
    if (ep.kind !== 'workload') continue;
    forEachEndpointElement(ep, markOf, (set, element) => {
      if (!s.ipv6 && set.startsWith('wl-src6')) return;
      const list = bySet.get(set);
      if (list) list.push(element);
      else bySet.set(set, [element]);
    });
  }
  for (const [set, list] of bySet) setElements.push(...elementLines('add', t, set, list));
  return { table: t, decls, setElements };
}

/**
 * The sets, those most rules look up first. The kernel finds a rule's set by
 * walking the table's sets in the order they were made, comparing names, so
 * with hundreds of sets the declaration order is a measurable part of
 * loading thousands of rules.
 */
function byLookups(state: PolicyState): { spec: SetSpec; elements: Set<string> }[] {
  const lookups = new Map<string, number>();
  const count = (id: string | undefined) => {
    if (id !== undefined) lookups.set(id, (lookups.get(id) ?? 0) + 1);
  };
  for (const chain of state.ruleChains.values()) {
    for (const r of chain.rules) {
      for (const m of [r.src, r.dst]) {
        count(m.selector?.id);
        count(m.notSelector?.id);
        for (const id of m.namedPorts) count(id);
        for (const id of m.notNamedPorts) count(id);
      }
    }
  }
  const idOf = (name: string) => name.slice(0, name.lastIndexOf('-'));
  return [...state.sets.values()].sort(
    (a, b) => (lookups.get(idOf(b.spec.name)) ?? 0) - (lookups.get(idOf(a.spec.name)) ?? 0),
  );
}

export function renderFullChains(
  state: PolicyState,
  opts: RenderOptions = {},
): Pick<FullRender, 'chains' | 'hooks'> {
  const t = `${POLICY_FAMILY} ${opts.table ?? POLICY_TABLE}`;
  const s = state.settings;
  const chains = skeletonChains(t, s);
  for (const chain of state.ruleChains.values()) {
    chains.push(`add chain ${t} ${chain.chain}`);
    for (const r of renderRuleChainBody(chain, s)) chains.push(`add rule ${t} ${chain.chain} ${r}`);
  }
  const plans: string[] = [];
  const tailsMade = new Set<string>();
  for (const plan of state.endpointChains.values()) {
    if (!decidesAll(plan) || tailsMade.has(tailChain(plan))) continue;
    tailsMade.add(tailChain(plan));
    chains.push(...tailLines(t, plan, s));
  }
  for (const plan of state.endpointChains.values()) {
    chains.push(`add chain ${t} ${plan.chain}`);
    for (const r of renderEndpointChainBody(plan, s))
      chains.push(`add rule ${t} ${plan.chain} ${r}`);
    const element = planElement(plan);
    if (element) plans.push(element);
  }
  chains.push(...elementLines('add', t, 'plans', plans));
  const star = state.endpoints.get(ALL_INTERFACES);
  if (star) chains.push(...starChainLines(t, star).filter((l) => !l.startsWith('flush')));
  const hosts = [...state.endpoints.values()]
    .filter((ep) => ep.kind === 'host')
    .flatMap((ep) => endpointElements(ep, () => undefined));
  for (const [set, list] of groupBy(hosts)) chains.push(...elementLines('add', t, set, list));
  return { chains, hooks: skeletonHooks(t, s, hookNeeds(state)) };
}

function renderFullParts(state: PolicyState, opts: RenderOptions = {}): FullRender {
  return { ...renderFullSets(state, opts), ...renderFullChains(state, opts) };
}

/**
 * A fresh load's three transactions (into a namespace without the table):
 * the sets with their elements, the chains with their rules (both declare
 * the sets, so either may commit first), then the hooks.
 */
export function freshSetsScript(r: Pick<FullRender, 'table' | 'decls' | 'setElements'>): string {
  return `${[`add table ${r.table}`, ...r.decls, ...r.setElements].join('\n')}\n`;
}

export function freshChainsScript(r: Pick<FullRender, 'table' | 'decls' | 'chains'>): string {
  return `${[`add table ${r.table}`, ...r.decls, ...r.chains].join('\n')}\n`;
}

export function freshHooksScript(r: Pick<FullRender, 'hooks'>): string {
  return `${r.hooks.join('\n')}\n`;
}

/** One transaction: replaces any table of the name with the whole table. */
export function wholeTableScript(r: FullRender): string {
  const t = r.table;
  return `${[`add table ${t}`, `delete table ${t}`, `add table ${t}`, ...r.decls, ...r.setElements, ...r.chains, ...r.hooks].join('\n')}\n`;
}

/** The whole table as one replacing transaction (`sets` + `rules`, in that order). */
export function renderFull(
  state: PolicyState,
  opts: RenderOptions = {},
): { sets: string; rules: string } {
  const r = renderFullParts(state, opts);
  const t = r.table;
  const sets = [
    `add table ${t}`,
    `delete table ${t}`,
    `add table ${t}`,
    ...r.decls,
    ...r.setElements,
  ];
  return { sets: `${sets.join('\n')}\n`, rules: `${[...r.chains, ...r.hooks].join('\n')}\n` };
}

/**
 * An incremental transaction for messages, given the state the kernel holds
 * (`have`, updated in place to the state after them). `full` is set when a
 * message changes what the skeleton depends on: the caller renders the
 * whole table instead.
 */
export function renderUpdates(
  have: PolicyState,
  msgs: readonly PolicyUpdate[],
  opts: RenderOptions = {},
): { script: string; full: boolean } {
  const t = `${POLICY_FAMILY} ${opts.table ?? POLICY_TABLE}`;
  const lines: string[] = [];
  let full = false;
  // A host endpoint's stages decide which base chains are hooked: a change
  // there is a whole-table write (rare; the table is replaced atomically).
  const hostMessages = msgs.some(
    (m) =>
      (m.type === 'endpoint' && m.endpoint.kind === 'host') ||
      (m.type === 'endpoint-delete' && m.kind === 'host'),
  );
  const needsBefore = hostMessages ? hookNeeds(have) : undefined;
  for (const m of msgs) {
    const s = have.settings;
    switch (m.type) {
      case 'settings':
        if (JSON.stringify(m.settings) !== JSON.stringify(have.settings)) full = true;
        have.settings = m.settings;
        break;
      case 'set-create':
        have.sets.set(m.spec.name, { spec: m.spec, elements: new Set() });
        if (m.spec.family === 4 || s.ipv6)
          lines.push(`add set ${t} ${m.spec.name} { ${setDecl(m.spec)} }`);
        break;
      case 'set-delta': {
        const set = have.sets.get(m.name);
        if (!set) break;
        const elements = ownElements(set);
        for (const e of m.remove) elements.delete(e);
        for (const e of m.add) elements.add(e);
        if (set.spec.family === 6 && !s.ipv6) break;
        lines.push(...elementLines('delete', t, m.name, m.remove));
        lines.push(...elementLines('add', t, m.name, m.add));
        break;
      }
      case 'set-delete': {
        const set = have.sets.get(m.name);
        have.sets.delete(m.name);
        if (set && (set.spec.family === 4 || s.ipv6)) lines.push(`delete set ${t} ${m.name}`);
        break;
      }
      case 'rule-chain': {
        const exists = have.ruleChains.has(m.chain.chain);
        have.ruleChains.set(m.chain.chain, m.chain);
        lines.push(
          exists ? `flush chain ${t} ${m.chain.chain}` : `add chain ${t} ${m.chain.chain}`,
        );
        for (const r of renderRuleChainBody(m.chain, s))
          lines.push(`add rule ${t} ${m.chain.chain} ${r}`);
        break;
      }
      case 'rule-chain-delete':
        if (have.ruleChains.delete(m.chain)) lines.push(`delete chain ${t} ${m.chain}`);
        break;
      case 'endpoint-chain': {
        const before = have.endpointChains.get(m.plan.chain);
        if (!before && decidesAll(m.plan) && !tailUsed(have, tailChain(m.plan), m.plan.chain))
          lines.push(...tailLines(t, m.plan, s));
        lines.push(`${before ? 'flush' : 'add'} chain ${t} ${m.plan.chain}`);
        have.endpointChains.set(m.plan.chain, m.plan);
        for (const r of renderEndpointChainBody(m.plan, s))
          lines.push(`add rule ${t} ${m.plan.chain} ${r}`);
        const old = before && planElement(before);
        const element = planElement(m.plan);
        if (old !== element) {
          if (old) lines.push(`delete element ${t} plans { ${old.slice(0, old.indexOf(' :'))} }`);
          if (element) lines.push(`add element ${t} plans { ${element} }`);
        }
        break;
      }
      case 'endpoint-chain-delete': {
        const before = have.endpointChains.get(m.chain);
        if (!before) break;
        have.endpointChains.delete(m.chain);
        const element = planElement(before);
        if (element)
          lines.push(`delete element ${t} plans { ${element.slice(0, element.indexOf(' :'))} }`);
        lines.push(`delete chain ${t} ${m.chain}`);
        if (decidesAll(before) && !tailUsed(have, tailChain(before), m.chain))
          lines.push(`delete chain ${t} ${tailChain(before)}`);
        break;
      }
      case 'endpoint': {
        const before = have.endpoints.get(m.endpoint.iface);
        have.endpoints.set(m.endpoint.iface, m.endpoint);
        if (m.endpoint.iface === ALL_INTERFACES) {
          lines.push(...starChainLines(t, m.endpoint));
          break;
        }
        // The chains an endpoint used stay until after it moves off them.
        const markOf = markLookup(have);
        const removeKeys = before ? endpointKeys(before, markOf, s.ipv6) : [];
        const adds = endpointElements(m.endpoint, markOf).filter(
          (e) => s.ipv6 || !e.set.startsWith('wl-src6'),
        );
        // Only what differs: a map entry whose chain changed is replaced (delete +
        // add), source elements come and go.
        const oldAdds = before
          ? endpointElements(before, markOf).filter((e) => s.ipv6 || !e.set.startsWith('wl-src6'))
          : [];
        const id = (e: { set: string; element: string }) => `${e.set}|${e.element}`;
        const keep = new Set(adds.map(id));
        const had = new Set(oldAdds.map(id));
        const dels = removeKeys.filter((_, i) => !keep.has(id(oldAdds[i]!)));
        const news = adds.filter((e) => !had.has(id(e)));
        for (const [set, list] of groupBy(dels))
          lines.push(...elementLines('delete', t, set, list));
        for (const [set, list] of groupBy(news)) lines.push(...elementLines('add', t, set, list));
        break;
      }
      case 'endpoint-delete': {
        const before = have.endpoints.get(m.iface);
        have.endpoints.delete(m.iface);
        if (m.iface === ALL_INTERFACES) {
          lines.push(...starChainLines(t, undefined));
          break;
        }
        if (before)
          for (const [set, list] of groupBy(endpointKeys(before, markLookup(have), s.ipv6)))
            lines.push(...elementLines('delete', t, set, list));
        break;
      }
    }
  }
  if (needsBefore && !sameNeeds(needsBefore, hookNeeds(have))) full = true;
  return { script: lines.length ? `${lines.join('\n')}\n` : '', full };
}
