// BGP between host agents in a flat lab of three hosts (`lab up --bgp`):
// the full mesh comes up, the hosts route to each other's workloads with
// routes learned over BGP (and none programmed directly), a pool's
// disableBGPExport withdraws its blocks from every other host's kernel, and
// an agent killed with SIGKILL and restarted during a continuous ping loses
// no packet: its peers keep its routes, it keeps its own (graceful restart).
//
// The agents run with --no-policy: these tests are about routing, and the
// default policy (defaultEndpointToHostAction Drop) would drop the
// workload-to-own-host pairs of the matrix.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatNodeStatus } from '../cli/node.js';
import { netnsSkipReason } from '../dataplane/test-support/netns.js';
import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import { labPing, labStartProcess } from '../lab/lab.js';
import {
  eventually,
  pingFrom,
  routesOf,
  withAgentLab,
  type AgentLab,
} from '../lab/test-support/agent-lab.js';
import { netnsPath } from '../lab/workloads.js';
import type { IPPoolSpec } from '../model/resource.js';
import { readStatuses } from './status.js';

const skip = netnsSkipReason();

function blockOf(address: string): string {
  const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number];
  return `${a}.${b}.${c}.${d & 0xc0}/26`;
}

/** `ip monitor route` in a namespace, collecting lines until stopped. */
function monitor(netns: string): { lines: string[]; stop: () => void } {
  const child = spawn('ip', ['-n', netns, 'monitor', 'route'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines: string[] = [];
  let buf = '';
  child.stdout.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return { lines, stop: () => child.kill('SIGKILL') };
}

async function setExport(lab: AgentLab, disable: boolean): Promise<void> {
  const ds = await openDatastore(lab.state.datastore.url);
  try {
    const store = new ResourceStore(ds);
    const pool = (await store.get<IPPoolSpec>('IPPool', lab.state.pool.name))!;
    pool.spec!.disableBGPExport = disable;
    await store.update(pool);
  } finally {
    await ds.close();
  }
}

async function meshAndMatrix(lab: AgentLab): Promise<void> {
  const report = await labPing(lab.ctx, lab.state.name);
  assert.deepEqual(
    report.summary.failures.map((f) => `${f.from} -> ${f.to}`),
    [],
    'every pair reaches every other',
  );
  assert.equal(report.summary.expected, 30);

  const ds = await openDatastore(lab.state.datastore.url);
  try {
    const statuses = await readStatuses(ds);
    for (const s of statuses) {
      assert.ok(s.bgp?.running, `${s.node} runs a speaker`);
      assert.deepEqual(
        s.bgp.peers.map((p) => [p.type, p.state]),
        [
          ['mesh', 'Established'],
          ['mesh', 'Established'],
        ],
        `${s.node}'s mesh`,
      );
      assert.equal(s.bgp.asn, 64512);
    }
    // Calico's rule: passive towards the lexically greater address.
    const host1 = statuses.find((s) => s.node === 'host1')!;
    assert.deepEqual(
      host1.bgp!.peers.map((p) => p.passive),
      [true, true],
    );
    const text = formatNodeStatus([], statuses);
    assert.match(text, /172\.31\.1\.12 +\| node-to-node mesh \| up +\| [\d:]+ \| Established/);
    assert.match(text, /IPv4 routes learned \(2\), 1 originated/);
  } finally {
    await ds.close();
  }

  // Routes to the other hosts' blocks are learned (proto 80, via the peer),
  // exactly one per block: none programmed directly beside them.
  const host1Routes = await routesOf(lab.state.hosts[0]!.netns);
  for (const w of lab.state.workloads.filter((x) => x.host !== 'host1')) {
    const block = blockOf(w.addresses[0]!.split('/')[0]!);
    const peer = lab.state.hosts.find((h) => h.name === w.host)!.address;
    const r = host1Routes.filter((x) => x.dst === block);
    assert.equal(r.length, 1, `one route to ${block}`);
    assert.equal(r[0]!.gateway, peer);
    assert.equal(r[0]!.protocol, '80');
  }
}

async function disableExport(lab: AgentLab): Promise<void> {
  const { state } = lab;
  const w2 = state.workloads.find((w) => w.host === 'host2')!;
  const address = w2.addresses[0]!.split('/')[0]!;
  const block = blockOf(address);
  const others = state.hosts.filter((h) => h.name !== 'host2');
  await setExport(lab, true);
  for (const h of others) {
    assert.ok(
      await eventually(async () => !(await routesOf(h.netns)).some((r) => r.dst === block), 15_000),
      `${block} withdrawn from ${h.name}'s kernel`,
    );
  }
  assert.equal(await pingFrom(state.hosts[0]!.netns, address), false);
  await setExport(lab, false);
  for (const h of others) {
    assert.ok(
      await eventually(async () => (await routesOf(h.netns)).some((r) => r.dst === block), 15_000),
      `${block} back in ${h.name}'s kernel`,
    );
  }
  assert.ok(await eventually(() => pingFrom(state.hosts[0]!.netns, address), 10_000));
}

async function gracefulRestart(lab: AgentLab): Promise<void> {
  const { ctx, state } = lab;
  const w1 = state.workloads.find((w) => w.host === 'host1')!;
  const w2 = state.workloads.find((w) => w.host === 'host2')!;
  const target = w2.addresses[0]!.split('/')[0]!;
  const host2Block = blockOf(target);
  const host1 = state.hosts.find((h) => h.name === 'host1')!;
  const host2 = state.hosts.find((h) => h.name === 'host2')!;
  const watch1 = monitor(host1.netns);
  const watch2 = monitor(host2.netns);
  let ping: ChildProcess | undefined;
  try {
    ping = spawn('nsenter', [`--net=${netnsPath(w1.netns)}`, 'ping', '-n', '-i', '0.1', target], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    ping.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise((r) => setTimeout(r, 1500));

    const agent = state.processes.find((p) => p.role === 'agent' && p.host === 'host2')!;
    process.kill(agent.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    const restarted = await labStartProcess(ctx, state.name, {
      name: 'agent-host2-restarted',
      role: 'agent-restarted',
      node: 'host2',
      argv: agent.argv,
    });
    const done = await eventually(
      async () => /graceful restart complete/.test(readFileSync(restarted.log, 'utf8')),
      60_000,
      200,
    );
    assert.ok(done, 'the restarted agent completed its graceful restart');
    const log = readFileSync(restarted.log, 'utf8');
    assert.match(log, /"restarting":true/, 'it restarted with the R bit');
    assert.match(log, /"routesReplaced":0,"routesDeleted":0/, 'its first apply changed nothing');
    await new Promise((r) => setTimeout(r, 1500));

    const closed = new Promise((r) => ping!.once('close', r));
    ping.kill('SIGINT');
    await closed;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    assert.ok(m, `ping statistics: ${out.slice(-300)}`);
    const [sent, received] = [Number(m[1]), Number(m[2])];
    assert.ok(sent > 30, `${sent} pings sent`);
    assert.equal(received, sent, `no ping lost across the restart (${received}/${sent})`);
  } finally {
    ping?.kill('SIGKILL');
    watch1.stop();
    watch2.stop();
  }
  const deleted1 = watch1.lines.filter((l) => l.startsWith('Deleted') && l.includes(host2Block));
  assert.deepEqual(deleted1, [], `host1 kept its route to ${host2Block}`);
  const deleted2 = watch2.lines.filter((l) => l.startsWith('Deleted') && l.includes('proto 80'));
  assert.deepEqual(deleted2, [], 'host2 kept its routes');
}

describe('agent: BGP full mesh', { skip }, () => {
  it('flat --bgp, 3 hosts: mesh, full matrix, learned routes, disableBGPExport withdraws, graceful restart loses no ping', async () => {
    await withAgentLab(
      {
        tag: 'bm',
        hosts: 3,
        workloads: 1,
        topology: 'flat',
        encap: 'none',
        bgp: true,
        agentArgs: ['--no-policy'],
      },
      async (lab) => {
        await meshAndMatrix(lab);
        await disableExport(lab);
        await gracefulRestart(lab);
      },
    );
  });
});
