/**
 * Datastore benchmark: Tortie's backends against the same workload run
 * directly on the underlying store, in the same run.
 *
 *   CAS writes/s, 1 writer   in this process, one key, for CAS_MS
 *   CAS writes/s, 8 writers  8 processes, each CAS-incrementing its own key
 *   watch latency p50/p99    a writer process writes a wall-clock stamp, waits
 *                            for the write, sleeps 1 ms, repeats (WATCH_SAMPLES
 *                            times); this process watches the key and records
 *                            delivery time minus the stamp taken before the write
 *
 * Raw baselines: better-sqlite3 `UPDATE ... WHERE mod_rev = ?` in BEGIN
 * IMMEDIATE with the same pragmas; etcd3 `if mod == rev then put else get`
 * transactions and a plain etcd3 watch. SQLite has no native watch, so its raw
 * watch column is n/a.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { openDatastore } from '../src/datastore/open.js';
import { etcdSkipReason, startEtcd } from '../src/datastore/test-support/etcd-server.js';
import { raceWorkers } from '../src/datastore/test-support/worker-protocol.js';
import type { WatchHandle } from '../src/datastore/types.js';
import { casIncrementFor, openCasClient, wallNow, type CasMode } from './datastore/cas-clients.js';

const CAS_MS = 2_000;
const WRITERS = 8;
const WATCH_SAMPLES = 1_000;
const worker = fileURLToPath(new URL('./datastore/worker.ts', import.meta.url));

interface Row {
  backend: string;
  metric: string;
  tortie: number;
  raw: number | undefined;
  /** ops/s: higher is better; ms: lower is better. */
  unit: 'ops/s' | 'ms';
}

interface Target {
  backend: string;
  tortieUrl: string;
  rawMode: CasMode;
  rawTarget: string;
}

export async function main(args: string[]): Promise<void> {
  if (args.length > 0) throw new Error('bench datastore takes no arguments');
  const started = performance.now();
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tortie-bench-'));
  try {
    const sqlite: Target = {
      backend: 'sqlite',
      tortieUrl: `sqlite:${join(dir, 'tortie.db')}`,
      rawMode: 'raw-sqlite',
      rawTarget: join(dir, 'raw.db'),
    };
    rows.push(...(await benchTarget(sqlite, undefined)));

    const skip = etcdSkipReason();
    if (skip) {
      console.log(`etcd: ${skip}`);
    } else {
      const server = await startEtcd();
      try {
        const etcd: Target = {
          backend: 'etcd',
          tortieUrl: server.url,
          rawMode: 'raw-etcd',
          rawTarget: server.endpoint,
        };
        rows.push(...(await benchTarget(etcd, server.endpoint)));
      } finally {
        await server.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(rows);
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function benchTarget(t: Target, rawEtcdEndpoint: string | undefined): Promise<Row[]> {
  const log = (what: string) => console.error(`[${t.backend}] ${what}...`);
  const row = (metric: string, unit: Row['unit'], tortie: number, raw: number | undefined) => ({
    backend: t.backend,
    metric,
    unit,
    tortie,
    raw,
  });

  log('CAS, 1 writer');
  const cas1 = row(
    'CAS writes/s, 1 writer',
    'ops/s',
    await casInProcess('tortie', t.tortieUrl),
    await casInProcess(t.rawMode, t.rawTarget),
  );
  log(`CAS, ${WRITERS} writer processes`);
  const cas8 = row(
    `CAS writes/s, ${WRITERS} procs, own keys`,
    'ops/s',
    await casProcesses('tortie', t.tortieUrl),
    await casProcesses(t.rawMode, t.rawTarget),
  );
  log('watch latency');
  const tortieLatency = await watchLatency(t.tortieUrl, 'tortie', t.tortieUrl);
  const rawLatency = rawEtcdEndpoint
    ? await watchLatency(t.tortieUrl, 'raw-etcd', rawEtcdEndpoint)
    : undefined;
  return [
    cas1,
    cas8,
    row('watch latency p50', 'ms', tortieLatency.p50, rawLatency?.p50),
    row('watch latency p99', 'ms', tortieLatency.p99, rawLatency?.p99),
  ];
}

async function casInProcess(mode: CasMode, target: string): Promise<number> {
  const client = await openCasClient(mode, target);
  try {
    const key = `/bench/cas1/${mode}`;
    await client.seed(key);
    await casIncrementFor(client, key, 200); // warm-up
    const started = performance.now();
    const { ops } = await casIncrementFor(client, key, CAS_MS);
    return ops / ((performance.now() - started) / 1000);
  } finally {
    await client.close();
  }
}

async function casProcesses(mode: CasMode, target: string): Promise<number> {
  const { elapsedMs, results } = await raceWorkers<{ ops: number }>(
    worker,
    Array.from({ length: WRITERS }, (_, i) => [
      'cas',
      mode,
      target,
      `/bench/cas8/${mode}/${i}`,
      String(CAS_MS),
    ]),
  );
  const ops = results.reduce((sum, r) => sum + r.ops, 0);
  return ops / (elapsedMs / 1000);
}

/**
 * Latency from a stamp taken just before another process's write call to the
 * event reaching a watch here. `mode` picks both writer and watcher: Tortie's
 * Datastore, or raw etcd3 (then `target` is the endpoint).
 */
async function watchLatency(tortieUrl: string, mode: 'tortie' | 'raw-etcd', target: string) {
  const key = `/bench/watch/${mode}`;
  const latencies: number[] = [];
  const record = (value: string) => {
    const stamp = Number(value);
    if (stamp > 0) latencies.push(wallNow() - stamp);
  };

  let stop: () => Promise<void> = async () => {};
  const startWatch = async () => {
    if (mode === 'tortie') {
      const ds = await openDatastore(tortieUrl);
      const handle: WatchHandle = ds.watch(key, await ds.revision(), {
        onEvents: (events) => {
          for (const e of events) if (e.type === 'put') record(e.kv.value);
        },
        onRelist: (reason) => console.error(`watch relisted: ${reason}`),
      });
      stop = async () => {
        await handle.close();
        await ds.close();
      };
    } else {
      const client = new Etcd3({ hosts: target });
      const watcher = await client.watch().key(key).create();
      watcher.on('put', (kv) => record(kv.value.toString()));
      stop = async () => {
        await watcher.cancel();
        client.close();
      };
    }
    await sleep(200); // let the watch settle before the first write
  };

  try {
    await raceWorkers(worker, [['stamp', mode, target, key, String(WATCH_SAMPLES)]], {
      beforeGo: startWatch,
    });
    const deadline = Date.now() + 5_000;
    while (latencies.length < WATCH_SAMPLES && Date.now() < deadline) await sleep(10);
  } finally {
    await stop();
  }
  if (latencies.length < WATCH_SAMPLES) {
    throw new Error(`watch (${mode}) delivered ${latencies.length}/${WATCH_SAMPLES} events`);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.floor(q * (latencies.length - 1))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

function printTable(rows: Row[]): void {
  const fmt = (n: number | undefined, unit: Row['unit']) =>
    n === undefined ? 'n/a' : unit === 'ms' ? n.toFixed(2) : Math.round(n).toLocaleString('en-US');
  const table = [
    ['backend', 'metric', 'unit', 'tortie', 'raw', 'tortie/raw'],
    ...rows.map((r) => [
      r.backend,
      r.metric,
      r.unit,
      fmt(r.tortie, r.unit),
      fmt(r.raw, r.unit),
      r.raw === undefined ? 'n/a' : (r.tortie / r.raw).toFixed(2),
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((line) => line[c]!.length)));
  const numeric = new Set([3, 4, 5]);
  for (const [i, line] of table.entries()) {
    console.log(
      line
        .map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
        .join('  '),
    );
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
