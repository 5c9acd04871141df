// BgpSpeaker end to end on loopback: three speakers, route reflection,
// change batches, graceful restart in both roles.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { BgpSpeaker, type RouteChange, type SpeakerConfig } from './speaker.js';

const running: BgpSpeaker[] = [];
after(async () => {
  for (const s of running) await s.stop();
});

async function speaker(routerId: string, host: string, extra: Partial<SpeakerConfig> = {}) {
  const s = new BgpSpeaker();
  running.push(s);
  await s.start({
    routerId,
    asn: 64512,
    listen: { host, port: 0 },
    connectRetryTime: 1,
    idleHoldTime: 0.05,
    ...extra,
  });
  return { s, host, port: s.status().listening!.port };
}

async function eventually(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type Sp = Awaited<ReturnType<typeof speaker>>;
function peer(a: Sp, b: Sp, extra: object = {}): void {
  a.s.addPeer({
    address: b.host,
    port: b.port,
    asn: 64512,
    localAddress: a.host,
    type: 'mesh',
    ...extra,
  });
}

describe('BgpSpeaker', () => {
  it('reflects client routes and reports Loc-RIB changes in batches', async () => {
    const rr = await speaker('10.0.3.1', '127.0.3.1');
    const c1 = await speaker('10.0.3.2', '127.0.3.2');
    const c2 = await speaker('10.0.3.3', '127.0.3.3');
    peer(rr, c1, { routeReflectorClient: true, passive: true, type: 'rr' });
    peer(rr, c2, { routeReflectorClient: true, passive: true, type: 'rr' });
    peer(c1, rr, { type: 'rr' });
    peer(c2, rr, { type: 'rr' });
    const batches: RouteChange[][] = [];
    c2.s.onRouteChange((changes) => batches.push(changes.map((c) => ({ ...c }))));
    for (let i = 0; i < 100; i++) c1.s.originate(`10.65.${i}.0/26`);
    await eventually(
      'c2 learns c1\u2019s blocks through the reflector',
      () => c2.s.locRibSize === 100,
    );
    const r = c2.s.route('10.65.7.0/26')!;
    assert.equal(r.nextHop, '127.0.3.2', 'reflected routes keep their next hop');
    assert.equal(r.peer, '127.0.3.1');
    assert.ok(batches.length < 100, `${batches.length} batches for 100 prefixes`);
    assert.equal(batches.flat().length, 100);
    c1.s.withdraw('10.65.7.0/26');
    await eventually('withdrawal reflected', () => c2.s.route('10.65.7.0/26') === undefined);
    assert.equal(batches.at(-1)!.at(-1)!.route, undefined);
  });

  it('keeps a restarting peer\u2019s routes (helper) and tells a restarting speaker when it is synced', async () => {
    const gr = { enabled: true, restartTime: 30 };
    const a = await speaker('10.0.3.4', '127.0.3.4', { gracefulRestart: gr });
    let b = await speaker('10.0.3.5', '127.0.3.5', { gracefulRestart: gr });
    peer(a, b, { passive: true });
    peer(b, a);
    b.s.originate('10.66.0.0/26');
    await eventually('a learns b\u2019s block', () => a.s.route('10.66.0.0/26') !== undefined);
    // b restarts gracefully: a keeps the route, stale, and reports no change.
    const changes: RouteChange[] = [];
    a.s.onRouteChange((c) => changes.push(...c));
    await b.s.stop({ graceful: true });
    await eventually('a sees the session go', () => a.s.status().peers[0]!.state !== 'Established');
    assert.equal(a.s.route('10.66.0.0/26')?.stale, true);
    assert.equal(a.s.status().peers[0]!.prefixesStale, 1);
    assert.deepEqual(changes, []);
    // b comes back restarting, re-originates only one of its blocks... and syncs on a's End-of-RIB.
    a.s.originate('10.66.9.0/26');
    b = await speaker('10.0.3.5', '127.0.3.5', { gracefulRestart: { ...gr, restarting: true } });
    let synced = false;
    void b.s.whenSynced().then(() => (synced = true));
    b.s.originate('10.66.1.0/26');
    peer(b, a);
    await eventually('b synced', () => synced);
    assert.ok(b.s.route('10.66.9.0/26'), 'a\u2019s routes arrived before the End-of-RIB');
    await eventually('a refreshed b\u2019s routes and swept the stale one', () => {
      const p = a.s.status().peers[0]!;
      return (
        p.state === 'Established' &&
        p.prefixesStale === 0 &&
        a.s.route('10.66.1.0/26') !== undefined
      );
    });
    assert.equal(a.s.route('10.66.0.0/26'), undefined, 'not re-announced: swept at End-of-RIB');
  });
});
