// The `projectcalico.org/v3` resources users write, as TypeScript types.
//
// Field names are Calico's JSON names exactly, so a Calico manifest is a value
// of these types unchanged. Everything in a spec is optional here, as it is in
// Calico's Go structs (`omitempty`); which fields are required, and what their
// values may be, is the validator's business (validate.ts and kinds/*.ts), and
// what an absent field means is defaults.ts's.
//
// Specs are type aliases rather than interfaces so that they are assignable to
// Record<string, unknown>, Resource's default spec type: code holding a
// Resource can narrow it with `as Resource<IPPoolSpec>`.

export const CALICO_API_GROUP = 'projectcalico.org';
export const CALICO_API_VERSION = 'projectcalico.org/v3';
export const K8S_NETWORKING_API_GROUP = 'networking.k8s.io';
export const K8S_NETWORKING_API_VERSION = 'networking.k8s.io/v1';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generation?: number;
}

export interface Resource<Spec = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  /** Only Node, IPPool and the policy kinds carry one; it is never validated deeply. */
  status?: Record<string, unknown>;
}

/** A port number, a "min:max" range, or a named port. */
export type Port = number | string;
/** A protocol name (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite) or number 1-255. */
export type Protocol = number | string;
/** An AS number: 0-4294967295, or "a.b" dotted notation as a string. */
export type ASNumber = number | string;
/** A Go duration string: "90s", "1m30s", "250ms". */
export type Duration = string;

// ---------------------------------------------------------------------------
// IPAM

export type EncapsulationMode = 'Never' | 'Always' | 'CrossSubnet';
export type IPPoolAllowedUse = 'Workload' | 'Tunnel' | 'LoadBalancer';
export type AssignmentMode = 'Automatic' | 'Manual';

export type IPPoolSpec = {
  cidr: string;
  vxlanMode?: EncapsulationMode;
  ipipMode?: EncapsulationMode;
  natOutgoing?: boolean;
  disabled?: boolean;
  disableBGPExport?: boolean;
  blockSize?: number;
  nodeSelector?: string;
  namespaceSelector?: string;
  allowedUses?: IPPoolAllowedUse[];
  assignmentMode?: AssignmentMode;
};

export type IPReservationSpec = {
  reservedCIDRs?: string[];
};

export type IPAMConfigurationSpec = {
  strictAffinity?: boolean;
  /** 0 means unlimited. */
  maxBlocksPerHost?: number;
  autoAllocateBlocks?: boolean;
};

// ---------------------------------------------------------------------------
// Nodes and endpoints

export interface NodeBGPSpec {
  asNumber?: ASNumber;
  /** The node's IPv4 address with its subnet's prefix length, e.g. "10.0.0.5/24". */
  ipv4Address?: string;
  ipv6Address?: string;
  ipv4IPIPTunnelAddr?: string;
  routeReflectorClusterID?: string;
}

export type NodeAddressType = 'CalicoNodeIP' | 'InternalIP' | 'ExternalIP';

export interface NodeAddress {
  /** An address with the prefix length of its subnet, e.g. "10.0.0.5/24". */
  address: string;
  type?: NodeAddressType;
}

export interface OrchRef {
  nodeName?: string;
  orchestrator: string;
}

export interface NodeWireguardSpec {
  interfaceIPv4Address?: string;
  interfaceIPv6Address?: string;
}

export interface NodeInterface {
  name?: string;
  addresses?: string[];
}

export type NodeSpec = {
  bgp?: NodeBGPSpec;
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
  orchRefs?: OrchRef[];
  wireguard?: NodeWireguardSpec;
  addresses?: NodeAddress[];
  interfaces?: NodeInterface[];
};

export type NodeStatus = {
  wireguardPublicKey?: string;
  wireguardPublicKeyV6?: string;
  podCIDRs?: string[];
};

export interface WorkloadEndpointPort {
  name?: string;
  protocol: Protocol;
  port: number;
  hostPort?: number;
  hostIP?: string;
}

export interface IPNAT {
  internalIP: string;
  externalIP: string;
  source?: string;
}

export type WorkloadEndpointSpec = {
  orchestrator?: string;
  workload?: string;
  node?: string;
  containerID?: string;
  pod?: string;
  endpoint?: string;
  serviceAccountName?: string;
  /** Single addresses: /32 or /128. */
  ipNetworks?: string[];
  ipNATs?: IPNAT[];
  ipv4Gateway?: string;
  ipv6Gateway?: string;
  profiles?: string[];
  interfaceName: string;
  mac?: string;
  ports?: WorkloadEndpointPort[];
  allowSpoofedSourcePrefixes?: string[];
};

export interface EndpointPort {
  name: string;
  protocol: Protocol;
  port: number;
}

export type HostEndpointSpec = {
  node: string;
  /** An interface name, or "*" for all of the host's interfaces. */
  interfaceName?: string;
  expectedIPs?: string[];
  profiles?: string[];
  ports?: EndpointPort[];
};

// ---------------------------------------------------------------------------
// Policy

export type Action = 'Allow' | 'Deny' | 'Log' | 'Pass';
export type PolicyType = 'Ingress' | 'Egress';

export interface ICMPFields {
  type?: number;
  code?: number;
}

export interface ServiceMatch {
  name?: string;
  namespace?: string;
}

export interface ServiceAccountMatch {
  names?: string[];
  selector?: string;
}

export interface EntityRule {
  nets?: string[];
  selector?: string;
  namespaceSelector?: string;
  services?: ServiceMatch;
  ports?: Port[];
  notNets?: string[];
  notSelector?: string;
  notPorts?: Port[];
  serviceAccounts?: ServiceAccountMatch;
}

export interface HTTPPath {
  exact?: string;
  prefix?: string;
}

export interface HTTPMatch {
  methods?: string[];
  paths?: HTTPPath[];
}

export interface RuleMetadata {
  annotations?: Record<string, string>;
}

export interface Rule {
  action: Action;
  ipVersion?: 4 | 6;
  protocol?: Protocol;
  icmp?: ICMPFields;
  notProtocol?: Protocol;
  notICMP?: ICMPFields;
  source?: EntityRule;
  destination?: EntityRule;
  http?: HTTPMatch;
  metadata?: RuleMetadata;
}

export type PerformanceHint = 'AssumeNeededOnEveryNode';

export type NetworkPolicySpec = {
  tier?: string;
  order?: number;
  ingress?: Rule[];
  egress?: Rule[];
  selector?: string;
  types?: PolicyType[];
  serviceAccountSelector?: string;
  performanceHints?: PerformanceHint[];
};

export type GlobalNetworkPolicySpec = NetworkPolicySpec & {
  doNotTrack?: boolean;
  preDNAT?: boolean;
  applyOnForward?: boolean;
  namespaceSelector?: string;
};

export type ProfileSpec = {
  ingress?: Rule[];
  egress?: Rule[];
  labelsToApply?: Record<string, string>;
};

export type TierSpec = {
  order?: number;
  defaultAction?: 'Deny' | 'Pass';
};

export type NetworkSetSpec = {
  nets?: string[];
};

export type GlobalNetworkSetSpec = {
  nets?: string[];
};

// ---------------------------------------------------------------------------
// BGP

export interface SecretKeySelector {
  name?: string;
  key: string;
  optional?: boolean;
}

export interface BGPPassword {
  secretKeyRef?: SecretKeySelector;
}

export type BGPPeerSpec = {
  node?: string;
  nodeSelector?: string;
  /** An IP, optionally with a port: "192.0.2.1:179", "[2001:db8::1]:179". */
  peerIP?: string;
  asNumber?: ASNumber;
  localASNumber?: ASNumber;
  peerSelector?: string;
  localWorkloadSelector?: string;
  keepOriginalNextHop?: boolean;
  nextHopMode?: 'Auto' | 'Self' | 'Keep';
  password?: BGPPassword;
  sourceAddress?: 'UseNodeIP' | 'None';
  maxRestartTime?: Duration;
  keepaliveTime?: Duration;
  numAllowedLocalASNumbers?: number;
  ttlSecurity?: number;
  filters?: string[];
  reachableBy?: string;
};

export interface CIDRBlock {
  cidr: string;
}

export interface Community {
  name: string;
  /** "aa:nn" (standard) or "aa:nn:mm" (large). */
  value: string;
}

export interface PrefixAdvertisement {
  cidr: string;
  communities: string[];
}

export type LogSeverity = 'Trace' | 'Debug' | 'Info' | 'Warning' | 'Error' | 'Fatal';

export type BGPConfigurationSpec = {
  logSeverityScreen?: LogSeverity;
  nodeToNodeMeshEnabled?: boolean;
  asNumber?: ASNumber;
  serviceLoadBalancerIPs?: CIDRBlock[];
  serviceExternalIPs?: CIDRBlock[];
  serviceClusterIPs?: CIDRBlock[];
  communities?: Community[];
  prefixAdvertisements?: PrefixAdvertisement[];
  listenPort?: number;
  nodeMeshPassword?: BGPPassword;
  nodeMeshMaxRestartTime?: Duration;
  bindMode?: 'None' | 'NodeIP';
  ignoredInterfaces?: string[];
  localWorkloadPeeringIPV4?: string;
  localWorkloadPeeringIPV6?: string;
};

// ---------------------------------------------------------------------------
// Felix and cluster

export interface ProtoPort {
  protocol?: string;
  port: number;
  net?: string;
}

export interface HealthTimeoutOverride {
  name: string;
  timeout: Duration;
}

export interface RouteTableRange {
  min: number;
  max: number;
}

export interface BPFConntrackTimeouts {
  creationGracePeriod?: string;
  tcpSynSent?: string;
  tcpEstablished?: string;
  tcpFinsSeen?: string;
  tcpResetSeen?: string;
  udpTimeout?: string;
  genericTimeout?: string;
  icmpTimeout?: string;
}

/**
 * Felix's configuration. The fields the rest of Tortie reads are listed first;
 * the rest are accepted (and validated) so that Calico manifests apply, but
 * Tortie may ignore them.
 */
export interface FelixConfigurationSpec {
  vxlanEnabled?: boolean;
  vxlanVNI?: number;
  vxlanPort?: number;
  vxlanMTU?: number;
  vxlanMTUV6?: number;
  ipipEnabled?: boolean;
  ipipMTU?: number;
  defaultEndpointToHostAction?: 'Drop' | 'Accept' | 'Return';
  logSeverityScreen?: LogSeverity;
  logSeverityFile?: LogSeverity;
  logSeveritySys?: LogSeverity;
  routeRefreshInterval?: Duration;
  iptablesRefreshInterval?: Duration;
  ipsetsRefreshInterval?: Duration;
  nftablesRefreshInterval?: Duration;
  interfaceRefreshInterval?: Duration;
  reportingInterval?: Duration;
  reportingTTL?: Duration;
  healthEnabled?: boolean;
  healthHost?: string;
  healthPort?: number;
  prometheusMetricsEnabled?: boolean;
  prometheusMetricsHost?: string;
  prometheusMetricsPort?: number;
  failsafeInboundHostPorts?: ProtoPort[];
  failsafeOutboundHostPorts?: ProtoPort[];
  allowVXLANPacketsFromWorkloads?: boolean;
  allowIPIPPacketsFromWorkloads?: boolean;
  natOutgoingAddress?: string;
  natPortRange?: Port;
  natOutgoingExclusions?: 'IPPoolsOnly' | 'IPPoolsAndHostIPs';
  interfacePrefix?: string;
  interfaceExclude?: string;
  ipv6Support?: boolean;
  ipForwarding?: 'Enabled' | 'Disabled';
  iptablesFilterAllowAction?: 'Accept' | 'Return';
  iptablesMangleAllowAction?: 'Accept' | 'Return';
  iptablesFilterDenyAction?: 'Drop' | 'Reject';
  nftablesMode?: 'Disabled' | 'Enabled' | 'Auto';
  nftablesFilterAllowAction?: 'Accept' | 'Return';
  nftablesMangleAllowAction?: 'Accept' | 'Return';
  nftablesFilterDenyAction?: 'Drop' | 'Reject';
  nftablesMarkMask?: number;
  iptablesMarkMask?: number;
  routeSource?: 'WorkloadIPs' | 'CalicoIPAM';
  routeTableRanges?: RouteTableRange[];
  routeTableRange?: RouteTableRange;
  routeSyncDisabled?: boolean;
  removeExternalRoutes?: boolean;
  deviceRouteSourceAddress?: string;
  deviceRouteSourceAddressIPv6?: string;
  deviceRouteProtocol?: number;
  externalNodesList?: string[];
  wireguardEnabled?: boolean;
  wireguardEnabledV6?: boolean;
  wireguardListeningPort?: number;
  wireguardListeningPortV6?: number;
  wireguardMTU?: number;
  wireguardMTUV6?: number;
  wireguardInterfaceName?: string;
  wireguardInterfaceNameV6?: string;
  wireguardRoutingRulePriority?: number;
  wireguardHostEncryptionEnabled?: boolean;
  wireguardThreadingEnabled?: boolean;
  wireguardKeepAlive?: Duration;
  healthTimeoutOverrides?: HealthTimeoutOverride[];
  kubeNodePortRanges?: Port[];
  floatingIPs?: 'Enabled' | 'Disabled';
  bpfEnabled?: boolean;
  bpfConnectTimeLoadBalancing?: 'TCP' | 'Enabled' | 'Disabled';
  bpfHostNetworkedNATWithoutCTLB?: 'Enabled' | 'Disabled';
  bpfConntrackTimeouts?: BPFConntrackTimeouts;
  bpfLogFilters?: Record<string, string>;
  /** Every other Felix field, by Calico's name. */
  [field: string]: unknown;
}

export type ClusterInformationSpec = {
  clusterGUID?: string;
  clusterType?: string;
  calicoVersion?: string;
  datastoreReady?: boolean;
  variant?: string;
};

// ---------------------------------------------------------------------------
// Kubernetes networking.k8s.io/v1 NetworkPolicy, stored as its own kind.

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface K8sNetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface K8sNetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}

export interface K8sNetworkPolicyIngressRule {
  from?: K8sNetworkPolicyPeer[];
  ports?: K8sNetworkPolicyPort[];
}

export interface K8sNetworkPolicyEgressRule {
  to?: K8sNetworkPolicyPeer[];
  ports?: K8sNetworkPolicyPort[];
}

export type K8sNetworkPolicySpec = {
  podSelector?: LabelSelector;
  ingress?: K8sNetworkPolicyIngressRule[];
  egress?: K8sNetworkPolicyEgressRule[];
  policyTypes?: PolicyType[];
};
