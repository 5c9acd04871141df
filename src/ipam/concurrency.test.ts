// Concurrency and fault tests with real processes on both backends:
// - 8 processes (over 4 node names) each allocate 500 addresses and release
//   about half of them as they go: no duplicates, nothing lost, every block
//   owned by exactly one node;
// - processes SIGKILLed at random points while allocating, creating owners
//   and releasing: the store stays consistent, `ipam check` reports every
//   address whose owner never got created, and release-from-report returns
//   them so that in-use equals the live handles exactly.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatastore } from '../datastore/open.js';
import {
  etcdSkipReason,
  startEtcd,
  type EtcdServer,
} from '../datastore/test-support/etcd-server.js';
import type { Datastore } from '../datastore/types.js';
import { Ipam } from './allocator.js';
import { checkIpam, releaseFromReport, reportHasProblems } from './gc.js';
import { HANDLES_PREFIX } from './keys.js';
import { IpamHandle } from './handle.js';
import { runAndKill, runWorkers } from './test-support/harness.js';
import { addNode, addPool } from './test-support/fixtures.js';
import { rng, type ChurnResult, type WorkerConfig } from './test-support/worker-lib.js';
import { checkConsistency } from './verify.js';

const NODES = ['node-0', 'node-1', 'node-2', 'node-3'];

interface Backend {
  name: string;
  skip: string | undefined;
  setup(): Promise<{ url: string; teardown(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    skip: undefined,
    async setup() {
      const dir = mkdtempSync(join(tmpdir(), 'tortie-ipam-conc-'));
      return {
        url: `sqlite:${join(dir, 'tortie.db')}`,
        teardown: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'etcd',
    skip: etcdSkipReason(),
    async setup() {
      // On tmpfs when there is one: the properties do not depend on fsync, the run time does.
      const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
      const dataDir = mkdtempSync(join(base, 'tortie-ipam-etcd-'));
      const server: EtcdServer = await startEtcd({ dataDir });
      return {
        url: server.url,
        teardown: async () => {
          await server.stop();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  },
];

async function wipe(ds: Datastore): Promise<void> {
  for (const kv of (await ds.list('/calico/')).items) await ds.delete(kv.key);
}

async function seed(ds: Datastore): Promise<void> {
  await wipe(ds);
  for (const n of NODES) await addNode(ds, n);
  await addPool(ds, 'v4', '10.64.0.0/19');
  await addPool(ds, 'v6', 'fd00:64::/112');
}

for (const backend of backends) {
  describe(`IPAM with concurrent processes on ${backend.name}`, { skip: backend.skip }, () => {
    let url: string;
    let teardown: () => Promise<void>;
    let ds: Datastore;

    before(async () => {
      ({ url, teardown } = await backend.setup());
      ds = await openDatastore(url);
    });
    after(async () => {
      await ds?.close();
      await teardown?.();
    });

    it('8 processes x 500 allocations with releases: no duplicates, nothing lost, one owner per block', async () => {
      await seed(ds);
      const configs: WorkerConfig[] = Array.from({ length: 8 }, (_, i) => ({
        mode: 'churn',
        url,
        node: NODES[i % NODES.length]!,
        prefix: `w${i}`,
        count: 500,
        seed: 1000 + i,
        releaseChance: 0.5,
      }));
      const { results, elapsedMs } = await runWorkers<ChurnResult>(configs);
      const errors = results.flatMap((r) => r.errors);
      assert.deepEqual(errors, []);
      const held = results.flatMap((r) => r.held);
      const addresses = held.flatMap((h) => h.addresses);
      assert.equal(new Set(addresses).size, addresses.length, 'no address held twice');
      const consistency = await checkConsistency(ds);
      assert.deepEqual(consistency.violations, []);
      assert.equal(consistency.addressesInUse, addresses.length, 'nothing lost, nothing extra');
      const ipam = new Ipam(ds, { cacheTtlMs: 0 });
      for (const h of held.filter((_, i) => i % 7 === 0)) {
        assert.deepEqual(await ipam.ipsByHandle(h.handle), h.addresses, `${h.handle} in the store`);
      }
      const usage = await ipam.usage();
      assert.ok(usage.blocks.every((b) => b.node !== null && NODES.includes(b.node)));
      const releases = results.reduce((n, r) => n + r.releases, 0);
      const rtPerAlloc = results.reduce((n, r) => n + r.allocRoundTrips, 0) / 4000;
      console.log(
        `# ${backend.name}: 4000 allocations + ${releases} releases by 8 processes in ${Math.round(elapsedMs)} ms; ` +
          `${rtPerAlloc.toFixed(2)} round trips per allocation; ${usage.blocks.length} blocks`,
      );
      // Everything goes back.
      for (const h of held) await ipam.releaseByHandle(h.handle);
      for (const n of NODES) await ipam.releaseHostAffinities(n);
      const empty = await checkConsistency(ds);
      assert.deepEqual(empty, { violations: [], blocks: 0, addressesInUse: 0, handles: 0 });
    });

    it('SIGKILL at random points: consistent, leaks reported and returned, in use = live handles', async () => {
      await seed(ds);
      const logDir = mkdtempSync(join(tmpdir(), 'tortie-ipam-fault-'));
      const random = rng(backend.name === 'sqlite' ? 7 : 11);
      const logs: string[] = [];
      try {
        for (let round = 0; round < 3; round++) {
          const configs: WorkerConfig[] = Array.from({ length: 4 }, (_, i) => {
            const logFile = join(logDir, `r${round}-w${i}.log`);
            logs.push(logFile);
            return {
              mode: 'fault',
              url,
              node: NODES[(i + round) % NODES.length]!,
              prefix: `r${round}w${i}`,
              count: 0,
              seed: round * 10 + i,
              num6: i % 2,
              logFile,
              // A wide window between allocating and creating the owner, so the
              // random kills land in it often even on a loaded machine.
              ownerDelayMs: 60,
            };
          });
          await runAndKill(
            configs,
            configs.map(() => 200 + Math.floor(random() * 800)),
          );
        }
        // What the logs say must have leaked: allocated, owner never created, not released.
        const mustLeak = new Map<string, string[]>();
        let steps = 0;
        for (const file of logs) {
          if (!existsSync(file)) continue;
          for (const line of readFileSync(file, 'utf8').split('\n')) {
            const [what, handle, ips] = line.split(' ');
            if (!what || !handle) continue;
            steps++;
            if (what === 'alloc-done') mustLeak.set(handle, ips ? ips.split(',') : []);
            if (what === 'owner-done' || what === 'release-start') mustLeak.delete(handle);
          }
        }
        // A create whose reply the killed process never saw may still have landed.
        const owners = new Set(
          (await ds.list('/calico/resources/v3/projectcalico.org/workloadendpoints/')).items.map(
            (kv) =>
              `tortie.${(JSON.parse(kv.value) as { spec: { containerID: string } }).spec.containerID}`,
          ),
        );
        for (const handle of [...mustLeak.keys()]) if (owners.has(handle)) mustLeak.delete(handle);
        assert.ok(steps > 20, `workers made progress (${steps} steps)`);
        assert.ok(mustLeak.size > 0, 'some process died between allocating and creating the owner');
        const report = await checkIpam(ds, { graceSeconds: 0 });
        const leaked = new Set(report.leaks.map((l) => l.address));
        for (const [handle, ips] of mustLeak) {
          for (const ip of ips)
            assert.ok(leaked.has(ip), `${ip} of ${handle} is reported as leaked`);
        }
        assert.equal(report.invalidBlocks.length, 0);
        const result = await releaseFromReport(ds, report);
        assert.equal(result.releasedAddresses.length, report.leaks.length);
        const consistency = await checkConsistency(ds);
        assert.deepEqual(consistency.violations, []);
        const again = await checkIpam(ds, { graceSeconds: 0 });
        assert.ok(!reportHasProblems(again), JSON.stringify(again, null, 1));
        // In-use equals the addresses of live handles (those with a WorkloadEndpoint), exactly.
        const weps = (
          await ds.list('/calico/resources/v3/projectcalico.org/workloadendpoints/')
        ).items.map(
          (kv) => (JSON.parse(kv.value) as { spec: { containerID: string } }).spec.containerID,
        );
        const handles = (await ds.list(HANDLES_PREFIX)).items.map((kv) =>
          IpamHandle.decode(kv.key.slice(HANDLES_PREFIX.length), kv.value),
        );
        const live = new Set(weps.map((c) => `tortie.${c}`));
        const liveCount = handles.filter((h) => live.has(h.id)).reduce((n, h) => n + h.total(), 0);
        assert.equal(
          handles.filter((h) => !live.has(h.id)).length,
          0,
          'no handle without an owner is left',
        );
        assert.equal(again.summary.addressesInUse, liveCount);
        console.log(
          `# ${backend.name}: 12 kills, ${steps} logged steps, ${mustLeak.size} allocations without owner, ` +
            `${report.leaks.length} leaks and ${report.handles.length} handle problems reported and repaired; ` +
            `${liveCount} live addresses remain`,
        );
      } finally {
        rmSync(logDir, { recursive: true, force: true });
      }
    });
  });
}
