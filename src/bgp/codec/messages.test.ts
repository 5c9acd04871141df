// Known-answer tests (byte arrays written from the RFC layouts) and
// encode → decode round trips for every message type.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
  AS_TRANS,
  BgpEncodeError,
  decodeMessage,
  encodeMessage,
  makeOpen,
  notificationName,
  shutdownCommunication,
  shutdownNotification,
  maxPrefixesNotification,
  type BgpMessage,
  type CodecContext,
  type UpdateMessage,
} from './index.js';
import * as arb from './test-support/arbitraries.js';

const hex = (s: string): Uint8Array =>
  Uint8Array.from(Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const MARKER = 'ff'.repeat(16);
const C2: CodecContext = { fourOctetAs: false };
const C4: CodecContext = { fourOctetAs: true };

function decodeOk(bytes: Uint8Array, ctx: CodecContext = C2): BgpMessage {
  const r = decodeMessage(bytes, ctx);
  assert.ok(r.ok, `decode failed: ${JSON.stringify(!r.ok && r.error.reason)}`);
  return r.message;
}

describe('known answers', () => {
  it('KEEPALIVE is 16 × 0xff, 0x0013, 0x04', () => {
    const bytes = hex(`${MARKER} 0013 04`);
    assert.equal(toHex(encodeMessage({ type: 'keepalive' })), toHex(bytes));
    assert.deepEqual(decodeOk(bytes), { type: 'keepalive' });
  });

  it('OPEN: AS 65001, hold 90, id 10.0.0.1, MP IPv4 unicast, route refresh, 4-octet AS', () => {
    const bytes = hex(`${MARKER} 002d 01
      04 fde9 005a 0a000001      # version 4, My AS 65001, Hold Time 90, BGP Identifier
      10 02 0e                   # Opt Parm Len 16; Capabilities parameter of 14 octets
      01 04 0001 00 01           # multiprotocol AFI 1, reserved, SAFI 1
      02 00                      # route refresh
      41 04 0000fde9             # four-octet AS 65001`);
    const open: BgpMessage = {
      type: 'open',
      version: 4,
      myAs: 65001,
      holdTime: 90,
      bgpId: '10.0.0.1',
      capabilities: [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'route-refresh' },
        { kind: 'four-octet-as', asn: 65001 },
      ],
    };
    assert.deepEqual(decodeOk(bytes), open);
    assert.equal(toHex(encodeMessage(open)), toHex(bytes));
  });

  it('OPEN from makeOpen with a 4-octet ASN puts AS_TRANS in My AS', () => {
    const open = makeOpen({ asn: 4200000001, holdTime: 180, bgpId: '192.0.2.7', families: [] });
    assert.equal(open.myAs, AS_TRANS);
    assert.equal(
      toHex(encodeMessage(open)),
      toHex(hex(`${MARKER} 0025 01 04 5ba0 00b4 c0000207 08 02 06 41 04 fa56ea01`)),
    );
  });

  it('OPEN with a Cisco route refresh and a graceful-restart capability', () => {
    const bytes = hex(`${MARKER} 0029 01 04 fde9 00b4 0a000001
      0c 02 0a                   # Opt Parm Len 12; Capabilities of 10 octets
      80 00                      # route refresh (Cisco, code 128)
      40 06 8078 0001 01 80      # graceful restart: R set, 120 s; IPv4 unicast with F set`);
    const m = decodeOk(bytes);
    assert.deepEqual(m.type === 'open' && m.capabilities, [
      { kind: 'route-refresh-cisco' },
      {
        kind: 'graceful-restart',
        restarting: true,
        notification: false,
        restartTime: 120,
        families: [{ afi: 1, safi: 1, forwarding: true }],
      },
    ]);
    assert.equal(toHex(encodeMessage(m)), toHex(bytes));
  });

  it('OPEN with several Capabilities parameters and an unknown capability keeps them all', () => {
    const bytes = hex(`${MARKER} 002a 01 04 fde9 005a 0a000001
      0d                         # Opt Parm Len 13, three Capabilities parameters:
      02 02 02 00                # route refresh
      02 03 49 01 aa             # unknown capability 73, one octet
      02 02 46 00                # enhanced route refresh`);
    const m = decodeOk(bytes);
    assert.deepEqual(m.type === 'open' && m.capabilities, [
      { kind: 'route-refresh' },
      { kind: 'unknown', code: 73, value: Uint8Array.of(0xaa) },
      { kind: 'enhanced-route-refresh' },
    ]);
  });

  it('UPDATE, 2-octet AS: ORIGIN, AS_PATH, NEXT_HOP, MED and two prefixes', () => {
    const bytes = hex(`${MARKER} 0037 02
      0000                       # no withdrawn routes
      0019                       # 25 octets of attributes
      40 01 01 00                # ORIGIN IGP
      40 02 04 02 01 fde9        # AS_PATH AS_SEQUENCE [65001]
      40 03 04 c0000201          # NEXT_HOP 192.0.2.1
      80 04 04 00000000          # MULTI_EXIT_DISC 0
      18 0a0000                  # 10.0.0.0/24
      10 0a01                    # 10.1.0.0/16`);
    const update: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: {
        origin: 0,
        asPath: [{ type: 'sequence', asns: [65001] }],
        nextHop: '192.0.2.1',
        med: 0,
      },
      nlri: ['10.0.0.0/24', '10.1.0.0/16'],
    };
    assert.deepEqual(decodeOk(bytes, C2), update);
    assert.equal(toHex(encodeMessage(update, C2)), toHex(bytes));
  });

  it('UPDATE, 4-octet AS: the same AS_PATH takes 4 octets per ASN', () => {
    const bytes = hex(`${MARKER} 0039 02 0000 001b
      40 01 01 00 40 02 06 02 01 0000fde9 40 03 04 c0000201 80 04 04 00000000
      18 0a0000 10 0a01`);
    const m = decodeOk(bytes, C4);
    assert.deepEqual(m.type === 'update' && m.attributes.asPath, [
      { type: 'sequence', asns: [65001] },
    ]);
    assert.equal(toHex(encodeMessage(m, C4)), toHex(bytes));
  });

  it('UPDATE to a 2-octet speaker: ASNs over 65535 become AS_TRANS and AS4_PATH carries them', () => {
    const update: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: {
        origin: 0,
        asPath: [{ type: 'sequence', asns: [4200000001, 65001] }],
        nextHop: '192.0.2.1',
        aggregator: { asn: 4200000001, address: '192.0.2.9' },
      },
      nlri: ['10.0.0.0/24'],
    };
    const expected = hex(`${MARKER} 0050 02 0000 0035
      40 01 01 00                         # ORIGIN
      40 02 06 02 02 5ba0 fde9            # AS_PATH [AS_TRANS, 65001]
      40 03 04 c0000201                   # NEXT_HOP
      c0 07 06 5ba0 c0000209              # AGGREGATOR AS_TRANS 192.0.2.9
      c0 11 0a 02 02 fa56ea01 0000fde9    # AS4_PATH [4200000001, 65001]
      c0 12 08 fa56ea01 c0000209          # AS4_AGGREGATOR
      18 0a0000`);
    assert.equal(toHex(encodeMessage(update, C2)), toHex(expected));
  });

  it('UPDATE with MP_REACH_NLRI: IPv6 global + link-local next hop (RFC 2545)', () => {
    const bytes = hex(`${MARKER} 0053 02 0000 003c
      80 0e 2c 0002 01 20                 # MP_REACH_NLRI (44 octets), AFI 2, SAFI 1, next hop length 32
      20010db8000000000000000000000001    # 2001:db8::1
      fe800000000000000000000000000001    # fe80::1
      00                                  # reserved
      30 20010db80001                     # 2001:db8:1::/48
      40 01 01 00                         # ORIGIN
      40 02 06 02 01 0000fde9             # AS_PATH [65001]`);
    const m = decodeOk(bytes, C4);
    assert.deepEqual(m, {
      type: 'update',
      withdrawn: [],
      attributes: {
        mpReach: {
          afi: 2,
          safi: 1,
          nextHop: '2001:db8::1',
          linkLocalNextHop: 'fe80::1',
          nlri: ['2001:db8:1::/48'],
        },
        origin: 0,
        asPath: [{ type: 'sequence', asns: [65001] }],
      },
      nlri: [],
    });
    // The encoder always uses the 2-octet length for MP_* (one octet longer, same meaning).
    const again = encodeMessage(m, C4);
    assert.equal(
      toHex(again),
      toHex(bytes).replace('0053020000003c800e2c', '0054020000003d900e002c'),
    );
  });

  it('NOTIFICATION Cease/Administrative Shutdown with a shutdown communication (RFC 9003)', () => {
    const bytes = hex(`${MARKER} 0019 03 06 02 03 627965`);
    const m = decodeOk(bytes);
    assert.deepEqual(m, { type: 'notification', code: 6, subcode: 2, data: hex('03627965') });
    assert.equal(m.type === 'notification' && shutdownCommunication(m), 'bye');
    assert.equal(toHex(encodeMessage(shutdownNotification('bye'))), toHex(bytes));
    assert.equal(notificationName(6, 2), 'Cease / Administrative Shutdown');
  });

  it('NOTIFICATION Cease/Maximum Number of Prefixes Reached carries AFI, SAFI, limit (RFC 4486)', () => {
    assert.equal(
      toHex(encodeMessage(maxPrefixesNotification(2, 1, 1000))),
      toHex(hex(`${MARKER} 001c 03 06 01 0002 01 000003e8`)),
    );
  });

  it('ROUTE-REFRESH for IPv6 unicast, and an Enhanced Route Refresh EoRR', () => {
    const rr = hex(`${MARKER} 0017 05 0002 00 01`);
    assert.deepEqual(decodeOk(rr), { type: 'route-refresh', afi: 2, safi: 1, subtype: 0 });
    assert.equal(
      toHex(encodeMessage({ type: 'route-refresh', afi: 2, safi: 1, subtype: 0 })),
      toHex(rr),
    );
    const eorr = hex(`${MARKER} 0017 05 0001 02 01`);
    assert.deepEqual(decodeOk(eorr), { type: 'route-refresh', afi: 1, safi: 1, subtype: 2 });
  });

  it('End-of-RIB: IPv4 is an empty UPDATE, IPv6 an empty MP_UNREACH_NLRI', () => {
    assert.equal(
      toHex(encodeMessage({ type: 'update', withdrawn: [], attributes: {}, nlri: [] })),
      toHex(hex(`${MARKER} 0017 02 0000 0000`)),
    );
    assert.equal(
      toHex(
        encodeMessage({
          type: 'update',
          withdrawn: [],
          attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [] } },
          nlri: [],
        }),
      ),
      toHex(hex(`${MARKER} 001e 02 0000 0007 90 0f 0003 0002 01`)),
    );
  });

  it('notification names cover RFC 4271 and the RFC 4486 cease subcodes', () => {
    assert.equal(notificationName(1, 1), 'Message Header Error / Connection Not Synchronized');
    assert.equal(notificationName(2, 7), 'OPEN Message Error / Unsupported Capability');
    assert.equal(notificationName(3, 11), 'UPDATE Message Error / Malformed AS_PATH');
    assert.equal(notificationName(4, 0), 'Hold Timer Expired / Unspecific');
    assert.equal(
      notificationName(5, 3),
      'Finite State Machine Error / Receive Unexpected Message in Established State',
    );
    for (let sub = 1; sub <= 8; sub++) assert.doesNotMatch(notificationName(6, sub), /Unknown/);
    assert.equal(notificationName(6, 7), 'Cease / Connection Collision Resolution');
    assert.equal(notificationName(7, 1), 'ROUTE-REFRESH Message Error / Invalid Message Length');
    assert.equal(notificationName(42, 1), 'Unknown Error Code 42 / Unknown Subcode 1');
  });
});

describe('round trips (fast-check)', () => {
  it('every valid message decodes to itself, in every context', () => {
    fc.assert(
      fc.property(arb.contextAndMessage, ([ctx, message]) => {
        let bytes: Uint8Array;
        try {
          bytes = encodeMessage(message, ctx);
        } catch (e) {
          if (e instanceof BgpEncodeError && e.kind === 'message-too-long') return;
          throw e;
        }
        const r = decodeMessage(bytes, ctx);
        assert.ok(r.ok, `decode failed: ${!r.ok ? r.error.reason : ''}`);
        assert.deepEqual(r.message, message);
        // Canonical encoding: re-encoding the decoded value gives the same bytes.
        assert.deepEqual(encodeMessage(r.message, ctx), bytes);
      }),
      { numRuns: 1500 },
    );
  });

  for (const [name, a] of [
    ['OPEN', arb.open],
    ['NOTIFICATION', arb.notification],
    ['ROUTE-REFRESH', arb.routeRefresh],
  ] as const) {
    it(`${name} round trips`, () => {
      fc.assert(
        fc.property(a as fc.Arbitrary<BgpMessage>, (m) => {
          const r = decodeMessage(encodeMessage(m));
          assert.ok(r.ok);
          assert.deepEqual(r.message, m);
        }),
        { numRuns: 500 },
      );
    });
  }

  it('UPDATE round trips with 2-octet and 4-octet AS numbers and ADD-PATH', () => {
    for (const ctx of [
      C2,
      C4,
      { fourOctetAs: true, addPath: { ipv4Unicast: true, ipv6Unicast: true } },
    ]) {
      fc.assert(
        fc.property(arb.update(ctx), (m) => {
          const r = decodeMessage(encodeMessage(m, { ...ctx, extendedMessage: true }), {
            ...ctx,
            extendedMessage: true,
          });
          assert.ok(r.ok, !r.ok ? r.error.reason : '');
          assert.deepEqual(r.message, m);
        }),
        { numRuns: 500 },
      );
    }
  });

  it('an OPEN with more than 255 octets of capabilities uses RFC 9072 extended parameters', () => {
    const capabilities = Array.from({ length: 70 }, (_, i) => ({
      kind: 'multiprotocol' as const,
      afi: i,
      safi: 1,
    }));
    const open: BgpMessage = {
      type: 'open',
      version: 4,
      myAs: 65001,
      holdTime: 90,
      bgpId: '10.0.0.1',
      capabilities,
    };
    const bytes = encodeMessage(open);
    assert.equal(toHex(bytes.subarray(28, 32)), 'ffff01a7'); // Non-Ext OP Len 255, type 255, length 423
    assert.deepEqual(decodeOk(bytes), open);
  });
});

describe('encode errors are typed', () => {
  const bad = (m: unknown, ctx: CodecContext = C4): BgpEncodeError => {
    try {
      encodeMessage(m as BgpMessage, ctx);
    } catch (e) {
      assert.ok(e instanceof BgpEncodeError, `not a BgpEncodeError: ${String(e)}`);
      return e;
    }
    assert.fail('expected BgpEncodeError');
  };
  const update = (attributes: object, nlri: string[] = []): unknown => ({
    type: 'update',
    withdrawn: [],
    attributes,
    nlri,
  });

  it('rejects values out of range', () => {
    assert.equal(
      bad({
        type: 'open',
        version: 4,
        myAs: 70000,
        holdTime: 90,
        bgpId: '1.2.3.4',
        capabilities: [],
      }).kind,
      'out-of-range',
    );
    assert.equal(bad(update({ med: -1 })).kind, 'out-of-range');
    assert.equal(bad(update({ localPref: 2 ** 32 })).kind, 'out-of-range');
    assert.equal(bad(update({ origin: 3 })).kind, 'out-of-range');
    assert.equal(bad(update({ communities: [1.5] })).kind, 'out-of-range');
    assert.equal(bad(update({ extendedCommunities: [1n << 64n] })).kind, 'out-of-range');
    assert.equal(
      bad({ type: 'notification', code: 256, subcode: 0, data: new Uint8Array() }).kind,
      'out-of-range',
    );
  });

  it('rejects bad addresses and prefixes', () => {
    assert.equal(bad(update({ nextHop: '300.1.1.1' })).kind, 'invalid-address');
    assert.equal(bad(update({ nextHop: '::1' })).kind, 'invalid-address');
    assert.equal(bad(update({}, ['10.0.0.1/24'])).kind, 'invalid-prefix');
    assert.equal(bad(update({}, ['10.0.0.0/33'])).kind, 'invalid-prefix');
    assert.equal(bad(update({}, ['2001:db8::/32'])).kind, 'invalid-prefix');
    assert.equal(
      bad(update({ mpReach: { afi: 2, safi: 1, nextHop: '2001:db8::1', nlri: ['10.0.0.0/8'] } }))
        .kind,
      'invalid-prefix',
    );
  });

  it('rejects attributes that cannot be encoded', () => {
    assert.equal(
      bad(update({ asPath: [{ type: 'sequence', asns: [] }] })).kind,
      'invalid-attribute',
    );
    assert.equal(
      bad(update({ unknown: [{ type: 1, flags: 0xc0, value: new Uint8Array() }] })).kind,
      'invalid-attribute',
    );
    assert.equal(
      bad(update({ unknown: [{ type: 99, flags: 0x40, value: new Uint8Array() }] })).kind,
      'invalid-attribute',
    );
    assert.equal(
      bad(update({ mpReach: { afi: 2, safi: 1, nextHop: '10.0.0.1', nlri: [] } })).kind,
      'invalid-attribute',
    );
  });

  it('rejects messages over 4096 octets unless extended messages are on', () => {
    const nlri = Array.from({ length: 1100 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const m = update({ origin: 0, asPath: [], nextHop: '192.0.2.1' }, nlri);
    assert.equal(bad(m).kind, 'message-too-long');
    assert.ok(encodeMessage(m as BgpMessage, { ...C4, extendedMessage: true }).length > 4096);
    // OPEN and KEEPALIVE stay under 4096 even then (RFC 8654 §4).
  });

  it('rejects path identifiers when ADD-PATH is off', () => {
    assert.equal(
      bad({ ...(update({}) as object), withdrawn: ['10.0.0.0/8'], withdrawnPathIds: [1] }).kind,
      'invalid-message',
    );
  });
});
