import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Datastore } from '../datastore/types.js';
import { Ipam } from './allocator.js';
import {
  IpamGarbageCollector,
  OwnerIndex,
  checkIpam,
  parseTimestamp,
  releaseFromReport,
  reportHasProblems,
} from './gc.js';
import { IpamHandle } from './handle.js';
import { HANDLES_PREFIX } from './keys.js';
import { FaultyDatastore, SimulatedCrash } from './test-support/faulty.js';
import {
  addNode,
  addPool,
  addWorkload,
  deleteNode,
  deleteWorkload,
  tempSqlite,
  type TempStore,
} from './test-support/fixtures.js';
import { checkConsistency } from './verify.js';

async function wipe(ds: Datastore): Promise<void> {
  for (const kv of (await ds.list('/')).items) await ds.delete(kv.key);
}

/** Addresses per handle whose owner (a WorkloadEndpoint) exists, and the total in use. */
async function liveVersusInUse(ds: Datastore): Promise<{ live: number; inUse: number }> {
  const report = await checkIpam(ds, { graceSeconds: 0 });
  const handles = (await ds.list(HANDLES_PREFIX)).items.map((kv) =>
    IpamHandle.decode(kv.key.slice(HANDLES_PREFIX.length), kv.value),
  );
  const weps = (
    await ds.list('/calico/resources/v3/projectcalico.org/workloadendpoints/')
  ).items.map((kv) => (JSON.parse(kv.value) as { spec: { containerID: string } }).spec.containerID);
  const owners = new OwnerIndex(
    weps.map((containerID) => ({ containerID })),
    [{ name: 'n1' }, { name: 'n2' }],
  );
  const live = handles
    .filter((h) => owners.unownedReason(h.id, {}) === undefined)
    .reduce((n, h) => n + h.total(), 0);
  return { live, inUse: report.summary.addressesInUse };
}

describe('IPAM garbage collection', () => {
  let store: TempStore;
  let ds: Datastore;

  before(() => {
    store = tempSqlite();
    ds = store.ds;
  });
  after(async () => {
    await store.cleanup();
  });
  beforeEach(async () => {
    await wipe(ds);
    await addNode(ds, 'n1');
    await addNode(ds, 'n2');
    await addPool(ds, 'p4', '10.20.0.0/24', { blockSize: 28 });
    await addPool(ds, 'p6', 'fd00:20::/120');
  });

  it('parses Calico and ISO timestamps', () => {
    assert.equal(
      parseTimestamp('2024-05-01 10:00:00.123456789 +0000 UTC'),
      Date.parse('2024-05-01T10:00:00.123Z'),
    );
    assert.equal(parseTimestamp('2024-05-01T10:00:00Z'), Date.parse('2024-05-01T10:00:00Z'));
    assert.equal(parseTimestamp('yesterday'), undefined);
  });

  it('a crash at any write of any operation leaves a state check + release repairs exactly', async () => {
    type Flow = {
      name: string;
      setup?: (ipam: Ipam) => Promise<void>;
      run: (ipam: Ipam, ds: Datastore) => Promise<void>;
    };
    const add = async (ipam: Ipam, d: Datastore, cid: string, node = 'n1') => {
      const r = await ipam.autoAssign({ handle: `net.${cid}`, node, num4: 1, num6: 1 });
      await addWorkload(d, `wep-${cid}`, node, cid, [...r.ipv4, ...r.ipv6]);
    };
    const flows: Flow[] = [
      { name: 'first allocation (claims blocks)', run: (ipam, d) => add(ipam, d, 'c1') },
      {
        name: 'steady-state allocation',
        setup: (ipam) => add(ipam, ds, 'c0'),
        run: (ipam, d) => add(ipam, d, 'c1'),
      },
      {
        name: 'allocation spilling into a new block',
        setup: async (ipam) => {
          await ipam.autoAssign({ handle: 'net.c0', node: 'n1', num4: 15 });
          await addWorkload(ds, 'wep-c0', 'n1', 'c0');
        },
        run: async (ipam, d) => {
          await ipam.autoAssign({ handle: 'net.c1', node: 'n1', num4: 3 });
          await addWorkload(d, 'wep-c1', 'n1', 'c1');
        },
      },
      {
        name: 'container delete (release by handle, then endpoint)',
        setup: (ipam) => add(ipam, ds, 'c1'),
        run: async (ipam, d) => {
          await ipam.releaseByHandle('net.c1');
          await deleteWorkload(d, 'wep-c1');
        },
      },
      {
        name: 'release by address',
        setup: async (ipam) => {
          await add(ipam, ds, 'c1');
          await add(ipam, ds, 'c2');
        },
        run: async (ipam, d) => {
          const gone = await new Ipam(d).ipsByHandle('net.c2');
          await deleteWorkload(d, 'wep-c2');
          await ipam.releaseIPs(gone);
        },
      },
      {
        name: 'assign a specific address',
        run: async (ipam, d) => {
          await ipam.assignIP({ ip: '10.20.0.200', handle: 'net.c9', node: 'n2' });
          await addWorkload(d, 'wep-c9', 'n2', 'c9');
        },
      },
      {
        name: "release a node's blocks",
        setup: async (ipam) => {
          await add(ipam, ds, 'c1');
          await ipam.releaseByHandle('net.c1');
          await deleteWorkload(ds, 'wep-c1');
          await add(ipam, ds, 'c2', 'n2');
        },
        run: async (ipam) => {
          await ipam.releaseHostAffinities('n1', { onlyEmpty: false });
        },
      },
    ];
    let runs = 0;
    for (const flow of flows) {
      for (let crashAt = 1; ; crashAt++) {
        let crashedSomewhere = false;
        for (const applied of [false, true]) {
          await wipe(ds);
          await addNode(ds, 'n1');
          await addNode(ds, 'n2');
          await addPool(ds, 'p4', '10.20.0.0/24', { blockSize: 28 });
          await addPool(ds, 'p6', 'fd00:20::/120');
          // A live bystander that must never lose its addresses.
          const bystander = new Ipam(ds, { cacheTtlMs: 0 });
          const by = await bystander.autoAssign({
            handle: 'net.live',
            node: 'n2',
            num4: 1,
            num6: 1,
          });
          await addWorkload(ds, 'wep-live', 'n2', 'live');
          await flow.setup?.(new Ipam(ds, { cacheTtlMs: 0 }));
          const faulty = new FaultyDatastore(ds, crashAt, applied);
          try {
            await flow.run(new Ipam(faulty, { cacheTtlMs: 0 }), faulty);
          } catch (err) {
            if (!(err instanceof SimulatedCrash)) throw err;
          }
          crashedSomewhere ||= faulty.dead;
          runs++;
          const where = `${flow.name}, crash at write ${crashAt} (${applied ? 'applied' : 'not sent'})`;
          const report = await checkIpam(ds, { graceSeconds: 0 });
          await releaseFromReport(ds, report);
          assert.deepEqual((await checkConsistency(ds)).violations, [], where);
          const after = await checkIpam(ds, { graceSeconds: 0 });
          assert.ok(!reportHasProblems(after), `${where}: ${JSON.stringify(after, null, 1)}`);
          const { live, inUse } = await liveVersusInUse(ds);
          assert.equal(inUse, live, `${where}: in use equals live handles`);
          for (const a of [...by.ipv4, ...by.ipv6]) {
            assert.equal(
              (await bystander.holderOf(a)).handle,
              'net.live',
              `${where}: bystander kept ${a}`,
            );
          }
          // And the store keeps working.
          await new Ipam(ds, { cacheTtlMs: 0 }).autoAssign({
            handle: 'net.after',
            node: 'n1',
            num4: 1,
          });
        }
        if (!crashedSomewhere) break; // the flow completed before the crash point
      }
    }
    assert.ok(runs > 60, `${runs} crash runs`);
  });

  it('reports orphan blocks of deleted nodes and releases them', async () => {
    const ipam = new Ipam(ds, { cacheTtlMs: 0 });
    await addNode(ds, 'gone');
    await ipam.autoAssign({ handle: 'net.a', node: 'gone', num4: 1 });
    await addWorkload(ds, 'wep-a', 'gone', 'a');
    await ipam.autoAssign({ handle: 'net.b', node: 'gone', num6: 1 });
    await deleteNode(ds, 'gone');
    const report = await checkIpam(ds, { graceSeconds: 0 });
    assert.deepEqual(report.orphanBlocks.map((o) => [o.node, o.inUse]).sort(), [
      ['gone', 1],
      ['gone', 1],
    ]);
    assert.equal(report.staleAffinities.length, 2);
    assert.deepEqual(
      report.leaks.map((l) => l.handle),
      ['net.b'],
    );
    const result = await releaseFromReport(ds, report);
    assert.equal(result.releasedBlocks.length, 2);
    assert.deepEqual((await checkConsistency(ds)).violations, []);
    const again = await checkIpam(ds, { graceSeconds: 0 });
    assert.ok(!reportHasProblems(again));
    assert.equal(
      again.summary.addressesInUse,
      1,
      'the owned address stays, in a block without affinity',
    );
    assert.equal(
      (await ipam.holderOf('10.20.0.0')).blockNode ?? (await ipam.usage()).blocks[0]!.node,
      null,
    );
  });

  it('a stale report never frees a live address', async () => {
    const ipam = new Ipam(ds, { cacheTtlMs: 0 });
    const r1 = await ipam.autoAssign({ handle: 'net.x', node: 'n1', num4: 1 });
    const r2 = await ipam.autoAssign({ handle: 'net.y', node: 'n1', num4: 1 });
    const report = await checkIpam(ds, { graceSeconds: 0 });
    assert.equal(report.leaks.length, 2);
    // x gets its owner late; y is released and its address handed to someone new.
    await addWorkload(ds, 'wep-x', 'n1', 'x');
    await ipam.releaseByHandle('net.y');
    await ipam.assignIP({ ip: r2.ipv4[0]!, handle: 'net.z', node: 'n1' });
    const result = await releaseFromReport(ds, report);
    assert.deepEqual(result.releasedAddresses, []);
    assert.deepEqual(result.skippedAddresses.map((s) => s.reason).sort(), [
      'it has an owner now',
      'released or reallocated since the report',
    ]);
    assert.equal((await ipam.holderOf(r1.ipv4[0]!)).handle, 'net.x');
    assert.equal((await ipam.holderOf(r2.ipv4[0]!)).handle, 'net.z');
  });

  it('honours the grace period; the collector acts on the second sighting only', async () => {
    const t0 = new Date('2030-01-01T00:00:00Z');
    const ipam = new Ipam(ds, { cacheTtlMs: 0, now: () => t0 });
    await ipam.autoAssign({ handle: 'net.lost', node: 'n1', num4: 1 });
    const young = await checkIpam(ds, { graceSeconds: 60, now: new Date(t0.getTime() + 30_000) });
    assert.equal(young.leaks.length, 0);
    assert.equal(young.summary.youngUnownedAddresses, 1);
    const gc = new IpamGarbageCollector(ds, { graceSeconds: 60 });
    const first = await gc.runOnce(new Date(t0.getTime() + 120_000));
    assert.equal(first.report.leaks.length, 1);
    assert.deepEqual(first.result.releasedAddresses, []);
    const second = await gc.runOnce(new Date(t0.getTime() + 180_000));
    assert.equal(second.result.releasedAddresses.length, 1);
    assert.equal((await checkIpam(ds)).summary.addressesInUse, 0);
  });

  it('tunnel handles are owned by their node', async () => {
    const ipam = new Ipam(ds, { cacheTtlMs: 0 });
    await ipam.autoAssign({ handle: 'vxlan-tunnel-addr-n1', node: 'n1', num4: 1, use: 'Tunnel' });
    await addNode(ds, 'n3');
    await ipam.autoAssign({ handle: 'ipip-tunnel-addr-n3', node: 'n3', num4: 1, use: 'Tunnel' });
    await deleteNode(ds, 'n3');
    const report = await checkIpam(ds, { graceSeconds: 0 });
    assert.deepEqual(
      report.leaks.map((l) => l.handle),
      ['ipip-tunnel-addr-n3'],
    );
    assert.match(report.leaks[0]!.reason, /node "n3", which does not exist/);
  });
});
