import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { diffDesiredStates, emptyDesiredState } from '../calc/diff.js';
import { CalcGraph } from '../calc/graph.js';
import { block, endpoint, node, pool, state } from '../calc/test-support/states.js';
import { BatchAbortedError, BatchProcess, IP_SENTINEL } from './batch-process.js';
import { Dataplane } from './dataplane.js';
import { LinuxKernel } from './kernel.js';
import { NFT_FAMILY, NFT_TABLE, tableMatches } from './masquerade-manager.js';
import { TestNamespaces, netnsSkipReason } from './test-support/netns.js';
import { VXLAN_DEVICE } from './vxlan-manager.js';

const skip = netnsSkipReason();

describe('the long-lived ip -batch process', { skip }, () => {
  const nss = new TestNamespaces('bp');
  let ns = '';
  before(async () => {
    ns = await nss.add('a');
  });
  after(() => nss.cleanup());

  it('reports each failing line of a batch, and keeps one process across batches', async () => {
    const p = new BatchProcess({ command: ['ip', '-n', ns], sentinel: IP_SENTINEL });
    try {
      const first = await p.run([
        'route add 10.9.0.0/24 dev lo proto 80',
        'route add 10.9.0.0/24 dev lo proto 80',
        'route add 10.9.1.0/24 dev lo proto 80',
        'link set dev nosuchdev up',
      ]);
      assert.deepEqual(
        first.failures.map((f) => [f.index, f.error]),
        [
          [1, 'RTNETLINK answers: File exists'],
          [3, 'Cannot find device "nosuchdev"'],
        ],
      );
      const second = await p.run([
        'route del 10.9.0.0/24 proto 80',
        'route del 10.9.1.0/24 proto 80',
      ]);
      assert.deepEqual(second.failures, []);
      assert.deepEqual(await p.run([]), { failures: [] });
      assert.equal(p.starts, 1);
    } finally {
      await p.close();
    }
  });

  it('fails the batch when iproute2 exits on a line it cannot parse, then starts afresh', async () => {
    const p = new BatchProcess({ command: ['ip', '-n', ns], sentinel: IP_SENTINEL });
    try {
      await assert.rejects(p.run(['route add 10.9.0.0/33 dev lo']), (err: Error) => {
        assert.ok(err instanceof BatchAbortedError);
        assert.match(err.message, /any valid prefix is expected/);
        return true;
      });
      const next = await p.run([
        'route add 10.9.2.0/24 dev lo proto 80',
        'route del 10.9.2.0/24 proto 80',
      ]);
      assert.deepEqual(next.failures, []);
      assert.equal(p.starts, 2);
    } finally {
      await p.close();
    }
  });
});

describe('dataplane against a real kernel', { skip }, () => {
  const nss = new TestNamespaces('dp');
  let ns = '';
  let kernel: LinuxKernel;
  before(async () => {
    ns = await nss.add('host');
    await nss.batch(ns, [
      'link add eth0 type veth peer name eth0-peer',
      'addr add 172.31.1.11/24 dev eth0',
      'link set eth0 up',
      'link set eth0-peer up',
      'link add cali0000000001 type veth peer name w1',
      'link set cali0000000001 up',
    ]);
    kernel = new LinuxKernel({ netns: ns });
  });
  after(async () => {
    await kernel?.close();
    await nss.cleanup();
  });

  const MAC1 = '66:00:00:00:00:01';
  const MAC2 = '66:00:00:00:00:02';
  const s = state(
    'vxlan',
    pool('p1', '10.244.0.0/16', { vxlanMode: 'CrossSubnet', natOutgoing: true }),
    pool('p2', '10.245.0.0/16'),
    node('host1', '172.31.1.11/24', { tunnel: '10.244.0.2', mac: MAC1 }),
    node('host2', '172.31.1.12/24', { tunnel: '10.244.0.65', mac: MAC2 }),
    node('host3', '172.31.2.13/24', { tunnel: '10.244.0.129', mac: '66:00:00:00:00:03' }),
    block('10.244.0.0/26', 'host1', {
      0: ['k8s.a', 'host1'],
      2: ['vxlan-tunnel-addr-host1', undefined],
    }),
    block('10.244.0.64/26', 'host2', { 1: ['vxlan-tunnel-addr-host2', undefined] }),
    block('10.244.0.128/26', 'host3', { 1: ['vxlan-tunnel-addr-host3', undefined] }),
    endpoint('default', 'w1', 'host1', 'cali0000000001', ['10.244.0.0/32']),
  );

  it('programs routes, VXLAN and masquerade; a second agent over the same kernel writes nothing', async () => {
    const g = new CalcGraph({ nodeName: 'host1', kernelHasIpip: await kernel.probeIpip() });
    for (const [key, value] of s.kvs) g.onUpdate({ key, value });
    const d = g.snapshot();
    const dp = new Dataplane(kernel);
    dp.onUpdates(diffDesiredStates(emptyDesiredState('host1'), d));
    const report = await dp.apply();
    assert.deepEqual(report.failures, []);

    const routes = (await kernel.routes())
      .filter((r) => r.protocol === '80')
      .map(
        (r) => `${r.type} ${r.dst} ${r.gateway ?? '-'} ${r.dev ?? '-'}${r.onlink ? ' onlink' : ''}`,
      );
    assert.deepEqual(routes.sort(), [
      'blackhole 10.244.0.0/26 - -',
      'unicast 10.244.0.0/32 - cali0000000001',
      'unicast 10.244.0.128/26 10.244.0.129 vxlan.calico onlink',
      'unicast 10.244.0.64/26 172.31.1.12 eth0',
    ]);
    const dev = (await kernel.links()).find((l) => l.name === VXLAN_DEVICE)!;
    assert.equal(dev.mtu, 1450);
    assert.equal(dev.mac, MAC1);
    assert.deepEqual(dev.vxlan, {
      vni: 4096,
      port: 4789,
      local: '172.31.1.11',
      parent: 'eth0',
      learning: false,
    });
    assert.deepEqual(
      (await kernel.neighbours(VXLAN_DEVICE))
        .map((n) => `${n.dst} ${n.lladdr} ${n.permanent}`)
        .sort(),
      ['10.244.0.129 66:00:00:00:00:03 true', '10.244.0.65 66:00:00:00:00:02 true'],
    );
    assert.deepEqual((await kernel.fdb(VXLAN_DEVICE)).map((e) => `${e.mac} ${e.dst}`).sort(), [
      '66:00:00:00:00:02 172.31.1.12',
      '66:00:00:00:00:03 172.31.2.13',
    ]);
    const table = await kernel.nftTable(NFT_FAMILY, NFT_TABLE);
    assert.deepEqual(table?.sets['nat-pools-v4'], ['10.244.0.0/16']);
    assert.deepEqual(table?.sets['all-pools-v4'], ['10.244.0.0/16', '10.245.0.0/16']);
    assert.ok(
      tableMatches(table, d.masquerade),
      'the table read back is recognised as ours and right',
    );

    // The same desired state from scratch, as a restarted agent would: no writes at all.
    const monitor = await nss.exec(ns, ['ip', '-json', 'route', 'show', 'table', 'main']);
    const restarted = new Dataplane(new LinuxKernel({ netns: ns }));
    restarted.onUpdates(diffDesiredStates(emptyDesiredState('host1'), d));
    const again = await restarted.apply();
    await restarted.kernel.close();
    assert.deepEqual(again.failures, []);
    assert.equal(again.routesReplaced + again.routesDeleted, 0);
    assert.equal(await nss.exec(ns, ['ip', '-json', 'route', 'show', 'table', 'main']), monitor);
  });
});
