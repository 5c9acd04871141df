/**
 * Dataplane benchmark: iperf3 TCP throughput from a workload on one host to a
 * workload on another, over the path the agent programmed, beside the same
 * topology built by hand with `ip` commands in the same run, for both
 * unencapsulated and VXLAN routing; and the raw veth pair between two
 * namespaces as the physical limit.
 *
 *   agent      a lab (flat underlay, 2 hosts x 1 workload) with a host agent
 *              per host; the workloads made by the CNI plugin
 *   by hand    the same namespaces, veths, bridge, proxy ARP, /32 routes and
 *              host routes (or vxlan.calico with static neighbour and FDB
 *              entries), made with `ip` alone; no agent, no nftables
 *   raw veth   two namespaces joined by one veth pair
 *
 * Agent and hand-built runs alternate, ROUNDS times each: on a small,
 * shared machine throughput drifts, so the ratio (target >= 0.97) is the
 * median of each round's back-to-back pair. With --paused a third series
 * runs the agent's path with the agents stopped (SIGSTOP), to tell the
 * dataplane's own cost from the CPU the agent processes take from iperf3.
 *
 *   npm run bench -- dataplane [--seconds S] [--rounds N] [--paused] [--no-policy]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFromSources, agentHostProcess, waitForAgents } from '../src/lab/agents.js';
import { labDown, labUp, type LabContext } from '../src/lab/lab.js';
import type { Encap } from '../src/lab/plan.js';
import type { LabState } from '../src/lab/state.js';
import { run } from '../src/dataplane/ip.js';

interface Options {
  seconds: number;
  rounds: number;
  /** Also measure the agent's path with the agents paused. */
  paused: boolean;
  /** Agents without network policy: the cost of routing alone. */
  noPolicy: boolean;
}

function parseArgs(args: string[]): Options {
  const opts: Options = { seconds: 2, rounds: 9, paused: false, noPolicy: false };
  for (let i = 0; i < args.length; i++) {
    const v = Number(args[i + 1]);
    if (args[i] === '--paused') {
      opts.paused = true;
      continue;
    }
    if (args[i] === '--no-policy') {
      opts.noPolicy = true;
      continue;
    }
    if (args[i] === '--seconds' && v > 0) opts.seconds = v;
    else if (args[i] === '--rounds' && Number.isInteger(v) && v > 0) opts.rounds = v;
    else
      throw new Error(
        `usage: npm run bench -- dataplane [--seconds S] [--rounds N] [--paused] [--no-policy] (got ${args.join(' ')})`,
      );
    i++;
  }
  return opts;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** iperf3 from one namespace to an address served in another; Gbit/s received. */
async function iperf(
  clientNs: string,
  serverNs: string,
  address: string,
  seconds: number,
): Promise<number> {
  const server = spawn(
    'ip',
    ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '--forceflush', '-B', address],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`iperf3 server in ${serverNs} did not start: ${out}`)),
        5000,
      );
      server.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('Server listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.on('exit', () => reject(new Error(`iperf3 server exited: ${out}`)));
    });
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      clientNs,
      'iperf3',
      '-c',
      address,
      '-t',
      String(seconds),
      '-J',
    ]);
    const r = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
    return r.end.sum_received.bits_per_second / 1e9;
  } finally {
    server.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------
// The hand-built topology: what the lab and the agent make, with `ip` alone.

const HOST_MAC = 'ee:ee:ee:ee:ee:ee';

class HandBuilt {
  readonly prefix = `tzbh${randomBytes(2).toString('hex')}-`;
  private readonly made: string[] = [];
  readonly w1: string;
  readonly w2: string;
  readonly w2Address = '10.244.2.1';

  constructor(readonly encap: Encap) {
    this.w1 = `${this.prefix}w1`;
    this.w2 = `${this.prefix}w2`;
  }

  private async ns(name: string): Promise<string> {
    const full = `${this.prefix}${name}`;
    await run('ip', ['netns', 'add', full]);
    this.made.push(full);
    await run('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  private async batch(ns: string, lines: string[]): Promise<void> {
    await run('ip', ['-n', ns, '-batch', '-'], lines.join('\n') + '\n');
  }

  private async sysctl(ns: string, settings: string[]): Promise<void> {
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...settings]);
  }

  async build(): Promise<void> {
    const vxlan = this.encap === 'vxlan';
    const mtu = vxlan ? 1450 : 1500;
    const ul = await this.ns('ul');
    await this.batch(ul, [
      'link add br1 type bridge',
      'link set br1 up',
      'addr add 172.31.1.1/24 dev br1',
    ]);
    const hosts = [
      {
        i: 1,
        addr: '172.31.1.11',
        w: '10.244.1.1',
        block: '10.244.1.0/26',
        tun: '10.244.1.64',
        mac: '66:00:00:00:00:01',
      },
      {
        i: 2,
        addr: '172.31.1.12',
        w: '10.244.2.1',
        block: '10.244.2.0/26',
        tun: '10.244.2.64',
        mac: '66:00:00:00:00:02',
      },
    ];
    for (const h of hosts) {
      const hn = await this.ns(`h${h.i}`);
      const wn = await this.ns(`w${h.i}`);
      await this.sysctl(hn, [
        'net.ipv4.ip_forward=1',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
      ]);
      await this.batch(ul, [
        `link add host${h.i} type veth peer name eth0 netns ${hn}`,
        `link set host${h.i} master br1 up`,
      ]);
      await this.batch(hn, [
        `addr add ${h.addr}/24 dev eth0`,
        'link set eth0 up',
        'route add default via 172.31.1.1 dev eth0',
        `link add caliw${h.i} mtu ${mtu} address ${HOST_MAC} type veth peer name eth0 mtu ${mtu} netns ${wn}`,
        `link set caliw${h.i} up`,
        `route add ${h.w}/32 dev caliw${h.i} scope link`,
        `route add blackhole ${h.block}`,
      ]);
      await this.sysctl(hn, [
        `net.ipv4.conf.caliw${h.i}.proxy_arp=1`,
        `net.ipv4.neigh.caliw${h.i}.proxy_delay=0`,
        `net.ipv4.conf.caliw${h.i}.forwarding=1`,
      ]);
      await this.batch(wn, [
        `addr add ${h.w}/32 dev eth0`,
        'link set eth0 up',
        'route add 169.254.1.1 dev eth0 scope link',
        'route add default via 169.254.1.1 dev eth0',
      ]);
    }
    for (const h of hosts) {
      const peer = hosts.find((x) => x !== h)!;
      const hn = `${this.prefix}h${h.i}`;
      if (!vxlan) {
        await this.batch(hn, [`route add ${peer.block} via ${peer.addr}`]);
        continue;
      }
      await this.batch(hn, [
        `link add vxlan.calico address ${h.mac} mtu 1450 type vxlan id 4096 local ${h.addr} dev eth0 dstport 4789 nolearning`,
        'link set vxlan.calico up',
        `addr add ${h.tun}/32 dev vxlan.calico`,
        `neigh add ${peer.tun} lladdr ${peer.mac} dev vxlan.calico nud permanent`,
        `route add ${peer.block} via ${peer.tun} dev vxlan.calico onlink`,
      ]);
      await run('ip', [
        'netns',
        'exec',
        hn,
        'bridge',
        'fdb',
        'add',
        peer.mac,
        'dev',
        'vxlan.calico',
        'dst',
        peer.addr,
        'self',
        'permanent',
      ]);
    }
  }

  async destroy(): Promise<void> {
    for (const ns of [...this.made].reverse())
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

async function rawVeth(opts: Options): Promise<number> {
  const p = `tzbr${randomBytes(2).toString('hex')}-`;
  const a = `${p}a`;
  const b = `${p}b`;
  try {
    await run('ip', ['netns', 'add', a]);
    await run('ip', ['netns', 'add', b]);
    await run(
      'ip',
      ['-n', a, '-batch', '-'],
      [
        'link set lo up',
        `link add eth0 type veth peer name eth0 netns ${b}`,
        'addr add 10.99.0.1/24 dev eth0',
        'link set eth0 up',
        '',
      ].join('\n'),
    );
    await run(
      'ip',
      ['-n', b, '-batch', '-'],
      ['link set lo up', 'addr add 10.99.0.2/24 dev eth0', 'link set eth0 up', ''].join('\n'),
    );
    const xs: number[] = [];
    for (let i = 0; i < opts.rounds; i++) xs.push(await iperf(a, b, '10.99.0.2', opts.seconds));
    return median(xs);
  } finally {
    await run('ip', ['netns', 'del', a]).catch(() => undefined);
    await run('ip', ['netns', 'del', b]).catch(() => undefined);
  }
}

async function withAgentLab<T>(
  encap: Encap,
  agentArgs: string[],
  fn: (state: LabState) => Promise<T>,
): Promise<T> {
  const root = mkdtempSync(join(tmpdir(), 'tortie-bench-dp-'));
  const ctx: LabContext = { root };
  const name = `bd${randomBytes(3).toString('hex')}`;
  try {
    const state = await labUp(ctx, {
      name,
      hosts: 2,
      workloads: 1,
      topology: 'flat',
      encap,
      hostProcesses: [
        agentHostProcess({ root, command: agentFromSources(), extraArgs: agentArgs }),
      ],
    });
    await waitForAgents(state, { timeoutMs: 60_000 });
    // Until every route is in (VTEPs arrive a moment after readiness).
    const to = state.workloads.find((w) => w.host === 'host2')!;
    const from = state.workloads.find((w) => w.host === 'host1')!;
    for (let i = 0; i < 100; i++) {
      const ok = await run('ip', [
        'netns',
        'exec',
        from.netns,
        'ping',
        '-c1',
        '-W1',
        '-q',
        to.addresses[0]!.split('/')[0]!,
      ]).then(
        () => true,
        () => false,
      );
      if (ok) break;
    }
    return await fn(state);
  } finally {
    await labDown(ctx, name).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

export async function main(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const started = performance.now();
  console.log(
    `dataplane throughput: iperf3 TCP, ${opts.seconds} s per run, ${opts.rounds} rounds alternating agent and by hand; ` +
      `Gbit/s are medians, the ratio is the median of each round's agent/by-hand (2 cores, one kernel)`,
  );
  const rows: string[][] = [['path', 'Gbit/s', 'by hand', 'ratio', 'target >= 0.97']];
  const raw = await rawVeth(opts);
  for (const encap of ['none', 'vxlan'] as Encap[]) {
    const hand = new HandBuilt(encap);
    try {
      await hand.build();
      await withAgentLab(encap, opts.noPolicy ? ['--no-policy'] : [], async (state) => {
        const from = state.workloads.find((w) => w.host === 'host1')!;
        const to = state.workloads.find((w) => w.host === 'host2')!;
        const toAddress = to.addresses[0]!.split('/')[0]!;
        const agentRuns: number[] = [];
        const handRuns: number[] = [];
        const pausedRuns: number[] = [];
        const pids = state.processes.filter((p) => p.role === 'agent').map((p) => p.pid);
        for (let i = 0; i < opts.rounds; i++) {
          // Alternate, so that drift in the machine's load hits both sides alike.
          const series = opts.paused ? ['agent', 'hand', 'paused'] : ['agent', 'hand'];
          const order = i % 2 === 0 ? series : [...series].reverse();
          for (const which of order) {
            if (which === 'hand')
              handRuns.push(await iperf(hand.w1, hand.w2, hand.w2Address, opts.seconds));
            else if (which === 'agent')
              agentRuns.push(await iperf(from.netns, to.netns, toAddress, opts.seconds));
            else {
              for (const pid of pids) process.kill(pid, 'SIGSTOP');
              try {
                pausedRuns.push(await iperf(from.netns, to.netns, toAddress, opts.seconds));
              } finally {
                for (const pid of pids) process.kill(pid, 'SIGCONT');
              }
            }
          }
        }
        const a = median(agentRuns);
        const h = median(handRuns);
        // Each round's two runs ran back to back: their ratio is the least disturbed by drift.
        const ratio = median(agentRuns.map((x, i) => x / handRuns[i]!));
        const label = encap === 'none' ? 'unencapsulated' : 'VXLAN';
        rows.push([
          `workload -> workload, ${label} (agent)`,
          a.toFixed(2),
          h.toFixed(2),
          ratio.toFixed(3),
          ratio >= 0.97 ? 'met' : 'MISSED',
        ]);
        if (opts.paused) {
          const p = median(pausedRuns);
          rows.push([
            `  same, agents paused (diagnostic)`,
            p.toFixed(2),
            h.toFixed(2),
            median(pausedRuns.map((x, i) => x / handRuns[i]!)).toFixed(3),
            '',
          ]);
        }
        const list = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(' ');
        console.log(
          `  ${label}: agent ${list(agentRuns)} | by hand ${list(handRuns)}${opts.paused ? ` | agents paused ${list(pausedRuns)}` : ''}`,
        );
      });
    } finally {
      await hand.destroy();
    }
  }
  rows.push(['raw veth pair, two namespaces (physical limit)', raw.toFixed(2), '-', '-', '-']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log('');
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
}
