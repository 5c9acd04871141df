// The policy model: every resource the policy calculation reads, decoded into
// entities (types.ts). It is the one place that knows datastore keys and
// resource shapes; everything downstream works on entities.
//
// A value that cannot be decoded is treated as absent (and reported), so a
// bad write never leaves half of an old value behind. Applying the same
// resources in any order gives the same model.

import { formatCidr, formatIP, tryParseCidr, tryParseIP } from '../../model/cidr.js';
import { protocolNumber } from '../../model/formats.js';
import {
  FELIXCONFIGURATION,
  GLOBALNETWORKPOLICY,
  GLOBALNETWORKSET,
  HOSTENDPOINT,
  K8S_NETWORKPOLICY,
  NETWORKPOLICY,
  NETWORKSET,
  NODE,
  PROFILE,
  TIER,
  WORKLOADENDPOINT,
  kindPrefix,
  type KindInfo,
} from '../../model/kinds.js';
import { DEFAULT_TIER, DEFAULT_TIER_ORDER, TIER_ORDERS } from '../../model/kinds/policy.js';
import type {
  FelixConfigurationSpec,
  GlobalNetworkPolicySpec,
  HostEndpointSpec,
  K8sNetworkPolicySpec,
  NetworkSetSpec,
  NodeSpec,
  ProfileSpec,
  Resource,
  Rule,
  TierSpec,
  WorkloadEndpointSpec,
} from '../../model/resource.js';
import { K8S_POLICY_ORDER, translateK8sPolicy } from './k8s.js';
import type {
  AddressedEntity,
  Direction,
  HostEndpointEntity,
  NamedPort,
  NetworkSetEntity,
  NodeEntity,
  PolicyEntity,
  PolicySettings,
  ProfileEntity,
  ProtoPort,
  TierEntity,
  WorkloadEntity,
} from './types.js';

/** The kinds the policy calculation reads, and so the keys the agent must watch for it. */
export const POLICY_KINDS: readonly KindInfo[] = [
  WORKLOADENDPOINT,
  HOSTENDPOINT,
  NETWORKPOLICY,
  GLOBALNETWORKPOLICY,
  K8S_NETWORKPOLICY,
  PROFILE,
  TIER,
  NETWORKSET,
  GLOBALNETWORKSET,
  FELIXCONFIGURATION,
  NODE,
];

export const POLICY_PREFIXES: readonly string[] = POLICY_KINDS.map((k) => kindPrefix(k));

export const NAMESPACE_PROFILE_PREFIX = 'kns.';
export const NAMESPACE_LABEL_PREFIX = 'pcns.';
export const LABEL_NAMESPACE = 'projectcalico.org/namespace';
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';
export const LABEL_SERVICE_ACCOUNT = 'projectcalico.org/serviceaccount';
/** Labels every namespace carries, whatever its profile says. */
export const NAMESPACE_NAME_LABELS = ['projectcalico.org/name', 'kubernetes.io/metadata.name'];

/** Felix's defaults. */
export const DEFAULT_FAILSAFE_INBOUND: readonly ProtoPort[] = [
  [6, 22],
  [17, 68],
  [6, 179],
  [6, 2379],
  [6, 2380],
  [6, 5473],
  [6, 6443],
  [6, 6666],
  [6, 6667],
].map(([protocol, port]) => ({ protocol: protocol!, port: port!, net: undefined }));
export const DEFAULT_FAILSAFE_OUTBOUND: readonly ProtoPort[] = [
  [17, 53],
  [17, 67],
  [6, 179],
  [6, 2379],
  [6, 2380],
  [6, 5473],
  [6, 6443],
  [6, 6666],
  [6, 6667],
].map(([protocol, port]) => ({ protocol: protocol!, port: port!, net: undefined }));

export type EntityKind =
  'workload' | 'host' | 'netset' | 'policy' | 'profile' | 'tier' | 'felix' | 'node';

/** What one update changed: the entity key, with its value before and after. */
export interface ModelChange {
  kind: EntityKind;
  key: string;
  changed: boolean;
}

class DecodeError extends Error {}

function fail(message: string): never {
  throw new DecodeError(message);
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) fail(`${field} is not a map`);
  const map = value as Record<string, unknown>;
  const out: Record<string, string> = {};
  const keys = Object.keys(map);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = map[k];
    if (typeof v !== 'string') fail(`${field}.${k} is not a string`);
    out[k] = v;
  }
  return out;
}

function addresses(
  texts: readonly string[] | undefined,
  field: string,
): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const text of texts ?? []) {
    // The usual case, already canonical: a workload's own /32.
    if (CANONICAL_V4_HOST.test(text)) {
      v4.push(text.endsWith('/32') ? text.slice(0, -3) : text);
      continue;
    }
    const cidr = tryParseCidr(text);
    const ip = cidr ? undefined : tryParseIP(text);
    if (!cidr && !ip) fail(`${field}: ${JSON.stringify(text)} is not an address`);
    const family = cidr ? cidr.family : ip!.family;
    const value = cidr ? formatIP({ family, value: cidr.network }) : formatIP(ip!);
    (family === 4 ? v4 : v6).push(value);
  }
  return { v4: tidy(v4), v6: tidy(v6) };
}

function tidy(list: string[]): string[] {
  return list.length > 1 ? [...new Set(list)].sort() : list;
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const CANONICAL_V4_HOST = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}(?:/32)?$`);

function cidrs(texts: readonly string[] | undefined, field: string): string[] {
  if (texts === undefined || texts === null || (Array.isArray(texts) && texts.length === 0)) {
    return [];
  }
  const out = (texts ?? []).map((text) => {
    const cidr = tryParseCidr(text);
    if (!cidr) fail(`${field}: ${JSON.stringify(text)} is not a CIDR`);
    return formatCidr(cidr);
  });
  return [...new Set(out)].sort();
}

function namedPorts(
  ports: readonly { name?: string; protocol: number | string; port: number }[] | undefined,
): NamedPort[] {
  const out: NamedPort[] = [];
  for (const p of ports ?? []) {
    const protocol = protocolNumber(p.protocol);
    if (!p.name || protocol === undefined || !Number.isInteger(p.port)) continue;
    out.push({ name: p.name, protocol, port: p.port });
  }
  return out;
}

function rules(value: unknown, field: string): Rule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(`${field} is not a list`);
  for (const [i, r] of value.entries()) {
    if (typeof r !== 'object' || r === null || typeof (r as Rule).action !== 'string') {
      fail(`${field}[${i}] has no action`);
    }
  }
  return value as Rule[];
}

function types(spec: GlobalNetworkPolicySpec): Direction[] {
  const listed = spec.types?.length
    ? spec.types
    : !spec.egress?.length
      ? ['Ingress']
      : !spec.ingress?.length
        ? ['Egress']
        : ['Ingress', 'Egress'];
  const out: Direction[] = [];
  if (listed.includes('Ingress')) out.push('ingress');
  if (listed.includes('Egress')) out.push('egress');
  return out;
}

function protoPorts(list: unknown, fallback: readonly ProtoPort[]): ProtoPort[] {
  if (!Array.isArray(list)) return [...fallback];
  const out: ProtoPort[] = [];
  for (const item of list as { protocol?: string; port?: number; net?: string }[]) {
    const protocol = protocolNumber((item.protocol ?? 'tcp').toUpperCase());
    if (protocol === undefined || typeof item.port !== 'number') continue;
    const net = item.net ? tryParseCidr(item.net) : undefined;
    out.push({ protocol, port: item.port, net: net ? formatCidr(net) : undefined });
  }
  return out;
}

/** The resource kinds by key prefix, longest first so nested prefixes never shadow. */
const PREFIXES: { prefix: string; info: KindInfo }[] = POLICY_KINDS.map((info) => ({
  prefix: kindPrefix(info),
  info,
})).sort((a, b) => b.prefix.length - a.prefix.length);

/** The kind, namespace and name a datastore key names, if it is one the policy model reads. */
export function classifyPolicyKey(
  key: string,
): { info: KindInfo; namespace: string | undefined; name: string } | undefined {
  for (const { prefix, info } of PREFIXES) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length).split('/');
    if (info.namespaced) {
      if (rest.length !== 2 || !rest[0] || !rest[1]) return undefined;
      return { info, namespace: rest[0], name: rest[1] };
    }
    if (rest.length !== 1 || !rest[0]) return undefined;
    return { info, namespace: undefined, name: rest[0] };
  }
  return undefined;
}

export class PolicyModel {
  readonly workloads = new Map<string, WorkloadEntity>();
  readonly hostEndpoints = new Map<string, HostEndpointEntity>();
  readonly networkSets = new Map<string, NetworkSetEntity>();
  readonly policies = new Map<string, PolicyEntity>();
  /** Stored profiles only; see profile() for the implicit namespace ones. */
  readonly profiles = new Map<string, ProfileEntity>();
  readonly tiers = new Map<string, TierEntity>();
  readonly felix = new Map<string, FelixConfigurationSpec>();
  readonly nodes = new Map<string, NodeEntity>();
  /** Keys whose value could not be decoded, with the reason. */
  readonly invalid = new Map<string, string>();
  /** namespaceLabels() results, dropped whenever a profile changes. */
  private readonly namespaceCache = new Map<string, Record<string, string>>();
  private readonly prefixedCache = new Map<string, Record<string, string>>();
  /** Workloads, host endpoints and network sets with an IPv6 address ("kind/key"). */
  private readonly ipv6Users = new Set<string>();

  /** The namespace's labels (see the function of the same name), cached. */
  namespaceLabels(namespace: string): Record<string, string> {
    let labels = this.namespaceCache.get(namespace);
    if (!labels) this.namespaceCache.set(namespace, (labels = namespaceLabels(this, namespace)));
    return labels;
  }

  /** The namespace's labels as its endpoints carry them (`pcns.<key>`), cached. */
  prefixedNamespaceLabels(namespace: string): Record<string, string> {
    let labels = this.prefixedCache.get(namespace);
    if (!labels) {
      labels = {};
      const plain = this.namespaceLabels(namespace);
      for (const k in plain) labels[`${NAMESPACE_LABEL_PREFIX}${k}`] = plain[k]!;
      this.prefixedCache.set(namespace, labels);
    }
    return labels;
  }

  /** A datastore update; value undefined means deleted. */
  applyKv(key: string, value: string | undefined): ModelChange | undefined {
    const c = classifyPolicyKey(key);
    if (!c) return undefined;
    if (value === undefined) return this.set(c.info, c.namespace, c.name, undefined, key);
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return this.set(c.info, c.namespace, c.name, undefined, key, 'value is not a JSON object');
    }
    return this.set(c.info, c.namespace, c.name, parsed as Resource, key);
  }

  /** A resource object (as `tortie apply` stores it); deleted: remove it. */
  applyResource(resource: Resource, deleted = false): ModelChange | undefined {
    const info = POLICY_KINDS.find(
      (k) => k.kind === resource.kind && k.apiVersion === resource.apiVersion,
    );
    if (!info) return undefined;
    const namespace = info.namespaced ? (resource.metadata.namespace ?? 'default') : undefined;
    const key = info.namespaced
      ? `${kindPrefix(info)}${namespace}/${resource.metadata.name}`
      : `${kindPrefix(info)}${resource.metadata.name}`;
    return this.set(info, namespace, resource.metadata.name, deleted ? undefined : resource, key);
  }

  private set(
    info: KindInfo,
    namespace: string | undefined,
    name: string,
    resource: Resource | undefined,
    key: string,
    invalidReason?: string,
  ): ModelChange {
    let decoded: unknown;
    if (invalidReason) {
      this.invalid.set(key, invalidReason);
    } else if (resource) {
      try {
        decoded = decode(info, namespace, name, resource);
        if (this.invalid.size !== 0) this.invalid.delete(key);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        this.invalid.set(key, err.message);
      }
    } else if (this.invalid.size !== 0) {
      this.invalid.delete(key);
    }
    const put = <V>(map: Map<string, V>, k: string, v: V | undefined, kind: EntityKind) => {
      const before = map.get(k);
      if (v === undefined) map.delete(k);
      else map.set(k, v);
      if (kind === 'workload' || kind === 'host' || kind === 'netset') {
        const id = `${kind}/${k}`;
        if (v !== undefined && usesIPv6(v as AddressedEntity)) this.ipv6Users.add(id);
        else this.ipv6Users.delete(id);
      }
      const changed =
        before === undefined || v === undefined
          ? before !== v
          : JSON.stringify(before) !== JSON.stringify(v);
      return { kind, key: k, changed };
    };
    switch (info) {
      case WORKLOADENDPOINT:
        return put(this.workloads, `${namespace}/${name}`, decoded as WorkloadEntity, 'workload');
      case HOSTENDPOINT:
        return put(this.hostEndpoints, name, decoded as HostEndpointEntity, 'host');
      case NETWORKSET:
        return put(this.networkSets, `${namespace}/${name}`, decoded as NetworkSetEntity, 'netset');
      case GLOBALNETWORKSET:
        return put(this.networkSets, name, decoded as NetworkSetEntity, 'netset');
      case NETWORKPOLICY:
        return put(this.policies, `np/${namespace}/${name}`, decoded as PolicyEntity, 'policy');
      case GLOBALNETWORKPOLICY:
        return put(this.policies, `gnp/${name}`, decoded as PolicyEntity, 'policy');
      case K8S_NETWORKPOLICY:
        return put(this.policies, `knp/${namespace}/${name}`, decoded as PolicyEntity, 'policy');
      case PROFILE:
        this.namespaceCache.clear();
        this.prefixedCache.clear();
        return put(this.profiles, name, decoded as ProfileEntity, 'profile');
      case TIER:
        return put(this.tiers, name, decoded as TierEntity, 'tier');
      case FELIXCONFIGURATION:
        return put(this.felix, name, decoded as FelixConfigurationSpec, 'felix');
      case NODE:
        return put(this.nodes, name, decoded as NodeEntity, 'node');
      default:
        return { kind: 'felix', key, changed: false };
    }
  }

  /** A profile by name: the stored one, or the implicit one of a namespace. */
  profile(name: string): ProfileEntity | undefined {
    const stored = this.profiles.get(name);
    if (stored) return stored;
    if (
      name.startsWith(NAMESPACE_PROFILE_PREFIX) &&
      name.length > NAMESPACE_PROFILE_PREFIX.length
    ) {
      return {
        name,
        ingress: [{ action: 'Allow' }],
        egress: [{ action: 'Allow' }],
        labelsToApply: {},
        implicit: true,
      };
    }
    return undefined;
  }

  tier(name: string): TierEntity {
    return (
      this.tiers.get(name) ?? {
        name,
        order: TIER_ORDERS[name] ?? DEFAULT_TIER_ORDER,
        defaultAction: 'Deny',
      }
    );
  }

  /** FelixConfiguration "default" merged with "node.<node>". */
  settings(node: string | undefined): PolicySettings {
    const spec: FelixConfigurationSpec = {
      ...(this.felix.get('default') ?? {}),
      ...(node ? (this.felix.get(`node.${node}`) ?? {}) : {}),
    };
    const deny = spec.nftablesFilterDenyAction ?? spec.iptablesFilterDenyAction;
    // IPv6 rules and sets exist when asked for, or when anything has an IPv6 address.
    const ipv6 = spec.ipv6Support ?? this.ipv6Users.size > 0;
    return {
      defaultEndpointToHostAction: spec.defaultEndpointToHostAction ?? 'Drop',
      failsafeInbound: protoPorts(spec.failsafeInboundHostPorts, DEFAULT_FAILSAFE_INBOUND),
      failsafeOutbound: protoPorts(spec.failsafeOutboundHostPorts, DEFAULT_FAILSAFE_OUTBOUND),
      denyAction: deny === 'Reject' ? 'Reject' : 'Drop',
      ipv6,
    };
  }
}

function decode(
  info: KindInfo,
  namespace: string | undefined,
  name: string,
  resource: Resource,
): unknown {
  const spec = (resource.spec ?? {}) as Record<string, unknown>;
  const labels = stringMap(resource.metadata?.labels, 'metadata.labels');
  switch (info) {
    case WORKLOADENDPOINT: {
      const s = spec as WorkloadEndpointSpec;
      if (typeof s.node !== 'string' || !s.node) fail('spec.node is missing');
      if (typeof s.interfaceName !== 'string' || !s.interfaceName) {
        fail('spec.interfaceName is missing');
      }
      const addrs = addresses(s.ipNetworks, 'spec.ipNetworks');
      return {
        kind: 'workload',
        key: `${namespace}/${name}`,
        namespace: namespace!,
        name,
        node: s.node,
        iface: s.interfaceName,
        ipv4: addrs.v4,
        ipv6: addrs.v6,
        labels,
        profiles: [...(s.profiles ?? [])],
        ports: namedPorts(s.ports),
        allowSpoofedSourcePrefixes: cidrs(
          s.allowSpoofedSourcePrefixes,
          'spec.allowSpoofedSourcePrefixes',
        ),
        orchestrator: s.orchestrator || labels[LABEL_ORCHESTRATOR] || undefined,
        serviceAccount: s.serviceAccountName || undefined,
      } satisfies WorkloadEntity;
    }
    case HOSTENDPOINT: {
      const s = spec as HostEndpointSpec;
      if (typeof s.node !== 'string' || !s.node) fail('spec.node is missing');
      const addrs = addresses(s.expectedIPs, 'spec.expectedIPs');
      return {
        kind: 'host',
        key: name,
        name,
        node: s.node,
        iface: s.interfaceName || undefined,
        ipv4: addrs.v4,
        ipv6: addrs.v6,
        labels,
        profiles: [...(s.profiles ?? [])],
        ports: namedPorts(s.ports),
      } satisfies HostEndpointEntity;
    }
    case NETWORKSET:
    case GLOBALNETWORKSET:
      return {
        kind: 'netset',
        key: namespace ? `${namespace}/${name}` : name,
        name,
        namespace,
        labels,
        nets: cidrs((spec as NetworkSetSpec).nets, 'spec.nets'),
      } satisfies NetworkSetEntity;
    case NETWORKPOLICY:
    case GLOBALNETWORKPOLICY: {
      const s = spec as GlobalNetworkPolicySpec;
      const global = info === GLOBALNETWORKPOLICY;
      return {
        id: global ? `gnp/${name}` : `np/${namespace}/${name}`,
        kind: global ? 'GlobalNetworkPolicy' : 'NetworkPolicy',
        name: global ? name : `${namespace}/${name}`,
        namespace: global ? undefined : namespace,
        tier: s.tier || DEFAULT_TIER,
        order: typeof s.order === 'number' ? s.order : undefined,
        selector: s.selector ?? '',
        namespaceSelector: global && s.namespaceSelector ? s.namespaceSelector : undefined,
        types: types(s),
        ingress: rules(s.ingress, 'spec.ingress'),
        egress: rules(s.egress, 'spec.egress'),
        stage: s.doNotTrack ? 'untracked' : s.preDNAT ? 'preDNAT' : 'normal',
        applyOnForward: s.applyOnForward === true || s.doNotTrack === true || s.preDNAT === true,
      } satisfies PolicyEntity;
    }
    case K8S_NETWORKPOLICY: {
      const t = translateK8sPolicy(name, spec as K8sNetworkPolicySpec);
      return {
        id: `knp/${namespace}/${name}`,
        kind: 'KubernetesNetworkPolicy',
        name: `${namespace}/${t.name}`,
        namespace,
        tier: DEFAULT_TIER,
        order: K8S_POLICY_ORDER,
        selector: t.selector,
        namespaceSelector: undefined,
        types: t.types.map((x) => (x === 'Ingress' ? 'ingress' : 'egress')),
        ingress: t.ingress,
        egress: t.egress,
        stage: 'normal',
        applyOnForward: false,
      } satisfies PolicyEntity;
    }
    case PROFILE: {
      const s = spec as ProfileSpec;
      return {
        name,
        ingress: rules(s.ingress, 'spec.ingress'),
        egress: rules(s.egress, 'spec.egress'),
        labelsToApply: stringMap(s.labelsToApply, 'spec.labelsToApply'),
        implicit: false,
      } satisfies ProfileEntity;
    }
    case TIER: {
      const s = spec as TierSpec;
      return {
        name,
        order: typeof s.order === 'number' ? s.order : (TIER_ORDERS[name] ?? DEFAULT_TIER_ORDER),
        defaultAction: s.defaultAction === 'Pass' ? 'Pass' : 'Deny',
      } satisfies TierEntity;
    }
    case FELIXCONFIGURATION:
      return { ...(spec as FelixConfigurationSpec) };
    case NODE: {
      const s = spec as NodeSpec;
      const texts = [
        s.bgp?.ipv4Address,
        s.bgp?.ipv6Address,
        ...(s.addresses ?? []).map((a) => a.address),
      ];
      const out = new Set<string>();
      for (const t of texts) {
        if (!t) continue;
        const c = tryParseCidr(t);
        const ip = c ? formatIP({ family: c.family, value: c.network }) : undefined;
        // An address with a prefix: keep the address itself, not the network.
        const bare = tryParseIP(t.split('/')[0] ?? '');
        if (bare) out.add(formatIP(bare));
        else if (ip) out.add(ip);
      }
      return { name, addresses: [...out].sort() } satisfies NodeEntity;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Labels as selectors see them (Calico's label inheritance)

/** The namespace's labels for namespaceSelector, from its `kns.<ns>` profile ("pcns." removed). */
export function namespaceLabels(model: PolicyModel, namespace: string): Record<string, string> {
  const out: Record<string, string> = {};
  const profile = model.profiles.get(`${NAMESPACE_PROFILE_PREFIX}${namespace}`);
  for (const [k, v] of Object.entries(profile?.labelsToApply ?? {})) {
    out[k.startsWith(NAMESPACE_LABEL_PREFIX) ? k.slice(NAMESPACE_LABEL_PREFIX.length) : k] = v;
  }
  for (const k of NAMESPACE_NAME_LABELS) out[k] = namespace;
  return out;
}

/**
 * The labels an entity's selectors are matched against: profile labels
 * (labelsToApply, in profile order), the entity's own on top, Calico's
 * namespace and orchestrator labels, and the namespace's labels under "pcns.".
 */
function usesIPv6(e: AddressedEntity): boolean {
  return e.kind === 'netset' ? e.nets.some((c) => c.includes(':')) : e.ipv6.length > 0;
}

export function effectiveLabels(
  model: PolicyModel,
  entity: WorkloadEntity | HostEndpointEntity | NetworkSetEntity,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (entity.kind !== 'netset') {
    for (const p of entity.profiles) Object.assign(out, model.profiles.get(p)?.labelsToApply);
  }
  Object.assign(out, entity.labels);
  const namespace = entity.kind === 'host' ? undefined : entity.namespace;
  if (namespace !== undefined) {
    out[LABEL_NAMESPACE] = namespace;
    Object.assign(out, model.prefixedNamespaceLabels(namespace));
  }
  if (entity.kind === 'workload') {
    if (entity.orchestrator) out[LABEL_ORCHESTRATOR] = entity.orchestrator;
    if (entity.serviceAccount) out[LABEL_SERVICE_ACCOUNT] = entity.serviceAccount;
  }
  return out;
}
