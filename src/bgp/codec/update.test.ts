import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
  decodeMessage,
  encodeAnnouncements,
  encodeMessage,
  encodeWithdrawals,
  endOfRib,
  endOfRibFamily,
  isEndOfRib,
  withdrawalsOf,
  type CodecContext,
  type UpdateMessage,
} from './index.js';
import * as arb from './test-support/arbitraries.js';

const C4: CodecContext = { fourOctetAs: true };

function decodeUpdate(bytes: Uint8Array, ctx: CodecContext): UpdateMessage {
  const r = decodeMessage(bytes, ctx);
  assert.ok(r.ok, !r.ok ? r.error.reason : '');
  assert.equal(r.message.type, 'update');
  return r.message as UpdateMessage;
}

describe('End-of-RIB (RFC 4724 §2)', () => {
  it('recognises the markers it builds, after a round trip', () => {
    for (const [afi, safi] of [
      [1, 1],
      [2, 1],
      [1, 2],
      [25, 70],
    ]) {
      const marker = decodeUpdate(encodeMessage(endOfRib(afi!, safi!), C4), C4);
      assert.ok(isEndOfRib(marker));
      assert.deepEqual(endOfRibFamily(marker), { afi, safi });
    }
  });

  it('does not take ordinary UPDATEs for markers', () => {
    const base: UpdateMessage = { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
    assert.equal(isEndOfRib({ ...base, withdrawn: ['10.0.0.0/8'] }), false);
    assert.equal(isEndOfRib({ ...base, attributes: { origin: 0 } }), false);
    assert.equal(
      isEndOfRib({ ...base, attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: ['::/0'] } } }),
      false,
    );
    assert.equal(
      isEndOfRib({
        ...base,
        attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [] }, origin: 0 },
      }),
      false,
    );
    assert.equal(isEndOfRib(base), true);
  });
});

describe('packing prefixes into UPDATEs', () => {
  const attributes = {
    origin: 0 as const,
    asPath: [{ type: 'sequence' as const, asns: [65001, 65002] }],
    nextHop: '192.0.2.1',
    communities: [0xfde90064],
  };

  it('announces 10,000 IPv4 prefixes in few full messages, each at most 4096 octets', () => {
    const prefixes = Array.from({ length: 10000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const messages = encodeAnnouncements({ afi: 1, safi: 1, attributes, prefixes }, C4);
    assert.ok(messages.every((m) => m.length <= 4096));
    // 4 octets a prefix: a message holds about (4096 - 19 - 4 - attrs) / 4 ≈ 1000.
    assert.ok(messages.length <= 11, `${messages.length} messages`);
    const decoded = messages.map((m) => decodeUpdate(m, C4));
    assert.deepEqual(
      decoded.flatMap((u) => u.nlri),
      prefixes,
    );
    for (const u of decoded) assert.deepEqual(u.attributes, attributes);
  });

  it('announces IPv6 prefixes in MP_REACH_NLRI with the next hop in every message', () => {
    const prefixes = Array.from(
      { length: 3000 },
      (_, i) => `2001:db8:${(i + 1).toString(16)}::/48`,
    );
    const { nextHop, ...rest } = attributes;
    void nextHop;
    const messages = encodeAnnouncements(
      {
        afi: 2,
        safi: 1,
        attributes: rest,
        nextHop: '2001:db8::1',
        linkLocalNextHop: 'fe80::1',
        prefixes,
      },
      C4,
    );
    assert.ok(messages.every((m) => m.length <= 4096));
    const decoded = messages.map((m) => decodeUpdate(m, C4));
    assert.deepEqual(
      decoded.flatMap((u) => u.attributes.mpReach!.nlri),
      prefixes,
    );
    assert.ok(decoded.every((u) => u.attributes.mpReach!.linkLocalNextHop === 'fe80::1'));
  });

  it('packs withdrawals, with path identifiers under ADD-PATH, and uses 65535 with extended messages', () => {
    const ctx: CodecContext = {
      fourOctetAs: true,
      addPath: { ipv4Unicast: true },
      extendedMessage: true,
    };
    const prefixes = Array.from(
      { length: 20000 },
      (_, i) => `172.${16 + (i >> 12)}.${(i >> 4) & 255}.${(i & 15) << 4}/28`,
    );
    const pathIds = prefixes.map((_, i) => i);
    const messages = encodeWithdrawals(1, 1, prefixes, pathIds, ctx);
    // 20,000 × (4-octet path id + 5 octets): three extended messages.
    assert.equal(messages.length, 3);
    assert.ok(messages.every((m) => m.length <= 65535));
    const decoded = messages.map((m) => decodeUpdate(m, ctx));
    assert.deepEqual(
      decoded.flatMap((u) => u.withdrawn),
      prefixes,
    );
    assert.deepEqual(
      decoded.flatMap((u) => u.withdrawnPathIds ?? []),
      pathIds,
    );
  });

  it('any list of prefixes survives packing (property)', () => {
    fc.assert(
      fc.property(fc.array(arb.ipv6Prefix, { maxLength: 600 }), (prefixes) => {
        const messages = encodeWithdrawals(2, 1, prefixes, undefined, C4);
        const decoded = messages.map((m) => decodeUpdate(m, C4));
        assert.deepEqual(
          decoded.flatMap((u) => u.attributes.mpUnreach!.withdrawn),
          prefixes,
        );
      }),
      { numRuns: 50 },
    );
  });
});

describe('treat-as-withdraw', () => {
  it('lists every prefix of the UPDATE, per family', () => {
    const u: UpdateMessage = {
      type: 'update',
      withdrawn: ['10.9.0.0/16'],
      attributes: {
        mpReach: { afi: 2, safi: 1, nextHop: '2001:db8::1', nlri: ['2001:db8:1::/48'] },
        mpUnreach: { afi: 1, safi: 2, withdrawn: ['232.0.0.0/8'] },
      },
      nlri: ['10.0.0.0/24'],
    };
    assert.deepEqual(withdrawalsOf(u), [
      { afi: 1, safi: 1, prefixes: ['10.9.0.0/16', '10.0.0.0/24'] },
      { afi: 1, safi: 2, prefixes: ['232.0.0.0/8'] },
      { afi: 2, safi: 1, prefixes: ['2001:db8:1::/48'] },
    ]);
  });

  it('copes with an extended UPDATE of 60,000 prefixes (no argument-spread limits)', () => {
    const ctx: CodecContext = { fourOctetAs: true, extendedMessage: true };
    const nlri = new Array<string>(60000).fill('0.0.0.0/0');
    const bytes = encodeMessage(
      {
        type: 'update',
        withdrawn: [],
        attributes: { origin: 0, asPath: [], nextHop: '192.0.2.1' },
        nlri,
      },
      ctx,
    );
    assert.equal(bytes.subarray(23, 27).join(','), '64,1,1,0'); // ORIGIN comes first
    bytes[26] = 9; // an undefined ORIGIN value
    const r = decodeMessage(bytes, ctx);
    assert.ok(!r.ok && r.error.action === 'treat-as-withdraw');
    assert.equal(r.error.withdrawn[0]!.prefixes.length, 60000);
  });

  it('turns an UPDATE with a bad MED into the withdrawal of its IPv6 NLRI', () => {
    const good: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: {
        mpReach: { afi: 2, safi: 1, nextHop: '2001:db8::1', nlri: ['2001:db8:1::/48'] },
        origin: 0,
        asPath: [],
        med: 5,
      },
      nlri: [],
    };
    const bytes = encodeMessage(good, C4);
    // MED is the last attribute: 80 04 04 00000005. Make its length 3 and drop an octet.
    const bad = Uint8Array.from([...bytes.subarray(0, bytes.length - 5), 3, 0, 0, 5]);
    bad[17] = bad.length;
    bad[22] = bad[22]! - 1; // Total Path Attribute Length
    const r = decodeMessage(bad, C4);
    assert.ok(!r.ok && r.error.action === 'treat-as-withdraw');
    assert.deepEqual(r.error.withdrawn, [{ afi: 2, safi: 1, prefixes: ['2001:db8:1::/48'] }]);
    assert.equal(r.error.subcode, 5);
  });
});
