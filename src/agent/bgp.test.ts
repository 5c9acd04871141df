// The agent's BGP edge against a real speaker on loopback: learned routes
// reach the route table (next hops resolved, encapsulated pools and the
// calculation's own destinations left alone), withdrawals remove them, our
// prefixes reach the peer, and a graceful restart keeps the kernel's
// learned routes until the peer has re-sent them.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { BgpSpeaker } from '../bgp/speaker.js';
import { emptyDesiredState } from '../calc/diff.js';
import type { BgpPeerWanted, DesiredRoute, DesiredState } from '../calc/types.js';
import { RouteTable } from '../dataplane/route-table.js';
import { FakeKernel } from '../dataplane/test-support/fake-kernel.js';
import { BgpAgent, looksLearned } from './bgp.js';

const quiet = pino({ level: 'silent' });
const ME = '127.0.4.1';
const PEER = '127.0.4.2';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function peerSpeaker(): Promise<{ s: BgpSpeaker; port: number }> {
  const s = new BgpSpeaker();
  cleanups.push(() => s.stop());
  await s.start({
    routerId: PEER,
    asn: 64512,
    listen: { host: PEER, port: 0 },
    connectRetryTime: 1,
    idleHoldTime: 0.05,
    gracefulRestart: { enabled: true, restartTime: 30 },
  });
  s.addPeer({ address: ME, asn: 64512, type: 'mesh', passive: true, localAddress: PEER });
  return { s, port: s.status().listening!.port };
}

function desiredWith(port: number, extra: Partial<DesiredState['bgp']> = {}): DesiredState {
  const d = emptyDesiredState('host1');
  const peer: BgpPeerWanted = {
    address: PEER,
    port,
    asn: 64512,
    type: 'mesh',
    source: 'node-to-node mesh',
    node: 'host2',
    passive: false,
    routeReflectorClient: false,
    keepOriginalNextHop: false,
    nextHopSelf: false,
    useNodeIp: true,
    maxRestartSeconds: undefined,
    password: undefined,
  };
  return {
    ...d,
    hostAddress: `${ME}/24`,
    bgp: {
      enabled: true,
      asn: 64512,
      routerId: ME,
      listen: { host: ME, port: 0 },
      clusterId: undefined,
      peers: [peer],
      originate: ['10.244.0.0/26'],
      noProgram: ['10.250.0.0/16'],
      ...extra,
    },
  };
}

function agent(resolved: Map<string, string>): BgpAgent {
  const a = new BgpAgent({
    log: quiet,
    onChange: () => undefined,
    resolveNextHop: async (nh) => resolved.get(nh),
    connectRetrySeconds: 1,
  });
  cleanups.push(() => a.stop());
  return a;
}

/** Applies until `check` holds. */
async function until(
  a: BgpAgent,
  table: RouteTable,
  calc: DesiredRoute[],
  what: string,
  check: () => boolean,
  ms = 8000,
): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (a.dirty) await a.apply(table, calc);
    if (check()) return;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function routes(table: RouteTable): string[] {
  return table
    .desiredRoutes()
    .map((r) => `${r.dst} ${r.type === 'blackhole' ? 'blackhole' : `via ${r.gateway}`}`)
    .sort();
}

describe('agent BGP edge', () => {
  it('programs learned routes, leaves encapsulated pools and the calculation alone, removes withdrawals, and keeps routes over a graceful restart', async () => {
    const x = await peerSpeaker();
    x.s.originate('10.244.1.0/26'); // next hop: the peer, on our subnet
    x.s.originate('10.244.2.0/26', { nextHop: '10.9.9.9' }); // resolved recursively
    x.s.originate('10.250.0.0/26'); // a VXLAN pool's block: the calculation's
    x.s.originate('10.244.3.0/26'); // the calculation routes it too: its route wins
    const kernel = new FakeKernel();
    const table = new RouteTable(kernel);
    const calc: DesiredRoute[] = [
      { dst: '10.244.3.0/26', target: { kind: 'blackhole' }, source: 'local-block' },
    ];
    table.set({ dst: '10.244.3.0/26', type: 'blackhole' });

    const a = agent(new Map([['10.9.9.9', '127.0.4.254']]));
    a.retain([]);
    a.setDesired(desiredWith(x.port));
    await until(a, table, calc, 'learned routes in the table', () => routes(table).length === 3);
    assert.deepEqual(routes(table), [
      '10.244.1.0/26 via 127.0.4.2',
      '10.244.2.0/26 via 127.0.4.254',
      '10.244.3.0/26 blackhole',
    ]);
    const st = a.status();
    assert.equal(st.peers[0]!.state, 'Established');
    assert.equal(st.peers[0]!.type, 'mesh');
    assert.deepEqual(
      st.learned.filter((l) => l.skipped !== undefined).map((l) => l.prefix),
      ['10.244.3.0/26', '10.250.0.0/26'],
    );
    // Our block reaches the peer.
    await until(a, table, calc, 'our block at the peer', () => !!x.s.route('10.244.0.0/26'));
    assert.equal(x.s.route('10.244.0.0/26')!.nextHop, ME);

    // A withdrawal removes the route.
    x.s.withdraw('10.244.2.0/26');
    await until(a, table, calc, 'withdrawal', () => routes(table).length === 2);

    // Not originated any more: withdrawn from the peer.
    a.setDesired(desiredWith(x.port, { originate: ['10.244.0.64/26'] }));
    await until(a, table, calc, 'new origination', () => !!x.s.route('10.244.0.64/26'));
    assert.equal(x.s.route('10.244.0.0/26'), undefined);

    // Graceful restart: stop without NOTIFICATION, the peer keeps our route.
    await a.stop();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(x.s.route('10.244.0.64/26')?.stale, true, 'the peer keeps our route, stale');
    // The restarted agent finds its routes in the kernel and keeps them until
    // the peer has re-sent its own; the one it does not re-send goes.
    kernel.addRoute({ dst: '10.244.1.0/26', gateway: PEER, dev: 'eth0', protocol: '80' });
    kernel.addRoute({ dst: '10.244.9.0/26', gateway: PEER, dev: 'eth0', protocol: '80' });
    kernel.addRoute({ dst: '10.244.0.7/32', dev: 'cali0000000001', protocol: '80', scope: 'link' });
    const retainedTable = new RouteTable(kernel);
    const b = agent(new Map());
    b.setDesired(desiredWith(x.port, { originate: ['10.244.0.64/26'] }));
    b.retain(await kernel.routes());
    await b.apply(retainedTable, []);
    assert.equal(b.status().restarting, true);
    assert.deepEqual(routes(retainedTable), [
      '10.244.1.0/26 via 127.0.4.2',
      '10.244.9.0/26 via 127.0.4.2',
    ]);
    await until(b, retainedTable, [], 'restart complete', () => !b.status().restarting);
    assert.deepEqual(
      routes(retainedTable).filter((r) => r.startsWith('10.244.1.') || r.startsWith('10.244.9.')),
      ['10.244.1.0/26 via 127.0.4.2'],
    );
    await until(
      b,
      retainedTable,
      [],
      'our route refreshed at the peer',
      () => x.s.route('10.244.0.64/26')?.stale === false,
    );
  });

  it('a password is a clear error on that peer; BGP off stops the speaker and its routes go', async () => {
    const x = await peerSpeaker();
    x.s.originate('10.244.5.0/26');
    const table = new RouteTable(new FakeKernel());
    const a = agent(new Map());
    a.retain([]);
    const d = desiredWith(x.port);
    const withPassword = {
      ...d,
      bgp: {
        ...d.bgp,
        peers: [
          ...d.bgp.peers,
          { ...d.bgp.peers[0]!, address: '127.0.4.3', password: 'bgp/pw', source: 'BGPPeer tor' },
        ],
      },
    };
    a.setDesired(withPassword);
    await until(a, table, [], 'learned', () => routes(table).length === 1);
    const tor = a.status().peers.find((p) => p.address === '127.0.4.3')!;
    assert.equal(tor.state, 'Idle');
    assert.match(tor.info, /MD5/);
    assert.ok(a.status().errors.some((e) => e.includes('127.0.4.3')));
    a.setDesired(emptyDesiredState('host1'));
    await a.apply(table, []);
    assert.deepEqual(routes(table), []);
    assert.equal(a.status().running, false);
  });

  it('switching BGP on keeps the routes programmed directly until the peers have sent theirs', async () => {
    const x = await peerSpeaker();
    x.s.originate('10.244.1.0/26');
    const table = new RouteTable(new FakeKernel());
    const a = agent(new Map());
    const off = { ...emptyDesiredState('host1'), hostAddress: `${ME}/24` };
    a.setDesired(off);
    a.retain([]);
    await a.apply(table, []);
    const direct = (dst: string): DesiredRoute => ({
      dst,
      target: { kind: 'underlay', gateway: PEER, node: 'host2' },
      source: 'remote-block',
    });
    const before = { ...off, routes: [direct('10.244.1.0/26'), direct('10.244.7.0/26')] };
    // The calculation's diff has just removed its direct routes from the table.
    a.setDesired(desiredWith(x.port), before);
    await a.apply(table, []);
    assert.deepEqual(routes(table), ['10.244.1.0/26 via 127.0.4.2', '10.244.7.0/26 via 127.0.4.2']);
    assert.equal(a.status().restarting, true);
    await until(a, table, [], 'BGP synced', () => !a.status().restarting);
    assert.deepEqual(routes(table), ['10.244.1.0/26 via 127.0.4.2']);
  });

  it('recognises learned-looking kernel routes', () => {
    const base = { type: 'unicast', dev: 'eth0', protocol: '80', scope: undefined, onlink: false };
    assert.equal(looksLearned({ ...base, dst: '10.244.1.0/26', gateway: '172.31.1.12' }), true);
    assert.equal(looksLearned({ ...base, dst: '10.244.1.0/26', gateway: undefined }), false);
    assert.equal(
      looksLearned({ ...base, dst: '10.244.1.0/26', gateway: '10.0.0.1', dev: 'vxlan.calico' }),
      false,
    );
    assert.equal(
      looksLearned({ ...base, dst: '10.244.1.0/26', gateway: '172.31.1.1', protocol: 'boot' }),
      false,
    );
  });
});
