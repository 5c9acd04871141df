// The host agent in labs of three hosts with two workloads each, in every
// topology and encapsulation the issue names: every pair reaches every
// other; a workload added later is reachable from every host; a deleted one
// is gone from every routing table. The flat lab also proves NAT outgoing
// (a namespace standing for the outside world sees the host's address for a
// NAT pool and the workload's for a plain one) and the ipip error.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatNodeStatus } from '../cli/node.js';
import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import { run } from '../lab/exec.js';
import { labPing, labWorkloadAdd, labWorkloadDelete } from '../lab/lab.js';
import { countEchoRequests } from '../dataplane/test-support/nft-counters.js';
import type { Encap, Topology } from '../lab/plan.js';
import {
  eventually,
  pingFrom,
  routesOf,
  withAgentLab,
  type AgentLab,
} from '../lab/test-support/agent-lab.js';
import type { IPPoolSpec, NodeSpec } from '../model/resource.js';
import { netnsSkipReason } from '../dataplane/test-support/netns.js';
import { readStatuses } from './status.js';

const skip = netnsSkipReason();

async function fullMatrix(lab: AgentLab): Promise<void> {
  const report = await labPing(lab.ctx, lab.state.name);
  assert.equal(report.crossHostRouting, true);
  assert.deepEqual(
    report.summary.failures.map((f) => `${f.from} -> ${f.to}`),
    [],
    'every pair reaches every other',
  );
  assert.equal(report.summary.expected, 72);
}

async function addedAndDeleted(
  lab: AgentLab,
  expectDev: (dst: string, host: string) => RegExp,
): Promise<void> {
  const { ctx, state } = lab;
  const w = await labWorkloadAdd(ctx, state.name, 'late', { host: 'host3' });
  const address = w.addresses[0]!.split('/')[0]!;
  // Reachable from every host and from a workload on every host.
  const sources = [
    ...state.hosts.map((h) => h.netns),
    ...['host1-w1', 'host2-w1', 'host3-w1'].map(
      (n) => state.workloads.find((x) => x.name === n)!.netns,
    ),
  ];
  for (const from of sources) {
    assert.ok(
      await eventually(() => pingFrom(from, address), 10_000),
      `${from} reaches the new workload ${address}`,
    );
  }
  for (const host of state.hosts) {
    const routes = await routesOf(host.netns);
    const covering = routes.find(
      (r) => r.dst === address || (r.dst.includes('/') && sameBlock(r.dst, address)),
    );
    assert.ok(covering, `${host.name} has a route to ${address}`);
    if (host.name !== 'host3')
      assert.match(
        `${covering.dev ?? ''} ${covering.gateway ?? ''}`,
        expectDev(covering.dst, host.name),
      );
  }

  await labWorkloadDelete(ctx, state.name, 'late');
  for (const host of state.hosts) {
    assert.ok(
      await eventually(
        async () =>
          !(await routesOf(host.netns)).some((r) => r.dst === address || r.dst === `${address}/32`),
        10_000,
      ),
      `${address}/32 is gone from ${host.name}'s routing table`,
    );
  }
  assert.equal(
    await pingFrom(state.hosts[0]!.netns, address),
    false,
    'the deleted workload no longer answers',
  );
}

function sameBlock(cidr: string, address: string): boolean {
  const [net, len] = cidr.split('/');
  const toNum = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const bits = Number(len);
  if (bits === 0) return false;
  const mask = bits === 32 ? 0xffffffff : ~((1 << (32 - bits)) - 1) >>> 0;
  return (toNum(net!) & mask) >>> 0 === (toNum(address) & mask) >>> 0;
}

const CASES: {
  topology: Topology;
  encap: Encap;
  tag: string;
  expectDev: (dst: string, host: string) => RegExp;
}[] = [
  { topology: 'flat', encap: 'none', tag: 'rf', expectDev: () => /eth0 172\.31\.1\.13/ },
  { topology: 'two-subnets', encap: 'vxlan', tag: 'rv', expectDev: () => /vxlan\.calico/ },
  // host1 and host2 share segment 1; host3 is on segment 2: both reach it through VXLAN.
  { topology: 'two-subnets', encap: 'crosssubnet', tag: 'rc', expectDev: () => /vxlan\.calico/ },
];

describe('agent: reachability across hosts', { skip }, () => {
  for (const c of CASES) {
    it(`--topology ${c.topology} --encap ${c.encap}: full matrix, a late workload reachable everywhere, a deleted one gone`, async () => {
      await withAgentLab(
        { tag: c.tag, hosts: 3, workloads: 2, topology: c.topology, encap: c.encap },
        async (lab) => {
          await fullMatrix(lab);
          if (c.encap === 'crosssubnet') {
            // Same subnet: straight over the underlay; across subnets: VXLAN.
            const host1 = await routesOf(lab.state.hosts[0]!.netns);
            const host2Block = host1.find((r) => r.gateway === '172.31.1.12');
            assert.ok(
              host2Block && host2Block.dev === 'eth0',
              'host1 reaches host2 (same subnet) without encapsulation',
            );
            assert.ok(
              host1.some((r) => r.dev === 'vxlan.calico' && r.protocol === '80'),
              'host1 reaches host3 (other subnet) through VXLAN',
            );
          }
          await addedAndDeleted(lab, c.expectDev);
          if (c.encap === 'none') {
            await natOutgoing(lab);
            await ipipReported(lab);
          }
        },
      );
    });
  }
});

async function natOutgoing(lab: AgentLab): Promise<void> {
  const { ctx, state } = lab;
  const ds = await openDatastore(state.datastore.url);
  const outside = `tl-${state.name}-out`;
  try {
    const store = new ResourceStore(ds);
    // A plain pool for host2 only; the lab's NAT pool no longer for host2.
    await store.apply<IPPoolSpec>({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'plain' },
      spec: {
        cidr: '10.250.0.0/16',
        blockSize: 26,
        natOutgoing: false,
        vxlanMode: 'Never',
        ipipMode: 'Never',
        nodeSelector: "kubernetes.io/hostname == 'host2'",
      },
    });
    const labPool = (await store.get<IPPoolSpec>('IPPool', state.pool.name))!;
    labPool.spec!.nodeSelector = "kubernetes.io/hostname != 'host2'";
    await store.update(labPool);

    // The outside world: a namespace on the underlay that knows nothing of the pools
    // except, as an upstream router would learn it, that the plain pool lives behind host2.
    const ul = state.underlay[0]!;
    await run(['ip', 'netns', 'add', outside]);
    await run([
      'ip',
      '-n',
      ul.netns,
      'link',
      'add',
      'out0',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      outside,
    ]);
    await run(['ip', '-n', ul.netns, 'link', 'set', 'out0', 'master', ul.bridge, 'up']);
    await run(['ip', '-n', outside, '-batch', '-'], {
      input: [
        'link set lo up',
        'link set eth0 up',
        'addr add 172.31.1.200/24 dev eth0',
        'route add 10.250.0.0/16 via 172.31.1.12',
        '',
      ].join('\n'),
    });
    const counts = await countEchoRequests(outside, {
      host1: '172.31.1.11',
      natPool: '10.244.0.0/16',
      plainPool: '10.250.0.0/16',
    });

    const plain = await labWorkloadAdd(ctx, state.name, 'plainwl', { host: 'host2' });
    const plainAddress = plain.addresses[0]!.split('/')[0]!;
    assert.match(plainAddress, /^10\.250\./, 'the workload on host2 came from the plain pool');
    const natWorkload = state.workloads.find((w) => w.name === 'host1-w1')!;

    assert.ok(
      await eventually(() => pingFrom(natWorkload.netns, '172.31.1.200'), 10_000),
      'a NAT-pool workload reaches the outside',
    );
    assert.ok(
      await eventually(() => pingFrom(plain.netns, '172.31.1.200'), 10_000),
      'a plain-pool workload reaches the outside',
    );
    const seen = await counts();
    assert.ok(
      seen['host1']! >= 1,
      `the outside saw host1's address for the NAT pool (${JSON.stringify(seen)})`,
    );
    assert.equal(seen['natPool'], 0, 'and never a NAT-pool address');
    assert.ok(seen['plainPool']! >= 1, "the outside saw the plain-pool workload's own address");

    // Between pools nothing is masqueraded: host2-w1 sees host1-w1's own address.
    const target = state.workloads.find((w) => w.name === 'host2-w1')!;
    const from = natWorkload.addresses[0]!.split('/')[0]!;
    const inside = await countEchoRequests(target.netns, { peer: `${from}/32` });
    assert.ok(await pingFrom(natWorkload.netns, target.addresses[0]!.split('/')[0]!));
    assert.ok(
      (await inside())['peer']! >= 1,
      'workload-to-workload traffic keeps its source address',
    );
    await labWorkloadDelete(ctx, state.name, 'plainwl');
  } finally {
    await run(['ip', 'netns', 'del', outside], { check: false });
    await ds.close();
  }
}

async function ipipReported(lab: AgentLab): Promise<void> {
  const ds = await openDatastore(lab.state.datastore.url);
  try {
    const store = new ResourceStore(ds);
    await store.apply<IPPoolSpec>({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'ipip' },
      spec: {
        cidr: '10.251.0.0/16',
        ipipMode: 'Always',
        vxlanMode: 'Never',
        nodeSelector: "kubernetes.io/hostname == 'host1'",
      },
    });
    let text = '';
    const reported = await eventually(async () => {
      const statuses = await readStatuses(ds);
      const nodes = (await store.list<NodeSpec>('Node')).map((n) => ({
        name: n.metadata.name,
        address: n.spec?.bgp?.ipv4Address,
      }));
      text = formatNodeStatus(nodes, statuses);
      return (
        statuses
          .find((s) => s.node === 'host1')
          ?.problems.some((p) => p.kind === 'ipip-unsupported') ?? false
      );
    }, 10_000);
    assert.ok(reported, `host1 reports the ipip pool:\n${text}`);
    assert.match(
      text,
      /host1: error ipip-unsupported: IPPool ipip has ipipMode Always, but this kernel cannot make ipip devices/,
    );
    assert.doesNotMatch(text, /host2: error ipip/, "only the pool's hosts report it");
    await store.delete('IPPool', 'ipip');
  } finally {
    await ds.close();
  }
}
