// Interoperability with real BGP daemons, in two network namespaces joined by
// a veth: our speaker (in its own process, inside namespace "a") peers in
// turn with BIRD 2 (iBGP, as Calico's node-to-node mesh), GoBGP and FRR
// (eBGP, as a top-of-rack router). Routes flow both ways, withdrawals
// propagate, and graceful restart works in both directions with BIRD: while
// our speaker restarts, BIRD keeps our route and a continuous ping through it
// loses nothing; while BIRD restarts, we keep its routes.
//
// Needs root, bird, gobgpd and FRR. Every namespace, daemon and process is
// removed at the end, pass or fail.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';

import { Bird, Frr, GoBgp, waitFor } from './test-support/daemons.js';
import { NetLab, isRoot, shQuiet } from './test-support/netns.js';
import { SpeakerProcess } from './test-support/runner-client.js';
import type { PeerStatus, RouteEntry } from './speaker.js';

const OURS = '10.200.0.1';
const THEIRS = '10.200.0.2';
const MESH_AS = 64512;

const missing = ['bird', 'birdc', 'gobgpd', 'gobgp', 'vtysh'].filter(
  (b) => shQuiet(['which', b]).code !== 0,
);
const skip = !isRoot()
  ? 'needs root'
  : missing.length > 0
    ? `missing ${missing.join(', ')}`
    : false;

let lab: NetLab;
let nsA = '';
let nsB = '';
let speaker: SpeakerProcess | undefined;

async function startSpeaker(restarting: boolean): Promise<SpeakerProcess> {
  const sp = await SpeakerProcess.spawn(lab, nsA);
  await sp.call('start', {
    routerId: OURS,
    asn: MESH_AS,
    listen: { host: OURS, port: 179 },
    gracefulRestart: { enabled: true, restartTime: 60, restarting },
    holdTime: 30,
    connectRetryTime: 1,
    idleHoldTime: 0.5,
    families: ['ipv4'],
  });
  return sp;
}

async function ourRoutes(): Promise<Map<string, RouteEntry>> {
  const routes = await speaker!.call<RouteEntry[]>('routes');
  return new Map(routes.map((r) => [r.prefix, r]));
}

async function ourPeer(address: string): Promise<PeerStatus | undefined> {
  const s = await speaker!.call<{ peers: PeerStatus[] }>('status');
  return s.peers.find((p) => p.address === address);
}

async function eventually(
  what: string,
  ms: number,
  check: () => Promise<boolean> | boolean,
): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out: ${what}${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function birdConfig(): string {
  return `
router id ${THEIRS};
protocol device { scan time 2; }
protocol kernel {
  ipv4 { import none; export all; };
  learn off;
}
protocol static st {
  ipv4;
  route 10.98.1.0/24 blackhole;
  route 10.98.2.0/24 blackhole;
}
protocol bgp tortie {
  local ${THEIRS} as ${MESH_AS};
  neighbor ${OURS} as ${MESH_AS};
  direct;
  hold time 30;
  connect retry time 1;
  connect delay time 1;
  error wait time 1, 2;
  graceful restart on;
  graceful restart time 60;
  ipv4 { import all; export all; next hop self; gateway direct; };
}
`;
}

describe('BGP interop with BIRD 2, GoBGP and FRR', { skip }, () => {
  before(() => {
    lab = new NetLab('tbgp');
    nsA = lab.ns('a');
    nsB = lab.ns('b');
    lab.veth(nsA, 'va', `${OURS}/24`, nsB, 'vb', `${THEIRS}/24`);
    // The address behind the route we originate: the target of the GR ping.
    lab.exec(nsA, ['ip', 'addr', 'add', '10.99.0.1/32', 'dev', 'lo']);
  });

  after(async () => {
    await lab?.cleanup();
  });

  let bird: Bird;

  it('BIRD 2 (iBGP): Established, routes both ways, withdrawals both ways', async () => {
    bird = new Bird(lab, nsB, 'bird', birdConfig());
    await bird.start();
    speaker = await startSpeaker(false);
    await speaker.call('addPeer', { address: THEIRS, asn: MESH_AS, type: 'mesh' });
    await speaker.call('originate', { prefix: '10.99.0.0/24' });
    await speaker.call('originate', { prefix: '10.99.5.0/24' });
    await speaker.waitState(THEIRS, 'Established', 20_000);
    await waitFor(
      'BIRD Established',
      10_000,
      () => /Established/.test(bird.protocolState('tortie')) || undefined,
    );

    await eventually(
      'BIRD learns our routes',
      10_000,
      () =>
        JSON.stringify(bird.routesFrom('tortie')) ===
        JSON.stringify(['10.99.0.0/24', '10.99.5.0/24']),
    );
    assert.match(bird.birdc('show', 'route', '10.99.0.0/24', 'all'), /via 10\.200\.0\.1/);
    await eventually('we learn BIRD\u2019s routes', 10_000, async () => {
      const r = await ourRoutes();
      return r.get('10.98.1.0/24')?.nextHop === THEIRS && r.get('10.98.2.0/24')?.peer === THEIRS;
    });
    const peer = (await ourPeer(THEIRS))!;
    assert.equal(peer.prefixesAccepted, 2);
    assert.equal(peer.gracefulRestart, true);

    // Our withdrawal reaches BIRD; BIRD's reaches us.
    await speaker.call('withdraw', { prefix: '10.99.5.0/24' });
    await eventually(
      'BIRD drops 10.99.5.0/24',
      10_000,
      () => !bird.routesFrom('tortie').includes('10.99.5.0/24'),
    );
    bird.birdc('disable', 'st');
    await eventually(
      'we drop BIRD\u2019s routes',
      10_000,
      async () => !(await ourRoutes()).has('10.98.1.0/24'),
    );
    bird.birdc('enable', 'st');
    await eventually('BIRD\u2019s routes return', 10_000, async () =>
      (await ourRoutes()).has('10.98.1.0/24'),
    );
  });

  it('graceful restart of our speaker: BIRD keeps our route, a continuous ping loses nothing', async () => {
    await eventually('kernel route in BIRD\u2019s namespace', 10_000, () =>
      /10\.99\.0\.0\/24 via 10\.200\.0\.1/.test(
        lab.exec(nsB, ['ip', 'route', 'show', '10.99.0.0/24']),
      ),
    );
    const ping = spawn('ip', ['netns', 'exec', nsB, 'ping', '-n', '-i', '0.1', '10.99.0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let pingOut = '';
    ping.stdout.setEncoding('utf8').on('data', (d: string) => (pingOut += d));
    try {
      await new Promise((r) => setTimeout(r, 700));
      // The agent restarts: sessions close without NOTIFICATION, the process exits.
      await speaker!.call('stop', { graceful: true });
      await new Promise<void>((r) => speaker!.child.once('exit', () => r()));
      await waitFor(
        'BIRD notices',
        10_000,
        () => !/Established/.test(bird.protocolState('tortie')) || undefined,
      );
      // While we are down BIRD still has our route, in its table and in the kernel.
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(bird.routesFrom('tortie'), ['10.99.0.0/24']);
      assert.match(lab.exec(nsB, ['ip', 'route', 'show', '10.99.0.0/24']), /via 10\.200\.0\.1/);
      assert.match(
        bird.birdc('show', 'protocols', 'all', 'tortie'),
        /Neighbor graceful restart active/,
      );
      // A restarted speaker: R and F bits, same routes, End-of-RIB.
      speaker = await startSpeaker(true);
      await speaker.call('addPeer', { address: THEIRS, asn: MESH_AS, type: 'mesh' });
      await speaker.call('originate', { prefix: '10.99.0.0/24' });
      await speaker.waitState(THEIRS, 'Established', 20_000);
      await eventually('BIRD has the refreshed route', 10_000, () =>
        bird.routesFrom('tortie').includes('10.99.0.0/24'),
      );
      await eventually('BIRD ends the graceful restart (our End-of-RIB)', 15_000, () => {
        const s = bird.birdc('show', 'protocols', 'all', 'tortie');
        return /Established/.test(s) && !/Neighbor graceful restart active|Restart timer/.test(s);
      });
      // BIRD saw our R bit (and F for IPv4) in the new OPEN.
      assert.match(
        bird.birdc('show', 'protocols', 'all', 'tortie'),
        /Restart recovery[\s\S]*AF preserved: ipv4/,
      );
      await new Promise((r) => setTimeout(r, 700));
    } finally {
      ping.kill('SIGINT');
      await new Promise<void>((r) => ping.once('exit', () => r()));
    }
    const m = /(\d+) packets transmitted, (\d+) received/.exec(pingOut);
    assert.ok(m, `ping summary missing: ${pingOut.slice(-300)}`);
    const [sent, received] = [Number(m[1]), Number(m[2])];
    assert.ok(sent >= 20, `only ${sent} pings sent`);
    assert.equal(received, sent, `lost ${sent - received} of ${sent} pings during our restart`);
  });

  it('graceful restart of BIRD: we keep its routes (stale) until it is back and sends End-of-RIB', async () => {
    await eventually('we have BIRD\u2019s routes', 10_000, async () =>
      (await ourRoutes()).has('10.98.2.0/24'),
    );
    await bird.gracefulRestartStop();
    await eventually(
      'session down on our side',
      10_000,
      async () => (await ourPeer(THEIRS))?.state !== 'Established',
    );
    await new Promise((r) => setTimeout(r, 500));
    const during = await ourRoutes();
    assert.equal(during.get('10.98.1.0/24')?.stale, true, 'kept, marked stale');
    assert.equal(during.get('10.98.2.0/24')?.stale, true);
    assert.equal((await ourPeer(THEIRS))!.prefixesStale, 2);
    await bird.start({ recovery: true });
    await eventually('refreshed and no longer stale', 20_000, async () => {
      const r = await ourRoutes();
      const p = await ourPeer(THEIRS);
      return (
        p?.state === 'Established' &&
        p.prefixesStale === 0 &&
        r.get('10.98.1.0/24')?.stale === false
      );
    });
    await bird.stop();
  });

  it('GoBGP (eBGP): Established, routes both ways, withdrawals both ways', async () => {
    const gobgp = new GoBgp(
      lab,
      nsB,
      'gobgp',
      `
[global.config]
  as = 65002
  router-id = "${THEIRS}"
  port = 179
  local-address-list = ["${THEIRS}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${OURS}"
    peer-as = ${MESH_AS}
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 30
    keepalive-interval = 10
  [neighbors.graceful-restart.config]
    enabled = true
    restart-time = 60
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
    [neighbors.afi-safis.mp-graceful-restart.config]
      enabled = true
`,
      50151,
    );
    await gobgp.start();
    await speaker!.call('removePeer', { address: THEIRS });
    await speaker!.call('addPeer', { address: THEIRS, asn: 65002, type: 'global' });
    gobgp.gobgp('global', 'rib', 'add', '10.97.1.0/24', '-a', 'ipv4');
    await eventually(
      'Established with GoBGP',
      20_000,
      async () => (await ourPeer(THEIRS))?.state === 'Established',
    );
    await eventually(
      'GoBGP learns our route',
      10_000,
      () => gobgp.rib().get('10.99.0.0/24') === OURS,
    );
    await eventually('we learn GoBGP\u2019s route', 10_000, async () => {
      const r = (await ourRoutes()).get('10.97.1.0/24');
      return r?.nextHop === THEIRS && JSON.stringify(r.asPath) === '[65002]';
    });
    await speaker!.call('originate', { prefix: '10.99.7.0/24' });
    await eventually('GoBGP learns a new route', 10_000, () => gobgp.rib().has('10.99.7.0/24'));
    await speaker!.call('withdraw', { prefix: '10.99.7.0/24' });
    await eventually('GoBGP drops it', 10_000, () => !gobgp.rib().has('10.99.7.0/24'));
    gobgp.gobgp('global', 'rib', 'del', '10.97.1.0/24', '-a', 'ipv4');
    await eventually(
      'we drop GoBGP\u2019s route',
      10_000,
      async () => !(await ourRoutes()).has('10.97.1.0/24'),
    );
    await gobgp.stop();
  });

  it('FRR bgpd (eBGP): Established, routes both ways, withdrawals both ways', async () => {
    const frr = new Frr(
      lab,
      nsB,
      'frr',
      `
frr defaults traditional
hostname tbgp-frr
router bgp 65003
 bgp router-id ${THEIRS}
 no bgp ebgp-requires-policy
 no bgp network import-check
 timers bgp 10 30
 neighbor ${OURS} remote-as ${MESH_AS}
 neighbor ${OURS} timers connect 1
 address-family ipv4 unicast
  network 10.96.1.0/24
  network 10.96.2.0/24
 exit-address-family
`,
    );
    await frr.start();
    await speaker!.call('removePeer', { address: THEIRS });
    await speaker!.call('addPeer', { address: THEIRS, asn: 65003, type: 'global' });
    await eventually(
      'Established with FRR',
      20_000,
      async () => (await ourPeer(THEIRS))?.state === 'Established',
    );
    await eventually('FRR learns our route', 10_000, () => frr.rib().get('10.99.0.0/24') === OURS);
    await eventually('we learn FRR\u2019s routes', 10_000, async () => {
      const r = await ourRoutes();
      return r.get('10.96.1.0/24')?.nextHop === THEIRS && r.has('10.96.2.0/24');
    });
    await speaker!.call('withdraw', { prefix: '10.99.0.0/24' });
    await eventually('FRR drops our route', 10_000, () => !frr.rib().has('10.99.0.0/24'));
    frr.vtysh(
      'configure terminal\nrouter bgp 65003\naddress-family ipv4 unicast\nno network 10.96.1.0/24\nend',
    );
    await eventually(
      'we drop FRR\u2019s route',
      10_000,
      async () => !(await ourRoutes()).has('10.96.1.0/24'),
    );
    assert.ok((await ourRoutes()).has('10.96.2.0/24'));
    await frr.stop();
    await speaker!.call('stop', {});
  });
});
