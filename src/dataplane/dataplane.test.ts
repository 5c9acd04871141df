import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffDesiredStates, emptyDesiredState } from '../calc/diff.js';
import { CalcGraph } from '../calc/graph.js';
import { block, endpoint, node, pool, state, type State } from '../calc/test-support/states.js';
import type { DesiredState } from '../calc/types.js';
import { Dataplane } from './dataplane.js';
import { masqueradeScript, tableMatches } from './masquerade-manager.js';
import { routeLine, routeMatches } from './route-table.js';
import { fakeHost, type FakeKernel } from './test-support/fake-kernel.js';
import { VXLAN_DEVICE } from './vxlan-manager.js';

const MAC1 = '66:00:00:00:00:01';
const MAC2 = '66:00:00:00:00:02';
const MAC3 = '66:00:00:00:00:03';

function desired(s: State, nodeName = 'host1'): DesiredState {
  const g = new CalcGraph({ nodeName, kernelHasIpip: false });
  for (const [key, value] of s.kvs) g.onUpdate({ key, value });
  return g.snapshot();
}

function hostKernel(): FakeKernel {
  const k = fakeHost();
  k.addRoute({ dst: '172.31.1.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link' });
  k.addLink('cali0000000001');
  k.addLink('cali0000000002');
  return k;
}

/** A dataplane brought to `d`; returns it and the messages' source state. */
function dataplaneAt(kernel: FakeKernel, d: DesiredState, opts = {}): Dataplane {
  const dp = new Dataplane(kernel, opts);
  dp.onUpdates(diffDesiredStates(emptyDesiredState(d.node), d));
  return dp;
}

const flat = state(
  'flat',
  pool('p1', '10.244.0.0/16', { natOutgoing: true }),
  node('host1', '172.31.1.11/24'),
  node('host2', '172.31.1.12/24'),
  block('10.244.0.0/26', 'host1', { 0: ['k8s.a', 'host1'], 1: ['k8s.b', 'host1'] }),
  block('10.244.0.64/26', 'host2', { 0: ['k8s.c', 'host2'] }),
  endpoint('default', 'w1', 'host1', 'cali0000000001', ['10.244.0.0/32']),
  endpoint('default', 'w2', 'host1', 'cali0000000002', ['10.244.0.1/32']),
);

const vxlan = state(
  'vxlan',
  pool('p1', '10.244.0.0/16', { vxlanMode: 'Always', natOutgoing: true }),
  node('host1', '172.31.1.11/24', { tunnel: '10.244.0.2', mac: MAC1 }),
  node('host2', '172.31.1.12/24', { tunnel: '10.244.0.65', mac: MAC2 }),
  node('host3', '172.31.2.13/24', { tunnel: '10.244.0.129', mac: MAC3 }),
  block('10.244.0.0/26', 'host1', {
    0: ['k8s.a', 'host1'],
    2: ['vxlan-tunnel-addr-host1', undefined],
  }),
  block('10.244.0.64/26', 'host2', { 1: ['vxlan-tunnel-addr-host2', undefined] }),
  block('10.244.0.128/26', 'host3', { 1: ['vxlan-tunnel-addr-host3', undefined] }),
  endpoint('default', 'w1', 'host1', 'cali0000000001', ['10.244.0.0/32']),
);

describe('route table lines', () => {
  it('renders and recognises each kind of route', () => {
    const specs = [
      { dst: '10.244.0.0/26', type: 'blackhole' as const },
      { dst: '10.244.0.7/32', type: 'unicast' as const, dev: 'cali1', scopeLink: true },
      { dst: '10.244.0.64/26', type: 'unicast' as const, gateway: '172.31.1.12' },
      {
        dst: '10.244.0.128/26',
        type: 'unicast' as const,
        gateway: '10.244.0.129',
        dev: VXLAN_DEVICE,
        onlink: true,
      },
    ];
    assert.deepEqual(specs.map(routeLine), [
      'route replace blackhole 10.244.0.0/26 proto 80',
      'route replace 10.244.0.7/32 dev cali1 scope link proto 80',
      'route replace 10.244.0.64/26 via 172.31.1.12 proto 80',
      'route replace 10.244.0.128/26 via 10.244.0.129 dev vxlan.calico onlink proto 80',
    ]);
    const k = {
      dst: '10.244.0.64/26',
      type: 'unicast',
      gateway: '172.31.1.12',
      dev: 'eth0',
      protocol: '80',
      scope: undefined,
      onlink: false,
    };
    assert.ok(
      routeMatches(specs[2]!, k),
      'a gateway route matches whatever device the kernel picked',
    );
    assert.ok(!routeMatches(specs[2]!, { ...k, protocol: 'boot' }));
    assert.ok(
      !routeMatches(specs[3]!, {
        ...k,
        dst: '10.244.0.128/26',
        gateway: '10.244.0.129',
        dev: VXLAN_DEVICE,
      }),
      'onlink matters',
    );
  });
});

describe('dataplane: converging the kernel', () => {
  it('programs a flat host, then writes nothing when nothing changed, even after a restart', async () => {
    const kernel = hostKernel();
    const d = desired(flat);
    const dp = dataplaneAt(kernel, d);
    const report = await dp.apply();
    assert.deepEqual(report.failures, []);
    assert.deepEqual(kernel.ourRoutes(), [
      '10.244.0.0/32 dev cali0000000001 scope link',
      '10.244.0.1/32 dev cali0000000002 scope link',
      '10.244.0.64/26 via 172.31.1.12 dev eth0',
      'blackhole 10.244.0.0/26',
    ]);
    assert.ok(kernel.nftState, 'masquerade table written');
    const written = kernel.log.length;

    assert.equal(dp.dirty, false);
    await dp.apply();
    dp.resync();
    await dp.apply();
    assert.equal(kernel.log.length, written, 'a resync over a correct kernel writes nothing');

    const restarted = dataplaneAt(kernel, d);
    await restarted.apply();
    assert.deepEqual(
      kernel.log.slice(written),
      [],
      'a restarted agent changes nothing that was right',
    );
  });

  it('changes only what differs, never deleting and re-adding a route', async () => {
    const kernel = hostKernel();
    kernel.addRoute({ dst: '10.244.0.0/32', dev: 'cali0000000001', scope: 'link' });
    kernel.addRoute({ dst: '10.244.0.64/26', gateway: '172.31.1.99', dev: 'eth0' });
    kernel.addRoute({ dst: '10.244.7.0/26', type: 'blackhole' });
    kernel.addRoute({ dst: '10.99.0.0/16', gateway: '172.31.1.1', dev: 'eth0', protocol: 'boot' });
    const dp = dataplaneAt(kernel, desired(flat));
    await dp.apply();
    const routeLines = kernel.log.filter((l) => l.startsWith('route'));
    assert.deepEqual(routeLines.sort(), [
      'route del 10.244.7.0/26 proto 80',
      'route replace 10.244.0.1/32 dev cali0000000002 scope link proto 80',
      'route replace 10.244.0.64/26 via 172.31.1.12 proto 80',
      'route replace blackhole 10.244.0.0/26 proto 80',
    ]);
    assert.ok(kernel.routesByDst.has('10.99.0.0/16'), 'routes of other protocols are not ours');
  });

  it('leaves a route of another protocol alone and reports the conflict', async () => {
    const kernel = hostKernel();
    kernel.addRoute({
      dst: '10.244.0.64/26',
      gateway: '172.31.1.1',
      dev: 'eth0',
      protocol: 'static',
    });
    const dp = dataplaneAt(kernel, desired(flat));
    const report = await dp.apply();
    assert.equal(kernel.routesByDst.get('10.244.0.64/26')!.protocol, 'static');
    assert.equal(report.failures.length, 1);
    assert.match(report.failures[0]!, /protocol static is in the way/);
  });

  it('waits for a workload interface, and keeps a stray workload route for a grace period', async () => {
    const kernel = hostKernel();
    kernel.linksByName.delete('cali0000000002');
    kernel.addLink('cali00000000ff');
    kernel.addRoute({ dst: '10.244.0.9/32', dev: 'cali00000000ff', scope: 'link' });
    let now = 0;
    const dp = dataplaneAt(kernel, desired(flat), {
      routeTable: { graceMs: 10_000, now: () => now },
    });
    const first = await dp.apply();
    assert.equal(
      first.routesPending,
      2,
      'one route waits for its device, one stray is in its grace period',
    );
    assert.ok(!kernel.routesByDst.has('10.244.0.1/32'));
    assert.ok(kernel.routesByDst.has('10.244.0.9/32'));
    assert.equal(dp.dirty, true);

    kernel.addLink('cali0000000002');
    now = 11_000;
    const second = await dp.apply();
    assert.deepEqual(second.failures, []);
    assert.ok(kernel.routesByDst.has('10.244.0.1/32'), 'programmed once the interface exists');
    assert.ok(
      !kernel.routesByDst.has('10.244.0.9/32'),
      'the stray route went after the grace period',
    );
    assert.equal(dp.dirty, false);
  });

  it('puts a route deleted by hand back on resync', async () => {
    const kernel = hostKernel();
    const dp = dataplaneAt(kernel, desired(flat));
    await dp.apply();
    kernel.routesByDst.delete('10.244.0.64/26');
    await dp.apply();
    assert.ok(!kernel.routesByDst.has('10.244.0.64/26'), 'without a resync the cache is trusted');
    dp.resync();
    const report = await dp.apply();
    assert.equal(report.routesReplaced, 1);
    assert.ok(kernel.routesByDst.has('10.244.0.64/26'));
  });

  it('reports failing lines and retries them on the next apply', async () => {
    const kernel = hostKernel();
    kernel.failing = /10\.244\.0\.64/;
    const dp = dataplaneAt(kernel, desired(flat));
    const report = await dp.apply();
    assert.equal(report.failures.length, 1);
    assert.match(
      report.failures[0]!,
      /routes: route 10.244.0.64\/26: RTNETLINK answers: Invalid argument/,
    );
    assert.equal(kernel.ourRoutes().length, 3, 'the other routes went in');
    assert.equal(dp.dirty, true);
    kernel.failing = undefined;
    const again = await dp.apply();
    assert.deepEqual(again.failures, []);
    assert.equal(kernel.ourRoutes().length, 4);
  });

  it("repairs a workload interface's sysctls", async () => {
    const kernel = hostKernel();
    kernel.sysctls.set('net.ipv4.conf.cali0000000001.proxy_arp', '0');
    kernel.sysctls.set('net.ipv4.conf.cali0000000001.forwarding', '1');
    const dp = dataplaneAt(kernel, desired(flat));
    await dp.apply();
    assert.equal(kernel.sysctls.get('net.ipv4.conf.cali0000000001.proxy_arp'), '1');
    assert.ok(
      !kernel.log.includes('sysctl net.ipv4.conf.cali0000000001.forwarding=1'),
      'right values are not rewritten',
    );
  });
});

describe('dataplane: VXLAN', () => {
  it('makes the device and the VTEP neighbours before the routes through them', async () => {
    const kernel = hostKernel();
    const dp = dataplaneAt(kernel, desired(vxlan));
    const report = await dp.apply();
    assert.deepEqual(report.failures, []);
    const dev = kernel.linksByName.get(VXLAN_DEVICE)!;
    assert.deepEqual(
      { mac: dev.mac, mtu: dev.mtu, up: dev.up, vxlan: dev.vxlan },
      {
        mac: MAC1,
        mtu: 1450,
        up: true,
        vxlan: { vni: 4096, port: 4789, local: '172.31.1.11', parent: 'eth0', learning: false },
      },
    );
    assert.deepEqual(
      kernel.addrs
        .filter((a) => a.dev === VXLAN_DEVICE)
        .map((a) => `${a.address}/${a.prefixLength}`),
      ['10.244.0.2/32'],
    );
    assert.deepEqual(kernel.ourRoutes(), [
      '10.244.0.0/32 dev cali0000000001 scope link',
      '10.244.0.128/26 via 10.244.0.129 dev vxlan.calico onlink',
      '10.244.0.64/26 via 10.244.0.65 dev vxlan.calico onlink',
      'blackhole 10.244.0.0/26',
    ]);
    assert.deepEqual(
      [...kernel.neigh.get(VXLAN_DEVICE)!.values()]
        .map((n) => `${n.dst} ${n.lladdr} ${n.permanent}`)
        .sort(),
      [`10.244.0.129 ${MAC3} true`, `10.244.0.65 ${MAC2} true`],
    );
    assert.deepEqual(
      kernel.fdbs
        .get(VXLAN_DEVICE)!
        .map((e) => `${e.mac} ${e.dst}`)
        .sort(),
      [`${MAC2} 172.31.1.12`, `${MAC3} 172.31.2.13`],
    );
    const order = (re: RegExp) => kernel.log.findIndex((l) => re.test(l));
    assert.ok(order(/^link add name vxlan.calico/) < order(/^neigh replace 10.244.0.65/));
    assert.ok(order(/^neigh replace 10.244.0.65/) < order(/^route replace 10.244.0.64\/26/));

    const written = kernel.log.length;
    dp.resync();
    await dp.apply();
    assert.deepEqual(kernel.log.slice(written), [], 'nothing rewritten on resync');
  });

  it("removes a departed peer's neighbour only after its routes, and the device when VXLAN goes", async () => {
    const kernel = hostKernel();
    const before = desired(vxlan);
    const dp = dataplaneAt(kernel, before);
    await dp.apply();
    const noHost3 = state(
      'host3 gone',
      [...vxlan.kvs].filter(([k]) => !k.endsWith('/nodes/host3') && !k.endsWith('10.244.0.128-26')),
    );
    const after = desired(noHost3);
    const mark = kernel.log.length;
    dp.onUpdates(diffDesiredStates(before, after));
    await dp.apply();
    const tail = kernel.log.slice(mark);
    assert.ok(
      tail.indexOf('route del 10.244.0.128/26 proto 80') <
        tail.indexOf(`neigh del 10.244.0.129 dev ${VXLAN_DEVICE}`),
    );
    assert.ok(tail.includes(`fdb del ${MAC3} dev ${VXLAN_DEVICE} dst 172.31.2.13 self`));

    const flatAgain = desired(flat);
    const mark2 = kernel.log.length;
    dp.onUpdates(diffDesiredStates(after, flatAgain));
    await dp.apply();
    const tail2 = kernel.log.slice(mark2);
    assert.ok(
      tail2.indexOf('route replace 10.244.0.64/26 via 172.31.1.12 proto 80') <
        tail2.indexOf(`link del dev ${VXLAN_DEVICE}`),
    );
    assert.ok(!kernel.linksByName.has(VXLAN_DEVICE));
  });

  it('recreates an incompatible device and changes the MTU in place', async () => {
    const kernel = hostKernel();
    kernel.addLink(VXLAN_DEVICE, {
      kind: 'vxlan',
      mac: MAC1,
      mtu: 1450,
      vxlan: { vni: 1, port: 4789, local: '172.31.1.11', parent: 'eth0', learning: false },
    });
    const dp = dataplaneAt(kernel, desired(vxlan));
    await dp.apply();
    assert.ok(kernel.log.includes(`link del dev ${VXLAN_DEVICE}`));
    assert.equal(kernel.linksByName.get(VXLAN_DEVICE)!.vxlan!.vni, 4096);

    kernel.linksByName.get(VXLAN_DEVICE)!.mtu = 1400;
    const mark = kernel.log.length;
    dp.resync();
    await dp.apply();
    assert.deepEqual(kernel.log.slice(mark), [`link set dev ${VXLAN_DEVICE} mtu 1450`]);
  });
});

describe('dataplane: masquerade', () => {
  it('writes the table once, and again only when it drifted', async () => {
    const kernel = hostKernel();
    const dp = dataplaneAt(kernel, desired(flat));
    await dp.apply();
    assert.deepEqual(kernel.nftState!.sets['nat-pools-v4'], ['10.244.0.0/16']);
    const nftWrites = () => kernel.log.filter((l) => l.startsWith('nft:')).length;
    assert.equal(nftWrites(), 1);
    dp.resync();
    await dp.apply();
    assert.equal(nftWrites(), 1);
    kernel.nftState = undefined;
    dp.resync();
    await dp.apply();
    assert.equal(nftWrites(), 2);
  });

  it('renders sets and the one rule; an empty set has no elements clause', () => {
    const script = masqueradeScript({
      allPoolsV4: ['10.244.0.0/16', '10.245.0.0/16'],
      natPoolsV4: ['10.244.0.0/16'],
      allPoolsV6: [],
      natPoolsV6: [],
    });
    assert.match(
      script,
      /set all-pools-v4 \{ type ipv4_addr; flags interval; elements = \{ 10.244.0.0\/16, 10.245.0.0\/16 \}; \}/,
    );
    assert.match(script, /set nat-pools-v6 \{ type ipv6_addr; flags interval; \}/);
    assert.match(script, /ip saddr @nat-pools-v4 ip daddr != @all-pools-v4 masquerade/);
    assert.doesNotMatch(
      script,
      /notrack/,
      'connection tracking is left alone (stateful policy relies on it)',
    );
    assert.ok(
      script.startsWith('table inet tortie\ndelete table inet tortie\n'),
      'replaces the table in one transaction',
    );
    assert.equal(
      tableMatches(undefined, {
        allPoolsV4: [],
        natPoolsV4: [],
        allPoolsV6: [],
        natPoolsV6: [],
      }),
      false,
    );
  });
});
