/**
 * BGP convergence benchmark, on a lab of 12 hosts with an agent each:
 * the time from a block claimed on one host (IPAM, in the datastore) to its
 * route in every other host's kernel.
 *
 *   direct         no BGP: every agent sees the block in the datastore and
 *                  programs the route itself (the host agent issue's mode),
 *                  the reference
 *   full mesh      flat lab, BGPConfiguration written: the claiming host's
 *                  agent originates the block, its peers learn and program it
 *   reflectors     racks lab (3 racks × 4 hosts): client → its rack's
 *                  reflector (iBGP) → the other reflectors (eBGP) → their
 *                  clients; up to three BGP hops
 *
 * One sample: a /26 block claimed for host k (a pool of its own, 64
 * addresses, so every sample claims a fresh block; the claiming host
 * rotates), t0 just before the claim; `ip -ts monitor route` in every other
 * host's namespace gives the kernel time each added the route. "all hosts"
 * is when the last one had it; "per host" is every host's own latency.
 * Direct and full mesh run in the same lab (BGP switched on between them),
 * all three in one run, so the ratios compare like with like on a shared
 * machine. Agents run with --no-policy (routing only).
 *
 *   npm run bench -- bgp-convergence [--samples N] [--racks R] [--hosts-per-rack H]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  agentFromSources,
  agentHostProcess,
  waitForAgents,
  waitForBgp,
} from '../src/lab/agents.js';
import { labDown, labUp, type LabContext } from '../src/lab/lab.js';
import type { LabState } from '../src/lab/state.js';
import { openDatastore } from '../src/datastore/open.js';
import { ResourceStore } from '../src/datastore/resources.js';
import { Ipam } from '../src/ipam/allocator.js';
import type { BGPConfigurationSpec, IPPoolSpec } from '../src/model/resource.js';

interface Options {
  samples: number;
  racks: number;
  hostsPerRack: number;
}

function parseArgs(args: string[]): Options {
  const opts: Options = { samples: 30, racks: 3, hostsPerRack: 4 };
  for (let i = 0; i < args.length; i += 2) {
    const v = Number(args[i + 1]);
    const ok = Number.isInteger(v) && v > 0;
    if (args[i] === '--samples' && ok) opts.samples = v;
    else if (args[i] === '--racks' && ok) opts.racks = v;
    else if (args[i] === '--hosts-per-rack' && ok) opts.hostsPerRack = v;
    else
      throw new Error(
        `usage: npm run bench -- bgp-convergence [--samples N] [--racks R] [--hosts-per-rack H] (got ${args.join(' ')})`,
      );
  }
  return opts;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

const BENCH_POOL = 'bench-blocks';
const BENCH_CIDR = '10.249.0.0/16';

/** `ip -ts monitor route` in every host: when each added a route of ours, by destination. */
class RouteWatch {
  private readonly children: ChildProcess[] = [];
  /** dst → host → epoch ms. */
  readonly seen = new Map<string, Map<string, number>>();
  private waiters: (() => void)[] = [];

  constructor(state: LabState) {
    for (const host of state.hosts) {
      const child = spawn('ip', ['-n', host.netns, '-ts', 'monitor', 'route'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      this.children.push(child);
      let buf = '';
      child.stdout!.on('data', (b: Buffer) => {
        buf += b.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const line of lines) {
          const m = /^\[([^\]]+)\] (10\.249\.\d+\.\d+\/\d+) .*proto 80/.exec(line);
          if (!m) continue;
          const at = Date.parse(m[1]!);
          let per = this.seen.get(m[2]!);
          if (!per) this.seen.set(m[2]!, (per = new Map()));
          if (!per.has(host.name)) per.set(host.name, at);
        }
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
      });
    }
  }

  async until(dst: string, hosts: string[], timeoutMs: number): Promise<Map<string, number>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const per = this.seen.get(dst);
      if (per && hosts.every((h) => per.has(h))) return per;
      if (Date.now() > deadline)
        throw new Error(
          `${dst}: only ${[...(per?.keys() ?? [])].join(', ') || 'no host'} of ${hosts.length} hosts programmed it within ${timeoutMs} ms`,
        );
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  stop(): void {
    for (const c of this.children) c.kill('SIGKILL');
  }
}

interface Result {
  mode: string;
  hosts: number;
  all: number[];
  perHost: number[];
}

async function measure(mode: string, state: LabState, samples: number): Promise<Result> {
  const ds = await openDatastore(state.datastore.url);
  const watch = new RouteWatch(state);
  const all: number[] = [];
  const perHost: number[] = [];
  try {
    await new Promise((r) => setTimeout(r, 500)); // monitors listening
    const ipam = new Ipam(ds);
    for (let i = 0; i < samples; i++) {
      const claimer = state.hosts[i % state.hosts.length]!;
      const others = state.hosts.filter((h) => h !== claimer).map((h) => h.name);
      const t0 = Date.now();
      const got = await ipam.autoAssign({
        handle: `bench-${mode.replace(/\W/g, '')}-${i}`,
        node: claimer.name,
        num4: 64,
        pools4: [BENCH_POOL],
      });
      const first = got.ipv4[0]!.split('/')[0]!.split('.').map(Number);
      const block = `${first[0]}.${first[1]}.${first[2]}.${first[3]! & 0xc0}/26`;
      const per = await watch.until(block, others, 30_000);
      const lat = others.map((h) => Math.max(0, per.get(h)! - t0));
      perHost.push(...lat);
      all.push(Math.max(...lat));
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    watch.stop();
    await ds.close();
  }
  return { mode, hosts: state.hosts.length, all, perHost };
}

async function benchPool(state: LabState): Promise<void> {
  const ds = await openDatastore(state.datastore.url);
  try {
    await new ResourceStore(ds).apply<IPPoolSpec>({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: BENCH_POOL },
      spec: {
        cidr: BENCH_CIDR,
        blockSize: 26,
        ipipMode: 'Never',
        vxlanMode: 'Never',
        nodeSelector: '!all()',
      },
    });
  } finally {
    await ds.close();
  }
}

async function enableMesh(state: LabState): Promise<void> {
  const ds = await openDatastore(state.datastore.url);
  try {
    await new ResourceStore(ds).apply<BGPConfigurationSpec>({
      apiVersion: 'projectcalico.org/v3',
      kind: 'BGPConfiguration',
      metadata: { name: 'default' },
      spec: { asNumber: 64512, nodeToNodeMeshEnabled: true, bindMode: 'NodeIP' },
    });
  } finally {
    await ds.close();
  }
}

export async function main(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const hosts = opts.racks * opts.hostsPerRack;
  const started = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'tortie-bench-bgpc-'));
  const ctx: LabContext = { root };
  const agents = agentHostProcess({
    root,
    command: agentFromSources(),
    resyncInterval: 30,
    extraArgs: ['--no-policy'],
  });
  const results: Result[] = [];
  const loads: number[] = [];
  const flat = `bgf${randomBytes(3).toString('hex')}`;
  const racks = `bgr${randomBytes(3).toString('hex')}`;
  try {
    {
      const state = await labUp(ctx, {
        name: flat,
        hosts,
        workloads: 0,
        topology: 'flat',
        encap: 'none',
        hostProcesses: [agents],
      });
      await waitForAgents(state, { timeoutMs: 180_000 });
      await benchPool(state);
      await new Promise((r) => setTimeout(r, 2000));
      loads.push(loadavg()[0]!);
      results.push(await measure('direct', state, opts.samples));
      await enableMesh(state);
      await waitForBgp({ ...state, bgp: true }, { timeoutMs: 180_000 });
      await new Promise((r) => setTimeout(r, 2000));
      loads.push(loadavg()[0]!);
      results.push(await measure('full mesh', state, opts.samples));
      await labDown(ctx, flat);
    }
    {
      const state = await labUp(ctx, {
        name: racks,
        hosts,
        workloads: 0,
        topology: 'racks',
        racks: opts.racks,
        hostsPerRack: opts.hostsPerRack,
        encap: 'none',
        hostProcesses: [agents],
      });
      await waitForAgents(state, { timeoutMs: 180_000 });
      await waitForBgp(state, { timeoutMs: 180_000 });
      await benchPool(state);
      await new Promise((r) => setTimeout(r, 2000));
      loads.push(loadavg()[0]!);
      results.push(
        await measure(
          `reflectors (${opts.racks} racks × ${opts.hostsPerRack})`,
          state,
          opts.samples,
        ),
      );
    }
  } finally {
    for (const lab of [flat, racks])
      await labDown(ctx, lab).catch((err: Error) => console.error(`lab down: ${err.message}`));
    rmSync(root, { recursive: true, force: true });
  }

  const reference = percentile(results[0]!.all, 50);
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  console.log(
    `bgp-convergence: block claimed on one host → its route in every other host's kernel (${hosts} hosts, ${opts.samples} samples each, 2 cores, load average ${loads.map((l) => l.toFixed(1)).join(' / ')})`,
  );
  console.log('');
  console.log(
    '| mode | hosts | all hosts p50 | all hosts p95 | all hosts max | per host p50 | per host p95 | p50 vs direct | target p50 ≤ 300 ms |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results) {
    const p50 = percentile(r.all, 50);
    console.log(
      `| ${r.mode} | ${r.hosts} | ${ms(p50)} | ${ms(percentile(r.all, 95))} | ${ms(Math.max(...r.all))} | ${ms(percentile(r.perHost, 50))} | ${ms(percentile(r.perHost, 95))} | ${(p50 / Math.max(1, reference)).toFixed(2)}× | ${r.mode === 'direct' ? 'reference' : p50 <= 300 ? 'met' : 'MISSED'} |`,
    );
  }
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
