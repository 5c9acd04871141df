/**
 * IPAM benchmark: `npm run bench -- ipam [--ms N] [--backend sqlite|etcd]`.
 *
 * For each backend and each concurrency (1 allocator; 8 allocators on 8
 * nodes; 8 allocators on one node), on a fresh store with a /16 pool:
 *   raw CAS/s   N processes, each read-modify-CAS on its own key, for --ms
 *   allocs/s    N processes, each auto-assigning one IPv4 address per call
 *               (new handle each time, addresses kept), for --ms
 *   ratio       allocs/s / raw CAS/s
 *   RT/alloc    datastore requests per allocation, counted in the allocators
 *   raw CAS/s 4KB  the raw CAS again with 4 KB values, about a block's size
 * Both figures come from the same run on the same store, so the ratio says
 * what an allocation costs in units of the backend's own CAS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatastore } from '../src/datastore/open.js';
import { etcdSkipReason, startEtcd } from '../src/datastore/test-support/etcd-server.js';
import { addNode, addPool } from '../src/ipam/test-support/fixtures.js';
import { runWorkers } from '../src/ipam/test-support/harness.js';
import type { CasResult, ChurnResult, WorkerConfig } from '../src/ipam/test-support/worker-lib.js';

interface Row {
  backend: string;
  allocators: string;
  casPerSec: number;
  casBigPerSec: number;
  allocsPerSec: number;
  rtPerAlloc: number;
}

interface Store {
  url: string;
  stop(): Promise<void>;
}

async function freshStore(backend: string): Promise<Store> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tortie-bench-ipam-'));
    return {
      url: `sqlite:${join(dir, 'tortie.db')}`,
      stop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const server = await startEtcd();
  return { url: server.url, stop: () => server.stop() };
}

async function measure(backend: string, n: number, sameNode: boolean, ms: number): Promise<Row> {
  const store = await freshStore(backend);
  try {
    const nodes = Array.from({ length: n }, (_, i) =>
      sameNode ? 'bench-node-0' : `bench-node-${i}`,
    );
    const ds = await openDatastore(store.url);
    for (const node of new Set(nodes)) await addNode(ds, node);
    await addPool(ds, 'bench', '10.128.0.0/16');
    await ds.close();

    const base = { url: store.url, count: Number.MAX_SAFE_INTEGER, durationMs: ms, seed: 1 };
    const cas = await runWorkers<CasResult>(
      nodes.map((node, i): WorkerConfig => ({ ...base, mode: 'cas', node, prefix: `c${i}` })),
    );
    const casOps = cas.results.reduce((a, r) => a + r.ops, 0);
    const casMs = Math.max(...cas.results.map((r) => r.ms));
    // The same with values the size of a block (~4 KB of JSON), for context.
    const big = await runWorkers<CasResult>(
      nodes.map((node, i): WorkerConfig => ({
        ...base,
        mode: 'cas',
        node,
        prefix: `b${i}`,
        valueBytes: 4096,
      })),
    );
    const bigOps = big.results.reduce((a, r) => a + r.ops, 0);
    const bigMs = Math.max(...big.results.map((r) => r.ms));

    const alloc = await runWorkers<ChurnResult>(
      nodes.map((node, i): WorkerConfig => ({ ...base, mode: 'hold', node, prefix: `a${i}` })),
    );
    const allocs = alloc.results.reduce((a, r) => a + r.allocations, 0);
    const allocMs = Math.max(...alloc.results.map((r) => r.ms));
    const errors = alloc.results.flatMap((r) => r.errors);
    if (errors.length > 0) throw new Error(errors.join('; '));
    return {
      backend,
      allocators: n === 1 ? '1' : `${n} (${sameNode ? '1 node' : `${n} nodes`})`,
      casPerSec: (casOps / casMs) * 1000,
      casBigPerSec: (bigOps / bigMs) * 1000,
      allocsPerSec: (allocs / allocMs) * 1000,
      rtPerAlloc: alloc.results.reduce((a, r) => a + r.allocRoundTrips, 0) / allocs,
    };
  } finally {
    await store.stop();
  }
}

function table(rows: Row[]): string {
  const headers = [
    'backend',
    'allocators',
    'allocs/s',
    'raw CAS/s',
    'ratio',
    'RT/alloc',
    'raw CAS/s 4KB',
  ];
  const cells = rows.map((r) => [
    r.backend,
    r.allocators,
    r.allocsPerSec.toFixed(0),
    r.casPerSec.toFixed(0),
    (r.allocsPerSec / r.casPerSec).toFixed(2),
    r.rtPerAlloc.toFixed(2),
    r.casBigPerSec.toFixed(0),
  ]);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) =>
    c.map((x, i) => (i < 2 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  return [fmt(headers), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)].join('\n');
}

export async function main(args: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i === -1 ? undefined : args[i + 1];
  };
  const ms = Number(arg('--ms') ?? 3000);
  const only = arg('--backend');
  const backends = ['sqlite', 'etcd'].filter((b) => only === undefined || b === only);
  const rows: Row[] = [];
  for (const backend of backends) {
    if (backend === 'etcd' && etcdSkipReason()) {
      console.log(`etcd: skipped (${etcdSkipReason()})`);
      continue;
    }
    for (const [n, sameNode] of [
      [1, false],
      [8, false],
      [8, true],
    ] as const) {
      const row = await measure(backend, n, sameNode, ms);
      rows.push(row);
      console.error(`  measured ${row.backend} × ${row.allocators}`);
    }
  }
  console.log(
    `IPAM allocation vs raw CAS, ${ms} ms per measurement, one IPv4 address per allocation`,
  );
  console.log(table(rows));
}
