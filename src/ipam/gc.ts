// Garbage collection without Kubernetes.
//
// An address is live while its handle has an owner:
//   - a WorkloadEndpoint whose spec.containerID is the handle's container ID
//     (handles are "<network>.<containerID>" as Calico's CNI plugin makes
//     them, or the bare container ID);
//   - for a tunnel handle ("vxlan-tunnel-addr-<node>", "ipip-tunnel-addr-<node>",
//     ...), the Node resource <node>;
//   - anything `isKnownOwner` accepts (callers with their own owners).
// An address without an owner for longer than the grace period (measured from
// the allocation's "timestamp" attribute, or from when the collector first saw
// it) is a leak. A block affine to a node with no Node resource is an orphan.
//
// checkIpam produces a JSON report; releaseFromReport acts on it, verifying
// each item again first (same allocation sequence number, still no owner,
// same revision), so a stale report never frees a live address.

import { cidrContainsCidr, cidrSize, formatCidr, formatIP, parseCidr } from '../model/cidr.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  type Datastore,
} from '../datastore/types.js';
import { releaseBlockAffinity } from './affinity.js';
import { Ipam } from './allocator.js';
import { ATTR_NODE, ATTR_TIMESTAMP, hostAffinity, type AllocationBlock } from './block.js';
import {
  IpamHandle,
  WINDOWS_RESERVED_HANDLE,
  handleContainerId,
  tunnelHandleNode,
} from './handle.js';
import { CachedInputs, DatastoreInputs, type IpamInputs, type PoolInfo } from './inputs.js';
import {
  HANDLES_PREFIX,
  affinitiesPrefix,
  affinityKey,
  blocksPrefix,
  parseBlockKey,
} from './keys.js';
import {
  decodeAffinityKv,
  decodeBlockKv,
  deleteAffinityIfUnchanged,
  encodeAffinity,
  readAffinity,
  readBlock,
  readHandle,
  updateHandle,
  type StoredBlock,
} from './store.js';

export const DEFAULT_GRACE_SECONDS = 300;

export interface LeakedAddress {
  address: string;
  block: string;
  handle: string | null;
  /** The node that allocated it (the "node" attribute). */
  node: string | null;
  allocatedAt: string | null;
  /** null: the allocation carries no timestamp. */
  ageSeconds: number | null;
  sequenceNumber: string;
  reason: string;
}

export interface OrphanBlock {
  block: string;
  node: string;
  inUse: number;
}

export interface StaleAffinity {
  key: string;
  node: string;
  block: string;
  state: string;
  modRevision: number;
  reason: 'node-missing' | 'block-missing' | 'block-owned-elsewhere';
}

/** A block names its node, but the node's affinity key is absent or not confirmed. */
export interface MissingAffinity {
  block: string;
  node: string;
  state: 'missing' | 'pending' | 'pendingDeletion';
  modRevision: number | null;
}

export interface HandleProblem {
  handle: string;
  /** null: no handle record. */
  modRevision: number | null;
  recorded: Record<string, number>;
  actual: Record<string, number>;
  problem: 'no-addresses' | 'count-mismatch' | 'missing-record';
}

export interface OutsidePoolAddress {
  address: string;
  block: string;
  handle: string | null;
}

export interface PoolSummary {
  name: string;
  cidr: string;
  size: string;
  inUse: number;
}

export interface IpamReport {
  kind: 'TortieIpamReport';
  version: 1;
  generatedAt: string;
  datastore: string;
  revision: number;
  graceSeconds: number;
  summary: {
    pools: number;
    blocks: number;
    handles: number;
    addressesInUse: number;
    liveAddresses: number;
    leakedAddresses: number;
    /** Without an owner, but younger than the grace period. */
    youngUnownedAddresses: number;
    orphanBlocks: number;
    staleAffinities: number;
    missingAffinities: number;
    handleProblems: number;
    outsidePools: number;
    invalidBlocks: number;
  };
  pools: PoolSummary[];
  leaks: LeakedAddress[];
  orphanBlocks: OrphanBlock[];
  staleAffinities: StaleAffinity[];
  missingAffinities: MissingAffinity[];
  handles: HandleProblem[];
  outsidePools: OutsidePoolAddress[];
  invalidBlocks: { key: string; problems: string[] }[];
  warnings: string[];
}

export interface CheckOptions {
  graceSeconds?: number;
  now?: Date;
  inputs?: IpamInputs;
  /** Extra owners: return true if the handle is in use by something IPAM does not know. */
  isKnownOwner?: (handle: string, attrs: Record<string, string>) => boolean;
  /** When each allocation ("<address>#<sequence number>") was first seen without owner (ms). */
  firstSeen?: Map<string, number>;
}

/** Parses Calico's Go time format ("2006-01-02 15:04:05.999 +0000 UTC") or ISO 8601. */
export function parseTimestamp(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const go = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)? ([+-])(\d{2})(\d{2})/.exec(text);
  const iso = go ? `${go[1]}T${go[2]}${(go[3] ?? '').slice(0, 4)}${go[4]}${go[5]}:${go[6]}` : text;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Decides whether a handle has a live owner. */
export class OwnerIndex {
  private readonly containers: Set<string>;
  private readonly nodes: Set<string>;

  constructor(
    workloads: { containerID: string | undefined }[],
    nodes: { name: string }[],
    private readonly extra?: (handle: string, attrs: Record<string, string>) => boolean,
  ) {
    this.containers = new Set(workloads.flatMap((w) => (w.containerID ? [w.containerID] : [])));
    this.nodes = new Set(nodes.map((n) => n.name));
  }

  hasNode(name: string): boolean {
    return this.nodes.has(name);
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  /** The reason the handle is not owned, or undefined if it is. */
  unownedReason(handle: string | null, attrs: Record<string, string>): string | undefined {
    if (handle === null) return 'the allocation has no handle';
    if (handle === WINDOWS_RESERVED_HANDLE) return undefined;
    if (this.extra?.(handle, attrs)) return undefined;
    const tunnelNode = tunnelHandleNode(handle);
    if (tunnelNode !== undefined) {
      return this.nodes.has(tunnelNode)
        ? undefined
        : `tunnel address of node "${tunnelNode}", which does not exist`;
    }
    if (this.containers.has(handle) || this.containers.has(handleContainerId(handle)))
      return undefined;
    return `no WorkloadEndpoint has containerID "${handleContainerId(handle)}"`;
  }
}

interface Snapshot {
  revision: number;
  pools: PoolInfo[];
  blocks: StoredBlock[];
  invalid: { key: string; problems: string[] }[];
  affinities: NonNullable<ReturnType<typeof decodeAffinityKv>>[];
  handles: { id: string; modRevision: number; handle: IpamHandle }[];
  owners: OwnerIndex;
}

async function takeSnapshot(
  ds: Datastore,
  inputs: IpamInputs,
  opts: CheckOptions,
): Promise<Snapshot> {
  // Owners are read first: an owner created after this read may belong to an
  // allocation we then see, which errs on the side of reporting, and
  // releaseFromReport re-checks owners before releasing anything.
  const [workloads, nodes] = await Promise.all([inputs.workloads(), inputs.nodes()]);
  const owners = new OwnerIndex(workloads, nodes, opts.isKnownOwner);
  const pools = await inputs.pools();
  const blockList = await ds.list(blocksPrefix());
  const affList = await ds.list(affinitiesPrefix());
  const handleList = await ds.list(HANDLES_PREFIX);
  const blocks: StoredBlock[] = [];
  const invalid: { key: string; problems: string[] }[] = [];
  for (const kv of blockList.items) {
    if (!parseBlockKey(kv.key)) continue;
    try {
      const s = decodeBlockKv(kv);
      const problems = s.block.checkInvariants();
      if (problems.length > 0) invalid.push({ key: kv.key, problems });
      blocks.push(s);
    } catch (err) {
      invalid.push({ key: kv.key, problems: [(err as Error).message] });
    }
  }
  const handles = handleList.items.flatMap((kv) => {
    const id = kv.key.slice(HANDLES_PREFIX.length);
    try {
      return [{ id, modRevision: kv.modRevision, handle: IpamHandle.decode(id, kv.value) }];
    } catch {
      return [];
    }
  });
  return {
    revision: Math.max(blockList.revision, affList.revision, handleList.revision),
    pools,
    blocks,
    invalid,
    affinities: affList.items.flatMap((kv) => decodeAffinityKv(kv) ?? []),
    handles,
    owners,
  };
}

function allocationId(address: string, seq: bigint | string): string {
  return `${address}#${seq}`;
}

/** Looks for leaks, orphans and inconsistencies; changes nothing. */
export async function checkIpam(ds: Datastore, opts: CheckOptions = {}): Promise<IpamReport> {
  const inputs = opts.inputs ?? new DatastoreInputs(ds);
  const graceSeconds = opts.graceSeconds ?? DEFAULT_GRACE_SECONDS;
  const now = (opts.now ?? new Date()).getTime();
  const snap = await takeSnapshot(ds, inputs, opts);
  const report: IpamReport = {
    kind: 'TortieIpamReport',
    version: 1,
    generatedAt: new Date(now).toISOString(),
    datastore: ds.url,
    revision: snap.revision,
    graceSeconds,
    summary: {
      pools: snap.pools.length,
      blocks: snap.blocks.length,
      handles: snap.handles.length,
      addressesInUse: 0,
      liveAddresses: 0,
      leakedAddresses: 0,
      youngUnownedAddresses: 0,
      orphanBlocks: 0,
      staleAffinities: 0,
      missingAffinities: 0,
      handleProblems: 0,
      outsidePools: 0,
      invalidBlocks: snap.invalid.length,
    },
    pools: [],
    leaks: [],
    orphanBlocks: [],
    staleAffinities: [],
    missingAffinities: [],
    handles: [],
    outsidePools: [],
    invalidBlocks: snap.invalid,
    warnings: [],
  };
  const checkNodes = snap.owners.nodeCount > 0;
  if (!checkNodes) {
    report.warnings.push('no Node resources exist: orphan blocks and affinities are not reported');
  }

  const sightings = new Set<string>();
  const actual = new Map<string, Map<string, number>>();
  const blockByCidr = new Map<string, AllocationBlock>();
  for (const { block } of snap.blocks) {
    const cidr = formatCidr(block.cidr);
    blockByCidr.set(cidr, block);
    const inPool = snap.pools.some((p) => cidrContainsCidr(p.cidr, block.cidr));
    for (const a of block.allocationList()) {
      report.summary.addressesInUse++;
      const address = formatIP(a.address);
      if (a.handle !== null) {
        const m = actual.get(a.handle) ?? new Map<string, number>();
        m.set(cidr, (m.get(cidr) ?? 0) + 1);
        actual.set(a.handle, m);
      }
      if (!inPool) report.outsidePools.push({ address, block: cidr, handle: a.handle });
      const reason = snap.owners.unownedReason(a.handle, a.attrs);
      if (reason === undefined) {
        report.summary.liveAddresses++;
        continue;
      }
      const stamp = parseTimestamp(a.attrs[ATTR_TIMESTAMP]);
      let since = stamp;
      if (since === undefined && opts.firstSeen) {
        // No timestamp: age counts from the first time this collector saw it.
        const id = allocationId(address, a.sequenceNumber);
        since = opts.firstSeen.get(id) ?? now;
        opts.firstSeen.set(id, since);
        sightings.add(id);
      }
      const ageSeconds = since === undefined ? null : Math.max(0, Math.floor((now - since) / 1000));
      if (ageSeconds !== null && ageSeconds < graceSeconds) {
        report.summary.youngUnownedAddresses++;
        continue;
      }
      report.leaks.push({
        address,
        block: cidr,
        handle: a.handle,
        node: a.attrs[ATTR_NODE] ?? null,
        allocatedAt: stamp === undefined ? null : new Date(stamp).toISOString(),
        ageSeconds,
        sequenceNumber: String(a.sequenceNumber),
        reason,
      });
    }
    if (checkNodes && block.host !== null && !snap.owners.hasNode(block.host)) {
      report.orphanBlocks.push({ block: cidr, node: block.host, inUse: block.inUseCount() });
    }
  }

  if (opts.firstSeen) {
    for (const id of [...opts.firstSeen.keys()]) if (!sightings.has(id)) opts.firstSeen.delete(id);
  }

  for (const aff of snap.affinities) {
    const cidr = formatCidr(aff.cidr);
    const block = blockByCidr.get(cidr);
    let reason: StaleAffinity['reason'] | undefined;
    if (checkNodes && !snap.owners.hasNode(aff.node)) reason = 'node-missing';
    else if (!block) reason = 'block-missing';
    else if (block.affinity !== hostAffinity(aff.node)) reason = 'block-owned-elsewhere';
    if (reason) {
      report.staleAffinities.push({
        key: aff.key,
        node: aff.node,
        block: cidr,
        state: aff.state,
        modRevision: aff.modRevision,
        reason,
      });
    }
  }
  const affByKey = new Map(snap.affinities.map((a) => [a.key, a]));
  for (const { block } of snap.blocks) {
    if (block.host === null || (checkNodes && !snap.owners.hasNode(block.host))) continue;
    const aff = affByKey.get(affinityKey(block.host, block.cidr));
    if (aff?.state === 'confirmed') continue;
    report.missingAffinities.push({
      block: formatCidr(block.cidr),
      node: block.host,
      state: aff?.state ?? 'missing',
      modRevision: aff?.modRevision ?? null,
    });
  }

  const recordedIds = new Set<string>();
  for (const h of snap.handles) {
    recordedIds.add(h.id);
    const recorded = Object.fromEntries(h.handle.blocks);
    const act = Object.fromEntries(actual.get(h.id) ?? new Map());
    const same =
      Object.keys(recorded).length === Object.keys(act).length &&
      Object.entries(recorded).every(([k, v]) => act[k] === v);
    if (same) continue;
    report.handles.push({
      handle: h.id,
      modRevision: h.modRevision,
      recorded,
      actual: act,
      problem: Object.keys(act).length === 0 ? 'no-addresses' : 'count-mismatch',
    });
  }
  for (const [id, m] of actual) {
    if (recordedIds.has(id)) continue;
    report.handles.push({
      handle: id,
      modRevision: null,
      recorded: {},
      actual: Object.fromEntries(m),
      problem: 'missing-record',
    });
  }

  report.pools = snap.pools.map((p) => ({
    name: p.name,
    cidr: formatCidr(p.cidr),
    size: String(cidrSize(p.cidr)),
    inUse: snap.blocks
      .filter((s) => cidrContainsCidr(p.cidr, s.block.cidr))
      .reduce((n, s) => n + s.block.inUseCount(), 0),
  }));
  const s = report.summary;
  s.leakedAddresses = report.leaks.length;
  s.orphanBlocks = report.orphanBlocks.length;
  s.staleAffinities = report.staleAffinities.length;
  s.missingAffinities = report.missingAffinities.length;
  s.handleProblems = report.handles.length;
  s.outsidePools = report.outsidePools.length;
  return report;
}

/** True if the report has anything releaseFromReport would act on. */
export function reportHasProblems(r: IpamReport): boolean {
  return (
    r.leaks.length +
      r.orphanBlocks.length +
      r.staleAffinities.length +
      r.missingAffinities.length +
      r.handles.length >
    0
  );
}

export interface ReleaseFromReportResult {
  releasedAddresses: string[];
  skippedAddresses: { address: string; reason: string }[];
  releasedBlocks: string[];
  skippedBlocks: { block: string; reason: string }[];
  deletedAffinities: string[];
  createdAffinities: string[];
  repairedHandles: string[];
  skippedItems: { item: string; reason: string }[];
}

/** Reads and checks a report file's JSON. */
export function parseReport(text: string): IpamReport {
  const raw = JSON.parse(text) as Partial<IpamReport>;
  if (raw?.kind !== 'TortieIpamReport' || raw.version !== 1) {
    throw new Error('not a Tortie IPAM report (expected kind TortieIpamReport, version 1)');
  }
  for (const k of [
    'leaks',
    'orphanBlocks',
    'staleAffinities',
    'missingAffinities',
    'handles',
  ] as const) {
    if (!Array.isArray(raw[k])) throw new Error(`IPAM report: "${k}" is missing`);
  }
  return raw as IpamReport;
}

/**
 * Acts on a report: repairs handle records, releases leaked addresses,
 * releases orphan blocks, deletes stale affinities and recreates missing
 * ones. Every item is verified against the current state first and skipped
 * (with the reason) if it no longer holds.
 */
export async function releaseFromReport(
  ds: Datastore,
  report: IpamReport,
  opts: { inputs?: IpamInputs; isKnownOwner?: CheckOptions['isKnownOwner'] } = {},
): Promise<ReleaseFromReportResult> {
  const inputs = opts.inputs ?? new DatastoreInputs(ds);
  const result: ReleaseFromReportResult = {
    releasedAddresses: [],
    skippedAddresses: [],
    releasedBlocks: [],
    skippedBlocks: [],
    deletedAffinities: [],
    createdAffinities: [],
    repairedHandles: [],
    skippedItems: [],
  };
  const [workloads, nodes] = await Promise.all([inputs.workloads(), inputs.nodes()]);
  const owners = new OwnerIndex(workloads, nodes, opts.isKnownOwner);
  const ipam = new Ipam(ds, { inputs: new CachedInputs(inputs, 0), cacheTtlMs: 0 });

  // 1. Handle records: make them count what the blocks hold (CAS on the reported revision).
  for (const h of report.handles) {
    const current = await readHandle(ds, h.handle);
    if ((current?.modRevision ?? null) !== h.modRevision) {
      result.skippedItems.push({ item: `handle ${h.handle}`, reason: 'changed since the report' });
      continue;
    }
    const blocks = new Set([...Object.keys(h.recorded), ...Object.keys(h.actual)]);
    const counts = new Map<string, number>();
    for (const b of blocks) {
      const stored = await readBlock(ds, parseCidr(b));
      const n = stored?.block.countsByHandle().get(h.handle) ?? 0;
      if (n > 0) counts.set(b, n);
    }
    if (current === undefined && counts.size === 0) continue;
    await updateHandle(
      ds,
      h.handle,
      (rec) => {
        for (const b of blocks) rec.set(b, counts.get(b) ?? 0);
      },
      current ?? null,
    );
    result.repairedHandles.push(h.handle);
  }

  // 2. Leaked addresses: still the same allocation, still without an owner.
  for (const leak of report.leaks) {
    const holder = await ipam.holderOf(leak.address);
    if (!holder.allocated || holder.sequenceNumber !== leak.sequenceNumber) {
      result.skippedAddresses.push({
        address: leak.address,
        reason: 'released or reallocated since the report',
      });
      continue;
    }
    if (owners.unownedReason(holder.handle, holder.attrs) === undefined) {
      result.skippedAddresses.push({ address: leak.address, reason: 'it has an owner now' });
      continue;
    }
    const item: { ip: string; handle?: string; sequenceNumber: bigint } = {
      ip: leak.address,
      sequenceNumber: BigInt(leak.sequenceNumber),
    };
    if (holder.handle !== null) item.handle = holder.handle;
    const out = await ipam.releaseIPs([item]);
    if (out.released.length > 0) result.releasedAddresses.push(...out.released);
    else result.skippedAddresses.push({ address: leak.address, reason: 'changed while releasing' });
  }

  // 3. Orphan blocks: the node must still be missing.
  for (const o of report.orphanBlocks) {
    if (owners.hasNode(o.node)) {
      result.skippedBlocks.push({ block: o.block, reason: `node "${o.node}" exists again` });
      continue;
    }
    const outcome = await releaseBlockAffinity(ds, o.node, parseCidr(o.block), {
      requireEmpty: false,
    });
    if (outcome === 'released' || outcome === 'absent') result.releasedBlocks.push(o.block);
    else result.skippedBlocks.push({ block: o.block, reason: outcome });
  }

  // 4. Stale affinities: unchanged since the report, and still stale.
  for (const s of report.staleAffinities) {
    const cidr = parseCidr(s.block);
    const aff = await readAffinity(ds, s.node, cidr);
    if (!aff) continue;
    if (aff.modRevision !== s.modRevision) {
      result.skippedItems.push({ item: s.key, reason: 'changed since the report' });
      continue;
    }
    const block = await readBlock(ds, cidr);
    const stillStale =
      (s.reason === 'node-missing' && !owners.hasNode(s.node)) ||
      !block ||
      block.block.affinity !== hostAffinity(s.node);
    if (!stillStale) {
      result.skippedItems.push({ item: s.key, reason: 'no longer stale' });
      continue;
    }
    if (block && block.block.affinity === hostAffinity(s.node)) {
      // Node gone but the block still names it: release the block properly.
      await releaseBlockAffinity(ds, s.node, cidr, { requireEmpty: false });
      result.deletedAffinities.push(s.key);
    } else if (await deleteAffinityIfUnchanged(ds, aff)) {
      result.deletedAffinities.push(s.key);
    }
  }

  // 5. Affinities a block's owner lacks (a claim or release cut short):
  //    recreate or confirm them, if nothing changed since the report.
  for (const m of report.missingAffinities) {
    const cidr = parseCidr(m.block);
    const key = affinityKey(m.node, cidr);
    const block = await readBlock(ds, cidr);
    if (!block || block.block.affinity !== hostAffinity(m.node) || !owners.hasNode(m.node)) {
      result.skippedItems.push({ item: key, reason: 'the block no longer names the node' });
      continue;
    }
    try {
      if (m.modRevision === null) await ds.create(key, encodeAffinity('confirmed'));
      else await ds.update(key, encodeAffinity('confirmed'), m.modRevision);
      result.createdAffinities.push(key);
    } catch (err) {
      if (
        err instanceof AlreadyExistsError ||
        err instanceof ConflictError ||
        err instanceof NotFoundError
      ) {
        result.skippedItems.push({ item: key, reason: 'changed since the report' });
      } else {
        throw err;
      }
    }
  }
  return result;
}

export interface GcOptions extends Omit<CheckOptions, 'now' | 'firstSeen'> {
  /** Between runs (default 60 s). */
  intervalMs?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Runs happen only while this says so (one collector per cluster is enough). */
  isLeader?: () => Promise<boolean>;
}

/**
 * The agent's automatic collector. Each run checks; it releases an item only
 * if the previous run reported it too (same allocation / same revision), so
 * nothing is freed on the evidence of a single look, and it tracks when it
 * first saw an owner-less allocation that carries no timestamp.
 */
export class IpamGarbageCollector {
  private readonly firstSeen = new Map<string, number>();
  private previous: IpamReport | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly ds: Datastore,
    private readonly opts: GcOptions = {},
  ) {}

  async runOnce(
    now = new Date(),
  ): Promise<{ report: IpamReport; result: ReleaseFromReportResult }> {
    const report = await checkIpam(this.ds, {
      ...this.opts,
      now,
      graceSeconds: this.opts.graceSeconds ?? DEFAULT_GRACE_SECONDS,
      firstSeen: this.firstSeen,
    });
    const confirmed = this.confirmedByPrevious(report);
    this.previous = report;
    const result = await releaseFromReport(this.ds, confirmed, this.opts);
    const acted =
      result.releasedAddresses.length +
      result.releasedBlocks.length +
      result.deletedAffinities.length +
      result.createdAffinities.length +
      result.repairedHandles.length;
    if (acted > 0) this.opts.log?.('ipam gc released', { ...result });
    return { report, result };
  }

  /** The part of `report` that the previous run saw identically. */
  private confirmedByPrevious(report: IpamReport): IpamReport {
    const prev = this.previous;
    const had = <T>(list: T[] | undefined, key: (x: T) => string) => new Set((list ?? []).map(key));
    const leakKey = (l: LeakedAddress) => allocationId(l.address, l.sequenceNumber);
    const prevLeaks = had(prev?.leaks, leakKey);
    const prevOrphans = had(prev?.orphanBlocks, (o) => `${o.block}|${o.node}`);
    const prevStale = had(prev?.staleAffinities, (s) => `${s.key}|${s.modRevision}`);
    const prevMissing = had(
      prev?.missingAffinities,
      (m) => `${m.block}|${m.node}|${m.modRevision}`,
    );
    const prevHandles = had(prev?.handles, (h) => `${h.handle}|${h.modRevision}`);
    return {
      ...report,
      leaks: report.leaks.filter((l) => prevLeaks.has(leakKey(l))),
      orphanBlocks: report.orphanBlocks.filter((o) => prevOrphans.has(`${o.block}|${o.node}`)),
      staleAffinities: report.staleAffinities.filter((s) =>
        prevStale.has(`${s.key}|${s.modRevision}`),
      ),
      missingAffinities: report.missingAffinities.filter((m) =>
        prevMissing.has(`${m.block}|${m.node}`),
      ),
      handles: report.handles.filter((h) => prevHandles.has(`${h.handle}|${h.modRevision}`)),
    };
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      const leads = this.opts.isLeader ?? (async () => true);
      this.running = leads()
        .then((leader) => (leader ? this.runOnce() : undefined))
        .catch((err: unknown) => this.opts.log?.('ipam gc failed', { error: String(err) }))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs ?? 60_000);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs ?? 60_000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
