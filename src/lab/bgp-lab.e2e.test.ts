// The racks topology with an external router (`lab up --topology racks
// --racks 2 --hosts-per-rack 2 --external-router`), as the source article
// draws it: per rack an L2 segment and a route reflector (iBGP inside the
// rack, one AS per rack), eBGP between the reflectors, and a BIRD 2
// gateway peering with the reflectors, with an outside network behind it.
// Every pair reaches every other, the outside included; the outside reaches
// every workload with its own address (no NAT on the way in); clients reach
// other racks through their reflector (next hops resolved recursively).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readStatuses } from '../agent/status.js';
import { formatNodeStatus } from '../cli/node.js';
import { netnsSkipReason } from '../dataplane/test-support/netns.js';
import { openDatastore } from '../datastore/open.js';
import { run } from './exec.js';
import { countEchoRequests } from '../dataplane/test-support/nft-counters.js';
import { labPing } from './lab.js';
import { pingFrom, routesOf, withAgentLab, type AgentLab } from './test-support/agent-lab.js';

const skip = netnsSkipReason();

async function outsideSeesNoNat(lab: AgentLab): Promise<void> {
  const gw = lab.state.gateway!;
  for (const w of lab.state.workloads) {
    const host = lab.state.hosts.find((h) => h.name === w.host)!;
    const count = await countEchoRequests(w.netns, {
      outside: gw.outside.address,
      host: host.address,
      gateway: gw.address,
    });
    const address = w.addresses[0]!.split('/')[0]!;
    assert.ok(await pingFrom(gw.outside.netns, address), `the outside reaches ${w.name}`);
    assert.deepEqual(
      await count(),
      { outside: 1, host: 0, gateway: 0 },
      `${w.name} sees the outside's own address`,
    );
  }
}

async function reflectorsAndGateway(lab: AgentLab): Promise<void> {
  const { state } = lab;
  const ds = await openDatastore(state.datastore.url);
  try {
    const statuses = await readStatuses(ds);
    const by = new Map(statuses.map((s) => [s.node, s.bgp!]));
    // host1 and host3 reflect (racks 1 and 2, AS 65001 and 65002).
    assert.equal(by.get('host1')!.clusterId, '244.0.0.1');
    assert.equal(by.get('host3')!.asn, 65002);
    assert.deepEqual(
      by.get('host2')!.peers.map((p) => [p.address, p.type, p.asn, p.state]),
      [['172.31.1.11', 'rr', 65001, 'Established']],
    );
    assert.deepEqual(
      by.get('host1')!.peers.map((p) => [p.address, p.asn, p.routeReflectorClient, p.state]),
      [
        ['172.31.0.1', 65000, false, 'Established'],
        ['172.31.1.12', 65001, true, 'Established'],
        ['172.31.2.13', 65002, false, 'Established'],
      ],
    );
    const text = formatNodeStatus([], statuses);
    assert.match(text, /172\.31\.1\.11 +\| route reflector +\| up/);
    assert.match(text, /node specific \(rr client\)/);
  } finally {
    await ds.close();
  }
  // A client reaches the other rack's blocks through its reflector (the next
  // hop, the other reflector, resolved through its gateway).
  const host2 = await routesOf(state.hosts.find((h) => h.name === 'host2')!.netns);
  const host4Block = host2.find(
    (r) =>
      r.protocol === '80' &&
      state.workloads.some(
        (w) => w.host === 'host4' && sameBlock(r.dst, w.addresses[0]!.split('/')[0]!),
      ),
  );
  assert.equal(host4Block?.gateway, '172.31.1.11', "host4's block via host2's reflector");
  assert.ok(
    host2.some((r) => r.dst === '172.30.0.0/24' && r.gateway === '172.31.1.11'),
    'the outside network via the reflector',
  );
  // The gateway learned every block from the reflectors.
  const gw = await routesOf(state.gateway!.netns);
  const learned = gw.filter((r) => r.protocol === 'bird').map((r) => r.gateway);
  assert.equal(learned.length, 4);
  assert.deepEqual([...new Set(learned)].sort(), ['172.31.0.11', '172.31.0.12']);
  const protocols = await run([
    'ip',
    'netns',
    'exec',
    state.gateway!.netns,
    'birdc',
    '-s',
    state.gateway!.socket,
    'show',
    'protocols',
  ]);
  assert.match(protocols.stdout, /host1 +BGP .*Established/);
  assert.match(protocols.stdout, /host3 +BGP .*Established/);
}

function sameBlock(cidr: string, address: string): boolean {
  if (!cidr.includes('/')) return false;
  const [net, len] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  return (n(net!) & mask) >>> 0 === (n(address) & mask) >>> 0;
}

describe('lab: racks and an external router', { skip }, () => {
  it('racks 2×2 with --external-router: full matrix with the outside, no NAT from outside, reflectors and the gateway', async () => {
    await withAgentLab(
      {
        tag: 'br',
        hosts: 4,
        workloads: 1,
        topology: 'racks',
        racks: 2,
        hostsPerRack: 2,
        externalRouter: true,
        encap: 'none',
        agentArgs: ['--no-policy'],
      },
      async (lab) => {
        const report = await labPing(lab.ctx, lab.state.name);
        assert.ok(report.endpoints.some((e) => e.kind === 'outside'));
        assert.deepEqual(
          report.summary.failures.map((f) => `${f.from} -> ${f.to}`),
          [],
          'every pair reaches every other',
        );
        assert.equal(report.summary.expected, 72);
        await reflectorsAndGateway(lab);
        await outsideSeesNoNat(lab);
      },
    );
  });
});
