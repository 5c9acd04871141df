/**
 * Policy benchmark (`npm run bench -- policy`, root):
 *
 *   programming   1,000 policies (Calico NetworkPolicy, Kubernetes NetworkPolicy,
 *                 GlobalNetworkPolicy in a second tier) over 10,000 endpoints on
 *                 one host, from scratch: calculation + render + nft, into a
 *                 network namespace of its own. Then one endpoint added and one
 *                 relabelled (each: calculation + one nft transaction), repeated.
 *   felix-style   the same state as `ipset restore` + `iptables-restore` input
 *                 (per-endpoint chains, ipsets per selector: Felix's approach),
 *                 loaded in the same run into another namespace; and one
 *                 endpoint added the way Felix writes it. Ratio felix/tortie.
 *   throughput    iperf3 between two workloads on two hosts (namespaces joined
 *                 by a veth), in three identical topologies: one with the
 *                 1,000 policies loaded on both hosts (the flow allowed by
 *                 policy), one without any table, one with conntrack alone;
 *                 rotating runs.
 *
 * Targets: full programming <= 1 s, one endpoint change <= 20 ms, throughput
 * ratio >= 0.95. The full programming is also repeated --cold-runs times
 * (default 4), each in a fresh process (cold, as an agent's first start),
 * and their median reported: this machine's speed drifts. Options:
 * --endpoints N --policies N --iterations N --seconds N (per iperf3 run)
 * --rounds N --cold-runs N --skip-felix --skip-throughput --skip-programming.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { evaluatePacket, ReferenceModel } from '../src/calc/policy/reference.js';
import {
  globalPolicy,
  k8sPolicy,
  namespaceProfile,
  networkPolicy,
  tier,
  workload,
} from '../src/calc/policy/test-support/fixtures.js';
import { shortHash } from '../src/calc/policy/selectors.js';
import type { PolicyState } from '../src/calc/policy/types.js';
import {
  buildTopology,
  deleteNamespaces,
  sh,
  uniquePrefix,
} from '../src/dataplane/policy/test-support/topology.js';
import type { Resource } from '../src/model/resource.js';
import { compiled } from './compiled.js';

/** A full garbage collection now (V8's gc(), exposed at run time). */
const collectGarbage = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** The agent's code, compiled (see compiled.ts). */
const code = {
  ...(await compiled<typeof import('../src/calc/policy/calc.js')>('src/calc/policy/calc.ts')),
  ...(await compiled<typeof import('../src/dataplane/policy/manager.js')>(
    'src/dataplane/policy/manager.ts',
  )),
  ...(await compiled<typeof import('../src/dataplane/policy/nft.js')>(
    'src/dataplane/policy/nft.ts',
  )),
  ...(await compiled<typeof import('../src/dataplane/policy/iptables.js')>(
    'src/dataplane/policy/iptables.ts',
  )),
  ...(await compiled<typeof import('../src/dataplane/policy/render.js')>(
    'src/dataplane/policy/render.ts',
  )),
};
const {
  PolicyCalc,
  PolicyManager,
  SessionNft,
  renderFelix,
  renderFelixEndpointAdd,
  felixChainNames,
  renderFullSets,
  renderFullChains,
  freshSetsScript,
  freshChainsScript,
  freshHooksScript,
} = code;
type PolicyManager = InstanceType<typeof PolicyManager>;
type SessionNft = InstanceType<typeof SessionNft>;

interface Options {
  endpoints: number;
  policies: number;
  iterations: number;
  seconds: number;
  rounds: number;
  felix: boolean;
  throughput: boolean;
  /** The full programming, endpoint changes and Felix's (skip for throughput alone). */
  programming: boolean;
  /** More cold full programmings, each in a process of its own (the machine drifts). */
  coldRuns: number;
  /** Internal: one cold full programming, printed as JSON (a child of coldRuns). */
  coldOnce: boolean;
}

function parseArgs(args: string[]): Options {
  const o: Options = {
    endpoints: 10_000,
    policies: 1_000,
    iterations: 30,
    seconds: 2,
    rounds: 24,
    felix: true,
    throughput: true,
    programming: true,
    coldRuns: 4,
    coldOnce: false,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const num = () => {
      const n = Number(args[++i]);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a} needs a positive whole number`);
      return n;
    };
    if (a === '--endpoints') o.endpoints = num();
    else if (a === '--policies') o.policies = num();
    else if (a === '--iterations') o.iterations = num();
    else if (a === '--seconds') o.seconds = num();
    else if (a === '--rounds') o.rounds = num();
    else if (a === '--skip-felix') o.felix = false;
    else if (a === '--skip-throughput') o.throughput = false;
    else if (a === '--skip-programming') o.programming = false;
    else if (a === '--cold-runs') {
      o.coldRuns = Number(args[++i]);
      if (!Number.isInteger(o.coldRuns) || o.coldRuns < 0)
        throw new Error('--cold-runs needs a whole number');
    } else if (a === '--cold-once') o.coldOnce = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// ---------------------------------------------------------------------------
// The workload: a synthetic cluster, deterministic

const NAMESPACES = 50;
const APPS = 500;
const ROLES = ['web', 'api', 'db', 'cache'] as const;
const ns = (i: number) => `ns-${i % NAMESPACES}`;
const appNs = (a: number) => ns(a % NAMESPACES);

function ipOf(i: number): string {
  const n = 1 + i;
  return `10.${128 + ((n >> 16) & 3)}.${(n >> 8) & 255}.${n & 255}`;
}

function ifaceOf(key: string): string {
  return `cali${shortHash(key).slice(0, 11)}`;
}

export function pod(i: number, node: string, over: { app?: number; name?: string } = {}): Resource {
  const app = over.app ?? i % APPS;
  const name = over.name ?? `p${i}`;
  return workload({
    namespace: appNs(app),
    name,
    node,
    iface: ifaceOf(`${appNs(app)}/${name}`),
    ip: ipOf(i),
    labels: { app: `app-${app}`, role: ROLES[i % ROLES.length]! },
    ports: [
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: 'metrics', protocol: 'TCP', port: 9090 },
    ],
  });
}

function policies(count: number): Resource[] {
  const out: Resource[] = [tier('platform', { order: 100 })];
  const calico = Math.round(count * 0.6);
  const k8s = Math.round(count * 0.3);
  const global = count - calico - k8s;
  for (let p = 0; p < calico; p++) {
    const a = p % APPS;
    out.push(
      networkPolicy(appNs(a), `np-${p}`, {
        selector: `app == 'app-${a}'`,
        ingress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            source: { selector: "role == 'web'" },
            destination: { ports: [8080, '9000:9100'] },
          },
          {
            action: 'Allow',
            protocol: 'TCP',
            source: { namespaceSelector: `team == 't-${p % 10}'` },
            destination: { ports: ['metrics'] },
          },
        ],
        egress: [
          {
            action: 'Allow',
            protocol: 'TCP',
            destination: {
              selector: `app == 'app-${(a + 1) % APPS}'`,
              namespaceSelector: 'all()',
              ports: [8080],
            },
          },
          { action: 'Allow', protocol: 'UDP', destination: { ports: [53] } },
        ],
        types: ['Ingress', 'Egress'],
      }),
    );
  }
  for (let q = 0; q < k8s; q++) {
    const a = (q * 7) % APPS;
    out.push(
      k8sPolicy(appNs(a), `knp-${q}`, {
        podSelector: { matchLabels: { app: `app-${a}` } },
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { role: 'api' } } },
              { namespaceSelector: { matchLabels: { env: 'prod' } } },
            ],
            ports: [
              { protocol: 'TCP', port: 8080 },
              { protocol: 'TCP', port: 'http' },
            ],
          },
        ],
        egress: [
          {
            to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.255.0.0/16'] } }],
            ports: [{ protocol: 'UDP', port: 53 }],
          },
        ],
        policyTypes: ['Ingress', 'Egress'],
      }),
    );
  }
  for (let g = 0; g < global; g++) {
    out.push(
      globalPolicy(`platform.g-${g}`, {
        tier: 'platform',
        order: g,
        selector: `app == 'app-${(g * 5) % APPS}'`,
        ingress: [
          {
            action: 'Deny',
            protocol: 'TCP',
            source: { selector: "role == 'cache'" },
            destination: { ports: [22] },
          },
          { action: 'Pass' },
        ],
        egress: [{ action: 'Pass' }],
        types: ['Ingress', 'Egress'],
      }),
    );
  }
  return out;
}

export function cluster(
  o: Pick<Options, 'endpoints' | 'policies'>,
  nodeOf: (i: number) => string,
): Resource[] {
  const out: Resource[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    out.push(namespaceProfile(`ns-${n}`, { team: `t-${n % 10}`, env: n % 2 ? 'dev' : 'prod' }));
  }
  for (let i = 0; i < o.endpoints; i++) out.push(pod(i, nodeOf(i)));
  out.push(...policies(o.policies));
  return out;
}

// ---------------------------------------------------------------------------

const ms = (t: number) => `${t.toFixed(1)} ms`;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');

function stats(label: string, xs: number[], target?: number): string {
  const p50 = pct(xs, 50);
  const p90 = pct(xs, 90);
  const max = Math.max(...xs);
  const t =
    target !== undefined ? `   target <= ${target} ms: ${verdict(p90 <= target)} (p90)` : '';
  return `  ${label.padEnd(24)} p50 ${ms(p50)}  p90 ${ms(p90)}  max ${ms(max)}  (n=${xs.length})${t}`;
}

function stateSummary(s: PolicyState): string {
  let elements = 0;
  for (const set of s.sets.values()) elements += set.elements.size;
  return `${s.sets.size} sets (${elements} elements), ${s.ruleChains.size} rule chains, ${s.endpointChains.size} endpoint chains, ${s.endpoints.size} endpoints`;
}

async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

async function programming(o: Options, prefix: string, lines: string[]): Promise<void> {
  const netns = `${prefix}n`;
  await sh(['ip', 'netns', 'add', netns]);
  const node = 'bench';
  const resources = cluster(o, () => node);
  const nft = new SessionNft({ netns });
  const manager = new PolicyManager(nft);
  try {
    const calc = new PolicyCalc({ nodeName: node });
    // The calculation, and the manager taking its output (its record of what it wants).
    const [, tCalc] = await timed(() => {
      for (const r of resources) calc.onResource(r);
      manager.onUpdates(calc.drain());
    });
    const state = manager.state;
    await manager.apply();
    const result = manager.lastResult!;
    if (result.failures.length) throw new Error(result.failures.join('; '));
    // The manager renders while nft loads (see PolicyManager.applyFull): its
    // duration is render and nft together, its renderMs the part not overlapped.
    const total = tCalc + result.durationMs;
    lines.push(`tortie (nftables, table inet tortie-policy): ${stateSummary(state)}`);
    lines.push(`  calculation              ${ms(tCalc)}`);
    lines.push(
      `  render                   ${ms(result.renderMs)}  (script ${(result.scriptBytes / 1e6).toFixed(1)} MB${result.fresh ? ', partly while nft loads' : ''})`,
    );
    lines.push(
      `  nft                      ${ms(result.durationMs - result.renderMs)}  (${result.fresh ? 'sets and chains at once, then the hooks' : 'one transaction'})`,
    );
    lines.push(
      `  full programming         ${ms(total)}   target <= 1000 ms: ${verdict(total <= 1000)}`,
    );

    // One endpoint at a time, as the agent sees it: the calculation, then one transaction.
    const added: number[] = [];
    const relabelled: number[] = [];
    let kinds = new Set<string>();
    for (let k = 0; k < o.iterations; k++) {
      const i = o.endpoints + k;
      const [, t] = await timed(async () => {
        calc.onResource(pod(i, node, { app: (k * 37) % APPS, name: `new-${k}` }));
        manager.onUpdates(calc.drain());
        await manager.apply();
      });
      kinds.add(manager.lastResult!.kind);
      if (manager.lastResult!.failures.length)
        throw new Error(manager.lastResult!.failures.join('; '));
      added.push(t);
    }
    for (let k = 0; k < o.iterations; k++) {
      const i = (k * 331) % o.endpoints;
      const [, t] = await timed(async () => {
        const r = pod(i, node);
        const app = ((i % APPS) + 1 + k) % APPS;
        // Same endpoint (name, namespace, interface), other labels.
        r.metadata.labels = { ...r.metadata.labels, app: `app-${app}` };
        calc.onResource(r);
        manager.onUpdates(calc.drain());
        await manager.apply();
      });
      kinds.add(manager.lastResult!.kind);
      if (manager.lastResult!.failures.length)
        throw new Error(manager.lastResult!.failures.join('; '));
      relabelled.push(t);
    }
    lines.push(stats('endpoint added', added, 20));
    lines.push(stats('endpoint relabelled', relabelled, 20));
    lines.push(`  (every change: ${[...kinds].join(', ')} transaction; calculation included)`);
    kinds = new Set();

    lines.push(await nftAlone(prefix, manager.state, total));
    if (o.felix) await felix(o, prefix, manager.state, lines, total);
  } finally {
    nft.close();
  }
}

let nftFloorMs: number | undefined;

/**
 * The floor under the full programming on this machine at this moment: the
 * same three transactions the manager makes for a fresh table, loaded by nft
 * from files (sets and chains at once, then the hooks), without the
 * calculation or rendering. The machine's speed drifts by tens of percent
 * within minutes; this moves with it.
 */
async function nftAlone(prefix: string, state: PolicyState, tortieMs: number): Promise<string> {
  const sets = renderFullSets(state);
  const chains = renderFullChains(state);
  const dir = mkdtempSync(join(tmpdir(), 'tortie-bench-nft-'));
  const files = {
    sets: join(dir, 'sets.nft'),
    chains: join(dir, 'chains.nft'),
    hooks: join(dir, 'hooks.nft'),
  };
  writeFileSync(files.sets, freshSetsScript(sets));
  writeFileSync(files.chains, freshChainsScript({ ...sets, ...chains }));
  writeFileSync(files.hooks, freshHooksScript(chains));
  const times: number[] = [];
  try {
    for (let run = 0; run < 3; run++) {
      const netns = `${prefix}a${run}`;
      await sh(['ip', 'netns', 'add', netns]);
      try {
        const nft = (file: string) => sh(['ip', 'netns', 'exec', netns, 'nft', '-f', file]);
        const [, t] = await timed(async () => {
          await Promise.all([nft(files.sets), nft(files.chains)]);
          await nft(files.hooks);
        });
        times.push(t);
      } finally {
        await sh(['ip', 'netns', 'del', netns]);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m = [...times].sort((a, b) => a - b)[1]!;
  nftFloorMs = m;
  return `  nft alone                ${ms(m)}  (the same 3 transactions from files, no calculation or rendering; median of 3): the full programming is ${(tortieMs / m).toFixed(2)}x that`;
}

async function felix(
  o: Options,
  prefix: string,
  state: PolicyState,
  lines: string[],
  tortieMs: number,
): Promise<void> {
  const netns = `${prefix}f`;
  await sh(['ip', 'netns', 'add', netns]);
  const dir = mkdtempSync(join(tmpdir(), 'tortie-bench-felix-'));
  try {
    const [scripts, tRender] = await timed(() => renderFelix(state));
    writeFileSync(join(dir, 'ipset'), scripts.ipset);
    writeFileSync(join(dir, 'iptables'), scripts.iptables);
    const [, tIpset] = await timed(() =>
      sh(['ip', 'netns', 'exec', netns, 'ipset', 'restore', '-file', join(dir, 'ipset')]),
    );
    const [, tIpt] = await timed(() =>
      sh(['ip', 'netns', 'exec', netns, 'iptables-restore', join(dir, 'iptables')]),
    );
    const total = tRender + tIpset + tIpt;
    lines.push(
      `felix-style (ipset restore + iptables-restore, ${(await sh(['iptables', '--version'])).stdout.trim()}): ${scripts.sets} ipsets, ${scripts.chains} chains, ${scripts.rules} rules`,
    );
    lines.push(`  render                   ${ms(tRender)}`);
    lines.push(`  ipset restore            ${ms(tIpset)}`);
    lines.push(`  iptables-restore         ${ms(tIpt)}`);
    lines.push(
      `  full programming         ${ms(total)}   felix/tortie ratio ${(total / tortieMs).toFixed(1)}x`,
    );
    // One endpoint added, Felix's way: its ipset memberships, its chains, its dispatch bucket.
    const chains = felixChainNames(state);
    const eps = [...state.endpoints.values()].filter((e) => e.kind === 'workload');
    const times: number[] = [];
    for (let k = 0; k < Math.min(o.iterations, 10); k++) {
      const ep = {
        ...eps[(k * 97) % eps.length]!,
        iface: `calinew${k.toString(16).padStart(4, '0')}`,
      };
      const probe = state.endpoints.get(eps[(k * 97) % eps.length]!.iface)!;
      const ip = `10.200.${k}.1`;
      const memberships = [...state.sets.values()]
        .filter(
          (s) =>
            s.spec.kind === 'addr' &&
            s.spec.family === 4 &&
            s.elements.has(probe.sources4[0]!.split('/')[0]!),
        )
        .map((s) => `add cali40${s.spec.name} ${ip}`.slice(0, 200));
      const withNew: PolicyState = {
        ...state,
        endpoints: new Map([...state.endpoints, [ep.iface, ep]]),
      };
      writeFileSync(join(dir, `ipset-${k}`), `${memberships.join('\n')}\n`);
      writeFileSync(join(dir, `ipt-${k}`), renderFelixEndpointAdd(withNew, ep, chains));
      const [, t] = await timed(async () => {
        if (memberships.length)
          await sh([
            'ip',
            'netns',
            'exec',
            netns,
            'ipset',
            'restore',
            '-file',
            join(dir, `ipset-${k}`),
          ]);
        await sh([
          'ip',
          'netns',
          'exec',
          netns,
          'iptables-restore',
          '--noflush',
          join(dir, `ipt-${k}`),
        ]);
      });
      times.push(t);
    }
    lines.push(stats('endpoint added', times));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Throughput

function iperfServer(netns: string, port: number) {
  const child = spawn('ip', ['netns', 'exec', netns, 'iperf3', '-s', '-p', String(port)], {
    stdio: 'ignore',
  });
  return child;
}

async function iperf(netns: string, host: string, port: number, seconds: number): Promise<number> {
  const { stdout } = await sh([
    'ip',
    'netns',
    'exec',
    netns,
    'iperf3',
    '-c',
    host,
    '-p',
    String(port),
    '-t',
    String(seconds),
    '-J',
  ]);
  const out = JSON.parse(stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
  const bps = out.end?.sum_received?.bits_per_second;
  if (!bps) throw new Error('iperf3 reported no throughput');
  return bps;
}

async function throughput(o: Options, prefix: string, lines: string[]): Promise<void> {
  const nodes = ['bench-h1', 'bench-h2'];
  const port = 8080;
  // Client A (app-6 in ns-6, a prod namespace) and server B (app-7 in ns-7): A's egress is
  // allowed by np-6 (TCP 8080 to app-7), B's ingress by knp-1 (8080 from prod namespaces).
  const a = workload({
    namespace: 'ns-6',
    name: 'iperf-a',
    node: nodes[0]!,
    iface: 'caliperfa',
    ip: '10.250.0.1',
    labels: { app: 'app-6', role: 'web' },
  });
  const b = workload({
    namespace: 'ns-7',
    name: 'iperf-b',
    node: nodes[1]!,
    iface: 'caliperfb',
    ip: '10.250.0.2',
    labels: { app: 'app-7', role: 'db' },
  });
  const resources = [...cluster(o, (i) => nodes[i % 2]!), a, b];
  const model = new ReferenceModel(resources);
  const v = evaluatePacket(model, { src: '10.250.0.1', dst: '10.250.0.2', protocol: 'tcp', port });
  const policiesOnPath = v.steps.filter(
    (s) => s.by.kind === 'rule' && s.by.policyKind !== 'Profile',
  ).length;
  if (!v.allowed || policiesOnPath < 2)
    throw new Error(
      `the benchmark flow should be allowed by policy on both sides: ${JSON.stringify(v.steps.map((s) => s.by))}`,
    );
  // Three identical two-host topologies, side by side: the policies loaded
  // into one, nothing in another, and in the third only conntrack (a forward
  // chain accepting established packets: the least any stateful policy
  // costs). Runs rotate between them without reprogramming anything in
  // between, so rounds are cheap and many, and a round's runs are seconds
  // apart (single iperf3 runs vary by +-20% on this VM).
  const wls = [
    { id: 'a', ip: '10.250.0.1', node: nodes[0]!, iface: 'caliperfa' },
    { id: 'b', ip: '10.250.0.2', node: nodes[1]!, iface: 'caliperfb' },
  ];
  const topos: Awaited<ReturnType<typeof buildTopology>>[] = [];
  const managers: { manager: PolicyManager; nft: SessionNft }[] = [];
  const servers: ReturnType<typeof iperfServer>[] = [];
  try {
    for (const suffix of ['tp', 'tn', 'tc']) {
      const t = await buildTopology(`${prefix}${suffix}`, nodes, wls);
      topos.push(t);
      servers.push(iperfServer(t.workloads.get('b')!.netns, port));
    }
    const [withTopo, bareTopo, ctTopo] = topos as [
      (typeof topos)[number],
      (typeof topos)[number],
      (typeof topos)[number],
    ];
    for (const node of nodes) {
      const nft = new SessionNft({ netns: withTopo.hosts.get(node)!.netns });
      const manager = new PolicyManager(nft);
      managers.push({ manager, nft });
      const calc = new PolicyCalc({ nodeName: node });
      for (const r of resources) calc.onResource(r);
      manager.onUpdates(calc.drain());
      const res = await manager.apply();
      if (res.failures.length) throw new Error(res.failures.join('; '));
      await sh([
        'ip',
        'netns',
        'exec',
        ctTopo.hosts.get(node)!.netns,
        'nft',
        'add table inet ct-only; add chain inet ct-only forward { type filter hook forward priority filter; policy accept; }; add rule inet ct-only forward ct state established,related accept',
      ]);
    }
    // Namespaces deleted before (the programming's, nft alone's, Felix's, with
    // their large tables) are torn down by the kernel in the background for
    // seconds, as are the objects of this process's own writes: let that end.
    collectGarbage();
    await new Promise((r) => setTimeout(r, 5000));
    const runs: { name: string; client: string; results: number[] }[] = [
      { name: 'no policy', client: bareTopo.workloads.get('a')!.netns, results: [] },
      {
        name: `${o.policies} policies loaded`,
        client: withTopo.workloads.get('a')!.netns,
        results: [],
      },
      { name: 'conntrack alone', client: ctTopo.workloads.get('a')!.netns, results: [] },
    ];
    for (const r of runs) await iperf(r.client, '10.250.0.2', port, 1); // warm-up
    // Rotating, and reversed every other round, so that drift in the machine's load cancels out.
    for (let round = 0; round < o.rounds; round++) {
      const order = runs.slice(round % runs.length).concat(runs.slice(0, round % runs.length));
      if (Math.floor(round / runs.length) % 2) order.reverse();
      for (const r of order) r.results.push(await iperf(r.client, '10.250.0.2', port, o.seconds));
    }
    const [none, withPolicy, ctOnly] = runs.map((r) => r.results) as [number[], number[], number[]];
    const med = (xs: number[]) => pct(xs, 50);
    // A round's runs are next to each other in time: the median of the
    // rounds' ratios cancels the machine's drift better than the ratio of the
    // medians (both are printed).
    const ratioTo = (xs: number[], base: number[]) => med(xs.map((x, i) => x / base[i]!));
    const ratio = ratioTo(withPolicy, none);
    const g = (x: number) => `${(x / 1e9).toFixed(2)} Gbit/s`;
    lines.push(
      `throughput (iperf3 TCP, workload on host 1 -> workload on host 2; three identical topologies: no table, the policies loaded, conntrack alone; ${o.rounds} rounds of ${o.seconds} s on each, in rotating order; load average ${loadavg()[0]!.toFixed(1)}):`,
    );
    for (const r of runs)
      lines.push(`  ${r.name.padEnd(24)} ${g(med(r.results))}   (${r.results.map(g).join(', ')})`);
    lines.push(
      `  ratio                    ${ratio.toFixed(3)} (median of the ${o.rounds} rounds' ratios; ratio of the medians ${(med(withPolicy) / med(none)).toFixed(3)})   target >= 0.95: ${verdict(ratio >= 0.95)}`,
    );
    lines.push(
      `  conntrack alone          ${ratioTo(ctOnly, none).toFixed(3)} of no policy; the policies ${ratioTo(withPolicy, ctOnly).toFixed(3)} of conntrack alone (medians of the rounds' ratios)`,
    );
    lines.push(
      `  (the flow is allowed by ${policiesOnPath} policy rules: ${v.steps.map((s) => (s.by.kind === 'rule' ? `${s.direction} ${s.by.policy} rule ${s.by.rule}` : s.by.kind)).join('; ')})`,
    );
  } finally {
    for (const server of servers) server.kill('SIGKILL');
    for (const m of managers) m.nft.close();
    for (const t of topos) await t.destroy();
  }
}

interface ColdResult {
  calc: number;
  apply: number;
  total: number;
}

/** One full programming from scratch in this (fresh) process: the figure the target is about. */
async function coldProgramming(o: Options, prefix: string): Promise<ColdResult> {
  const netns = `${prefix}n`;
  await sh(['ip', 'netns', 'add', netns]);
  const resources = cluster(o, () => 'bench');
  const nft = new SessionNft({ netns });
  try {
    const manager = new PolicyManager(nft);
    const calc = new PolicyCalc({ nodeName: 'bench' });
    const [, tCalc] = await timed(() => {
      for (const r of resources) calc.onResource(r);
      manager.onUpdates(calc.drain());
    });
    await manager.apply();
    const result = manager.lastResult!;
    if (result.failures.length) throw new Error(result.failures.join('; '));
    return { calc: tCalc, apply: result.durationMs, total: tCalc + result.durationMs };
  } finally {
    nft.close();
  }
}

/** coldRuns more cold programmings, one process each, one after the other. */
async function coldRuns(o: Options): Promise<string[]> {
  if (o.coldRuns <= 0) return [];
  const results: ColdResult[] = [];
  for (let i = 0; i < o.coldRuns; i++) {
    const argv = [
      '--import',
      'tsx',
      new URL('./run.ts', import.meta.url).pathname,
      'policy',
      '--cold-once',
      '--endpoints',
      String(o.endpoints),
      '--policies',
      String(o.policies),
    ];
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (b: Buffer) => (text += b.toString()));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`cold run exited ${code}`)),
      );
    });
    results.push(JSON.parse(out.trim().split('\n').pop()!) as ColdResult);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const totals = results.map((r) => r.total);
  const m = median(totals);
  return [
    `  full programming, ${results.length} more cold runs (a process each): median ${ms(m)} (calculation ${ms(median(results.map((r) => r.calc)))}, the rest ${ms(median(results.map((r) => r.apply)))}), min ${ms(Math.min(...totals))}, max ${ms(Math.max(...totals))}   target <= 1000 ms: ${verdict(m <= 1000)}${nftFloorMs ? ` (${(m / nftFloorMs).toFixed(2)}x nft alone)` : ''}`,
  ];
}

export async function main(args: string[]): Promise<void> {
  const o = parseArgs(args);
  if (process.getuid?.() !== 0)
    throw new Error('bench policy needs root (network namespaces, nftables)');
  const prefix = uniquePrefix('tpb');
  const lines: string[] = [
    `(load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} on ${cpus().length} cores)`,
    `policy benchmark: ${o.policies} policies (60% NetworkPolicy, 30% Kubernetes NetworkPolicy, 10% GlobalNetworkPolicy in tier platform) over ${o.endpoints} endpoints on one host`,
  ];
  const cleanup = () => deleteNamespaces(prefix);
  if (o.coldOnce) {
    try {
      console.log(JSON.stringify(await coldProgramming(o, prefix)));
    } finally {
      await cleanup();
    }
    return;
  }
  try {
    if (o.programming) {
      await programming(o, prefix, lines);
      // Beside the first cold programming's figures, before the endpoint changes'.
      const at = lines.findIndex((l) => l.includes('endpoint added'));
      lines.splice(at < 0 ? lines.length : at, 0, ...(await coldRuns(o)));
    }
    console.log(lines.join('\n'));
    lines.length = 0;
    if (o.throughput) await throughput(o, prefix, lines);
    console.log(lines.join('\n'));
  } finally {
    await cleanup();
  }
}
