// Resource builders for policy tests: workloads, namespaces (kns profiles),
// policies of the three kinds, tiers, network sets.

import type {
  GlobalNetworkPolicySpec,
  GlobalNetworkSetSpec,
  HostEndpointSpec,
  K8sNetworkPolicySpec,
  NetworkPolicySpec,
  NetworkSetSpec,
  ProfileSpec,
  Resource,
  TierSpec,
  WorkloadEndpointPort,
  WorkloadEndpointSpec,
} from '../../../model/resource.js';
import type { PolicyUpdate, PolicyState, SetSpec } from '../types.js';

const V3 = 'projectcalico.org/v3';

export interface WorkloadFixture {
  namespace: string;
  name: string;
  node: string;
  iface: string;
  ip: string;
  /** An IPv6 address as well (dual stack). */
  ip6?: string;
  labels?: Record<string, string>;
  ports?: WorkloadEndpointPort[];
  profiles?: string[];
  allowSpoofedSourcePrefixes?: string[];
}

export function workload(w: WorkloadFixture): Resource<WorkloadEndpointSpec> {
  return {
    apiVersion: V3,
    kind: 'WorkloadEndpoint',
    metadata: {
      name: w.name,
      namespace: w.namespace,
      labels: {
        ...(w.labels ?? {}),
        'projectcalico.org/namespace': w.namespace,
        'projectcalico.org/orchestrator': 'k8s',
      },
    },
    spec: {
      orchestrator: 'k8s',
      node: w.node,
      pod: w.name,
      endpoint: 'eth0',
      interfaceName: w.iface,
      ipNetworks: [`${w.ip}/32`, ...(w.ip6 ? [`${w.ip6}/128`] : [])],
      profiles: w.profiles ?? [`kns.${w.namespace}`],
      ...(w.ports ? { ports: w.ports } : {}),
      ...(w.allowSpoofedSourcePrefixes
        ? { allowSpoofedSourcePrefixes: w.allowSpoofedSourcePrefixes }
        : {}),
    },
  };
}

/** A namespace's profile as Calico's Kubernetes mapping makes it: allow all, labels under pcns. */
export function namespaceProfile(
  namespace: string,
  labels: Record<string, string>,
): Resource<ProfileSpec> {
  const labelsToApply: Record<string, string> = {
    'pcns.projectcalico.org/name': namespace,
  };
  for (const [k, v] of Object.entries(labels)) labelsToApply[`pcns.${k}`] = v;
  return {
    apiVersion: V3,
    kind: 'Profile',
    metadata: { name: `kns.${namespace}` },
    spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply },
  };
}

export function profile(name: string, spec: ProfileSpec): Resource<ProfileSpec> {
  return { apiVersion: V3, kind: 'Profile', metadata: { name }, spec };
}

export function networkPolicy(
  namespace: string,
  name: string,
  spec: NetworkPolicySpec,
): Resource<NetworkPolicySpec> {
  return { apiVersion: V3, kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

export function globalPolicy(
  name: string,
  spec: GlobalNetworkPolicySpec,
): Resource<GlobalNetworkPolicySpec> {
  return { apiVersion: V3, kind: 'GlobalNetworkPolicy', metadata: { name }, spec };
}

/**
 * Host endpoint policy of every stage but the normal one (applyOnForward,
 * preDNAT, doNotTrack both ways) for the endpoints `selector` picks; `suffix`
 * tells one set's names from another's.
 */
export function hostStagePolicies(selector: string, suffix: string): Resource[] {
  return [
    globalPolicy(`fwd-${suffix}`, {
      selector,
      applyOnForward: true,
      ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }],
      egress: [{ action: 'Deny', protocol: 'UDP' }],
      types: ['Ingress', 'Egress'],
    }),
    globalPolicy(`pre-${suffix}`, {
      selector,
      preDNAT: true,
      applyOnForward: true,
      ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [81] } }],
      types: ['Ingress'],
    }),
    globalPolicy(`raw-${suffix}`, {
      selector,
      doNotTrack: true,
      applyOnForward: true,
      ingress: [{ action: 'Allow', protocol: 'UDP', destination: { ports: [4789] } }],
      egress: [{ action: 'Allow', protocol: 'UDP', destination: { ports: [4789] } }],
      types: ['Ingress', 'Egress'],
    }),
  ];
}

export function k8sPolicy(
  namespace: string,
  name: string,
  spec: K8sNetworkPolicySpec,
): Resource<K8sNetworkPolicySpec> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec,
  };
}

export function tier(name: string, spec: TierSpec): Resource<TierSpec> {
  return { apiVersion: V3, kind: 'Tier', metadata: { name }, spec };
}

export function networkSet(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  nets: string[],
): Resource<NetworkSetSpec> {
  return {
    apiVersion: V3,
    kind: 'NetworkSet',
    metadata: { name, namespace, labels },
    spec: { nets },
  };
}

export function globalNetworkSet(
  name: string,
  labels: Record<string, string>,
  nets: string[],
): Resource<GlobalNetworkSetSpec> {
  return { apiVersion: V3, kind: 'GlobalNetworkSet', metadata: { name, labels }, spec: { nets } };
}

export function hostEndpoint(
  name: string,
  spec: HostEndpointSpec,
  labels: Record<string, string> = {},
): Resource<HostEndpointSpec> {
  return { apiVersion: V3, kind: 'HostEndpoint', metadata: { name, labels }, spec };
}

export function felix(name: string, spec: Record<string, unknown>): Resource {
  return { apiVersion: V3, kind: 'FelixConfiguration', metadata: { name }, spec };
}

/**
 * A stand-in dataplane: applies PolicyUpdate messages to a PolicyState,
 * checking that each refers only to what exists (as nft would).
 */
export class StateDataplane {
  readonly state: PolicyState = {
    settings: {
      defaultEndpointToHostAction: 'Drop',
      failsafeInbound: [],
      failsafeOutbound: [],
      denyAction: 'Drop',
      ipv6: false,
    },
    sets: new Map(),
    ruleChains: new Map(),
    endpointChains: new Map(),
    endpoints: new Map(),
  };

  apply(msgs: PolicyUpdate[]): void {
    for (const m of msgs) this.applyOne(m);
  }

  private applyOne(m: PolicyUpdate): void {
    const s = this.state;
    switch (m.type) {
      case 'settings':
        s.settings = m.settings;
        break;
      case 'set-create':
        if (s.sets.has(m.spec.name)) throw new Error(`set ${m.spec.name} exists`);
        s.sets.set(m.spec.name, { spec: m.spec as SetSpec, elements: new Set() });
        break;
      case 'set-delta': {
        const set = s.sets.get(m.name);
        if (!set) throw new Error(`delta for missing set ${m.name}`);
        const els = set.elements;
        for (const e of m.remove) {
          if (!els.delete(e)) throw new Error(`set ${m.name}: removing absent ${e}`);
        }
        for (const e of m.add) {
          if (els.has(e)) throw new Error(`set ${m.name}: adding present ${e}`);
          els.add(e);
        }
        break;
      }
      case 'set-delete':
        if (!s.sets.delete(m.name)) throw new Error(`deleting missing set ${m.name}`);
        break;
      case 'rule-chain':
        s.ruleChains.set(m.chain.chain, m.chain);
        break;
      case 'rule-chain-delete':
        if (!s.ruleChains.delete(m.chain)) throw new Error(`deleting missing chain ${m.chain}`);
        break;
      case 'endpoint-chain':
        if (s.endpointChains.has(m.plan.chain))
          throw new Error(`endpoint chain ${m.plan.chain} exists`);
        s.endpointChains.set(m.plan.chain, m.plan);
        break;
      case 'endpoint-chain-delete':
        if (!s.endpointChains.delete(m.chain))
          throw new Error(`deleting missing endpoint chain ${m.chain}`);
        break;
      case 'endpoint':
        s.endpoints.set(m.endpoint.iface, m.endpoint);
        break;
      case 'endpoint-delete':
        if (!s.endpoints.delete(m.iface)) throw new Error(`deleting missing endpoint ${m.iface}`);
        break;
    }
  }
}

/**
 * A PolicyState as plain sorted JSON, for comparing states. `marks: false`
 * leaves out the endpoint chains' dispatch numbers, which depend on the
 * order chains came and went (after checking that they are distinct).
 */
export function stateJson(state: PolicyState, opts: { marks?: boolean } = {}): unknown {
  const sorted = <V>(m: Map<string, V>) =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const marks = [...state.endpointChains.values()].map((p) => p.mark);
  if (marks.some((m) => m < 1) || new Set(marks).size !== marks.length)
    throw new Error(`endpoint chain dispatch numbers not distinct and positive: ${marks}`);
  return {
    settings: state.settings,
    sets: sorted(state.sets).map(([k, v]) => [k, v.spec, [...v.elements].sort()]),
    ruleChains: sorted(state.ruleChains),
    endpointChains: sorted(state.endpointChains).map(([k, v]) =>
      opts.marks === false ? [k, { ...v, mark: 0 }] : [k, v],
    ),
    endpoints: sorted(state.endpoints),
  };
}
