// Faults: the agent is killed during a continuous ping (nothing is lost, and
// the restarted agent changes nothing that was right); the datastore goes
// away for 30 s (traffic keeps flowing; on return the agents apply what
// changed meanwhile); routes deleted by hand come back.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitForAgents } from '../lab/agents.js';
import { run } from '../lab/exec.js';
import { labPing, labStartProcess } from '../lab/lab.js';
import { DatastoreGate, relayHostProcess } from '../lab/test-support/datastore-gate.js';
import {
  eventually,
  routesOf,
  settledRoutesOf,
  withAgentLab,
} from '../lab/test-support/agent-lab.js';
import { netnsPath } from '../lab/workloads.js';
import { netnsSkipReason } from '../dataplane/test-support/netns.js';
import { etcdSkipReason, startEtcd } from '../datastore/test-support/etcd-server.js';
import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import type { IPPoolSpec } from '../model/resource.js';

const skip = netnsSkipReason();

interface Pinger {
  stop(): Promise<{ sent: number; received: number; output: string }>;
}

/** `ping -i <interval>` from a namespace until stopped; reports sent and received. */
function startPing(netns: string, address: string, intervalSeconds: number): Pinger {
  const child: ChildProcess = spawn(
    'nsenter',
    [`--net=${netnsPath(netns)}`, 'ping', '-n', '-q', '-i', String(intervalSeconds), address],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    async stop() {
      child.kill('SIGINT');
      await exited;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
      return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output };
    },
  };
}

/** `ip -o monitor` in a namespace: what the kernel reports changing, line by line. */
function startMonitor(netns: string): { stop(): Promise<string[]> } {
  const child = spawn('ip', ['-n', netns, '-o', 'monitor', 'route', 'link', 'address', 'neigh'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return output.split('\n').filter((l) => l.trim() !== '');
    },
  };
}

/**
 * Changes the agent could have made: not the neighbour churn the kernel does
 * itself on eth0 and cali*, nor IPv6 link-local addresses finishing their
 * duplicate address detection.
 */
function agentChanges(lines: string[]): string[] {
  return lines.filter((l) => {
    const neighbour =
      /lladdr|FAILED|STALE|REACHABLE|DELAY|PROBE|INCOMPLETE/.test(l) && !l.includes('vxlan.calico');
    const linkLocal = /fe80:|proto kernel/.test(l);
    return !neighbour && !linkLocal;
  });
}

/** The agent's own nftables table in a host, with rule handles (to compare before and after). */
function tortieTable(netns: string) {
  return run(['ip', 'netns', 'exec', netns, 'nft', '-a', 'list', 'table', 'inet', 'tortie']);
}

describe('agent: faults', { skip }, () => {
  it('SIGKILL during a continuous ping: no packet lost; the restarted agent changes nothing that was right', async () => {
    await withAgentLab(
      { tag: 'fk', hosts: 2, workloads: 1, topology: 'two-subnets', encap: 'vxlan' },
      async (lab) => {
        const { state, ctx } = lab;
        const host1 = state.hosts[0]!;
        const from = state.workloads.find((w) => w.host === 'host1')!;
        const to = state.workloads.find((w) => w.host === 'host2')!;
        const routesBefore = await settledRoutesOf(host1.netns);
        const nftBefore = await tortieTable(host1.netns);

        const monitor = startMonitor(host1.netns);
        const ping = startPing(from.netns, to.addresses[0]!.split('/')[0]!, 0.01);
        await new Promise((r) => setTimeout(r, 500));

        const agent = state.processes.find((p) => p.role === 'agent' && p.host === 'host1')!;
        const killedAt = Date.now();
        process.kill(agent.pid, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 1000));
        await labStartProcess(ctx, state.name, {
          name: 'agent-host1-restarted',
          role: 'agent-restarted',
          node: 'host1',
          argv: agent.argv,
        });
        await waitForAgents(state, { since: killedAt, hosts: ['host1'], timeoutMs: 30_000 });
        // Past at least one periodic resync of the new agent (every 2 s).
        await new Promise((r) => setTimeout(r, 2500));

        const { sent, received, output } = await ping.stop();
        const changes = agentChanges(await monitor.stop());
        assert.ok(sent > 200, `ping ran (${output.trim().split('\n').pop()})`);
        assert.equal(
          received,
          sent,
          `no packet lost across the restart: ${output.trim().split('\n').slice(-2).join(' ')}`,
        );
        assert.deepEqual(changes, [], 'the restarted agent changed nothing in the kernel');
        assert.deepEqual(await routesOf(host1.netns), routesBefore);
        const nftAfter = await tortieTable(host1.netns);
        assert.equal(
          nftAfter.stdout,
          nftBefore.stdout,
          'the nftables table was not rewritten (same handles)',
        );
      },
    );
  });

  it('routes deleted by hand (a peer block, a workload /32) come back at the next resync', async () => {
    await withAgentLab(
      { tag: 'fr', hosts: 2, workloads: 1, topology: 'flat', encap: 'none', resyncInterval: 1 },
      async (lab) => {
        const host1 = lab.state.hosts[0]!;
        const peerBlock = (await routesOf(host1.netns)).find(
          (r) => r.gateway === lab.state.hosts[1]!.address,
        )!;
        assert.ok(peerBlock, "host1 has a route to host2's block");
        const local = lab.state.workloads.find((w) => w.host === 'host1')!;
        const workload = local.addresses[0]!.split('/')[0]!;
        await run(['ip', '-n', host1.netns, 'route', 'del', peerBlock.dst, 'proto', '80']);
        await run(['ip', '-n', host1.netns, 'route', 'del', `${workload}/32`, 'proto', '80']);
        const back = await eventually(async () => {
          const routes = await routesOf(host1.netns);
          return (
            routes.some((r) => r.dst === peerBlock.dst) &&
            routes.some((r) => r.dst === workload && r.dev?.startsWith('cali') === true)
          );
        }, 5000);
        assert.ok(back, `${peerBlock.dst} and ${workload}/32 were put back`);
      },
    );
  });

  it(
    'the datastore gone for 30 s: traffic keeps flowing; on return the agents apply what changed meanwhile',
    { skip: skip ?? etcdSkipReason(), timeout: 180_000 },
    async () => {
      const etcd = await startEtcd();
      const port = Number(new URL(etcd.endpoint).port);
      const gate = new DatastoreGate(
        join(process.env['TMPDIR'] ?? '/tmp', `tortie-gate-${process.pid}-${port}.sock`),
        {
          host: '127.0.0.1',
          port,
        },
      );
      try {
        await gate.start();
        await withAgentLab(
          {
            tag: 'fd',
            hosts: 2,
            workloads: 1,
            topology: 'flat',
            encap: 'none',
            datastore: etcd.url,
            before: [relayHostProcess(gate, port)],
          },
          async (lab) => {
            const { state } = lab;
            const from = state.workloads.find((w) => w.host === 'host1')!;
            const to = state.workloads.find((w) => w.host === 'host2')!;
            const ping = startPing(from.netns, to.addresses[0]!.split('/')[0]!, 0.05);

            gate.shut();
            const outageStart = Date.now();
            // Meanwhile: the pool switches to VXLAN (written straight to etcd).
            await new Promise((r) => setTimeout(r, 2000));
            const ds = await openDatastore(etcd.url);
            try {
              const store = new ResourceStore(ds);
              const pool = (await store.get<IPPoolSpec>('IPPool', state.pool.name))!;
              pool.spec!.vxlanMode = 'Always';
              await store.update(pool);
            } finally {
              await ds.close();
            }
            await new Promise((r) =>
              setTimeout(r, Math.max(0, 30_000 - (Date.now() - outageStart))),
            );
            const during = await ping.stop();
            const host1 = state.hosts[0]!;
            assert.ok(
              (await routesOf(host1.netns)).every((r) => r.dev !== 'vxlan.calico'),
              'nothing changed while the datastore was away',
            );
            gate.reopen();

            assert.ok(during.sent > 500, 'ping ran through the outage');
            assert.equal(
              during.received,
              during.sent,
              `traffic kept flowing: ${during.output.trim().split('\n').slice(-2).join(' ')}`,
            );

            const switched = await eventually(
              async () => {
                for (const h of state.hosts) {
                  const peer = state.hosts.find((x) => x !== h)!;
                  const routes = await routesOf(h.netns);
                  if (
                    !routes.some(
                      (r) =>
                        r.dev === 'vxlan.calico' &&
                        r.protocol === '80' &&
                        r.gateway !== peer.address,
                    )
                  )
                    return false;
                }
                return true;
              },
              60_000,
              250,
            );
            assert.ok(switched, 'after the outage every host routes its peer through VXLAN');
            const report = await labPing(lab.ctx, state.name);
            assert.deepEqual(
              report.summary.failures.map((f) => `${f.from} -> ${f.to}`),
              [],
            );
          },
        );
      } finally {
        await gate.close();
        await etcd.stop();
      }
    },
  );
});
