// Block affinity: how a node comes to own a block, and how it lets go.
//
// Claiming follows Calico (blockReaderWriter.claimAffineBlock):
//   1. create the affinity key in state "pending" (or, if it exists and is
//      not confirmed, CAS it back to "pending");
//   2. create the block with affinity "host:<node>" — an atomic create, so of
//      all nodes racing for a CIDR exactly one succeeds;
//   3. CAS the affinity to "confirmed". If another node created the block
//      first, delete our pending affinity instead and look elsewhere.
// The block's own `affinity` field is the authority on ownership; affinity
// keys are the per-node index that lets a node find its blocks with one list.
// A claimer that dies between steps leaves a pending affinity behind: the
// node's next allocation finishes the claim (or discards it if another node
// owns the block), and `ipam check` reports it as stale meanwhile.
//
// Releasing follows Calico (releaseBlockAffinity): mark the affinity
// "pendingDeletion", then delete the block if it is empty or clear its
// affinity if not (both CAS on the block), then delete the affinity key.

import { cidrContainsCidr, formatCidr, subnetCount, type Cidr } from '../model/cidr.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  type Datastore,
} from '../datastore/types.js';
import { AllocationBlock, hostAffinity } from './block.js';
import { ContentionError } from './errors.js';
import { affinityKey } from './keys.js';
import {
  MAX_CAS_RETRIES,
  casAffinity,
  casBlock,
  createBlock,
  decodeAffinityKv,
  decodeBlockKv,
  deleteAffinityIfUnchanged,
  encodeAffinity,
  readAffinity,
  readBlock,
  type StoredAffinity,
  type StoredBlock,
} from './store.js';

/** Creates or re-arms the node's affinity for the CIDR in state "pending" (unless confirmed). */
export async function getPendingAffinity(
  ds: Datastore,
  node: string,
  cidr: Cidr,
): Promise<StoredAffinity> {
  const key = affinityKey(node, cidr);
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    try {
      const kv = await ds.create(key, encodeAffinity('pending'));
      return decodeAffinityKv(kv)!;
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      const existing = decodeAffinityKv(err.current)!;
      if (existing.state === 'confirmed') return existing;
      try {
        return await casAffinity(ds, existing, 'pending');
      } catch (casErr) {
        if (casErr instanceof ConflictError || casErr instanceof NotFoundError) continue;
        throw casErr;
      }
    }
  }
  throw new ContentionError(`affinity ${key}: gave up after ${MAX_CAS_RETRIES} conflicting writes`);
}

/** Moves the affinity to "confirmed"; recreates it if someone deleted it meanwhile. */
export async function confirmAffinity(ds: Datastore, aff: StoredAffinity): Promise<void> {
  let current: StoredAffinity | undefined = aff;
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    try {
      if (current === undefined) {
        await ds.create(aff.key, encodeAffinity('confirmed'));
        return;
      }
      if (current.state === 'confirmed') return;
      await casAffinity(ds, current, 'confirmed');
      return;
    } catch (err) {
      if (err instanceof ConflictError || err instanceof AlreadyExistsError) {
        current = decodeAffinityKv(err.current);
      } else if (err instanceof NotFoundError) {
        current = undefined;
      } else {
        throw err;
      }
    }
  }
  throw new ContentionError(`affinity ${aff.key}: gave up confirming`);
}

export type ClaimOutcome =
  | { kind: 'claimed'; block: StoredBlock }
  /** Another node owns the block now. */
  | { kind: 'taken'; owner: string | null };

/**
 * Claims the CIDR for the node (steps 1-3 above). If the block already exists
 * and is affine to this node (another process of the node won), that counts
 * as claimed.
 */
export async function claimBlock(
  ds: Datastore,
  node: string,
  cidr: Cidr,
  opts: { strictAffinity?: boolean } = {},
): Promise<ClaimOutcome> {
  const pending = await getPendingAffinity(ds, node, cidr);
  const fresh = AllocationBlock.create(cidr, {
    node,
    strictAffinity: opts.strictAffinity ?? false,
  });
  try {
    const stored = await createBlock(ds, fresh);
    await confirmAffinity(ds, pending);
    return { kind: 'claimed', block: stored };
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
    const existing = decodeBlockKv(err.current);
    if (existing.block.affinity === hostAffinity(node) && !existing.block.deleted) {
      await confirmAffinity(ds, pending);
      return { kind: 'claimed', block: existing };
    }
    // Someone else's block: withdraw our claim (only if nobody touched it since).
    await deleteAffinityIfUnchanged(ds, pending);
    return { kind: 'taken', owner: existing.block.host };
  }
}

/**
 * Brings an affinity the node already holds up to date with its block:
 * - block missing: a pending/confirmed claim is finished (block created),
 *   a pendingDeletion one is discarded;
 * - block owned by someone else: the affinity is stale and is deleted;
 * - block ours but affinity not confirmed: CAS the block (so a concurrent
 *   releaser working from the old revision fails) and confirm, as Calico does.
 * Returns the block if the node owns it afterwards.
 */
export async function settleAffinity(
  ds: Datastore,
  aff: StoredAffinity,
  opts: { strictAffinity?: boolean; allowCreate?: boolean } = {},
): Promise<StoredBlock | undefined> {
  const stored = await readBlock(ds, aff.cidr);
  if (!stored) {
    if (aff.state === 'pendingDeletion' || opts.allowCreate === false) {
      if (aff.state === 'pendingDeletion') await deleteAffinityIfUnchanged(ds, aff);
      return undefined;
    }
    const outcome = await claimBlock(ds, aff.node, aff.cidr, opts);
    return outcome.kind === 'claimed' ? outcome.block : undefined;
  }
  if (stored.block.affinity !== hostAffinity(aff.node) || stored.block.deleted) {
    await deleteAffinityIfUnchanged(ds, aff);
    return undefined;
  }
  if (aff.state !== 'confirmed') {
    try {
      const pending = aff.state === 'pending' ? aff : await casAffinity(ds, aff, 'pending');
      const bumped = await casBlock(ds, stored, stored.block.clone());
      await confirmAffinity(ds, pending);
      return bumped;
    } catch (err) {
      if (err instanceof ConflictError || err instanceof NotFoundError) return undefined;
      throw err;
    }
  }
  return stored;
}

export type ReleaseAffinityOutcome =
  | 'released'
  /** requireEmpty and the block still has addresses in use. */
  | 'not-empty'
  /** The block belongs to another node (the affinity, if any, was stale and is gone). */
  | 'not-owner'
  /** requiredSequenceNumber given and the block changed since. */
  | 'changed'
  /** Neither block nor affinity exists. */
  | 'absent';

/**
 * Releases the node's affinity for the block. An empty block is deleted; a
 * non-empty one (only when requireEmpty is false) keeps its addresses and
 * loses its affinity, so nobody auto-assigns from it unless borrowing.
 */
export async function releaseBlockAffinity(
  ds: Datastore,
  node: string,
  cidr: Cidr,
  opts: { requireEmpty?: boolean; requiredSequenceNumber?: bigint } = {},
): Promise<ReleaseAffinityOutcome> {
  const requireEmpty = opts.requireEmpty ?? true;
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    let aff = await readAffinity(ds, node, cidr);
    const stored = await readBlock(ds, cidr);
    try {
      if (!stored) {
        if (!aff) return 'absent';
        if (await deleteAffinityIfUnchanged(ds, aff)) return 'released';
        continue;
      }
      const block = stored.block;
      if (
        opts.requiredSequenceNumber !== undefined &&
        block.sequenceNumber !== opts.requiredSequenceNumber
      ) {
        return 'changed';
      }
      if (block.affinity !== hostAffinity(node)) {
        if (aff && !(await deleteAffinityIfUnchanged(ds, aff))) continue;
        return 'not-owner';
      }
      if (requireEmpty && !block.isEmpty()) {
        // A previous attempt of ours may have left it pendingDeletion: undo that.
        if (aff && aff.state === 'pendingDeletion') await confirmAffinity(ds, aff);
        return 'not-empty';
      }
      if (aff && aff.state !== 'pendingDeletion') {
        aff = await casAffinity(ds, aff, 'pendingDeletion');
      }
      if (block.isEmpty()) {
        await ds.delete(stored.key, stored.modRevision);
      } else {
        const next = block.clone();
        next.affinity = null;
        await casBlock(ds, stored, next);
      }
      if (aff) await deleteAffinityIfUnchanged(ds, aff);
      return 'released';
    } catch (err) {
      if (err instanceof ConflictError || err instanceof NotFoundError) continue;
      throw err;
    }
  }
  throw new ContentionError(
    `releasing block ${formatCidr(cidr)} from node ${node}: gave up after ${MAX_CAS_RETRIES} conflicts`,
  );
}

// ---------------------------------------------------------------------------
// Choosing a block to claim

/** 32-bit FNV-1a, as a stable per-node seed (Calico seeds with FNV of the hostname). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The pool's blocks in the order a node tries them: from a start point
 * derived from the node name, wrapping around. Different nodes start in
 * different places, so concurrent claims rarely collide; the same node keeps
 * picking nearby blocks. Lazy: a /64 of /122s is never enumerated.
 */
export function* candidateBlocks(pool: Cidr, blockSize: number, node: string): Generator<Cidr> {
  const count = subnetCount(pool, blockSize);
  const step = 1n << BigInt((pool.family === 4 ? 32 : 128) - blockSize);
  // Spread the 32-bit seed over big pools too.
  const seed = (BigInt(fnv1a32(node)) * 0x9e3779b97f4a7c15n) % count;
  for (let i = 0n; i < count; i++) {
    const index = (seed + i) % count;
    yield { family: pool.family, network: pool.network + index * step, prefixLength: blockSize };
  }
}

/** True if some reservation covers the whole block. */
export function wholeBlockReserved(block: Cidr, reserved: readonly Cidr[]): boolean {
  return reserved.some((r) => cidrContainsCidr(r, block));
}
