import { randomUUID } from 'node:crypto';
import {
  kindPrefix,
  lookupKind,
  lookupKindOf,
  resourceKey,
  type KindInfo,
} from '../model/kinds.js';
import type { Resource } from '../model/resource.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  type Datastore,
  type KeyValue,
} from './types.js';

/**
 * Typed access to v3 resources on top of the key-value datastore, at Calico's
 * etcdv3 keys. The stored value is the resource's JSON without
 * `resourceVersion`; on the way out `metadata.resourceVersion` is the key's
 * modRevision, and it is the compare-and-swap token on the way back in.
 */
export class ResourceStore {
  constructor(readonly datastore: Datastore) {}

  async get<S = Record<string, unknown>>(
    kind: KindRef,
    name: string,
    namespace?: string,
  ): Promise<Resource<S> | undefined> {
    const info = requireKind(kind);
    const kv = await this.datastore.get(resourceKey(info, name, namespaceFor(info, namespace)));
    return kv ? decode<S>(kv.value, kv.modRevision) : undefined;
  }

  /** Every resource of a kind; for a namespaced kind, one namespace or (undefined) all. */
  async list<S = Record<string, unknown>>(
    kind: KindRef,
    namespace?: string,
  ): Promise<Resource<S>[]> {
    const info = requireKind(kind);
    const { items } = await this.datastore.list(kindPrefix(info, namespace));
    return items.map((kv) => decode<S>(kv.value, kv.modRevision));
  }

  /** Stores a new resource; fails with AlreadyExistsError if one is there. */
  async create<S>(resource: Resource<S>): Promise<Resource<S>> {
    const info = kindOfResource(resource);
    const stored = prepareForStorage(resource, {
      uid: randomUUID(),
      creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    const kv = await this.datastore.create(keyOf(info, resource), JSON.stringify(stored));
    return decode<S>(kv.value, kv.modRevision);
  }

  /**
   * Replaces a stored resource. With `metadata.resourceVersion` set this is a
   * compare-and-swap against that version; without it, against whatever is
   * stored now. uid and creationTimestamp are kept from the stored copy.
   */
  async update<S>(resource: Resource<S>): Promise<Resource<S>> {
    const key = keyOf(kindOfResource(resource), resource);
    const current = await this.datastore.get(key);
    if (!current) throw new NotFoundError(key);
    return this.replace(key, resource, current);
  }

  /** Create, or update against the current version; retried if a writer races us. */
  async apply<S>(resource: Resource<S>): Promise<{ resource: Resource<S>; created: boolean }> {
    const key = keyOf(kindOfResource(resource), resource);
    for (let attempt = 0; ; attempt++) {
      try {
        const current = await this.datastore.get(key);
        if (!current) return { resource: await this.create(resource), created: true };
        return { resource: await this.replace(key, resource, current), created: false };
      } catch (err) {
        const retryable =
          (err instanceof ConflictError && resource.metadata.resourceVersion === undefined) ||
          err instanceof AlreadyExistsError ||
          err instanceof NotFoundError;
        if (!retryable || attempt >= 20) throw err;
      }
    }
  }

  /** The CAS write behind update and apply, given what is stored at `key` now. */
  private async replace<S>(
    key: string,
    resource: Resource<S>,
    current: KeyValue,
  ): Promise<Resource<S>> {
    const expected =
      resource.metadata.resourceVersion !== undefined
        ? Number(resource.metadata.resourceVersion)
        : current.modRevision;
    if (!Number.isSafeInteger(expected)) {
      throw new Error(
        `metadata.resourceVersion: "${resource.metadata.resourceVersion}" is not a revision`,
      );
    }
    const previous = decode<S>(current.value, current.modRevision);
    const stored = prepareForStorage(resource, {
      uid: previous.metadata.uid,
      creationTimestamp: previous.metadata.creationTimestamp,
    });
    const kv = await this.datastore.update(key, JSON.stringify(stored), expected);
    return decode<S>(kv.value, kv.modRevision);
  }

  /** Deletes; with `resourceVersion`, only if unchanged since. Returns what was deleted. */
  async delete<S = Record<string, unknown>>(
    kind: KindRef,
    name: string,
    namespace?: string,
    resourceVersion?: string,
  ): Promise<Resource<S>> {
    const info = requireKind(kind);
    const key = resourceKey(info, name, namespaceFor(info, namespace));
    const kv = await this.datastore.delete(
      key,
      resourceVersion === undefined ? undefined : Number(resourceVersion),
    );
    return decode<S>(kv.value, kv.modRevision);
  }
}

/** A kind by any of its names (`ippool`, `pools`, `knp`) or its registry entry. */
export type KindRef = string | KindInfo;

export function requireKind(kind: KindRef): KindInfo {
  if (typeof kind !== 'string') return kind;
  const info = lookupKind(kind);
  if (!info) throw new Error(`unknown resource kind "${kind}"`);
  return info;
}

/** A resource's kind by apiVersion and kind, so Kubernetes' NetworkPolicy is not Calico's. */
export function kindOfResource(resource: { apiVersion: string; kind: string }): KindInfo {
  const info = lookupKindOf(resource);
  if (!info) throw new Error(`unknown resource kind "${resource.apiVersion}/${resource.kind}"`);
  return info;
}

function namespaceFor(info: KindInfo, namespace: string | undefined): string | undefined {
  return info.namespaced ? (namespace ?? 'default') : undefined;
}

function keyOf(info: KindInfo, resource: Resource<unknown>): string {
  return resourceKey(info, resource.metadata.name, namespaceFor(info, resource.metadata.namespace));
}

function prepareForStorage<S>(
  resource: Resource<S>,
  identity: { uid: string | undefined; creationTimestamp: string | undefined },
): Resource<S> {
  const { resourceVersion: _dropped, ...metadata } = resource.metadata;
  return {
    ...resource,
    metadata: {
      ...metadata,
      uid: identity.uid ?? metadata.uid,
      creationTimestamp: identity.creationTimestamp ?? metadata.creationTimestamp,
    },
  };
}

function decode<S>(value: string, modRevision: number): Resource<S> {
  const resource = JSON.parse(value) as Resource<S>;
  resource.metadata = { ...resource.metadata, resourceVersion: String(modRevision) };
  return resource;
}
