// What IPAM reads besides its own keys: pools, reservations, nodes, workload
// endpoints and the IPAM configuration. Behind an interface so that the
// allocator can be tested with fakes, and cached so that an allocation does
// not re-read the pools every time.

import { tryParseCidr, type Cidr, type IPFamily } from '../model/cidr.js';
import type {
  IPAMConfigurationSpec,
  IPPoolSpec,
  IPReservationSpec,
  NodeSpec,
  Resource,
  WorkloadEndpointSpec,
} from '../model/resource.js';
import { parseSelector, type Selector } from '../model/selector.js';
import { ResourceStore } from '../datastore/resources.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  type Datastore,
} from '../datastore/types.js';
import { ContentionError } from './errors.js';
import { isRecord } from './json.js';
import { IPAM_CONFIG_KEY, resourceKey } from './keys.js';
import { MAX_CAS_RETRIES } from './store.js';

export type IpamUse = 'Workload' | 'Tunnel';

export interface PoolInfo {
  name: string;
  cidr: Cidr;
  blockSize: number;
  disabled: boolean;
  nodeSelector: Selector;
  allowedUses: string[];
  assignmentMode: 'Automatic' | 'Manual';
}

export interface ReservationInfo {
  name: string;
  cidrs: Cidr[];
}

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
}

export interface WorkloadInfo {
  namespace: string;
  name: string;
  node: string | undefined;
  containerID: string | undefined;
}

export interface IpamConfig {
  strictAffinity: boolean;
  autoAllocateBlocks: boolean;
  /** 0: no limit. */
  maxBlocksPerHost: number;
}

export const DEFAULT_IPAM_CONFIG: Readonly<IpamConfig> = Object.freeze({
  strictAffinity: false,
  autoAllocateBlocks: true,
  maxBlocksPerHost: 0,
});

export interface IpamInputs {
  /** Every pool, enabled or not, with defaults applied. */
  pools(): Promise<PoolInfo[]>;
  reservations(): Promise<ReservationInfo[]>;
  /** undefined: no Node resource of that name. */
  node(name: string): Promise<NodeInfo | undefined>;
  nodes(): Promise<NodeInfo[]>;
  workloads(): Promise<WorkloadInfo[]>;
  config(): Promise<IpamConfig>;
}

/** A pool resource as IPAM sees it, defaults applied; undefined if unusable. */
export function poolInfo(resource: Resource<IPPoolSpec>): PoolInfo | undefined {
  const spec = resource.spec;
  const cidr = spec?.cidr === undefined ? undefined : tryParseCidr(spec.cidr);
  if (!spec || !cidr) return undefined;
  const blockSize = spec.blockSize ?? (cidr.family === 4 ? 26 : 122);
  let nodeSelector: Selector;
  try {
    nodeSelector = parseSelector(spec.nodeSelector ?? 'all()');
  } catch {
    // A pool with a broken selector selects nothing rather than everything.
    nodeSelector = parseSelector('!all()');
  }
  return {
    name: resource.metadata.name,
    cidr,
    blockSize,
    disabled: spec.disabled === true,
    nodeSelector,
    allowedUses: spec.allowedUses ?? ['Workload', 'Tunnel'],
    assignmentMode: spec.assignmentMode ?? 'Automatic',
  };
}

/** Reads the config: /calico/ipam/v2/config or, if newer, the IPAMConfiguration "default". */
export async function readIpamConfig(
  ds: Datastore,
): Promise<{ config: IpamConfig; modRevision: number | undefined }> {
  const [v2, v3] = await Promise.all([
    ds.get(IPAM_CONFIG_KEY),
    ds.get(resourceKey('ipamconfigurations', 'default')),
  ]);
  if (v3 && (!v2 || v3.modRevision > v2.modRevision)) {
    const spec = (JSON.parse(v3.value) as Resource<IPAMConfigurationSpec>).spec ?? {};
    return {
      config: {
        strictAffinity: spec.strictAffinity ?? DEFAULT_IPAM_CONFIG.strictAffinity,
        autoAllocateBlocks: spec.autoAllocateBlocks ?? DEFAULT_IPAM_CONFIG.autoAllocateBlocks,
        maxBlocksPerHost: spec.maxBlocksPerHost ?? DEFAULT_IPAM_CONFIG.maxBlocksPerHost,
      },
      modRevision: v2?.modRevision,
    };
  }
  if (!v2) return { config: { ...DEFAULT_IPAM_CONFIG }, modRevision: undefined };
  return { config: decodeIpamConfig(v2.value), modRevision: v2.modRevision };
}

/** Calico's IPAMConfig JSON: {"strict_affinity", "auto_allocate_blocks", "maxBlocksPerHost"}. */
export function decodeIpamConfig(text: string): IpamConfig {
  const raw: unknown = JSON.parse(text);
  const r = isRecord(raw) ? raw : {};
  return {
    strictAffinity: r.strict_affinity === true,
    // Go omits false with omitempty; Calico's clients write it explicitly as true.
    autoAllocateBlocks: r.auto_allocate_blocks !== false,
    maxBlocksPerHost: typeof r.maxBlocksPerHost === 'number' ? r.maxBlocksPerHost : 0,
  };
}

export function encodeIpamConfig(c: IpamConfig): string {
  return JSON.stringify({
    strict_affinity: c.strictAffinity,
    auto_allocate_blocks: c.autoAllocateBlocks,
    maxBlocksPerHost: c.maxBlocksPerHost,
  });
}

/** CAS read-modify-write of /calico/ipam/v2/config. */
export async function writeIpamConfig(
  ds: Datastore,
  patch: Partial<IpamConfig>,
): Promise<IpamConfig> {
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    const { config, modRevision } = await readIpamConfig(ds);
    const next = { ...config, ...patch };
    try {
      if (modRevision === undefined) await ds.create(IPAM_CONFIG_KEY, encodeIpamConfig(next));
      else await ds.update(IPAM_CONFIG_KEY, encodeIpamConfig(next), modRevision);
      return next;
    } catch (err) {
      if (
        err instanceof ConflictError ||
        err instanceof AlreadyExistsError ||
        err instanceof NotFoundError
      ) {
        continue;
      }
      throw err;
    }
  }
  throw new ContentionError('IPAM configuration: gave up after repeated conflicting writes');
}

/** Reads everything straight from the datastore, every time. */
export class DatastoreInputs implements IpamInputs {
  private readonly resources: ResourceStore;

  constructor(private readonly ds: Datastore) {
    this.resources = new ResourceStore(ds);
  }

  async pools(): Promise<PoolInfo[]> {
    const list = await this.resources.list<IPPoolSpec>('IPPool');
    return list.flatMap((r) => poolInfo(r) ?? []);
  }

  async reservations(): Promise<ReservationInfo[]> {
    const list = await this.resources.list<IPReservationSpec>('IPReservation');
    return list.map((r) => ({
      name: r.metadata.name,
      cidrs: (r.spec?.reservedCIDRs ?? []).flatMap((t) => tryParseCidr(t) ?? []),
    }));
  }

  async node(name: string): Promise<NodeInfo | undefined> {
    const r = await this.resources.get<NodeSpec>('Node', name);
    return r ? { name, labels: r.metadata.labels ?? {} } : undefined;
  }

  async nodes(): Promise<NodeInfo[]> {
    const list = await this.resources.list<NodeSpec>('Node');
    return list.map((r) => ({ name: r.metadata.name, labels: r.metadata.labels ?? {} }));
  }

  async workloads(): Promise<WorkloadInfo[]> {
    const list = await this.resources.list<WorkloadEndpointSpec>('WorkloadEndpoint');
    return list.map((r) => ({
      namespace: r.metadata.namespace ?? 'default',
      name: r.metadata.name,
      node: r.spec?.node,
      containerID: r.spec?.containerID,
    }));
  }

  async config(): Promise<IpamConfig> {
    return (await readIpamConfig(this.ds)).config;
  }
}

/**
 * Caches pools, reservations, node labels and config for `ttlMs` (the inputs
 * an allocation needs), so steady-state allocation costs no extra reads.
 * Nodes and workloads (garbage collection) are never cached.
 */
export class CachedInputs implements IpamInputs {
  private readonly cache = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(
    private readonly inner: IpamInputs,
    private readonly ttlMs = 2000,
  ) {}

  invalidate(): void {
    this.cache.clear();
  }

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = performance.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value as Promise<T>;
    const value = load();
    this.cache.set(key, { at: now, value });
    value.catch(() => this.cache.delete(key));
    return value;
  }

  pools(): Promise<PoolInfo[]> {
    return this.cached('pools', () => this.inner.pools());
  }
  reservations(): Promise<ReservationInfo[]> {
    return this.cached('reservations', () => this.inner.reservations());
  }
  node(name: string): Promise<NodeInfo | undefined> {
    return this.cached(`node/${name}`, () => this.inner.node(name));
  }
  nodes(): Promise<NodeInfo[]> {
    return this.inner.nodes();
  }
  workloads(): Promise<WorkloadInfo[]> {
    return this.inner.workloads();
  }
  config(): Promise<IpamConfig> {
    return this.cached('config', () => this.inner.config());
  }
}

export function familyPools(pools: PoolInfo[], family: IPFamily): PoolInfo[] {
  return pools.filter((p) => p.cidr.family === family);
}
