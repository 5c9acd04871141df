// A Datastore wrapper that counts round trips, for measuring what an
// allocation costs (bench/ipam.ts, tests) without touching the backends.

import type {
  Datastore,
  KeyValue,
  ListResult,
  WatchHandle,
  WatchListener,
} from '../datastore/types.js';

export type DatastoreOp = 'get' | 'list' | 'create' | 'update' | 'delete';

export class CountingDatastore implements Datastore {
  readonly counts: Record<DatastoreOp, number> = {
    get: 0,
    list: 0,
    create: 0,
    update: 0,
    delete: 0,
  };

  constructor(readonly inner: Datastore) {}

  get url(): string {
    return this.inner.url;
  }

  /** Every request sent so far (reads and writes, successful or not). */
  total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  reset(): void {
    for (const k of Object.keys(this.counts) as DatastoreOp[]) this.counts[k] = 0;
  }

  get(key: string): Promise<KeyValue | undefined> {
    this.counts.get++;
    return this.inner.get(key);
  }
  list(prefix: string): Promise<ListResult> {
    this.counts.list++;
    return this.inner.list(prefix);
  }
  create(key: string, value: string, opts?: { ttlSeconds?: number }): Promise<KeyValue> {
    this.counts.create++;
    return this.inner.create(key, value, opts);
  }
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    this.counts.update++;
    return this.inner.update(key, value, expectedModRevision);
  }
  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    this.counts.delete++;
    return this.inner.delete(key, expectedModRevision);
  }
  watch(prefix: string, afterRevision: number, listener: WatchListener): WatchHandle {
    return this.inner.watch(prefix, afterRevision, listener);
  }
  revision(): Promise<number> {
    return this.inner.revision();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
