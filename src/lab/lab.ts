// The lab: a Tortie cluster on one machine, its hosts and workloads made of
// network namespaces. These functions are what `tortie lab …` calls; they
// report progress through a callback and never print.
//
// Invariants:
// - Everything the lab makes in the kernel lives in namespaces named
//   `tl-<lab>-…`; no link, address or route is added to the root namespace.
// - Everything it makes on disk lives in <root>/<lab>/.
// - `labDown` removes all of it, from the state file and by sweeping the
//   namespace prefix and pidfiles, so it also works after a crash, twice, or
//   with the state file gone.

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  applyResources,
  bgpResources,
  ensureResources,
  labPolicyResources,
  deleteResources,
  nodeResource,
  poolResource,
} from './cluster-resources.js';
import { cniVersions, CNI_VERSION, type CniPlugin } from './cni-runtime.js';
import { LabError } from './errors.js';
import { mapLimit, run } from './exec.js';
import {
  endpointsOf,
  plannedProbes,
  reachContext,
  summarize,
  type Endpoint,
  type MatrixSummary,
  type Probe,
} from './matrix.js';
import { DATASTORE_FILE, checkLabName, isLabNetns, labDir, netnsPrefix } from './naming.js';
import { gatewayFiles, gatewayProcess } from './gateway.js';
import { deleteNetns, listNetns } from './netns.js';
import { CORE_SEGMENT, planLab, type PlanOptions, type WorkloadPlan } from './plan.js';
import { readPidfiles, startProcess, stopProcesses, type ProcessSpec } from './processes.js';
import type { IpRoute } from './routes.js';
import {
  STATE_VERSION,
  loadState,
  readState,
  withLabLock,
  writeState,
  type LabHost,
  type LabProcess,
  type LabState,
  type LabWorkload,
} from './state.js';
import { buildGateway, buildHost, buildRouter, buildUnderlay } from './topology.js';
import { addWorkload, deleteWorkload, netnsPath } from './workloads.js';

export interface LabContext {
  /** Where labs keep their state: <root>/<name>/state.json. */
  root: string;
  /** Progress lines while something long runs. */
  progress?: (line: string) => void;
}

/** A process `lab up` starts on every host (the host agent, from the next issue on). */
export interface HostProcess {
  role: string;
  argv: (host: LabHost, state: LabState) => string[];
  env?: NodeJS.ProcessEnv;
}

export interface UpOptions extends PlanOptions {
  /** A datastore URL; by default an embedded SQLite file in the lab directory. */
  datastore?: string;
  /** The CNI plugin; by default bin/tortie-cni of this checkout (or $TORTIE_CNI_PLUGIN). */
  plugin?: CniPlugin;
  /** How many CNI ADDs run at once. */
  cniConcurrency?: number;
  hostProcesses?: HostProcess[];
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** bin/tortie-cni beside this checkout's sources, or $TORTIE_CNI_PLUGIN. */
export function defaultCniPlugin(env: NodeJS.ProcessEnv = process.env): CniPlugin {
  const executable = env['TORTIE_CNI_PLUGIN'] || join(REPO_ROOT, 'bin', 'tortie-cni');
  return pluginAt(executable);
}

export function pluginAt(executable: string): CniPlugin {
  const path = resolve(executable);
  return { command: [path], path: [dirname(path)] };
}

function say(ctx: LabContext, line: string): void {
  ctx.progress?.(line);
}

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new LabError('the lab makes network namespaces: run it as root');
  }
}

function ms(since: number): string {
  const t = Date.now() - since;
  return t < 1000 ? `${t} ms` : `${(t / 1000).toFixed(1)} s`;
}

const UP_STEPS = [
  'lab directory',
  'underlay',
  'hosts',
  'datastore',
  'host processes',
  'workloads',
] as const;

class StepFailure extends Error {
  constructor(
    readonly step: number,
    readonly label: string,
    readonly reason: unknown,
  ) {
    super((reason as Error)?.message ?? String(reason));
  }
}

/** Builds a lab. On failure, removes whatever it had made and throws. */
export async function labUp(ctx: LabContext, opts: UpOptions): Promise<LabState> {
  requireRoot();
  const plan = planLab(opts);
  const dir = labDir(ctx.root, plan.name);
  const plugin = opts.plugin ?? defaultCniPlugin();

  const existing = readState(dir);
  if (existing.kind !== 'missing') {
    throw new LabError(
      `lab "${plan.name}" already exists (${dir}); see it with tortie lab status --name ${plan.name}, or remove it with tortie lab down --name ${plan.name}`,
    );
  }
  const leftovers = (await listNetns()).filter((n) => isLabNetns(plan.name, n));
  if (leftovers.length > 0) {
    throw new LabError(
      `namespaces of an earlier lab "${plan.name}" are still there (${leftovers.join(', ')}); remove them with tortie lab down --name ${plan.name}`,
    );
  }
  if (plan.workloads.length > 0) checkPlugin(plugin);

  const embedded = opts.datastore === undefined;
  const state: LabState = {
    version: STATE_VERSION,
    name: plan.name,
    createdAt: new Date().toISOString(),
    phase: 'creating',
    topology: plan.topology,
    encap: plan.encap,
    datastore: { url: opts.datastore ?? `sqlite:${join(dir, DATASTORE_FILE)}`, embedded },
    cni: {
      command: plugin.command,
      path: plugin.path,
      mtu: plan.mtu,
      logFile: join(dir, 'cni.log'),
    },
    underlay: [],
    hosts: [],
    workloads: [],
    processes: [],
    pool: plan.pool,
    resources: [],
    ...(plan.bgp ? { bgp: true } : {}),
    ...(plan.racks ? { racks: plan.racks } : {}),
  };

  const started = Date.now();
  const total = UP_STEPS.length;
  let stepNo = 0;
  const step = async (detail: string, fn: () => Promise<void>) => {
    stepNo++;
    const label = UP_STEPS[stepNo - 1]!;
    say(ctx, `[${stepNo}/${total}] ${label}: ${detail}`);
    try {
      await fn();
    } catch (err) {
      throw new StepFailure(stepNo, label, err);
    }
    writeState(dir, state);
  };

  try {
    await withLabLock(dir, async () => {
      await step(dir, async () => {
        writeState(dir, state);
        if (plan.workloads.length > 0) {
          const versions = await cniVersions(plugin);
          if (!versions.supportedVersions.includes(CNI_VERSION)) {
            throw new LabError(
              `the CNI plugin ${plugin.command.join(' ')} does not support CNI ${CNI_VERSION} (it supports ${versions.supportedVersions.join(', ')})`,
            );
          }
          say(
            ctx,
            `      CNI plugin ${plugin.command.join(' ')} (CNI ${versions.supportedVersions.join(', ')})`,
          );
        }
      });

      await step(
        (plan.router
          ? `two L2 segments joined by router ${plan.router.netns}`
          : plan.racks
            ? `${plan.racks.count} racks and a core segment, bridges in ${plan.segments[0]!.netns}`
            : `one L2 segment, bridge in ${plan.segments[0]!.netns}`) +
          (plan.gateway ? `, external router ${plan.gateway.netns}` : ''),
        async () => {
          const t = Date.now();
          await buildUnderlay(plan.segments, plan.router !== undefined);
          state.underlay = plan.segments.map(({ segment, netns, bridge, cidr, gateway }) => ({
            segment,
            netns,
            bridge,
            cidr,
            gateway,
          }));
          writeState(dir, state);
          if (plan.router) {
            await buildRouter(plan.router, plan.segments);
            state.router = {
              netns: plan.router.netns,
              addresses: plan.router.legs.map((l) => l.address),
            };
          }
          if (plan.gateway) {
            const gw = plan.gateway;
            await buildGateway(
              gw,
              plan.segments.find((s) => s.segment === gw.segment)!,
            );
            state.gateway = {
              netns: gw.netns,
              address: gw.address,
              asNumber: gw.asNumber,
              socket: gatewayFiles(dir).socket,
              peers: gw.peers.map((p) => p.address),
              outside: {
                netns: gw.outside.netns,
                address: gw.outside.address,
                cidr: gw.outside.cidr,
              },
            };
            say(
              ctx,
              `      external router ${gw.address} (AS ${gw.asNumber}, BIRD 2), outside ${gw.outside.address} in ${gw.outside.netns}`,
            );
          }
          for (const seg of plan.segments) {
            say(
              ctx,
              `      segment ${seg.segment}  ${seg.cidr}  bridge ${seg.bridge}  gateway ${seg.gateway}`,
            );
          }
          say(ctx, `      done in ${ms(t)}`);
        },
      );

      await step(`${plan.hosts.length} host namespaces, forwarding on`, async () => {
        const t = Date.now();
        await mapLimit(plan.hosts, 4, async (host) => {
          const segment = plan.segments.find((s) => s.segment === host.segment)!;
          const core = plan.segments.find((s) => s.segment === CORE_SEGMENT);
          await buildHost(host, segment, core);
          state.hosts.push({
            name: host.name,
            netns: host.netns,
            address: host.address,
            prefixLength: host.prefixLength,
            segment: host.segment,
            gateway: host.gateway,
            ...(host.rack !== undefined ? { rack: host.rack } : {}),
            ...(host.asNumber !== undefined ? { asNumber: host.asNumber } : {}),
            ...(host.routeReflector ? { routeReflector: true } : {}),
            ...(host.clusterId !== undefined ? { clusterId: host.clusterId } : {}),
            ...(host.core ? { coreAddress: host.core.address } : {}),
          });
          writeState(dir, state);
          say(
            ctx,
            `      ${host.name}  ${host.address}/${host.prefixLength}  segment ${host.segment}  ${host.netns}`,
          );
        });
        state.hosts.sort((a, b) => hostIndex(a.name) - hostIndex(b.name));
        say(ctx, `      done in ${ms(t)}`);
      });

      await step(`${state.datastore.url}`, async () => {
        const bgp = plan.bgp ? bgpResources(plan.racks?.count, state.gateway) : [];
        const resources = [
          poolResource(plan.pool),
          ...state.hosts.map((h) => nodeResource(plan.name, h)),
          ...bgp,
        ];
        state.resources = [
          ...(await applyResources(state.datastore.url, resources)),
          ...(await ensureResources(state.datastore.url, labPolicyResources())),
        ];
        say(
          ctx,
          `      IPPool ${plan.pool.name} ${plan.pool.cidr} (vxlanMode ${plan.pool.vxlanMode}), ${state.hosts.length} Node resources`,
        );
        if (plan.bgp)
          say(
            ctx,
            `      BGP: ${
              plan.racks
                ? `one AS per rack (65001…), reflectors ${state.hosts
                    .filter((h) => h.routeReflector)
                    .map((h) => h.name)
                    .join(', ')}`
                : 'full mesh, AS 64512'
            }; ${bgp.length - 1} BGPPeer resources`,
          );
      });

      const hostProcesses = opts.hostProcesses ?? [];
      await step(
        hostProcesses.length === 0 && !plan.gateway
          ? 'none yet (the host agent arrives with the next issue)'
          : [
              ...(plan.gateway ? ['gateway (BIRD 2)'] : []),
              ...hostProcesses.map((p) => p.role),
            ].join(', '),
        async () => {
          if (plan.gateway) {
            const proc = await startProcess(dir, gatewayProcess(dir, plan.gateway));
            state.processes.push(proc);
            writeState(dir, state);
            say(ctx, `      ${proc.name}  pid ${proc.pid}  log ${proc.log}`);
          }
          for (const spec of hostProcesses) {
            for (const host of state.hosts) {
              const proc = await startProcess(dir, {
                name: `${spec.role}-${host.name}`,
                role: spec.role,
                host: host.name,
                netns: host.netns,
                argv: spec.argv(host, state),
                ...(spec.env ? { env: spec.env } : {}),
              });
              state.processes.push(proc);
              writeState(dir, state);
              say(ctx, `      ${proc.name}  pid ${proc.pid}  log ${proc.log}`);
            }
          }
        },
      );

      await step(
        `${plan.workloads.length} through CNI ADD (${plan.workloads.length / Math.max(1, plan.hosts.length)} per host)`,
        async () => {
          const t = Date.now();
          await mapLimit(plan.workloads, opts.cniConcurrency ?? 2, async (wl) => {
            const w = await addWorkload(state, wl);
            state.workloads.push(w);
            writeState(dir, state);
            say(
              ctx,
              `      ${w.name}  ${w.addresses.join(',')}  on ${w.host}${w.hostInterface ? `  ${w.hostInterface}` : ''}`,
            );
          });
          state.workloads.sort(
            (a, b) =>
              hostIndex(a.host) - hostIndex(b.host) ||
              a.name.localeCompare(b.name, 'en', { numeric: true }),
          );
          if (plan.workloads.length > 0) say(ctx, `      done in ${ms(t)}`);
        },
      );

      state.phase = 'ready';
      writeState(dir, state);
    });
  } catch (err) {
    const failure = err instanceof StepFailure ? err : undefined;
    const where = failure ? `[${failure.step}/${total}] ${failure.label}` : 'start';
    say(ctx, `      ✗ ${(err as Error).message}`);
    say(ctx, `lab up failed at ${where}; removing what it made`);
    const report = await teardown(ctx, plan.name, dir);
    const cleaned =
      report.warnings.length === 0
        ? 'everything it made was removed'
        : `cleanup: ${report.warnings.join('; ')}`;
    throw new LabError(`lab up failed at ${where}: ${(err as Error).message} (${cleaned})`);
  }
  say(ctx, `lab ${plan.name} is up in ${ms(started)}`);
  return state;
}

function hostIndex(name: string): number {
  return Number(/\d+$/.exec(name)?.[0] ?? 0);
}

function checkPlugin(plugin: CniPlugin): void {
  const exe = plugin.command[0];
  if (!exe || !exe.startsWith('/')) return;
  try {
    accessSync(exe, constants.X_OK);
  } catch {
    throw new LabError(
      `the CNI plugin ${exe} is missing or not executable (build it with npm run build, or name another with --cni-plugin / TORTIE_CNI_PLUGIN)`,
    );
  }
}

export interface DownReport {
  name: string;
  /** Namespaces removed (their links went with them). */
  namespaces: string[];
  processes: number;
  workloadsDeleted: number;
  resourcesDeleted: number;
  dirRemoved: boolean;
  warnings: string[];
}

/** Removes a lab entirely. Safe to run twice, after a crash, or with no state file. */
export async function labDown(ctx: LabContext, name: string): Promise<DownReport> {
  requireRoot();
  const dir = labDir(ctx.root, checkLabName(name));
  // No directory: nothing to lock (and taking the lock would create it).
  if (!existsSync(dir)) return teardown(ctx, name, dir);
  return withLabLock(dir, () => teardown(ctx, name, dir));
}

async function teardown(ctx: LabContext, name: string, dir: string): Promise<DownReport> {
  const report: DownReport = {
    name,
    namespaces: [],
    processes: 0,
    workloadsDeleted: 0,
    resourcesDeleted: 0,
    dirRemoved: false,
    warnings: [],
  };
  const read = readState(dir);
  const state = read.kind === 'ok' ? read.state : undefined;
  if (read.kind === 'corrupt')
    report.warnings.push(`state file unreadable (${read.error}); sweeping by name`);

  // A shared datastore outlives the lab: release the workloads' addresses
  // (CNI DEL) and delete the resources the lab wrote. An embedded one simply
  // goes with the lab directory.
  if (state && !state.datastore.embedded) {
    const deleted = await mapLimit(state.workloads, 2, async (w) => {
      try {
        await deleteWorkload(state, w);
        return 1;
      } catch (err) {
        report.warnings.push((err as Error).message);
        return 0;
      }
    });
    report.workloadsDeleted = deleted.reduce<number>((a, b) => a + b, 0);
    try {
      await deleteResources(state.datastore.url, state.resources);
      report.resourcesDeleted = state.resources.length;
    } catch (err) {
      report.warnings.push(`datastore cleanup: ${(err as Error).message}`);
    }
  }

  const records = [...(state?.processes ?? []), ...readPidfiles(dir)];
  report.processes = await stopProcesses(records);
  if (report.processes > 0) say(ctx, `stopped ${report.processes} process(es)`);

  // Workloads first, then hosts, the router and the underlay; each namespace's
  // remaining processes are killed before it goes.
  const rank = (n: string) => (n.includes('-w-') ? 0 : n.endsWith('-ul') ? 2 : 1);
  const namespaces = (await listNetns())
    .filter((n) => isLabNetns(name, n))
    .sort((a, b) => rank(a) - rank(b));
  for (const group of [0, 1, 2]) {
    await mapLimit(
      namespaces.filter((n) => rank(n) === group),
      4,
      async (ns) => {
        try {
          await deleteNetns(ns);
          report.namespaces.push(ns);
        } catch (err) {
          report.warnings.push((err as Error).message);
        }
      },
    );
  }
  if (report.namespaces.length > 0)
    say(ctx, `removed ${report.namespaces.length} namespace(s): ${report.namespaces.join(' ')}`);

  if (existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    report.dirRemoved = true;
    say(ctx, `removed ${dir}`);
  }
  const remaining = (await listNetns()).filter((n) => isLabNetns(name, n));
  if (remaining.length > 0)
    report.warnings.push(`namespaces still present: ${remaining.join(' ')}`);
  return report;
}

/** The names of the labs under the root (directories with a state file or leftovers). */
export function listLabs(ctx: LabContext): string[] {
  try {
    return readdirSync(ctx.root, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export function labState(ctx: LabContext, name: string): LabState {
  return loadState(labDir(ctx.root, name), name);
}

export interface WorkloadOptions {
  host: string;
  namespace?: string;
  labels?: Record<string, string>;
}

export async function labWorkloadAdd(
  ctx: LabContext,
  lab: string,
  name: string,
  opts: WorkloadOptions,
): Promise<LabWorkload> {
  requireRoot();
  const dir = labDir(ctx.root, lab);
  return withLabLock(dir, async () => {
    const state = loadState(dir, lab);
    const plan: WorkloadPlan = {
      name,
      host: opts.host,
      namespace: opts.namespace ?? 'default',
      labels: opts.labels ?? {},
    };
    const w = await addWorkload(state, plan);
    state.workloads.push(w);
    writeState(dir, state);
    return w;
  });
}

export async function labWorkloadDelete(
  ctx: LabContext,
  lab: string,
  name: string,
): Promise<LabWorkload> {
  requireRoot();
  const dir = labDir(ctx.root, lab);
  return withLabLock(dir, async () => {
    const state = loadState(dir, lab);
    const w = state.workloads.find((x) => x.name === name);
    if (!w) {
      throw new LabError(
        `no workload "${name}" in lab "${lab}" (workloads: ${state.workloads.map((x) => x.name).join(', ') || 'none'})`,
      );
    }
    await deleteWorkload(state, w);
    state.workloads = state.workloads.filter((x) => x !== w);
    writeState(dir, state);
    return w;
  });
}

/** Starts a long-running process in a lab namespace and records it (stopped by `lab down`). */
export async function labStartProcess(
  ctx: LabContext,
  lab: string,
  spec: Omit<ProcessSpec, 'netns'> & { node: string },
): Promise<LabProcess> {
  requireRoot();
  const dir = labDir(ctx.root, lab);
  return withLabLock(dir, async () => {
    const state = loadState(dir, lab);
    if (state.processes.some((p) => p.name === spec.name)) {
      throw new LabError(`a process named "${spec.name}" is already registered in lab "${lab}"`);
    }
    const { node, ...rest } = spec;
    const proc = await startProcess(dir, { ...rest, netns: resolveNode(state, node).netns });
    state.processes.push(proc);
    writeState(dir, state);
    return proc;
  });
}

export interface LabNode {
  name: string;
  kind: 'host' | 'workload' | 'router' | 'underlay' | 'outside';
  netns: string;
}

/** A host or workload by name (or "router" / "underlay"). */
export function resolveNode(state: LabState, name: string): LabNode {
  const host = state.hosts.find((h) => h.name === name);
  if (host) return { name, kind: 'host', netns: host.netns };
  const w = state.workloads.find((x) => x.name === name);
  if (w) return { name, kind: 'workload', netns: w.netns };
  if (name === 'router' && state.router) return { name, kind: 'router', netns: state.router.netns };
  if (name === 'gateway' && state.gateway)
    return { name, kind: 'router', netns: state.gateway.netns };
  if (name === 'outside' && state.gateway)
    return { name, kind: 'outside', netns: state.gateway.outside.netns };
  if (name === 'underlay' && state.underlay[0])
    return { name, kind: 'underlay', netns: state.underlay[0].netns };
  const names = [...state.hosts.map((h) => h.name), ...state.workloads.map((x) => x.name)];
  throw new LabError(`no host or workload "${name}" in lab "${state.name}" (${names.join(', ')})`);
}

export interface ExecStdio {
  /** Inherit the terminal (interactive commands), or pipe into these streams. */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** Runs a command inside a node's namespace; resolves to its exit status. */
export async function labExec(
  ctx: LabContext,
  lab: string,
  node: string,
  argv: string[],
  stdio: ExecStdio = {},
): Promise<number> {
  requireRoot();
  if (argv.length === 0) throw new LabError('nothing to run: give a command after --');
  const state = labState(ctx, lab);
  const target = resolveNode(state, node);
  const inherit = !stdio.stdout && !stdio.stderr;
  const child = spawn('ip', ['netns', 'exec', target.netns, ...argv], {
    stdio: inherit ? 'inherit' : ['inherit', 'pipe', 'pipe'],
  });
  if (!inherit) {
    if (stdio.stdout) child.stdout?.pipe(stdio.stdout, { end: false });
    if (stdio.stderr) child.stderr?.pipe(stdio.stderr, { end: false });
  }
  return new Promise((resolveExit, reject) => {
    child.on('error', (err) => reject(new LabError(`cannot run ${argv[0]}: ${err.message}`)));
    child.on('close', (code, signal) =>
      resolveExit(code ?? (signal ? 128 + signalNumber(signal) : 1)),
    );
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGKILL: 9,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 1;
}

export interface PingReport {
  endpoints: Endpoint[];
  probes: Probe[];
  summary: MatrixSummary;
  crossHostRouting: boolean;
}

/** Pings every ordered pair (one packet, one second) with bounded concurrency. */
export async function labPing(
  ctx: LabContext,
  lab: string,
  opts: { concurrency?: number; timeoutSeconds?: number } = {},
): Promise<PingReport> {
  requireRoot();
  const state = labState(ctx, lab);
  const endpoints = endpointsOf(state);
  const context = reachContext(state);
  const byName = new Map(endpoints.map((e) => [e.name, e]));
  const planned = plannedProbes(endpoints, context);
  const wait = String(opts.timeoutSeconds ?? 1);
  const ping = async (from: Endpoint, to: Endpoint) =>
    (
      await run(
        [
          'nsenter',
          `--net=${netnsPath(from.netns)}`,
          'ping',
          '-c1',
          '-n',
          '-q',
          `-W${wait}`,
          to.address,
        ],
        {
          check: false,
          timeoutMs: 10_000,
        },
      )
    ).code === 0;
  const probes = await mapLimit(planned, opts.concurrency ?? 16, async (p) => {
    const from = byName.get(p.from)!;
    const to = byName.get(p.to)!;
    // One retry for pairs that must reach, so a lost first packet is not a failure.
    const reached = (await ping(from, to)) || (p.expected === 'reach' && (await ping(from, to)));
    return { ...p, reached };
  });
  return {
    endpoints,
    probes,
    summary: summarize(probes),
    crossHostRouting: context.crossHostRouting,
  };
}

/** A node's IPv4 routing table from `ip -json route`. */
export async function labRoutes(ctx: LabContext, lab: string, node: string): Promise<IpRoute[]> {
  requireRoot();
  const state = labState(ctx, lab);
  const target = resolveNode(state, node);
  const { stdout } = await run(['ip', '-n', target.netns, '-4', '-json', 'route', 'show']);
  return JSON.parse(stdout || '[]') as IpRoute[];
}

/** For tests and `lab status`: the namespaces of a lab that exist now. */
export async function labNamespaces(lab: string): Promise<string[]> {
  const prefix = netnsPrefix(checkLabName(lab));
  return (await listNetns()).filter((n) => n.startsWith(prefix));
}
