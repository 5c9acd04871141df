import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  AS_TRANS,
  decodeMessage,
  encodeMessage,
  makeOpen,
  negotiate,
  openAsn,
  unsupportedCapability,
  validateOpen,
  type OpenMessage,
} from './index.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('negotiation', () => {
  it('a 4-octet speaker with a 2-octet peer gets a 2-octet context and the My AS field as peer AS', () => {
    const local = makeOpen({ asn: 4200000001, holdTime: 90, bgpId: '10.0.0.1' });
    const remote: OpenMessage = {
      type: 'open',
      version: 4,
      myAs: 65002,
      holdTime: 30,
      bgpId: '10.0.0.2',
      capabilities: [],
    };
    const n = negotiate(local, remote);
    assert.equal(n.fourOctetAs, false);
    assert.equal(n.peerAsn, 65002);
    assert.equal(n.holdTime, 30);
    // A peer without multiprotocol capabilities speaks IPv4 unicast (RFC 4760 §8).
    assert.deepEqual(n.families, [{ afi: 1, safi: 1 }]);
    assert.deepEqual(n.receiveContext, { fourOctetAs: false });
    assert.equal(local.myAs, AS_TRANS);
    assert.equal(openAsn(local), 4200000001);
  });

  it('intersects families and works out ADD-PATH per direction (RFC 7911 §4)', () => {
    const local = makeOpen({
      asn: 65001,
      holdTime: 90,
      bgpId: '10.0.0.1',
      capabilities: [
        { kind: 'route-refresh' },
        { kind: 'extended-message' },
        {
          kind: 'add-path',
          families: [
            { afi: 1, safi: 1, mode: 'both' },
            { afi: 2, safi: 1, mode: 'receive' },
          ],
        },
      ],
    });
    const remote = makeOpen({
      asn: 65002,
      holdTime: 180,
      bgpId: '10.0.0.2',
      families: [
        { afi: 2, safi: 1 },
        { afi: 1, safi: 1 },
        { afi: 1, safi: 2 },
      ],
      capabilities: [
        { kind: 'route-refresh-cisco' },
        { kind: 'extended-message' },
        {
          kind: 'graceful-restart',
          restarting: false,
          notification: true,
          restartTime: 120,
          families: [],
        },
        {
          kind: 'add-path',
          families: [
            { afi: 1, safi: 1, mode: 'receive' },
            { afi: 2, safi: 1, mode: 'send' },
          ],
        },
      ],
    });
    const n = negotiate(local, remote);
    assert.deepEqual(n.families, [
      { afi: 2, safi: 1 },
      { afi: 1, safi: 1 },
    ]);
    assert.equal(n.peerAsn, 65002);
    assert.equal(n.routeRefresh, true);
    assert.equal(n.extendedMessage, true);
    assert.equal(n.peerGracefulRestart?.restartTime, 120);
    assert.deepEqual(n.receiveContext, {
      fourOctetAs: true,
      addPath: { ipv6Unicast: true },
      extendedMessage: true,
    });
    assert.deepEqual(n.sendContext, {
      fourOctetAs: true,
      addPath: { ipv4Unicast: true },
      extendedMessage: true,
    });
  });
});

describe('OPEN validation', () => {
  const peer = makeOpen({ asn: 65002, holdTime: 90, bgpId: '10.0.0.2' });

  it('accepts what matches', () => {
    assert.equal(
      validateOpen(peer, { peerAs: 65002, localAs: 65001, localBgpId: '10.0.0.1' }),
      undefined,
    );
  });

  it('Bad Peer AS (2/2) when the ASN is not the configured one', () => {
    const e = validateOpen(peer, { peerAs: 65003 });
    assert.deepEqual([e?.code, e?.subcode], [2, 2]);
  });

  it('Bad BGP Identifier (2/3) for an internal peer using our identifier (RFC 6286)', () => {
    const e = validateOpen(peer, { localAs: 65002, localBgpId: '10.0.0.2' });
    assert.deepEqual([e?.code, e?.subcode], [2, 3]);
    assert.equal(
      validateOpen(peer, { localAs: 65001, localBgpId: '10.0.0.2' }),
      undefined,
      'external: allowed',
    );
  });

  it('Unacceptable Hold Time (2/6) below a configured minimum, never for 0', () => {
    assert.deepEqual(
      [
        validateOpen(peer, { minHoldTime: 120 })?.subcode,
        validateOpen({ ...peer, holdTime: 0 }, { minHoldTime: 120 }),
      ],
      [6, undefined],
    );
  });

  it('Unsupported Capability (2/7) lists the missing capabilities as data (RFC 5492 §5)', () => {
    const e = validateOpen(peer, {
      requiredCapabilities: [
        { kind: 'multiprotocol', afi: 2, safi: 1 },
        {
          kind: 'graceful-restart',
          restarting: false,
          notification: false,
          restartTime: 0,
          families: [],
        },
      ],
    });
    assert.deepEqual([e?.code, e?.subcode], [2, 7]);
    assert.equal(toHex(e!.data), '4002' + '0000');
    assert.equal(toHex(unsupportedCapability([{ kind: 'route-refresh' }]).data), '0200');
  });

  it('decoding already refuses hold time 1 and 2, identifier 0 and AS 0', () => {
    for (const [open, subcode] of [
      [{ ...peer, holdTime: 1 }, 6],
      [{ ...peer, holdTime: 2 }, 6],
      [{ ...peer, bgpId: '0.0.0.0' }, 3],
      [{ ...peer, myAs: 0, capabilities: [] }, 2],
    ] as const) {
      const r = decodeMessage(encodeMessage(open));
      assert.ok(!r.ok);
      assert.deepEqual(
        [r.error.action, r.error.code, r.error.subcode],
        ['notification', 2, subcode],
      );
    }
  });
});
