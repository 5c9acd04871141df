import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { prefixEnd } from './key-range.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  type KeyValue,
  type ListResult,
  type WatchEvent,
} from './types.js';

/**
 * One connection to a Tortie SQLite file and the synchronous operations on it.
 *
 * Every write runs in a BEGIN IMMEDIATE transaction that bumps the store-wide
 * revision (a row in `meta`), changes `kv`, and appends exactly one row per
 * revision to `changes`, the log that watches read. Because revisions are taken
 * under the write lock, commit order is revision order and any reader snapshot
 * holds a gap-free prefix of the log.
 */

export interface SqliteStoreOptions {
  /** Revisions of change log to keep; older entries are compacted away. */
  retention?: number;
  /** How long a writer waits for the write lock before failing (ms). */
  busyTimeoutMs?: number;
}

export const DEFAULT_RETENTION = 10_000;
const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 1), ('compacted', 0);
CREATE TABLE IF NOT EXISTS kv (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev    INTEGER NOT NULL,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS changes (
  rev             INTEGER PRIMARY KEY,
  key             TEXT NOT NULL,
  type            TEXT NOT NULL CHECK (type IN ('put', 'delete')),
  value           TEXT,
  create_rev      INTEGER,
  prev_value      TEXT,
  prev_create_rev INTEGER,
  prev_mod_rev    INTEGER
);
`;

interface KvRow {
  key: string;
  value: string;
  create_rev: number;
  mod_rev: number;
}

interface ChangeRow {
  rev: number;
  key: string;
  type: 'put' | 'delete';
  value: string | null;
  create_rev: number | null;
  prev_value: string | null;
  prev_create_rev: number | null;
  prev_mod_rev: number | null;
}

export interface ChangeBatch {
  compacted: number;
  /** Changes after the requested revision, oldest first. */
  events: { revision: number; key: string; event: WatchEvent }[];
}

function toKeyValue(row: KvRow): KeyValue {
  return {
    key: row.key,
    value: row.value,
    createRevision: row.create_rev,
    modRevision: row.mod_rev,
  };
}

function toEvent(row: ChangeRow): WatchEvent {
  const prev: KeyValue | undefined =
    row.prev_value === null
      ? undefined
      : {
          key: row.key,
          value: row.prev_value,
          createRevision: row.prev_create_rev ?? 0,
          modRevision: row.prev_mod_rev ?? 0,
        };
  if (row.type === 'delete') {
    return prev
      ? { type: 'delete', key: row.key, revision: row.rev, prev }
      : { type: 'delete', key: row.key, revision: row.rev };
  }
  const kv = {
    key: row.key,
    value: row.value ?? '',
    createRevision: row.create_rev ?? row.rev,
    modRevision: row.rev,
  };
  return prev ? { type: 'put', kv, prev } : { type: 'put', kv };
}

export class SqliteStore {
  readonly db: Database.Database;
  private readonly retention: number;
  /** Compact the log every `compactEvery` revisions, so it holds < retention + compactEvery rows. */
  private readonly compactEvery: number;
  private readonly stmts;
  private readonly tx;

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    this.retention = Math.max(1, opts.retention ?? DEFAULT_RETENTION);
    this.compactEvery = Math.max(1, Math.min(1000, Math.floor(this.retention / 10)));
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { timeout: opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
    this.db = db;
    try {
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a commit survives a process crash; power loss may
      // roll back the last commits but never corrupts the file.
      db.pragma('synchronous = NORMAL');
      db.transaction(() => db.exec(SCHEMA)).immediate();
    } catch (err) {
      db.close();
      throw err;
    }

    const s = {
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      meta: db.prepare<[string], number>('SELECT value FROM meta WHERE name = ?').pluck(),
      bumpRevision: db
        .prepare<[], number>(
          "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value",
        )
        .pluck(),
      setCompacted: db.prepare<[number]>(
        "UPDATE meta SET value = max(value, ?) WHERE name = 'compacted'",
      ),
      get: db.prepare<[string], KvRow>(
        'SELECT key, value, create_rev, mod_rev FROM kv WHERE key = ?',
      ),
      listAll: db.prepare<[], KvRow>('SELECT key, value, create_rev, mod_rev FROM kv ORDER BY key'),
      listFrom: db.prepare<[string], KvRow>(
        'SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ? ORDER BY key',
      ),
      listRange: db.prepare<[string, string], KvRow>(
        'SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ? AND key < ? ORDER BY key',
      ),
      insert: db.prepare<[string, string, number, number, number | null]>(
        'INSERT INTO kv (key, value, create_rev, mod_rev, expires_at) VALUES (?, ?, ?, ?, ?)',
      ),
      update: db.prepare<[string, number, string]>(
        'UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?',
      ),
      delete: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
      anyExpired: db
        .prepare<[number], number>(
          'SELECT 1 FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT 1',
        )
        .pluck(),
      expired: db.prepare<[number], KvRow>(
        'SELECT key, value, create_rev, mod_rev FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?',
      ),
      logPut: db.prepare<
        [number, string, string, number, string | null, number | null, number | null]
      >(
        `INSERT INTO changes (rev, key, type, value, create_rev, prev_value, prev_create_rev, prev_mod_rev)
         VALUES (?, ?, 'put', ?, ?, ?, ?, ?)`,
      ),
      logDelete: db.prepare<[number, string, string, number, number]>(
        `INSERT INTO changes (rev, key, type, prev_value, prev_create_rev, prev_mod_rev)
         VALUES (?, ?, 'delete', ?, ?, ?)`,
      ),
      trimLog: db.prepare<[number]>('DELETE FROM changes WHERE rev <= ?'),
      changesAfter: db.prepare<[number, number], ChangeRow>(
        'SELECT * FROM changes WHERE rev > ? ORDER BY rev LIMIT ?',
      ),
    };
    this.stmts = s;

    this.tx = {
      create: db.transaction((key: string, value: string, ttlSeconds: number | undefined) => {
        this.expireDue();
        const current = s.get.get(key);
        if (current) throw new AlreadyExistsError(key, toKeyValue(current));
        const rev = this.nextRevision();
        const expiresAt = ttlSeconds === undefined ? null : Date.now() + ttlSeconds * 1000;
        s.insert.run(key, value, rev, rev, expiresAt);
        s.logPut.run(rev, key, value, rev, null, null, null);
        return { key, value, createRevision: rev, modRevision: rev };
      }),
      update: db.transaction((key: string, value: string, expected: number) => {
        this.expireDue();
        const current = s.get.get(key);
        if (!current) throw new NotFoundError(key);
        if (current.mod_rev !== expected)
          throw new ConflictError(key, expected, toKeyValue(current));
        const rev = this.nextRevision();
        s.update.run(value, rev, key);
        s.logPut.run(
          rev,
          key,
          value,
          current.create_rev,
          current.value,
          current.create_rev,
          current.mod_rev,
        );
        return { key, value, createRevision: current.create_rev, modRevision: rev };
      }),
      delete: db.transaction((key: string, expected: number | undefined) => {
        this.expireDue();
        const current = s.get.get(key);
        if (!current) throw new NotFoundError(key);
        if (expected !== undefined && current.mod_rev !== expected)
          throw new ConflictError(key, expected, toKeyValue(current));
        this.deleteRow(current);
        return toKeyValue(current);
      }),
      expire: db.transaction(() => this.expireDue()),
      compact: db.transaction((revision: number) => {
        this.trimTo(Math.min(revision, this.head()));
      }),
      read: db.transaction((fn: () => unknown) => fn()),
    };
  }

  /** Runs `fn` in one read transaction, so every query in it sees the same snapshot. */
  private read<T>(fn: () => T): T {
    return this.tx.read(fn) as T;
  }

  // --- reads -------------------------------------------------------------

  get(key: string): KeyValue | undefined {
    this.expireIfDue();
    const row = this.stmts.get.get(key);
    return row && toKeyValue(row);
  }

  list(prefix: string): ListResult {
    this.expireIfDue();
    return this.read(() => {
      const end = prefixEnd(prefix);
      const rows =
        prefix === ''
          ? this.stmts.listAll.all()
          : end === undefined
            ? this.stmts.listFrom.all(prefix)
            : this.stmts.listRange.all(prefix, end);
      return { items: rows.map(toKeyValue), revision: this.head() };
    });
  }

  revision(): number {
    return this.head();
  }

  /** Changes with revision > `after`, at most `limit`, plus the compaction mark, from one snapshot. */
  changesAfter(after: number, limit: number): ChangeBatch {
    return this.read(() => ({
      compacted: this.stmts.meta.get('compacted') ?? 0,
      events: this.stmts.changesAfter
        .all(after, limit)
        .map((row) => ({ revision: row.rev, key: row.key, event: toEvent(row) })),
    }));
  }

  /** Changes whenever another connection commits to the file. */
  dataVersion(): number {
    return Number(this.stmts.dataVersion.get());
  }

  // --- writes ------------------------------------------------------------

  create(key: string, value: string, ttlSeconds?: number): KeyValue {
    return this.tx.create.immediate(key, value, ttlSeconds);
  }

  update(key: string, value: string, expectedModRevision: number): KeyValue {
    return this.tx.update.immediate(key, value, expectedModRevision);
  }

  delete(key: string, expectedModRevision?: number): KeyValue {
    return this.tx.delete.immediate(key, expectedModRevision);
  }

  /** Deletes (as real, logged writes) every key whose TTL has run out. Returns whether any did. */
  expireIfDue(): boolean {
    if (this.stmts.anyExpired.get(Date.now()) === undefined) return false;
    this.tx.expire.immediate();
    return true;
  }

  /** Drops change-log entries up to `revision` (capped at the current revision). */
  compact(revision: number): void {
    this.tx.compact.immediate(revision);
  }

  close(): void {
    this.db.close();
  }

  // --- inside a write transaction ------------------------------------------

  private head(): number {
    return this.stmts.meta.get('revision') ?? 1;
  }

  private nextRevision(): number {
    const rev = this.stmts.bumpRevision.get();
    if (rev === undefined) throw new Error('meta.revision row missing');
    if (rev % this.compactEvery === 0) this.trimTo(rev - this.retention);
    return rev;
  }

  private trimTo(mark: number): void {
    if (mark <= 0) return;
    this.stmts.trimLog.run(mark);
    this.stmts.setCompacted.run(mark);
  }

  private deleteRow(current: KvRow): void {
    const rev = this.nextRevision();
    this.stmts.delete.run(current.key);
    this.stmts.logDelete.run(rev, current.key, current.value, current.create_rev, current.mod_rev);
  }

  private expireDue(): void {
    for (const row of this.stmts.expired.all(Date.now())) this.deleteRow(row);
  }
}
