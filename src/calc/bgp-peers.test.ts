import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CalcGraph } from './graph.js';
import {
  EMPTY,
  FLUSH_STRATEGIES,
  bgpConfig,
  bgpPeer,
  block,
  deltas,
  endpoint,
  expansions,
  node,
  pool,
  state,
  withoutKeys,
  type State,
} from './test-support/states.js';
import type { BgpMode, BgpPeerWanted, DesiredState } from './types.js';

function desired(s: State, me = 'host1', bgp: BgpMode = 'auto'): DesiredState {
  const g = new CalcGraph({ nodeName: me, kernelHasIpip: false, bgp });
  for (const key of [...s.kvs.keys()].sort()) g.onUpdate({ key, value: s.kvs.get(key) });
  return g.snapshot();
}

/** "address type [passive] [client] asn" per peer. */
function peers(d: DesiredState): string[] {
  return d.bgp.peers.map(
    (p) =>
      `${p.address} ${p.type}${p.passive ? ' passive' : ''}${p.routeReflectorClient ? ' client' : ''} ${p.asn}`,
  );
}

const meshConfig = bgpConfig('default', { nodeToNodeMeshEnabled: true, asNumber: 64512 });

const flatMesh = state(
  'three hosts, full mesh',
  meshConfig,
  pool('p1', '10.244.0.0/16'),
  node('host1', '172.31.1.11/24'),
  node('host2', '172.31.1.12/24'),
  node('host3', '172.31.1.13/24'),
  block('10.244.0.0/26', 'host1', { 0: ['k8s.a', 'host1'] }),
  block('10.244.0.64/26', 'host2', { 0: ['k8s.b', 'host2'], 5: ['k8s.c', 'host1'] }),
  block('10.244.0.128/26', 'host3'),
  endpoint('default', 'a', 'host1', 'cali0000000001', ['10.244.0.0/32']),
  endpoint('default', 'c', 'host1', 'cali0000000003', ['10.244.0.69/32']),
);

const vxlanAndHidden = state(
  'a VXLAN pool and a disableBGPExport pool beside the plain one',
  [...flatMesh.kvs],
  pool('vx', '10.250.0.0/16', { vxlanMode: 'Always' }),
  pool('hidden', '10.251.0.0/16', { disableBGPExport: true }),
  block('10.250.0.0/26', 'host1'),
  block('10.251.0.0/26', 'host1'),
  block('10.251.0.64/26', 'host2', { 1: ['k8s.d', 'host1'] }),
);

// Two racks: host1 and host3 reflect (one cluster each), one AS per rack,
// clients peer with their rack's reflector, reflectors with each other.
const racks = state(
  'two racks with a reflector each',
  bgpConfig('default', { nodeToNodeMeshEnabled: false, asNumber: 64512 }),
  pool('p1', '10.244.0.0/16'),
  node('host1', '172.31.1.11/24', {
    asNumber: 65001,
    rrClusterId: '244.0.0.1',
    labels: { rack: '1', rr: 'true' },
  }),
  node('host2', '172.31.1.12/24', { asNumber: 65001, labels: { rack: '1' } }),
  node('host3', '172.31.2.13/24', {
    asNumber: 65002,
    rrClusterId: '244.0.0.2',
    labels: { rack: '2', rr: 'true' },
  }),
  node('host4', '172.31.2.14/24', { asNumber: 65002, labels: { rack: '2' } }),
  bgpPeer('rack1-clients', {
    nodeSelector: "rack == '1' && !has(rr)",
    peerSelector: "rack == '1' && has(rr)",
  }),
  bgpPeer('rack1-reflector', {
    nodeSelector: "rack == '1' && has(rr)",
    peerSelector: "rack == '1'",
  }),
  bgpPeer('rack2-clients', {
    nodeSelector: "rack == '2' && !has(rr)",
    peerSelector: "rack == '2' && has(rr)",
  }),
  bgpPeer('rack2-reflector', {
    nodeSelector: "rack == '2' && has(rr)",
    peerSelector: "rack == '2'",
  }),
  bgpPeer('reflectors', { nodeSelector: 'has(rr)', peerSelector: 'has(rr)' }),
  block('10.244.0.0/26', 'host1'),
  block('10.244.0.64/26', 'host2'),
);

const withExternal = state(
  'racks and an external router peering with the reflectors',
  [...racks.kvs],
  bgpPeer('gateway', {
    peerIP: '172.31.0.1',
    asNumber: 65000,
    nodeSelector: 'has(rr)',
    keepOriginalNextHop: true,
    maxRestartTime: '2m',
  }),
);

const overrides = state(
  'one address configured three ways',
  [...flatMesh.kvs],
  bgpPeer('a-global', { peerIP: '172.31.1.12', asNumber: 64512 }),
  bgpPeer('b-mine', {
    node: 'host1',
    peerIP: '172.31.1.12:1179',
    asNumber: 64512,
    password: { secretKeyRef: { name: 'bgp', key: 'pw' } },
    nextHopMode: 'Self',
  }),
  bgpPeer('c-other', { node: 'host2', peerIP: '172.31.1.99', asNumber: 64999 }),
  bgpPeer('d-tor', { peerIP: '172.31.1.1', asNumber: 65100, ttlSecurity: 1 }),
);

describe('calc: BGP peerings', () => {
  it('is off without a BGPConfiguration (auto), and then routes peers directly', () => {
    const s = withoutKeys(flatMesh, 'no BGPConfiguration', (k) => k.includes('bgpconfigurations'));
    const d = desired(s);
    assert.equal(d.bgp.enabled, false);
    assert.deepEqual(d.bgp.peers, []);
    assert.ok(d.routes.some((r) => r.dst === '10.244.0.64/26' && r.target.kind === 'underlay'));
    assert.equal(desired(s, 'host1', 'on').bgp.enabled, true, '--bgp on needs no BGPConfiguration');
    assert.equal(desired(flatMesh, 'host1', 'off').bgp.enabled, false, '--bgp off wins');
  });

  it('full mesh: every other Node, AS 64512, passive towards lexically greater addresses', () => {
    const d = desired(flatMesh);
    assert.equal(d.bgp.enabled, true);
    assert.equal(d.bgp.asn, 64512);
    assert.equal(d.bgp.routerId, '172.31.1.11');
    assert.deepEqual(d.bgp.listen, { host: '0.0.0.0', port: 179 });
    assert.deepEqual(peers(d), [
      '172.31.1.12 mesh passive 64512',
      '172.31.1.13 mesh passive 64512',
    ]);
    assert.deepEqual(peers(desired(flatMesh, 'host3')), [
      '172.31.1.11 mesh 64512',
      '172.31.1.12 mesh 64512',
    ]);
    // Calico compares the address text: "172.31.1.9" > "172.31.1.11".
    const nine = state('a .9 host', [...flatMesh.kvs], node('host9', '172.31.1.9/24'));
    assert.ok(desired(nine).bgp.peers.find((p) => p.address === '172.31.1.9')!.passive);
    assert.equal(
      desired(nine, 'host9').bgp.peers.find((p) => p.address === '172.31.1.11')!.passive,
      false,
    );
  });

  it('each pair of Nodes has exactly one active side', () => {
    const s = state(
      'many hosts',
      meshConfig,
      ...[3, 9, 10, 11, 20, 99, 100, 101, 200].map((h) => node(`h${h}`, `172.31.1.${h}/24`)),
    );
    const names = [3, 9, 10, 11, 20, 99, 100, 101, 200].map((h) => `h${h}`);
    const byNode = new Map(names.map((n) => [n, desired(s, n).bgp]));
    for (const a of names) {
      for (const p of byNode.get(a)!.peers) {
        const back = byNode.get(p.node!)!.peers.find((q) => q.node === a)!;
        assert.notEqual(p.passive, back.passive, `${a} <-> ${p.node}`);
      }
    }
  });

  it('BGP mode: no direct routes to peer blocks; blocks and borrowed /32s originated', () => {
    const d = desired(flatMesh);
    assert.deepEqual(
      d.routes.map((r) => `${r.dst} ${r.target.kind}`),
      ['10.244.0.0/26 blackhole', '10.244.0.0/32 workload', '10.244.0.69/32 workload'],
    );
    assert.deepEqual(d.bgp.originate, ['10.244.0.0/26', '10.244.0.69/32']);
    assert.deepEqual(d.problems, []);
    assert.deepEqual(desired(flatMesh, 'host2').bgp.originate, ['10.244.0.64/26']);
  });

  it('disableBGPExport pools are not originated; encapsulated pools stay the calculation’s', () => {
    const d = desired(vxlanAndHidden);
    assert.deepEqual(d.bgp.originate, ['10.244.0.0/26', '10.244.0.69/32', '10.250.0.0/26']);
    assert.deepEqual(d.bgp.noProgram, ['10.250.0.0/16']);
    // hidden pool, unencapsulated: BGP's job, so no direct route either.
    assert.ok(!d.routes.some((r) => r.dst === '10.251.0.64/26'));
  });

  it('route reflectors leave the mesh and reflect to their clients; clients see type rr', () => {
    const rr1 = desired(racks, 'host1');
    assert.equal(rr1.bgp.clusterId, '244.0.0.1');
    assert.equal(rr1.bgp.asn, 65001);
    assert.deepEqual(peers(rr1), [
      '172.31.1.12 node passive client 65001',
      '172.31.2.13 node passive 65002',
    ]);
    assert.deepEqual(peers(desired(racks, 'host2')), ['172.31.1.11 rr 65001']);
    assert.deepEqual(peers(desired(racks, 'host4')), ['172.31.2.13 rr 65002']);
    assert.deepEqual(peers(desired(racks, 'host3')), [
      '172.31.1.11 node 65001',
      '172.31.2.14 node passive client 65002',
    ]);
    // With the mesh on, a reflector stays out of it and the others skip it.
    const meshToo = state('racks with the mesh on', [...racks.kvs], meshConfig);
    assert.ok(
      !desired(meshToo, 'host2').bgp.peers.some((p) => p.type === 'mesh' && p.node === 'host1'),
    );
    assert.ok(!desired(meshToo, 'host1').bgp.peers.some((p) => p.type === 'mesh'));
  });

  it('peerIP peers: AS, keepOriginalNextHop, maxRestartTime, only on the selected Nodes', () => {
    const rr = desired(withExternal, 'host1').bgp.peers.find((p) => p.address === '172.31.0.1');
    assert.deepEqual(rr, {
      address: '172.31.0.1',
      port: 179,
      asn: 65000,
      type: 'node',
      source: 'BGPPeer gateway',
      node: undefined,
      passive: false,
      routeReflectorClient: false,
      keepOriginalNextHop: true,
      nextHopSelf: false,
      useNodeIp: true,
      maxRestartSeconds: 120,
      password: undefined,
    } satisfies BgpPeerWanted);
    assert.ok(!desired(withExternal, 'host2').bgp.peers.some((p) => p.address === '172.31.0.1'));
  });

  it('one session per address: node specific over global over mesh; unsupported fields reported', () => {
    const d = desired(overrides);
    const p12 = d.bgp.peers.find((p) => p.address === '172.31.1.12')!;
    assert.equal(p12.source, 'BGPPeer b-mine');
    assert.equal(p12.port, 1179);
    assert.equal(p12.password, 'bgp/pw');
    assert.equal(p12.nextHopSelf, true);
    assert.ok(!d.bgp.peers.some((p) => p.address === '172.31.1.99'), "host2's peer is not ours");
    assert.equal(d.bgp.peers.find((p) => p.address === '172.31.1.1')!.type, 'global');
    assert.deepEqual(
      d.problems.map((p) => [p.kind, p.subject]),
      [['bgp-unsupported', 'BGPPeer d-tor']],
    );
  });

  it('a Node without an address cannot run BGP; listenPort and bindMode', () => {
    const s = state('no address', meshConfig, raw('host1'), node('host2', '172.31.1.12/24'));
    const d = desired(s);
    assert.equal(d.bgp.routerId, undefined);
    assert.deepEqual(
      d.problems.map((p) => p.kind),
      ['bgp-no-address'],
    );
    const bound = state(
      'bound',
      [...flatMesh.kvs],
      bgpConfig('default', { asNumber: 64512, listenPort: 1790 }),
      bgpConfig('node.host1', { bindMode: 'NodeIP' }),
    );
    assert.deepEqual(desired(bound).bgp.listen, { host: '172.31.1.11', port: 1790 });
    assert.ok(desired(bound).bgp.peers.every((p) => p.port === 1790));
  });
});

function raw(name: string): [string, string][] {
  return [
    [
      `/calico/resources/v3/projectcalico.org/nodes/${name}`,
      JSON.stringify({ kind: 'Node', metadata: { name }, spec: {} }),
    ],
  ];
}

// --- Order independence ------------------------------------------------------

const host2Gone = withoutKeys(flatMesh, 'host2 Node deleted', (k) => k.endsWith('/nodes/host2'));
const becameReflector = state(
  'host1 becomes a reflector',
  [...flatMesh.kvs],
  node('host1', '172.31.1.11/24', { rrClusterId: '244.0.0.1', labels: { rr: 'true' } }),
  bgpPeer('to-rr', { nodeSelector: '!has(rr)', peerSelector: 'has(rr)' }),
  bgpPeer('rr-to-all', { nodeSelector: 'has(rr)', peerSelector: 'all()' }),
);

const REPLAYS: State[][] = [
  [flatMesh],
  [flatMesh, host2Gone, flatMesh],
  [flatMesh, vxlanAndHidden, flatMesh],
  [racks, withExternal, racks],
  [flatMesh, becameReflector, overrides],
  [withExternal, EMPTY, flatMesh, becameReflector],
];

describe('calc: BGP peerings do not depend on update order', () => {
  for (const me of ['host1', 'host2']) {
    for (const base of REPLAYS) {
      for (const expansion of expansions(base)) {
        it(`${me}: ${base.map((s) => s.name).join(' → ')}, ${expansion.description}`, () => {
          for (const strategy of FLUSH_STRATEGIES) {
            const g = new CalcGraph({ nodeName: me, kernelHasIpip: false });
            let last: State = EMPTY;
            for (const s of expansion.states) {
              const ds = deltas(last, s);
              if (expansion.reverseKeys) ds.reverse();
              for (const d of ds) {
                g.onUpdate(d);
                if (strategy.startsWith('after each key')) g.snapshot();
                if (strategy === 'after each key, duplicated') {
                  g.onUpdate(d);
                  g.snapshot();
                }
              }
              if (strategy !== 'at the end')
                assert.deepEqual(g.snapshot().bgp, desired(s, me).bgp, `${strategy}: ${s.name}`);
              last = s;
            }
            assert.deepEqual(g.snapshot(), desired(last, me), `${strategy}: final ${last.name}`);
          }
        });
      }
    }
  }
});
