// Labs with host agents for end-to-end tests: a unique lab name, a lab root
// of its own, the agents run from the sources, and teardown even when the
// test failed (with the agents' logs printed, to see why).

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFromSources, agentHostProcess, waitForAgents, waitForBgp } from '../agents.js';
import { run } from '../exec.js';
import {
  labDown,
  labState,
  labUp,
  labWorkloadAdd,
  type HostProcess,
  type LabContext,
  type UpOptions,
} from '../lab.js';
import { defaultWorkload, type Encap, type Topology } from '../plan.js';
import type { LabState } from '../state.js';
import { netnsPath } from '../workloads.js';

export interface AgentLab {
  ctx: LabContext;
  state: LabState;
  root: string;
}

export function uniqueLabName(tag: string): string {
  return `${tag}${randomBytes(3).toString('hex')}`.slice(0, 12);
}

export interface AgentLabOptions {
  tag: string;
  hosts: number;
  workloads: number;
  topology: Topology;
  encap: Encap;
  datastore?: string;
  /** Seconds between the agents' kernel resyncs. */
  resyncInterval?: number;
  /** Processes started on every host before the agents (e.g. a datastore relay). */
  before?: HostProcess[];
  /** BGP labs (docs/lab.md): the mesh, racks, the external router. */
  bgp?: boolean;
  racks?: number;
  hostsPerRack?: number;
  externalRouter?: boolean;
  /** More `tortie node run` arguments. */
  agentArgs?: string[];
}

export async function withAgentLab<T>(
  opts: AgentLabOptions,
  fn: (lab: AgentLab) => Promise<T>,
): Promise<T> {
  const root = mkdtempSync(join(tmpdir(), 'tortie-e2e-'));
  const ctx: LabContext = { root };
  const name = uniqueLabName(opts.tag);
  let failed = true;
  try {
    // With processes that must be up first (a datastore relay), the workloads
    // are made once the agents are ready rather than by lab up itself.
    const late = (opts.before ?? []).length > 0;
    const up: UpOptions = {
      name,
      hosts: opts.hosts,
      workloads: late ? 0 : opts.workloads,
      topology: opts.topology,
      encap: opts.encap,
      ...(opts.bgp ? { bgp: true } : {}),
      ...(opts.racks !== undefined ? { racks: opts.racks } : {}),
      ...(opts.hostsPerRack !== undefined ? { hostsPerRack: opts.hostsPerRack } : {}),
      ...(opts.externalRouter ? { externalRouter: true } : {}),
      ...(opts.datastore ? { datastore: opts.datastore } : {}),
      hostProcesses: [
        ...(opts.before ?? []),
        agentHostProcess({
          root,
          command: agentFromSources(),
          resyncInterval: opts.resyncInterval ?? 2,
          ...(opts.agentArgs ? { extraArgs: opts.agentArgs } : {}),
        }),
      ],
    };
    let state = await labUp(ctx, up);
    await waitForAgents(state, { timeoutMs: 60_000 });
    if (state.bgp) await waitForBgp(state, { timeoutMs: 60_000 });
    if (late) {
      for (const host of state.hosts) {
        for (let k = 1; k <= opts.workloads; k++) {
          const plan = defaultWorkload(host.name, k);
          await labWorkloadAdd(ctx, name, plan.name, { host: host.name, labels: plan.labels });
        }
      }
      state = labState(ctx, name);
    }
    const result = await fn({ ctx, state, root });
    failed = false;
    return result;
  } finally {
    if (failed || process.env['TORTIE_E2E_LOGS']) printAgentLogs(join(root, name, 'run'));
    await labDown(ctx, name).catch((err: Error) =>
      console.error(`lab down ${name}: ${err.message}`),
    );
    rmSync(root, { recursive: true, force: true });
  }
}

function printAgentLogs(dir: string): void {
  if (!existsSync(dir)) return;
  const logs = readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort();
  for (const name of logs) {
    const file = join(dir, name);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    console.error(`--- ${file} (last 40 lines)\n${lines.slice(-40).join('\n')}`);
  }
}

/** One ping from a namespace; true if answered within a second. */
export async function pingFrom(netns: string, address: string, waitSeconds = 1): Promise<boolean> {
  const r = await run(
    [
      'nsenter',
      `--net=${netnsPath(netns)}`,
      'ping',
      '-c1',
      '-n',
      '-q',
      `-W${waitSeconds}`,
      address,
    ],
    {
      check: false,
      timeoutMs: 10_000,
    },
  );
  return r.code === 0;
}

/** Polls until `fn` is true or the time is up; returns the last answer. */
export async function eventually(
  fn: () => Promise<boolean>,
  timeoutMs = 10_000,
  stepMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export interface RouteLine {
  dst: string;
  gateway?: string;
  dev?: string;
  type?: string;
  protocol?: string;
}

export async function routesOf(netns: string): Promise<RouteLine[]> {
  const r = await run(['ip', '-n', netns, '-4', '-json', 'route', 'show', 'table', 'main']);
  return JSON.parse(r.stdout || '[]') as RouteLine[];
}

/**
 * A host's routes once they stop changing: the same on two reads `quietMs`
 * apart (longer than the agents' resync), so a block another host allocated
 * just before is routed. Agents report ready before every peer's block is
 * programmed; a test that compares the routes before and after something
 * needs this starting point. Throws if they keep changing past `timeoutMs`.
 */
export async function settledRoutesOf(
  netns: string,
  quietMs = 2500,
  timeoutMs = 20_000,
): Promise<RouteLine[]> {
  const deadline = Date.now() + timeoutMs;
  let last = JSON.stringify(await routesOf(netns));
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs));
    const now = await routesOf(netns);
    if (JSON.stringify(now) === last) return now;
    if (Date.now() > deadline) throw new Error(`routes of ${netns} still changing`);
    last = JSON.stringify(now);
  }
}
