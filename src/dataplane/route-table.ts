// The route table reconciler: makes the main table's IPv4 routes of protocol
// 80 (TORTIE_ROUTE_PROTOCOL) exactly the desired ones, changing only what
// differs.
//
// Invariants:
// - A route that is already right is never touched: no delete-and-re-add,
//   no "replace" with the same value. Restarting the agent over a correct
//   kernel writes nothing.
// - Only routes of our protocol are changed or deleted. A route of another
//   protocol for a destination we want is a conflict, reported and left alone.
// - A route of ours through a workload interface (cali*) that we do not want
//   is deleted only once the interface has been seen for a grace period: the
//   CNI plugin adds a workload's route before the agent hears of the
//   workload, and must not lose that race.
// - A route whose device does not exist yet waits (it is "pending"), and is
//   programmed by a later apply once the device appears.
// - What the kernel holds is read once and then tracked through our own
//   writes; any failure, or resync(), reads it again.

import { TORTIE_ROUTE_PROTOCOL, WORKLOAD_IFACE_PREFIX } from './constants.js';
import { BatchAbortedError } from './batch-process.js';
import type { Kernel, KernelRoute } from './kernel.js';

export interface RouteSpec {
  /** Canonical CIDR. */
  dst: string;
  type: 'unicast' | 'blackhole';
  /** The device the route must use; undefined lets the kernel pick (routes via a gateway on the underlay). */
  dev?: string;
  gateway?: string;
  onlink?: boolean;
  /** `scope link`: a device route with no gateway. */
  scopeLink?: boolean;
}

export interface RouteFailure {
  dst: string;
  error: string;
}

export interface RouteApplyResult {
  replaced: string[];
  deleted: string[];
  /** Desired routes waiting for their device. */
  pending: string[];
  failures: RouteFailure[];
}

const PROTO = String(TORTIE_ROUTE_PROTOCOL);

export function routeLine(spec: RouteSpec): string {
  if (spec.type === 'blackhole') return `route replace blackhole ${spec.dst} proto ${PROTO}`;
  const parts = ['route replace', spec.dst];
  if (spec.gateway) parts.push('via', spec.gateway);
  if (spec.dev) parts.push('dev', spec.dev);
  if (spec.onlink) parts.push('onlink');
  if (spec.scopeLink) parts.push('scope link');
  parts.push('proto', PROTO);
  return parts.join(' ');
}

/** Whether the kernel's route is the desired one. */
export function routeMatches(spec: RouteSpec, k: KernelRoute): boolean {
  if (k.protocol !== PROTO) return false;
  if (spec.type === 'blackhole') return k.type === 'blackhole';
  if (k.type !== 'unicast') return false;
  if ((spec.gateway ?? undefined) !== (k.gateway ?? undefined)) return false;
  if (spec.dev !== undefined && spec.dev !== k.dev) return false;
  if ((spec.onlink ?? false) !== k.onlink) return false;
  if (spec.scopeLink && k.scope !== 'link') return false;
  return true;
}

/** What the kernel will show after `route replace` of the spec (dev unknown when the kernel picks it). */
function expectedKernelRoute(spec: RouteSpec): KernelRoute {
  return {
    dst: spec.dst,
    type: spec.type,
    gateway: spec.gateway,
    dev: spec.dev,
    protocol: PROTO,
    scope: spec.scopeLink ? 'link' : undefined,
    onlink: spec.onlink ?? false,
  };
}

export interface RouteTableOptions {
  /** How long a workload interface is left alone before its stray routes go (default 10 s). */
  graceMs?: number;
  now?: () => number;
}

export class RouteTable {
  private readonly desired = new Map<string, RouteSpec>();
  private kernelRoutes: Map<string, KernelRoute> | undefined;
  private readonly firstSeen = new Map<string, number>();
  private readonly graceMs: number;
  private readonly now: () => number;
  private dirty = true;
  /** Kernel routes read so far (for tests and metrics). */
  reads = 0;

  constructor(
    private readonly kernel: Kernel,
    opts: RouteTableOptions = {},
  ) {
    this.graceMs = opts.graceMs ?? 10_000;
    this.now = opts.now ?? (() => performance.now());
  }

  set(spec: RouteSpec): void {
    const old = this.desired.get(spec.dst);
    if (old && JSON.stringify(old) === JSON.stringify(spec)) return;
    this.desired.set(spec.dst, spec);
    this.dirty = true;
  }

  delete(dst: string): void {
    if (this.desired.delete(dst)) this.dirty = true;
  }

  /** Read the kernel again at the next apply. */
  resync(): void {
    this.kernelRoutes = undefined;
    this.dirty = true;
  }

  get needsApply(): boolean {
    return this.dirty || this.kernelRoutes === undefined;
  }

  get desiredCount(): number {
    return this.desired.size;
  }

  /** Our routes in the kernel as last seen or written. */
  programmedCount(): number {
    let n = 0;
    for (const r of this.kernelRoutes?.values() ?? []) if (r.protocol === PROTO) n++;
    return n;
  }

  desiredRoutes(): RouteSpec[] {
    return [...this.desired.values()];
  }

  async apply(): Promise<RouteApplyResult> {
    const result: RouteApplyResult = { replaced: [], deleted: [], pending: [], failures: [] };
    if (!this.kernelRoutes) {
      this.kernelRoutes = new Map((await this.kernel.routes()).map((r) => [r.dst, r]));
      this.reads++;
    }
    const kernel = this.kernelRoutes;
    const replace: RouteSpec[] = [];
    for (const spec of this.desired.values()) {
      const have = kernel.get(spec.dst);
      if (have && routeMatches(spec, have)) continue;
      if (have && have.protocol !== PROTO) {
        result.failures.push({
          dst: spec.dst,
          error: `a route to ${spec.dst} of protocol ${have.protocol ?? 'unknown'} is in the way; left alone`,
        });
        continue;
      }
      if (spec.dev && !this.kernel.linkExists(spec.dev)) {
        result.pending.push(spec.dst);
        continue;
      }
      replace.push(spec);
    }
    const remove: KernelRoute[] = [];
    const now = this.now();
    const seenDevs = new Set<string>();
    for (const route of kernel.values()) {
      if (route.protocol !== PROTO || this.desired.has(route.dst)) continue;
      if (route.dev?.startsWith(WORKLOAD_IFACE_PREFIX)) {
        seenDevs.add(route.dev);
        const first = this.firstSeen.get(route.dev) ?? now;
        this.firstSeen.set(route.dev, first);
        if (now - first < this.graceMs) {
          result.pending.push(route.dst);
          continue;
        }
      }
      remove.push(route);
    }
    for (const dev of this.firstSeen.keys()) if (!seenDevs.has(dev)) this.firstSeen.delete(dev);

    const lines = [
      ...replace.map(routeLine),
      ...remove.map((r) => `route del ${r.dst} proto ${PROTO}`),
    ];
    if (lines.length > 0) {
      let outcome;
      try {
        outcome = await this.kernel.ip(lines);
      } catch (err) {
        this.resync();
        if (err instanceof BatchAbortedError) {
          result.failures.push({ dst: '*', error: err.message });
          return result;
        }
        throw err;
      }
      const failed = new Map(outcome.failures.map((f) => [f.index, f.error]));
      replace.forEach((spec, i) => {
        const error = failed.get(i);
        if (error === undefined) {
          kernel.set(spec.dst, expectedKernelRoute(spec));
          result.replaced.push(spec.dst);
        } else {
          result.failures.push({ dst: spec.dst, error });
        }
      });
      remove.forEach((route, j) => {
        const error = failed.get(replace.length + j);
        // "No such process": it was already gone, which is what we wanted.
        if (error === undefined || /No such process/i.test(error)) {
          kernel.delete(route.dst);
          result.deleted.push(route.dst);
        } else {
          result.failures.push({ dst: route.dst, error });
        }
      });
      if (outcome.failures.length > 0) this.kernelRoutes = undefined;
    }
    this.dirty = result.failures.length > 0 || result.pending.length > 0;
    return result;
  }
}
