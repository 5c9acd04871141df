import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_IFNAME } from './naming.js';
import { parseLabels, planLab, vxlanModeFor } from './plan.js';

describe('lab address plan', () => {
  it('flat: one segment whose bridge is the gateway, hosts at .11, .12, …', () => {
    const plan = planLab({ name: 'demo', hosts: 3, workloads: 2, topology: 'flat', encap: 'none' });
    assert.deepEqual(plan.segments, [
      {
        segment: 1,
        netns: 'tl-demo-ul',
        bridge: 'br1',
        cidr: '172.31.1.0/24',
        prefixLength: 24,
        gateway: '172.31.1.1',
      },
    ]);
    assert.equal(plan.router, undefined);
    assert.deepEqual(
      plan.hosts.map((h) => [h.name, h.netns, h.address, h.segment, h.gateway, h.port]),
      [
        ['host1', 'tl-demo-host1', '172.31.1.11', 1, '172.31.1.1', 'host1'],
        ['host2', 'tl-demo-host2', '172.31.1.12', 1, '172.31.1.1', 'host2'],
        ['host3', 'tl-demo-host3', '172.31.1.13', 1, '172.31.1.1', 'host3'],
      ],
    );
    assert.deepEqual(
      plan.workloads.map((w) => `${w.host}/${w.name}/${w.namespace}/${w.labels['app']}`),
      [
        'host1/host1-w1/default/w1',
        'host1/host1-w2/default/w2',
        'host2/host2-w1/default/w1',
        'host2/host2-w2/default/w2',
        'host3/host3-w1/default/w1',
        'host3/host3-w2/default/w2',
      ],
    );
    assert.deepEqual(plan.pool, {
      name: 'lab-ipv4-pool',
      cidr: '10.244.0.0/16',
      blockSize: 26,
      vxlanMode: 'Never',
    });
    assert.equal(plan.mtu, 1500);
  });

  it('two-subnets: the first half of the hosts on segment 1, the rest on 2, a router with .1 on each', () => {
    const plan = planLab({
      name: 'ts',
      hosts: 5,
      workloads: 0,
      topology: 'two-subnets',
      encap: 'crosssubnet',
    });
    assert.deepEqual(
      plan.segments.map((s) => [s.segment, s.cidr, s.bridge, s.gateway]),
      [
        [1, '172.31.1.0/24', 'br1', '172.31.1.1'],
        [2, '172.31.2.0/24', 'br2', '172.31.2.1'],
      ],
    );
    assert.deepEqual(plan.router, {
      netns: 'tl-ts-rtr',
      legs: [
        { segment: 1, iface: 'eth1', port: 'rtr1', address: '172.31.1.1' },
        { segment: 2, iface: 'eth2', port: 'rtr2', address: '172.31.2.1' },
      ],
    });
    assert.deepEqual(
      plan.hosts.map((h) => `${h.name}@${h.address} via ${h.gateway}`),
      [
        'host1@172.31.1.11 via 172.31.1.1',
        'host2@172.31.1.12 via 172.31.1.1',
        'host3@172.31.1.13 via 172.31.1.1',
        'host4@172.31.2.14 via 172.31.2.1',
        'host5@172.31.2.15 via 172.31.2.1',
      ],
    );
    assert.equal(plan.pool.vxlanMode, 'CrossSubnet');
    assert.equal(plan.mtu, 1450);
    assert.deepEqual(plan.workloads, []);
  });

  it('two hosts in two-subnets sit on different segments', () => {
    const plan = planLab({
      name: 'ts',
      hosts: 2,
      workloads: 1,
      topology: 'two-subnets',
      encap: 'none',
    });
    assert.deepEqual(
      plan.hosts.map((h) => h.segment),
      [1, 2],
    );
  });

  it('keeps every interface name within 15 characters, even at the limits', () => {
    const plan = planLab({
      name: 'abcdefghijkl',
      hosts: 50,
      workloads: 0,
      topology: 'two-subnets',
      encap: 'vxlan',
    });
    const names = [
      ...plan.segments.map((s) => s.bridge),
      ...plan.hosts.map((h) => h.port),
      ...(plan.router?.legs.flatMap((l) => [l.iface, l.port]) ?? []),
    ];
    for (const n of names) assert.ok(n.length <= MAX_IFNAME, n);
    assert.equal(new Set(plan.hosts.map((h) => h.address)).size, 50);
  });

  it('maps --encap to the pool vxlanMode', () => {
    assert.equal(vxlanModeFor('none'), 'Never');
    assert.equal(vxlanModeFor('vxlan'), 'Always');
    assert.equal(vxlanModeFor('crosssubnet'), 'CrossSubnet');
  });

  it('refuses bad counts, topologies and encapsulations with the flag named', () => {
    const base = { name: 'demo', hosts: 2, workloads: 2, topology: 'flat', encap: 'none' } as const;
    assert.throws(
      () => planLab({ ...base, hosts: 0 }),
      /--hosts must be a whole number from 1 to 50/,
    );
    assert.throws(() => planLab({ ...base, hosts: 51 }), /--hosts/);
    assert.throws(() => planLab({ ...base, workloads: -1 }), /--workloads/);
    assert.throws(() => planLab({ ...base, workloads: 1.5 }), /--workloads/);
    assert.throws(
      () => planLab({ ...base, topology: 'mesh' as 'flat' }),
      /unknown topology "mesh"/,
    );
    assert.throws(
      () => planLab({ ...base, encap: 'ipip' as 'none' }),
      /unknown encapsulation "ipip"/,
    );
    assert.throws(() => planLab({ ...base, name: 'Bad' }), /invalid lab name/);
  });

  it('parses --labels k=v,k2=v2', () => {
    assert.deepEqual(parseLabels(undefined), {});
    assert.deepEqual(parseLabels(''), {});
    assert.deepEqual(parseLabels('app=web, tier=front,example.com/team=net,empty='), {
      app: 'web',
      tier: 'front',
      'example.com/team': 'net',
      empty: '',
    });
    assert.throws(() => parseLabels('app'), /invalid label "app"/);
    assert.throws(() => parseLabels('app=a b'), /invalid label/);
    assert.throws(() => parseLabels('=x'), /invalid label/);
  });
});
