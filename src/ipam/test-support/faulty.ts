// A Datastore that "dies" at a chosen write, to simulate a process killed
// mid-operation: the chosen write is either never sent or applied without
// its reply arriving, and every call after it fails.

import type {
  Datastore,
  KeyValue,
  ListResult,
  WatchHandle,
  WatchListener,
} from '../../datastore/types.js';

export class SimulatedCrash extends Error {
  constructor() {
    super('simulated crash');
    this.name = 'SimulatedCrash';
  }
}

export class FaultyDatastore implements Datastore {
  writes = 0;
  dead = false;

  /** crashAt: the 1-based write that kills the process; applied: whether it lands first. */
  constructor(
    readonly inner: Datastore,
    readonly crashAt: number,
    readonly applied: boolean,
  ) {}

  get url(): string {
    return this.inner.url;
  }

  private alive(): void {
    if (this.dead) throw new SimulatedCrash();
  }

  private async write<T>(op: () => Promise<T>): Promise<T> {
    this.alive();
    this.writes++;
    if (this.writes === this.crashAt) {
      this.dead = true;
      if (this.applied) await op().catch(() => undefined);
      throw new SimulatedCrash();
    }
    return op();
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.alive();
    return this.inner.get(key);
  }
  async list(prefix: string): Promise<ListResult> {
    this.alive();
    return this.inner.list(prefix);
  }
  create(key: string, value: string, opts?: { ttlSeconds?: number }): Promise<KeyValue> {
    return this.write(() => this.inner.create(key, value, opts));
  }
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    return this.write(() => this.inner.update(key, value, expectedModRevision));
  }
  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.write(() => this.inner.delete(key, expectedModRevision));
  }
  watch(prefix: string, afterRevision: number, listener: WatchListener): WatchHandle {
    return this.inner.watch(prefix, afterRevision, listener);
  }
  revision(): Promise<number> {
    return this.inner.revision();
  }
  async close(): Promise<void> {}
}
