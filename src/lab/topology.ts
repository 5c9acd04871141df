// Making the lab's machines out of network namespaces: the underlay (one
// namespace holding a bridge per L2 segment), the router between segments
// (two-subnets), the hosts (with a reflector's core leg in racks), and the
// external router with the outside network behind it. Every veth is created
// with both ends already inside lab namespaces, so nothing ever appears in
// the root namespace.

import { ipBatch } from './exec.js';
import { HOST_UPLINK } from './naming.js';
import { createNetns, setSysctls } from './netns.js';
import type { GatewayPlan, HostPlan, RouterPlan, SegmentPlan } from './plan.js';

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
    if (!withRouter && seg.gatewayOnBridge !== false)
      lines.push(`addr add ${seg.gateway}/${seg.prefixLength} dev ${seg.bridge}`);
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

/** A reflector's leg on the core segment (racks). */
export const CORE_UPLINK = 'eth1';

/**
 * A host: its namespace, forwarding on, eth0 on its segment's bridge, a
 * default route; a reflector (racks) also gets eth1 on the core and routes
 * to the other racks.
 */
export async function buildHost(
  host: HostPlan,
  segment: SegmentPlan,
  core?: SegmentPlan,
): Promise<void> {
  await createNetns(host.netns);
  await setSysctls(host.netns, ROUTER_SYSCTLS);
  const under = [
    `link add ${host.port} type veth peer name ${HOST_UPLINK} netns ${host.netns}`,
    `link set ${host.port} master ${segment.bridge} up`,
  ];
  const inside = [
    `addr add ${host.address}/${host.prefixLength} dev ${HOST_UPLINK}`,
    `link set ${HOST_UPLINK} up`,
  ];
  if (host.core && core) {
    under.push(
      `link add ${host.core.port} type veth peer name ${CORE_UPLINK} netns ${host.netns}`,
      `link set ${host.core.port} master ${core.bridge} up`,
    );
    inside.push(
      `addr add ${host.core.address}/${host.core.prefixLength} dev ${CORE_UPLINK}`,
      `link set ${CORE_UPLINK} up`,
      `route add default via ${host.gateway} dev ${CORE_UPLINK}`,
    );
  } else {
    inside.push(`route add default via ${host.gateway} dev ${HOST_UPLINK}`);
  }
  for (const r of host.routes ?? []) inside.push(`route add ${r}`);
  await ipBatch(segment.netns, under);
  await ipBatch(host.netns, inside);
}

/**
 * The external router's namespace, its leg on the segment (eth0, the
 * segment's .1), its underlay routes to the racks, and the outside namespace
 * behind it (eth1 ↔ the outside's eth0). BIRD is started later, as a lab
 * process (gateway.ts).
 */
export async function buildGateway(gw: GatewayPlan, segment: SegmentPlan): Promise<void> {
  await createNetns(gw.netns);
  await setSysctls(gw.netns, ROUTER_SYSCTLS);
  await createNetns(gw.outside.netns);
  await ipBatch(segment.netns, [
    `link add ${gw.port} type veth peer name eth0 netns ${gw.netns}`,
    `link set ${gw.port} master ${segment.bridge} up`,
  ]);
  const outsideLen = gw.outside.cidr.split('/')[1]!;
  await ipBatch(gw.netns, [
    `addr add ${gw.address}/${gw.prefixLength} dev eth0`,
    'link set eth0 up',
    `link add eth1 type veth peer name eth0 netns ${gw.outside.netns}`,
    `addr add ${gw.outside.gateway}/${outsideLen} dev eth1`,
    'link set eth1 up',
    ...gw.routes.map((r) => `route add ${r}`),
  ]);
  await ipBatch(gw.outside.netns, [
    `addr add ${gw.outside.address}/${outsideLen} dev eth0`,
    'link set eth0 up',
    `route add default via ${gw.outside.gateway} dev eth0`,
  ]);
}
