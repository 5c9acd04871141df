// The route manager: every route the calculation wants — workload /32s,
// blackholes for local blocks, peer blocks over the underlay or through the
// VXLAN device — into the one route table.

import type { DataplaneMessage } from '../calc/diff.js';
import type { DesiredRoute } from '../calc/types.js';
import type { Manager } from './manager.js';
import { RouteTable, type RouteApplyResult, type RouteSpec } from './route-table.js';
import { VXLAN_DEVICE } from './vxlan-manager.js';

export function routeSpec(route: DesiredRoute): RouteSpec {
  const t = route.target;
  switch (t.kind) {
    case 'workload':
      return { dst: route.dst, type: 'unicast', dev: t.iface, scopeLink: true };
    case 'blackhole':
      return { dst: route.dst, type: 'blackhole' };
    case 'underlay':
      return { dst: route.dst, type: 'unicast', gateway: t.gateway };
    case 'vxlan':
      return {
        dst: route.dst,
        type: 'unicast',
        gateway: t.gateway,
        dev: VXLAN_DEVICE,
        onlink: true,
      };
    case 'vxlan-direct':
      return { dst: route.dst, type: 'unicast', dev: VXLAN_DEVICE, scopeLink: true };
  }
}

export class RouteManager implements Manager {
  readonly name = 'routes';
  lastResult: RouteApplyResult | undefined;

  constructor(readonly table: RouteTable) {}

  onUpdate(msg: DataplaneMessage): void {
    if (msg.type === 'route-update') this.table.set(routeSpec(msg.route));
    else if (msg.type === 'route-remove') this.table.delete(msg.dst);
  }

  resync(): void {
    this.table.resync();
  }

  get dirty(): boolean {
    return this.table.needsApply;
  }

  async completeDeferredWork(): Promise<string[]> {
    if (!this.table.needsApply) return [];
    const result = await this.table.apply();
    this.lastResult = result;
    return result.failures.map((f) => `route ${f.dst}: ${f.error}`);
  }
}
