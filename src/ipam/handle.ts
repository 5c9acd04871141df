// The IPAM handle: one record per allocating party (a container, a tunnel),
// counting how many of its addresses sit in each block, so that release by
// handle goes straight to the right blocks. Calico's IPAMHandle shape:
//   {"block": {"10.0.0.0/26": 2}, "deleted": false}

import { formatCidr, type Cidr } from '../model/cidr.js';
import { CorruptDataError } from './errors.js';
import { isRecord } from './json.js';

export class IpamHandle {
  constructor(
    readonly id: string,
    /** Block CIDR text ("10.0.0.0/26") -> number of this handle's addresses in it. */
    readonly blocks: Map<string, number> = new Map(),
    public deleted = false,
    readonly extra: Record<string, unknown> = {},
  ) {}

  total(): number {
    let n = 0;
    for (const c of this.blocks.values()) n += c;
    return n;
  }

  isEmpty(): boolean {
    return this.total() === 0;
  }

  /** Adds `delta` (may be negative) to the block's count, dropping it at zero. */
  adjust(block: Cidr | string, delta: number): void {
    const key = typeof block === 'string' ? block : formatCidr(block);
    const next = (this.blocks.get(key) ?? 0) + delta;
    if (next <= 0) this.blocks.delete(key);
    else this.blocks.set(key, next);
  }

  set(block: Cidr | string, count: number): void {
    const key = typeof block === 'string' ? block : formatCidr(block);
    if (count <= 0) this.blocks.delete(key);
    else this.blocks.set(key, count);
  }

  clone(): IpamHandle {
    return new IpamHandle(this.id, new Map(this.blocks), this.deleted, structuredClone(this.extra));
  }

  encode(): string {
    const block: Record<string, number> = {};
    for (const [k, v] of [...this.blocks].sort((a, b) => (a[0] < b[0] ? -1 : 1))) block[k] = v;
    return JSON.stringify({ ...this.extra, block, deleted: this.deleted });
  }

  static decode(id: string, text: string): IpamHandle {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new CorruptDataError(`handle ${id} is not JSON: ${(err as Error).message}`);
    }
    if (!isRecord(raw)) throw new CorruptDataError(`handle ${id} is not an object`);
    const blocks = new Map<string, number>();
    if (isRecord(raw.block)) {
      for (const [k, v] of Object.entries(raw.block)) {
        if (typeof v === 'number' && v > 0) blocks.set(k, v);
      }
    }
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) if (k !== 'block' && k !== 'deleted') extra[k] = v;
    return new IpamHandle(id, blocks, raw.deleted === true, extra);
  }
}

/** Handles that Calico (and Tortie) give to node tunnel addresses. */
export const TUNNEL_HANDLE_PREFIXES = [
  'ipip-tunnel-addr-',
  'vxlan-tunnel-addr-',
  'vxlan-v6-tunnel-addr-',
  'wireguard-tunnel-addr-',
  'wireguard-v6-tunnel-addr-',
] as const;

/** The node a tunnel handle belongs to, or undefined for other handles. */
export function tunnelHandleNode(handle: string): string | undefined {
  for (const p of TUNNEL_HANDLE_PREFIXES) {
    if (handle.startsWith(p) && handle.length > p.length) return handle.slice(p.length);
  }
  return undefined;
}

/** Calico's reserved handle for Windows block addresses; never a leak. */
export const WINDOWS_RESERVED_HANDLE = 'windows-reserved-ipam-handle';

/**
 * The container ID a workload handle names. Calico's CNI plugin uses
 * "<network name>.<container ID>"; a bare container ID is accepted too.
 */
export function handleContainerId(handle: string): string {
  const dot = handle.lastIndexOf('.');
  return dot === -1 ? handle : handle.slice(dot + 1);
}

/** The handle Tortie's CNI plugin uses for a container on a network. */
export function workloadHandle(networkName: string, containerId: string): string {
  return `${networkName}.${containerId}`;
}
