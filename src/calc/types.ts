// What goes into the calculation and what comes out of it. Inputs are the
// datastore's key-value pairs as they change; the output is the host's whole
// desired state, sorted so that equal states compare equal.

/** One datastore change: `value` undefined means the key was deleted. */
export interface KvUpdate {
  key: string;
  value: string | undefined;
}

/** What the calculation knows about the host it runs for. Fixed for its lifetime. */
export interface CalcConfig {
  /** This host's Node name. */
  nodeName: string;
  /** Whether the kernel can make ipip devices (probed by the agent at start). */
  kernelHasIpip: boolean;
  /**
   * BGP (the node option): `on`, `off`, or `auto` (the default) — on once a
   * BGPConfiguration named "default" exists.
   */
  bgp?: BgpMode;
}

export type BgpMode = 'auto' | 'on' | 'off';

export type EncapsulationMode = 'Never' | 'Always' | 'CrossSubnet';

/**
 * Where a desired route sends traffic:
 * - `workload`: to a local workload's veth (`dst dev caliX scope link`)
 * - `blackhole`: a local affine block, so addresses not (yet) in use are dropped here
 * - `underlay`: to another host's address, no encapsulation (`dst via HOST`)
 * - `vxlan`: to another host's VTEP (`dst via TUNNEL dev vxlan.calico onlink`)
 * - `vxlan-direct`: a remote tunnel address outside its host's blocks (`dst dev vxlan.calico`)
 */
export type RouteTarget =
  | { kind: 'workload'; iface: string }
  | { kind: 'blackhole' }
  | { kind: 'underlay'; gateway: string; node: string }
  | { kind: 'vxlan'; gateway: string; node: string }
  | { kind: 'vxlan-direct'; node: string };

export interface DesiredRoute {
  /** Canonical CIDR, /32 included: "10.244.1.0/26", "10.244.1.7/32". */
  dst: string;
  target: RouteTarget;
  /** Why the route exists (for status and logs). */
  source: 'endpoint' | 'local-block' | 'remote-block' | 'borrowed' | 'tunnel';
}

export interface LocalEndpoint {
  /** "namespace/name" of the WorkloadEndpoint. */
  key: string;
  /** Host-side veth name. */
  iface: string;
  /** Plain IPv4 addresses (no prefix). */
  ipv4: string[];
  ipv6: string[];
}

/** A VXLAN tunnel endpoint: a host's tunnel address, VTEP MAC and underlay address. */
export interface Vtep {
  node: string;
  /** Underlay (parent device) address, no prefix. */
  hostAddress: string;
  tunnelAddress: string;
  mac: string;
}

export interface VxlanSettings {
  /** True when some pool uses VXLAN (Always or CrossSubnet). */
  enabled: boolean;
  vni: number;
  port: number;
  /** FelixConfiguration vxlanMTU; undefined: parent device MTU minus 50. */
  mtu: number | undefined;
  /** This host's own VTEP, once its Node carries a tunnel address and MAC. */
  local: Vtep | undefined;
}

export interface MasqueradeSets {
  /** Every pool's CIDR: destinations inside them are never masqueraded. */
  allPoolsV4: string[];
  /** CIDRs of natOutgoing pools: sources that are masqueraded when leaving all pools. */
  natPoolsV4: string[];
  allPoolsV6: string[];
  natPoolsV6: string[];
}

export type CalcProblemKind =
  /** A datastore value that could not be decoded; it is treated as absent. */
  | 'invalid-resource'
  /** An ipipMode pool on a kernel without ipip devices. */
  | 'ipip-unsupported'
  /** An ipipMode pool: Tortie does not do IPIP. */
  | 'ipip-not-implemented'
  /** A peer's blocks cannot be routed: different subnet and no encapsulation. */
  | 'no-route-to-peer'
  /** A peer or this host lacks what VXLAN needs (tunnel address, MAC, address). */
  | 'vtep-incomplete'
  /** A block whose pool is gone, or whose host has no Node. */
  | 'unroutable-block'
  /** Another Node claims this host's address. */
  | 'address-conflict'
  /** BGP is on but cannot run here (no IPv4 address on this host's Node). */
  | 'bgp-no-address'
  /** A BGPPeer field Tortie does not implement; the rest of the peering is made. */
  | 'bgp-unsupported'
  /** A BGPPeer's peerSelector matched a Node without an IPv4 address. */
  | 'bgp-peer-unresolved';

export interface CalcProblem {
  kind: CalcProblemKind;
  /** What it is about: a pool name, a node name, a key, a CIDR. */
  subject: string;
  message: string;
  /** Errors make the host unable to do what the datastore asks; warnings may resolve by themselves. */
  severity: 'error' | 'warning';
}

/** What this host should be running, computed from the datastore alone. */
export interface DesiredState {
  node: string;
  /** This host's underlay address with its prefix length ("172.31.1.11/24"), from its Node. */
  hostAddress: string | undefined;
  /** Sorted by dst; at most one per dst. IPv4 only. */
  routes: DesiredRoute[];
  /** Sorted by key. */
  localEndpoints: LocalEndpoint[];
  vxlan: VxlanSettings;
  /** Other hosts' VTEPs, sorted by node; empty when VXLAN is off. */
  vteps: Vtep[];
  masquerade: MasqueradeSets;
  /** VXLAN pools that select this host: it needs a tunnel address from one of them. */
  tunnelPools: string[];
  /** BGP: the speaker's settings, peers and originated prefixes. */
  bgp: BgpDesired;
  /** Sorted by kind, subject. */
  problems: CalcProblem[];
}

/** As `calicoctl node status` names them: node-to-node mesh, global, node specific, route reflector. */
export type BgpPeerType = 'mesh' | 'global' | 'node' | 'rr';

/** One BGP session this host should have. */
export interface BgpPeerWanted {
  /** IPv4 address of the peer. */
  address: string;
  port: number;
  asn: number;
  type: BgpPeerType;
  /** Where it comes from: "node-to-node mesh" or "BGPPeer <name>". */
  source: string;
  /** The peer's Node, when the peer is a Tortie host (mesh, peerSelector). */
  node: string | undefined;
  /** Wait for the peer to connect (Calico: the side whose peer has the lexically greater address). */
  passive: boolean;
  /** We reflect to it (we are a route reflector, it is a Node of the same AS outside our cluster). */
  routeReflectorClient: boolean;
  keepOriginalNextHop: boolean;
  nextHopSelf: boolean;
  /** Use this host's address as the session's source (BGPPeer sourceAddress UseNodeIP). */
  useNodeIp: boolean;
  /** Longest time we keep its routes while it restarts, seconds (maxRestartTime). */
  maxRestartSeconds: number | undefined;
  /** A TCP MD5 password is configured ("secret/key"). */
  password: string | undefined;
}

export interface BgpDesired {
  /** Whether this host runs BGP (the node option, else whether BGPConfiguration "default" exists). */
  enabled: boolean;
  /** Our AS: the Node's spec.bgp.asNumber, else BGPConfiguration's, else 64512. */
  asn: number;
  /** This host's IPv4 address: router id and "self" next hop. Undefined: BGP cannot run. */
  routerId: string | undefined;
  /** Where the speaker listens (bindMode NodeIP: the host address; else every address). */
  listen: { host: string; port: number };
  /** Set when this Node is a route reflector. */
  clusterId: string | undefined;
  /** Sorted by address; at most one per address. */
  peers: BgpPeerWanted[];
  /** Our prefixes: affine blocks and borrowed /32s, not of disableBGPExport pools. Sorted. */
  originate: string[];
  /** Learned routes inside these CIDRs are not programmed: their pools are encapsulated and the calculation routes them. */
  noProgram: string[];
}

/** Calico's default AS number. */
export const DEFAULT_BGP_ASN = 64512;

/** Felix's VXLAN defaults. */
export const DEFAULT_VXLAN_VNI = 4096;
export const DEFAULT_VXLAN_PORT = 4789;
