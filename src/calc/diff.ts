// From one desired state to the next, as the messages the dataplane managers
// take (Felix's RouteUpdate/RouteRemove, VTEPUpdate/VTEPRemove, …). Pure:
// diffing a state against itself gives nothing, and applying the messages of
// diff(a, b) to a manager that holds a leaves it holding b.

import {
  DEFAULT_BGP_ASN,
  type BgpDesired,
  type DesiredRoute,
  type DesiredState,
  type LocalEndpoint,
  type MasqueradeSets,
  type Vtep,
  type VxlanSettings,
} from './types.js';

export type DataplaneMessage =
  | { type: 'route-update'; route: DesiredRoute }
  | { type: 'route-remove'; dst: string }
  | { type: 'endpoint-update'; endpoint: LocalEndpoint }
  | { type: 'endpoint-remove'; key: string }
  | { type: 'vtep-update'; vtep: Vtep }
  | { type: 'vtep-remove'; node: string }
  | { type: 'vxlan-settings'; settings: VxlanSettings }
  | { type: 'masquerade-sets'; sets: MasqueradeSets };

/** The state before anything is known: nothing wanted. */
export function emptyDesiredState(node: string): DesiredState {
  return {
    node,
    hostAddress: undefined,
    routes: [],
    localEndpoints: [],
    vxlan: { enabled: false, vni: 4096, port: 4789, mtu: undefined, local: undefined },
    vteps: [],
    masquerade: {
      allPoolsV4: [],
      natPoolsV4: [],
      allPoolsV6: [],
      natPoolsV6: [],
    },
    tunnelPools: [],
    bgp: emptyBgp(),
    problems: [],
  };
}

/** BGP off: no speaker, no peers, nothing originated. */
export function emptyBgp(): BgpDesired {
  return {
    enabled: false,
    asn: DEFAULT_BGP_ASN,
    routerId: undefined,
    listen: { host: '0.0.0.0', port: 179 },
    clusterId: undefined,
    peers: [],
    originate: [],
    noProgram: [],
  };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function diffKeyed<T>(
  before: readonly T[],
  after: readonly T[],
  keyOf: (item: T) => string,
  update: (item: T) => DataplaneMessage,
  remove: (key: string) => DataplaneMessage,
): DataplaneMessage[] {
  const old = new Map(before.map((x) => [keyOf(x), x]));
  const out: DataplaneMessage[] = [];
  const seen = new Set<string>();
  for (const item of after) {
    const key = keyOf(item);
    seen.add(key);
    const prev = old.get(key);
    if (prev === undefined || !same(prev, item)) out.push(update(item));
  }
  for (const key of old.keys()) if (!seen.has(key)) out.push(remove(key));
  return out;
}

/**
 * The messages that take a manager from `before` to `after`, in Felix's
 * order: settings and VTEPs first, then endpoints and routes, removals of
 * VTEPs after the routes that used them.
 */
export function diffDesiredStates(before: DesiredState, after: DesiredState): DataplaneMessage[] {
  const out: DataplaneMessage[] = [];
  if (!same(before.vxlan, after.vxlan)) out.push({ type: 'vxlan-settings', settings: after.vxlan });
  const vteps = diffKeyed(
    before.vteps,
    after.vteps,
    (v) => v.node,
    (vtep) => ({ type: 'vtep-update', vtep }),
    (node) => ({ type: 'vtep-remove', node }),
  );
  out.push(...vteps.filter((m) => m.type === 'vtep-update'));
  out.push(
    ...diffKeyed(
      before.localEndpoints,
      after.localEndpoints,
      (e) => e.key,
      (endpoint) => ({ type: 'endpoint-update', endpoint }),
      (key) => ({ type: 'endpoint-remove', key }),
    ),
  );
  out.push(
    ...diffKeyed(
      before.routes,
      after.routes,
      (r) => r.dst,
      (route) => ({ type: 'route-update', route }),
      (dst) => ({ type: 'route-remove', dst }),
    ),
  );
  if (!same(before.masquerade, after.masquerade))
    out.push({ type: 'masquerade-sets', sets: after.masquerade });
  out.push(...vteps.filter((m) => m.type === 'vtep-remove'));
  return out;
}
