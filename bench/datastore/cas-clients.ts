import Database from 'better-sqlite3';
import { CompareResult, CompareTarget, Etcd3 } from 'etcd3';
import { openDatastore } from '../../src/datastore/open.js';
import { ConflictError, type Datastore, type KeyValue } from '../../src/datastore/types.js';

/**
 * The benchmark's one write primitive, a compare-and-swap that retries on
 * conflict, implemented three ways: through Tortie's Datastore, and directly
 * on better-sqlite3 and on the etcd3 client (the "raw" baselines).
 */
export interface CasClient {
  /** Makes sure `key` exists. */
  seed(key: string): Promise<void>;
  /** Writes next(current) over the last value seen, re-reading on conflict; returns the conflicts. */
  casWrite(key: string, next: (current: string) => string): Promise<number>;
  close(): Promise<void>;
}

export type CasMode = 'tortie' | 'raw-sqlite' | 'raw-etcd';

/** `target`: a datastore URL (tortie), a file path (raw-sqlite) or an endpoint (raw-etcd). */
export async function openCasClient(mode: CasMode, target: string): Promise<CasClient> {
  if (mode === 'tortie') return tortieClient(await openDatastore(target));
  if (mode === 'raw-sqlite') return rawSqliteClient(target);
  return rawEtcdClient(target);
}

function tortieClient(ds: Datastore): CasClient {
  const seen = new Map<string, KeyValue>();
  return {
    async seed(key) {
      const kv = (await ds.get(key)) ?? (await ds.create(key, '0'));
      seen.set(key, kv);
    },
    async casWrite(key, next) {
      for (let conflicts = 0; ; conflicts++) {
        const current = seen.get(key) ?? (await ds.get(key));
        if (!current) throw new Error(`${key} missing`);
        try {
          seen.set(key, await ds.update(key, next(current.value), current.modRevision));
          return conflicts;
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          seen.set(key, err.current);
        }
      }
    },
    close: () => ds.close(),
  };
}

/** The minimal SQLite CAS: a per-key version, `UPDATE ... WHERE mod_rev = ?`, no log, no store revision. */
function rawSqliteClient(path: string): CasClient {
  const db = new Database(path, { timeout: 10_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS raw_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID',
  );
  const select = db.prepare<[string], { value: string; mod_rev: number }>(
    'SELECT value, mod_rev FROM raw_kv WHERE key = ?',
  );
  const update = db.prepare<[string, string, number]>(
    'UPDATE raw_kv SET value = ?, mod_rev = mod_rev + 1 WHERE key = ? AND mod_rev = ?',
  );
  const cas = db.transaction((key: string, value: string, modRev: number) => {
    return update.run(value, key, modRev).changes === 1;
  });
  const seen = new Map<string, { value: string; mod_rev: number }>();
  return {
    async seed(key) {
      db.prepare('INSERT OR IGNORE INTO raw_kv VALUES (?, ?, 1)').run(key, '0');
      seen.set(key, select.get(key)!);
    },
    async casWrite(key, next) {
      for (let conflicts = 0; ; conflicts++) {
        const current = seen.get(key) ?? select.get(key)!;
        const value = next(current.value);
        if (cas.immediate(key, value, current.mod_rev)) {
          seen.set(key, { value, mod_rev: current.mod_rev + 1 });
          return conflicts;
        }
        seen.set(key, select.get(key)!);
      }
    },
    async close() {
      db.close();
    },
  };
}

/** etcd3 transactions: `if mod == rev then put else get`. */
function rawEtcdClient(endpoint: string): CasClient {
  const client = new Etcd3({ hosts: endpoint });
  const seen = new Map<string, { value: string; mod: number }>();
  return {
    async seed(key) {
      await client.put(key).value('0');
      const res = await client.kv.range({ key: Buffer.from(key) });
      const kv = res.kvs[0]!;
      seen.set(key, { value: kv.value.toString(), mod: Number(kv.mod_revision) });
    },
    async casWrite(key, next) {
      for (let conflicts = 0; ; conflicts++) {
        const current = seen.get(key)!;
        const value = next(current.value);
        const k = Buffer.from(key);
        const res = await client.kv.txn({
          compare: [
            {
              key: k,
              target: CompareTarget.Mod,
              result: CompareResult.Equal,
              mod_revision: current.mod,
            },
          ],
          success: [{ request_put: { key: k, value: Buffer.from(value) } }],
          failure: [{ request_range: { key: k } }],
        });
        if (res.succeeded) {
          seen.set(key, { value, mod: Number(res.header.revision) });
          return conflicts;
        }
        const kv = res.responses[0]!.response_range.kvs[0]!;
        seen.set(key, { value: kv.value.toString(), mod: Number(kv.mod_revision) });
      }
    },
    async close() {
      client.close();
    },
  };
}

/** CAS-increments `key` for `durationMs`; returns how many increments landed. */
export async function casIncrementFor(
  client: CasClient,
  key: string,
  durationMs: number,
): Promise<{ ops: number; conflicts: number }> {
  const increment = (v: string) => String(Number(v) + 1);
  const deadline = performance.now() + durationMs;
  let ops = 0;
  let conflicts = 0;
  while (performance.now() < deadline) {
    conflicts += await client.casWrite(key, increment);
    ops++;
  }
  return { ops, conflicts };
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
