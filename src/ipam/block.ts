// The allocation block: a pool-aligned CIDR (a /26 or /122 by default) whose
// addresses are handed out by ordinal, in Calico's AllocationBlock layout.
//
// Invariants (checkInvariants verifies them):
// - allocations has one entry per address; an ordinal is either in
//   `unallocated` (exactly once) or has a non-null attribute index, never both.
// - every attribute index points into `attributes`, and every attribute is
//   referenced by at least one allocation (released ones are compacted away).
// - sequenceNumberForAllocation has an entry for exactly the allocated ordinals.
// - sequenceNumber grows with every write, so an allocation's sequence number
//   identifies it: the same address re-allocated later gets a different one.
//
// Everything here is pure: the allocator decodes a stored block, mutates a
// copy, and writes it back with compare-and-swap.

import { randomBytes } from 'node:crypto';
import {
  addressAt,
  cidrContainsAddress,
  cidrSize,
  formatCidr,
  formatIP,
  offsetOf,
  parseCidr,
  type Cidr,
  type IPAddress,
} from '../model/cidr.js';
import { AddressInUseError, CorruptDataError } from './errors.js';
import { isRecord, parseJsonExact, toBigInt } from './json.js';

/** Attribute keys Calico and Tortie put in `secondary`. */
export const ATTR_NODE = 'node';
export const ATTR_TIMESTAMP = 'timestamp';
export const ATTR_NAMESPACE = 'namespace';
export const ATTR_POD = 'pod';
export const ATTR_TYPE = 'type';
/** Tortie: the owner of the address, e.g. "WorkloadEndpoint:ns/name" (optional). */
export const ATTR_OWNER = 'owner';

/** Calico's "affinity" value for a host: "host:<node>". */
export function hostAffinity(node: string): string {
  return `host:${node}`;
}

export function affinityHost(affinity: string | null | undefined): string | null {
  return affinity && affinity.startsWith('host:') ? affinity.slice('host:'.length) : null;
}

export interface AllocationAttribute {
  handle_id: string | null;
  secondary: Record<string, string> | null;
}

/** One in-use address of a block, as seen by readers. */
export interface BlockAllocation {
  ordinal: number;
  address: IPAddress;
  handle: string | null;
  attrs: Record<string, string>;
  sequenceNumber: bigint;
}

export interface ReleaseRequest {
  ordinal: number;
  /** Release only if the address is still held by this handle. */
  handle?: string;
  /** Release only if the allocation still has this sequence number. */
  sequenceNumber?: bigint;
}

export interface ReleaseOutcome {
  released: number[];
  notAllocated: number[];
  /** Held, but by another handle or a newer allocation than requested: left alone. */
  mismatched: number[];
  /** Released addresses per handle (allocations without a handle are not counted). */
  countsByHandle: Map<string, number>;
}

const KNOWN_FIELDS = new Set([
  'cidr',
  'affinity',
  'strictAffinity',
  'allocations',
  'unallocated',
  'attributes',
  'sequenceNumber',
  'sequenceNumberForAllocation',
  'deleted',
]);

function sameSecondary(
  a: Record<string, string> | null,
  b: Record<string, string> | null,
): boolean {
  const ak = a ? Object.keys(a) : [];
  const bk = b ? Object.keys(b) : [];
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (a![k] !== b?.[k]) return false;
  return true;
}

/** Stands in for a bigint during JSON.stringify; random per process, checked per use. */
const BIG_MARKER = `@@big${randomBytes(8).toString('hex')}@@`;

/** A fresh sequence number seed: wall-clock nanoseconds, as Calico does. */
export function initialSequenceNumber(nowMs = Date.now()): bigint {
  return BigInt(nowMs) * 1_000_000n + BigInt(randomBytes(2).readUInt16BE(0) % 1_000_000);
}

export class AllocationBlock {
  affinity: string | null = null;
  strictAffinity = false;
  allocations: (number | null)[];
  unallocated: number[];
  attributes: AllocationAttribute[] = [];
  sequenceNumber: bigint;
  sequenceNumberForAllocation = new Map<number, bigint>();
  deleted = false;
  /** Fields we do not model, kept so a write does not drop another writer's data. */
  extra: Record<string, unknown> = {};

  private constructor(
    readonly cidr: Cidr,
    sequenceNumber: bigint,
  ) {
    const size = Number(cidrSize(cidr));
    if (size > 1 << 16) {
      throw new RangeError(`block ${formatCidr(cidr)} is too large (${size} addresses)`);
    }
    this.allocations = new Array<number | null>(size).fill(null);
    this.unallocated = Array.from({ length: size }, (_, i) => i);
    this.sequenceNumber = sequenceNumber;
  }

  /** A new, empty block, optionally affine to a node. */
  static create(
    cidr: Cidr,
    opts: { node?: string; strictAffinity?: boolean; sequenceNumber?: bigint } = {},
  ): AllocationBlock {
    const b = new AllocationBlock(cidr, opts.sequenceNumber ?? initialSequenceNumber());
    b.affinity = opts.node === undefined ? null : hostAffinity(opts.node);
    b.strictAffinity = opts.strictAffinity ?? false;
    return b;
  }

  get size(): number {
    return this.allocations.length;
  }

  /** The node named by the affinity, or null for a block without one. */
  get host(): string | null {
    return affinityHost(this.affinity);
  }

  contains(address: IPAddress): boolean {
    return cidrContainsAddress(this.cidr, address);
  }

  ordinalOf(address: IPAddress): number {
    return Number(offsetOf(this.cidr, address));
  }

  addressOf(ordinal: number): IPAddress {
    return addressAt(this.cidr, BigInt(ordinal));
  }

  isAllocated(ordinal: number): boolean {
    return this.allocations[ordinal] != null;
  }

  attributeOf(ordinal: number): AllocationAttribute | undefined {
    const idx = this.allocations[ordinal];
    return idx == null ? undefined : this.attributes[idx];
  }

  handleOf(ordinal: number): string | null {
    return this.attributeOf(ordinal)?.handle_id ?? null;
  }

  inUseCount(): number {
    let n = 0;
    for (const a of this.allocations) if (a != null) n++;
    return n;
  }

  isEmpty(): boolean {
    return this.inUseCount() === 0;
  }

  /** Free addresses, not counting those `isReserved` excludes. */
  freeCount(isReserved?: (address: IPAddress) => boolean): number {
    if (!isReserved) return this.unallocated.length;
    let n = 0;
    for (const o of this.unallocated) if (!isReserved(this.addressOf(o))) n++;
    return n;
  }

  allocationList(): BlockAllocation[] {
    const out: BlockAllocation[] = [];
    for (let o = 0; o < this.allocations.length; o++) {
      const idx = this.allocations[o];
      if (idx == null) continue;
      const attr = this.attributes[idx];
      out.push({
        ordinal: o,
        address: this.addressOf(o),
        handle: attr?.handle_id ?? null,
        attrs: { ...(attr?.secondary ?? {}) },
        sequenceNumber: this.sequenceNumberForAllocation.get(o) ?? 0n,
      });
    }
    return out;
  }

  /** Number of addresses held by each handle (null: allocations without a handle). */
  countsByHandle(): Map<string | null, number> {
    const counts = new Map<string | null, number>();
    for (const idx of this.allocations) {
      if (idx == null) continue;
      const h = this.attributes[idx]?.handle_id ?? null;
      counts.set(h, (counts.get(h) ?? 0) + 1);
    }
    return counts;
  }

  private findOrAddAttribute(handle: string | null, secondary: Record<string, string>): number {
    const sec = Object.keys(secondary).length === 0 ? null : { ...secondary };
    const i = this.attributes.findIndex(
      (a) => a.handle_id === handle && sameSecondary(a.secondary, sec),
    );
    if (i !== -1) return i;
    this.attributes.push({ handle_id: handle, secondary: sec });
    return this.attributes.length - 1;
  }

  /**
   * Takes up to `num` free addresses, first from the front of `unallocated`
   * (released addresses go to the back, so reuse is as late as possible),
   * skipping reserved ones. Returns what it took; fewer than `num` if full.
   */
  autoAssign(
    num: number,
    handle: string | null,
    secondary: Record<string, string>,
    isReserved?: (address: IPAddress) => boolean,
  ): IPAddress[] {
    const taken: IPAddress[] = [];
    const kept: number[] = [];
    let attrIdx: number | undefined;
    let i = 0;
    for (; i < this.unallocated.length && taken.length < num; i++) {
      const o = this.unallocated[i]!;
      const address = this.addressOf(o);
      if (isReserved?.(address)) {
        kept.push(o);
        continue;
      }
      attrIdx ??= this.findOrAddAttribute(handle, secondary);
      this.allocations[o] = attrIdx;
      this.sequenceNumberForAllocation.set(o, this.sequenceNumber);
      taken.push(address);
    }
    this.unallocated = kept.concat(this.unallocated.slice(i));
    return taken;
  }

  /** Takes one specific address; AddressInUseError if it is held. */
  assign(ordinal: number, handle: string | null, secondary: Record<string, string>): void {
    if (ordinal < 0 || ordinal >= this.size || !Number.isInteger(ordinal)) {
      throw new RangeError(`ordinal ${ordinal} is outside block ${formatCidr(this.cidr)}`);
    }
    if (this.allocations[ordinal] != null) {
      throw new AddressInUseError(formatIP(this.addressOf(ordinal)), this.handleOf(ordinal));
    }
    this.allocations[ordinal] = this.findOrAddAttribute(handle, secondary);
    this.sequenceNumberForAllocation.set(ordinal, this.sequenceNumber);
    const at = this.unallocated.indexOf(ordinal);
    if (at !== -1) this.unallocated.splice(at, 1);
  }

  /** Releases the given ordinals that are held (and match handle / sequence number if given). */
  release(requests: ReleaseRequest[]): ReleaseOutcome {
    const outcome: ReleaseOutcome = {
      released: [],
      notAllocated: [],
      mismatched: [],
      countsByHandle: new Map(),
    };
    const seen = new Set<number>();
    for (const r of requests) {
      if (seen.has(r.ordinal)) continue;
      seen.add(r.ordinal);
      const idx = this.allocations[r.ordinal];
      if (idx == null) {
        outcome.notAllocated.push(r.ordinal);
        continue;
      }
      const handle = this.attributes[idx]?.handle_id ?? null;
      const seq = this.sequenceNumberForAllocation.get(r.ordinal) ?? 0n;
      if (
        (r.handle !== undefined && r.handle !== handle) ||
        (r.sequenceNumber !== undefined && r.sequenceNumber !== seq)
      ) {
        outcome.mismatched.push(r.ordinal);
        continue;
      }
      outcome.released.push(r.ordinal);
      if (handle !== null) {
        outcome.countsByHandle.set(handle, (outcome.countsByHandle.get(handle) ?? 0) + 1);
      }
    }
    for (const o of outcome.released) {
      this.allocations[o] = null;
      this.unallocated.push(o);
      this.sequenceNumberForAllocation.delete(o);
    }
    if (outcome.released.length > 0) this.compactAttributes();
    return outcome;
  }

  /** Releases every address of a handle; returns the ordinals released. */
  releaseByHandle(handle: string): number[] {
    const ordinals: number[] = [];
    for (let o = 0; o < this.allocations.length; o++) {
      const idx = this.allocations[o];
      if (idx != null && this.attributes[idx]?.handle_id === handle) ordinals.push(o);
    }
    return this.release(ordinals.map((ordinal) => ({ ordinal }))).released;
  }

  /** Drops attributes no allocation refers to and renumbers the rest. */
  private compactAttributes(): void {
    const used = new Array<boolean>(this.attributes.length).fill(false);
    for (const idx of this.allocations) if (idx != null) used[idx] = true;
    if (used.every(Boolean)) return;
    const remap = new Array<number>(this.attributes.length).fill(-1);
    const kept: AllocationAttribute[] = [];
    this.attributes.forEach((a, i) => {
      if (used[i]) {
        remap[i] = kept.length;
        kept.push(a);
      }
    });
    this.attributes = kept;
    this.allocations = this.allocations.map((idx) => (idx == null ? null : remap[idx]!));
  }

  /** Every write of a block bumps its sequence number (call once per write). */
  bumpSequence(): void {
    this.sequenceNumber += 1n;
  }

  /** Violations of the block invariants, empty when consistent. */
  checkInvariants(): string[] {
    const problems: string[] = [];
    const name = formatCidr(this.cidr);
    if (this.allocations.length !== Number(cidrSize(this.cidr))) {
      problems.push(
        `${name}: ${this.allocations.length} allocation slots for a block of ${cidrSize(this.cidr)}`,
      );
    }
    const inUnallocated = new Set<number>();
    for (const o of this.unallocated) {
      if (!Number.isInteger(o) || o < 0 || o >= this.allocations.length) {
        problems.push(`${name}: unallocated ordinal ${o} is out of range`);
      } else if (inUnallocated.has(o)) {
        problems.push(`${name}: ordinal ${o} is listed twice as unallocated`);
      }
      inUnallocated.add(o);
    }
    const referenced = new Set<number>();
    this.allocations.forEach((idx, o) => {
      const free = inUnallocated.has(o);
      if (idx == null && !free)
        problems.push(`${name}: ordinal ${o} is neither allocated nor free`);
      if (idx != null && free) problems.push(`${name}: ordinal ${o} is both allocated and free`);
      if (idx != null) {
        if (idx < 0 || idx >= this.attributes.length) {
          problems.push(`${name}: ordinal ${o} points at missing attribute ${idx}`);
        }
        referenced.add(idx);
        if (!this.sequenceNumberForAllocation.has(o)) {
          problems.push(`${name}: ordinal ${o} has no sequence number`);
        }
      }
    });
    this.attributes.forEach((_, i) => {
      if (!referenced.has(i)) problems.push(`${name}: attribute ${i} is not referenced`);
    });
    for (const o of this.sequenceNumberForAllocation.keys()) {
      if (this.allocations[o] == null) {
        problems.push(`${name}: free ordinal ${o} has a sequence number`);
      }
    }
    return problems;
  }

  clone(): AllocationBlock {
    const b = new AllocationBlock(this.cidr, this.sequenceNumber);
    b.affinity = this.affinity;
    b.strictAffinity = this.strictAffinity;
    b.allocations = this.allocations.slice();
    b.unallocated = this.unallocated.slice();
    b.attributes = this.attributes.map((a) => ({
      handle_id: a.handle_id,
      secondary: a.secondary ? { ...a.secondary } : null,
    }));
    b.sequenceNumberForAllocation = new Map(this.sequenceNumberForAllocation);
    b.deleted = this.deleted;
    b.extra = structuredClone(this.extra);
    return b;
  }

  // -------------------------------------------------------------------------
  // JSON codec (Calico's AllocationBlock shape)

  encode(): string {
    let marker = BIG_MARKER;
    if (this.attributes.some((a) => JSON.stringify(a).includes(marker))) {
      marker = `@@big${randomBytes(8).toString('hex')}@@`;
    }
    const big = (n: bigint) => `${marker}${n}`;
    const seqMap: Record<string, string> = {};
    for (const [o, s] of [...this.sequenceNumberForAllocation].sort((a, b) => a[0] - b[0])) {
      seqMap[String(o)] = big(s);
    }
    const obj: Record<string, unknown> = {
      cidr: formatCidr(this.cidr),
      affinity: this.affinity,
      strictAffinity: this.strictAffinity,
      allocations: this.allocations,
      unallocated: this.unallocated,
      attributes: this.attributes,
      sequenceNumber: big(this.sequenceNumber),
      sequenceNumberForAllocation: seqMap,
      deleted: this.deleted,
    };
    for (const [k, v] of Object.entries(this.extra)) if (!KNOWN_FIELDS.has(k)) obj[k] = v;
    return JSON.stringify(obj).replace(new RegExp(`"${marker}(\\d+)"`, 'g'), '$1');
  }

  /** Decodes a stored block; `expected` (from the key) must match its cidr if given. */
  static decode(text: string, expected?: Cidr): AllocationBlock {
    let raw: unknown;
    try {
      raw = parseJsonExact(text);
    } catch (err) {
      throw new CorruptDataError(`block value is not JSON: ${(err as Error).message}`);
    }
    if (!isRecord(raw) || typeof raw.cidr !== 'string') {
      throw new CorruptDataError('block value has no cidr');
    }
    let cidr: Cidr;
    try {
      cidr = parseCidr(raw.cidr);
    } catch {
      throw new CorruptDataError(`block has an invalid cidr ${JSON.stringify(raw.cidr)}`);
    }
    if (expected && formatCidr(expected) !== formatCidr(cidr)) {
      throw new CorruptDataError(
        `block stored at ${formatCidr(expected)} claims cidr ${formatCidr(cidr)}`,
      );
    }
    const b = new AllocationBlock(cidr, toBigInt(raw.sequenceNumber, 'sequenceNumber'));
    const affinity = raw.affinity ?? raw.hostAffinity;
    b.affinity =
      typeof affinity === 'string'
        ? raw.affinity === undefined || raw.affinity === null
          ? hostAffinity(affinity) // legacy hostAffinity holds a bare node name
          : affinity
        : null;
    b.strictAffinity = raw.strictAffinity === true;
    b.deleted = raw.deleted === true;
    const allocations = Array.isArray(raw.allocations) ? raw.allocations : [];
    if (allocations.length !== b.size) {
      throw new CorruptDataError(
        `block ${raw.cidr} has ${allocations.length} allocation slots, expected ${b.size}`,
      );
    }
    b.allocations = allocations.map((a) => (typeof a === 'number' ? a : null));
    b.unallocated = Array.isArray(raw.unallocated)
      ? raw.unallocated.filter((o): o is number => typeof o === 'number')
      : [];
    b.attributes = (Array.isArray(raw.attributes) ? raw.attributes : []).map((a) => {
      const rec = isRecord(a) ? a : {};
      const sec = isRecord(rec.secondary) ? rec.secondary : null;
      return {
        handle_id: typeof rec.handle_id === 'string' ? rec.handle_id : null,
        secondary: sec
          ? Object.fromEntries(Object.entries(sec).map(([k, v]) => [k, String(v)]))
          : null,
      };
    });
    if (isRecord(raw.sequenceNumberForAllocation)) {
      for (const [k, v] of Object.entries(raw.sequenceNumberForAllocation)) {
        b.sequenceNumberForAllocation.set(
          Number(k),
          toBigInt(v, `sequenceNumberForAllocation.${k}`),
        );
      }
    }
    for (const [k, v] of Object.entries(raw)) if (!KNOWN_FIELDS.has(k)) b.extra[k] = v;
    delete b.extra.hostAffinity; // folded into affinity
    return b;
  }
}
