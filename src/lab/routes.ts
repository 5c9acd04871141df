// `lab routes HOST`: a host's IPv4 routing table as `route -n` prints it,
// the figures the source articles show (per-host blocks, cali* interfaces).

/** One entry of `ip -json route`. */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  type?: string;
  scope?: string;
  protocol?: string;
  flags?: string[];
}

export interface RouteRow {
  destination: string;
  gateway: string;
  genmask: string;
  flags: string;
  metric: number;
  iface: string;
}

/** Route types that drop instead of forwarding; route -n shows them on no interface. */
const REJECT_TYPES = new Set(['blackhole', 'unreachable', 'prohibit', 'throw']);

export function routeRow(route: IpRoute): RouteRow {
  const [destination, prefixLength] =
    route.dst === 'default'
      ? ['0.0.0.0', 0]
      : route.dst.includes('/')
        ? [route.dst.split('/')[0]!, Number(route.dst.split('/')[1])]
        : [route.dst, 32];
  let flags = 'U';
  if (route.gateway) flags += 'G';
  if (prefixLength === 32) flags += 'H';
  return {
    destination,
    gateway: route.gateway ?? '0.0.0.0',
    genmask: maskOf(prefixLength),
    flags,
    metric: route.metric ?? 0,
    iface: route.type && REJECT_TYPES.has(route.type) ? '*' : (route.dev ?? '*'),
  };
}

export function maskOf(prefixLength: number): string {
  const bits = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (bits >>> shift) & 0xff).join('.');
}

export function formatRouteTable(routes: IpRoute[]): string {
  const lines = [
    'Kernel IP routing table',
    'Destination     Gateway         Genmask         Flags Metric Ref    Use Iface',
  ];
  for (const route of routes) {
    const r = routeRow(route);
    lines.push(
      `${r.destination.padEnd(15)} ${r.gateway.padEnd(15)} ${r.genmask.padEnd(15)} ${r.flags.padEnd(5)} ` +
        `${String(r.metric).padEnd(6)} ${'0'.padEnd(2)} ${'0'.padStart(7)} ${r.iface}`,
    );
  }
  return lines.join('\n') + '\n';
}
