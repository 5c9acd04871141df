/**
 * Convergence benchmark, on a lab of two hosts with a host agent each
 * (flat underlay, no encapsulation):
 *
 *   new workload, host owns a block   time from the CNI ADD returning on host2
 *                                     to the first ping reply from it, seen
 *                                     from a workload on host1; WORKLOADS
 *                                     samples, p50/p95 (target p50 <= 50 ms)
 *   new workload, new block each      the same with a pool of /32 blocks, so
 *                                     that every workload needs a new route
 *                                     on host1 (datastore -> agent -> kernel)
 *   measurement floor                 the same probe against a workload that
 *                                     already answers: the cost of starting
 *                                     ping in a namespace, included above
 *   full resync, 1,000 workloads      1,000 workloads on one host (veths,
 *                                     /32 routes, IPAM, WorkloadEndpoints);
 *                                     the agent's periodic resync with nothing
 *                                     to change, a resync that restores every
 *                                     route after they were deleted by hand,
 *                                     and a restarted agent's start to ready
 *
 * The probe: after ADD returns (t0), `ping -D -i 0.002` starts in host1's
 * workload namespace; the first reply's kernel timestamp minus t0 is the
 * sample.
 *
 *   npm run bench -- convergence [--workloads N] [--bulk N]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFromSources, agentHostProcess, waitForAgents } from '../src/lab/agents.js';
import { labDown, labStartProcess, labUp, type LabContext } from '../src/lab/lab.js';
import type { LabState, LabWorkload } from '../src/lab/state.js';
import { addWorkload, netnsPath } from '../src/lab/workloads.js';
import { run } from '../src/dataplane/ip.js';
import { openDatastore } from '../src/datastore/open.js';
import { ResourceStore } from '../src/datastore/resources.js';
import { Ipam } from '../src/ipam/allocator.js';
import type { IPPoolSpec, WorkloadEndpointSpec } from '../src/model/resource.js';

interface Options {
  workloads: number;
  bulk: number;
}

function parseArgs(args: string[]): Options {
  const opts: Options = { workloads: 50, bulk: 1000 };
  for (let i = 0; i < args.length; i += 2) {
    const v = Number(args[i + 1]);
    if (args[i] === '--workloads' && Number.isInteger(v) && v > 0) opts.workloads = v;
    else if (args[i] === '--bulk' && Number.isInteger(v) && v > 0 && v <= 4000) opts.bulk = v;
    else
      throw new Error(
        `usage: npm run bench -- convergence [--workloads N] [--bulk N] (got ${args.join(' ')})`,
      );
  }
  return opts;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** Pings from a namespace until the first reply; resolves to its kernel timestamp (epoch ms). */
function firstReply(netns: string, address: string, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'nsenter',
      [`--net=${netnsPath(netns)}`, 'ping', '-n', '-D', '-i', '0.002', '-W', '1', address],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    let buf = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no reply from ${address} within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      const m = /\[(\d+\.\d+)\] \d+ bytes from/.exec(buf);
      if (m) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve(Number(m[1]) * 1000);
      }
    });
  });
}

async function probeAfterAdd(state: LabState, prober: LabWorkload, name: string): Promise<number> {
  const w = await addWorkload(state, { name, host: 'host2', namespace: 'default', labels: {} });
  const t0 = Date.now();
  state.workloads.push(w);
  const reply = await firstReply(prober.netns, w.addresses[0]!.split('/')[0]!);
  return Math.max(0, reply - t0);
}

function summary(label: string, xs: number[], target?: string): string {
  return `${label.padEnd(44)} p50 ${fmt(percentile(xs, 50)).padStart(9)}  p95 ${fmt(percentile(xs, 95)).padStart(9)}  max ${fmt(Math.max(...xs)).padStart(9)}  (n=${xs.length})${target ? `  ${target}` : ''}`;
}

interface AgentLogLine {
  time: number;
  msg: string;
  kind?: string;
  durationMs?: number;
  routesReplaced?: number;
  routes?: number;
  endpoints?: number;
  pid?: number;
}

function agentLog(path: string): AgentLogLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as AgentLogLine];
      } catch {
        return [];
      }
    });
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Makes `n` workloads on host1 straight away: IPAM, veths with /32 routes (peers in one namespace), WorkloadEndpoints. */
async function bulkWorkloads(state: LabState, n: number): Promise<void> {
  const host1 = state.hosts[0]!;
  const shared = `tl-${state.name}-w-bulk`;
  await run('ip', ['netns', 'add', shared]);
  const ds = await openDatastore(state.datastore.url);
  try {
    const ipam = new Ipam(ds);
    const got = await ipam.autoAssign({ handle: 'bench-bulk', node: host1.name, num4: n });
    const addresses = got.ipv4.map((a) => a.split('/')[0]!);
    const lines: string[] = [];
    addresses.forEach((a, i) => {
      const iface = `calib${String(i).padStart(6, '0')}`;
      lines.push(
        `link add ${iface} address ee:ee:ee:ee:ee:ee type veth peer name wb${String(i).padStart(6, '0')} netns ${shared}`,
      );
      lines.push(`link set ${iface} up`);
      lines.push(`route replace ${a}/32 dev ${iface} scope link proto 80`);
    });
    await run('ip', ['-n', host1.netns, '-batch', '-'], lines.join('\n') + '\n');
    const store = new ResourceStore(ds);
    for (let i = 0; i < addresses.length; i++) {
      await store.create<WorkloadEndpointSpec>({
        apiVersion: 'projectcalico.org/v3',
        kind: 'WorkloadEndpoint',
        metadata: { name: `bulk-${i}`, namespace: 'default' },
        spec: {
          node: host1.name,
          interfaceName: `calib${String(i).padStart(6, '0')}`,
          ipNetworks: [`${addresses[i]}/32`],
          orchestrator: 'k8s',
          endpoint: 'eth0',
        },
      });
    }
  } finally {
    await ds.close();
  }
}

export async function main(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const started = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'tortie-bench-conv-'));
  const ctx: LabContext = { root };
  const name = `bc${randomBytes(3).toString('hex')}`;
  const lines: string[] = [];
  try {
    const state = await labUp(ctx, {
      name,
      hosts: 2,
      workloads: 1,
      topology: 'flat',
      encap: 'none',
      hostProcesses: [agentHostProcess({ root, command: agentFromSources(), resyncInterval: 2 })],
    });
    await waitForAgents(state, { timeoutMs: 60_000 });
    const prober = state.workloads.find((w) => w.host === 'host1')!;
    const target = state.workloads.find((w) => w.host === 'host2')!;
    await firstReply(prober.netns, target.addresses[0]!.split('/')[0]!, 10_000);

    // The floor: the probe against a workload that already answers.
    const floor: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      floor.push((await firstReply(prober.netns, target.addresses[0]!.split('/')[0]!)) - t0);
    }

    const owned: number[] = [];
    for (let i = 0; i < opts.workloads; i++)
      owned.push(await probeAfterAdd(state, prober, `cv-${i}`));

    // Every workload in a block of its own: host1's agent must add a route for each.
    const ds = await openDatastore(state.datastore.url);
    try {
      const store = new ResourceStore(ds);
      await store.apply<IPPoolSpec>({
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name: 'one-per-block' },
        spec: {
          cidr: '10.248.0.0/16',
          blockSize: 32,
          nodeSelector: "kubernetes.io/hostname == 'host2'",
          vxlanMode: 'Never',
          ipipMode: 'Never',
        },
      });
      const labPool = (await store.get<IPPoolSpec>('IPPool', state.pool.name))!;
      labPool.spec!.nodeSelector = "kubernetes.io/hostname != 'host2'";
      await store.update(labPool);
    } finally {
      await ds.close();
    }
    const fresh: number[] = [];
    for (let i = 0; i < Math.min(opts.workloads, 30); i++)
      fresh.push(await probeAfterAdd(state, prober, `nb-${i}`));

    lines.push(
      summary(
        'new workload, host already owns a block',
        owned,
        percentile(owned, 50) <= 50 ? 'target p50 <= 50 ms: met' : 'target p50 <= 50 ms: MISSED',
      ),
    );
    lines.push(summary('new workload, each in a new block', fresh));
    lines.push(summary('measurement floor (probe of a live workload)', floor));

    // Full resync with many workloads on host1.
    const agent1 = state.processes.find((p) => p.role === 'agent' && p.host === 'host1')!;
    const t = Date.now();
    await bulkWorkloads(state, opts.bulk);
    const madeMs = Date.now() - t;
    const steady = await waitFor('steady resyncs with every workload', () => {
      const rs = agentLog(agent1.log).filter(
        (l) =>
          l.msg === 'resync complete' &&
          l.time > t &&
          (l.endpoints ?? 0) >= opts.bulk &&
          l.routesReplaced === 0,
      );
      return rs.length >= 5 ? rs.slice(-5) : undefined;
    });
    const steadyMs = steady.map((l) => l.durationMs!);
    // Delete every bulk route by hand; the next resync puts them back.
    const routes = JSON.parse(
      (await run('ip', ['-n', state.hosts[0]!.netns, '-json', 'route', 'show', 'proto', '80']))
        .stdout,
    ) as { dst: string; dev?: string }[];
    const bulk = routes.filter((r) => r.dev?.startsWith('calib'));
    const deletedAt = Date.now();
    await run(
      'ip',
      ['-n', state.hosts[0]!.netns, '-batch', '-'],
      bulk.map((r) => `route del ${r.dst} proto 80`).join('\n') + '\n',
    );
    const repair = await waitFor('the repairing resync', () =>
      agentLog(agent1.log).find(
        (l) =>
          l.msg === 'resync complete' &&
          l.time > deletedAt &&
          (l.routesReplaced ?? 0) >= bulk.length,
      ),
    );
    const after = JSON.parse(
      (await run('ip', ['-n', state.hosts[0]!.netns, '-json', 'route', 'show', 'proto', '80']))
        .stdout,
    ) as unknown[];
    // A restarted agent over 1,000 workloads: from its start to ready.
    process.kill(agent1.pid, 'SIGKILL');
    const restartAt = Date.now();
    const restarted = await labStartProcess(ctx, name, {
      name: 'agent-host1-restarted',
      role: 'agent-restarted',
      node: 'host1',
      argv: agent1.argv,
    });
    const ready = await waitFor('the restarted agent', () =>
      agentLog(restarted.log).find((l) => l.msg === 'dataplane programmed; ready'),
    );
    const startLine = agentLog(restarted.log).find((l) => l.msg === 'tortie agent starting');

    lines.push('');
    lines.push(
      `${opts.bulk} workloads on host1 (made in ${(madeMs / 1000).toFixed(1)} s), agent resync every 2 s:`,
    );
    lines.push(
      `  periodic resync, nothing to change       p50 ${fmt(percentile(steadyMs, 50))}  max ${fmt(Math.max(...steadyMs))}  (n=${steadyMs.length})`,
    );
    lines.push(
      `  resync restoring ${bulk.length} deleted routes     ${fmt(repair.durationMs!)}  (${repair.routesReplaced} replaced; back ${repair.time - deletedAt} ms after the deletion; ${after.length} routes of proto 80 now)`,
    );
    lines.push(
      `  restarted agent: start to ready           ${ready.time - (startLine?.time ?? restartAt)} ms (process start ${startLine ? startLine.time - restartAt : '?'} ms after SIGKILL; first apply ${fmt(ready.durationMs!)}, ${ready.routesReplaced} routes replaced)`,
    );
  } finally {
    await labDown(ctx, name).catch((err: Error) => console.error(`lab down: ${err.message}`));
    rmSync(root, { recursive: true, force: true });
  }
  console.log('convergence (flat underlay, no encapsulation, 2 hosts with an agent each, 2 cores)');
  for (const l of lines) console.log(l);
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
