import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffDesiredStates, emptyDesiredState, type DataplaneMessage } from './diff.js';
import { CalcGraph } from './graph.js';
import {
  EMPTY,
  FLUSH_STRATEGIES,
  block,
  deltas,
  endpoint,
  expansions,
  felixConfig,
  node,
  pool,
  raw,
  state,
  withoutKeys,
  type State,
} from './test-support/states.js';
import type { DesiredRoute, DesiredState } from './types.js';

const ME = 'host1';
const MAC1 = '66:00:00:00:00:01';
const MAC2 = '66:00:00:00:00:02';
const MAC3 = '66:00:00:00:00:03';

function graph(): CalcGraph {
  return new CalcGraph({ nodeName: ME, kernelHasIpip: false });
}

/** The desired state of a datastore holding exactly `s`, fed in sorted key order to a fresh graph. */
function reference(s: State): DesiredState {
  const g = graph();
  for (const key of [...s.kvs.keys()].sort()) g.onUpdate({ key, value: s.kvs.get(key) });
  return g.snapshot();
}

function routeText(r: DesiredRoute): string {
  const t = r.target;
  switch (t.kind) {
    case 'workload':
      return `${r.dst} dev ${t.iface}`;
    case 'blackhole':
      return `blackhole ${r.dst}`;
    case 'underlay':
      return `${r.dst} via ${t.gateway}`;
    case 'vxlan':
      return `${r.dst} via ${t.gateway} vxlan`;
    case 'vxlan-direct':
      return `${r.dst} vxlan-direct ${t.node}`;
  }
}

function routes(s: State): string[] {
  return reference(s).routes.map(routeText);
}

// --- States ---------------------------------------------------------------

const twoHostsFlat = state(
  'two hosts, flat, no encapsulation',
  pool('p1', '10.244.0.0/16', { natOutgoing: true }),
  node('host1', '172.31.1.11/24'),
  node('host2', '172.31.1.12/24'),
  block('10.244.0.0/26', 'host1', { 0: ['k8s.c1', 'host1'], 1: ['k8s.c2', 'host1'] }),
  block('10.244.0.64/26', 'host2', { 0: ['k8s.c3', 'host2'] }),
  endpoint('default', 'w1', 'host1', 'cali0000000001', ['10.244.0.0/32']),
  endpoint('default', 'w2', 'host1', 'cali0000000002', ['10.244.0.1/32']),
  endpoint('default', 'w3', 'host2', 'cali0000000003', ['10.244.0.64/32']),
);

const twoHostsVxlan = state(
  'two hosts, vxlanMode Always',
  pool('p1', '10.244.0.0/16', { vxlanMode: 'Always', natOutgoing: true }),
  node('host1', '172.31.1.11/24', { tunnel: '10.244.0.2', mac: MAC1 }),
  node('host2', '172.31.1.12/24', { tunnel: '10.244.0.65', mac: MAC2 }),
  block('10.244.0.0/26', 'host1', {
    0: ['k8s.c1', 'host1'],
    2: ['vxlan-tunnel-addr-host1', undefined],
  }),
  block('10.244.0.64/26', 'host2', {
    0: ['k8s.c3', 'host2'],
    1: ['vxlan-tunnel-addr-host2', undefined],
  }),
  endpoint('default', 'w1', 'host1', 'cali0000000001', ['10.244.0.0/32']),
);

const threeHostsCrossSubnet = state(
  'three hosts, two subnets, vxlanMode CrossSubnet',
  pool('p1', '10.244.0.0/16', { vxlanMode: 'CrossSubnet' }),
  node('host1', '172.31.1.11/24', { tunnel: '10.244.0.2', mac: MAC1 }),
  node('host2', '172.31.1.12/24', { tunnel: '10.244.0.65', mac: MAC2 }),
  node('host3', '172.31.2.13/24', { tunnel: '10.244.0.129', mac: MAC3 }),
  block('10.244.0.0/26', 'host1', { 2: ['vxlan-tunnel-addr-host1', undefined] }),
  block('10.244.0.64/26', 'host2', { 1: ['vxlan-tunnel-addr-host2', undefined] }),
  block('10.244.0.128/26', 'host3', {
    0: ['k8s.c9', 'host3'],
    1: ['vxlan-tunnel-addr-host3', undefined],
  }),
);

const borrowed = state(
  'borrowed addresses',
  pool('p1', '10.244.0.0/16'),
  node('host1', '172.31.1.11/24'),
  node('host2', '172.31.1.12/24'),
  node('host3', '172.31.1.13/24'),
  // host2's block: one address used by host3, one by this host.
  block('10.244.0.64/26', 'host2', {
    0: ['k8s.a', 'host2'],
    5: ['k8s.b', 'host3'],
    6: ['k8s.c', 'host1'],
  }),
  // this host's block: one address borrowed by host2.
  block('10.244.0.0/26', 'host1', { 3: ['k8s.d', 'host2'] }),
  endpoint('default', 'local-borrower', 'host1', 'cali00000000c', ['10.244.0.70/32']),
);

const borrowedTunnel = state(
  "a tunnel address outside its host's blocks",
  pool('p1', '10.244.0.0/16', { vxlanMode: 'Always' }),
  node('host1', '172.31.1.11/24', { tunnel: '10.244.0.2', mac: MAC1 }),
  node('host2', '172.31.1.12/24', { tunnel: '10.244.0.130', mac: MAC2 }),
  node('host3', '172.31.1.13/24', { tunnel: '10.244.0.129', mac: MAC3 }),
  block('10.244.0.0/26', 'host1', { 2: ['vxlan-tunnel-addr-host1', undefined] }),
  block('10.244.0.128/26', 'host3', {
    1: ['vxlan-tunnel-addr-host3', undefined],
    2: ['vxlan-tunnel-addr-host2', undefined],
  }),
);

const ipipPool = state(
  'an ipipMode pool',
  pool('ipip', '10.250.0.0/16', { ipipMode: 'Always' }),
  node('host1', '172.31.1.11/24'),
  node('host2', '172.31.1.12/24'),
  block('10.250.0.0/26', 'host1', { 0: ['k8s.x', 'host1'] }),
  block('10.250.0.64/26', 'host2', { 0: ['k8s.y', 'host2'] }),
);

const natAndPlainPools = state(
  'a natOutgoing pool and a plain one',
  pool('nat', '10.244.0.0/16', { natOutgoing: true }),
  pool('plain', '10.245.0.0/16'),
  pool('old', '10.246.0.0/16', { natOutgoing: true, disabled: true }),
  node('host1', '172.31.1.11/24'),
);

const badValues = state(
  'values that do not decode',
  [...twoHostsFlat.kvs],
  raw('/calico/resources/v3/projectcalico.org/ippools/broken', '{"spec":{"cidr":"not-a-cidr"}}'),
  raw('/calico/ipam/v2/assignment/ipv4/block/10.244.9.0-26', 'garbage'),
  raw('/calico/resources/v3/projectcalico.org/unrelated/thing', 'whatever'),
);

const vxlanConfigured = state(
  'FelixConfiguration VXLAN settings',
  [...twoHostsVxlan.kvs],
  felixConfig('default', { vxlanVNI: 4097, vxlanPort: 4790 }),
  felixConfig('node.host1', { vxlanMTU: 1400 }),
  felixConfig('node.host2', { vxlanMTU: 1300 }),
);

const twoHostsVxlanNewTunnel = state(
  'host2 moved its tunnel address',
  [...withoutKeys(twoHostsVxlan, '', (k) => k.endsWith('/nodes/host2')).kvs],
  node('host2', '172.31.1.12/24', { tunnel: '10.244.0.66', mac: MAC2 }),
);

const host2Gone = withoutKeys(twoHostsVxlan, 'host2 Node deleted', (k) =>
  k.endsWith('/nodes/host2'),
);
const blockGone = withoutKeys(twoHostsFlat, 'host2 block deleted', (k) =>
  k.endsWith('10.244.0.64-26'),
);

// --- Expected semantics of single states ------------------------------------

describe('calc: routes, VTEPs and masquerade from one datastore state', () => {
  it('flat pool: local /32s, a blackhole for the local block, the peer block via the peer', () => {
    assert.deepEqual(routes(twoHostsFlat), [
      'blackhole 10.244.0.0/26',
      '10.244.0.0/32 dev cali0000000001',
      '10.244.0.1/32 dev cali0000000002',
      '10.244.0.64/26 via 172.31.1.12',
    ]);
    const d = reference(twoHostsFlat);
    assert.deepEqual(
      d.localEndpoints.map((e) => e.key),
      ['default/w1', 'default/w2'],
    );
    assert.equal(d.hostAddress, '172.31.1.11/24');
    assert.equal(d.vxlan.enabled, false);
    assert.deepEqual(d.vteps, []);
    assert.deepEqual(d.problems, []);
  });

  it('vxlanMode Always: peer blocks via its tunnel address; VTEPs for peers only', () => {
    assert.deepEqual(routes(twoHostsVxlan), [
      'blackhole 10.244.0.0/26',
      '10.244.0.0/32 dev cali0000000001',
      '10.244.0.64/26 via 10.244.0.65 vxlan',
    ]);
    const d = reference(twoHostsVxlan);
    assert.deepEqual(d.vxlan, {
      enabled: true,
      vni: 4096,
      port: 4789,
      mtu: undefined,
      local: { node: 'host1', hostAddress: '172.31.1.11', tunnelAddress: '10.244.0.2', mac: MAC1 },
    });
    assert.deepEqual(d.vteps, [
      { node: 'host2', hostAddress: '172.31.1.12', tunnelAddress: '10.244.0.65', mac: MAC2 },
    ]);
    assert.deepEqual(d.tunnelPools, ['p1']);
  });

  it('CrossSubnet: the same-subnet peer over the underlay, the other through VXLAN', () => {
    assert.deepEqual(routes(threeHostsCrossSubnet), [
      'blackhole 10.244.0.0/26',
      '10.244.0.64/26 via 172.31.1.12',
      '10.244.0.128/26 via 10.244.0.129 vxlan',
    ]);
  });

  it('uses the real prefix length: a /32 host address makes every peer remote', () => {
    const slash32 = state(
      'host1 with a /32',
      [...threeHostsCrossSubnet.kvs],
      node('host1', '172.31.1.11/32', { tunnel: '10.244.0.2', mac: MAC1 }),
    );
    assert.deepEqual(routes(slash32), [
      'blackhole 10.244.0.0/26',
      '10.244.0.64/26 via 10.244.0.65 vxlan',
      '10.244.0.128/26 via 10.244.0.129 vxlan',
    ]);
  });

  it('no encapsulation across subnets is reported, not routed', () => {
    const s = state(
      'Never across subnets',
      pool('p1', '10.244.0.0/16'),
      node('host1', '172.31.1.11/24'),
      node('host3', '172.31.2.13/24'),
      block('10.244.0.128/26', 'host3'),
    );
    assert.deepEqual(routes(s), []);
    const problems = reference(s).problems;
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.kind, 'no-route-to-peer');
    assert.equal(problems[0]!.subject, 'host3');
  });

  it('borrowed addresses get /32s to the borrower; a local borrower is covered by its endpoint', () => {
    assert.deepEqual(routes(borrowed), [
      'blackhole 10.244.0.0/26',
      '10.244.0.3/32 via 172.31.1.12',
      '10.244.0.64/26 via 172.31.1.12',
      '10.244.0.69/32 via 172.31.1.13',
      '10.244.0.70/32 dev cali00000000c',
    ]);
  });

  it("a tunnel address in another host's block is routed straight onto the VXLAN device", () => {
    assert.deepEqual(routes(borrowedTunnel), [
      'blackhole 10.244.0.0/26',
      '10.244.0.128/26 via 10.244.0.129 vxlan',
      '10.244.0.130/32 vxlan-direct host2',
    ]);
  });

  it("ipipMode is an error on the pool's hosts, with no route through a missing tunnel", () => {
    const d = reference(ipipPool);
    assert.deepEqual(d.routes.map(routeText), ['blackhole 10.250.0.0/26']);
    assert.deepEqual(
      d.problems.map((p) => [p.kind, p.subject, p.severity]),
      [['ipip-unsupported', 'ipip', 'error']],
    );
    assert.match(d.problems[0]!.message, /cannot make ipip devices/);
    const withIpip = new CalcGraph({ nodeName: ME, kernelHasIpip: true });
    for (const [key, value] of ipipPool.kvs) withIpip.onUpdate({ key, value });
    assert.equal(withIpip.snapshot().problems[0]!.kind, 'ipip-not-implemented');
    const elsewhere = state(
      'ipip pool for other hosts',
      [...ipipPool.kvs],
      pool('ipip', '10.250.0.0/16', {
        ipipMode: 'Always',
        nodeSelector: "kubernetes.io/hostname == 'host2'",
      }),
    );
    assert.deepEqual(reference(elsewhere).problems, []);
  });

  it('masquerade sets: every pool, and the natOutgoing ones (disabled included)', () => {
    assert.deepEqual(reference(natAndPlainPools).masquerade, {
      allPoolsV4: ['10.244.0.0/16', '10.245.0.0/16', '10.246.0.0/16'],
      natPoolsV4: ['10.244.0.0/16', '10.246.0.0/16'],
      allPoolsV6: [],
      natPoolsV6: [],
    });
  });

  it('bad values are reported and treated as absent; unrelated keys are ignored', () => {
    const d = reference(badValues);
    assert.deepEqual(d.routes, reference(twoHostsFlat).routes);
    assert.deepEqual(
      d.problems.map((p) => [p.kind, p.subject]),
      [
        ['invalid-resource', '/calico/ipam/v2/assignment/ipv4/block/10.244.9.0-26'],
        ['invalid-resource', '/calico/resources/v3/projectcalico.org/ippools/broken'],
      ],
    );
  });

  it("FelixConfiguration: this host's overrides the default, other hosts' are ignored", () => {
    const v = reference(vxlanConfigured).vxlan;
    assert.equal(v.vni, 4097);
    assert.equal(v.port, 4790);
    assert.equal(v.mtu, 1400);
  });

  it('a host address claimed by two Nodes is an error', () => {
    const s = state('duplicate address', [...twoHostsFlat.kvs], node('host9', '172.31.1.11/24'));
    assert.deepEqual(
      reference(s).problems.map((p) => [p.kind, p.subject]),
      [['address-conflict', 'host1']],
    );
  });

  it("VXLAN without this host's VTEP yet: a warning, and peer routes wait", () => {
    const s = state('no local VTEP', [...twoHostsVxlan.kvs], node('host1', '172.31.1.11/24'));
    const d = reference(s);
    assert.equal(d.vxlan.local, undefined);
    assert.deepEqual(d.routes.map(routeText), [
      'blackhole 10.244.0.0/26',
      '10.244.0.0/32 dev cali0000000001',
    ]);
    assert.ok(d.problems.some((p) => p.kind === 'vtep-incomplete' && p.subject === 'host1'));
  });
});

// --- Order independence ------------------------------------------------------

const BASE_TESTS: State[][] = [
  [],
  [twoHostsFlat],
  [twoHostsFlat, blockGone, twoHostsFlat],
  [twoHostsVxlan, host2Gone, twoHostsVxlan],
  [twoHostsVxlan, twoHostsVxlanNewTunnel, twoHostsVxlan],
  [twoHostsFlat, twoHostsVxlan, twoHostsFlat],
  [threeHostsCrossSubnet, twoHostsVxlan],
  [borrowed, twoHostsFlat, borrowed],
  [borrowedTunnel, twoHostsVxlan],
  [ipipPool, twoHostsFlat],
  [natAndPlainPools, twoHostsFlat, natAndPlainPools],
  [badValues, twoHostsFlat, badValues],
  [vxlanConfigured, twoHostsVxlan],
  [twoHostsFlat, EMPTY, borrowed, threeHostsCrossSubnet, ipipPool, vxlanConfigured, twoHostsFlat],
];

function applyMessages(held: Map<string, unknown>, messages: DataplaneMessage[]): void {
  for (const m of messages) {
    switch (m.type) {
      case 'route-update':
        held.set(`route ${m.route.dst}`, m.route);
        break;
      case 'route-remove':
        held.delete(`route ${m.dst}`);
        break;
      case 'endpoint-update':
        held.set(`ep ${m.endpoint.key}`, m.endpoint);
        break;
      case 'endpoint-remove':
        held.delete(`ep ${m.key}`);
        break;
      case 'vtep-update':
        held.set(`vtep ${m.vtep.node}`, m.vtep);
        break;
      case 'vtep-remove':
        held.delete(`vtep ${m.node}`);
        break;
      // Singletons: their empty value is the same as never having been set.
      case 'vxlan-settings':
        if (JSON.stringify(m.settings) === JSON.stringify(emptyDesiredState(ME).vxlan))
          held.delete('vxlan');
        else held.set('vxlan', m.settings);
        break;
      case 'masquerade-sets':
        if (JSON.stringify(m.sets) === JSON.stringify(emptyDesiredState(ME).masquerade))
          held.delete('masq');
        else held.set('masq', m.sets);
        break;
    }
  }
}

function heldOf(d: DesiredState): Map<string, unknown> {
  const held = new Map<string, unknown>();
  applyMessages(held, diffDesiredStates(emptyDesiredState(d.node), d));
  return held;
}

function sorted(m: Map<string, unknown>): [string, unknown][] {
  return [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

describe('calc: the same datastore gives the same desired state in any order', () => {
  for (const base of BASE_TESTS) {
    const title = base.length === 0 ? '(no states)' : base.map((s) => s.name).join(' → ');
    for (const expansion of expansions(base)) {
      it(`${title}, ${expansion.description}`, () => {
        for (const strategy of FLUSH_STRATEGIES) {
          const g = graph();
          let last: State = EMPTY;
          let previous = emptyDesiredState(ME);
          const held = new Map<string, unknown>();
          const flush = () => {
            const next = g.snapshot();
            applyMessages(held, diffDesiredStates(previous, next));
            previous = next;
          };
          for (const s of expansion.states) {
            const ds = deltas(last, s);
            if (expansion.reverseKeys) ds.reverse();
            for (const d of ds) {
              g.onUpdate(d);
              if (strategy === 'after each key' || strategy === 'after each key, duplicated')
                flush();
              if (strategy === 'after each key, duplicated') {
                g.onUpdate(d);
                flush();
              }
            }
            if (strategy !== 'at the end') {
              flush();
              assert.deepEqual(previous, reference(s), `${strategy}: state "${s.name}"`);
              assert.deepEqual(
                sorted(held),
                sorted(heldOf(previous)),
                `${strategy}: messages for "${s.name}"`,
              );
            }
            last = s;
          }
          flush();
          assert.deepEqual(previous, reference(last), `${strategy}: final state "${last.name}"`);
          assert.deepEqual(sorted(held), sorted(heldOf(previous)), `${strategy}: final messages`);
        }
      });
    }
  }

  it('an unchanged input leaves the graph clean', () => {
    const g = graph();
    for (const [key, value] of twoHostsFlat.kvs) g.onUpdate({ key, value });
    g.snapshot();
    assert.equal(g.dirty, false);
    const [key, value] = [...twoHostsFlat.kvs][0]!;
    g.onUpdate({ key, value });
    g.onUpdate({ key: '/calico/resources/v3/projectcalico.org/nodes/host2', value: undefined });
    assert.equal(g.dirty, true);
  });

  it('diffing a state against itself gives no messages', () => {
    const d = reference(threeHostsCrossSubnet);
    assert.deepEqual(diffDesiredStates(d, d), []);
  });
});
