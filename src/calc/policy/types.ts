// The policy calculation's vocabulary: the entities it reads from the
// datastore (decoded once, in model.ts), the compiled rule form (IR) that the
// dataplane renders, and the messages that carry changes to the dataplane.
//
// Everything here is plain data: JSON-serialisable, no classes, so that the
// calculation's output can be compared, logged and replayed.

import type { Rule } from '../../model/resource.js';

export type Direction = 'ingress' | 'egress';
export type Family = 4 | 6;

/** A named port of an endpoint (WorkloadEndpoint or HostEndpoint `ports`). */
export interface NamedPort {
  name: string;
  /** Protocol number (6, 17, 132, 136). */
  protocol: number;
  port: number;
}

/** A WorkloadEndpoint, cluster-wide (not only this host's). */
export interface WorkloadEntity {
  kind: 'workload';
  /** "namespace/name". */
  key: string;
  namespace: string;
  name: string;
  node: string;
  iface: string;
  /** Plain addresses, canonical text, sorted. */
  ipv4: string[];
  ipv6: string[];
  /** The endpoint's own labels, as stored. */
  labels: Record<string, string>;
  profiles: string[];
  ports: NamedPort[];
  /** Canonical CIDRs a workload may also send from. */
  allowSpoofedSourcePrefixes: string[];
  orchestrator: string | undefined;
  serviceAccount: string | undefined;
}

export interface HostEndpointEntity {
  kind: 'host';
  /** The HostEndpoint's name. */
  key: string;
  name: string;
  node: string;
  /** An interface name, "*" (all of the host's interfaces), or undefined. */
  iface: string | undefined;
  /** expectedIPs, canonical, sorted. */
  ipv4: string[];
  ipv6: string[];
  labels: Record<string, string>;
  profiles: string[];
  ports: NamedPort[];
}

/** A NetworkSet ("namespace/name") or GlobalNetworkSet ("name"). */
export interface NetworkSetEntity {
  kind: 'netset';
  key: string;
  name: string;
  namespace: string | undefined;
  labels: Record<string, string>;
  /** Canonical CIDRs, sorted. */
  nets: string[];
}

export type AddressedEntity = WorkloadEntity | HostEndpointEntity | NetworkSetEntity;

export type PolicyKind = 'NetworkPolicy' | 'GlobalNetworkPolicy' | 'KubernetesNetworkPolicy';

/**
 * A policy of any of the three kinds, in Calico's NetworkPolicy form (a
 * Kubernetes NetworkPolicy arrives already translated by k8s.ts).
 */
export interface PolicyEntity {
  /** Stable id: "np/<ns>/<name>", "gnp/<name>", "knp/<ns>/<name>". */
  id: string;
  kind: PolicyKind;
  /** As Calico names it: "<ns>/<name>", "<name>", "<ns>/knp.default.<name>". */
  name: string;
  namespace: string | undefined;
  tier: string;
  /** undefined sorts after every number ("infinite" in Calico's words). */
  order: number | undefined;
  selector: string;
  /** GlobalNetworkPolicy only. */
  namespaceSelector: string | undefined;
  types: Direction[];
  ingress: Rule[];
  egress: Rule[];
  /**
   * Where a host endpoint's policy applies (Calico's doNotTrack and preDNAT):
   * 'normal', 'preDNAT' (arriving traffic, before DNAT) or 'untracked' (raw,
   * without conntrack). Workload endpoints only have 'normal' policy.
   */
  stage: PolicyStage;
  /** Also to traffic forwarded through the host endpoint (always for the other stages). */
  applyOnForward: boolean;
}

export type PolicyStage = 'normal' | 'preDNAT' | 'untracked';

export interface ProfileEntity {
  name: string;
  ingress: Rule[];
  egress: Rule[];
  labelsToApply: Record<string, string>;
  /**
   * True for a `kns.<namespace>` profile that no stored Profile backs: Calico
   * derives one per Kubernetes namespace, allowing everything, and Tortie
   * does the same for every namespace an endpoint names.
   */
  implicit: boolean;
}

export interface TierEntity {
  name: string;
  order: number;
  defaultAction: 'Deny' | 'Pass';
}

export interface NodeEntity {
  name: string;
  /** The node's own addresses (BGP address, spec.addresses), no prefix. */
  addresses: string[];
}

export interface ProtoPort {
  /** 6 or 17 (or 132). */
  protocol: number;
  port: number;
  /** Canonical CIDR the port is open to/from; undefined: any. */
  net: string | undefined;
}

/** What the policy dataplane takes from FelixConfiguration (default merged with node.<name>). */
export interface PolicySettings {
  defaultEndpointToHostAction: 'Drop' | 'Accept' | 'Return';
  failsafeInbound: ProtoPort[];
  failsafeOutbound: ProtoPort[];
  denyAction: 'Drop' | 'Reject';
  /** Whether IPv6 sets and rule variants are rendered. */
  ipv6: boolean;
}

// ---------------------------------------------------------------------------
// The compiled form (IR)

export type IRAction = 'allow' | 'deny' | 'pass' | 'log';

export interface PortRange {
  min: number;
  max: number;
}

/** A reference to a selector's address sets. */
export interface SetRef {
  /** Selector set id, e.g. "s1a2b3c4d5". */
  id: string;
  /**
   * Whether the selector has CIDR members (network sets) and so an interval
   * set beside its address set. When this changes, the rules using the set
   * are recompiled.
   */
  nets4: boolean;
  nets6: boolean;
}

export interface IRMatch {
  /** Canonical CIDRs: any of them. */
  nets: string[];
  /** Canonical CIDRs: none of them. */
  notNets: string[];
  /** Members of this selector (address sets). */
  selector: SetRef | undefined;
  notSelector: SetRef | undefined;
  /** Numeric ports and ranges: any of them (or a named port below). */
  ports: PortRange[];
  /** Named-port set ids ("ip . proto . port" sets): any of them. */
  namedPorts: string[];
  notPorts: PortRange[];
  notNamedPorts: string[];
}

export interface IRRule {
  /** Index of the rule in the policy's (or profile's) ingress/egress list. */
  index: number;
  action: IRAction;
  ipVersion: Family | undefined;
  protocol: number | undefined;
  notProtocol: number | undefined;
  icmp: { type: number; code: number | undefined } | undefined;
  notIcmp: { type: number; code: number | undefined } | undefined;
  src: IRMatch;
  dst: IRMatch;
  /**
   * Set when the rule uses something Tortie does not enforce (http,
   * services, serviceAccounts): the rule then never matches, and this says why.
   */
  unsupported: string | undefined;
}

/** One policy's (or profile's) rules for one direction: one nftables chain. */
export interface RuleChain {
  /** "pi-…"/"po-…" (policy in/out), "ri-…"/"ro-…" (profile in/out); a valid nft chain name. */
  chain: string;
  /** The policy id or "pro/<profile>". */
  owner: string;
  /** Display name for counters and explain. */
  name: string;
  tier: string | undefined;
  direction: Direction;
  rules: IRRule[];
}

export interface TierPlan {
  tier: string;
  defaultAction: 'Deny' | 'Pass';
  /** Chain names of the tier's policies that apply, in order. */
  chains: string[];
  /** Policy ids, parallel to chains. */
  policies: string[];
}

/** What an endpoint does in one direction: tiers, then profiles. */
/**
 * What an endpoint chain is for: a workload's or host endpoint's policy
 * ('normal'), and for host endpoints the policy of traffic forwarded through
 * them (applyOnForward), before DNAT (preDNAT) and without conntrack
 * (doNotTrack). Normal and forward chains deny what no rule allowed; preDNAT
 * and untracked chains only decide what a rule matched, and let the rest on.
 */
export type ChainStage = 'normal' | 'forward' | 'preDNAT' | 'untracked';

export interface EndpointChainPlan {
  /** Content-addressed name: equal plans share one chain. */
  chain: string;
  direction: Direction;
  stage: ChainStage;
  tiers: TierPlan[];
  /** Profile chains, in the endpoint's order. */
  profiles: string[];
  profileNames: string[];
  /**
   * The chain's dispatch number, 1..MAX_CHAIN_MARK (unique among the chains
   * the dataplane holds; 0 when they are all taken): a workload's interface
   * maps to it, and it maps to the chain (see render.ts).
   */
  mark: number;
}

/** Dispatch numbers fit the 14 mark bits above the accept and pass bits. */
export const MAX_CHAIN_MARK = 0x3fff;

export interface LocalEndpointPlan {
  /** Workload "ns/name" or "hep/<name>". */
  key: string;
  kind: 'workload' | 'host';
  iface: string;
  /** The chain for traffic to the endpoint (its ingress policy). */
  ingress: string;
  /** The chain for traffic from the endpoint (its egress policy). */
  egress: string;
  /** Source addresses the endpoint may send from (workloads): "10.0.0.1/32", allowed prefixes. */
  sources4: string[];
  sources6: string[];
  /**
   * Host endpoints: the chains of the other stages (see ChainStage); absent
   * where no policy of that stage and direction selects the endpoint.
   */
  forwardIngress?: string;
  forwardEgress?: string;
  preDnatIngress?: string;
  untrackedIngress?: string;
  untrackedEgress?: string;
}

/** LocalEndpointPlan's chains of the other stages, with their stage and direction. */
export const STAGE_CHAINS = [
  ['forwardIngress', 'forward', 'ingress'],
  ['forwardEgress', 'forward', 'egress'],
  ['preDnatIngress', 'preDNAT', 'ingress'],
  ['untrackedIngress', 'untracked', 'ingress'],
  ['untrackedEgress', 'untracked', 'egress'],
] as const satisfies readonly (readonly [keyof LocalEndpointPlan, ChainStage, Direction])[];

export type SetKind = 'addr' | 'net' | 'port';

/** An nftables set the rules refer to. */
export interface SetSpec {
  /** nft set name: "<selector id>-a4", "-n4", "-a6", "-n6"; named ports "<id>-p4"/"-p6". */
  name: string;
  family: Family;
  kind: SetKind;
}

/** The whole desired policy state of one host (what a full render needs). */
export interface PolicyState {
  settings: PolicySettings;
  /** By set name; elements canonical (addresses, CIDRs, or "ip . proto . port"). */
  sets: Map<string, { spec: SetSpec; elements: Set<string> }>;
  /** By chain name. */
  ruleChains: Map<string, RuleChain>;
  /** By chain name. */
  endpointChains: Map<string, EndpointChainPlan>;
  /** By interface name. */
  endpoints: Map<string, LocalEndpointPlan>;
}

/**
 * One change to the policy dataplane. Applying the messages of a drain in
 * order to a dataplane that held the previous state leaves it holding the
 * calculation's current state.
 */
export type PolicyUpdate =
  | { type: 'settings'; settings: PolicySettings }
  | { type: 'set-create'; spec: SetSpec }
  | { type: 'set-delta'; name: string; add: string[]; remove: string[] }
  | { type: 'set-delete'; name: string }
  | { type: 'rule-chain'; chain: RuleChain }
  | { type: 'rule-chain-delete'; chain: string }
  | { type: 'endpoint-chain'; plan: EndpointChainPlan }
  | { type: 'endpoint-chain-delete'; chain: string }
  | { type: 'endpoint'; endpoint: LocalEndpointPlan }
  | { type: 'endpoint-delete'; iface: string; kind: 'workload' | 'host' };

// ---------------------------------------------------------------------------
// Verdicts (reference evaluator and explain)

export type Protocol = 'tcp' | 'udp' | 'icmp' | 'sctp';

export interface Packet {
  src: string;
  dst: string;
  protocol: Protocol | number;
  /** Destination port (tcp/udp/sctp). */
  port?: number;
  /** Source port; when absent, a source-port match never matches. */
  srcPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

export type DecidedBy =
  | {
      kind: 'rule';
      tier: string | undefined;
      /** Policy display name, or the profile's name. */
      policy: string;
      policyKind: PolicyKind | 'Profile';
      /** Rule index in the policy's list for the direction. */
      rule: number;
      action: 'Allow' | 'Deny';
    }
  | { kind: 'end-of-tier'; tier: string }
  | { kind: 'no-profile-matched'; profiles: string[] }
  | { kind: 'endpoint-to-host'; action: 'Drop' | 'Accept' | 'Return' }
  | { kind: 'failsafe'; protocol: number; port: number }
  | { kind: 'no-endpoint' }
  | { kind: 'loopback' }
  | { kind: 'spoofed'; endpoint: string };

export interface LogHit {
  tier: string | undefined;
  policy: string;
  rule: number;
}

export interface DirectionVerdict {
  direction: Direction;
  /** The endpoint whose policy applied: "ns/name" or "hep/<name>". */
  endpoint: string;
  allowed: boolean;
  by: DecidedBy;
  /** Log rules the packet passed on the way. */
  logged: LogHit[];
  /** Tiers that passed the packet on. */
  passedTiers: string[];
  /** A host endpoint's policy stage other than its normal one. */
  stage?: 'untracked' | 'preDNAT' | 'forward';
}

export interface Verdict {
  allowed: boolean;
  /** The step that decided: the first denial, else the last allowing step. */
  decisive: DirectionVerdict | undefined;
  steps: DirectionVerdict[];
  src: string;
  dst: string;
}
