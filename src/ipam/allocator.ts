// The allocator: auto-assign, assign a specific address, release by address
// and by handle, release a node's blocks, configuration, and read-only views.
//
// Write protocol (Calico's): to take addresses from a block, first add them to
// the handle's per-block count, then CAS-write the block. To give them back,
// CAS-write the block, then subtract from the handle. A process that dies in
// between leaves a handle that counts more than the blocks hold, never an
// address that no handle accounts for; `ipam check` reports and repairs it.
//
// Round trips: a node's affinity list and its blocks are cached in the Ipam
// object, and a CAS conflict returns the current value, so a steady-state
// allocation is one handle write plus one block write. The cached block is
// only a guess: the CAS on its revision is what makes the write safe.

import {
  cidrContainsAddress,
  cidrContainsCidr,
  cidrSize,
  formatCidr,
  formatIP,
  parseCidr,
  subnetContaining,
  tryParseIP,
  type Cidr,
  type IPAddress,
  type IPFamily,
} from '../model/cidr.js';
import { ConflictError, NotFoundError, type Datastore } from '../datastore/types.js';
import {
  candidateBlocks,
  claimBlock,
  releaseBlockAffinity,
  settleAffinity,
  wholeBlockReserved,
  type ReleaseAffinityOutcome,
} from './affinity.js';
import {
  ATTR_NODE,
  ATTR_TIMESTAMP,
  ATTR_TYPE,
  AllocationBlock,
  hostAffinity,
  type ReleaseRequest,
} from './block.js';
import {
  AddressOutsidePoolsError,
  AffinityConflictError,
  BlockLimitError,
  ContentionError,
  InvalidRequestError,
  NoMatchingPoolError,
  NoPoolsError,
  PoolDisabledError,
  PoolExhaustedError,
  ReservedAddressError,
  UnknownNodeError,
  UnknownPoolError,
} from './errors.js';
import { IpamHandle, tunnelHandleNode } from './handle.js';
import {
  CachedInputs,
  DatastoreInputs,
  readIpamConfig,
  writeIpamConfig,
  type IpamConfig,
  type IpamInputs,
  type IpamUse,
  type PoolInfo,
  type ReservationInfo,
} from './inputs.js';
import {
  affinitiesPrefix,
  blockKey,
  blocksPrefix,
  checkHandleId,
  checkNodeName,
  handleKey,
  parseBlockKey,
} from './keys.js';
import {
  MAX_CAS_RETRIES,
  casBlock,
  decodeAffinityKv,
  decodeBlockKv,
  readBlock,
  readHandle,
  updateHandle,
  type StoredAffinity,
  type StoredBlock,
  type StoredHandle,
} from './store.js';

export interface IpamOptions {
  /** Where pools, reservations, nodes and config come from (default: the datastore). */
  inputs?: IpamInputs;
  /** How long pools, reservations, node labels and config are cached (default 2000 ms). */
  cacheTtlMs?: number;
  /** Refuse to assign for a node without a Node resource (default true). */
  requireNode?: boolean;
  /** Clock for allocation timestamps. */
  now?: () => Date;
}

export interface AutoAssignArgs {
  handle: string;
  node: string;
  num4?: number;
  num6?: number;
  /** Extra attributes stored with the allocation (node and timestamp are added). */
  attrs?: Record<string, string>;
  /** Only these pools (names or CIDRs); their nodeSelectors are not applied, as in Calico. */
  pools4?: string[];
  pools6?: string[];
  use?: IpamUse;
  /** A per-request block limit; the stricter of it and the configured one applies. */
  maxBlocksPerHost?: number;
}

export interface AutoAssignResult {
  ipv4: string[];
  ipv6: string[];
}

export interface AssignIPArgs {
  ip: string;
  handle: string;
  node: string;
  attrs?: Record<string, string>;
}

export type ReleaseItem = string | { ip: string; handle?: string; sequenceNumber?: bigint };

export interface ReleaseResult {
  released: string[];
  /** Not allocated (already free, or in no block): releasing is idempotent. */
  notAllocated: string[];
  /** Held by another handle or a newer allocation than the request named: left alone. */
  mismatched: string[];
}

export interface HolderInfo {
  address: string;
  pool: string | null;
  block: string | null;
  /** The node the block is affine to. */
  blockNode: string | null;
  allocated: boolean;
  handle: string | null;
  attrs: Record<string, string>;
  sequenceNumber: string | null;
}

export interface PoolUsage {
  name: string;
  cidr: string;
  disabled: boolean;
  size: bigint;
  inUse: number;
  free: bigint;
  blocks: number;
}

export interface BlockUsage {
  cidr: string;
  pool: string | null;
  node: string | null;
  size: number;
  inUse: number;
  free: number;
}

export interface BorrowedAddress {
  address: string;
  borrowingNode: string | null;
  block: string;
  blockNode: string | null;
  type: string;
  handle: string | null;
}

export interface IpamUsage {
  pools: PoolUsage[];
  blocks: BlockUsage[];
  borrowed: BorrowedAddress[];
}

export interface ReleaseAffinitiesResult {
  released: string[];
  kept: { cidr: string; reason: ReleaseAffinityOutcome }[];
}

interface AffineEntry {
  aff: StoredAffinity | undefined;
}

/** Bounded map: the oldest entries go first. */
class LruMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }
  override set(key: K, value: V): this {
    super.delete(key);
    super.set(key, value);
    if (this.size > this.limit) {
      const oldest = this.keys().next();
      if (!oldest.done) super.delete(oldest.value);
    }
    return this;
  }
}

interface AffineCache {
  loaded: boolean;
  blocks: Map<string, AffineEntry>;
}

/** Reservation lookup for one family. */
class Reservations {
  readonly cidrs: Cidr[];
  constructor(private readonly list: ReservationInfo[]) {
    this.cidrs = list.flatMap((r) => r.cidrs);
  }
  find(address: IPAddress): { name: string; cidr: Cidr } | undefined {
    for (const r of this.list) {
      for (const c of r.cidrs)
        if (cidrContainsAddress(c, address)) return { name: r.name, cidr: c };
    }
    return undefined;
  }
  /** undefined when nothing is reserved (so blocks need not test each address). */
  get isReserved(): ((address: IPAddress) => boolean) | undefined {
    if (this.cidrs.length === 0) return undefined;
    return (address: IPAddress) => this.cidrs.some((c) => cidrContainsAddress(c, address));
  }
}

/**
 * Tracks a handle's count while one request writes blocks: the handle is
 * incremented before each block write ("credit"), the write consumes it, and
 * `settle` gives back whatever was incremented but not written.
 */
class HandleWriter {
  private readonly credit = new Map<string, number>();

  constructor(
    private readonly ds: Datastore,
    readonly id: string,
    private readonly cache: LruMap<string, StoredHandle | null>,
  ) {}

  /** Last known record: undefined if never seen (a create is tried first). */
  private get stored(): StoredHandle | null | undefined {
    return this.cache.get(this.id);
  }
  private set stored(value: StoredHandle | null | undefined) {
    if (value === undefined) this.cache.delete(this.id);
    else this.cache.set(this.id, value);
  }

  async ensure(block: Cidr, n: number): Promise<void> {
    const key = formatCidr(block);
    const have = this.credit.get(key) ?? 0;
    if (have >= n) return;
    const delta = n - have;
    this.stored = await updateHandle(this.ds, this.id, (h) => h.adjust(key, delta), this.stored);
    this.credit.set(key, n);
  }

  consume(block: Cidr, n: number): void {
    const key = formatCidr(block);
    this.credit.set(key, (this.credit.get(key) ?? 0) - n);
  }

  async settle(): Promise<void> {
    const unused = [...this.credit].filter(([, n]) => n > 0);
    this.credit.clear();
    if (unused.length === 0) return;
    this.stored = await updateHandle(
      this.ds,
      this.id,
      (h) => {
        for (const [k, n] of unused) h.adjust(k, -n);
      },
      this.stored,
    );
  }
}

function checkCount(name: string, n: number | undefined): number {
  const v = n ?? 0;
  if (!Number.isInteger(v) || v < 0) {
    throw new InvalidRequestError(`${name} must be a non-negative integer, got ${n}`);
  }
  return v;
}

function checkName(kind: 'handle' | 'node', value: string): void {
  try {
    if (kind === 'handle') checkHandleId(value);
    else checkNodeName(value);
  } catch (err) {
    throw new InvalidRequestError((err as Error).message);
  }
}

/** Sleeps a random 0..min(2^attempt, 32) ms. */
function jitter(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(2 ** attempt, 32);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tryParseCidrText(text: string): Cidr | undefined {
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

function parseAddress(text: string): IPAddress {
  const address = tryParseIP(text.includes('/') ? text.slice(0, text.indexOf('/')) : text);
  if (!address) throw new InvalidRequestError(`"${text}" is not an IP address`);
  return address;
}

export class Ipam {
  readonly inputs: IpamInputs;
  private readonly cachedInputs: CachedInputs;
  private readonly requireNode: boolean;
  private readonly now: () => Date;
  private readonly affine = new Map<string, AffineCache>();
  /**
   * Last known blocks and handle records. Only ever a guess: every write is a
   * CAS on the cached revision (a stale guess costs one failed write, which
   * returns the current value), and a guess that would lead to no write is
   * re-read before it is believed.
   */
  private readonly blocks = new LruMap<string, StoredBlock>(4096);
  private readonly handles = new LruMap<string, StoredHandle | null>(16384);

  constructor(
    readonly ds: Datastore,
    opts: IpamOptions = {},
  ) {
    this.cachedInputs = new CachedInputs(opts.inputs ?? new DatastoreInputs(ds), opts.cacheTtlMs);
    this.inputs = this.cachedInputs;
    this.requireNode = opts.requireNode ?? true;
    this.now = opts.now ?? (() => new Date());
  }

  /** Forget cached pools, reservations, labels, config and blocks. */
  invalidate(): void {
    this.cachedInputs.invalidate();
    this.affine.clear();
    this.blocks.clear();
    this.handles.clear();
  }

  private remember(cidr: Cidr, stored: StoredBlock | undefined): StoredBlock | undefined {
    if (stored) this.blocks.set(formatCidr(cidr), stored);
    else this.blocks.delete(formatCidr(cidr));
    return stored;
  }

  private async fresh(cidr: Cidr): Promise<StoredBlock | undefined> {
    return this.remember(cidr, await readBlock(this.ds, cidr));
  }

  // -------------------------------------------------------------------------
  // Configuration

  async getConfig(): Promise<IpamConfig> {
    return (await readIpamConfig(this.ds)).config;
  }

  async setConfig(patch: Partial<IpamConfig>): Promise<IpamConfig> {
    if (patch.maxBlocksPerHost !== undefined) {
      checkCount('maxBlocksPerHost', patch.maxBlocksPerHost);
    }
    const config = await writeIpamConfig(this.ds, patch);
    this.cachedInputs.invalidate();
    return config;
  }

  // -------------------------------------------------------------------------
  // Pool selection

  private async nodeLabels(node: string): Promise<Record<string, string>> {
    const info = await this.inputs.node(node);
    if (!info) {
      if (this.requireNode) throw new UnknownNodeError(node);
      return {};
    }
    return info.labels;
  }

  /** The pools an auto-assignment may use; every bad-input error is raised here. */
  private async usablePools(
    family: IPFamily,
    node: string,
    use: IpamUse,
    requested: string[] | undefined,
  ): Promise<PoolInfo[]> {
    const all = (await this.inputs.pools()).filter((p) => p.cidr.family === family);
    if (requested && requested.length > 0) {
      return requested.map((r) => {
        const p = all.find((x) => x.name === r || formatCidr(x.cidr) === r);
        if (!p) throw new UnknownPoolError(`IPv${family} pool "${r}" does not exist`);
        if (p.disabled) throw new UnknownPoolError(`IPv${family} pool "${r}" is disabled`);
        if (!p.allowedUses.includes(use)) {
          throw new UnknownPoolError(
            `IPv${family} pool "${r}" does not allow use "${use}" (allowedUses: ${p.allowedUses.join(', ')})`,
          );
        }
        return p;
      });
    }
    const enabled = all.filter((p) => !p.disabled);
    if (enabled.length === 0) throw new NoPoolsError(family);
    const labels = await this.nodeLabels(node);
    const automatic = enabled.filter((p) => p.assignmentMode !== 'Manual');
    if (automatic.length === 0) {
      throw new NoMatchingPoolError(family, node, 'every enabled pool has assignmentMode Manual');
    }
    const selecting = automatic.filter((p) => p.nodeSelector.matches(labels));
    if (selecting.length === 0) {
      const which = automatic.map((p) => `${p.name} (${p.nodeSelector.source})`).join(', ');
      throw new NoMatchingPoolError(
        family,
        node,
        `no pool's nodeSelector matches its labels ${JSON.stringify(labels)}; pools: ${which}`,
      );
    }
    const usable = selecting.filter((p) => p.allowedUses.includes(use));
    if (usable.length === 0) {
      throw new NoMatchingPoolError(
        family,
        node,
        `the pools selecting it (${selecting.map((p) => p.name).join(', ')}) do not allow use "${use}"`,
      );
    }
    return usable;
  }

  private async reservations(family: IPFamily): Promise<Reservations> {
    const list = await this.inputs.reservations();
    return new Reservations(
      list.map((r) => ({ name: r.name, cidrs: r.cidrs.filter((c) => c.family === family) })),
    );
  }

  // -------------------------------------------------------------------------
  // The node's affine blocks (cached)

  private async affineBlocks(
    node: string,
    family: IPFamily,
    refresh: boolean,
  ): Promise<AffineCache> {
    const key = `${node}\u0000${family}`;
    let cache = this.affine.get(key);
    if (!cache) {
      cache = { loaded: false, blocks: new Map() };
      this.affine.set(key, cache);
    }
    if (!cache.loaded || refresh) {
      const { items } = await this.ds.list(affinitiesPrefix(node, family));
      const next = new Map<string, AffineEntry>();
      for (const kv of items) {
        const aff = decodeAffinityKv(kv);
        if (!aff) continue;
        const k = formatCidr(aff.cidr);
        next.set(k, { aff });
        if (refresh) this.blocks.delete(k);
      }
      cache.blocks = next;
      cache.loaded = true;
    }
    return cache;
  }

  /**
   * Re-reads the node's view in two requests: its affinity keys, and every
   * block of the family (the latter is what claiming needs anyway). Blocks
   * naming the node join the cache, affinity key or not. Returns the keys of
   * the existing blocks.
   */
  private async refreshNode(node: string, family: IPFamily): Promise<Set<string>> {
    const cache = await this.affineBlocks(node, family, false);
    const affs = await this.ds.list(affinitiesPrefix(node, family));
    const blocks = await this.ds.list(blocksPrefix(family));
    const next = new Map<string, AffineEntry>();
    for (const kv of affs.items) {
      const aff = decodeAffinityKv(kv);
      if (aff) next.set(formatCidr(aff.cidr), { aff });
    }
    const existing = new Set<string>();
    const mine = `"affinity":${JSON.stringify(hostAffinity(node))}`;
    for (const kv of blocks.items) {
      existing.add(kv.key);
      if (!kv.value.includes(mine)) continue;
      const cidr = parseBlockKey(kv.key);
      if (!cidr) continue;
      const k = formatCidr(cidr);
      if (this.blocks.get(k)?.modRevision !== kv.modRevision)
        this.remember(cidr, decodeBlockKv(kv));
      if (!next.has(k)) next.set(k, { aff: undefined });
    }
    // Cached blocks that no longer exist must not be believed.
    for (const [k, entry] of next) {
      if (entry.aff && !existing.has(blockKey(entry.aff.cidr))) this.blocks.delete(k);
    }
    cache.blocks = next;
    cache.loaded = true;
    return existing;
  }

  /** The block behind an affine entry, settling unfinished claims; undefined if not ours. */
  private async loadAffine(
    node: string,
    cidr: Cidr,
    entry: AffineEntry,
    config: IpamConfig,
  ): Promise<StoredBlock | undefined> {
    const cached = this.blocks.get(formatCidr(cidr));
    if (cached && cached.block.affinity === hostAffinity(node)) return cached;
    if (entry.aff && entry.aff.state === 'confirmed') {
      const stored = await this.fresh(cidr);
      if (stored && stored.block.affinity === hostAffinity(node) && !stored.block.deleted) {
        return stored;
      }
    }
    const aff: StoredAffinity | undefined = entry.aff;
    if (!aff) return undefined;
    const settled = await settleAffinity(this.ds, aff, { strictAffinity: config.strictAffinity });
    this.remember(cidr, settled);
    if (settled) entry.aff = { ...aff, state: 'confirmed' };
    return settled;
  }

  // -------------------------------------------------------------------------
  // Auto-assignment

  async autoAssign(args: AutoAssignArgs): Promise<AutoAssignResult> {
    checkName('handle', args.handle);
    checkName('node', args.node);
    const num4 = checkCount('num4', args.num4);
    const num6 = checkCount('num6', args.num6);
    const use = args.use ?? 'Workload';
    if (use !== 'Workload' && use !== 'Tunnel') {
      throw new InvalidRequestError(`use must be "Workload" or "Tunnel", got "${String(use)}"`);
    }
    if (args.maxBlocksPerHost !== undefined) checkCount('maxBlocksPerHost', args.maxBlocksPerHost);
    // Resolve everything that can be wrong with the request before writing anything.
    const pools4 = num4 > 0 ? await this.usablePools(4, args.node, use, args.pools4) : [];
    const pools6 = num6 > 0 ? await this.usablePools(6, args.node, use, args.pools6) : [];
    const config = await this.inputs.config();
    let limit = config.maxBlocksPerHost;
    if (args.maxBlocksPerHost !== undefined && args.maxBlocksPerHost > 0) {
      limit = limit > 0 ? Math.min(limit, args.maxBlocksPerHost) : args.maxBlocksPerHost;
    }
    const secondary: Record<string, string> = {
      ...(args.attrs ?? {}),
      [ATTR_NODE]: args.node,
      [ATTR_TIMESTAMP]: this.now().toISOString(),
    };
    const ipv4 =
      num4 > 0
        ? await this.assignFamily(4, num4, args.handle, args.node, secondary, pools4, config, limit)
        : [];
    let ipv6: IPAddress[] = [];
    if (num6 > 0) {
      try {
        ipv6 = await this.assignFamily(
          6,
          num6,
          args.handle,
          args.node,
          secondary,
          pools6,
          config,
          limit,
        );
      } catch (err) {
        // All or nothing: give back the IPv4 addresses of this request.
        await this.releaseIPs(ipv4.map((a) => ({ ip: formatIP(a), handle: args.handle })));
        throw err;
      }
    }
    return { ipv4: ipv4.map(formatIP), ipv6: ipv6.map(formatIP) };
  }

  private async assignFamily(
    family: IPFamily,
    num: number,
    handle: string,
    node: string,
    secondary: Record<string, string>,
    pools: PoolInfo[],
    config: IpamConfig,
    maxBlocks: number,
  ): Promise<IPAddress[]> {
    const got: IPAddress[] = [];
    const writer = new HandleWriter(this.ds, handle, this.handles);
    const reservations = await this.reservations(family);
    const inPools = (cidr: Cidr) => pools.some((p) => cidrContainsCidr(p.cidr, cidr));
    try {
      let existing: Set<string> | undefined;
      let failure: Error | undefined;
      for (let round = 0; got.length < num; round++) {
        if (round > MAX_CAS_RETRIES + num) {
          throw new ContentionError(
            `IPv${family} assignment on node ${node}: gave up after ${round} rounds of contention`,
          );
        }
        // 1. The node's own blocks.
        const cache = await this.affineBlocks(node, family, false);
        let owned = 0;
        for (const [k, entry] of [...cache.blocks]) {
          if (got.length >= num) break;
          const cidr = entry.aff?.cidr ?? parseCidr(k);
          if (!inPools(cidr)) continue;
          owned++;
          if (wholeBlockReserved(cidr, reservations.cidrs)) continue;
          const stored = await this.loadAffine(node, cidr, entry, config);
          if (!stored) {
            cache.blocks.delete(k);
            owned--;
            continue;
          }
          if (stored.block.freeCount(reservations.isReserved) === 0) continue;
          const r = await this.assignFromBlock(
            stored,
            num - got.length,
            writer,
            secondary,
            reservations,
            node,
          );
          if (!r.stored) cache.blocks.delete(k);
          got.push(...r.addresses);
        }
        if (got.length >= num) break;
        // 2. Our cached view may be stale (another process of this node may
        //    have claimed or emptied blocks): re-read once before claiming.
        if (!existing) {
          existing = await this.refreshNode(node, family);
          continue;
        }
        // 3. Claim a new block.
        if (config.autoAllocateBlocks && (maxBlocks === 0 || owned < maxBlocks)) {
          const claimed = await this.claimNewBlock(node, pools, reservations, config, existing);
          if (claimed) {
            cache.blocks.set(formatCidr(claimed.block.cidr), { aff: undefined });
            this.remember(claimed.block.cidr, claimed);
            continue;
          }
        }
        // 4. Borrow from other blocks, unless strict affinity forbids it.
        if (!config.strictAffinity) {
          got.push(
            ...(await this.borrow(
              family,
              num - got.length,
              writer,
              secondary,
              pools,
              reservations,
              node,
              cache,
            )),
          );
          if (got.length >= num) break;
        }
        failure = this.exhausted(family, num, node, pools, config, maxBlocks, owned);
        break;
      }
      if (failure) throw failure;
      return got;
    } catch (err) {
      if (got.length > 0) {
        await this.releaseIPs(got.map((a) => ({ ip: formatIP(a), handle })));
      }
      throw err;
    } finally {
      await writer.settle();
    }
  }

  private exhausted(
    family: IPFamily,
    num: number,
    node: string,
    pools: PoolInfo[],
    config: IpamConfig,
    maxBlocks: number,
    owned: number,
  ): Error {
    const names = pools.map((p) => `${p.name} (${formatCidr(p.cidr)})`);
    const atLimit = maxBlocks > 0 && owned >= maxBlocks;
    if (atLimit && config.strictAffinity) {
      return new BlockLimitError(
        `node "${node}" has reached maxBlocksPerHost (${maxBlocks} IPv${family} blocks), its blocks are full, ` +
          `and strict affinity forbids borrowing from other nodes' blocks`,
      );
    }
    const reason = atLimit
      ? `node "${node}" has reached maxBlocksPerHost (${maxBlocks}) and no other block has a free address`
      : !config.autoAllocateBlocks
        ? 'autoAllocateBlocks is off and no block has a free address'
        : config.strictAffinity
          ? "no unclaimed block is left and strict affinity forbids borrowing from other nodes' blocks"
          : 'every block is claimed and full';
    return new PoolExhaustedError(family, num, names, reason);
  }

  /** One block, CAS-retried on conflicts. With `owner`, only while the block is affine to it. */
  private async assignFromBlock(
    start: StoredBlock,
    want: number,
    writer: HandleWriter,
    secondary: Record<string, string>,
    reservations: Reservations,
    owner: string | undefined,
  ): Promise<{ addresses: IPAddress[]; stored: StoredBlock | undefined }> {
    let cur = start;
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      this.remember(cur.block.cidr, cur);
      if (cur.block.deleted) return { addresses: [], stored: undefined };
      if (owner !== undefined && cur.block.affinity !== hostAffinity(owner)) {
        return { addresses: [], stored: undefined };
      }
      const next = cur.block.clone();
      const addresses = next.autoAssign(want, writer.id, secondary, reservations.isReserved);
      if (addresses.length === 0) return { addresses, stored: cur };
      await writer.ensure(next.cidr, addresses.length);
      try {
        const written = await casBlock(this.ds, cur, next);
        writer.consume(next.cidr, addresses.length);
        this.remember(next.cidr, written);
        return { addresses, stored: written };
      } catch (err) {
        if (err instanceof ConflictError) {
          cur = decodeBlockKv(err.current);
          // Writers of one hot block (processes of one node) back off with
          // jitter after repeated conflicts, instead of all retrying at once.
          if (attempt >= 1) await jitter(attempt);
          continue;
        }
        if (err instanceof NotFoundError) {
          this.remember(cur.block.cidr, undefined);
          return { addresses: [], stored: undefined };
        }
        throw err;
      }
    }
    throw new ContentionError(
      `block ${formatCidr(start.block.cidr)}: gave up after ${MAX_CAS_RETRIES} conflicting writes`,
    );
  }

  /** Finds an unclaimed block in the pools (node-seeded order) and claims it. */
  private async claimNewBlock(
    node: string,
    pools: PoolInfo[],
    reservations: Reservations,
    config: IpamConfig,
    existing: Set<string>,
  ): Promise<StoredBlock | undefined> {
    for (const pool of pools) {
      let budget = existing.size + 4096;
      for (const cidr of candidateBlocks(pool.cidr, pool.blockSize, node)) {
        if (--budget < 0) break;
        const key = blockKey(cidr);
        if (existing.has(key)) continue;
        if (wholeBlockReserved(cidr, reservations.cidrs)) continue;
        const outcome = await claimBlock(this.ds, node, cidr, {
          strictAffinity: config.strictAffinity,
        });
        existing.add(key);
        if (outcome.kind === 'claimed') return outcome.block;
      }
    }
    return undefined;
  }

  /** Takes addresses from blocks that are not this node's (strict affinity off). */
  private async borrow(
    family: IPFamily,
    want: number,
    writer: HandleWriter,
    secondary: Record<string, string>,
    pools: PoolInfo[],
    reservations: Reservations,
    node: string,
    cache: AffineCache,
  ): Promise<IPAddress[]> {
    const { items } = await this.ds.list(blocksPrefix(family));
    const candidates = items
      .map(decodeBlockKv)
      .filter(
        (s) =>
          !s.block.deleted &&
          !cache.blocks.has(formatCidr(s.block.cidr)) &&
          pools.some((p) => cidrContainsCidr(p.cidr, s.block.cidr)) &&
          s.block.freeCount(reservations.isReserved) > 0,
      )
      // Blocks without an owner first, then the emptiest.
      .sort(
        (a, b) =>
          Number(a.block.affinity !== null) - Number(b.block.affinity !== null) ||
          b.block.freeCount() - a.block.freeCount(),
      );
    const got: IPAddress[] = [];
    for (const s of candidates) {
      if (got.length >= want) break;
      const r = await this.assignFromBlock(
        s,
        want - got.length,
        writer,
        secondary,
        reservations,
        undefined,
      );
      got.push(...r.addresses);
    }
    return got;
  }

  // -------------------------------------------------------------------------
  // Assigning a specific address

  async assignIP(args: AssignIPArgs): Promise<void> {
    checkName('handle', args.handle);
    checkName('node', args.node);
    const address = parseAddress(args.ip);
    const text = formatIP(address);
    const pools = await this.inputs.pools();
    const pool = pools.find((p) => cidrContainsAddress(p.cidr, address));
    if (!pool) throw new AddressOutsidePoolsError(text);
    if (pool.disabled) {
      throw new PoolDisabledError(`address ${text} is in pool "${pool.name}", which is disabled`);
    }
    const reservations = await this.reservations(address.family);
    const reserved = reservations.find(address);
    if (reserved) throw new ReservedAddressError(text, reserved.name, formatCidr(reserved.cidr));
    await this.nodeLabels(args.node);
    const config = await this.inputs.config();
    const blockCidr = subnetContaining(address, pool.blockSize);
    const secondary: Record<string, string> = {
      ...(args.attrs ?? {}),
      [ATTR_NODE]: args.node,
      [ATTR_TIMESTAMP]: this.now().toISOString(),
    };
    const writer = new HandleWriter(this.ds, args.handle, this.handles);
    try {
      let cur = await readBlock(this.ds, blockCidr);
      for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
        if (!cur) {
          const outcome = await claimBlock(this.ds, args.node, blockCidr, {
            strictAffinity: config.strictAffinity,
          });
          if (outcome.kind === 'taken') {
            cur = await readBlock(this.ds, blockCidr);
            continue;
          }
          cur = outcome.block;
          this.affine.delete(`${args.node}\u0000${address.family}`);
        }
        if (config.strictAffinity && cur.block.affinity !== hostAffinity(args.node)) {
          throw new AffinityConflictError(
            `address ${text} is in block ${formatCidr(blockCidr)}, which ` +
              (cur.block.host === null
                ? 'has no node affinity'
                : `is affine to node "${cur.block.host}"`) +
              `, and strict affinity forbids assigning it to node "${args.node}"`,
          );
        }
        const next = cur.block.clone();
        next.assign(next.ordinalOf(address), args.handle, secondary);
        await writer.ensure(blockCidr, 1);
        try {
          await casBlock(this.ds, cur, next);
          writer.consume(blockCidr, 1);
          return;
        } catch (err) {
          if (err instanceof ConflictError) {
            cur = decodeBlockKv(err.current);
            continue;
          }
          if (err instanceof NotFoundError) {
            cur = undefined;
            continue;
          }
          throw err;
        }
      }
      throw new ContentionError(`assigning ${text}: gave up after ${MAX_CAS_RETRIES} conflicts`);
    } finally {
      await writer.settle();
    }
  }

  // -------------------------------------------------------------------------
  // Release

  /** Releases addresses (idempotent). With handle / sequenceNumber, only if they still match. */
  async releaseIPs(items: ReleaseItem[]): Promise<ReleaseResult> {
    const requests = items.map((item) => {
      const r = typeof item === 'string' ? { ip: item } : item;
      return { ...r, address: parseAddress(r.ip) };
    });
    const result: ReleaseResult = { released: [], notAllocated: [], mismatched: [] };
    if (requests.length === 0) return result;
    const pools = await this.inputs.pools();
    const scanned = new Map<IPFamily, Cidr[]>();
    const byBlock = new Map<string, { cidr: Cidr; reqs: typeof requests }>();
    for (const r of requests) {
      let blockCidr: Cidr | undefined;
      const pool = pools.find((p) => cidrContainsAddress(p.cidr, r.address));
      if (pool) {
        blockCidr = subnetContaining(r.address, pool.blockSize);
      } else {
        // Not in any pool (deleted since?): find its block the slow way.
        let blocks = scanned.get(r.address.family);
        if (!blocks) {
          const { items: kvs } = await this.ds.list(blocksPrefix(r.address.family));
          blocks = kvs.map((kv) => decodeBlockKv(kv).block.cidr);
          scanned.set(r.address.family, blocks);
        }
        blockCidr = blocks.find((c) => cidrContainsAddress(c, r.address));
      }
      if (!blockCidr) {
        result.notAllocated.push(formatIP(r.address));
        continue;
      }
      const k = formatCidr(blockCidr);
      const group = byBlock.get(k) ?? { cidr: blockCidr, reqs: [] };
      group.reqs.push(r);
      byBlock.set(k, group);
    }
    for (const { cidr, reqs } of byBlock.values()) {
      const outcome = await this.releaseFromBlock(
        cidr,
        reqs.map((r) => ({
          address: r.address,
          handle: r.handle,
          sequenceNumber: r.sequenceNumber,
        })),
      );
      result.released.push(...outcome.released);
      result.notAllocated.push(...outcome.notAllocated);
      result.mismatched.push(...outcome.mismatched);
    }
    return result;
  }

  /**
   * Read-modify-CAS on one block, starting from the cached copy. `change`
   * edits a copy and says whether there is anything to write; when a cached
   * copy says there is not, the block is re-read before that is believed.
   * A block left empty and without affinity is deleted.
   */
  private async modifyBlock<T>(
    cidr: Cidr,
    change: (next: AllocationBlock) => { write: boolean; value: T },
    absent: () => T,
  ): Promise<T> {
    let cur = this.blocks.get(formatCidr(cidr));
    let verified = cur === undefined;
    if (!cur) cur = await this.fresh(cidr);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      if (!cur) {
        if (verified) return absent();
        cur = await this.fresh(cidr);
        verified = true;
        continue;
      }
      const next = cur.block.clone();
      const { write, value } = change(next);
      if (!write) {
        if (verified) return value;
        cur = await this.fresh(cidr);
        verified = true;
        continue;
      }
      try {
        if (next.isEmpty() && next.affinity === null) {
          await this.ds.delete(cur.key, cur.modRevision);
          this.remember(cidr, undefined);
        } else {
          this.remember(cidr, await casBlock(this.ds, cur, next));
        }
        return value;
      } catch (err) {
        if (err instanceof ConflictError) {
          cur = this.remember(cidr, decodeBlockKv(err.current));
        } else if (err instanceof NotFoundError) {
          cur = this.remember(cidr, undefined);
        } else {
          throw err;
        }
        verified = true;
      }
    }
    throw new ContentionError(
      `block ${formatCidr(cidr)}: gave up after ${MAX_CAS_RETRIES} conflicts`,
    );
  }

  private async adjustHandle(handle: string, mutate: (h: IpamHandle) => void): Promise<void> {
    const stored = await updateHandle(this.ds, handle, mutate, this.handles.get(handle));
    this.handles.set(handle, stored);
  }

  private async releaseFromBlock(
    cidr: Cidr,
    reqs: {
      address: IPAddress;
      handle?: string | undefined;
      sequenceNumber?: bigint | undefined;
    }[],
  ): Promise<ReleaseResult> {
    const { result, counts } = await this.modifyBlock(
      cidr,
      (next) => {
        const outcome = next.release(
          reqs.map((r): ReleaseRequest => {
            const req: ReleaseRequest = { ordinal: next.ordinalOf(r.address) };
            if (r.handle !== undefined) req.handle = r.handle;
            if (r.sequenceNumber !== undefined) req.sequenceNumber = r.sequenceNumber;
            return req;
          }),
        );
        const text = (ords: number[]) => ords.map((o) => formatIP(next.addressOf(o)));
        return {
          write: outcome.released.length > 0,
          value: {
            result: {
              released: text(outcome.released),
              notAllocated: text(outcome.notAllocated),
              mismatched: text(outcome.mismatched),
            },
            counts: outcome.countsByHandle,
          },
        };
      },
      () => ({
        result: {
          released: [],
          notAllocated: reqs.map((r) => formatIP(r.address)),
          mismatched: [],
        },
        counts: new Map<string, number>(),
      }),
    );
    for (const [handle, n] of counts) await this.adjustHandle(handle, (h) => h.adjust(cidr, -n));
    return result;
  }

  /** Releases every address of the handle and deletes it (idempotent). Returns what was freed. */
  async releaseByHandle(handle: string): Promise<string[]> {
    checkName('handle', handle);
    const key = handleKey(handle);
    let known = this.handles.get(handle);
    let verified = known === undefined;
    if (known === undefined) known = (await readHandle(this.ds, handle)) ?? null;
    const released: string[] = [];
    const done = new Set<string>();
    for (let round = 0; round < MAX_CAS_RETRIES; round++) {
      if (known === null) {
        if (verified) break;
        known = (await readHandle(this.ds, handle)) ?? null;
        verified = true;
        continue;
      }
      for (const blockText of known.handle.blocks.keys()) {
        if (done.has(blockText)) continue;
        done.add(blockText);
        const cidr = tryParseCidrText(blockText);
        if (!cidr) continue;
        const freed = await this.modifyBlock(
          cidr,
          (next) => {
            const ords = next.releaseByHandle(handle);
            return { write: ords.length > 0, value: ords.map((o) => formatIP(next.addressOf(o))) };
          },
          () => [],
        );
        released.push(...freed);
      }
      // No block the record names holds this handle's addresses now: delete
      // the record, if it is still the one we worked from.
      try {
        await this.ds.delete(key, known.modRevision);
        known = null;
        break;
      } catch (err) {
        if (err instanceof ConflictError) {
          // Someone wrote the record meanwhile: go over what it names now.
          known = {
            modRevision: err.current.modRevision,
            handle: IpamHandle.decode(handle, err.current.value),
          };
          done.clear();
        } else if (err instanceof NotFoundError) {
          known = null;
        } else {
          throw err;
        }
        verified = true;
      }
    }
    if (known !== null) {
      throw new ContentionError(
        `releasing handle ${handle}: gave up after ${MAX_CAS_RETRIES} conflicts`,
      );
    }
    this.handles.set(handle, null);
    return released;
  }

  /** Releases the node's block affinities (by default only those of empty blocks). */
  async releaseHostAffinities(
    node: string,
    opts: { onlyEmpty?: boolean } = {},
  ): Promise<ReleaseAffinitiesResult> {
    checkName('node', node);
    const onlyEmpty = opts.onlyEmpty ?? true;
    const { items } = await this.ds.list(affinitiesPrefix(node));
    const result: ReleaseAffinitiesResult = { released: [], kept: [] };
    for (const kv of items) {
      const aff = decodeAffinityKv(kv);
      if (!aff) continue;
      const outcome = await releaseBlockAffinity(this.ds, node, aff.cidr, {
        requireEmpty: onlyEmpty,
      });
      if (outcome === 'released' || outcome === 'absent')
        result.released.push(formatCidr(aff.cidr));
      else result.kept.push({ cidr: formatCidr(aff.cidr), reason: outcome });
    }
    this.affine.delete(`${node}\u00004`);
    this.affine.delete(`${node}\u00006`);
    return result;
  }

  // -------------------------------------------------------------------------
  // Read-only views

  /** The addresses a handle holds, found through its record (Calico's IPsByHandle). */
  async ipsByHandle(handle: string): Promise<string[]> {
    checkName('handle', handle);
    const stored = await readHandle(this.ds, handle);
    if (!stored) return [];
    const out: string[] = [];
    for (const blockText of stored.handle.blocks.keys()) {
      const cidr = tryParseCidrText(blockText);
      const b = cidr && (await readBlock(this.ds, cidr));
      if (!b) continue;
      for (const a of b.block.allocationList())
        if (a.handle === handle) out.push(formatIP(a.address));
    }
    return out;
  }

  /** Who holds the address, if anyone. */
  async holderOf(ip: string): Promise<HolderInfo> {
    const address = parseAddress(ip);
    const pools = await this.inputs.pools();
    const pool = pools.find((p) => cidrContainsAddress(p.cidr, address));
    let stored: StoredBlock | undefined;
    if (pool) {
      stored = await readBlock(this.ds, subnetContaining(address, pool.blockSize));
    } else {
      const { items } = await this.ds.list(blocksPrefix(address.family));
      const kv = items.find((i) => {
        const s = decodeBlockKv(i);
        return cidrContainsAddress(s.block.cidr, address);
      });
      stored = kv ? decodeBlockKv(kv) : undefined;
    }
    const info: HolderInfo = {
      address: formatIP(address),
      pool: pool?.name ?? null,
      block: stored ? formatCidr(stored.block.cidr) : null,
      blockNode: stored?.block.host ?? null,
      allocated: false,
      handle: null,
      attrs: {},
      sequenceNumber: null,
    };
    if (!stored) return info;
    const ordinal = stored.block.ordinalOf(address);
    const attr = stored.block.attributeOf(ordinal);
    if (!attr) return info;
    info.allocated = true;
    info.handle = attr.handle_id;
    info.attrs = { ...(attr.secondary ?? {}) };
    info.sequenceNumber = String(stored.block.sequenceNumberForAllocation.get(ordinal) ?? 0n);
    return info;
  }

  /** Per pool and per block usage, and borrowed addresses. */
  async usage(): Promise<IpamUsage> {
    const pools = await this.inputs.pools();
    const { items } = await this.ds.list(blocksPrefix());
    const blocks = items.flatMap((kv) => {
      try {
        return [decodeBlockKv(kv).block];
      } catch {
        return [];
      }
    });
    const poolOf = (b: AllocationBlock) => pools.find((p) => cidrContainsCidr(p.cidr, b.cidr));
    const poolUsage: PoolUsage[] = pools.map((p) => {
      const mine = blocks.filter((b) => cidrContainsCidr(p.cidr, b.cidr));
      const inUse = mine.reduce((n, b) => n + b.inUseCount(), 0);
      const size = cidrSize(p.cidr);
      return {
        name: p.name,
        cidr: formatCidr(p.cidr),
        disabled: p.disabled,
        size,
        inUse,
        free: size - BigInt(inUse),
        blocks: mine.length,
      };
    });
    const blockUsage: BlockUsage[] = blocks.map((b) => ({
      cidr: formatCidr(b.cidr),
      pool: poolOf(b)?.name ?? null,
      node: b.host,
      size: b.size,
      inUse: b.inUseCount(),
      free: b.size - b.inUseCount(),
    }));
    const borrowed: BorrowedAddress[] = [];
    for (const b of blocks) {
      for (const a of b.allocationList()) {
        const user = a.attrs[ATTR_NODE] ?? null;
        if (b.host !== null && user === b.host) continue;
        const tunnelNode = a.handle === null ? undefined : tunnelHandleNode(a.handle);
        borrowed.push({
          address: formatIP(a.address),
          borrowingNode: user ?? tunnelNode ?? null,
          block: formatCidr(b.cidr),
          blockNode: b.host,
          type: a.attrs[ATTR_TYPE] ?? (tunnelNode !== undefined ? 'tunnel' : 'workload'),
          handle: a.handle,
        });
      }
    }
    return { pools: poolUsage, blocks: blockUsage, borrowed };
  }
}
