// `type: tortie`: the workload's veth, addresses, routes and WorkloadEndpoint.
//
// ADD, in an order where every step undoes the earlier ones if it fails, so a
// failed ADD holds no address and leaves no veth and no WorkloadEndpoint:
//   1. validate config, CNI_ARGS and names; CNI_NETNS must exist      (no state)
//   2. refuse when the WorkloadEndpoint for this container exists    (no state)
//   3. assign addresses (handle <network>.<containerID>)   undo: release handle
//   4. at the same time (independent, so in parallel):
//      a. create veth pair, sysctls, routes, container config undo: delete host veth
//      b. write the WorkloadEndpoint                       undo: delete it (or
//         restore the record it replaced)
// DEL, in the reverse order, each step idempotent, and the WorkloadEndpoint
// last so a DEL that fails half way leaves the record GC and a retry need:
//   1. delete the host veth (or the container interface when the host end is
//      gone); a missing namespace or interface is fine
//   2. release by handle
//   3. delete the WorkloadEndpoint (only if it is this container's)

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Resource, WorkloadEndpointSpec } from '../model/resource.js';
import { NotFoundError, AlreadyExistsError } from '../datastore/types.js';
import { WORKLOAD_GATEWAY_V4, WORKLOAD_GATEWAY_V6 } from '../dataplane/constants.js';
import {
  checkWorkload,
  createWorkload,
  deleteWorkload,
  randomMac,
  underlayMtu,
} from '../dataplane/workload.js';
import { parseNetConf, TORTIE_IPAM_TYPE, type NetConf } from './config.js';
import { toCniError, type CniContext, type ContextProvider } from './context.js';
import { delegateAdd, execPlugin } from './delegate.js';
import {
  CniError,
  ERR_ALREADY_EXISTS,
  ERR_CHECK_FAILED,
  ERR_INVALID_CONFIG,
  ERR_NETNS_NOT_FOUND,
  ERR_PLUGIN_NOT_AVAILABLE,
} from './errors.js';
import {
  ipamAssign,
  ipamCheck,
  ipamRelease,
  ipamStatus,
  poolsOf,
  staleHandles,
  statusOf,
  validSet,
  withContext,
  attachmentKey,
  type Assigned,
} from './ipam-plugin.js';
import {
  ANNOTATION_HANDLE,
  ANNOTATION_NETNS,
  ANNOTATION_NETWORK,
  identify,
  resolveNodename,
  type WorkloadIdentity,
} from './naming.js';
import { parseResult, resultAddresses, type CniResult } from './result.js';
import type { CmdArgs, PluginVerbs } from './skel.js';
import { log } from './log.js';

export const WEP = 'WorkloadEndpoint';

/** Encapsulation overhead per pool mode, as Calico computes it. */
export const VXLAN_OVERHEAD_V4 = 50;
export const VXLAN_OVERHEAD_V6 = 70;
export const IPIP_OVERHEAD = 20;

export interface PluginDeps {
  contexts: ContextProvider;
  /** The agent's readiness, when the plugin runs inside it: a reason it cannot serve ADD, or undefined. */
  agentNotReady?: () => string | undefined;
}

function isTortieIpam(conf: NetConf): boolean {
  return conf.ipam.type === TORTIE_IPAM_TYPE;
}

async function assign(
  ctx: CniContext,
  conf: NetConf,
  id: WorkloadIdentity,
  a: CmdArgs,
): Promise<Assigned> {
  if (isTortieIpam(conf)) return ipamAssign(ctx, conf, id);
  const r = await delegateAdd(conf.ipam.type, a.env, a.stdin);
  const got = resultAddresses(r);
  if (got.ipv4.length + got.ipv6.length === 0) {
    await execPlugin(conf.ipam.type, 'DEL', a.env, a.stdin).catch(() => undefined);
    throw new CniError(ERR_INVALID_CONFIG, `IPAM plugin ${conf.ipam.type} returned no address`);
  }
  return got;
}

async function release(
  ctx: CniContext,
  conf: NetConf,
  id: WorkloadIdentity,
  a: CmdArgs,
): Promise<void> {
  if (isTortieIpam(conf)) await ipamRelease(ctx, id.handle);
  else await execPlugin(conf.ipam.type, 'DEL', a.env, a.stdin);
}

/** The workload MTU: config, else the agent's MTU file, else the underlay's minus encapsulation. */
export async function workloadMtu(
  ctx: CniContext,
  conf: NetConf,
  addresses: string[],
): Promise<number> {
  if (conf.mtu > 0) return conf.mtu;
  try {
    const n = Number.parseInt(readFileSync(conf.mtuFile, 'utf8').trim(), 10);
    if (Number.isInteger(n) && n >= 68 && n <= 65535) return n;
  } catch {
    /* no file */
  }
  const hit = ctx.memo.get('underlayMtu');
  let underlay: number;
  if (hit && performance.now() - hit.at < 10_000) underlay = hit.value as number;
  else {
    underlay = await underlayMtu();
    ctx.memo.set('underlayMtu', { at: performance.now(), value: underlay });
  }
  let overhead = 0;
  for (const p of await poolsOf(ctx, addresses)) {
    const v6 = p.cidr.includes(':');
    if (p.vxlanMode && p.vxlanMode !== 'Never')
      overhead = Math.max(overhead, v6 ? VXLAN_OVERHEAD_V6 : VXLAN_OVERHEAD_V4);
    if (p.ipipMode && p.ipipMode !== 'Never') overhead = Math.max(overhead, IPIP_OVERHEAD);
  }
  return underlay - overhead;
}

export function workloadEndpoint(
  conf: NetConf,
  id: WorkloadIdentity,
  netns: string,
  containerMac: string,
  got: Assigned,
): Resource<WorkloadEndpointSpec> {
  const spec: WorkloadEndpointSpec = {
    orchestrator: id.orchestrator,
    workload: id.orchestrator === 'k8s' ? '' : id.workload,
    node: id.node,
    containerID: id.containerId,
    endpoint: id.endpoint,
    ipNetworks: [...got.ipv4.map((a) => `${a}/32`), ...got.ipv6.map((a) => `${a}/128`)],
    profiles: id.profiles,
    interfaceName: id.hostIface,
    mac: containerMac,
  };
  if (id.pod) spec.pod = id.pod;
  if (got.ipv4.length > 0) spec.ipv4Gateway = WORKLOAD_GATEWAY_V4;
  if (got.ipv6.length > 0) spec.ipv6Gateway = WORKLOAD_GATEWAY_V6;
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: WEP,
    metadata: {
      name: id.wepName,
      namespace: id.namespace,
      labels: id.labels,
      annotations: {
        [ANNOTATION_NETWORK]: conf.name,
        [ANNOTATION_HANDLE]: id.handle,
        [ANNOTATION_NETNS]: netns,
      },
    },
    spec,
  };
}

function addResult(
  id: WorkloadIdentity,
  a: CmdArgs,
  mac: string,
  mtu: number,
  got: Assigned,
  conf: NetConf,
): CniResult {
  const r: CniResult = {
    interfaces: [
      { name: id.hostIface, mac: 'ee:ee:ee:ee:ee:ee' },
      { name: a.ifName, mac, mtu, sandbox: a.netns },
    ],
    ips: [
      ...got.ipv4.map((x) => ({ address: `${x}/32`, gateway: WORKLOAD_GATEWAY_V4, interface: 1 })),
      ...got.ipv6.map((x) => ({ address: `${x}/128`, gateway: WORKLOAD_GATEWAY_V6, interface: 1 })),
    ],
    routes: [
      ...(got.ipv4.length > 0 ? [{ dst: '0.0.0.0/0', gw: WORKLOAD_GATEWAY_V4 }] : []),
      ...(got.ipv6.length > 0 ? [{ dst: '::/0', gw: WORKLOAD_GATEWAY_V6 }] : []),
    ],
  };
  if (conf.dns) r.dns = conf.dns as CniResult['dns'] & object;
  return r;
}

export async function cmdAdd(deps: PluginDeps, a: CmdArgs): Promise<CniResult> {
  const conf = parseNetConf(a.config, a.env);
  const id = identify(conf, a);
  if (!existsSync(a.netns)) {
    throw new CniError(
      ERR_NETNS_NOT_FOUND,
      'network namespace not found',
      `CNI_NETNS ${a.netns} does not exist`,
    );
  }
  return withContext(deps.contexts, conf.datastore, async (ctx) => {
    const existing = await ctx.resources
      .get<WorkloadEndpointSpec>(WEP, id.wepName, id.namespace)
      .catch((err: unknown) => Promise.reject(toCniError(err)));
    if (existing && existing.spec?.containerID === a.containerId) {
      throw new CniError(
        ERR_ALREADY_EXISTS,
        'attachment already exists',
        `container ${a.containerId} interface ${a.ifName} is already attached to network ${conf.name} (WorkloadEndpoint ${id.namespace}/${id.wepName})`,
      );
    }
    const got = await assign(ctx, conf, id, a);
    let workloadMade = false;
    let wepWritten: Resource<WorkloadEndpointSpec> | undefined;
    try {
      const mtu = await workloadMtu(ctx, conf, [...got.ipv4, ...got.ipv6]);
      const mac = randomMac((n) => randomBytes(n));
      const wep = workloadEndpoint(conf, id, a.netns, mac, got);
      // The kernel work and the datastore write are independent: run them
      // together, and undo whichever succeeded if the other failed.
      const [dp, ds] = await Promise.allSettled([
        createWorkload({
          hostIface: id.hostIface,
          containerIface: a.ifName,
          netns: a.netns,
          mtu,
          containerMac: mac,
          ipv4: got.ipv4,
          ipv6: got.ipv6,
        }).then(() => {
          workloadMade = true;
        }),
        // The same pod in a new sandbox (k8s): the record moves to the new container.
        (existing
          ? ctx.resources.update({
              ...wep,
              metadata: { ...wep.metadata, resourceVersion: existing.metadata.resourceVersion },
            })
          : ctx.resources.create(wep)
        ).then((w) => {
          wepWritten = w;
        }),
      ]);
      if (dp.status === 'rejected') throw dp.reason;
      if (ds.status === 'rejected') throw ds.reason;
      log(conf, 'info', 'ADD', {
        containerId: a.containerId,
        ifName: a.ifName,
        iface: id.hostIface,
        ips: [...got.ipv4, ...got.ipv6],
      });
      return addResult(id, a, mac, mtu, got, conf);
    } catch (err) {
      if (workloadMade) {
        await deleteWorkload({
          hostIface: id.hostIface,
          containerIface: a.ifName,
          netns: a.netns,
        }).catch(() => undefined);
      }
      const written = wepWritten as Resource<WorkloadEndpointSpec> | undefined;
      if (written && existing) {
        const { resourceVersion: _v, ...meta } = existing.metadata;
        await ctx.resources.update({ ...existing, metadata: meta }).catch(() => undefined);
      } else if (written) {
        await ctx.resources
          .delete(WEP, id.wepName, id.namespace, written.metadata.resourceVersion)
          .catch(() => undefined);
      }
      await release(ctx, conf, id, a).catch(() => undefined);
      if (err instanceof AlreadyExistsError) {
        throw new CniError(ERR_ALREADY_EXISTS, 'attachment already exists', err.message);
      }
      throw toCniError(err);
    }
  });
}

export async function cmdDel(deps: PluginDeps, a: CmdArgs): Promise<void> {
  const conf = parseNetConf(a.config, a.env);
  const id = identify(conf, a);
  const netns = a.netns && existsSync(a.netns) ? a.netns : undefined;
  await withContext(deps.contexts, conf.datastore, async (ctx) => {
    try {
      const wep = await ctx.resources.get<WorkloadEndpointSpec>(WEP, id.wepName, id.namespace);
      const ours = !wep || wep.spec?.containerID === a.containerId;
      // Another container owns the record (and the host veth name): touch only our namespace.
      await deleteWorkload({
        hostIface: ours ? (wep?.spec?.interfaceName ?? id.hostIface) : undefined,
        containerIface: a.ifName,
        netns,
      });
      await release(ctx, conf, id, a);
      if (wep && ours) {
        await ctx.resources
          .delete(WEP, id.wepName, id.namespace, wep.metadata.resourceVersion)
          .catch((err: unknown) => {
            if (!(err instanceof NotFoundError)) throw err;
          });
      }
      log(conf, 'info', 'DEL', { containerId: a.containerId, ifName: a.ifName });
    } catch (err) {
      throw toCniError(err);
    }
  });
}

export async function cmdCheck(deps: PluginDeps, a: CmdArgs): Promise<void> {
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
  const cont = (prev.interfaces ?? []).find((i) => i.name === a.ifName && i.sandbox !== undefined);
  await withContext(deps.contexts, conf.datastore, async (ctx) => {
    const problems: string[] = [];
    const wep = await ctx.resources.get<WorkloadEndpointSpec>(WEP, id.wepName, id.namespace);
    if (!wep) problems.push(`WorkloadEndpoint ${id.namespace}/${id.wepName} does not exist`);
    else {
      if (wep.spec?.containerID !== a.containerId) {
        problems.push(
          `WorkloadEndpoint ${id.wepName} belongs to container ${wep.spec?.containerID}`,
        );
      }
      const want = [...ipv4.map((x) => `${x}/32`), ...ipv6.map((x) => `${x}/128`)].sort();
      const have = [...(wep.spec?.ipNetworks ?? [])].sort();
      if (want.join(',') !== have.join(',')) {
        problems.push(
          `WorkloadEndpoint has ipNetworks ${have.join(',') || 'none'}, prevResult has ${want.join(',') || 'none'}`,
        );
      }
    }
    if (isTortieIpam(conf)) problems.push(...(await ipamCheck(ctx, id.handle, [...ipv4, ...ipv6])));
    else await execPlugin(conf.ipam.type, 'CHECK', a.env, a.stdin);
    const expectation = {
      hostIface: id.hostIface,
      containerIface: a.ifName,
      netns: a.netns,
      ipv4,
      ipv6,
    };
    problems.push(
      ...(await checkWorkload(
        cont?.mac ? { ...expectation, containerMac: cont.mac } : expectation,
      )),
    );
    if (problems.length > 0)
      throw new CniError(ERR_CHECK_FAILED, 'CHECK failed', problems.join('; '));
  });
}

export async function cmdGc(deps: PluginDeps, a: CmdArgs): Promise<void> {
  const conf = parseNetConf(a.config, a.env);
  const valid = validSet(conf);
  const node = resolveNodename(conf);
  await withContext(deps.contexts, conf.datastore, async (ctx) => {
    const failures: string[] = [];
    const released = new Set<string>();
    // 1. Endpoints of this network on this node whose attachment is gone.
    const weps = await ctx.resources.list<WorkloadEndpointSpec>(WEP);
    for (const w of weps) {
      const ann = w.metadata.annotations ?? {};
      if (ann[ANNOTATION_NETWORK] !== conf.name || w.spec?.node !== node) continue;
      const key = attachmentKey({
        containerID: w.spec?.containerID ?? '',
        ifname: w.spec?.endpoint ?? '',
      });
      if (valid.has(key)) continue;
      try {
        const netns = ann[ANNOTATION_NETNS];
        await deleteWorkload({
          hostIface: w.spec?.interfaceName,
          containerIface: w.spec?.endpoint ?? 'eth0',
          netns: netns && existsSync(netns) ? netns : undefined,
        });
        const handle = ann[ANNOTATION_HANDLE];
        if (handle && isTortieIpam(conf)) {
          await ctx.ipam.releaseByHandle(handle);
          released.add(handle);
        }
        await ctx.resources
          .delete(WEP, w.metadata.name, w.metadata.namespace, w.metadata.resourceVersion)
          .catch((err: unknown) => {
            if (!(err instanceof NotFoundError)) throw err;
          });
        log(conf, 'info', 'GC endpoint', { name: w.metadata.name });
      } catch (err) {
        failures.push(`${w.metadata.name}: ${(err as Error).message}`);
      }
    }
    // 2. Allocations of this network on this node with no valid attachment.
    if (isTortieIpam(conf)) {
      for (const h of await staleHandles(ctx, conf.name, node, valid)) {
        if (released.has(h)) continue;
        await ctx.ipam
          .releaseByHandle(h)
          .catch((err: Error) => failures.push(`${h}: ${err.message}`));
      }
    } else {
      await execPlugin(conf.ipam.type, 'GC', a.env, a.stdin);
    }
    if (failures.length > 0)
      throw toCniError(new Error(`GC could not clean up ${failures.join('; ')}`));
  });
}

export async function cmdStatus(deps: PluginDeps, a: CmdArgs): Promise<void> {
  const conf = parseNetConf(a.config, a.env);
  const why = deps.agentNotReady?.();
  if (why) throw new CniError(ERR_PLUGIN_NOT_AVAILABLE, 'plugin not available', `agent: ${why}`);
  await statusOf(deps.contexts, conf, async (ctx) => {
    if (isTortieIpam(conf)) await ipamStatus(ctx, conf);
  });
  if (!isTortieIpam(conf)) await execPlugin(conf.ipam.type, 'STATUS', a.env, a.stdin);
}

export function tortieVerbs(deps: PluginDeps): PluginVerbs {
  return {
    add: (a) => cmdAdd(deps, a),
    del: (a) => cmdDel(deps, a),
    check: (a) => cmdCheck(deps, a),
    gc: (a) => cmdGc(deps, a),
    status: (a) => cmdStatus(deps, a),
  };
}
