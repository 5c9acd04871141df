// The reference evaluator: what Calico's policy model says about one packet,
// computed directly from the resources, one packet at a time. It shares
// nothing with the calculation that feeds the dataplane (no IR, no sets, no
// selector translation, no Kubernetes-to-Calico conversion: Kubernetes
// NetworkPolicy is read with Kubernetes' own semantics), so the two can be
// held against each other: the unit tests compare it with the compiled IR on
// random packets, and the truth-table test predicts real traffic with it.
// `tortie policy explain` is this evaluator.
//
// The model, in brief (Calico's documentation and Felix's rendering):
//   - a workload's egress policy applies where it sends, ingress where it receives;
//   - per direction, tiers in order (tier order, then name); in a tier, the
//     policies that select the endpoint and have the direction in their types,
//     by order (absent = last), then name; the first rule that matches decides:
//     Allow and Deny end evaluation, Pass skips the rest of the tier, Log goes on;
//   - a tier with applicable policies that ends without a decision drops
//     ("end of tier"), unless the tier's defaultAction is Pass;
//   - past the tiers (every tier passed, or none applied): the endpoint's
//     profiles in order; Allow/Deny decide, otherwise drop;
//   - `kns.<ns>` profiles that are not stored are Kubernetes namespaces' own:
//     allow everything;
//   - traffic from a workload to its own host: after its egress policy,
//     FelixConfiguration defaultEndpointToHostAction (Drop by default);
//   - the host reaches its own workloads without policy; a pod reaches itself.

import {
  cidrContainsAddress,
  tryParseCidr,
  tryParseIP,
  type Cidr,
  type IPAddress,
} from '../../model/cidr.js';
import { parsePort, protocolNumber } from '../../model/formats.js';
import type {
  EntityRule,
  FelixConfigurationSpec,
  GlobalNetworkPolicySpec,
  HostEndpointSpec,
  K8sNetworkPolicyPeer,
  K8sNetworkPolicyPort,
  K8sNetworkPolicySpec,
  LabelSelector,
  NetworkSetSpec,
  NodeSpec,
  ProfileSpec,
  Resource,
  Rule,
  TierSpec,
  WorkloadEndpointSpec,
} from '../../model/resource.js';
import { parseSelector, type Labels } from '../../model/selector.js';
import type {
  DecidedBy,
  Direction,
  DirectionVerdict,
  LogHit,
  Packet,
  PolicyKind,
  Verdict,
} from './types.js';

const CALICO = 'projectcalico.org/v3';
const K8S_NET = 'networking.k8s.io/v1';
const FIXED_TIER_ORDERS: Record<string, number> = {
  'kube-admin': 1_000,
  default: 1_000_000,
  'kube-baseline': 10_000_000,
};

interface RefEndpoint {
  kind: 'workload' | 'host';
  id: string;
  /** The pod (Kubernetes) or workload name, for look-ups by name. */
  workload: string | undefined;
  namespace: string | undefined;
  node: string;
  ips: IPAddress[];
  labels: Record<string, string>;
  profiles: string[];
  ports: { name: string; protocol: number; port: number }[];
  spoofable: Cidr[];
  orchestrator: string | undefined;
  serviceAccount: string | undefined;
  iface: string | undefined;
}

interface RefNetSet {
  namespace: string | undefined;
  labels: Record<string, string>;
  nets: Cidr[];
}

interface RefPolicy {
  kind: PolicyKind;
  name: string;
  sortName: string;
  namespace: string | undefined;
  tier: string;
  order: number | undefined;
  /** Host endpoints' doNotTrack ('untracked') and preDNAT policies apply at stages of their own. */
  stage: HostStage | 'normal';
  calico?: GlobalNetworkPolicySpec;
  k8s?: K8sNetworkPolicySpec;
}

type HostStage = 'untracked' | 'preDNAT';
/** Which of an endpoint's policies apply: its own, a host endpoint's other stages. */
type EvalStage = RefPolicy['stage'] | 'forward';

function ipOf(text: string): IPAddress | undefined {
  const bare = text.includes('/') ? text.slice(0, text.indexOf('/')) : text;
  return tryParseIP(bare);
}

function sameIP(a: IPAddress, b: IPAddress): boolean {
  return a.family === b.family && a.value === b.value;
}

/** The resources the evaluator reads, indexed. */
export class ReferenceModel {
  readonly endpoints: RefEndpoint[] = [];
  readonly netsets: RefNetSet[] = [];
  readonly policies: RefPolicy[] = [];
  readonly profiles = new Map<string, ProfileSpec>();
  readonly tiers = new Map<string, TierSpec>();
  readonly nodes = new Map<string, IPAddress[]>();
  felix: FelixConfigurationSpec = {};
  private readonly felixByName = new Map<string, FelixConfigurationSpec>();

  constructor(resources: readonly Resource[]) {
    for (const r of resources) this.add(r);
  }

  private add(r: Resource): void {
    const spec = (r.spec ?? {}) as Record<string, unknown>;
    const name = r.metadata.name;
    const ns = r.metadata.namespace ?? 'default';
    const labels = { ...(r.metadata.labels ?? {}) };
    if (r.apiVersion === K8S_NET && r.kind === 'NetworkPolicy') {
      this.policies.push({
        kind: 'KubernetesNetworkPolicy',
        name: `${ns}/knp.default.${name}`,
        sortName: `${ns}/knp.default.${name}`,
        namespace: ns,
        tier: 'default',
        order: 1000,
        stage: 'normal',
        k8s: spec as K8sNetworkPolicySpec,
      });
      return;
    }
    if (r.apiVersion !== CALICO) return;
    switch (r.kind) {
      case 'WorkloadEndpoint': {
        const s = spec as WorkloadEndpointSpec;
        this.endpoints.push({
          kind: 'workload',
          id: `${ns}/${name}`,
          workload: s.pod || s.workload || undefined,
          namespace: ns,
          node: s.node ?? '',
          ips: (s.ipNetworks ?? []).flatMap((t) => ipOf(t) ?? []),
          labels,
          profiles: s.profiles ?? [],
          ports: (s.ports ?? []).flatMap((p) => {
            const protocol = protocolNumber(p.protocol);
            return p.name && protocol !== undefined
              ? [{ name: p.name, protocol, port: p.port }]
              : [];
          }),
          spoofable: (s.allowSpoofedSourcePrefixes ?? []).flatMap((t) => tryParseCidr(t) ?? []),
          orchestrator: s.orchestrator || labels['projectcalico.org/orchestrator'],
          serviceAccount: s.serviceAccountName || undefined,
          iface: s.interfaceName,
        });
        break;
      }
      case 'HostEndpoint': {
        const s = spec as HostEndpointSpec;
        this.endpoints.push({
          kind: 'host',
          id: `hep/${name}`,
          workload: undefined,
          namespace: undefined,
          node: s.node,
          ips: (s.expectedIPs ?? []).flatMap((t) => ipOf(t) ?? []),
          labels,
          profiles: s.profiles ?? [],
          ports: (s.ports ?? []).flatMap((p) => {
            const protocol = protocolNumber(p.protocol);
            return protocol !== undefined ? [{ name: p.name, protocol, port: p.port }] : [];
          }),
          spoofable: [],
          orchestrator: undefined,
          serviceAccount: undefined,
          iface: s.interfaceName,
        });
        break;
      }
      case 'NetworkSet':
      case 'GlobalNetworkSet':
        this.netsets.push({
          namespace: r.kind === 'NetworkSet' ? ns : undefined,
          labels,
          nets: ((spec as NetworkSetSpec).nets ?? []).flatMap((t) => tryParseCidr(t) ?? []),
        });
        break;
      case 'NetworkPolicy':
      case 'GlobalNetworkPolicy': {
        const s = spec as GlobalNetworkPolicySpec;
        const global = r.kind === 'GlobalNetworkPolicy';
        this.policies.push({
          stage: s.doNotTrack ? 'untracked' : s.preDNAT ? 'preDNAT' : 'normal',
          kind: global ? 'GlobalNetworkPolicy' : 'NetworkPolicy',
          name: global ? name : `${ns}/${name}`,
          sortName: global ? name : `${ns}/${name}`,
          namespace: global ? undefined : ns,
          tier: s.tier || 'default',
          order: typeof s.order === 'number' ? s.order : undefined,
          calico: s,
        });
        break;
      }
      case 'Profile':
        this.profiles.set(name, spec as ProfileSpec);
        break;
      case 'Tier':
        this.tiers.set(name, spec as TierSpec);
        break;
      case 'FelixConfiguration':
        this.felixByName.set(name, spec as FelixConfigurationSpec);
        break;
      case 'Node': {
        const s = spec as NodeSpec;
        const texts = [
          s.bgp?.ipv4Address,
          s.bgp?.ipv6Address,
          ...(s.addresses ?? []).map((a) => a.address),
        ];
        this.nodes.set(
          name,
          texts.flatMap((t) => (t ? (ipOf(t) ?? []) : [])),
        );
        break;
      }
    }
  }

  felixFor(node: string): FelixConfigurationSpec {
    return {
      ...(this.felixByName.get('default') ?? {}),
      ...(this.felixByName.get(`node.${node}`) ?? {}),
    };
  }

  /** Workload endpoints (and host endpoints) holding the address. */
  endpointsAt(ip: IPAddress): RefEndpoint[] {
    return this.endpoints.filter((e) => e.ips.some((x) => sameIP(x, ip)));
  }

  nodeOfAddress(ip: IPAddress): string | undefined {
    for (const [name, addrs] of this.nodes) if (addrs.some((a) => sameIP(a, ip))) return name;
    return undefined;
  }

  /**
   * A workload by "ns/name" (the WorkloadEndpoint's, or "ns/pod"), by name
   * or pod name when that is unambiguous, or by address.
   */
  findWorkload(ref: string): RefEndpoint | undefined {
    const ip = tryParseIP(ref);
    if (ip) return this.endpointsAt(ip).find((e) => e.kind === 'workload');
    const workloads = this.endpoints.filter((e) => e.kind === 'workload');
    const exact = workloads.filter((e) => e.id === ref || `${e.namespace}/${e.workload}` === ref);
    if (exact.length === 1) return exact[0];
    const byName = workloads.filter((e) => e.id.split('/').pop() === ref || e.workload === ref);
    return byName.length === 1 ? byName[0] : undefined;
  }

  /** Every workload endpoint's id and addresses (for listings and errors). */
  workloadIds(): string[] {
    return this.endpoints.filter((e) => e.kind === 'workload').map((e) => e.id);
  }
}

// ---------------------------------------------------------------------------
// Labels

function namespaceLabels(model: ReferenceModel, ns: string): Labels {
  const out: Record<string, string> = {};
  const profile = model.profiles.get(`kns.${ns}`);
  for (const [k, v] of Object.entries(profile?.labelsToApply ?? {})) {
    out[k.startsWith('pcns.') ? k.slice(5) : k] = v;
  }
  out['projectcalico.org/name'] = ns;
  out['kubernetes.io/metadata.name'] = ns;
  return out;
}

function serviceAccountLabels(
  model: ReferenceModel,
  e: { namespace?: string; serviceAccount?: string },
): Labels {
  if (!e.serviceAccount) return {};
  const out: Record<string, string> = {};
  const profile = model.profiles.get(`ksa.${e.namespace}.${e.serviceAccount}`);
  for (const [k, v] of Object.entries(profile?.labelsToApply ?? {})) {
    out[k.startsWith('pcsa.') ? k.slice(5) : k] = v;
  }
  out['projectcalico.org/name'] = e.serviceAccount;
  return out;
}

/** Labels a Calico selector sees on an endpoint: profiles' labelsToApply, own labels, Calico's. */
function endpointLabels(model: ReferenceModel, e: RefEndpoint): Labels {
  const out: Record<string, string> = {};
  for (const p of e.profiles) Object.assign(out, model.profiles.get(p)?.labelsToApply ?? {});
  Object.assign(out, e.labels);
  if (e.namespace !== undefined) out['projectcalico.org/namespace'] = e.namespace;
  if (e.orchestrator) out['projectcalico.org/orchestrator'] = e.orchestrator;
  if (e.serviceAccount) out['projectcalico.org/serviceaccount'] = e.serviceAccount;
  return out;
}

function netsetLabels(n: RefNetSet): Labels {
  return n.namespace === undefined
    ? n.labels
    : { ...n.labels, 'projectcalico.org/namespace': n.namespace };
}

// ---------------------------------------------------------------------------
// Calico rules

/** Something at an address a selector can match: endpoint or network set. */
interface Holder {
  namespace: string | undefined;
  labels: Labels;
  serviceAccount: string | undefined;
  ports: { name: string; protocol: number; port: number }[];
}

function holdersOf(model: ReferenceModel, ip: IPAddress): Holder[] {
  const out: Holder[] = [];
  for (const e of model.endpoints) {
    if (!e.ips.some((x) => sameIP(x, ip))) continue;
    out.push({
      namespace: e.namespace,
      labels: endpointLabels(model, e),
      serviceAccount: e.serviceAccount,
      ports: e.ports,
    });
  }
  for (const n of model.netsets) {
    if (!n.nets.some((c) => cidrContainsAddress(c, ip))) continue;
    out.push({
      namespace: n.namespace,
      labels: netsetLabels(n),
      serviceAccount: undefined,
      ports: [],
    });
  }
  return out;
}

/** Whether a holder is selected by an entity rule's selector fields (Calico's scoping). */
function selectedBy(
  model: ReferenceModel,
  er: EntityRule,
  policyNamespace: string | undefined,
  h: Holder,
): boolean {
  if (er.namespaceSelector) {
    const ns = parseSelector(er.namespaceSelector);
    if (ns.isGlobal) {
      if (h.namespace !== undefined) return false;
    } else {
      if (h.namespace === undefined) return false;
      if (!ns.matches(namespaceLabels(model, h.namespace))) return false;
    }
  } else if (
    policyNamespace !== undefined &&
    (er.selector || er.notSelector || er.serviceAccounts)
  ) {
    if (h.namespace !== policyNamespace) return false;
  }
  if (er.selector && !parseSelector(er.selector).matches(h.labels)) return false;
  const sa = er.serviceAccounts;
  if (sa) {
    if (!h.serviceAccount) return false;
    if (sa.names?.length && !sa.names.includes(h.serviceAccount)) return false;
    if (sa.selector) {
      const labels = serviceAccountLabels(model, h);
      const sel = parseSelector(sa.selector);
      if (!sel.matches(labels)) return false;
    }
  }
  return true;
}

function hasSelectorFields(er: EntityRule): boolean {
  return Boolean(er.selector || er.namespaceSelector || er.serviceAccounts);
}

function portMatches(
  list: readonly (number | string)[],
  port: number | undefined,
  protocol: number,
  holders: Holder[],
  er: EntityRule,
  model: ReferenceModel,
  policyNamespace: string | undefined,
): boolean {
  if (port === undefined) return false;
  for (const p of list) {
    const parsed = parsePort(p);
    if (typeof parsed === 'string') continue;
    if (parsed.name === undefined) {
      if (port >= parsed.min && port <= parsed.max) return true;
      continue;
    }
    // A named port: some holder of the address selected by the side's selector
    // (every holder when there is none) has a port of that name and protocol.
    for (const h of holders) {
      if (hasSelectorFields(er) && !selectedBy(model, er, policyNamespace, h)) continue;
      if (
        h.ports.some((x) => x.name === parsed.name && x.protocol === protocol && x.port === port)
      ) {
        return true;
      }
    }
  }
  return false;
}

function sideMatches(
  model: ReferenceModel,
  er: EntityRule | undefined,
  ip: IPAddress,
  port: number | undefined,
  protocol: number,
  policyNamespace: string | undefined,
): boolean {
  if (!er) return true;
  if (er.nets?.length && !er.nets.some((n) => contains(n, ip))) return false;
  if (er.notNets?.length && er.notNets.some((n) => contains(n, ip))) return false;
  const holders = holdersOf(model, ip);
  if (hasSelectorFields(er) || (policyNamespace !== undefined && er.notSelector)) {
    if (!holders.some((h) => selectedBy(model, er, policyNamespace, h))) return false;
  }
  if (er.notSelector) {
    const not = parseSelector(er.notSelector);
    if (holders.some((h) => not.matches(h.labels))) return false;
  }
  if (
    er.ports?.length &&
    !portMatches(er.ports, port, protocol, holders, er, model, policyNamespace)
  ) {
    return false;
  }
  if (
    er.notPorts?.length &&
    portMatches(er.notPorts, port, protocol, holders, er, model, policyNamespace)
  ) {
    return false;
  }
  return true;
}

function contains(net: string, ip: IPAddress): boolean {
  const c = tryParseCidr(net);
  return c !== undefined && cidrContainsAddress(c, ip);
}

interface Flow {
  src: IPAddress;
  dst: IPAddress;
  protocol: number;
  srcPort: number | undefined;
  dstPort: number | undefined;
  icmpType: number | undefined;
  icmpCode: number | undefined;
}

function icmpMatches(f: Flow, fields: { type?: number; code?: number }): boolean {
  const icmpProto = f.src.family === 4 ? 1 : 58;
  if (f.protocol !== icmpProto || fields.type === undefined) return false;
  if (f.icmpType !== fields.type) return false;
  return fields.code === undefined || f.icmpCode === fields.code;
}

function ruleMatches(model: ReferenceModel, rule: Rule, f: Flow, ns: string | undefined): boolean {
  if (rule.http) return false;
  if (rule.source?.services || rule.destination?.services) return false;
  if (rule.ipVersion !== undefined && rule.ipVersion !== f.src.family) return false;
  if (rule.protocol !== undefined && protocolNumber(rule.protocol) !== f.protocol) return false;
  if (rule.notProtocol !== undefined && protocolNumber(rule.notProtocol) === f.protocol)
    return false;
  if (rule.icmp && !icmpMatches(f, rule.icmp)) return false;
  if (rule.notICMP && rule.notICMP.type !== undefined && icmpMatches(f, rule.notICMP)) return false;
  // A list of nets with none of the packet's family leaves the rule out for that family.
  for (const list of [
    rule.source?.nets,
    rule.source?.notNets,
    rule.destination?.nets,
    rule.destination?.notNets,
  ]) {
    if (list?.length && !list.some((n) => tryParseCidr(n)?.family === f.src.family)) return false;
  }
  if (!sideMatches(model, rule.source, f.src, f.srcPort, f.protocol, ns)) return false;
  if (!sideMatches(model, rule.destination, f.dst, f.dstPort, f.protocol, ns)) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Kubernetes NetworkPolicy, with Kubernetes' semantics

function labelSelectorMatches(sel: LabelSelector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = typeof labels[e.key] === 'string';
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(value!)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(value!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

function k8sTypes(spec: K8sNetworkPolicySpec): Direction[] {
  const listed = spec.policyTypes ?? [];
  if (listed.length === 0) return spec.egress?.length ? ['ingress', 'egress'] : ['ingress'];
  return listed.map((t) => (t === 'Ingress' ? 'ingress' : 'egress'));
}

function isPod(e: RefEndpoint): boolean {
  return e.kind === 'workload' && e.orchestrator === 'k8s';
}

function k8sPeerMatches(
  model: ReferenceModel,
  peer: K8sNetworkPolicyPeer,
  ip: IPAddress,
  policyNs: string,
): boolean {
  if (peer.ipBlock) {
    if (!contains(peer.ipBlock.cidr, ip)) return false;
    return !(peer.ipBlock.except ?? []).some((x) => contains(x, ip));
  }
  return model.endpointsAt(ip).some((pod) => {
    if (!isPod(pod)) return false;
    if (peer.namespaceSelector) {
      if (!labelSelectorMatches(peer.namespaceSelector, namespaceLabels(model, pod.namespace!)))
        return false;
    } else if (pod.namespace !== policyNs) {
      return false;
    }
    return !peer.podSelector || labelSelectorMatches(peer.podSelector, pod.labels);
  });
}

function k8sPortMatches(
  model: ReferenceModel,
  p: K8sNetworkPolicyPort,
  f: Flow,
  podIP: IPAddress,
): boolean {
  const protocol = protocolNumber(p.protocol ?? 'TCP');
  if (protocol !== f.protocol) return false;
  if (p.port === undefined) return true;
  if (f.dstPort === undefined) return false;
  if (typeof p.port === 'number') {
    return f.dstPort >= p.port && f.dstPort <= (p.endPort ?? p.port);
  }
  if (/^\d+$/.test(p.port)) return f.dstPort === Number(p.port);
  // Named: the destination pod's port of that name.
  return model
    .endpointsAt(podIP)
    .some((pod) =>
      pod.ports.some((x) => x.name === p.port && x.protocol === protocol && x.port === f.dstPort),
    );
}

/** The index of the Kubernetes rule that allows the flow, if any. */
function k8sAllows(
  model: ReferenceModel,
  policy: RefPolicy,
  direction: Direction,
  f: Flow,
): number | undefined {
  const spec = policy.k8s!;
  const list = direction === 'ingress' ? (spec.ingress ?? []) : (spec.egress ?? []);
  const remote = direction === 'ingress' ? f.src : f.dst;
  for (const [i, rule] of list.entries()) {
    const peers =
      direction === 'ingress'
        ? (rule as { from?: K8sNetworkPolicyPeer[] }).from
        : (rule as { to?: K8sNetworkPolicyPeer[] }).to;
    const peerOk =
      !peers?.length || peers.some((p) => k8sPeerMatches(model, p, remote, policy.namespace!));
    if (!peerOk) continue;
    const portOk =
      !rule.ports?.length || rule.ports.some((p) => k8sPortMatches(model, p, f, f.dst));
    if (portOk) return i;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Which policies apply, and in what order

function policyApplies(
  model: ReferenceModel,
  p: RefPolicy,
  e: RefEndpoint,
  direction: Direction,
): boolean {
  if (p.k8s) {
    if (!isPod(e) || e.namespace !== p.namespace) return false;
    if (!k8sTypes(p.k8s).includes(direction)) return false;
    return labelSelectorMatches(p.k8s.podSelector ?? {}, e.labels);
  }
  const spec = p.calico!;
  const listed = spec.types?.length
    ? spec.types
    : !spec.egress?.length
      ? ['Ingress']
      : !spec.ingress?.length
        ? ['Egress']
        : ['Ingress', 'Egress'];
  if (!listed.includes(direction === 'ingress' ? 'Ingress' : 'Egress')) return false;
  if (p.namespace !== undefined && e.namespace !== p.namespace) return false;
  if (p.kind === 'GlobalNetworkPolicy' && spec.namespaceSelector) {
    if (e.namespace === undefined) return false;
    if (!parseSelector(spec.namespaceSelector).matches(namespaceLabels(model, e.namespace)))
      return false;
  }
  if (!parseSelector(spec.selector ?? '').matches(endpointLabels(model, e))) return false;
  if (spec.serviceAccountSelector) {
    if (!e.serviceAccount) return false;
    if (!parseSelector(spec.serviceAccountSelector).matches(serviceAccountLabels(model, e)))
      return false;
  }
  return true;
}

function tierOrder(model: ReferenceModel, tier: string): number {
  return model.tiers.get(tier)?.order ?? FIXED_TIER_ORDERS[tier] ?? 1_000_000;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function tiersFor(
  model: ReferenceModel,
  e: RefEndpoint,
  direction: Direction,
  stage: EvalStage = 'normal',
): [string, RefPolicy[]][] {
  const byTier = new Map<string, RefPolicy[]>();
  for (const p of model.policies) {
    // Forwarded traffic through a host endpoint: its applyOnForward (normal) policies.
    const ofStage =
      stage === 'forward'
        ? p.stage === 'normal' && p.calico?.applyOnForward === true
        : p.stage === stage;
    if (!ofStage || !policyApplies(model, p, e, direction)) continue;
    const list = byTier.get(p.tier) ?? [];
    list.push(p);
    byTier.set(p.tier, list);
  }
  return [...byTier.entries()]
    .sort(([a], [b]) => tierOrder(model, a) - tierOrder(model, b) || cmp(a, b))
    .map(([t, list]) => [
      t,
      list.sort(
        (a, b) => (a.order ?? Infinity) - (b.order ?? Infinity) || cmp(a.sortName, b.sortName),
      ),
    ]);
}

function profileRules(
  model: ReferenceModel,
  name: string,
  direction: Direction,
): Rule[] | undefined {
  const stored = model.profiles.get(name);
  if (stored) return (direction === 'ingress' ? stored.ingress : stored.egress) ?? [];
  if (name.startsWith('kns.') && name.length > 4) return [{ action: 'Allow' }];
  return undefined;
}

type RuleOutcome = { kind: 'allow' | 'deny' | 'pass'; rule: number } | { kind: 'none' };

function evalRules(
  model: ReferenceModel,
  rules: readonly Rule[],
  f: Flow,
  ns: string | undefined,
  logged: LogHit[],
  tier: string | undefined,
  policy: string,
): RuleOutcome {
  for (const [i, rule] of rules.entries()) {
    let ok: boolean;
    try {
      ok = ruleMatches(model, rule, f, ns);
    } catch {
      ok = false;
    }
    if (!ok) continue;
    switch (rule.action) {
      case 'Allow':
        return { kind: 'allow', rule: i };
      case 'Deny':
        return { kind: 'deny', rule: i };
      case 'Pass':
        return { kind: 'pass', rule: i };
      case 'Log':
        logged.push({ tier, policy, rule: i });
        break;
    }
  }
  return { kind: 'none' };
}

/** One endpoint's policy in one direction. */
export function evaluateDirection(
  model: ReferenceModel,
  e: RefEndpoint,
  direction: Direction,
  f: Flow,
): DirectionVerdict {
  return evaluateStage(model, e, direction, f, 'normal')!;
}

/**
 * One stage of an endpoint's policy in one direction. The normal stage always
 * decides (tiers drop what none decided, then profiles, then drop); a host
 * endpoint's untracked and preDNAT stages decide only what a rule matched
 * (undefined: on to the next stage).
 */
function evaluateStage(
  model: ReferenceModel,
  e: RefEndpoint,
  direction: Direction,
  f: Flow,
  stage: EvalStage,
): DirectionVerdict | undefined {
  const logged: LogHit[] = [];
  const passedTiers: string[] = [];
  const result = (allowed: boolean, by: DecidedBy): DirectionVerdict => ({
    direction,
    endpoint: e.id,
    allowed,
    by,
    logged,
    passedTiers,
    ...(stage === 'normal' ? {} : { stage }),
  });
  const tiers = tiersFor(model, e, direction, stage);
  // Forwarded traffic is allowed where no applyOnForward policy applies to the direction.
  if (stage === 'forward' && tiers.length === 0) return undefined;
  for (const [tier, policies] of tiers) {
    let passed = false;
    for (const p of policies) {
      let outcome: RuleOutcome;
      if (p.k8s) {
        const i = k8sAllows(model, p, direction, f);
        outcome = i === undefined ? { kind: 'none' } : { kind: 'allow', rule: i };
      } else {
        const rules = (direction === 'ingress' ? p.calico!.ingress : p.calico!.egress) ?? [];
        outcome = evalRules(model, rules, f, p.namespace, logged, tier, p.name);
      }
      if (outcome.kind === 'allow' || outcome.kind === 'deny') {
        return result(outcome.kind === 'allow', {
          kind: 'rule',
          tier,
          policy: p.name,
          policyKind: p.kind,
          rule: outcome.rule,
          action: outcome.kind === 'allow' ? 'Allow' : 'Deny',
        });
      }
      if (outcome.kind === 'pass') {
        passed = true;
        break;
      }
    }
    const decidesAll = stage === 'normal' || stage === 'forward';
    if (decidesAll && !passed && model.tiers.get(tier)?.defaultAction !== 'Pass') {
      return result(false, { kind: 'end-of-tier', tier });
    }
    passedTiers.push(tier);
  }
  if (stage === 'forward') return result(false, { kind: 'no-profile-matched', profiles: [] });
  if (stage !== 'normal') return undefined;
  const tried: string[] = [];
  for (const name of e.profiles) {
    if (tried.includes(name)) continue;
    const rules = profileRules(model, name, direction);
    if (!rules) continue;
    tried.push(name);
    const outcome = evalRules(model, rules, f, undefined, logged, undefined, name);
    if (outcome.kind === 'allow' || outcome.kind === 'deny') {
      return result(outcome.kind === 'allow', {
        kind: 'rule',
        tier: undefined,
        policy: name,
        policyKind: 'Profile',
        rule: outcome.rule,
        action: outcome.kind === 'allow' ? 'Allow' : 'Deny',
      });
    }
  }
  return result(false, { kind: 'no-profile-matched', profiles: tried });
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, sctp: 132 };

/** Felix's failsafe ports, when FelixConfiguration does not set them. */
const FAILSAFE_IN = 'tcp:22 udp:68 tcp:179 tcp:2379 tcp:2380 tcp:5473 tcp:6443 tcp:6666 tcp:6667';
const FAILSAFE_OUT = 'udp:53 udp:67 tcp:179 tcp:2379 tcp:2380 tcp:5473 tcp:6443 tcp:6666 tcp:6667';

/** The failsafe port that lets the packet through a host endpoint, if any. */
function failsafeFor(
  model: ReferenceModel,
  hep: RefEndpoint,
  direction: Direction,
  f: Flow,
): { protocol: number; port: number } | undefined {
  const felix = model.felixFor(hep.node);
  const configured =
    direction === 'ingress' ? felix.failsafeInboundHostPorts : felix.failsafeOutboundHostPorts;
  const list =
    configured ??
    (direction === 'ingress' ? FAILSAFE_IN : FAILSAFE_OUT).split(' ').map((t) => {
      const [protocol, port] = t.split(':');
      return { protocol: protocol!, port: Number(port), net: undefined as string | undefined };
    });
  for (const item of list) {
    const protocol = PROTOCOLS[String(item.protocol).toLowerCase()] ?? Number(item.protocol);
    if (protocol !== f.protocol || item.port !== f.dstPort) continue;
    if (item.net) {
      const net = tryParseCidr(item.net);
      const peer = direction === 'ingress' ? f.src : f.dst;
      if (!net || !cidrContainsAddress(net, peer)) continue;
    }
    return { protocol, port: item.port };
  }
  return undefined;
}

/**
 * A host endpoint's policy for traffic to or from the host's own processes,
 * stage by stage (as the dataplane hooks it): failsafe ports pass; untracked
 * (doNotTrack) then, for ingress, preDNAT policy decide what their rules
 * match, an Allow skipping the later stages; then the normal policy.
 */
function hostSteps(
  model: ReferenceModel,
  hep: RefEndpoint,
  direction: Direction,
  f: Flow,
): DirectionVerdict[] {
  const failsafe = failsafeFor(model, hep, direction, f);
  if (failsafe) {
    return [
      {
        direction,
        endpoint: hep.id,
        allowed: true,
        by: { kind: 'failsafe', ...failsafe },
        logged: [],
        passedTiers: [],
      },
    ];
  }
  const stages: HostStage[] = direction === 'ingress' ? ['untracked', 'preDNAT'] : ['untracked'];
  for (const stage of stages) {
    const v = evaluateStage(model, hep, direction, f, stage);
    if (v) return [v];
  }
  return [evaluateDirection(model, hep, direction, f)];
}

export interface PacketOptions {
  /** The workload ("ns/name") that sends it, when it may not be the source address's owner. */
  from?: string;
  /**
   * The host interface a forwarded packet arrives by at the receiving
   * workload's host, and leaves by from the sending workload's: their host
   * endpoints' policy applies (applyOnForward, preDNAT, doNotTrack). Without
   * them only all-interfaces ("*") host endpoints are known to be crossed.
   */
  inInterface?: string;
  outInterface?: string;
}

/** The host endpoint a forwarded packet crosses on a host: the interface's own, else a "*" one. */
function crossedHostEndpoint(
  model: ReferenceModel,
  node: string,
  iface: string | undefined,
): RefEndpoint | undefined {
  const heps = model.endpoints.filter((e) => e.kind === 'host' && e.node === node);
  return (
    (iface !== undefined && heps.find((e) => e.iface === iface)) ||
    heps.find((e) => e.iface === '*')
  );
}

/**
 * A forwarded packet arriving through a host endpoint, as the dataplane's
 * stages see it: untracked then preDNAT policy decide what their rules match
 * (failsafe ports pass those stages; an untracked Allow skips the rest of the
 * host endpoint's policy), then its applyOnForward policy (allowed where
 * none applies). The workload's own policy follows in any case.
 */
function forwardedIngressSteps(
  model: ReferenceModel,
  hep: RefEndpoint,
  f: Flow,
): DirectionVerdict[] {
  const failsafe = failsafeFor(model, hep, 'ingress', f);
  const out: DirectionVerdict[] = [];
  for (const stage of ['untracked', 'preDNAT'] as const) {
    const v = failsafe ? undefined : evaluateStage(model, hep, 'ingress', f, stage);
    if (!v) continue;
    out.push(v);
    if (!v.allowed || stage === 'untracked') return out;
  }
  const v = evaluateStage(model, hep, 'ingress', f, 'forward');
  if (v) out.push(v);
  return out;
}

/** What the model says about a packet: every policy step on its way, and the verdict. */
export function evaluatePacket(
  model: ReferenceModel,
  pkt: Packet,
  opts: PacketOptions = {},
): Verdict {
  const src = tryParseIP(pkt.src);
  const dst = tryParseIP(pkt.dst);
  if (!src || !dst) throw new Error(`not an address: ${!src ? pkt.src : pkt.dst}`);
  let protocol = typeof pkt.protocol === 'number' ? pkt.protocol : PROTOCOLS[pkt.protocol];
  if (protocol === undefined) throw new Error(`unknown protocol ${String(pkt.protocol)}`);
  if (protocol === 1 && src.family === 6) protocol = 58;
  const f: Flow = {
    src,
    dst,
    protocol,
    srcPort: pkt.srcPort,
    dstPort: pkt.port,
    icmpType:
      pkt.icmpType ??
      (protocol === 1 || protocol === 58 ? (src.family === 4 ? 8 : 128) : undefined),
    icmpCode: pkt.icmpCode ?? (protocol === 1 || protocol === 58 ? 0 : undefined),
  };
  const steps: DirectionVerdict[] = [];
  const done = (): Verdict => {
    const denial = steps.find((s) => !s.allowed);
    return {
      allowed: denial === undefined,
      decisive: denial ?? steps[steps.length - 1],
      steps,
      src: pkt.src,
      dst: pkt.dst,
    };
  };
  const srcWorkloads = model.endpointsAt(src).filter((e) => e.kind === 'workload');
  const dstWorkloads = model.endpointsAt(dst).filter((e) => e.kind === 'workload');
  const sender = opts.from ? model.findWorkload(opts.from) : srcWorkloads[0];
  if (sender && opts.from) {
    const own =
      sender.ips.some((x) => sameIP(x, src)) ||
      sender.spoofable.some((c) => cidrContainsAddress(c, src));
    if (!own) {
      steps.push({
        direction: 'egress',
        endpoint: sender.id,
        allowed: false,
        by: { kind: 'spoofed', endpoint: sender.id },
        logged: [],
        passedTiers: [],
      });
      return done();
    }
  }
  const receiver = dstWorkloads[0];
  if (sender && receiver && sender.id === receiver.id) {
    steps.push({
      direction: 'egress',
      endpoint: sender.id,
      allowed: true,
      by: { kind: 'loopback' },
      logged: [],
      passedTiers: [],
    });
    return done();
  }
  const srcNode = model.nodeOfAddress(src);
  if (srcNode !== undefined && receiver && receiver.node === srcNode) {
    // The host reaches its own workloads without policy (Calico's choice).
    steps.push({
      direction: 'ingress',
      endpoint: receiver.id,
      allowed: true,
      by: { kind: 'loopback' },
      logged: [],
      passedTiers: [],
    });
    return done();
  }
  if (sender) {
    const egress = evaluateDirection(model, sender, 'egress', f);
    steps.push(egress);
    if (!egress.allowed) return done();
    const dstNode = model.nodeOfAddress(dst);
    if (dstNode !== undefined && dstNode === sender.node) {
      const action = (model.felixFor(sender.node).defaultEndpointToHostAction ?? 'Drop') as
        'Drop' | 'Accept' | 'Return';
      steps.push({
        direction: 'egress',
        endpoint: sender.id,
        allowed: action !== 'Drop',
        by: { kind: 'endpoint-to-host', action },
        logged: [],
        passedTiers: [],
      });
      return done();
    }
  }
  // A host endpoint (by its expectedIPs) that sends, or receives for the host's processes.
  const hostAt = (ip: IPAddress) => model.endpointsAt(ip).find((e) => e.kind === 'host');
  const srcHost = sender ? undefined : hostAt(src);
  if (srcHost) {
    steps.push(...hostSteps(model, srcHost, 'egress', f));
    if (!steps[steps.length - 1]!.allowed) return done();
  }
  const dstHost = receiver ? undefined : hostAt(dst);
  if (dstHost) {
    steps.push(...hostSteps(model, dstHost, 'ingress', f));
    return done();
  }
  // Forwarded: out of the sender's host, into the receiver's (their host endpoints' policy).
  const dstNode = model.nodeOfAddress(dst);
  if (sender && receiver?.node !== sender.node && dstNode !== sender.node) {
    const hep = crossedHostEndpoint(model, sender.node, opts.outInterface);
    const v = hep && evaluateStage(model, hep, 'egress', f, 'forward');
    if (v) {
      steps.push(v);
      if (!v.allowed) return done();
    }
  }
  if (receiver && sender?.node !== receiver.node && srcNode !== receiver.node) {
    const hep = crossedHostEndpoint(model, receiver.node, opts.inInterface);
    const decided = hep ? forwardedIngressSteps(model, hep, f) : [];
    steps.push(...decided);
    if (decided.some((v) => !v.allowed)) return done();
  }
  if (receiver) steps.push(evaluateDirection(model, receiver, 'ingress', f));
  if (steps.length === 0) {
    steps.push({
      direction: 'ingress',
      endpoint: '',
      allowed: true,
      by: { kind: 'no-endpoint' },
      logged: [],
      passedTiers: [],
    });
  }
  return done();
}

/** One line per step, for people. */
export function describeVerdict(v: Verdict): string[] {
  const lines = [`${v.allowed ? 'ALLOWED' : 'DENIED'}: ${v.src} -> ${v.dst}`];
  for (const s of v.steps) {
    const where = `${s.endpoint ? `${s.direction} of ${s.endpoint}` : s.direction}${s.stage ? ` (${s.stage})` : ''}`;
    lines.push(`  ${where}: ${s.allowed ? 'allow' : 'deny'} by ${describeBy(s.by)}`);
    for (const t of s.passedTiers) lines.push(`    tier ${t} passed`);
    for (const l of s.logged)
      lines.push(`    logged by ${l.tier ? `tier ${l.tier}, ` : ''}${l.policy} rule ${l.rule}`);
  }
  return lines;
}

export function describeBy(by: DecidedBy): string {
  switch (by.kind) {
    case 'rule':
      return by.policyKind === 'Profile'
        ? `profile ${by.policy} rule ${by.rule} (${by.action})`
        : `tier ${by.tier}, ${by.policyKind} ${by.policy} rule ${by.rule} (${by.action})`;
    case 'end-of-tier':
      return `the end of tier ${by.tier} (no policy in it allowed or passed the packet)`;
    case 'no-profile-matched':
      return by.profiles.length
        ? `no rule of profile${by.profiles.length > 1 ? 's' : ''} ${by.profiles.join(', ')} allowing it`
        : 'default deny: no policy applies and the endpoint has no profile';
    case 'endpoint-to-host':
      return `FelixConfiguration defaultEndpointToHostAction ${by.action}`;
    case 'failsafe':
      return `failsafe port ${by.protocol}/${by.port}`;
    case 'no-endpoint':
      return 'no Tortie endpoint on either side';
    case 'loopback':
      return 'local traffic (no policy applies)';
    case 'spoofed':
      return `anti-spoofing: ${by.endpoint} may not send from this address`;
  }
}
