// What the plugin's verbs work with: an open datastore, the resource store
// and the allocator over it. The standalone executable opens one per call and
// closes it; the agent-side server keeps one per datastore URL for its life,
// which is most of why the agent path is fast.

import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import { DatastoreError, UnavailableError, type Datastore } from '../datastore/types.js';
import { Ipam } from '../ipam/allocator.js';
import {
  BlockLimitError,
  ContentionError,
  InvalidRequestError,
  NoMatchingPoolError,
  NoPoolsError,
  PoolExhaustedError,
  UnknownNodeError,
  UnknownPoolError,
} from '../ipam/errors.js';
import { CommandError } from '../dataplane/ip.js';
import { SysctlError } from '../dataplane/sysctl.js';
import { WorkloadError } from '../dataplane/workload.js';
import {
  CniError,
  ERR_DATAPLANE,
  ERR_DATASTORE,
  ERR_INTERNAL,
  ERR_INVALID_CONFIG,
  ERR_NO_POOL,
  ERR_POOL_EXHAUSTED,
  ERR_TRY_AGAIN,
  ERR_UNKNOWN_NODE,
} from './errors.js';

export interface CniContext {
  readonly ds: Datastore;
  readonly resources: ResourceStore;
  readonly ipam: Ipam;
  /** Small per-context cache (underlay MTU and the like). */
  readonly memo: Map<string, { at: number; value: unknown }>;
}

export interface ContextProvider {
  /** A context for the datastore URL; CniError 11 if it cannot be opened. */
  acquire(url: string): Promise<CniContext>;
  /** Called when a verb is done with the context. */
  release(ctx: CniContext): Promise<void>;
}

async function openContext(url: string): Promise<CniContext> {
  let ds: Datastore;
  try {
    ds = await openDatastore(url);
  } catch (err) {
    throw new CniError(ERR_TRY_AGAIN, `cannot open datastore ${url}`, (err as Error).message);
  }
  return { ds, resources: new ResourceStore(ds), ipam: new Ipam(ds), memo: new Map() };
}

/** One context per call, closed afterwards (the standalone executable). */
export function oneShotContexts(): ContextProvider {
  return {
    acquire: openContext,
    release: async (ctx) => {
      await ctx.ds.close().catch(() => undefined);
    },
  };
}

/** Contexts kept open per URL until close() (the agent-side server). */
export function cachedContexts(): ContextProvider & { close(): Promise<void> } {
  const open = new Map<string, Promise<CniContext>>();
  return {
    acquire(url) {
      let p = open.get(url);
      if (!p) {
        p = openContext(url);
        open.set(url, p);
        p.catch(() => open.delete(url));
      }
      return p;
    },
    release: async () => undefined,
    async close() {
      const all = [...open.values()];
      open.clear();
      for (const p of all) {
        try {
          await (await p).ds.close();
        } catch {
          /* already failed or closed */
        }
      }
    },
  };
}

/** Maps any failure to the CNI error a runtime should see. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof PoolExhaustedError || err instanceof BlockLimitError) {
    return new CniError(ERR_POOL_EXHAUSTED, 'no address available', message);
  }
  if (
    err instanceof UnknownPoolError ||
    err instanceof NoPoolsError ||
    err instanceof NoMatchingPoolError
  ) {
    return new CniError(ERR_NO_POOL, 'no usable IP pool', message);
  }
  if (err instanceof UnknownNodeError)
    return new CniError(ERR_UNKNOWN_NODE, 'node not registered', message);
  if (err instanceof InvalidRequestError)
    return new CniError(ERR_INVALID_CONFIG, 'invalid IPAM request', message);
  if (err instanceof ContentionError || err instanceof UnavailableError) {
    return new CniError(ERR_TRY_AGAIN, 'datastore busy or unavailable', message);
  }
  if (err instanceof CommandError || err instanceof SysctlError || err instanceof WorkloadError) {
    return new CniError(ERR_DATAPLANE, 'programming the dataplane failed', message);
  }
  if (err instanceof DatastoreError) return new CniError(ERR_DATASTORE, 'datastore error', message);
  return new CniError(ERR_INTERNAL, 'internal error', message);
}
