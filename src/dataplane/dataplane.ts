// The dataplane driver: hands each message to every manager and runs their
// kernel work in one fixed order:
//
//   1. VXLAN device, tunnel address, VTEP neighbours and FDB entries
//   2. workload interfaces (up, proxy ARP, forwarding)
//   3. routes (workload /32s, blackholes, peer blocks) — through the devices
//      and neighbours that 1 made
//   4. masquerade (nftables)
//   5. deferred deletions: stale neighbours and FDB entries, and the VXLAN
//      device once nothing routes through it
//
// A manager's failure does not stop the others: each reports what it could
// not do, and stays dirty so the next apply tries again.

import type { DataplaneMessage } from '../calc/diff.js';
import { EndpointManager } from './endpoint-manager.js';
import type { Kernel } from './kernel.js';
import type { Manager } from './manager.js';
import { MasqueradeManager } from './masquerade-manager.js';
import { RouteManager } from './route-manager.js';
import { RouteTable, type RouteTableOptions } from './route-table.js';
import { VxlanManager } from './vxlan-manager.js';

export interface ApplyReport {
  /** What could not be done, one line each, prefixed with the manager. */
  failures: string[];
  routesReplaced: number;
  routesDeleted: number;
  /** Routes waiting for their device. */
  routesPending: number;
  durationMs: number;
}

export interface DataplaneOptions {
  routeTable?: RouteTableOptions;
}

export class Dataplane {
  readonly vxlan: VxlanManager;
  readonly endpoints: EndpointManager;
  readonly routes: RouteManager;
  readonly masquerade: MasqueradeManager;
  private readonly managers: Manager[];

  constructor(
    readonly kernel: Kernel,
    opts: DataplaneOptions = {},
  ) {
    this.vxlan = new VxlanManager(kernel);
    this.endpoints = new EndpointManager(kernel);
    this.routes = new RouteManager(new RouteTable(kernel, opts.routeTable));
    this.masquerade = new MasqueradeManager(kernel);
    this.managers = [this.vxlan, this.endpoints, this.routes, this.masquerade];
  }

  onUpdate(msg: DataplaneMessage): void {
    for (const m of this.managers) m.onUpdate(msg);
  }

  onUpdates(msgs: Iterable<DataplaneMessage>): void {
    for (const msg of msgs) this.onUpdate(msg);
  }

  /** Make the next apply read the kernel again and repair any drift. */
  resync(): void {
    for (const m of this.managers) m.resync();
  }

  get dirty(): boolean {
    return this.managers.some((m) => m.dirty);
  }

  async apply(): Promise<ApplyReport> {
    const started = performance.now();
    const failures: string[] = [];
    const step = async (label: string, fn: () => Promise<string[]>) => {
      try {
        failures.push(...(await fn()).map((f) => `${label}: ${f}`));
      } catch (err) {
        failures.push(`${label}: ${(err as Error).message}`);
      }
    };
    await step('vxlan', () => this.vxlan.completeDeferredWork());
    await step('endpoints', () => this.endpoints.completeDeferredWork());
    await step('routes', () => this.routes.completeDeferredWork());
    await step('masquerade', () => this.masquerade.completeDeferredWork());
    await step('vxlan cleanup', () => this.vxlan.completeDeferredCleanup());
    const r = this.routes.lastResult;
    this.routes.lastResult = undefined;
    return {
      failures,
      routesReplaced: r?.replaced.length ?? 0,
      routesDeleted: r?.deleted.length ?? 0,
      routesPending: r?.pending.length ?? 0,
      durationMs: performance.now() - started,
    };
  }
}
