import { callListener } from './deliver.js';
import { SqliteStore } from './sqlite-store.js';
import type { WatchEvent, WatchListener } from './types.js';

/**
 * Delivers SQLite change-log entries to watches. One poller per database file
 * per process serves every watch on it: it owns a connection of its own and
 * checks `PRAGMA data_version` (which moves whenever another connection
 * commits) every few milliseconds, so an idle store costs one cheap pragma
 * per tick. Writers in this process nudge it for immediate delivery.
 */

export interface SqliteWatch {
  readonly prefix: string;
  /** Revision delivered through: the next event this watch gets is > position. */
  position: number;
  readonly listener: WatchListener;
}

/**
 * The poll interval starts at MIN after any change and doubles on each idle
 * tick up to MAX: a busy store is seen within 2 ms, an idle agent costs ~100
 * pragmas a second instead of 500.
 */
const MIN_POLL_MS = 2;
const MAX_POLL_MS = 10;
/** How often the poller deletes keys whose TTL ran out, when no write does it first. */
const EXPIRY_SWEEP_MS = 500;
const BATCH = 1000;

const pollers = new Map<string, ChangePoller>();

export class ChangePoller {
  private readonly watches = new Set<SqliteWatch>();
  private readonly store: SqliteStore;
  private timer: NodeJS.Timeout | undefined;
  private pollMs = MIN_POLL_MS;
  private lastDataVersion = -1;
  /** Set when something this connection cannot see through data_version changed. */
  private dirty = true;
  private nudged = false;
  private lastSweep = 0;

  private constructor(private readonly path: string) {
    this.store = new SqliteStore(path);
  }

  /** The shared poller for `path`, started if needed, with `watch` registered. */
  static add(path: string, watch: SqliteWatch): void {
    let poller = pollers.get(path);
    if (!poller) {
      poller = new ChangePoller(path);
      pollers.set(path, poller);
    }
    poller.watches.add(watch);
    poller.dirty = true;
    poller.start();
    poller.nudge();
  }

  /** Unregisters `watch`; the poller stops and closes its connection when none remain. */
  static remove(path: string, watch: SqliteWatch): void {
    const poller = pollers.get(path);
    if (!poller || !poller.watches.delete(watch)) return;
    if (poller.watches.size === 0) {
      clearTimeout(poller.timer);
      poller.timer = undefined;
      pollers.delete(path);
      poller.store.close();
    }
  }

  /** Tells the poller for `path` (if any) that this process just committed a change. */
  static nudge(path: string): void {
    pollers.get(path)?.nudge();
  }

  private start(): void {
    if (!this.timer) this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.tick();
      if (this.timer) this.schedule();
    }, this.pollMs);
  }

  private nudge(): void {
    if (this.nudged) return;
    this.nudged = true;
    setImmediate(() => {
      this.nudged = false;
      this.tick();
    });
  }

  private tick(): void {
    if (this.watches.size === 0) return;
    try {
      this.sweepExpired();
      const dataVersion = this.store.dataVersion();
      if (!this.dirty && dataVersion === this.lastDataVersion) {
        this.pollMs = Math.min(this.pollMs * 2, MAX_POLL_MS);
        return;
      }
      this.pollMs = MIN_POLL_MS;
      this.lastDataVersion = dataVersion;
      this.dirty = false;
      this.deliver();
    } catch (err) {
      this.dirty = true; // read again on the next tick
      const error = err instanceof Error ? err : new Error(String(err));
      for (const watch of this.watches) watch.listener.onError?.(error);
    }
  }

  private sweepExpired(): void {
    const now = Date.now();
    if (now - this.lastSweep < EXPIRY_SWEEP_MS) return;
    this.lastSweep = now;
    if (this.store.expireIfDue()) this.dirty = true;
  }

  /** Reads the log once for all watches, then calls listeners outside the read transaction. */
  private deliver(): void {
    const pending = new Map<SqliteWatch, WatchEvent[]>();
    const relist = new Map<SqliteWatch, { position: number; compacted: number }>();
    let from = Infinity;
    for (const watch of this.watches) from = Math.min(from, watch.position);

    for (;;) {
      const batch = this.store.changesAfter(from, BATCH);
      for (const watch of this.watches) {
        if (watch.position < batch.compacted && !relist.has(watch)) {
          relist.set(watch, { position: watch.position, compacted: batch.compacted });
        }
      }
      for (const { revision, key, event } of batch.events) {
        for (const watch of this.watches) {
          if (revision <= watch.position || !key.startsWith(watch.prefix)) continue;
          if (relist.has(watch)) continue;
          let events = pending.get(watch);
          if (!events) pending.set(watch, (events = []));
          events.push(event);
        }
      }
      const last = batch.events.at(-1)?.revision;
      if (last !== undefined) {
        for (const watch of this.watches) watch.position = Math.max(watch.position, last);
        from = last;
      }
      if (batch.events.length < BATCH) break;
    }

    for (const [watch, { position, compacted }] of relist) {
      ChangePoller.remove(this.path, watch);
      pending.delete(watch);
      callListener(watch.listener, () =>
        watch.listener.onRelist(
          `history up to revision ${compacted} was compacted; watch was at ${position}`,
        ),
      );
    }
    for (const [watch, events] of pending) {
      // A listener may close other watches while we deliver.
      if (this.watches.has(watch))
        callListener(watch.listener, () => watch.listener.onEvents(events));
    }
  }
}
