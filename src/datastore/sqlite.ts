import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
import { ChangePoller, type SqliteWatch } from './sqlite-watch.js';
import {
  DatastoreError,
  UnavailableError,
  type Datastore,
  type KeyValue,
  type ListResult,
  type WatchHandle,
  type WatchListener,
} from './types.js';

/**
 * The embedded datastore: one SQLite file (WAL mode) shared by every Tortie
 * process on the machine. See sqlite-store.ts for the schema and write path and
 * sqlite-watch.ts for how watches follow the change log.
 */
export class SqliteDatastore implements Datastore {
  readonly url: string;
  private store: SqliteStore | undefined;
  private readonly watches = new Set<SqliteWatch>();

  private constructor(
    private readonly path: string,
    store: SqliteStore,
  ) {
    this.url = `sqlite:${path}`;
    this.store = store;
  }

  /** Opens (creating file, parent directory and schema as needed) the store at `path`. */
  static open(path: string, opts?: SqliteStoreOptions): SqliteDatastore {
    const absolute = resolve(path);
    return new SqliteDatastore(
      absolute,
      run(() => new SqliteStore(absolute, opts)),
    );
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return run(() => this.open().get(key));
  }

  async list(prefix: string): Promise<ListResult> {
    return run(() => this.open().list(prefix));
  }

  async create(key: string, value: string, opts?: { ttlSeconds?: number }): Promise<KeyValue> {
    return this.write(() => this.open().create(key, value, opts?.ttlSeconds));
  }

  async update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    return this.write(() => this.open().update(key, value, expectedModRevision));
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return this.write(() => this.open().delete(key, expectedModRevision));
  }

  async revision(): Promise<number> {
    return run(() => this.open().revision());
  }

  watch(prefix: string, afterRevision: number, listener: WatchListener): WatchHandle {
    this.open();
    const watch: SqliteWatch = { prefix, position: afterRevision, listener };
    this.watches.add(watch);
    ChangePoller.add(this.path, watch);
    return {
      close: async () => {
        this.watches.delete(watch);
        ChangePoller.remove(this.path, watch);
      },
    };
  }

  /** Drops change-log history up to `revision`; watches behind it will be told to relist. */
  async compact(revision: number): Promise<void> {
    this.write(() => this.open().compact(revision));
  }

  async close(): Promise<void> {
    for (const watch of this.watches) ChangePoller.remove(this.path, watch);
    this.watches.clear();
    this.store?.close();
    this.store = undefined;
  }

  private open(): SqliteStore {
    if (!this.store) throw new DatastoreError(`${this.url}: datastore is closed`);
    return this.store;
  }

  private write<T>(op: () => T): T {
    const result = run(op);
    ChangePoller.nudge(this.path);
    return result;
  }
}

/** Runs a store operation, turning lock timeouts and I/O failures into UnavailableError. */
function run<T>(op: () => T): T {
  try {
    return op();
  } catch (err) {
    if (err instanceof Database.SqliteError && isTransient(err.code)) {
      throw new UnavailableError(`sqlite: ${err.message} (${err.code})`);
    }
    throw err;
  }
}

function isTransient(code: string): boolean {
  return (
    code.startsWith('SQLITE_BUSY') ||
    code.startsWith('SQLITE_LOCKED') ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'SQLITE_CANTOPEN' ||
    code === 'SQLITE_FULL'
  );
}
