// The L3 route resolver: which IPv4 routes this host needs, from IPAM blocks,
// pools, Nodes and its own workload endpoints.
//
//   local workload address      dst/32 dev caliX scope link
//   block affine to this host   blackhole dst (not for /32 blocks: it would
//                               race the CNI plugin's route for the workload)
//   block affine to peer P      by P's pool's encapsulation:
//     Never                       via P's address, if P is in this host's subnet
//     Always                      via P's tunnel address dev vxlan.calico onlink
//     CrossSubnet                 the first if P is in this host's subnet, else the second
//   address borrowed by peer Q  dst/32 as for a block of Q's (a borrowed tunnel
//   (allocation node != block)  address: dst/32 dev vxlan.calico, it is the VTEP)
//
// With BGP on, the unencapsulated case ("via P's address") is left to BGP:
// the peers advertise their blocks and borrowed /32s, and the agent
// programs what it learns. Encapsulated pools stay the calculation's.
//
// "In this host's subnet" uses the prefix length recorded on this host's Node
// (Tortie records the real one; Calico's /32 would make every peer remote).
// One route per destination: a local workload wins over anything else for
// the same /32, as in Felix.

import { cidrContainsAddress, compareCidr, formatCidr, parseCidr, parseIP } from '../model/cidr.js';
import type { NodeFact, PoolFact } from './decode.js';
import { localNode, poolOf, type CalcIndex } from './index-state.js';
import type { CalcProblem, DesiredRoute, RouteTarget } from './types.js';
import { vtepOf } from './vxlan-resolver.js';

export interface RouteResolution {
  routes: DesiredRoute[];
  problems: CalcProblem[];
}

function sameSubnet(self: NodeFact | undefined, peer: NodeFact): boolean {
  if (!self?.ipv4 || !peer.ipv4) return false;
  const subnet = parseCidr(`${self.ipv4.address}/${self.ipv4.prefixLength}`);
  return cidrContainsAddress(subnet, parseIP(peer.ipv4.address));
}

function ipipInUse(pool: PoolFact): boolean {
  return pool.ipipMode !== 'Never';
}

class Resolver {
  private readonly byDst = new Map<string, DesiredRoute>();
  private readonly problems = new Map<string, CalcProblem>();
  private readonly self: NodeFact | undefined;

  constructor(
    private readonly index: CalcIndex,
    private readonly bgp: boolean,
  ) {
    this.self = localNode(index);
  }

  private problem(p: CalcProblem): void {
    const key = `${p.kind}\0${p.subject}`;
    if (!this.problems.has(key)) this.problems.set(key, p);
  }

  private add(route: DesiredRoute): void {
    const existing = this.byDst.get(route.dst);
    if (!existing) {
      this.byDst.set(route.dst, route);
      return;
    }
    // Deterministic choice, whatever order the inputs came in.
    const rank = (r: DesiredRoute) => (r.target.kind === 'workload' ? 0 : 1);
    const key = (r: DesiredRoute) => JSON.stringify(r);
    if (
      rank(route) < rank(existing) ||
      (rank(route) === rank(existing) && key(route) < key(existing))
    ) {
      this.byDst.set(route.dst, route);
    }
  }

  /** The target for traffic to `peerName`'s addresses in `pool`, or undefined (with a problem noted). */
  private remoteTarget(
    peerName: string,
    pool: PoolFact,
    dst: string,
    tunnelAddress: boolean,
  ): RouteTarget | undefined {
    // Learned over BGP and programmed by the agent.
    if (this.bgp && pool.vxlanMode === 'Never' && !ipipInUse(pool)) return undefined;
    const peer = this.index.nodes.get(peerName);
    if (!peer || !peer.ipv4) {
      this.problem({
        kind: 'unroutable-block',
        subject: dst,
        severity: 'warning',
        message: `${dst} belongs to host ${peerName}, which has ${peer ? 'no IPv4 address' : 'no Node resource'}`,
      });
      return undefined;
    }
    if (ipipInUse(pool)) return undefined; // reported once per pool by encapsulationProblems
    const same = sameSubnet(this.self, peer);
    const encapsulate = pool.vxlanMode === 'Always' || (pool.vxlanMode === 'CrossSubnet' && !same);
    if (!encapsulate) {
      if (!same) {
        this.problem({
          kind: 'no-route-to-peer',
          subject: peerName,
          severity: 'error',
          message:
            `pool ${pool.name} has no encapsulation and host ${peerName} (${peer.ipv4.address}) is not in this host's subnet` +
            (this.self?.ipv4
              ? ` (${formatCidr(parseCidr(`${this.self.ipv4.address}/${this.self.ipv4.prefixLength}`))})`
              : '') +
            `: its workloads need vxlanMode CrossSubnet or Always, or BGP`,
        });
        return undefined;
      }
      return { kind: 'underlay', gateway: peer.ipv4.address, node: peerName };
    }
    const vtep = vtepOf(peer);
    const mine = this.self ? vtepOf(this.self) : undefined;
    if (!vtep || !mine) {
      if (!vtep) {
        this.problem({
          kind: 'vtep-incomplete',
          subject: peerName,
          severity: 'warning',
          message: `host ${peerName} has no VXLAN tunnel address and MAC yet; routes to its workloads wait for them`,
        });
      }
      return undefined;
    }
    if (tunnelAddress) return { kind: 'vxlan-direct', node: peerName };
    return { kind: 'vxlan', gateway: vtep.tunnelAddress, node: peerName };
  }

  resolve(): RouteResolution {
    const me = this.index.nodeName;
    for (const ep of this.index.localEndpoints.values()) {
      for (const a of ep.ipv4)
        this.add({
          dst: `${a}/32`,
          target: { kind: 'workload', iface: ep.iface },
          source: 'endpoint',
        });
    }
    for (const block of this.index.blocks.values()) {
      if (block.cidr.family !== 4) continue;
      const dst = formatCidr(block.cidr);
      const pool = poolOf(this.index, block.cidr);
      if (!pool) {
        if (block.affinity === me || block.allocations.some((a) => a.node === me)) {
          this.problem({
            kind: 'unroutable-block',
            subject: dst,
            severity: 'warning',
            message: `block ${dst} is in no IP pool: it is not routed`,
          });
        }
        continue;
      }
      if (block.affinity === me) {
        if (block.cidr.prefixLength < 32)
          this.add({ dst, target: { kind: 'blackhole' }, source: 'local-block' });
      } else if (block.affinity !== undefined) {
        const target = this.remoteTarget(block.affinity, pool, dst, false);
        if (target) this.add({ dst, target, source: 'remote-block' });
      }
      for (const alloc of block.allocations) {
        if (alloc.node === undefined || alloc.node === block.affinity || alloc.node === me)
          continue;
        const one = `${alloc.address}/32`;
        const target = this.remoteTarget(alloc.node, pool, one, alloc.tunnel);
        if (target) this.add({ dst: one, target, source: alloc.tunnel ? 'tunnel' : 'borrowed' });
      }
    }
    const routes = [...this.byDst.values()].sort((a, b) =>
      compareCidr(parseCidr(a.dst), parseCidr(b.dst)),
    );
    return { routes, problems: [...this.problems.values()] };
  }
}

/** `bgp`: BGP runs on this host and routes the unencapsulated pools. */
export function resolveRoutes(index: CalcIndex, bgp = false): RouteResolution {
  return new Resolver(index, bgp).resolve();
}

/**
 * IPIP cannot be done here: every pool with ipipMode on that selects this
 * host is an error (its workloads could not reach other hosts), never a
 * silent black hole.
 */
export function encapsulationProblems(index: CalcIndex): CalcProblem[] {
  const labels = localNode(index)?.labels ?? {};
  const out: CalcProblem[] = [];
  for (const pool of index.pools.values()) {
    if (!ipipInUse(pool) || !pool.nodeSelector.matches(labels)) continue;
    out.push(
      index.kernelHasIpip
        ? {
            kind: 'ipip-not-implemented',
            subject: pool.name,
            severity: 'error',
            message: `IPPool ${pool.name} has ipipMode ${pool.ipipMode}, which Tortie does not implement; its workloads cannot reach other hosts: use vxlanMode ${pool.ipipMode} instead`,
          }
        : {
            kind: 'ipip-unsupported',
            subject: pool.name,
            severity: 'error',
            message: `IPPool ${pool.name} has ipipMode ${pool.ipipMode}, but this kernel cannot make ipip devices; its workloads cannot reach other hosts: use vxlanMode ${pool.ipipMode} instead`,
          },
    );
  }
  return out;
}
