/**
 * An IPAM worker process for the concurrency, fault and benchmark harnesses:
 *   node --import tsx src/ipam/test-support/worker.ts '<json WorkerConfig>'
 * Opens the datastore, prints "ready", waits for a line on stdin, runs, and
 * prints one JSON result line (modes churn, hold, cas) or runs until killed
 * (mode fault), logging each step synchronously to `logFile`.
 */
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { openDatastore } from '../../datastore/open.js';
import { ResourceStore } from '../../datastore/resources.js';
import { ConflictError, type Datastore, type KeyValue } from '../../datastore/types.js';
import { Ipam } from '../allocator.js';
import { CountingDatastore } from '../counting.js';
import { rng, type CasResult, type ChurnResult, type WorkerConfig } from './worker-lib.js';

async function churn(
  ds: CountingDatastore,
  cfg: WorkerConfig,
  hold: boolean,
): Promise<ChurnResult> {
  const ipam = new Ipam(ds, { cacheTtlMs: 60_000 });
  const random = rng(cfg.seed);
  const held = new Map<string, string[]>();
  const errors: string[] = [];
  let releases = 0;
  let allocRoundTrips = 0;
  const started = performance.now();
  const deadline = started + (cfg.durationMs ?? Infinity);
  let i = 0;
  for (; i < cfg.count && performance.now() < deadline; i++) {
    const handle = `tortie.${cfg.prefix}-${i}`;
    const before = ds.total();
    const r = await ipam.autoAssign({ handle, node: cfg.node, num4: 1, num6: cfg.num6 ?? 0 });
    allocRoundTrips += ds.total() - before;
    held.set(handle, [...r.ipv4, ...r.ipv6]);
    if (!hold && random() < (cfg.releaseChance ?? 0.5)) {
      const victims = [...held.keys()];
      const victim = victims[Math.floor(random() * victims.length)]!;
      const expected = held.get(victim)!;
      const got = await ipam.releaseByHandle(victim);
      if (JSON.stringify([...got].sort()) !== JSON.stringify([...expected].sort())) {
        errors.push(
          `release of ${victim} returned ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`,
        );
      }
      held.delete(victim);
      releases++;
    }
  }
  const ms = performance.now() - started;
  return {
    held: [...held].map(([handle, addresses]) => ({ handle, addresses })),
    allocations: i,
    releases,
    errors,
    ms,
    roundTrips: ds.total(),
    allocRoundTrips,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Allocate, create the owning endpoint, sometimes tear one down; forever, logging each step. */
async function fault(ds: Datastore, cfg: WorkerConfig): Promise<never> {
  const ipam = new Ipam(ds, { cacheTtlMs: 60_000 });
  const resources = new ResourceStore(ds);
  const random = rng(cfg.seed);
  const log = (line: string) => appendFileSync(cfg.logFile!, `${line}\n`);
  const live: string[] = [];
  for (let i = 0; ; i++) {
    const id = `${cfg.prefix}-${i}`;
    const handle = `tortie.${id}`;
    log(`alloc-start ${handle}`);
    const r = await ipam.autoAssign({ handle, node: cfg.node, num4: 1, num6: cfg.num6 ?? 0 });
    log(`alloc-done ${handle} ${[...r.ipv4, ...r.ipv6].join(',')}`);
    // A CNI plugin sets up the dataplane between IPAM and writing the endpoint.
    if (cfg.ownerDelayMs) await sleep(random() * cfg.ownerDelayMs);
    await resources.create({
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: `wep-${id}`, namespace: 'default' },
      spec: {
        node: cfg.node,
        containerID: id,
        interfaceName: 'eth0',
        ipNetworks: [...r.ipv4, ...r.ipv6],
      },
    });
    log(`owner-done ${handle}`);
    live.push(id);
    if (random() < 0.4) {
      const victim = live.splice(Math.floor(random() * live.length), 1)[0]!;
      log(`release-start tortie.${victim}`);
      await ipam.releaseByHandle(`tortie.${victim}`);
      log(`release-done tortie.${victim}`);
      await resources.delete('WorkloadEndpoint', `wep-${victim}`, 'default');
      log(`owner-gone tortie.${victim}`);
    }
  }
}

/** Raw compare-and-swap rate: read-modify-CAS on this worker's own key. */
async function cas(ds: Datastore, cfg: WorkerConfig): Promise<CasResult> {
  const key = `/tortie/bench/cas/${cfg.prefix}`;
  const pad = ' '.repeat(Math.max(0, (cfg.valueBytes ?? 0) - 8));
  let current: KeyValue;
  try {
    current = await ds.create(key, '0');
  } catch {
    current = (await ds.get(key))!;
  }
  const started = performance.now();
  const deadline = started + (cfg.durationMs ?? Infinity);
  let i = 0;
  while (i < cfg.count && performance.now() < deadline) {
    try {
      current = await ds.update(key, String(i + 1) + pad, current.modRevision);
      i++;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      current = err.current;
    }
  }
  return { ops: i, ms: performance.now() - started };
}

/** Announce readiness and wait for the parent's go line. */
async function waitForGo(): Promise<void> {
  console.log('ready');
  const lines = createInterface({ input: process.stdin });
  for await (const _line of lines) break;
  lines.close();
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const inner = await openDatastore(cfg.url);
const ds = new CountingDatastore(inner);
await waitForGo();
let result: unknown;
if (cfg.mode === 'churn' || cfg.mode === 'hold') result = await churn(ds, cfg, cfg.mode === 'hold');
else if (cfg.mode === 'cas') result = await cas(ds, cfg);
else await fault(ds, cfg);
console.log(JSON.stringify(result));
await inner.close();
