// `type: tortie-ipam`: addresses from Tortie's allocator, keyed by the CNI
// handle. The functions here serve two callers: the tortie-ipam executable
// (tortieIpamVerbs), and the tortie plugin, which calls them in-process when
// its ipam.type is tortie-ipam instead of spawning a second executable.
//
// ADD   refuses a handle that already holds addresses (101: the attachment
//       exists), then auto-assigns one IPv4 and/or one IPv6 address from the
//       configured pools (or any pool that selects the node).
// DEL   releases by handle; idempotent.
// CHECK the prevResult's addresses are still held by the handle.
// GC    releases every handle of this network on this node whose attachment
//       is not in cni.dev/valid-attachments.
// STATUS the datastore answers and each requested family has an enabled pool.

import { parseCidr, cidrContainsAddress, parseIP } from '../model/cidr.js';
import type { IPPoolSpec } from '../model/resource.js';
import { blocksPrefix } from '../ipam/keys.js';
import { decodeBlockKv, readHandle } from '../ipam/store.js';
import { ATTR_NAMESPACE, ATTR_NODE, ATTR_POD } from '../ipam/block.js';
import {
  CniError,
  ERR_ALREADY_EXISTS,
  ERR_CHECK_FAILED,
  ERR_INVALID_CONFIG,
  ERR_PLUGIN_NOT_AVAILABLE,
} from './errors.js';
import { parseNetConf, type Attachment, type NetConf } from './config.js';
import { toCniError, type CniContext, type ContextProvider } from './context.js';
import {
  ATTR_CONTAINER_ID,
  ATTR_IFNAME,
  ATTR_NETWORK,
  identify,
  resolveNodename,
  type WorkloadIdentity,
} from './naming.js';
import { parseResult, resultAddresses, type CniResult } from './result.js';
import type { CmdArgs, PluginVerbs } from './skel.js';

export interface Assigned {
  ipv4: string[];
  ipv6: string[];
}

export function allocationAttrs(conf: NetConf, id: WorkloadIdentity): Record<string, string> {
  const attrs: Record<string, string> = {
    [ATTR_NAMESPACE]: id.namespace,
    [ATTR_NETWORK]: conf.name,
    [ATTR_CONTAINER_ID]: id.containerId,
    [ATTR_IFNAME]: id.endpoint,
  };
  if (id.pod) attrs[ATTR_POD] = id.pod;
  return attrs;
}

/** Assigns the workload's addresses. Nothing is held when this throws. */
export async function ipamAssign(
  ctx: CniContext,
  conf: NetConf,
  id: WorkloadIdentity,
): Promise<Assigned> {
  const existing = await readHandle(ctx.ds, id.handle);
  if (existing && !existing.handle.isEmpty()) {
    throw new CniError(
      ERR_ALREADY_EXISTS,
      'attachment already exists',
      `IPAM handle ${id.handle} already holds ${existing.handle.total()} address(es); DEL it first`,
    );
  }
  const req = {
    handle: id.handle,
    node: id.node,
    num4: conf.ipam.assignIpv4 ? 1 : 0,
    num6: conf.ipam.assignIpv6 ? 1 : 0,
    attrs: allocationAttrs(conf, id),
    ...(conf.ipam.ipv4Pools.length > 0 ? { pools4: conf.ipam.ipv4Pools } : {}),
    ...(conf.ipam.ipv6Pools.length > 0 ? { pools6: conf.ipam.ipv6Pools } : {}),
  };
  try {
    const got = await ctx.ipam.autoAssign(req);
    if (got.ipv4.length < req.num4 || got.ipv6.length < req.num6) {
      await ctx.ipam.releaseByHandle(id.handle).catch(() => undefined);
      throw new CniError(ERR_INVALID_CONFIG, 'allocator returned fewer addresses than asked');
    }
    return { ipv4: got.ipv4.map(plain), ipv6: got.ipv6.map(plain) };
  } catch (err) {
    // autoAssign raises bad-input errors before writing, and undoes a partial
    // assignment itself; releasing by handle again costs one read and covers
    // a failure between the two families.
    await ctx.ipam.releaseByHandle(id.handle).catch(() => undefined);
    throw toCniError(err);
  }
}

function plain(a: string): string {
  const i = a.indexOf('/');
  return i < 0 ? a : a.slice(0, i);
}

export async function ipamRelease(ctx: CniContext, handle: string): Promise<string[]> {
  try {
    return await ctx.ipam.releaseByHandle(handle);
  } catch (err) {
    throw toCniError(err);
  }
}

/** Problems with the handle's hold on the addresses; empty when all is well. */
export async function ipamCheck(
  ctx: CniContext,
  handle: string,
  addresses: string[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const a of addresses) {
    const h = await ctx.ipam.holderOf(a);
    if (!h.allocated) problems.push(`address ${a} is not allocated`);
    else if (h.handle !== handle)
      problems.push(`address ${a} is held by handle ${h.handle}, not ${handle}`);
  }
  return problems;
}

export function attachmentKey(a: Attachment): string {
  return `${a.containerID}\u0000${a.ifname}`;
}

/**
 * Handles of this network's allocations on this node whose attachment is not
 * valid. Only allocations Tortie's CNI made (with the network attribute) are
 * considered, so another network's or a tunnel's addresses are never touched.
 */
export async function staleHandles(
  ctx: CniContext,
  network: string,
  node: string,
  valid: Set<string>,
): Promise<string[]> {
  const { items } = await ctx.ds.list(blocksPrefix());
  const stale = new Set<string>();
  for (const kv of items) {
    let block;
    try {
      block = decodeBlockKv(kv).block;
    } catch {
      continue;
    }
    for (const a of block.allocationList()) {
      if (a.handle === null || a.attrs[ATTR_NETWORK] !== network || a.attrs[ATTR_NODE] !== node)
        continue;
      const containerID = a.attrs[ATTR_CONTAINER_ID];
      const ifname = a.attrs[ATTR_IFNAME];
      if (containerID === undefined || ifname === undefined) continue;
      if (!valid.has(attachmentKey({ containerID, ifname }))) stale.add(a.handle);
    }
  }
  return [...stale];
}

export function validSet(conf: NetConf): Set<string> {
  if (!conf.validAttachments) {
    throw new CniError(
      ERR_INVALID_CONFIG,
      'invalid network configuration',
      'cni.dev/valid-attachments: is required for GC',
    );
  }
  return new Set(conf.validAttachments.map(attachmentKey));
}

/** STATUS for tortie-ipam: a reason it cannot serve ADD, or undefined. */
export async function ipamStatus(ctx: CniContext, conf: NetConf): Promise<void> {
  const pools = await ctx.resources.list<IPPoolSpec>('IPPool');
  const want: [boolean, 4 | 6, string[]][] = [
    [conf.ipam.assignIpv4, 4, conf.ipam.ipv4Pools],
    [conf.ipam.assignIpv6, 6, conf.ipam.ipv6Pools],
  ];
  for (const [on, family, named] of want) {
    if (!on) continue;
    const usable = pools.filter((p) => {
      const cidr = p.spec?.cidr ?? '';
      if (p.spec?.disabled || (family === 6) !== cidr.includes(':')) return false;
      return named.length === 0 || named.includes(p.metadata.name) || named.includes(cidr);
    });
    if (usable.length === 0) {
      throw new CniError(
        ERR_PLUGIN_NOT_AVAILABLE,
        'plugin not available',
        named.length > 0
          ? `none of the IPv${family} pools ${named.join(', ')} exists and is enabled`
          : `no enabled IPv${family} pool is configured`,
      );
    }
  }
}

/** Pools (as resources) containing any of the addresses: for MTU derivation. */
export async function poolsOf(ctx: CniContext, addresses: string[]): Promise<IPPoolSpec[]> {
  const pools = await ctx.resources.list<IPPoolSpec>('IPPool');
  const out: IPPoolSpec[] = [];
  for (const p of pools) {
    if (!p.spec?.cidr) continue;
    let cidr;
    try {
      cidr = parseCidr(p.spec.cidr);
    } catch {
      continue;
    }
    if (
      addresses.some(
        (a) => a.includes(':') === (cidr.family === 6) && cidrContainsAddress(cidr, parseIP(a)),
      )
    ) {
      out.push(p.spec);
    }
  }
  return out;
}

export async function withContext<T>(
  contexts: ContextProvider,
  url: string,
  fn: (ctx: CniContext) => Promise<T>,
): Promise<T> {
  const ctx = await contexts.acquire(url);
  try {
    return await fn(ctx);
  } finally {
    await contexts.release(ctx);
  }
}

export function ipamResult(assigned: Assigned): CniResult {
  return {
    ips: [
      ...assigned.ipv4.map((a) => ({ address: `${a}/32` })),
      ...assigned.ipv6.map((a) => ({ address: `${a}/128` })),
    ],
  };
}

/** The tortie-ipam executable's verbs. */
export function tortieIpamVerbs(contexts: ContextProvider): PluginVerbs {
  return {
    async add(a: CmdArgs) {
      const conf = parseNetConf(a.config, a.env);
      const id = identify(conf, a);
      return withContext(contexts, conf.datastore, async (ctx) =>
        ipamResult(await ipamAssign(ctx, conf, id)),
      );
    },
    async del(a) {
      const conf = parseNetConf(a.config, a.env);
      const id = identify(conf, a);
      await withContext(contexts, conf.datastore, (ctx) => ipamRelease(ctx, id.handle));
    },
    async check(a) {
      const conf = parseNetConf(a.config, a.env);
      const id = identify(conf, a);
      if (conf.prevResult === undefined) {
        throw new CniError(
          ERR_INVALID_CONFIG,
          'invalid network configuration',
          'prevResult: is required for CHECK',
        );
      }
      const prev = parseResult(conf.prevResult);
      const { ipv4, ipv6 } = resultAddresses(prev);
      const problems = await withContext(contexts, conf.datastore, (ctx) =>
        ipamCheck(ctx, id.handle, [...ipv4, ...ipv6]),
      );
      if (problems.length > 0)
        throw new CniError(ERR_CHECK_FAILED, 'CHECK failed', problems.join('; '));
    },
    async gc(a) {
      const conf = parseNetConf(a.config, a.env);
      const valid = validSet(conf);
      const node = resolveNodename(conf);
      await withContext(contexts, conf.datastore, async (ctx) => {
        const failures: string[] = [];
        for (const h of await staleHandles(ctx, conf.name, node, valid)) {
          await ctx.ipam
            .releaseByHandle(h)
            .catch((err: Error) => failures.push(`${h}: ${err.message}`));
        }
        if (failures.length > 0)
          throw toCniError(new Error(`GC could not release ${failures.join('; ')}`));
      });
    },
    async status(a) {
      const conf = parseNetConf(a.config, a.env);
      await statusOf(contexts, conf, (ctx) => ipamStatus(ctx, conf));
    },
  };
}

/** Runs a STATUS probe: an unreachable datastore is "not available" (50). */
export async function statusOf(
  contexts: ContextProvider,
  conf: NetConf,
  more: (ctx: CniContext) => Promise<void>,
): Promise<void> {
  let ctx: CniContext;
  try {
    ctx = await contexts.acquire(conf.datastore);
  } catch (err) {
    throw new CniError(
      ERR_PLUGIN_NOT_AVAILABLE,
      'plugin not available',
      `datastore ${conf.datastore}: ${(err as Error).message}`,
    );
  }
  try {
    await withTimeout(
      ctx.ds.revision(),
      5000,
      `datastore ${conf.datastore} did not answer within 5 s`,
    );
    await more(ctx);
  } catch (err) {
    if (err instanceof CniError && err.code === ERR_PLUGIN_NOT_AVAILABLE) throw err;
    throw new CniError(ERR_PLUGIN_NOT_AVAILABLE, 'plugin not available', (err as Error).message);
  } finally {
    await contexts.release(ctx);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(why)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
