import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import type { PathAttributes } from '../codec/index.js';
import { addressKey, selectBest, type Candidate } from './best-path.js';
import { Rib, type RibPeer, type RibPeerConfig } from './rib.js';

const LOCAL_AS = 64512;

function rib(clusterId?: string): Rib {
  return new Rib({ localAsn: LOCAL_AS, routerId: '10.0.0.1', ...(clusterId ? { clusterId } : {}) });
}

function up(r: Rib, cfg: RibPeerConfig, routerId: string, localAddress = '10.0.0.1'): RibPeer {
  const p = r.addPeer(cfg);
  r.peerUp(p, { routerId, localAddress, families: ['ipv4', 'ipv6'] });
  return p;
}

function attrs(asns: number[], extra: PathAttributes = {}): PathAttributes {
  return { origin: 0, asPath: asns.length ? [{ type: 'sequence', asns }] : [], ...extra };
}

// ---------------------------------------------------------------------------

const candidate: fc.Arbitrary<Omit<Candidate, 'peerKey'>> = fc.record({
  localPref: fc.constantFrom(50, 100, 200),
  local: fc.boolean(),
  asPathLength: fc.integer({ min: 0, max: 3 }),
  origin: fc.integer({ min: 0, max: 2 }),
  med: fc.constantFrom(0, 10, 20),
  neighborAs: fc.constantFrom(65001, 65002, 65003),
  ebgp: fc.boolean(),
  routerIdNumber: fc.integer({ min: 1, max: 5 }),
  clusterListLength: fc.integer({ min: 0, max: 2 }),
});

describe('best path (RFC 4271 §9.1.2.2)', () => {
  it('does not depend on the order the candidates arrived in', () => {
    fc.assert(
      fc.property(
        fc
          .array(candidate, { minLength: 1, maxLength: 8 })
          .map((cs) => cs.map((c, i) => ({ ...c, peerKey: addressKey(`10.0.0.${i + 2}`) }))),
        fc.nat(),
        (cs, seed) => {
          const shuffled = [...cs];
          let s = seed;
          for (let i = shuffled.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) >>> 0;
            const j = s % (i + 1);
            [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
          }
          assert.equal(selectBest(shuffled), selectBest(cs));
        },
      ),
      { numRuns: 2000 },
    );
  });

  const base: Candidate = {
    localPref: 100,
    local: false,
    asPathLength: 2,
    origin: 0,
    med: 0,
    neighborAs: 65001,
    ebgp: true,
    routerIdNumber: 5,
    clusterListLength: 0,
    peerKey: addressKey('10.0.0.9'),
  };
  const pick = (a: Partial<Candidate>, b: Partial<Candidate>): string => {
    const x = { ...base, ...a, name: 'a' };
    const y = { ...base, peerKey: addressKey('10.0.0.10'), ...b, name: 'b' };
    const one = selectBest([x, y])!.name;
    assert.equal(selectBest([y, x])!.name, one);
    return one;
  };

  it('applies each step in order', () => {
    assert.equal(pick({ localPref: 200, asPathLength: 9 }, {}), 'a', 'LOCAL_PREF first');
    assert.equal(pick({ local: true, asPathLength: 9 }, {}), 'a', 'locally originated');
    assert.equal(pick({}, { asPathLength: 1, origin: 2 }), 'b', 'shorter AS_PATH');
    assert.equal(pick({ origin: 1 }, { origin: 0, med: 50 }), 'b', 'lower ORIGIN');
    assert.equal(pick({ med: 10 }, { med: 5 }), 'b', 'lower MED, same neighbour AS');
    assert.equal(
      pick({ med: 10, routerIdNumber: 1 }, { med: 5, neighborAs: 65002 }),
      'a',
      'MED not compared across ASes',
    );
    assert.equal(pick({ ebgp: false, routerIdNumber: 1 }, {}), 'b', 'eBGP over iBGP');
    assert.equal(pick({ routerIdNumber: 7 }, { routerIdNumber: 6 }), 'b', 'lower router id');
    assert.equal(
      pick({ clusterListLength: 2 }, { clusterListLength: 1 }),
      'b',
      'shorter CLUSTER_LIST',
    );
    assert.equal(pick({}, {}), 'a', 'lower peer address');
  });

  it('eliminates by MED per neighbour AS over the whole set (RFC 4271 §9.1.2.2 c)', () => {
    // A (AS1, MED 10), B (AS1, MED 5), C (AS2, MED 0, higher router id): B knocks out A,
    // then B and C go to router id: B wins. Pairwise sorting can pick A.
    const a = { ...base, name: 'A', med: 10, neighborAs: 1, routerIdNumber: 1 };
    const b = { ...base, name: 'B', med: 5, neighborAs: 1, routerIdNumber: 2 };
    const c = { ...base, name: 'C', med: 0, neighborAs: 2, routerIdNumber: 3 };
    for (const order of [
      [a, b, c],
      [c, a, b],
      [b, c, a],
      [a, c, b],
    ])
      assert.equal(selectBest(order)!.name, 'B');
  });

  it('orders addresses numerically', () => {
    assert.ok(addressKey('9.0.0.1') < addressKey('10.0.0.1'));
    assert.ok(addressKey('10.0.0.1') < addressKey('2001:db8::1'));
    assert.ok(addressKey('2001:db8::2') < addressKey('2001:db8::10'));
  });
});

// ---------------------------------------------------------------------------

describe('Loc-RIB', () => {
  it('ends with the same best paths whatever the order of announcements and withdrawals', () => {
    const peerDefs = [
      { address: '10.0.0.2', asn: 65002, routerId: '2.2.2.2' },
      { address: '10.0.0.3', asn: 65003, routerId: '3.3.3.3' },
      { address: '10.0.0.4', asn: LOCAL_AS, routerId: '4.4.4.4' },
      { address: '10.0.0.5', asn: LOCAL_AS, routerId: '5.5.5.5' },
    ];
    const event = fc.record({
      peer: fc.integer({ min: 0, max: 3 }),
      prefix: fc.constantFrom('10.1.0.0/24', '10.2.0.0/24', '2001:db8::/64'),
      pathLength: fc.integer({ min: 0, max: 3 }),
      localPref: fc.constantFrom(100, 150),
      med: fc.constantFrom(0, 7),
      withdraw: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), fc.nat(), (events, seed) => {
        // The final state is the last event per (peer, prefix): apply that set in two orders.
        const last = new Map<string, (typeof events)[number]>();
        for (const e of events) last.set(`${e.peer}|${e.prefix}`, e);
        const finals = [...last.values()];
        const run = (list: typeof finals): string => {
          const r = rib();
          const peers = peerDefs.map((d) => up(r, { address: d.address, asn: d.asn }, d.routerId));
          for (const e of list) {
            const p = peers[e.peer]!;
            const d = peerDefs[e.peer]!;
            if (e.withdraw) r.withdraw(p, [e.prefix]);
            else {
              const path =
                d.asn === LOCAL_AS
                  ? Array(e.pathLength).fill(65009)
                  : [d.asn, ...Array(e.pathLength).fill(65009)];
              r.announce(p, {
                attrs: attrs(path, { localPref: e.localPref, med: e.med }),
                nextHop: e.prefix.includes(':') ? '2001:db8::99' : d.address,
                prefixes: [e.prefix],
              });
            }
          }
          r.drain();
          return JSON.stringify(
            [...r.entries()].map(([p, route]) => [p, route.peer.address]).sort(),
          );
        };
        const shuffled = [...finals];
        let s = seed;
        for (let i = shuffled.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) >>> 0;
          const j = s % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        assert.equal(run(shuffled), run(finals));
      }),
      { numRuns: 500 },
    );
  });

  it('drops AS-path loops, reflected loops and first-AS mismatches, but counts them as received', () => {
    const r = rib();
    const e = up(r, { address: '10.0.0.2', asn: 65002 }, '2.2.2.2');
    const i = up(r, { address: '10.0.0.3', asn: LOCAL_AS }, '3.3.3.3');
    r.announce(e, {
      attrs: attrs([65002, LOCAL_AS, 65005]),
      nextHop: '10.0.0.2',
      prefixes: ['10.1.0.0/24'],
    });
    r.announce(e, { attrs: attrs([65003]), nextHop: '10.0.0.2', prefixes: ['10.2.0.0/24'] });
    r.announce(i, {
      attrs: attrs([], { originatorId: '10.0.0.1' }),
      nextHop: '10.0.0.3',
      prefixes: ['10.3.0.0/24'],
    });
    r.announce(i, {
      attrs: attrs([], { clusterList: ['10.0.0.1'] }),
      nextHop: '10.0.0.3',
      prefixes: ['10.4.0.0/24'],
    });
    r.announce(e, { attrs: attrs([65002]), nextHop: '10.0.0.1', prefixes: ['10.5.0.0/24'] });
    assert.equal(r.size, 0);
    assert.equal(e.received, 3);
    assert.equal(e.accepted, 0);
    assert.match(r.adjRibIn(e, '10.1.0.0/24')!.rejected!, /AS path loop/);
    assert.match(r.adjRibIn(e, '10.2.0.0/24')!.rejected!, /first AS/);
    assert.match(r.adjRibIn(i, '10.3.0.0/24')!.rejected!, /ORIGINATOR_ID/);
    assert.match(r.adjRibIn(i, '10.4.0.0/24')!.rejected!, /CLUSTER_LIST/);
    assert.match(r.adjRibIn(e, '10.5.0.0/24')!.rejected!, /our own address/);
    // A later good announcement replaces the rejected one.
    r.announce(e, { attrs: attrs([65002]), nextHop: '10.0.0.2', prefixes: ['10.1.0.0/24'] });
    assert.equal(r.size, 1);
    assert.equal(e.accepted, 1);
  });

  it('coalesces changes until drain, reporting only real best-path changes', () => {
    const r = rib();
    const e = up(r, { address: '10.0.0.2', asn: 65002 }, '2.2.2.2');
    r.drain();
    r.announce(e, {
      attrs: attrs([65002]),
      nextHop: '10.0.0.2',
      prefixes: ['10.1.0.0/24', '10.2.0.0/24'],
    });
    r.withdraw(e, ['10.2.0.0/24']);
    const { changes } = r.drain();
    assert.deepEqual(
      changes.map((c) => [c.prefix, c.route?.nextHop]),
      [['10.1.0.0/24', '10.0.0.2']],
    );
    r.withdraw(e, ['10.1.0.0/24']);
    assert.deepEqual(
      r.drain().changes.map((c) => [c.prefix, c.route]),
      [['10.1.0.0/24', undefined]],
    );
  });
});

// ---------------------------------------------------------------------------

describe('Adj-RIB-Out export rules', () => {
  function outFor(r: Rib, to: RibPeer, prefix: string) {
    return to.adjOut.get(prefix);
  }

  it('iBGP split horizon without reflection; eBGP routes go to everyone but their source', () => {
    const r = rib();
    const i1 = up(r, { address: '10.0.0.2', asn: LOCAL_AS }, '2.2.2.2');
    const i2 = up(r, { address: '10.0.0.3', asn: LOCAL_AS }, '3.3.3.3');
    const e1 = up(r, { address: '10.0.0.4', asn: 65004 }, '4.4.4.4');
    r.announce(i1, {
      attrs: attrs([], { localPref: 150 }),
      nextHop: '10.0.0.2',
      prefixes: ['10.1.0.0/24'],
    });
    r.announce(e1, {
      attrs: attrs([65004], { med: 5, localPref: 999 }),
      nextHop: '10.0.0.4',
      prefixes: ['10.2.0.0/24'],
    });
    r.drain();
    assert.equal(outFor(r, i2, '10.1.0.0/24'), undefined, 'iBGP → iBGP is not re-advertised');
    assert.deepEqual(outFor(r, e1, '10.1.0.0/24')!.attrs, {
      origin: 0,
      asPath: [{ type: 'sequence', asns: [LOCAL_AS] }],
      nextHop: '10.0.0.1',
    });
    const toI = outFor(r, i2, '10.2.0.0/24')!;
    assert.equal(toI.attrs.localPref, 100, 'eBGP LOCAL_PREF ignored, ours sent');
    assert.equal(toI.attrs.med, 5, 'MED kept inside the AS');
    assert.equal(toI.nextHop, '10.0.0.4', 'iBGP: next hop unchanged');
    assert.equal(outFor(r, e1, '10.2.0.0/24'), undefined, 'not back to its source');
  });

  it('reflects per RFC 4456: client routes to all, non-client routes to clients, with ORIGINATOR_ID and CLUSTER_LIST', () => {
    const r = rib('1.2.3.4');
    const c1 = up(r, { address: '10.0.0.2', asn: LOCAL_AS, routeReflectorClient: true }, '2.2.2.2');
    const c2 = up(r, { address: '10.0.0.3', asn: LOCAL_AS, routeReflectorClient: true }, '3.3.3.3');
    const n1 = up(r, { address: '10.0.0.4', asn: LOCAL_AS }, '4.4.4.4');
    const n2 = up(r, { address: '10.0.0.5', asn: LOCAL_AS }, '5.5.5.5');
    r.announce(c1, { attrs: attrs([]), nextHop: '10.0.0.2', prefixes: ['10.1.0.0/24'] });
    r.announce(n1, {
      attrs: attrs([], { clusterList: ['9.9.9.9'] }),
      nextHop: '10.0.0.4',
      prefixes: ['10.2.0.0/24'],
    });
    r.drain();
    for (const to of [c2, n1, n2]) {
      const out = outFor(r, to, '10.1.0.0/24')!;
      assert.equal(out.attrs.originatorId, '2.2.2.2');
      assert.deepEqual(out.attrs.clusterList, ['1.2.3.4']);
      assert.equal(out.nextHop, '10.0.0.2');
    }
    assert.equal(outFor(r, c1, '10.1.0.0/24'), undefined);
    assert.deepEqual(outFor(r, c2, '10.2.0.0/24')!.attrs.clusterList, ['1.2.3.4', '9.9.9.9']);
    assert.equal(
      outFor(r, n2, '10.2.0.0/24'),
      undefined,
      'non-client → non-client is not reflected',
    );
  });

  it('next-hop-self and keep-original-next-hop', () => {
    const r = rib();
    const src = up(r, { address: '10.0.0.2', asn: 65002 }, '2.2.2.2');
    const keep = up(r, { address: '10.0.0.3', asn: 65003, keepOriginalNextHop: true }, '3.3.3.3');
    const self = up(
      r,
      { address: '10.0.0.4', asn: LOCAL_AS, nextHopSelf: true },
      '4.4.4.4',
      '10.0.0.100',
    );
    r.announce(src, { attrs: attrs([65002]), nextHop: '10.0.0.2', prefixes: ['10.1.0.0/24'] });
    r.originate('10.9.0.0/26');
    r.originate('10.9.1.0/26', { nextHop: '10.0.0.77' });
    r.drain();
    assert.equal(outFor(r, keep, '10.1.0.0/24')!.nextHop, '10.0.0.2');
    assert.equal(outFor(r, self, '10.1.0.0/24')!.nextHop, '10.0.0.100');
    assert.equal(
      outFor(r, keep, '10.9.0.0/26')!.nextHop,
      '10.0.0.1',
      'own route: our session address',
    );
    assert.equal(
      outFor(r, keep, '10.9.1.0/26')!.nextHop,
      '10.0.0.77',
      'own route with a given next hop',
    );
  });

  it('withdraws from Adj-RIB-Out when the best path goes, and honours NO_ADVERTISE / NO_EXPORT', () => {
    const r = rib();
    const a = up(r, { address: '10.0.0.2', asn: 65002 }, '2.2.2.2');
    const b = up(r, { address: '10.0.0.3', asn: 65003 }, '3.3.3.3');
    const i = up(r, { address: '10.0.0.4', asn: LOCAL_AS }, '4.4.4.4');
    r.drain();
    r.announce(a, { attrs: attrs([65002]), nextHop: '10.0.0.2', prefixes: ['10.1.0.0/24'] });
    r.announce(a, {
      attrs: attrs([65002], { communities: [0xffffff01] }),
      nextHop: '10.0.0.2',
      prefixes: ['10.2.0.0/24'],
    });
    r.announce(a, {
      attrs: attrs([65002], { communities: [0xffffff02] }),
      nextHop: '10.0.0.2',
      prefixes: ['10.3.0.0/24'],
    });
    const first = r.drain().outputs.find((o) => o.peer === b)!;
    assert.deepEqual(
      first.announce.flatMap((g) => g.prefixes),
      ['10.1.0.0/24'],
    );
    assert.ok(i.adjOut.has('10.2.0.0/24'), 'NO_EXPORT still goes to iBGP');
    assert.ok(!i.adjOut.has('10.3.0.0/24'), 'NO_ADVERTISE goes nowhere');
    r.withdraw(a, ['10.1.0.0/24']);
    const second = r.drain().outputs.find((o) => o.peer === b)!;
    assert.deepEqual(second.withdraw, [{ family: 'ipv4', prefixes: ['10.1.0.0/24'] }]);
  });

  it('full export when a peer comes up', () => {
    const r = rib();
    r.originate('10.9.0.0/26');
    r.drain();
    const p = up(r, { address: '10.0.0.2', asn: 65002 }, '2.2.2.2');
    const out = r.drain().outputs;
    assert.equal(out.length, 1);
    assert.equal(out[0]!.full, true);
    assert.deepEqual(
      out[0]!.announce.flatMap((g) => g.prefixes),
      ['10.9.0.0/26'],
    );
    assert.ok(p.adjOut.has('10.9.0.0/26'));
  });
});

// ---------------------------------------------------------------------------

describe('graceful restart (RFC 4724 helper)', () => {
  it('keeps a peer\u2019s routes stale across a restart, refreshes re-sent ones and sweeps the rest', () => {
    const r = rib();
    const p = up(r, { address: '10.0.0.2', asn: 65002 }, '2.2.2.2');
    r.announce(p, {
      attrs: attrs([65002]),
      nextHop: '10.0.0.2',
      prefixes: ['10.1.0.0/24', '10.2.0.0/24'],
    });
    r.announce(p, { attrs: attrs([65002]), nextHop: '2001:db8::2', prefixes: ['2001:db8::/64'] });
    r.drain();
    r.peerDown(p, true);
    assert.deepEqual(r.drain().changes, [], 'no change while stale');
    assert.equal(r.size, 3);
    assert.ok(r.best('10.1.0.0/24')!.stale);
    assert.equal(r.staleCount(p), 3);
    r.peerUp(p, { routerId: '2.2.2.2', localAddress: '10.0.0.1', families: ['ipv4', 'ipv6'] });
    r.announce(p, { attrs: attrs([65002]), nextHop: '10.0.0.2', prefixes: ['10.1.0.0/24'] });
    assert.equal(r.best('10.1.0.0/24')!.stale, false);
    assert.equal(r.sweepStale(p, 'ipv4'), 1);
    assert.equal(r.best('10.2.0.0/24'), undefined);
    assert.ok(r.best('2001:db8::/64')!.stale, 'other family untouched');
    assert.equal(r.sweepStale(p), 1);
    assert.equal(r.size, 1);
  });

  it('withdraws everything when the peer goes down without graceful restart', () => {
    const r = rib();
    const p = up(r, { address: '10.0.0.2', asn: 65002 }, '2.2.2.2');
    r.announce(p, { attrs: attrs([65002]), nextHop: '10.0.0.2', prefixes: ['10.1.0.0/24'] });
    r.drain();
    r.peerDown(p, false);
    assert.deepEqual(
      r.drain().changes.map((c) => [c.prefix, c.route]),
      [['10.1.0.0/24', undefined]],
    );
  });
});
