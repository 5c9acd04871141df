import { readFileSync } from 'node:fs';
import {
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  isBrokenCircuitError,
  retry,
} from 'cockatiel';
import {
  ClientClosedError,
  CompareResult,
  CompareTarget,
  Etcd3,
  Range,
  isRecoverableError,
  type ICompare,
  type IOptions,
  type IRequestOp,
  type ITxnResponse,
} from 'etcd3';
import { toKeyValue } from './etcd-convert.js';
import { EtcdWatch } from './etcd-watch.js';
import type { EtcdTls } from './open.js';
import {
  AlreadyExistsError,
  ConflictError,
  DatastoreError,
  NotFoundError,
  UnavailableError,
  type Datastore,
  type KeyValue,
  type ListResult,
  type WatchHandle,
  type WatchListener,
} from './types.js';

/**
 * The etcd v3 backend. Revisions, CAS and watch history are etcd's own: each
 * operation is one etcd transaction whose compare clause is the CAS, and
 * whose else-branch reads the key so a lost CAS reports the current value in
 * the same round trip.
 */
export class EtcdDatastore implements Datastore {
  readonly url: string;
  private readonly watches = new Set<EtcdWatch>();
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    url: string,
  ) {
    this.url = url;
  }

  /** `endpoints` are `host:port` or `http(s)://host:port`; TLS switches to https. */
  static open(endpoints: string[], tls?: EtcdTls): EtcdDatastore {
    if (endpoints.length === 0) throw new DatastoreError('etcd: no endpoints given');
    const secure = tls !== undefined;
    const hosts = endpoints.map((e) =>
      /^https?:\/\//.test(e) ? e : `${secure ? 'https' : 'http'}://${e}`,
    );
    const url = `${secure ? 'etcds' : 'etcd'}://${hosts.map((h) => h.replace(/^https?:\/\//, '')).join(',')}`;
    return new EtcdDatastore(new Etcd3(clientOptions(hosts, tls)), url);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(() => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv && toKeyValue(kv);
  }

  async list(prefix: string): Promise<ListResult> {
    const range = prefixRange(prefix);
    const res = await this.call(() =>
      this.client.kv.range({ key: range.start, range_end: range.end }),
    );
    return { items: res.kvs.map(toKeyValue), revision: Number(res.header.revision) };
  }

  async create(key: string, value: string, opts?: { ttlSeconds?: number }): Promise<KeyValue> {
    const lease =
      opts?.ttlSeconds === undefined
        ? undefined
        : (await this.call(() => this.client.leaseClient.leaseGrant({ TTL: opts.ttlSeconds! }))).ID;
    const k = Buffer.from(key);
    const res = await this.txn(
      [compare(k, 'Create', 'Equal', 0)],
      [{ request_put: { key: k, value: Buffer.from(value), ...(lease ? { lease } : {}) } }],
      [{ request_range: { key: k } }],
    );
    if (!res.succeeded) {
      if (lease) await this.revokeQuietly(lease);
      const current = rangeResult(res);
      if (!current) throw new UnavailableError(`etcd: ${key} vanished during create`);
      throw new AlreadyExistsError(key, current);
    }
    const rev = Number(res.header.revision);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  async update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    const k = Buffer.from(key);
    const res = await this.txn(
      [compare(k, 'Create', 'Greater', 0), compare(k, 'Mod', 'Equal', expectedModRevision)],
      // ignore_lease keeps a TTL key's lease, as SQLite keeps its expiry.
      [{ request_put: { key: k, value: Buffer.from(value), prev_kv: true, ignore_lease: true } }],
      [{ request_range: { key: k } }],
    );
    if (!res.succeeded) throw casFailure(key, expectedModRevision, rangeResult(res));
    const prev = res.responses[0]?.response_put?.prev_kv;
    return {
      key,
      value,
      createRevision: Number(prev?.create_revision ?? res.header.revision),
      modRevision: Number(res.header.revision),
    };
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    const k = Buffer.from(key);
    const guard = [compare(k, 'Create', 'Greater', 0)];
    if (expectedModRevision !== undefined) {
      guard.push(compare(k, 'Mod', 'Equal', expectedModRevision));
    }
    const res = await this.txn(
      guard,
      [{ request_delete_range: { key: k, prev_kv: true } }],
      [{ request_range: { key: k } }],
    );
    if (!res.succeeded) throw casFailure(key, expectedModRevision, rangeResult(res));
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    if (!prev) throw new NotFoundError(key);
    return toKeyValue(prev);
  }

  async revision(): Promise<number> {
    // A one-key, keys-only read: the header carries the store revision.
    const res = await this.call(() =>
      this.client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true }),
    );
    return Number(res.header.revision);
  }

  watch(prefix: string, afterRevision: number, listener: WatchListener): WatchHandle {
    if (this.closed) throw new DatastoreError(`${this.url}: datastore is closed`);
    const range = prefixRange(prefix);
    const watch = new EtcdWatch(this.client, range, afterRevision, listener, () =>
      this.watches.delete(watch),
    );
    this.watches.add(watch);
    return { close: () => watch.close() };
  }

  /** Discards etcd's history up to `revision`; watches from before it relist. */
  async compact(revision: number): Promise<void> {
    await this.call(() => this.client.kv.compact({ revision, physical: true }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((w) => w.close()));
    this.client.close();
  }

  private txn(compare: ICompare[], success: IRequestOp[], failure: IRequestOp[]) {
    return this.call(() => this.client.kv.txn({ compare, success, failure }));
  }

  private async revokeQuietly(lease: string): Promise<void> {
    await this.client.leaseClient.leaseRevoke({ ID: lease }).catch(() => undefined);
  }

  /** Runs an etcd call, mapping connection trouble to UnavailableError. */
  private async call<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new DatastoreError(`${this.url}: datastore is closed`);
    try {
      return await op();
    } catch (err) {
      throw toDatastoreError(err, this.url);
    }
  }
}

function toDatastoreError(err: unknown, url: string): unknown {
  if (err instanceof ClientClosedError) return new DatastoreError(`${url}: datastore is closed`);
  if (err instanceof Error && (isRecoverableError(err) || isBrokenCircuitError(err))) {
    return new UnavailableError(`${url}: ${err.message}`);
  }
  return err;
}

/**
 * Retries and backoffs sized for a local cluster: an etcd restart takes about
 * a second, so calls retry briefly and watch streams reconnect within ~2s.
 */
function clientOptions(hosts: string[], tls?: EtcdTls): IOptions {
  const options: IOptions = {
    hosts,
    dialTimeout: 5_000,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 10_000 }),
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: 500,
          breaker: new ConsecutiveBreaker(5),
        }),
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: 3,
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
      }),
      // The client wants a backoff state, not the factory (it only calls next() on it).
      watchBackoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 2_000 }).next(),
    },
  };
  // Without files, https endpoints use the system's root CAs (the client's default).
  if (tls?.caFile) {
    options.credentials = {
      rootCertificate: readFileSync(tls.caFile),
      ...(tls.keyFile ? { privateKey: readFileSync(tls.keyFile) } : {}),
      ...(tls.certFile ? { certChain: readFileSync(tls.certFile) } : {}),
    };
  } else if (tls?.certFile || tls?.keyFile) {
    throw new DatastoreError('etcd: a client certificate needs the CA file too (ca=FILE)');
  }
  return options;
}

/** All keys under `prefix`; the empty prefix means every key. */
function prefixRange(prefix: string): Range {
  return prefix === '' ? new Range(Buffer.from([0]), Buffer.from([0])) : Range.prefix(prefix);
}

function compare(
  key: Buffer,
  target: 'Create' | 'Mod',
  result: 'Equal' | 'Greater',
  revision: number,
): ICompare {
  return {
    key,
    target: CompareTarget[target],
    result: CompareResult[result],
    ...(target === 'Create' ? { create_revision: revision } : { mod_revision: revision }),
  };
}

function rangeResult(res: ITxnResponse): KeyValue | undefined {
  const kv = res.responses[0]?.response_range?.kvs[0];
  return kv && toKeyValue(kv);
}

function casFailure(key: string, expected: number | undefined, current: KeyValue | undefined) {
  if (!current) return new NotFoundError(key);
  return new ConflictError(key, expected ?? current.modRevision, current);
}
