// A workload's veth pair and the configuration on both of its ends, as Calico
// sets it up:
//
//   host:       caliXXXXXXXXXXX  mac ee:ee:ee:ee:ee:ee, up, no address,
//               proxy_arp=1 proxy_delay=0 forwarding=1 route_localnet=1
//               (IPv6: accept_ra=0 proxy_ndp=1 forwarding=1),
//               ADDR/32 dev caliX scope link proto 80 (ADDR/128 for IPv6)
//   container:  eth0  ADDR/32 (ADDR/128 nodad), up,
//               169.254.1.1 dev eth0 scope link
//               default via 169.254.1.1 dev eth0
//               (IPv6: default via fe80::ecee:eeff:feee:eeee dev eth0)
//
// Creation takes two `ip` processes: one batch on the host (the veth is made
// with its peer directly in the container's namespace, and both MACs are set
// at birth so nothing has to be read back), one batch in the container. The
// sysctls are plain file writes. Any failure removes the host end, which
// takes the container end with it: a failed create leaves nothing behind.

import { existsSync } from 'node:fs';
import {
  TORTIE_ROUTE_PROTOCOL,
  WORKLOAD_GATEWAY_V4,
  WORKLOAD_GATEWAY_V6,
  WORKLOAD_HOST_MAC,
} from './constants.js';
import {
  CommandError,
  HOST,
  ip,
  ipBatch,
  ipJson,
  netnsTarget,
  type IpAddr,
  type IpLink,
  type IpRoute,
} from './ip.js';
import { checkWorkloadHostSysctls, setWorkloadHostSysctls } from './sysctl.js';

export interface WorkloadSpec {
  /** Host-side veth name (`cali…`). */
  hostIface: string;
  /** Container-side name (CNI_IFNAME). */
  containerIface: string;
  /** Path of the container's network namespace file (CNI_NETNS). */
  netns: string;
  mtu: number;
  /** MAC for the container end; chosen by the caller so nothing is read back. */
  containerMac: string;
  /** Plain addresses (no prefix): each becomes a /32 in the container and a host route. */
  ipv4: string[];
  /** Plain addresses (no prefix): each becomes a /128. */
  ipv6: string[];
}

export class WorkloadError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'WorkloadError';
  }
}

/** Whether an interface exists in the caller's network namespace (no spawn; /proc/sys follows the caller's netns). */
export function hostLinkExists(iface: string): boolean {
  return (
    existsSync(`/proc/sys/net/ipv4/conf/${iface}`) || existsSync(`/proc/sys/net/ipv6/conf/${iface}`)
  );
}

/** A random locally administered unicast MAC. */
export function randomMac(random: (n: number) => Uint8Array): string {
  const b = random(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function hostBatch(spec: WorkloadSpec): string[] {
  const { hostIface: h, containerIface: c, mtu } = spec;
  const lines = [
    `link add name ${h} mtu ${mtu} address ${WORKLOAD_HOST_MAC} type veth ` +
      `peer name ${c} mtu ${mtu} address ${spec.containerMac} netns ${spec.netns}`,
    `link set ${h} up`,
  ];
  for (const a of spec.ipv4) {
    lines.push(`route replace ${a}/32 dev ${h} scope link proto ${TORTIE_ROUTE_PROTOCOL}`);
  }
  for (const a of spec.ipv6)
    lines.push(`route replace ${a}/128 dev ${h} proto ${TORTIE_ROUTE_PROTOCOL}`);
  return lines;
}

export function containerBatch(spec: WorkloadSpec): string[] {
  const c = spec.containerIface;
  const lines: string[] = [];
  for (const a of spec.ipv4) lines.push(`addr add ${a}/32 dev ${c}`);
  for (const a of spec.ipv6) lines.push(`addr add ${a}/128 dev ${c} nodad`);
  lines.push(`link set ${c} up`);
  if (spec.ipv4.length > 0) {
    lines.push(`route add ${WORKLOAD_GATEWAY_V4} dev ${c} scope link`);
    lines.push(`route add default via ${WORKLOAD_GATEWAY_V4} dev ${c}`);
  }
  if (spec.ipv6.length > 0) lines.push(`route add default via ${WORKLOAD_GATEWAY_V6} dev ${c}`);
  return lines;
}

/**
 * Creates the veth pair and configures both ends. A host veth of the same name
 * left over from an earlier attempt is removed first (its name is a hash of
 * the workload, so it can only be this workload's). On any failure the host
 * end is deleted again and the error is rethrown.
 */
export async function createWorkload(spec: WorkloadSpec): Promise<void> {
  if (!existsSync(spec.netns)) {
    throw new WorkloadError(`network namespace ${spec.netns} does not exist`);
  }
  if (hostLinkExists(spec.hostIface)) await deleteHostLink(spec.hostIface);
  try {
    await ipBatch(HOST, hostBatch(spec));
    setWorkloadHostSysctls(spec.hostIface, {
      ipv4: spec.ipv4.length > 0,
      ipv6: spec.ipv6.length > 0,
    });
    await ipBatch(netnsTarget(spec.netns), containerBatch(spec));
  } catch (err) {
    await deleteHostLink(spec.hostIface).catch(() => undefined);
    throw err;
  }
}

/** Deletes a host link; absent is fine. Returns whether it was there. */
export async function deleteHostLink(iface: string): Promise<boolean> {
  try {
    await ip(HOST, ['link', 'del', 'dev', iface]);
    return true;
  } catch (err) {
    if (err instanceof CommandError && err.isNoDevice) return false;
    throw err;
  }
}

/**
 * Removes the workload's interfaces. Idempotent: a missing host veth or a
 * namespace that is already gone is not an error. Deleting the host end
 * removes the container end and the host routes with it; when the host end is
 * missing but the container still has the interface, that is deleted instead.
 */
export async function deleteWorkload(w: {
  /** Undefined: leave the host side alone (another container owns that name). */
  hostIface: string | undefined;
  containerIface: string;
  netns: string | undefined;
}): Promise<{ hostDeleted: boolean; containerDeleted: boolean }> {
  const hostDeleted =
    w.hostIface !== undefined && hostLinkExists(w.hostIface)
      ? await deleteHostLink(w.hostIface)
      : false;
  let containerDeleted = false;
  if (!hostDeleted && w.netns && existsSync(w.netns)) {
    try {
      const links = await ipJson<IpLink[]>(netnsTarget(w.netns), ['link', 'show']);
      const link = links.find((l) => l.ifname === w.containerIface);
      // Only a veth whose peer sits in another namespace can be ours.
      if (link && link.link_netnsid !== undefined) {
        await ip(netnsTarget(w.netns), ['link', 'del', 'dev', w.containerIface]);
        containerDeleted = true;
      }
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      // The namespace vanished between the check and the command: nothing to do.
      if (existsSync(w.netns)) throw err;
    }
  }
  return { hostDeleted, containerDeleted };
}

export interface WorkloadExpectation {
  hostIface: string;
  containerIface: string;
  netns: string;
  containerMac?: string;
  ipv4: string[];
  ipv6: string[];
}

/**
 * Compares the kernel's state against what createWorkload made. Returns the
 * problems found, in words; empty means healthy. Routes added later by a
 * chained plugin are tolerated; missing ones are not.
 */
export async function checkWorkload(e: WorkloadExpectation): Promise<string[]> {
  const problems: string[] = [];
  if (!existsSync(e.netns)) return [`network namespace ${e.netns} does not exist`];
  if (!hostLinkExists(e.hostIface)) return [`host interface ${e.hostIface} does not exist`];

  const ns = netnsTarget(e.netns);
  const [hostLinks, hostRoutes, contAddrs, contRoutes, contRoutes6] = await Promise.all([
    ipJson<IpLink[]>(HOST, ['link', 'show', 'dev', e.hostIface]),
    ipJson<IpRoute[]>(HOST, ['route', 'show', 'dev', e.hostIface]),
    ipJson<IpAddr[]>(ns, ['addr', 'show']),
    ipJson<IpRoute[]>(ns, ['route', 'show']),
    e.ipv6.length > 0 ? ipJson<IpRoute[]>(ns, ['-6', 'route', 'show']) : Promise.resolve([]),
  ]);

  const host = hostLinks[0];
  if (!host) return [`host interface ${e.hostIface} does not exist`];
  if (host.address !== WORKLOAD_HOST_MAC) {
    problems.push(
      `host interface ${e.hostIface} has MAC ${host.address}, want ${WORKLOAD_HOST_MAC}`,
    );
  }
  if (!host.flags?.includes('UP')) problems.push(`host interface ${e.hostIface} is down`);
  problems.push(
    ...checkWorkloadHostSysctls(e.hostIface, { ipv4: e.ipv4.length > 0, ipv6: e.ipv6.length > 0 }),
  );
  for (const a of e.ipv4) {
    if (!hostRoutes.some((r) => r.dst === a || r.dst === `${a}/32`)) {
      problems.push(`host route ${a}/32 dev ${e.hostIface} is missing`);
    }
  }
  const host6 =
    e.ipv6.length > 0
      ? await ipJson<IpRoute[]>(HOST, ['-6', 'route', 'show', 'dev', e.hostIface])
      : [];
  for (const a of e.ipv6) {
    if (!host6.some((r) => r.dst === a || r.dst === `${a}/128`)) {
      problems.push(`host route ${a}/128 dev ${e.hostIface} is missing`);
    }
  }

  const cont = contAddrs.find((l) => l.ifname === e.containerIface);
  if (!cont) {
    problems.push(`interface ${e.containerIface} is missing in ${e.netns}`);
    return problems;
  }
  if (e.containerMac && cont.address !== e.containerMac) {
    problems.push(`${e.containerIface} has MAC ${cont.address}, want ${e.containerMac}`);
  }
  if (!cont.flags?.includes('UP')) problems.push(`${e.containerIface} is down`);
  const have = new Set((cont.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  for (const a of e.ipv4)
    if (!have.has(`${a}/32`)) problems.push(`${e.containerIface} lacks ${a}/32`);
  for (const a of e.ipv6)
    if (!have.has(`${a}/128`)) problems.push(`${e.containerIface} lacks ${a}/128`);
  if (e.ipv4.length > 0) {
    const onDev = contRoutes.filter((r) => r.dev === e.containerIface);
    if (!onDev.some((r) => r.dst === WORKLOAD_GATEWAY_V4 && r.scope === 'link')) {
      problems.push(`route ${WORKLOAD_GATEWAY_V4} dev ${e.containerIface} scope link is missing`);
    }
    if (!onDev.some((r) => r.dst === 'default' && r.gateway === WORKLOAD_GATEWAY_V4)) {
      problems.push(`default route via ${WORKLOAD_GATEWAY_V4} dev ${e.containerIface} is missing`);
    }
  }
  if (e.ipv6.length > 0) {
    if (!contRoutes6.some((r) => r.dst === 'default' && r.gateway === WORKLOAD_GATEWAY_V6)) {
      problems.push(`default route via ${WORKLOAD_GATEWAY_V6} dev ${e.containerIface} is missing`);
    }
  }
  return problems;
}

/**
 * The MTU of the host's uplink: the device of the IPv4 default route (read
 * from /proc/net/route, which follows the caller's namespace), else 1500.
 */
export async function underlayMtu(): Promise<number> {
  const { readFileSync } = await import('node:fs');
  let dev: string | undefined;
  try {
    for (const line of readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1] === '00000000' && f[7] === '00000000' && f[0]) {
        dev = f[0];
        break;
      }
    }
  } catch {
    /* no /proc/net/route: fall through */
  }
  if (!dev) return 1500;
  try {
    const links = await ipJson<IpLink[]>(HOST, ['link', 'show', 'dev', dev]);
    return links[0]?.mtu ?? 1500;
  } catch {
    return 1500;
  }
}
