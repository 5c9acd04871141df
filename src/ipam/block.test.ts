import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatIP, parseCidr, parseIP } from '../model/cidr.js';
import { AllocationBlock } from './block.js';
import { AddressInUseError } from './errors.js';
import { IpamHandle } from './handle.js';
import { parseJsonExact } from './json.js';
import {
  affinityKey,
  blockKey,
  handleKey,
  parseAffinityKey,
  parseBlockKey,
  parseHandleKey,
} from './keys.js';

const V4 = parseCidr('10.0.0.0/26');
const V6 = parseCidr('fd00::/122');

describe('keys', () => {
  it('use Calico etcdv3 layout', () => {
    assert.equal(blockKey(V4), '/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26');
    assert.equal(blockKey(V6), '/calico/ipam/v2/assignment/ipv6/block/fd00::-122');
    assert.equal(affinityKey('node-1', V4), '/calico/ipam/v2/host/node-1/ipv4/block/10.0.0.0-26');
    assert.equal(handleKey('net.abc'), '/calico/ipam/v2/handle/net.abc');
  });

  it('round-trip and reject foreign keys', () => {
    assert.deepEqual(parseBlockKey(blockKey(V6)), V6);
    assert.deepEqual(parseAffinityKey(affinityKey('n', V4)), { node: 'n', cidr: V4 });
    assert.equal(parseHandleKey(handleKey('h')), 'h');
    assert.equal(parseBlockKey('/calico/ipam/v2/assignment/ipv4/block/10.0.0.1-26'), undefined);
    assert.equal(parseBlockKey('/calico/ipam/v2/assignment/ipv6/block/10.0.0.0-26'), undefined);
    assert.throws(() => handleKey('a/b'));
  });
});

describe('AllocationBlock', () => {
  it('assigns in order, skips reserved, releases to the back', () => {
    const b = AllocationBlock.create(V4, { node: 'n1', sequenceNumber: 100n });
    const reserved = (a: { value: bigint }) => a.value === parseIP('10.0.0.1').value;
    const got = b.autoAssign(3, 'h1', { node: 'n1' }, reserved).map(formatIP);
    assert.deepEqual(got, ['10.0.0.0', '10.0.0.2', '10.0.0.3']);
    assert.equal(b.inUseCount(), 3);
    assert.equal(b.freeCount(reserved), 60);
    assert.equal(b.unallocated[0], 1, 'the reserved ordinal stays free, in place');
    const out = b.release([{ ordinal: 0 }, { ordinal: 5 }]);
    assert.deepEqual(out.released, [0]);
    assert.deepEqual(out.notAllocated, [5]);
    assert.deepEqual([...out.countsByHandle], [['h1', 1]]);
    assert.equal(b.unallocated.at(-1), 0);
    assert.deepEqual(b.checkInvariants(), []);
  });

  it('refuses an address in use and honours handle / sequence checks on release', () => {
    const b = AllocationBlock.create(V4, { sequenceNumber: 7n });
    b.assign(9, 'h1', {});
    assert.throws(() => b.assign(9, 'h2', {}), AddressInUseError);
    assert.deepEqual(b.release([{ ordinal: 9, handle: 'other' }]).mismatched, [9]);
    assert.deepEqual(b.release([{ ordinal: 9, sequenceNumber: 8n }]).mismatched, [9]);
    assert.deepEqual(b.release([{ ordinal: 9, handle: 'h1', sequenceNumber: 7n }]).released, [9]);
    assert.ok(b.isEmpty());
  });

  it('compacts attributes and keeps indexes right', () => {
    const b = AllocationBlock.create(V4);
    b.autoAssign(2, 'a', {});
    b.autoAssign(2, 'b', { x: '1' });
    b.autoAssign(2, 'c', {});
    assert.equal(b.attributes.length, 3);
    assert.deepEqual(b.releaseByHandle('a'), [0, 1]);
    assert.equal(b.attributes.length, 2);
    assert.equal(b.handleOf(2), 'b');
    assert.equal(b.handleOf(4), 'c');
    assert.deepEqual(b.checkInvariants(), []);
  });

  it('encodes Calico JSON, including 64-bit sequence numbers, and decodes it back', () => {
    const b = AllocationBlock.create(V4, {
      node: 'n1',
      sequenceNumber: 1_700_000_000_123_456_789n,
    });
    b.autoAssign(2, 'h', { node: 'n1', timestamp: 't' });
    b.bumpSequence();
    const text = b.encode();
    assert.match(text, /"sequenceNumber":1700000000123456790[,}]/);
    assert.match(
      text,
      /"sequenceNumberForAllocation":\{"0":1700000000123456789,"1":1700000000123456789\}/,
    );
    const raw = parseJsonExact(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(raw), [
      'cidr',
      'affinity',
      'strictAffinity',
      'allocations',
      'unallocated',
      'attributes',
      'sequenceNumber',
      'sequenceNumberForAllocation',
      'deleted',
    ]);
    assert.equal(raw.affinity, 'host:n1');
    assert.deepEqual(raw.attributes, [
      { handle_id: 'h', secondary: { node: 'n1', timestamp: 't' } },
    ]);
    const back = AllocationBlock.decode(text, V4);
    assert.equal(back.sequenceNumber, 1_700_000_000_123_456_790n);
    assert.equal(back.sequenceNumberForAllocation.get(1), 1_700_000_000_123_456_789n);
    assert.equal(back.encode(), text);
  });

  it('reads a block written by Calico (nulls, legacy hostAffinity, unknown fields kept)', () => {
    const calico = JSON.stringify({
      cidr: '10.0.0.0/30',
      affinity: null,
      hostAffinity: 'old-node',
      allocations: [0, null, null, null],
      unallocated: [1, 2, 3],
      attributes: [{ handle_id: 'k8s-pod-network.abc', secondary: null }],
      deleted: false,
      affinityClaimTime: '2024-01-01T00:00:00Z',
    });
    const b = AllocationBlock.decode(calico);
    assert.equal(b.host, 'old-node');
    assert.equal(b.handleOf(0), 'k8s-pod-network.abc');
    assert.match(b.encode(), /"affinityClaimTime":"2024-01-01T00:00:00Z"/);
    assert.doesNotMatch(b.encode(), /hostAffinity/);
  });

  it('property: never hands out an address twice; release makes it available again', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('alloc' as const),
        n: fc.integer({ min: 1, max: 9 }),
        h: fc.integer({ min: 0, max: 5 }),
      }),
      fc.record({
        kind: fc.constant('release' as const),
        ordinal: fc.integer({ min: 0, max: 63 }),
      }),
      fc.record({ kind: fc.constant('releaseHandle' as const), h: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(op, { maxLength: 80 }), (v6, ops) => {
        const b = AllocationBlock.create(v6 ? V6 : V4);
        const held = new Map<string, string>(); // address -> handle
        for (const o of ops) {
          if (o.kind === 'alloc') {
            const before = b.freeCount();
            const got = b.autoAssign(o.n, `h${o.h}`, {}).map(formatIP);
            assert.equal(got.length, Math.min(o.n, before));
            for (const a of got) {
              assert.ok(!held.has(a), `${a} handed out twice`);
              held.set(a, `h${o.h}`);
            }
          } else if (o.kind === 'release') {
            const a = formatIP(b.addressOf(o.ordinal));
            const out = b.release([{ ordinal: o.ordinal }]);
            assert.equal(out.released.length === 1, held.has(a));
            held.delete(a);
          } else {
            for (const ord of b.releaseByHandle(`h${o.h}`)) {
              assert.equal(held.get(formatIP(b.addressOf(ord))), `h${o.h}`);
              held.delete(formatIP(b.addressOf(ord)));
            }
          }
          assert.deepEqual(b.checkInvariants(), []);
          assert.equal(b.inUseCount(), held.size);
          assert.equal(b.freeCount() + held.size, b.size);
        }
        // Everything released can be taken again.
        for (const a of [...held.keys()]) b.release([{ ordinal: b.ordinalOf(parseIP(a)) }]);
        assert.equal(b.autoAssign(b.size, 'x', {}).length, b.size);
        const again = AllocationBlock.decode(b.encode());
        assert.deepEqual(again.checkInvariants(), []);
      }),
      { numRuns: 200 },
    );
  });
});

describe('IpamHandle', () => {
  it('counts per block and encodes Calico JSON', () => {
    const h = new IpamHandle('net.c1');
    h.adjust(V4, 2);
    h.adjust(V6, 1);
    h.adjust(V6, -1);
    assert.equal(h.encode(), '{"block":{"10.0.0.0/26":2},"deleted":false}');
    const back = IpamHandle.decode('net.c1', h.encode());
    assert.equal(back.total(), 2);
    back.adjust('10.0.0.0/26', -5);
    assert.ok(back.isEmpty());
  });
});
