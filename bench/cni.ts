/**
 * CNI benchmark: ADD and DEL latency of the real plugin executables, beside
 * the reference `bridge` + `host-local` plugins (Debian's
 * containernetworking-plugins) on the same machine in the same run.
 *
 *   reference        /usr/lib/cni/bridge, ipam host-local
 *   tortie standalone bin/tortie-cni, no agent: Node starts, opens SQLite,
 *                     does the work in-process
 *   tortie agent/node bin/tortie-cni, the agent-side server (startCniServer)
 *                     listening: Node starts, forwards over the unix socket
 *   tortie agent/native  the native front (src/cni/native), same server:
 *                     no Node start-up in the call at all
 *
 * Each of RUNS iterations runs every path once (ADD then DEL, interleaved so
 * machine noise hits all paths alike) on a fresh workload namespace, after
 * WARMUP untimed iterations. Everything runs in a private namespace that
 * plays the host (`tcni<pid>b-host`), against a temporary SQLite datastore.
 * Needs root. Usage: npm run bench -- cni [--runs N]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Lab,
  TORTIE_CNI_BIN,
  REFERENCE_CNI_DIR,
  cniEnv,
  isRoot,
  runExecutable,
  sh,
  type PluginRun,
} from '../src/cni/test-support/harness.js';
import { buildFastClient } from '../src/cni/native.js';

const WARMUP = 3;

interface Params {
  runs: number;
  prefix: string;
  dir: string;
  host: string;
  datastoreUrl: string;
  cniBinDir: string;
  fastBin: string | null;
}

interface PathSpec {
  name: string;
  bin: string;
  conf: string;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function stats(xs: number[]): { p50: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95) };
}

/** Runs inside the host namespace: the server in-process, the plugins as children. */
async function worker(p: Params): Promise<void> {
  const { startCniServer } = await import('../src/cni/server.js');
  const socket = join(p.dir, 'agent.sock');
  const server = await startCniServer({ socketPath: socket });
  const tortie = (agent: string) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bench',
      type: 'tortie',
      nodename: 'bench-node',
      datastore: p.datastoreUrl,
      agent_socket: agent,
      mtu: 1440,
      ipam: { type: 'tortie-ipam', ipv4_pools: ['bench-pool'] },
    });
  const paths: PathSpec[] = [
    {
      name: 'reference bridge+host-local',
      bin: join(REFERENCE_CNI_DIR, 'bridge'),
      conf: JSON.stringify({
        cniVersion: '1.0.0',
        name: 'bench-ref',
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        mtu: 1440,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: '198.18.128.0/20' }]],
          dataDir: join(p.dir, 'host-local'),
        },
      }),
    },
    { name: 'tortie standalone (node)', bin: TORTIE_CNI_BIN, conf: tortie('') },
    { name: 'tortie agent (node client)', bin: TORTIE_CNI_BIN, conf: tortie(socket) },
  ];
  if (p.fastBin)
    paths.push({ name: 'tortie agent (native client)', bin: p.fastBin, conf: tortie(socket) });

  const add: number[][] = paths.map(() => []);
  const del: number[][] = paths.map(() => []);
  const check = (r: PluginRun, what: string) => {
    if (r.exitCode !== 0) throw new Error(`${what}: exit ${r.exitCode}: ${r.stdout} ${r.stderr}`);
  };
  try {
    for (let i = 0; i < WARMUP + p.runs; i++) {
      for (let k = 0; k < paths.length; k++) {
        const path = paths[k]!;
        const ns = `${p.prefix}w${i}p${k}`;
        sh('ip', ['netns', 'add', ns]);
        try {
          const id = `bench${i}p${k}`;
          const a = await runExecutable(
            path.bin,
            { CNI_PATH: p.cniBinDir, ...cniEnv('ADD', id, ns) },
            path.conf,
          );
          check(a, `${path.name} ADD`);
          const d = await runExecutable(
            path.bin,
            { CNI_PATH: p.cniBinDir, ...cniEnv('DEL', id, ns) },
            path.conf,
          );
          check(d, `${path.name} DEL`);
          if (i >= WARMUP) {
            add[k]!.push(a.ms);
            del[k]!.push(d.ms);
          }
        } finally {
          spawnSync('ip', ['netns', 'del', ns]);
        }
      }
    }
  } finally {
    await server.close();
  }
  const nodeStart: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    nodeStart.push(performance.now() - t);
  }
  const leftover = JSON.parse(sh('ip', ['-json', 'link', 'show'])) as { ifname: string }[];
  process.stdout.write(
    JSON.stringify({
      paths: paths.map((x, k) => ({ name: x.name, add: stats(add[k]!), del: stats(del[k]!) })),
      nodeStart: stats(nodeStart),
      leftoverCali: leftover.filter((l) => l.ifname.startsWith('cali')).length,
    }) + '\n',
  );
}

export async function main(args: string[]): Promise<void> {
  const i = args.indexOf('--runs');
  const runs = i >= 0 ? Number(args[i + 1]) : 50;
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a positive integer');
  if (!isRoot()) {
    console.error('bench cni: needs root (network namespaces)');
    process.exitCode = 1;
    return;
  }
  if (!existsSync(join(TORTIE_CNI_BIN, '../../dist/cni/main.js'))) {
    console.error('bench cni: run `npm run build` first (the plugin executable runs from dist/)');
    process.exitCode = 1;
    return;
  }
  const lab = new Lab('b');
  try {
    await lab.openStore();
    await lab.addPool('bench-pool', '198.18.64.0/20');
    await lab.addNode('bench-node');
    await lab.ds!.close();
    const host = lab.hostNetns('host', '198.18.255.1');
    const fastBin = join(lab.dir, 'tortie-cni-fast');
    const buildError = buildFastClient(fastBin);
    if (buildError)
      console.error(
        `bench cni: native client not built (${buildError}); measuring the Node paths only`,
      );
    const params: Params = {
      runs,
      prefix: lab.prefix,
      dir: lab.dir,
      host,
      datastoreUrl: lab.datastoreUrl,
      cniBinDir: lab.cniBinDir,
      fastBin: buildError ? null : fastBin,
    };
    const self = fileURLToPath(import.meta.url);
    const child = lab.track(
      spawn(
        'ip',
        [
          'netns',
          'exec',
          host,
          process.execPath,
          '--import',
          'tsx',
          self,
          '--worker',
          JSON.stringify(params),
        ],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      ),
    );
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    if (code !== 0) throw new Error(`bench worker failed (exit ${code})`);
    const res = JSON.parse(out.trim().split('\n').pop()!) as {
      paths: {
        name: string;
        add: { p50: number; p95: number };
        del: { p50: number; p95: number };
      }[];
      nodeStart: { p50: number; p95: number };
      leftoverCali: number;
    };
    const ref = res.paths[0]!;
    const f = (x: number) => x.toFixed(1).padStart(7);
    const r = (x: number, y: number) => `${(x / y).toFixed(2)}x`.padStart(7);
    console.log(
      `CNI ADD/DEL latency, ms, ${runs} runs each (after ${WARMUP} warm-up), interleaved; ratio = path / reference`,
    );
    console.log(
      `${'path'.padEnd(30)} ${'ADD p50'.padStart(7)} ${'ADD p95'.padStart(7)} ${'DEL p50'.padStart(7)} ${'DEL p95'.padStart(7)}  ${'ADD p50'.padStart(7)} ${'ADD p95'.padStart(7)} ${'DEL p50'.padStart(7)}`,
    );
    for (const p of res.paths) {
      console.log(
        `${p.name.padEnd(30)} ${f(p.add.p50)} ${f(p.add.p95)} ${f(p.del.p50)} ${f(p.del.p95)}  ${r(p.add.p50, ref.add.p50)} ${r(p.add.p95, ref.add.p95)} ${r(p.del.p50, ref.del.p50)}`,
      );
    }
    console.log(
      `node -e 0 start-up: p50 ${res.nodeStart.p50.toFixed(1)} ms, p95 ${res.nodeStart.p95.toFixed(1)} ms`,
    );
    const target =
      res.paths.find((p) => p.name.includes('native')) ?? res.paths[res.paths.length - 1]!;
    console.log(
      `target ADD p50 <= 1.5x reference: ${target.name} ${(target.add.p50 / ref.add.p50).toFixed(2)}x -> ${target.add.p50 / ref.add.p50 <= 1.5 ? 'met' : 'NOT met'}`,
    );
    if (res.leftoverCali !== 0)
      console.log(`WARNING: ${res.leftoverCali} cali interfaces left in the host namespace`);
  } finally {
    await lab.cleanup();
  }
}

if (process.argv[2] === '--worker') {
  worker(JSON.parse(process.argv[3]!) as Params).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
