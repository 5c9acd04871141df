// The calculation graph: datastore updates in, the host's desired state out.
//
//   KvUpdate ──► decode (validation filter) ──► indexes ──┬─► L3 route resolver ──► routes
//                                                        ├─► VXLAN resolver ──────► vxlan, vteps, tunnelPools
//                                                        ├─► masquerade ──────────► masquerade sets
//                                                        ├─► endpoints ───────────► localEndpoints
//                                                        ├─► BGP peerings ────────► bgp (peers, prefixes)
//                                                        └─► problems (ipip, conflicts, bad values)
//
// Pure and synchronous: no I/O, no clock, no randomness. The indexes hold
// exactly the keys present, so the output depends only on the datastore's
// contents, not on the order the updates came in (the tests replay states in
// several orders to hold this). snapshot() is cheap enough to run after
// every batch of updates: it is linear in blocks, allocations and endpoints.

import { bgpDesired } from './bgp-peers.js';
import {
  decodeUpdate,
  type BgpConfigFact,
  type BgpPeerFact,
  type BlockFact,
  type EndpointFact,
  type FelixFact,
  type NodeFact,
  type PoolFact,
} from './decode.js';
import type { CalcIndex } from './index-state.js';
import { encapsulationProblems, resolveRoutes } from './l3-route-resolver.js';
import { masqueradeSets } from './masquerade.js';
import type {
  BgpMode,
  CalcConfig,
  CalcProblem,
  DesiredState,
  KvUpdate,
  LocalEndpoint,
} from './types.js';
import { remoteVteps, tunnelPools, vxlanProblems, vxlanSettings } from './vxlan-resolver.js';

function setOrDelete<V>(map: Map<string, V>, key: string, value: V | undefined): boolean {
  if (value === undefined) return map.delete(key);
  map.set(key, value);
  return true;
}

export class CalcGraph implements CalcIndex {
  readonly nodeName: string;
  readonly kernelHasIpip: boolean;
  readonly pools = new Map<string, PoolFact>();
  readonly nodes = new Map<string, NodeFact>();
  readonly localEndpoints = new Map<string, EndpointFact>();
  readonly blocks = new Map<string, BlockFact>();
  readonly felix = new Map<string, FelixFact>();
  readonly invalid = new Map<string, string>();
  readonly bgpMode: BgpMode;
  readonly bgpConfigs = new Map<string, BgpConfigFact>();
  readonly bgpPeers = new Map<string, BgpPeerFact>();
  private changed = true;

  constructor(config: CalcConfig) {
    this.nodeName = config.nodeName;
    this.kernelHasIpip = config.kernelHasIpip;
    this.bgpMode = config.bgp ?? 'auto';
  }

  /** Whether anything changed since the last snapshot(). */
  get dirty(): boolean {
    return this.changed;
  }

  onUpdates(updates: Iterable<KvUpdate>): void {
    for (const u of updates) this.onUpdate(u);
  }

  onUpdate({ key, value }: KvUpdate): void {
    const { decoded, error } = decodeUpdate(key, value);
    if (decoded.kind === 'ignored') return;
    this.changed = setOrDelete(this.invalid, key, error) || this.changed;
    switch (decoded.kind) {
      case 'pool':
        this.changed = setOrDelete(this.pools, decoded.name, decoded.fact) || this.changed;
        break;
      case 'node':
        this.changed = setOrDelete(this.nodes, decoded.name, decoded.fact) || this.changed;
        break;
      case 'endpoint': {
        const local = decoded.fact?.node === this.nodeName ? decoded.fact : undefined;
        this.changed = setOrDelete(this.localEndpoints, decoded.key, local) || this.changed;
        break;
      }
      case 'block':
        this.changed = setOrDelete(this.blocks, decoded.key, decoded.fact) || this.changed;
        break;
      case 'felix': {
        const relevant = decoded.name === 'default' || decoded.name === `node.${this.nodeName}`;
        if (relevant)
          this.changed = setOrDelete(this.felix, decoded.name, decoded.fact) || this.changed;
        break;
      }
      case 'bgpconfig':
        this.changed = setOrDelete(this.bgpConfigs, decoded.name, decoded.fact) || this.changed;
        break;
      case 'bgppeer':
        this.changed = setOrDelete(this.bgpPeers, decoded.name, decoded.fact) || this.changed;
        break;
    }
  }

  /** The desired state for everything seen so far. */
  snapshot(): DesiredState {
    this.changed = false;
    return computeDesiredState(this);
  }
}

function localEndpoints(index: CalcIndex): LocalEndpoint[] {
  return [...index.localEndpoints.values()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((e) => ({ key: e.key, iface: e.iface, ipv4: [...e.ipv4], ipv6: [...e.ipv6] }));
}

function addressConflicts(index: CalcIndex): CalcProblem[] {
  const mine = index.nodes.get(index.nodeName)?.ipv4?.address;
  if (!mine) return [];
  const others = [...index.nodes.values()]
    .filter((n) => n.name !== index.nodeName && n.ipv4?.address === mine)
    .map((n) => n.name)
    .sort();
  if (others.length === 0) return [];
  return [
    {
      kind: 'address-conflict',
      subject: index.nodeName,
      severity: 'error',
      message: `host address ${mine} is also claimed by Node ${others.join(', ')}: traffic for one of them goes to the other`,
    },
  ];
}

function invalidValues(index: CalcIndex): CalcProblem[] {
  return [...index.invalid].map(([key, reason]) => ({
    kind: 'invalid-resource' as const,
    subject: key,
    severity: 'warning' as const,
    message: `${key}: ${reason}; treated as absent`,
  }));
}

export function computeDesiredState(index: CalcIndex): DesiredState {
  const bgp = bgpDesired(index);
  const { routes, problems: routeProblems } = resolveRoutes(index, bgp.desired.enabled);
  const vxlan = vxlanSettings(index);
  const self = index.nodes.get(index.nodeName);
  const problems = [
    ...routeProblems,
    ...encapsulationProblems(index),
    ...vxlanProblems(index, vxlan),
    ...addressConflicts(index),
    ...invalidValues(index),
    ...bgp.problems,
  ].sort((a, b) =>
    a.kind < b.kind
      ? -1
      : a.kind > b.kind
        ? 1
        : a.subject < b.subject
          ? -1
          : a.subject > b.subject
            ? 1
            : 0,
  );
  return {
    node: index.nodeName,
    hostAddress: self?.ipv4 ? `${self.ipv4.address}/${self.ipv4.prefixLength}` : undefined,
    routes,
    localEndpoints: localEndpoints(index),
    vxlan,
    vteps: remoteVteps(index),
    masquerade: masqueradeSets(index),
    tunnelPools: tunnelPools(index),
    bgp: bgp.desired,
    problems,
  };
}
