// The session FSM over real loopback sockets; timers on a fake clock where
// the test is about time.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { BgpSpeaker, type SpeakerConfig } from '../speaker.js';
import { FakeClock } from '../test-support/fake-clock.js';
import { RawPeer } from '../test-support/raw-peer.js';
import {
  Md5UnsupportedError,
  isDirectlyConnected,
  tcpTransport,
  type Transport,
} from './transport.js';

const speakers: BgpSpeaker[] = [];
const raws: RawPeer[] = [];
after(async () => {
  for (const r of raws) r.close();
  for (const s of speakers) await s.stop();
});

/**
 * TCP restricted to loopback: a connection to any other address fails here
 * and is recorded, so no test can send a packet off this machine, whatever
 * the code under test decides.
 */
const offMachineAttempts: string[] = [];
const loopbackOnly: Transport = {
  connect(opts, cb) {
    if (!/^127\./.test(opts.host) && opts.host !== '::1') {
      offMachineAttempts.push(opts.host);
      setImmediate(() => cb(new Error(`test transport: ${opts.host} is not loopback`)));
      return () => undefined;
    }
    return tcpTransport.connect(opts, cb);
  },
  listen: (opts, onConnection) => tcpTransport.listen(opts, onConnection),
};

async function speaker(
  config: Partial<SpeakerConfig> & { routerId: string; host: string },
  clock?: FakeClock,
) {
  const s = new BgpSpeaker(
    clock ? { clock, transport: loopbackOnly } : { transport: loopbackOnly },
  );
  speakers.push(s);
  const { host, ...rest } = config;
  await s.start({
    asn: 65000,
    listen: { host, port: 0 },
    idleHoldTime: 0.05,
    connectRetryTime: 1,
    ...rest,
  });
  return { s, port: s.status().listening!.port };
}

async function raw(host: string, port: number, from: string): Promise<RawPeer> {
  const r = await RawPeer.connect(host, port, from);
  raws.push(r);
  return r;
}

async function eventually(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const peerState = (s: BgpSpeaker, addr: string) => s.status().peers.find((p) => p.address === addr);

describe('session FSM (RFC 4271 §8)', () => {
  it('negotiates the smaller hold time, sends keepalives every third of it, and expires the hold timer with 4/0', async () => {
    const clock = new FakeClock();
    const { s, port } = await speaker(
      { routerId: '10.0.1.1', host: '127.0.1.1', holdTime: 9 },
      clock,
    );
    s.addPeer({ address: '127.0.1.2', asn: 65001, passive: true, type: 'global' });
    const r = await raw('127.0.1.1', port, '127.0.1.2');
    const open = await r.handshake({ asn: 65001, bgpId: '10.0.1.2', holdTime: 6 });
    assert.equal(open.holdTime, 9);
    await eventually(() => peerState(s, '127.0.1.2')?.state === 'Established', 'Established');
    const keepalives = () => r.received.filter((m) => m.type === 'keepalive').length;
    const before = keepalives();
    clock.advance(2000); // 6 s / 3
    await r.until(() => keepalives() === before + 1, 2000, 'a keepalive');
    r.sendMessage({ type: 'keepalive' });
    await new Promise((res) => setTimeout(res, 50));
    clock.advance(5000); // heard 5 s ago: not yet
    assert.equal(r.first('notification'), undefined);
    clock.advance(1000);
    await r.until(() => r.first('notification') !== undefined, 2000, 'hold timer NOTIFICATION');
    assert.deepEqual([r.first('notification')!.code, r.first('notification')!.subcode], [4, 0]);
    await r.until(() => r.closed, 3000, 'close');
    assert.equal(peerState(s, '127.0.1.2')!.info, 'hold timer expired');
  });

  it('resolves a connection collision by keeping the connection opened by the higher BGP identifier (§6.8)', async () => {
    for (const [idA, idB] of [
      ['10.0.1.20', '10.0.1.10'],
      ['10.0.1.10', '10.0.1.20'],
    ] as const) {
      const a = await speaker({ routerId: idA, host: '127.0.1.3' });
      const b = await speaker({ routerId: idB, host: '127.0.1.4' });
      // Both active, started in the same turn: each connects to the other.
      a.s.addPeer({
        address: '127.0.1.4',
        port: b.port,
        asn: 65000,
        localAddress: '127.0.1.3',
        type: 'mesh',
      });
      b.s.addPeer({
        address: '127.0.1.3',
        port: a.port,
        asn: 65000,
        localAddress: '127.0.1.4',
        type: 'mesh',
      });
      await eventually(
        () =>
          peerState(a.s, '127.0.1.4')?.state === 'Established' &&
          peerState(b.s, '127.0.1.3')?.state === 'Established',
        'both Established',
      );
      await new Promise((r) => setTimeout(r, 100));
      const ca = peerState(a.s, '127.0.1.4')!.connection!;
      const cb = peerState(b.s, '127.0.1.3')!.connection!;
      assert.equal(ca.localPort, cb.remotePort, 'both sides kept the same connection');
      assert.equal(ca.outgoing, idA > idB, 'the higher identifier opened it');
      assert.equal(cb.outgoing, idB > idA);
      await a.s.stop();
      await b.s.stop();
    }
  });

  it('passive peers never connect; an active one reaches a passive one', async () => {
    const a = await speaker({ routerId: '10.0.1.5', host: '127.0.1.5' });
    const b = await speaker({ routerId: '10.0.1.6', host: '127.0.1.6' });
    a.s.addPeer({
      address: '127.0.1.6',
      port: b.port,
      asn: 65000,
      passive: true,
      localAddress: '127.0.1.5',
      type: 'mesh',
    });
    b.s.addPeer({
      address: '127.0.1.5',
      port: a.port,
      asn: 65000,
      passive: true,
      localAddress: '127.0.1.6',
      type: 'mesh',
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(peerState(a.s, '127.0.1.6')!.state, 'Active');
    assert.equal(peerState(b.s, '127.0.1.5')!.state, 'Active');
    b.s.removePeer('127.0.1.5');
    b.s.addPeer({
      address: '127.0.1.5',
      port: a.port,
      asn: 65000,
      localAddress: '127.0.1.6',
      type: 'mesh',
    });
    await eventually(() => peerState(a.s, '127.0.1.6')?.state === 'Established', 'Established');
    assert.equal(peerState(b.s, '127.0.1.5')!.connection!.outgoing, true);
  });

  it('refuses a wrong peer AS (2/2) and an internal peer with our identifier (2/3)', async () => {
    const { s, port } = await speaker({ routerId: '10.0.1.7', host: '127.0.1.7' });
    s.addPeer({ address: '127.0.1.8', asn: 65001, passive: true, type: 'global' });
    s.addPeer({ address: '127.0.1.9', asn: 65000, passive: true, type: 'mesh' });
    const wrongAs = await raw('127.0.1.7', port, '127.0.1.8');
    await wrongAs.handshake({ asn: 65002, bgpId: '10.0.1.8' }).catch(() => undefined);
    await wrongAs.until(() => wrongAs.first('notification') !== undefined, 2000, 'NOTIFICATION');
    assert.deepEqual(
      [wrongAs.first('notification')!.code, wrongAs.first('notification')!.subcode],
      [2, 2],
    );
    const sameId = await raw('127.0.1.7', port, '127.0.1.9');
    await sameId.handshake({ asn: 65000, bgpId: '10.0.1.7' }).catch(() => undefined);
    await sameId.until(() => sameId.first('notification') !== undefined, 2000, 'NOTIFICATION');
    assert.deepEqual(
      [sameId.first('notification')!.code, sameId.first('notification')!.subcode],
      [2, 3],
    );
    assert.match(peerState(s, '127.0.1.8')!.info, /Bad Peer AS/);
  });

  it('answers messages a state does not expect with the RFC 6608 FSM error', async () => {
    const { s, port } = await speaker({ routerId: '10.0.1.10', host: '127.0.1.10' });
    s.addPeer({ address: '127.0.1.11', asn: 65001, passive: true, type: 'global' });
    // KEEPALIVE in OpenSent → 5/1.
    const a = await raw('127.0.1.10', port, '127.0.1.11');
    a.sendMessage({ type: 'keepalive' });
    await a.until(() => a.first('notification') !== undefined, 2000, 'NOTIFICATION');
    assert.deepEqual([a.first('notification')!.code, a.first('notification')!.subcode], [5, 1]);
    // OPEN in Established → 5/3.
    await eventually(() => peerState(s, '127.0.1.11')?.state === 'Active', 'Active again');
    const b = await raw('127.0.1.10', port, '127.0.1.11');
    const open = await b.handshake({ asn: 65001, bgpId: '10.0.1.11' });
    b.sendMessage({ ...open, bgpId: '10.0.1.11', myAs: 65001 });
    await b.until(() => b.first('notification') !== undefined, 2000, 'NOTIFICATION');
    assert.deepEqual([b.first('notification')!.code, b.first('notification')!.subcode], [5, 3]);
  });

  it('stop sends Cease/Administrative Shutdown; a graceful stop closes without NOTIFICATION', async () => {
    for (const graceful of [false, true]) {
      const { s, port } = await speaker({
        routerId: '10.0.1.12',
        host: '127.0.1.12',
        gracefulRestart: { enabled: true },
      });
      s.addPeer({ address: '127.0.1.13', asn: 65001, passive: true, type: 'global' });
      const r = await raw('127.0.1.12', port, '127.0.1.13');
      const open = await r.handshake({ asn: 65001, bgpId: '10.0.1.13' });
      const gr = open.capabilities.find((c) => c.kind === 'graceful-restart');
      assert.ok(
        gr !== undefined &&
          gr.kind === 'graceful-restart' &&
          !gr.restarting &&
          gr.restartTime === 120,
      );
      await s.stop({ graceful });
      await r.until(() => r.closed, 3000, 'close');
      const n = r.first('notification');
      if (graceful) assert.equal(n, undefined);
      else assert.deepEqual([n?.code, n?.subcode], [6, 2]);
    }
  });

  it('advertises the R and F bits when restarting', async () => {
    const { s, port } = await speaker({
      routerId: '10.0.1.14',
      host: '127.0.1.14',
      gracefulRestart: { enabled: true, restarting: true, restartTime: 30 },
    });
    s.addPeer({ address: '127.0.1.15', asn: 65001, passive: true, type: 'global' });
    const r = await raw('127.0.1.14', port, '127.0.1.15');
    const open = await r.handshake({ asn: 65001, bgpId: '10.0.1.15' });
    const gr = open.capabilities.find((c) => c.kind === 'graceful-restart');
    assert.ok(gr?.kind === 'graceful-restart');
    assert.equal(gr.restarting, true);
    assert.equal(gr.restartTime, 30);
    assert.ok(gr.families.every((f) => f.forwarding));
  });

  it('refuses a password with a clear error and holds back an eBGP peer that is not directly connected', async () => {
    const { s } = await speaker({ routerId: '10.0.1.16', host: '127.0.1.16' });
    assert.throws(
      () => s.addPeer({ address: '127.0.1.17', asn: 65001, password: 'secret', type: 'global' }),
      (e: unknown) => e instanceof Md5UnsupportedError && /TCP_MD5SIG/.test(e.message),
    );
    // An address on none of this machine's networks: the check stops the
    // FSM before any connection attempt, so nothing is sent anywhere.
    const far = ['198.51.100.77', '203.0.113.77', '100.127.255.77'].find(
      (a) => !isDirectlyConnected(a),
    );
    if (far === undefined) return;
    s.addPeer({ address: far, asn: 65001, type: 'global' });
    await eventually(
      () => /not on a directly connected network/.test(peerState(s, far)!.info),
      'info',
    );
    assert.equal(peerState(s, far)!.state, 'Active');
    assert.deepEqual(offMachineAttempts, [], 'no connection was attempted');
  });
});
