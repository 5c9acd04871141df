// The pure BGP parts of the lab: the racks plan, the external router's plan
// and BIRD configuration, the BGP resources (valid, with the selectors the
// calculation resolves to the intended peerings), and the outside endpoint
// of the reachability matrix.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CalcGraph } from '../calc/graph.js';
import { resourceKey, lookupKind } from '../model/kinds.js';
import { bgpResources, nodeResource, prepareResources } from './cluster-resources.js';
import { birdConfig } from './gateway.js';
import { endpointsOf, expectation, reachContext } from './matrix.js';
import { MAX_IFNAME } from './naming.js';
import { planLab, type LabPlan } from './plan.js';
import type { LabHost, LabState } from './state.js';
import { sampleState } from './test-support/fixtures.js';

function labHosts(plan: LabPlan): LabHost[] {
  return plan.hosts.map((h) => ({
    name: h.name,
    netns: h.netns,
    address: h.address,
    prefixLength: h.prefixLength,
    segment: h.segment,
    gateway: h.gateway,
    ...(h.rack !== undefined ? { rack: h.rack } : {}),
    ...(h.asNumber !== undefined ? { asNumber: h.asNumber } : {}),
    ...(h.routeReflector ? { routeReflector: true } : {}),
    ...(h.clusterId !== undefined ? { clusterId: h.clusterId } : {}),
    ...(h.core ? { coreAddress: h.core.address } : {}),
  }));
}

const gatewayOf = (plan: LabPlan) =>
  plan.gateway && {
    netns: plan.gateway.netns,
    address: plan.gateway.address,
    asNumber: plan.gateway.asNumber,
    socket: '/x/bird.ctl',
    peers: plan.gateway.peers.map((p) => p.address),
    outside: { ...plan.gateway.outside },
  };

/** The peerings the calculation makes of what the lab writes, per host. */
function peerings(plan: LabPlan): Record<string, string[]> {
  const resources = prepareResources([
    ...labHosts(plan).map((h) => nodeResource(plan.name, h)),
    ...bgpResources(plan.racks?.count, gatewayOf(plan)),
  ]);
  const out: Record<string, string[]> = {};
  for (const host of plan.hosts) {
    const g = new CalcGraph({ nodeName: host.name, kernelHasIpip: false });
    for (const r of resources) {
      g.onUpdate({
        key: resourceKey(lookupKind(r.kind)!, r.metadata.name),
        value: JSON.stringify(r),
      });
    }
    out[host.name] = g
      .snapshot()
      .bgp.peers.map(
        (p) => `${p.address} ${p.type}${p.routeReflectorClient ? ' client' : ''} ${p.asn}`,
      );
  }
  return out;
}

describe('lab: racks, BGP and the external router', () => {
  it('racks: a segment per rack and the core; the first host of each reflects and routes', () => {
    const plan = planLab({
      name: 'rk',
      hosts: 0,
      workloads: 1,
      topology: 'racks',
      encap: 'none',
      racks: 2,
      hostsPerRack: 3,
    });
    assert.equal(plan.bgp, true);
    assert.deepEqual(
      plan.segments.map((s) => [s.segment, s.cidr, s.bridge, s.gateway, s.gatewayOnBridge]),
      [
        [0, '172.31.0.0/24', 'br0', '172.31.0.1', undefined],
        [1, '172.31.1.0/24', 'br1', '172.31.1.11', false],
        [2, '172.31.2.0/24', 'br2', '172.31.2.14', false],
      ],
    );
    assert.deepEqual(
      plan.hosts.map(
        (h) =>
          `${h.name} ${h.address} rack ${h.rack} AS ${h.asNumber} via ${h.gateway}` +
          (h.routeReflector
            ? ` rr ${h.clusterId} core ${h.core!.address} [${h.routes!.join(', ')}]`
            : ''),
      ),
      [
        'host1 172.31.1.11 rack 1 AS 65001 via 172.31.0.1 rr 244.0.0.1 core 172.31.0.11 [172.31.2.0/24 via 172.31.0.12]',
        'host2 172.31.1.12 rack 1 AS 65001 via 172.31.1.11',
        'host3 172.31.1.13 rack 1 AS 65001 via 172.31.1.11',
        'host4 172.31.2.14 rack 2 AS 65002 via 172.31.0.1 rr 244.0.0.2 core 172.31.0.12 [172.31.1.0/24 via 172.31.0.11]',
        'host5 172.31.2.15 rack 2 AS 65002 via 172.31.2.14',
        'host6 172.31.2.16 rack 2 AS 65002 via 172.31.2.14',
      ],
    );
    assert.equal(plan.workloads.length, 6);
    assert.throws(
      () => planLab({ ...base, topology: 'racks', racks: 10, hostsPerRack: 6 }),
      /--racks × --hosts-per-rack must be a whole number from 1 to 50/,
    );
    const big = planLab({
      ...base,
      name: 'abcdefghijkl',
      topology: 'racks',
      racks: 10,
      hostsPerRack: 5,
    });
    for (const h of big.hosts)
      for (const n of [h.port, h.core?.port ?? '']) assert.ok(n.length <= MAX_IFNAME, n);
  });

  const base = { name: 'rk', hosts: 2, workloads: 0, encap: 'none' } as const;

  it('the resources make the article’s peerings: clients with their reflector, reflectors with each other', () => {
    const plan = planLab({
      ...base,
      topology: 'racks',
      racks: 2,
      hostsPerRack: 2,
      externalRouter: true,
    });
    assert.deepEqual(peerings(plan), {
      host1: ['172.31.0.1 node 65000', '172.31.1.12 node client 65001', '172.31.2.13 node 65002'],
      host2: ['172.31.1.11 rr 65001'],
      host3: ['172.31.0.1 node 65000', '172.31.1.11 node 65001', '172.31.2.14 node client 65002'],
      host4: ['172.31.2.13 rr 65002'],
    });
    const flat = planLab({ ...base, hosts: 3, topology: 'flat', externalRouter: true });
    assert.deepEqual(peerings(flat)['host2'], [
      '172.31.1.1 global 65000',
      '172.31.1.11 mesh 64512',
      '172.31.1.13 mesh 64512',
    ]);
  });

  it('the external router holds the segment’s .1 (flat) or the core’s (racks) and peers with hosts or reflectors', () => {
    const flat = planLab({ ...base, hosts: 2, topology: 'flat', externalRouter: true });
    assert.equal(flat.bgp, true);
    assert.equal(flat.segments[0]!.gatewayOnBridge, false);
    assert.deepEqual(
      { ...flat.gateway!, outside: undefined },
      {
        netns: 'tl-rk-gw',
        segment: 1,
        address: '172.31.1.1',
        prefixLength: 24,
        port: 'gw',
        asNumber: 65000,
        peers: [
          { node: 'host1', address: '172.31.1.11', asNumber: 64512 },
          { node: 'host2', address: '172.31.1.12', asNumber: 64512 },
        ],
        routes: [],
        outside: undefined,
      },
    );
    const racks = planLab({ ...base, topology: 'racks', externalRouter: true });
    assert.deepEqual(racks.gateway!.routes, [
      '172.31.1.0/24 via 172.31.0.11',
      '172.31.2.0/24 via 172.31.0.12',
    ]);
    const conf = birdConfig(racks.gateway!);
    assert.match(conf, /router id 172\.31\.0\.1;/);
    assert.match(conf, /local 172\.31\.0\.1 as 65000;/);
    assert.match(
      conf,
      /protocol bgp host1 from tortie_host \{\n {2}neighbor 172\.31\.0\.11 as 65001;/,
    );
    assert.match(
      conf,
      /protocol bgp host3 from tortie_host \{\n {2}neighbor 172\.31\.0\.12 as 65002;/,
    );
    assert.match(
      conf,
      /export filter \{ if net ~ \[ 172\.30\.0\.0\/24 \] then accept; reject; \};/,
    );
    assert.match(conf, /graceful restart on;/);
    assert.throws(
      () => planLab({ ...base, topology: 'two-subnets', externalRouter: true }),
      /--external-router needs --topology flat or racks/,
    );
  });

  it('the outside namespace is one more endpoint once the agents run', () => {
    const state: LabState = {
      ...sampleState(),
      gateway: {
        netns: 'tl-demo-gw',
        address: '172.31.1.1',
        asNumber: 65000,
        socket: '/x',
        peers: [],
        outside: { netns: 'tl-demo-ext', address: '172.30.0.10', cidr: '172.30.0.0/24' },
      },
    };
    const endpoints = endpointsOf(state);
    const outside = endpoints.find((e) => e.kind === 'outside')!;
    assert.equal(outside.address, '172.30.0.10');
    const host = endpoints[0]!;
    assert.equal(expectation(outside, host, reachContext(state)), 'needs-agent');
    const withAgents: LabState = {
      ...state,
      processes: state.hosts.map((h) => ({
        name: `agent-${h.name}`,
        role: 'agent',
        host: h.name,
        netns: h.netns,
        argv: [],
        pid: 1,
        startTime: '1',
        pidfile: '',
        log: '',
      })),
    };
    assert.equal(expectation(host, outside, reachContext(withAgents)), 'reach');
  });
});
