// The BGP peering calculation: from Nodes, BGPConfigurations, BGPPeers,
// pools and IPAM blocks, what this host's speaker should run — its AS,
// router id and listener, whether it reflects routes, its peers (with type
// and passive flag), the prefixes it originates, and which learned prefixes
// the agent must not program. Pure, like the rest of the calculation: the
// result depends only on the indexes, never on the order updates came in.
//
//   BGP on?      node option on/off; auto: once BGPConfiguration "default" exists
//   our AS       Node spec.bgp.asNumber, else BGPConfiguration default asNumber, else 64512
//   mesh         nodeToNodeMeshEnabled (default true): every other Node with an
//                IPv4 address that is not a route reflector; none if we are one
//   BGPPeer      applies to us when spec.node names us, spec.nodeSelector
//                matches our labels, or neither is set (global); peers with
//                peerIP, or every other Node its peerSelector matches
//   one session  per address: node specific over global over mesh; then by
//                BGPPeer name
//   passive      towards a Node whose address is lexically greater than ours
//                (Calico's rule: `peerIP > nodeIP`), so each pair of Nodes
//                makes one connection and never collides
//   RR client    we have a routeReflectorClusterID, the peer is a Node of our
//                AS outside our cluster
//   type         "rr" when the peer is a route reflector of our AS and we are
//                not in its cluster; else mesh, node (spec.node or
//                nodeSelector) or global
//   originate    every block affine to us, and every /32 we use in a block
//                affine to another host (borrowed), except in pools with
//                disableBGPExport; IPv4
//   noProgram    CIDRs of encapsulated pools (VXLAN, IPIP): Felix's rule —
//                the calculation routes them, learned routes are not
//                programmed

import { compareCidr, formatCidr, parseCidr } from '../model/cidr.js';
import type { BgpPeerFact, NodeFact } from './decode.js';
import { emptyBgp } from './diff.js';
import { localNode, poolOf, type CalcIndex } from './index-state.js';
import { DEFAULT_BGP_ASN, type BgpDesired, type BgpPeerWanted, type CalcProblem } from './types.js';

export const DEFAULT_BGP_PORT = 179;

export interface BgpCalculation {
  desired: BgpDesired;
  problems: CalcProblem[];
}

/** Whether BGP runs on this host. */
export function bgpEnabled(index: CalcIndex): boolean {
  if (index.bgpMode === 'on') return true;
  if (index.bgpMode === 'off') return false;
  return index.bgpConfigs.has('default');
}

function byName<T extends { name: string }>(xs: Iterable<T>): T[] {
  return [...xs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function ipv4Number(address: string): number {
  return address.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** Which of two peerings of one address wins: node specific, then global, then mesh. */
const RANK = { mesh: 0, global: 1, node: 2 } as const;

export function bgpDesired(index: CalcIndex): BgpCalculation {
  if (!bgpEnabled(index)) return { desired: emptyBgp(), problems: [] };
  const problems: CalcProblem[] = [];
  const me = index.nodeName;
  const self = localNode(index);
  const global = index.bgpConfigs.get('default');
  const mine = index.bgpConfigs.get(`node.${me}`);
  const asnOf = (n: NodeFact | undefined) => n?.asNumber ?? global?.asNumber ?? DEFAULT_BGP_ASN;
  const portOf = (name: string) =>
    index.bgpConfigs.get(`node.${name}`)?.listenPort ?? global?.listenPort ?? DEFAULT_BGP_PORT;
  const asn = asnOf(self);
  const myIp = self?.ipv4?.address;
  const clusterId = self?.routeReflectorClusterId;
  const bind = mine?.bindMode ?? global?.bindMode ?? 'None';
  const desired: BgpDesired = {
    enabled: true,
    asn,
    routerId: myIp,
    listen: {
      host: bind === 'NodeIP' && myIp !== undefined ? myIp : '0.0.0.0',
      port: portOf(me),
    },
    clusterId,
    peers: [],
    originate: originated(index),
    noProgram: encapsulatedPools(index),
  };
  if (myIp === undefined) {
    problems.push({
      kind: 'bgp-no-address',
      subject: me,
      severity: 'error',
      message: `BGP is on but Node ${me} has no IPv4 address (spec.bgp.ipv4Address): no speaker runs, and other hosts get no routes to its workloads`,
    });
    return { desired, problems };
  }

  const chosen = new Map<string, { rank: number; peer: BgpPeerWanted }>();
  const offer = (rank: number, peer: BgpPeerWanted) => {
    if (peer.address === myIp) return;
    const have = chosen.get(peer.address);
    if (have === undefined || rank > have.rank) chosen.set(peer.address, { rank, peer });
  };

  const meshOn = global?.nodeToNodeMeshEnabled ?? true;
  if (meshOn && clusterId === undefined) {
    for (const n of byName(index.nodes.values())) {
      if (n.name === me || n.routeReflectorClusterId !== undefined || !n.ipv4) continue;
      offer(RANK.mesh, {
        address: n.ipv4.address,
        port: portOf(n.name),
        asn: asnOf(n),
        type: 'mesh',
        source: 'node-to-node mesh',
        node: n.name,
        passive: n.ipv4.address > myIp,
        routeReflectorClient: false,
        keepOriginalNextHop: false,
        nextHopSelf: false,
        useNodeIp: true,
        maxRestartSeconds: global?.meshMaxRestartSeconds,
        password: global?.meshPassword,
      });
    }
  }

  for (const peer of byName(index.bgpPeers.values())) {
    if (!appliesTo(peer, me, self?.labels ?? {})) continue;
    const scope: 'node' | 'global' =
      peer.node !== undefined || peer.nodeSelector !== undefined ? 'node' : 'global';
    if (peer.unsupported.length > 0) {
      problems.push({
        kind: 'bgp-unsupported',
        subject: `BGPPeer ${peer.name}`,
        severity: 'warning',
        message: `BGPPeer ${peer.name} sets ${peer.unsupported.join(', ')}, which Tortie does not implement: ignored, the peering is made without`,
      });
    }
    const common = {
      source: `BGPPeer ${peer.name}`,
      keepOriginalNextHop: peer.keepOriginalNextHop || peer.nextHopMode === 'Keep',
      nextHopSelf: peer.nextHopMode === 'Self',
      useNodeIp: peer.useNodeIp,
      maxRestartSeconds: peer.maxRestartSeconds,
      password: peer.password,
    };
    if (peer.peerIP !== undefined) {
      offer(RANK[scope], {
        ...common,
        address: peer.peerIP.address,
        port: peer.peerIP.port ?? DEFAULT_BGP_PORT,
        asn: peer.asNumber ?? asn,
        type: scope,
        node: undefined,
        passive: false,
        routeReflectorClient: false,
      });
      continue;
    }
    for (const n of byName(index.nodes.values())) {
      if (n.name === me || !peer.peerSelector!.matches(n.labels)) continue;
      if (!n.ipv4) {
        problems.push({
          kind: 'bgp-peer-unresolved',
          subject: `BGPPeer ${peer.name}/${n.name}`,
          severity: 'warning',
          message: `BGPPeer ${peer.name} selects Node ${n.name}, which has no IPv4 address: no session`,
        });
        continue;
      }
      const peerAsn = peer.asNumber ?? asnOf(n);
      const internal = peerAsn === asn;
      const theirCluster = n.routeReflectorClusterId;
      offer(RANK[scope], {
        ...common,
        address: n.ipv4.address,
        port: portOf(n.name),
        asn: peerAsn,
        type: internal && theirCluster !== undefined && theirCluster !== clusterId ? 'rr' : scope,
        node: n.name,
        passive: n.ipv4.address > myIp,
        routeReflectorClient: clusterId !== undefined && internal && theirCluster !== clusterId,
      });
    }
  }
  desired.peers = [...chosen.values()]
    .map((c) => c.peer)
    .sort((a, b) => ipv4Number(a.address) - ipv4Number(b.address) || a.port - b.port);
  return { desired, problems };
}

function appliesTo(peer: BgpPeerFact, me: string, labels: Record<string, string>): boolean {
  if (peer.node !== undefined) return peer.node === me;
  if (peer.nodeSelector !== undefined) return peer.nodeSelector.matches(labels);
  return true;
}

/** Our affine blocks and borrowed /32s, outside disableBGPExport pools. */
function originated(index: CalcIndex): string[] {
  const me = index.nodeName;
  const out = new Set<string>();
  for (const block of index.blocks.values()) {
    if (block.cidr.family !== 4) continue;
    const pool = poolOf(index, block.cidr);
    if (!pool || pool.disableBGPExport) continue;
    if (block.affinity === me) out.add(formatCidr(block.cidr));
    for (const a of block.allocations) {
      if (a.node === me && block.affinity !== me) out.add(`${a.address}/32`);
    }
  }
  return sortCidrs(out);
}

function encapsulatedPools(index: CalcIndex): string[] {
  const out = new Set<string>();
  for (const pool of index.pools.values()) {
    if (pool.vxlanMode !== 'Never' || pool.ipipMode !== 'Never') out.add(formatCidr(pool.cidr));
  }
  return sortCidrs(out);
}

function sortCidrs(xs: Iterable<string>): string[] {
  return [...xs].map(parseCidr).sort(compareCidr).map(formatCidr);
}
