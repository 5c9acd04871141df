// The endpoint manager: keeps each local workload's host-side veth as the
// CNI plugin made it — up, with proxy ARP and forwarding on — and repairs it
// if something changed it. The workload's /32 route is the route manager's.
// An endpoint whose interface does not exist yet is waited for: the CNI
// plugin makes the veth before it writes the WorkloadEndpoint, and deletes
// the WorkloadEndpoint after the veth.

import type { DataplaneMessage } from '../calc/diff.js';
import type { LocalEndpoint } from '../calc/types.js';
import type { Kernel } from './kernel.js';
import type { Manager } from './manager.js';
import { workloadHostSysctls } from './sysctl.js';

export class EndpointManager implements Manager {
  readonly name = 'endpoints';
  private readonly endpoints = new Map<string, LocalEndpoint>();
  private readonly toCheck = new Set<string>();
  private checkLinks = true;
  /** Endpoints whose interface exists and is configured, as of the last check. */
  readonly ready = new Set<string>();

  constructor(private readonly kernel: Kernel) {}

  onUpdate(msg: DataplaneMessage): void {
    if (msg.type === 'endpoint-update') {
      this.endpoints.set(msg.endpoint.key, msg.endpoint);
      this.toCheck.add(msg.endpoint.key);
    } else if (msg.type === 'endpoint-remove') {
      this.endpoints.delete(msg.key);
      this.toCheck.delete(msg.key);
      this.ready.delete(msg.key);
    }
  }

  resync(): void {
    for (const key of this.endpoints.keys()) this.toCheck.add(key);
    this.checkLinks = true;
  }

  /** Interfaces appeared or changed: check just their endpoints (the next resync checks the rest). */
  linksChanged(ifaces: readonly string[]): void {
    const names = new Set(ifaces);
    for (const [key, ep] of this.endpoints) if (names.has(ep.iface)) this.toCheck.add(key);
  }

  get dirty(): boolean {
    return this.toCheck.size > 0 || this.checkLinks;
  }

  get count(): number {
    return this.endpoints.size;
  }

  async completeDeferredWork(): Promise<string[]> {
    const failures: string[] = [];
    const lines: string[] = [];
    const down = new Set<string>();
    if (this.checkLinks && this.endpoints.size > 0) {
      for (const link of await this.kernel.links()) if (!link.up) down.add(link.name);
    }
    this.checkLinks = false;
    for (const key of [...this.toCheck]) {
      const ep = this.endpoints.get(key);
      this.toCheck.delete(key);
      if (!ep) continue;
      if (!this.kernel.linkExists(ep.iface)) {
        // Not there yet (or gone): checked again on the next resync or update.
        this.ready.delete(key);
        continue;
      }
      try {
        const families = { ipv4: ep.ipv4.length > 0, ipv6: ep.ipv6.length > 0 };
        for (const [name, value] of workloadHostSysctls(ep.iface, families)) {
          const have = this.kernel.readSysctl(name);
          if (have !== undefined && have !== value) this.kernel.writeSysctl(name, value);
        }
      } catch (err) {
        failures.push(`endpoint ${key} (${ep.iface}): ${(err as Error).message}`);
        this.toCheck.add(key);
        continue;
      }
      if (down.has(ep.iface)) lines.push(`link set dev ${ep.iface} up`);
      this.ready.add(key);
    }
    if (lines.length > 0) {
      const outcome = await this.kernel.ip(lines);
      failures.push(...outcome.failures.map((f) => `${f.line}: ${f.error}`));
    }
    return failures;
  }
}
