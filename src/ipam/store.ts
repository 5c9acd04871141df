// Reading and compare-and-swap writing of IPAM values: blocks, affinities and
// handles. Every write here is conditional on the revision the caller read,
// so a writer working from stale data fails (ConflictError / NotFoundError /
// AlreadyExistsError) instead of overwriting someone else's change.

import { formatCidr, type Cidr } from '../model/cidr.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  type Datastore,
  type KeyValue,
} from '../datastore/types.js';
import { AllocationBlock } from './block.js';
import { ContentionError } from './errors.js';
import { IpamHandle } from './handle.js';
import { isRecord } from './json.js';
import { affinityKey, blockKey, handleKey, parseAffinityKey, parseBlockKey } from './keys.js';

/** How many times a compare-and-swap loop retries before giving up. */
export const MAX_CAS_RETRIES = 100;

export interface StoredBlock {
  readonly key: string;
  readonly modRevision: number;
  readonly block: AllocationBlock;
}

export function decodeBlockKv(kv: KeyValue): StoredBlock {
  const cidr = parseBlockKey(kv.key);
  return {
    key: kv.key,
    modRevision: kv.modRevision,
    block: AllocationBlock.decode(kv.value, cidr),
  };
}

export async function readBlock(ds: Datastore, cidr: Cidr): Promise<StoredBlock | undefined> {
  const kv = await ds.get(blockKey(cidr));
  return kv ? decodeBlockKv(kv) : undefined;
}

/**
 * Writes `next` over `prev` if the block is unchanged since `prev` was read;
 * bumps the sequence number. ConflictError / NotFoundError otherwise.
 */
export async function casBlock(
  ds: Datastore,
  prev: StoredBlock,
  next: AllocationBlock,
): Promise<StoredBlock> {
  next.bumpSequence();
  const kv = await ds.update(prev.key, next.encode(), prev.modRevision);
  return { key: kv.key, modRevision: kv.modRevision, block: next };
}

export async function createBlock(ds: Datastore, block: AllocationBlock): Promise<StoredBlock> {
  const kv = await ds.create(blockKey(block.cidr), block.encode());
  return { key: kv.key, modRevision: kv.modRevision, block };
}

// ---------------------------------------------------------------------------
// Affinities: {"state": "pending" | "confirmed" | "pendingDeletion", "deleted": false}

export type AffinityState = 'pending' | 'confirmed' | 'pendingDeletion';

export interface StoredAffinity {
  readonly key: string;
  readonly node: string;
  readonly cidr: Cidr;
  readonly state: AffinityState;
  readonly modRevision: number;
}

export function encodeAffinity(state: AffinityState): string {
  return JSON.stringify({ state, deleted: false });
}

export function decodeAffinityKv(kv: KeyValue): StoredAffinity | undefined {
  const parsed = parseAffinityKey(kv.key);
  if (!parsed) return undefined;
  let state: AffinityState = 'confirmed';
  try {
    const raw: unknown = JSON.parse(kv.value);
    if (isRecord(raw) && (raw.state === 'pending' || raw.state === 'pendingDeletion')) {
      state = raw.state;
    }
    // Calico treats an empty state as confirmed (data from older releases).
  } catch {
    // An unreadable affinity is treated as confirmed: the block decides.
  }
  return { key: kv.key, node: parsed.node, cidr: parsed.cidr, state, modRevision: kv.modRevision };
}

export async function readAffinity(
  ds: Datastore,
  node: string,
  cidr: Cidr,
): Promise<StoredAffinity | undefined> {
  const kv = await ds.get(affinityKey(node, cidr));
  return kv ? decodeAffinityKv(kv) : undefined;
}

/** CAS-writes a new state; returns the stored affinity. */
export async function casAffinity(
  ds: Datastore,
  prev: StoredAffinity,
  state: AffinityState,
): Promise<StoredAffinity> {
  const kv = await ds.update(prev.key, encodeAffinity(state), prev.modRevision);
  return { ...prev, state, modRevision: kv.modRevision };
}

/** Deletes the affinity if unchanged since read; true if it is gone (by us or before). */
export async function deleteAffinityIfUnchanged(
  ds: Datastore,
  prev: StoredAffinity,
): Promise<boolean> {
  try {
    await ds.delete(prev.key, prev.modRevision);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return true;
    if (err instanceof ConflictError) return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Handles

export interface StoredHandle {
  readonly modRevision: number;
  readonly handle: IpamHandle;
}

export async function readHandle(ds: Datastore, id: string): Promise<StoredHandle | undefined> {
  const kv = await ds.get(handleKey(id));
  return kv ? { modRevision: kv.modRevision, handle: IpamHandle.decode(id, kv.value) } : undefined;
}

/**
 * Read-modify-CAS loop on a handle: `mutate` changes a copy; an emptied handle
 * is deleted. `known` is the caller's last view (undefined: not read yet, null:
 * known absent); a fresh handle is created without reading first, so a new
 * handle costs one round trip. Returns the stored result (null if deleted).
 */
export async function updateHandle(
  ds: Datastore,
  id: string,
  mutate: (h: IpamHandle) => void,
  known?: StoredHandle | null,
): Promise<StoredHandle | null> {
  const key = handleKey(id);
  let current: StoredHandle | null | undefined = known;
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    try {
      if (current === undefined || current === null) {
        const h = new IpamHandle(id);
        mutate(h);
        if (h.isEmpty()) {
          if (current === null) return null;
          current = (await readHandle(ds, id)) ?? null;
          if (current === null) return null;
          continue;
        }
        const kv = await ds.create(key, h.encode());
        return { modRevision: kv.modRevision, handle: h };
      }
      const h = current.handle.clone();
      mutate(h);
      if (h.isEmpty()) {
        await ds.delete(key, current.modRevision);
        return null;
      }
      const kv = await ds.update(key, h.encode(), current.modRevision);
      return { modRevision: kv.modRevision, handle: h };
    } catch (err) {
      if (err instanceof AlreadyExistsError || err instanceof ConflictError) {
        current = {
          modRevision: err.current.modRevision,
          handle: IpamHandle.decode(id, err.current.value),
        };
      } else if (err instanceof NotFoundError) {
        current = null;
      } else {
        throw err;
      }
    }
  }
  throw new ContentionError(`handle ${id}: gave up after ${MAX_CAS_RETRIES} conflicting writes`);
}

export function cidrText(cidr: Cidr): string {
  return formatCidr(cidr);
}
