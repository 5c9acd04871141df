// The VXLAN manager: the `vxlan.calico` device, its tunnel address, and one
// static neighbour (tunnel address -> VTEP MAC) and FDB entry (VTEP MAC ->
// host address) per peer, as Felix programs them. Learning is off: the
// device knows exactly the peers the datastore names.
//
// Order (the driver calls the two phases around the routes):
//   completeDeferredWork     device, address, neighbours and FDB entries to add
//   (routes through the device)
//   completeDeferredCleanup  stale neighbours and FDB entries, and the device
//                            itself when VXLAN is no longer in use
//
// The device is recreated when a setting that `ip link set` cannot change
// differs (VNI, port, local address, parent, MAC, learning); its MTU is
// changed in place.

import type { DataplaneMessage } from '../calc/diff.js';
import type { Vtep, VxlanSettings } from '../calc/types.js';
import type { Kernel, KernelAddress, KernelLink } from './kernel.js';
import type { TwoPhaseManager } from './manager.js';

export const VXLAN_DEVICE = 'vxlan.calico';
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD_V4 = 50;

export interface VxlanDeviceSpec {
  vni: number;
  port: number;
  local: string;
  parent: string;
  mac: string;
  mtu: number;
  tunnelAddress: string;
}

/** Why the existing device must be replaced, or undefined if it can stay. */
export function vxlanIncompatibility(link: KernelLink, want: VxlanDeviceSpec): string | undefined {
  if (link.kind !== 'vxlan' || !link.vxlan)
    return `it is a ${link.kind ?? 'plain'} device, not vxlan`;
  const v = link.vxlan;
  if (v.vni !== want.vni) return `VNI ${v.vni}, want ${want.vni}`;
  if (v.port !== want.port) return `port ${v.port}, want ${want.port}`;
  if (v.local !== want.local) return `local address ${v.local ?? 'none'}, want ${want.local}`;
  if (v.parent !== want.parent) return `parent ${v.parent ?? 'none'}, want ${want.parent}`;
  if (link.mac !== want.mac) return `MAC ${link.mac ?? 'none'}, want ${want.mac}`;
  if (v.learning) return 'learning is on';
  return undefined;
}

export function createDeviceLines(want: VxlanDeviceSpec): string[] {
  return [
    `link add name ${VXLAN_DEVICE} address ${want.mac} mtu ${want.mtu} type vxlan id ${want.vni} ` +
      `local ${want.local} dev ${want.parent} dstport ${want.port} nolearning`,
  ];
}

export class VxlanManager implements TwoPhaseManager {
  readonly name = 'vxlan';
  private settings: VxlanSettings | undefined;
  private readonly vteps = new Map<string, Vtep>();
  private work = true;
  private cleanup = true;
  /** The device as last programmed, for status. */
  device: VxlanDeviceSpec | undefined;

  constructor(private readonly kernel: Kernel) {}

  onUpdate(msg: DataplaneMessage): void {
    switch (msg.type) {
      case 'vxlan-settings':
        this.settings = msg.settings;
        break;
      case 'vtep-update':
        this.vteps.set(msg.vtep.node, msg.vtep);
        break;
      case 'vtep-remove':
        if (!this.vteps.delete(msg.node)) return;
        break;
      default:
        return;
    }
    this.work = true;
    this.cleanup = true;
  }

  resync(): void {
    this.work = true;
    this.cleanup = true;
  }

  get dirty(): boolean {
    return this.work || this.cleanup;
  }

  private wanted(): boolean {
    return this.settings?.enabled === true && this.settings.local !== undefined;
  }

  private async deviceSpec(
    links: KernelLink[],
    addrs: KernelAddress[],
  ): Promise<VxlanDeviceSpec | string> {
    const s = this.settings!;
    const local = s.local!;
    const holder = addrs.find(
      (a) => a.family === 4 && a.address === local.hostAddress && a.dev !== VXLAN_DEVICE,
    );
    if (!holder)
      return `no interface holds this host's address ${local.hostAddress}: cannot place ${VXLAN_DEVICE}`;
    const parent = links.find((l) => l.name === holder.dev);
    const mtu = s.mtu ?? (parent?.mtu ?? 1500) - VXLAN_OVERHEAD_V4;
    return {
      vni: s.vni,
      port: s.port,
      local: local.hostAddress,
      parent: holder.dev,
      mac: local.mac,
      mtu,
      tunnelAddress: local.tunnelAddress,
    };
  }

  async completeDeferredWork(): Promise<string[]> {
    if (!this.work) return [];
    if (!this.wanted()) {
      this.work = false;
      return [];
    }
    const [links, addrs] = await Promise.all([this.kernel.links(), this.kernel.addresses()]);
    const spec = await this.deviceSpec(links, addrs);
    if (typeof spec === 'string') return [spec];
    const ip: string[] = [];
    const existing = links.find((l) => l.name === VXLAN_DEVICE);
    let fresh = false;
    if (existing) {
      const why = vxlanIncompatibility(existing, spec);
      if (why) {
        ip.push(`link del dev ${VXLAN_DEVICE}`);
        fresh = true;
      }
    } else fresh = true;
    if (fresh) ip.push(...createDeviceLines(spec));
    else if (existing && existing.mtu !== spec.mtu)
      ip.push(`link set dev ${VXLAN_DEVICE} mtu ${spec.mtu}`);
    if (fresh || !existing?.up) ip.push(`link set dev ${VXLAN_DEVICE} up`);
    const onDevice = fresh ? [] : addrs.filter((a) => a.dev === VXLAN_DEVICE && a.family === 4);
    if (!onDevice.some((a) => a.address === spec.tunnelAddress && a.prefixLength === 32)) {
      ip.push(`addr replace ${spec.tunnelAddress}/32 dev ${VXLAN_DEVICE}`);
    }
    for (const a of onDevice) {
      if (a.address !== spec.tunnelAddress || a.prefixLength !== 32)
        ip.push(`addr del ${a.address}/${a.prefixLength} dev ${VXLAN_DEVICE}`);
    }
    const neighbours = fresh ? [] : await this.kernel.neighbours(VXLAN_DEVICE);
    const fdb = fresh ? [] : await this.kernel.fdb(VXLAN_DEVICE);
    const bridge: string[] = [];
    for (const v of this.vteps.values()) {
      const n = neighbours.find((x) => x.dst === v.tunnelAddress);
      if (!n || n.lladdr !== v.mac || !n.permanent) {
        ip.push(
          `neigh replace ${v.tunnelAddress} lladdr ${v.mac} dev ${VXLAN_DEVICE} nud permanent`,
        );
      }
      const f = fdb.find((x) => x.mac === v.mac && x.dst === v.hostAddress);
      if (!f || !f.permanent)
        bridge.push(`fdb replace ${v.mac} dev ${VXLAN_DEVICE} dst ${v.hostAddress} self permanent`);
    }
    const failures: string[] = [];
    if (ip.length > 0) {
      const outcome = await this.kernel.ip(ip);
      failures.push(...outcome.failures.map((f) => `${f.line}: ${f.error}`));
    }
    if (bridge.length > 0 && failures.length === 0) {
      const outcome = await this.kernel.bridge(bridge);
      failures.push(...outcome.failures.map((f) => `bridge ${f.line}: ${f.error}`));
    }
    this.device = spec;
    this.work = failures.length > 0;
    return failures;
  }

  async completeDeferredCleanup(): Promise<string[]> {
    if (!this.cleanup) return [];
    const failures: string[] = [];
    if (!this.wanted()) {
      if (this.kernel.linkExists(VXLAN_DEVICE)) {
        const outcome = await this.kernel.ip([`link del dev ${VXLAN_DEVICE}`]);
        failures.push(...outcome.failures.map((f) => `${f.line}: ${f.error}`));
      }
      this.device = undefined;
      this.cleanup = failures.length > 0;
      return failures;
    }
    if (!this.kernel.linkExists(VXLAN_DEVICE)) {
      this.cleanup = false;
      return [];
    }
    const [neighbours, fdb] = await Promise.all([
      this.kernel.neighbours(VXLAN_DEVICE),
      this.kernel.fdb(VXLAN_DEVICE),
    ]);
    const tunnels = new Set([...this.vteps.values()].map((v) => v.tunnelAddress));
    const entries = new Set([...this.vteps.values()].map((v) => `${v.mac} ${v.hostAddress}`));
    const ip = neighbours
      .filter((n) => !tunnels.has(n.dst))
      .map((n) => `neigh del ${n.dst} dev ${VXLAN_DEVICE}`);
    const bridge = fdb
      .filter((e) => e.dst !== undefined && !entries.has(`${e.mac} ${e.dst}`))
      .map((e) => `fdb del ${e.mac} dev ${VXLAN_DEVICE} dst ${e.dst} self`);
    if (ip.length > 0)
      failures.push(...(await this.kernel.ip(ip)).failures.map((f) => `${f.line}: ${f.error}`));
    if (bridge.length > 0)
      failures.push(
        ...(await this.kernel.bridge(bridge)).failures.map((f) => `bridge ${f.line}: ${f.error}`),
      );
    this.cleanup = failures.length > 0;
    return failures;
  }
}
