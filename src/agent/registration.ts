// The agent's own Node resource: its address with the real prefix length,
// its VXLAN tunnel address (from IPAM, handle vxlan-tunnel-addr-<node>) and
// its VTEP MAC. Every write is a compare-and-swap on the Node's revision,
// retried when another writer got there first, and keeps every field the
// agent does not own.

import { randomBytes } from 'node:crypto';
import { ResourceStore } from '../datastore/resources.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  type Datastore,
} from '../datastore/types.js';
import { Ipam } from '../ipam/allocator.js';
import { cidrContainsAddress, parseIP, tryParseCidr } from '../model/cidr.js';
import {
  CALICO_API_VERSION,
  type IPPoolSpec,
  type NodeSpec,
  type Resource,
} from '../model/resource.js';
import type { HostAddress } from './autodetect.js';
import { statusKey, type AgentStatus } from './status.js';

export const NODE_KIND = 'Node';
const MAX_ATTEMPTS = 20;

export function tunnelHandle(node: string): string {
  return `vxlan-tunnel-addr-${node}`;
}

/** A random locally administered unicast MAC, as Felix makes for its VTEP. */
export function randomVtepMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Reads, changes and CAS-writes the Node until the write sticks. */
async function updateNode(
  store: ResourceStore,
  name: string,
  change: (node: Resource<NodeSpec>) => boolean,
): Promise<Resource<NodeSpec>> {
  for (let attempt = 0; ; attempt++) {
    const current = await store.get<NodeSpec>(NODE_KIND, name);
    if (!current) throw new NotFoundError(name);
    const next = structuredClone(current);
    next.spec ??= {};
    if (!change(next)) return current;
    try {
      return await store.update(next);
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}

export class NodeConflictError extends Error {
  override name = 'NodeConflictError';
}

/** A live agent reports at least this often (its heartbeat is 30 s). */
const LIVE_STATUS_MS = 45_000;

/**
 * Node names must be unique: refuses to start when another agent, at another
 * address, has reported under this name recently. (The same address is this
 * host's own agent, restarted.)
 */
export async function checkNameFree(
  ds: Datastore,
  name: string,
  host: HostAddress,
  now = Date.now(),
): Promise<void> {
  const kv = await ds.get(statusKey(name));
  if (!kv) return;
  let status: AgentStatus;
  try {
    status = JSON.parse(kv.value) as AgentStatus;
  } catch {
    return;
  }
  const ageMs = now - Date.parse(status.updatedAt);
  const theirs = status.hostAddress?.split('/')[0];
  if (ageMs < LIVE_STATUS_MS && theirs !== undefined && theirs !== host.address) {
    throw new NodeConflictError(
      `Node name ${name} is in use by a live agent at ${theirs} (it reported ${Math.round(ageMs / 1000)} s ago); each host needs its own --name`,
    );
  }
}

/**
 * Creates or updates the Node so that it records `host` as its address. Fails
 * if another Node already claims that address: two hosts with one address
 * would black-hole each other's workloads.
 */
export async function registerNode(
  ds: Datastore,
  name: string,
  host: HostAddress,
): Promise<Resource<NodeSpec>> {
  const store = new ResourceStore(ds);
  const cidr = `${host.address}/${host.prefixLength}`;
  const others = (await store.list<NodeSpec>(NODE_KIND)).filter((n) => n.metadata.name !== name);
  for (const other of others) {
    const theirs = [
      other.spec?.bgp?.ipv4Address,
      ...(other.spec?.addresses ?? []).map((a) => a.address),
    ]
      .filter((a): a is string => typeof a === 'string')
      .map((a) => a.split('/')[0]);
    if (theirs.includes(host.address)) {
      throw new NodeConflictError(
        `Node ${other.metadata.name} already uses address ${host.address}: each host needs its own address (is --name or --ip wrong?)`,
      );
    }
  }
  for (let attempt = 0; ; attempt++) {
    if (!(await store.get(NODE_KIND, name))) {
      try {
        return await store.create<NodeSpec>({
          apiVersion: CALICO_API_VERSION,
          kind: NODE_KIND,
          metadata: { name, labels: { 'kubernetes.io/hostname': name } },
          spec: {
            bgp: { ipv4Address: cidr },
            addresses: [{ address: cidr, type: 'CalicoNodeIP' }],
          },
        });
      } catch (err) {
        if (!(err instanceof AlreadyExistsError) || attempt >= MAX_ATTEMPTS) throw err;
        continue;
      }
    }
    return updateNode(store, name, (node) => {
      const spec = node.spec!;
      let changed = false;
      if (spec.bgp?.ipv4Address !== cidr) {
        spec.bgp = { ...(spec.bgp ?? {}), ipv4Address: cidr };
        changed = true;
      }
      const addresses = spec.addresses ?? [];
      const mine = addresses.find((a) => a.type === 'CalicoNodeIP');
      if (mine?.address !== cidr) {
        spec.addresses = [
          { address: cidr, type: 'CalicoNodeIP' },
          ...addresses.filter((a) => a.type !== 'CalicoNodeIP'),
        ];
        changed = true;
      }
      return changed;
    });
  }
}

export interface TunnelOutcome {
  address: string | undefined;
  mac: string | undefined;
  changed: boolean;
}

/**
 * Makes the Node's VXLAN tunnel address and MAC match what the pools ask:
 * with VXLAN pools selecting this host (`tunnelPools`, by name), an address
 * from one of them held by the tunnel handle, and a MAC (kept across
 * restarts); with none, no tunnel address (the MAC stays).
 */
export async function reconcileTunnelAddress(
  ds: Datastore,
  ipam: Ipam,
  name: string,
  tunnelPools: string[],
): Promise<TunnelOutcome> {
  const store = new ResourceStore(ds);
  const node = await store.get<NodeSpec>(NODE_KIND, name);
  if (!node) throw new NotFoundError(name);
  const handle = tunnelHandle(name);
  const current = node.spec?.ipv4VXLANTunnelAddr || undefined;
  let address = current;

  if (tunnelPools.length === 0) {
    if (!current) return { address: undefined, mac: node.spec?.vxlanTunnelMACAddr, changed: false };
    const updated = await updateNode(store, name, (n) => {
      if (!n.spec!.ipv4VXLANTunnelAddr) return false;
      delete n.spec!.ipv4VXLANTunnelAddr;
      return true;
    });
    await ipam.releaseByHandle(handle);
    return { address: undefined, mac: updated.spec?.vxlanTunnelMACAddr, changed: true };
  }

  if (current) {
    const pools = (await store.list<IPPoolSpec>('IPPool')).filter((p) =>
      tunnelPools.includes(p.metadata.name),
    );
    const inPool = pools.some((p) => {
      const c = p.spec?.cidr ? tryParseCidr(p.spec.cidr) : undefined;
      return c !== undefined && cidrContainsAddress(c, parseIP(current));
    });
    const holder = inPool ? await ipam.holderOf(current) : undefined;
    if (!holder?.allocated || holder.handle !== handle) address = undefined;
  }
  if (!address) {
    // Whatever the handle still holds is stale (an address from a pool that changed).
    await ipam.releaseByHandle(handle);
    const got = await ipam.autoAssign({
      handle,
      node: name,
      num4: 1,
      use: 'Tunnel',
      pools4: tunnelPools,
      attrs: { type: 'vxlanTunnelAddress' },
    });
    address = got.ipv4[0]?.split('/')[0];
    if (!address)
      throw new Error(`no VXLAN tunnel address for ${name} from pools ${tunnelPools.join(', ')}`);
  }
  const want = address;
  let changed = false;
  const updated = await updateNode(store, name, (n) => {
    const spec = n.spec!;
    let c = false;
    if (spec.ipv4VXLANTunnelAddr !== want) {
      spec.ipv4VXLANTunnelAddr = want;
      c = true;
    }
    if (!spec.vxlanTunnelMACAddr) {
      spec.vxlanTunnelMACAddr = randomVtepMac();
      c = true;
    }
    changed = c;
    return c;
  });
  return { address: want, mac: updated.spec?.vxlanTunnelMACAddr, changed };
}
