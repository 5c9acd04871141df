// The datastore syncer: lists the calculation's key prefixes, then watches
// each from the revision it listed at, and hands every change on as a
// KvUpdate. It is "in sync" once every prefix has been listed.
//
// A watch that cannot continue (history compacted) is replaced by a fresh
// list, diffed against the values already handed on, so that keys deleted
// meanwhile come out as deletions. A list that fails (datastore down) is
// retried with backoff for as long as it takes; the agent keeps the kernel
// as it is meanwhile.

import type { KvUpdate } from '../calc/types.js';
import type { Datastore, WatchEvent, WatchHandle } from '../datastore/types.js';

export interface SyncerListener {
  onUpdates(updates: KvUpdate[]): void;
  /** Every prefix listed at least once. Called once. */
  onInSync(): void;
  /** The datastore became unreachable (`err`) or reachable again (undefined). */
  onConnectivity(err: Error | undefined): void;
}

export interface SyncerOptions {
  /** First retry delay after a failed list; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

class PrefixSync {
  readonly values = new Map<string, string>();
  watch: WatchHandle | undefined;
  listed = false;
  generation = 0;

  constructor(readonly prefix: string) {}
}

export class Syncer {
  private readonly prefixes: PrefixSync[];
  private stopped = false;
  private inSyncSent = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Lists done (including relists), for tests and metrics. */
  lists = 0;
  relists = 0;

  constructor(
    private readonly ds: Datastore,
    prefixes: readonly string[],
    private readonly listener: SyncerListener,
    private readonly opts: SyncerOptions = {},
  ) {
    this.prefixes = prefixes.map((p) => new PrefixSync(p));
  }

  start(): void {
    for (const p of this.prefixes) void this.listAndWatch(p, 0);
  }

  get inSync(): boolean {
    return this.inSyncSent;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private async listAndWatch(p: PrefixSync, attempt: number): Promise<void> {
    if (this.stopped) return;
    const generation = ++p.generation;
    let listing;
    try {
      listing = await this.ds.list(p.prefix);
    } catch (err) {
      if (this.stopped) return;
      this.listener.onConnectivity(err as Error);
      const base = this.opts.backoffMs ?? 200;
      const delay = Math.min(this.opts.maxBackoffMs ?? 5000, base * 2 ** Math.min(attempt, 10));
      this.later(delay, () => void this.listAndWatch(p, attempt + 1));
      return;
    }
    if (this.stopped || generation !== p.generation) return;
    this.lists++;
    if (attempt > 0) this.listener.onConnectivity(undefined);
    const updates: KvUpdate[] = [];
    const seen = new Set<string>();
    for (const kv of listing.items) {
      seen.add(kv.key);
      if (p.values.get(kv.key) !== kv.value) {
        p.values.set(kv.key, kv.value);
        updates.push({ key: kv.key, value: kv.value });
      }
    }
    for (const key of [...p.values.keys()]) {
      if (!seen.has(key)) {
        p.values.delete(key);
        updates.push({ key, value: undefined });
      }
    }
    if (updates.length > 0) this.listener.onUpdates(updates);
    p.listed = true;
    p.watch = this.ds.watch(p.prefix, listing.revision, {
      onEvents: (events) => this.onEvents(p, generation, events),
      onRelist: () => {
        if (this.stopped || generation !== p.generation) return;
        this.relists++;
        p.watch = undefined;
        void this.listAndWatch(p, 0);
      },
      onError: (err) => {
        if (!this.stopped) this.listener.onConnectivity(err);
      },
    });
    if (!this.inSyncSent && this.prefixes.every((x) => x.listed)) {
      this.inSyncSent = true;
      this.listener.onInSync();
    }
  }

  private onEvents(p: PrefixSync, generation: number, events: WatchEvent[]): void {
    if (this.stopped || generation !== p.generation) return;
    const updates: KvUpdate[] = [];
    for (const ev of events) {
      if (ev.type === 'put') {
        if (p.values.get(ev.kv.key) === ev.kv.value) continue;
        p.values.set(ev.kv.key, ev.kv.value);
        updates.push({ key: ev.kv.key, value: ev.kv.value });
      } else if (p.values.delete(ev.key)) {
        updates.push({ key: ev.key, value: undefined });
      }
    }
    // Events flowing again means the datastore is back.
    this.listener.onConnectivity(undefined);
    if (updates.length > 0) this.listener.onUpdates(updates);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.prefixes.map((p) => p.watch?.close().catch(() => undefined)));
  }
}
