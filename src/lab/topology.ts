// Making the lab's machines out of network namespaces: the underlay (one
// namespace holding a bridge per L2 segment), the router between segments
// (two-subnets), and the hosts. Every veth is created with both ends already
// inside lab namespaces, so nothing ever appears in the root namespace.

import { ipBatch } from './exec.js';
import { HOST_UPLINK } from './naming.js';
import { createNetns, setSysctls } from './netns.js';
import type { HostPlan, RouterPlan, SegmentPlan } from './plan.js';

/** Sysctls of a router-like namespace: forwarding on, reverse-path filtering off. */
export const ROUTER_SYSCTLS: Record<string, number> = {
  'net.ipv4.ip_forward': 1,
  'net.ipv6.conf.all.forwarding': 1,
  'net.ipv4.conf.all.rp_filter': 0,
  'net.ipv4.conf.default.rp_filter': 0,
};

/**
 * The underlay namespace and one bridge per segment. In the flat topology
 * (no router) the bridge itself holds the segment's .1, so hosts have a
 * default gateway: a workload can then resolve 169.254.1.1, which the host
 * answers only for addresses it routes out another interface.
 */
export async function buildUnderlay(segments: SegmentPlan[], withRouter: boolean): Promise<void> {
  const netns = segments[0]!.netns;
  await createNetns(netns);
  const lines: string[] = [];
  for (const seg of segments) {
    lines.push(`link add ${seg.bridge} type bridge`);
    lines.push(`link set ${seg.bridge} up`);
    if (!withRouter) lines.push(`addr add ${seg.gateway}/${seg.prefixLength} dev ${seg.bridge}`);
  }
  await ipBatch(netns, lines);
}

export async function buildRouter(router: RouterPlan, segments: SegmentPlan[]): Promise<void> {
  await createNetns(router.netns);
  await setSysctls(router.netns, ROUTER_SYSCTLS);
  const underlay = segments[0]!.netns;
  const under: string[] = [];
  const inside: string[] = [];
  for (const leg of router.legs) {
    const seg = segments.find((s) => s.segment === leg.segment)!;
    under.push(`link add ${leg.port} type veth peer name ${leg.iface} netns ${router.netns}`);
    under.push(`link set ${leg.port} master ${seg.bridge} up`);
    inside.push(`addr add ${leg.address}/${seg.prefixLength} dev ${leg.iface}`);
    inside.push(`link set ${leg.iface} up`);
  }
  await ipBatch(underlay, under);
  await ipBatch(router.netns, inside);
}

/** A host: its namespace, forwarding on, eth0 on its segment's bridge, a default route. */
export async function buildHost(host: HostPlan, segment: SegmentPlan): Promise<void> {
  await createNetns(host.netns);
  await setSysctls(host.netns, ROUTER_SYSCTLS);
  await ipBatch(segment.netns, [
    `link add ${host.port} type veth peer name ${HOST_UPLINK} netns ${host.netns}`,
    `link set ${host.port} master ${segment.bridge} up`,
  ]);
  await ipBatch(host.netns, [
    `addr add ${host.address}/${host.prefixLength} dev ${HOST_UPLINK}`,
    `link set ${HOST_UPLINK} up`,
    `route add default via ${host.gateway} dev ${HOST_UPLINK}`,
  ]);
}
