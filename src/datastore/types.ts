/**
 * The one datastore interface every Tortie component talks to.
 *
 * It is a revisioned key-value store with etcd's semantics: every write bumps a
 * store-wide revision; each key remembers the revision of its last change
 * (`modRevision`), which is what compare-and-swap compares. Backends: SQLite
 * (`sqlite:PATH`, the embedded default) and etcd v3 (`etcd://host:port,...`).
 *
 * Invariants every backend keeps (checked by the conformance suite):
 * - Revisions are positive integers that only grow, store-wide.
 * - A write that loses a compare-and-swap changes nothing and reports the
 *   current value (`ConflictError.current`).
 * - A watch started after revision R delivers every change with revision > R,
 *   in revision order, exactly once, or tells the caller to relist
 *   (`onRelist`) when history before its position has been compacted away.
 */

export interface KeyValue {
  key: string;
  /** The stored bytes, as UTF-8 text (JSON for every Calico key). */
  value: string;
  /** Store revision of the last write to this key; the CAS token. */
  modRevision: number;
  /** Store revision at which this key was created. */
  createRevision: number;
}

export interface ListResult {
  items: KeyValue[];
  /** Store revision the list reflects; start a watch after it to miss nothing. */
  revision: number;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue; prev?: KeyValue }
  | { type: 'delete'; key: string; revision: number; prev?: KeyValue };

export interface WatchListener {
  /** Changes in revision order; called with one or more events at a time. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The watch cannot continue from where it stands (history compacted, or the
   * backend lost track). The watch is closed; list again and watch anew.
   */
  onRelist(reason: string): void;
  /** A transient problem (backend unreachable); the watch keeps retrying. */
  onError?(err: Error): void;
}

export interface WatchHandle {
  close(): Promise<void>;
}

export interface Datastore {
  /** Human-readable description, e.g. `sqlite:/var/lib/tortie/tortie.db`. */
  readonly url: string;
  get(key: string): Promise<KeyValue | undefined>;
  list(prefix: string): Promise<ListResult>;
  /** Fails with AlreadyExistsError (carrying the current value) if present. */
  create(key: string, value: string, opts?: { ttlSeconds?: number }): Promise<KeyValue>;
  /**
   * Compare-and-swap: succeeds only if the key's modRevision equals
   * `expectedModRevision`. NotFoundError if the key is absent, ConflictError
   * (with the current value) if it changed.
   */
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue>;
  /** Delete, optionally CAS on modRevision. Returns the deleted pair. NotFoundError if absent. */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue>;
  /** Watch every key under `prefix` for changes with revision > afterRevision. */
  watch(prefix: string, afterRevision: number, listener: WatchListener): WatchHandle;
  /** Current store revision. */
  revision(): Promise<number>;
  close(): Promise<void>;
}

export class DatastoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends DatastoreError {
  constructor(readonly key: string) {
    super(`${key}: not found`);
  }
}

export class AlreadyExistsError extends DatastoreError {
  constructor(
    readonly key: string,
    readonly current: KeyValue,
  ) {
    super(`${key}: already exists`);
  }
}

export class ConflictError extends DatastoreError {
  constructor(
    readonly key: string,
    readonly expectedModRevision: number,
    readonly current: KeyValue,
  ) {
    super(
      `${key}: revision conflict (expected ${expectedModRevision}, current ${current.modRevision})`,
    );
  }
}

/** The backend cannot be reached or failed in a way a retry may fix. */
export class UnavailableError extends DatastoreError {}
