import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { cidrContainsAddress, formatCidr, parseCidr, parseIP } from '../model/cidr.js';
import type { Datastore } from '../datastore/types.js';
import { Ipam } from './allocator.js';
import { AllocationBlock } from './block.js';
import { CountingDatastore } from './counting.js';
import { checkConsistency } from './verify.js';
import {
  AddressInUseError,
  AddressOutsidePoolsError,
  AffinityConflictError,
  BlockLimitError,
  InvalidRequestError,
  NoMatchingPoolError,
  NoPoolsError,
  PoolExhaustedError,
  ReservedAddressError,
  UnknownNodeError,
} from './errors.js';
import { IpamHandle } from './handle.js';
import { IPAM_ROOT, blocksPrefix, affinitiesPrefix } from './keys.js';
import { decodeBlockKv } from './store.js';
import {
  addNode,
  addPool,
  addReservation,
  tempSqlite,
  type TempStore,
} from './test-support/fixtures.js';

/** Every IPAM key and value, for "nothing changed" checks. */
async function snapshot(ds: Datastore): Promise<string> {
  const { items } = await ds.list(IPAM_ROOT);
  return JSON.stringify(items.map((kv) => [kv.key, kv.value]));
}

async function assertConsistent(ds: Datastore): Promise<void> {
  assert.deepEqual((await checkConsistency(ds)).violations, []);
}

describe('Ipam on SQLite', () => {
  let store: TempStore;
  let ds: Datastore;
  let ipam: Ipam;

  before(() => {
    store = tempSqlite();
  });
  after(async () => {
    await store.cleanup();
  });
  beforeEach(async () => {
    // A fresh key space per test: wipe everything.
    ds = store.ds;
    for (const kv of (await ds.list('/')).items) await ds.delete(kv.key);
    ipam = new Ipam(ds, { cacheTtlMs: 0 });
    await addNode(ds, 'n1', { zone: 'a' });
    await addNode(ds, 'n2', { zone: 'b' });
  });

  it('auto-assigns from an affine block; two round trips per allocation and per release', async () => {
    await addPool(ds, 'p4', '10.1.0.0/24');
    const counting = new CountingDatastore(ds);
    const ip = new Ipam(counting, { cacheTtlMs: 60_000 });
    const first = await ip.autoAssign({ handle: 'h0', node: 'n1', num4: 1 });
    assert.equal(first.ipv4.length, 1);
    counting.reset();
    for (let i = 1; i <= 20; i++) await ip.autoAssign({ handle: `h${i}`, node: 'n1', num4: 1 });
    assert.equal(counting.total() / 20, 2, JSON.stringify(counting.counts));
    counting.reset();
    for (let i = 1; i <= 20; i++) await ip.releaseByHandle(`h${i}`);
    assert.equal(counting.total() / 20, 2, `release: ${JSON.stringify(counting.counts)}`);
    for (let i = 1; i <= 20; i++) await ip.autoAssign({ handle: `h${i}`, node: 'n1', num4: 1 });
    await assertConsistent(ds);
    const blocks = (await ds.list(blocksPrefix(4))).items.map(decodeBlockKv);
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0]!.block.affinity, 'host:n1');
    assert.equal(blocks[0]!.block.inUseCount(), 21);
  });

  it('claims a new block when the affine ones are full, and stores Calico shapes', async () => {
    await addPool(ds, 'p4', '10.2.0.0/24', { blockSize: 28 });
    const r = await ipam.autoAssign({ handle: 'big', node: 'n1', num4: 40, attrs: { pod: 'x' } });
    assert.equal(r.ipv4.length, 40);
    assert.equal(new Set(r.ipv4).size, 40);
    const blocks = (await ds.list(blocksPrefix(4))).items.map(decodeBlockKv);
    assert.equal(blocks.length, 3);
    const aff = await ds.get(
      `/calico/ipam/v2/host/n1/ipv4/block/${formatCidr(blocks[0]!.block.cidr).replace('/', '-')}`,
    );
    assert.equal(aff?.value, '{"state":"confirmed","deleted":false}');
    const handle = await ds.get('/calico/ipam/v2/handle/big');
    assert.deepEqual(Object.values(JSON.parse(handle!.value).block).sort(), [16, 16, 8].sort());
    const attrs = blocks[0]!.block.attributes[0]!.secondary!;
    assert.equal(attrs.node, 'n1');
    assert.equal(attrs.pod, 'x');
    assert.ok(!Number.isNaN(Date.parse(attrs.timestamp!)));
    await assertConsistent(ds);
  });

  it('dual stack: IPv4 and IPv6 for one handle; release by handle frees both and deletes it', async () => {
    await addPool(ds, 'p4', '10.3.0.0/24');
    await addPool(ds, 'p6', 'fd00:3::/120');
    const r = await ipam.autoAssign({ handle: 'dual', node: 'n1', num4: 1, num6: 2 });
    assert.equal(r.ipv4.length, 1);
    assert.equal(r.ipv6.length, 2);
    assert.ok(r.ipv6.every((a) => cidrContainsAddress(parseCidr('fd00:3::/120'), parseIP(a))));
    const b6 = (await ds.list(blocksPrefix(6))).items.map(decodeBlockKv);
    assert.equal(b6[0]!.block.cidr.prefixLength, 122);
    const released = await ipam.releaseByHandle('dual');
    assert.deepEqual(released.sort(), [...r.ipv4, ...r.ipv6].sort());
    assert.equal(await ds.get('/calico/ipam/v2/handle/dual'), undefined);
    assert.deepEqual(await ipam.releaseByHandle('dual'), [], 'idempotent');
    await assertConsistent(ds);
  });

  it('release by address is idempotent and makes the address available again', async () => {
    await addPool(ds, 'p4', '10.4.0.0/30', { blockSize: 30 });
    const r = await ipam.autoAssign({ handle: 'a', node: 'n1', num4: 4 });
    await assert.rejects(ipam.autoAssign({ handle: 'b', node: 'n1', num4: 1 }), PoolExhaustedError);
    const out = await ipam.releaseIPs([r.ipv4[2]!, r.ipv4[2]!, '10.4.0.9']);
    assert.deepEqual(out.released, [r.ipv4[2]]);
    assert.deepEqual(out.notAllocated, ['10.4.0.9']);
    assert.deepEqual((await ipam.releaseIPs([r.ipv4[2]!])).notAllocated, [r.ipv4[2]]);
    const again = await ipam.autoAssign({ handle: 'b', node: 'n1', num4: 1 });
    assert.deepEqual(again.ipv4, [r.ipv4[2]]);
    assert.deepEqual(
      [
        ...IpamHandle.decode(
          'a',
          (await ds.get('/calico/ipam/v2/handle/a'))!.value,
        ).blocks.values(),
      ],
      [3],
    );
    await assertConsistent(ds);
  });

  it('assigns a specific address, claiming its block; refuses one in use', async () => {
    await addPool(ds, 'p4', '10.5.0.0/24');
    await ipam.assignIP({ ip: '10.5.0.77', handle: 'fixed', node: 'n2' });
    const holder = await ipam.holderOf('10.5.0.77');
    assert.equal(holder.allocated, true);
    assert.equal(holder.handle, 'fixed');
    assert.equal(holder.block, '10.5.0.64/26');
    assert.equal(holder.blockNode, 'n2');
    const before = await snapshot(ds);
    await assert.rejects(
      ipam.assignIP({ ip: '10.5.0.77', handle: 'other', node: 'n2' }),
      (e: Error) =>
        e instanceof AddressInUseError && /already assigned \(to handle "fixed"\)/.test(e.message),
    );
    assert.equal(await snapshot(ds), before);
    await assertConsistent(ds);
  });

  describe('bad input: a clear error naming the reason, nothing changed', () => {
    it('exhausted pool', async () => {
      await addPool(ds, 'tiny', '10.6.0.0/30', { blockSize: 30 });
      await ipam.autoAssign({ handle: 'a', node: 'n1', num4: 4 });
      const before = await snapshot(ds);
      await assert.rejects(
        ipam.autoAssign({ handle: 'b', node: 'n2', num4: 1 }),
        (e: Error) =>
          e instanceof PoolExhaustedError && /tiny \(10\.6\.0\.0\/30\) exhausted/.test(e.message),
      );
      // A partially satisfiable request is rolled back: only the block's
      // sequence number (bumped by every write) shows it happened.
      await ipam.releaseIPs(['10.6.0.3']);
      const noSeq = async () => (await snapshot(ds)).replace(/sequenceNumber\\":\d+/g, '');
      const mid = await noSeq();
      await assert.rejects(
        ipam.autoAssign({ handle: 'c', node: 'n1', num4: 2 }),
        PoolExhaustedError,
      );
      assert.equal(await noSeq(), mid);
      assert.notEqual(before, mid);
    });

    it('a nodeSelector matching nothing', async () => {
      await addPool(ds, 'zone-c', '10.7.0.0/24', { nodeSelector: "zone == 'c'" });
      const before = await snapshot(ds);
      await assert.rejects(
        ipam.autoAssign({ handle: 'a', node: 'n1', num4: 1 }),
        (e: Error) =>
          e instanceof NoMatchingPoolError &&
          /node "n1".*nodeSelector matches its labels \{"zone":"a"\}.*zone-c/.test(e.message),
      );
      assert.equal(await snapshot(ds), before);
    });

    it('no pools, unknown node, bad counts', async () => {
      await assert.rejects(ipam.autoAssign({ handle: 'a', node: 'n1', num6: 1 }), NoPoolsError);
      await addPool(ds, 'p', '10.8.0.0/24');
      await assert.rejects(
        ipam.autoAssign({ handle: 'a', node: 'ghost', num4: 1 }),
        UnknownNodeError,
      );
      await assert.rejects(
        ipam.autoAssign({ handle: 'a', node: 'n1', num4: -1 }),
        InvalidRequestError,
      );
      await assert.rejects(
        ipam.autoAssign({ handle: 'a/b', node: 'n1', num4: 1 }),
        InvalidRequestError,
      );
      assert.equal(await snapshot(ds), '[]');
    });

    it('an address outside every pool', async () => {
      await addPool(ds, 'p', '10.9.0.0/24');
      await assert.rejects(
        ipam.assignIP({ ip: '192.168.1.1', handle: 'x', node: 'n1' }),
        (e: Error) =>
          e instanceof AddressOutsidePoolsError &&
          e.message === 'address 192.168.1.1 is outside every IP pool',
      );
      await assert.rejects(
        ipam.assignIP({ ip: '10.9.0.300', handle: 'x', node: 'n1' }),
        InvalidRequestError,
      );
      assert.equal(await snapshot(ds), '[]');
    });

    it('a reserved address', async () => {
      await addPool(ds, 'p', '10.10.0.0/24');
      await addReservation(ds, 'gateways', ['10.10.0.0/30']);
      await assert.rejects(
        ipam.assignIP({ ip: '10.10.0.1', handle: 'x', node: 'n1' }),
        (e: Error) =>
          e instanceof ReservedAddressError &&
          e.message === 'address 10.10.0.1 is reserved by IPReservation "gateways" (10.10.0.0/30)',
      );
      assert.equal(await snapshot(ds), '[]');
    });
  });

  it('auto-assign skips reservations and stays inside usable pools (property)', async () => {
    await addPool(ds, 'use', '10.11.0.0/26', { blockSize: 28 });
    await addPool(ds, 'off', '10.11.1.0/26', { disabled: true });
    await addPool(ds, 'other-zone', '10.11.2.0/26', { nodeSelector: "zone == 'b'" });
    await addReservation(ds, 'r', ['10.11.0.0/30', '10.11.0.17/32']);
    const usable = parseCidr('10.11.0.0/26');
    const reserved = [parseCidr('10.11.0.0/30'), parseCidr('10.11.0.17/32')];
    const held = new Map<string, string>();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(0)), {
          minLength: 1,
          maxLength: 12,
        }),
        async (ops) => {
          for (const k of ops) {
            if (k === 0 && held.size > 0) {
              const [addr, h] = [...held][0]!;
              assert.deepEqual((await ipam.releaseIPs([{ ip: addr, handle: h }])).released, [addr]);
              held.delete(addr);
              continue;
            }
            const handle = `p${n++}`;
            try {
              const r = await ipam.autoAssign({ handle, node: 'n1', num4: k });
              for (const a of r.ipv4) {
                const ip = parseIP(a);
                assert.ok(cidrContainsAddress(usable, ip), `${a} is in the usable pool`);
                assert.ok(
                  !reserved.some((c) => cidrContainsAddress(c, ip)),
                  `${a} is not reserved`,
                );
                assert.ok(!held.has(a), `${a} handed out twice`);
                held.set(a, handle);
              }
            } catch (err) {
              assert.ok(err instanceof PoolExhaustedError, String(err));
              assert.ok(held.size + k > 64 - 5, 'only fails when nearly full');
            }
          }
        },
      ),
      { numRuns: 25 },
    );
    await assertConsistent(ds);
  });

  it("strict affinity off: borrows from another node's block; on: refuses with the reason", async () => {
    await addPool(ds, 'small', '10.12.0.0/27', { blockSize: 27 });
    await ipam.autoAssign({ handle: 'a', node: 'n1', num4: 1 });
    const borrowed = await ipam.autoAssign({ handle: 'b', node: 'n2', num4: 1 });
    assert.equal(borrowed.ipv4.length, 1);
    const usage = await ipam.usage();
    assert.deepEqual(
      usage.borrowed.map((b) => [b.address, b.borrowingNode, b.blockNode]),
      [[borrowed.ipv4[0], 'n2', 'n1']],
    );
    await ipam.setConfig({ strictAffinity: true });
    const before = await snapshot(ds);
    await assert.rejects(
      ipam.autoAssign({ handle: 'c', node: 'n2', num4: 1 }),
      (e: Error) =>
        e instanceof PoolExhaustedError && /strict affinity forbids borrowing/.test(e.message),
    );
    await assert.rejects(
      ipam.assignIP({ ip: '10.12.0.20', handle: 'c', node: 'n2' }),
      AffinityConflictError,
    );
    assert.equal(await snapshot(ds), before);
    await assertConsistent(ds);
  });

  it('maxBlocksPerHost: no new block past the limit; borrows only if strict affinity is off', async () => {
    await addPool(ds, 'p', '10.13.0.0/24', { blockSize: 29 });
    await ipam.setConfig({ maxBlocksPerHost: 2 });
    assert.deepEqual(await ipam.getConfig(), {
      strictAffinity: false,
      autoAllocateBlocks: true,
      maxBlocksPerHost: 2,
    });
    await ipam.autoAssign({ handle: 'other', node: 'n2', num4: 2 }); // n2 owns a block with room
    await ipam.autoAssign({ handle: 'a', node: 'n1', num4: 16 }); // fills n1's two blocks
    const r = await ipam.autoAssign({ handle: 'b', node: 'n1', num4: 1 });
    const holder = await ipam.holderOf(r.ipv4[0]!);
    assert.equal(holder.blockNode, 'n2', 'borrowed from n2');
    const n1Blocks = (await ds.list(affinitiesPrefix('n1'))).items.length;
    assert.equal(n1Blocks, 2);
    await ipam.setConfig({ strictAffinity: true });
    await assert.rejects(
      ipam.autoAssign({ handle: 'c', node: 'n1', num4: 1 }),
      (e: Error) =>
        e instanceof BlockLimitError && /maxBlocksPerHost \(2 IPv4 blocks\)/.test(e.message),
    );
    await assertConsistent(ds);
  });

  it('two nodes racing for blocks never both own one', async () => {
    await addPool(ds, 'p', '10.14.0.0/26', { blockSize: 30 });
    const a = new Ipam(ds, { cacheTtlMs: 0 });
    const b = new Ipam(ds, { cacheTtlMs: 0 });
    const jobs = [];
    for (let i = 0; i < 12; i++) {
      jobs.push(a.autoAssign({ handle: `a${i}`, node: 'n1', num4: 1 }));
      jobs.push(b.autoAssign({ handle: `b${i}`, node: 'n2', num4: 1 }));
    }
    const results = await Promise.all(jobs);
    const all = results.flatMap((r) => r.ipv4);
    assert.equal(new Set(all).size, 24);
    await assertConsistent(ds);
  });

  it("releases a node's empty affine blocks; keeps non-empty ones", async () => {
    await addPool(ds, 'p', '10.15.0.0/24', { blockSize: 28 });
    const r = await ipam.autoAssign({ handle: 'a', node: 'n1', num4: 20 });
    await ipam.releaseIPs(r.ipv4.slice(0, 16));
    const out = await ipam.releaseHostAffinities('n1');
    assert.equal(out.released.length, 1);
    assert.deepEqual(
      out.kept.map((k) => k.reason),
      ['not-empty'],
    );
    const all = await ipam.releaseHostAffinities('n1', { onlyEmpty: false });
    assert.equal(all.released.length, 1);
    const blocks = (await ds.list(blocksPrefix(4))).items.map(decodeBlockKv);
    assert.equal(blocks.length, 1);
    assert.equal(
      blocks[0]!.block.affinity,
      null,
      'non-empty block loses its affinity but keeps addresses',
    );
    assert.equal(blocks[0]!.block.inUseCount(), 4);
    await ipam.releaseByHandle('a');
    assert.equal(
      (await ds.list(blocksPrefix(4))).items.length,
      0,
      'an emptied block without affinity is deleted',
    );
    await assertConsistent(ds);
  });

  it('finishes a pending affinity left by a dead claimer and drops a stale one', async () => {
    await addPool(ds, 'p', '10.16.0.0/24');
    const cidr = parseCidr('10.16.0.128/26');
    // Claimer of n1 died after step 1 (pending affinity, no block).
    await ds.create(
      '/calico/ipam/v2/host/n1/ipv4/block/10.16.0.128-26',
      '{"state":"pending","deleted":false}',
    );
    // Claimer of n2 died after step 1 for a block n1 now owns.
    await ds.create(
      '/calico/ipam/v2/host/n2/ipv4/block/10.16.0.0-26',
      '{"state":"pending","deleted":false}',
    );
    await ds.create(
      '/calico/ipam/v2/assignment/ipv4/block/10.16.0.0-26',
      AllocationBlock.create(parseCidr('10.16.0.0/26'), { node: 'n1' }).encode(),
    );
    await ds.create(
      '/calico/ipam/v2/host/n1/ipv4/block/10.16.0.0-26',
      '{"state":"confirmed","deleted":false}',
    );
    const r = await ipam.autoAssign({ handle: 'x', node: 'n1', num4: 65 });
    assert.equal(r.ipv4.length, 65);
    const b = (await ds.get('/calico/ipam/v2/assignment/ipv4/block/10.16.0.128-26'))!;
    assert.equal(decodeBlockKv(b).block.affinity, 'host:n1');
    assert.equal(cidr.prefixLength, 26);
    await ipam.autoAssign({ handle: 'y', node: 'n2', num4: 1 });
    assert.equal(await ds.get('/calico/ipam/v2/host/n2/ipv4/block/10.16.0.0-26'), undefined);
    await assertConsistent(ds);
  });
});
