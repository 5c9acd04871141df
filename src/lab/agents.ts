// The host agent in the lab: one `tortie node run` per host, started inside
// the host's namespace through lab up's host-process hook, stopped by lab
// down with the other lab processes. Each serves CNI calls on
// <labdir>/run/agent-<host>.sock, where the lab's CNI configuration points.
//
// The agents reach the datastore from inside their namespaces: the lab's
// embedded SQLite file works as it is; an etcd URL must be reachable from
// the host namespaces (127.0.0.1 there is each namespace's own loopback).

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readStatuses, type AgentStatus } from '../agent/status.js';
import { openDatastore } from '../datastore/open.js';
import { LabError } from './errors.js';
import { labPing, labRoutes, type HostProcess, type LabContext } from './lab.js';
import { formatMatrix, formatSummary } from './matrix.js';
import { AGENT_ROLE, HOST_UPLINK, labDir } from './naming.js';
import { formatRouteTable } from './routes.js';
import type { LabHost, LabState } from './state.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * How to start `tortie`: $TORTIE_AGENT_COMMAND (a JSON array, e.g. to run
 * the sources through tsx), else this checkout's bin/tortie.
 */
export function tortieCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const custom = env['TORTIE_AGENT_COMMAND'];
  if (custom) {
    const parsed = JSON.parse(custom) as unknown;
    if (
      !Array.isArray(parsed) ||
      parsed.length === 0 ||
      !parsed.every((x) => typeof x === 'string')
    ) {
      throw new LabError(
        'TORTIE_AGENT_COMMAND must be a JSON array of strings, e.g. ["node","/opt/tortie/bin/tortie"]',
      );
    }
    return parsed as string[];
  }
  return [process.execPath, join(REPO_ROOT, 'bin', 'tortie')];
}

/** The command that runs the agent from this checkout's sources (tests, benchmarks). */
export function agentFromSources(): string[] {
  const entry = join(REPO_ROOT, 'src', 'cli', 'node.ts');
  return [
    process.execPath,
    '--import',
    'tsx',
    '-e',
    `import(${JSON.stringify(entry)}).then((m) => m.nodeMain(process.argv.slice(1)))`,
  ];
}

export function agentSocketPath(root: string, lab: string, host: string): string {
  return join(labDir(root, lab), 'run', `${AGENT_ROLE}-${host}.sock`);
}

export interface AgentOptions {
  /** The lab root (where the lab's directory is). */
  root: string;
  /** How to start tortie (default tortieCommand()). */
  command?: string[];
  /** Seconds between kernel resyncs (default: the agent's). */
  resyncInterval?: number;
  logLevel?: string;
  extraArgs?: string[];
}

/** The argv of one host's agent. */
export function agentArgv(opts: AgentOptions, host: LabHost, state: LabState): string[] {
  return [
    ...(opts.command ?? tortieCommand()),
    'node',
    'run',
    '--name',
    host.name,
    '--ip',
    'auto',
    '--ip-autodetection-method',
    `interface=^${HOST_UPLINK}$`,
    '--datastore',
    state.datastore.url,
    '--cni-socket',
    agentSocketPath(opts.root, state.name, host.name),
    ...(opts.resyncInterval !== undefined
      ? ['--resync-interval', String(opts.resyncInterval)]
      : []),
    ...(opts.logLevel ? ['--log-level', opts.logLevel] : []),
    ...(opts.extraArgs ?? []),
  ];
}

/** The lab's host-process entry for the agent: pass it to labUp as `hostProcesses`. */
export function agentHostProcess(opts: AgentOptions): HostProcess {
  return { role: AGENT_ROLE, argv: (host, state) => agentArgv(opts, host, state) };
}

/**
 * Waits until every host's agent (or those of `hosts`) reports ready, and
 * with `since`, from a process started after that time; throws with what is
 * still wrong.
 */
export async function waitForAgents(
  state: LabState,
  opts: { timeoutMs?: number; since?: number; hosts?: string[] } = {},
): Promise<AgentStatus[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const ds = await openDatastore(state.datastore.url);
  try {
    for (;;) {
      const statuses = await readStatuses(ds);
      const byNode = new Map(statuses.map((s) => [s.node, s]));
      const waiting = state.hosts
        .filter((h) => opts.hosts === undefined || opts.hosts.includes(h.name))
        .filter((h) => {
          const s = byNode.get(h.name);
          return (
            !s || !s.ready || (opts.since !== undefined && Date.parse(s.startedAt) < opts.since)
          );
        });
      if (waiting.length === 0) return statuses;
      if (Date.now() > deadline) {
        const why = waiting
          .map((h) => `${h.name}: ${byNode.get(h.name)?.reason ?? 'no status yet'}`)
          .join('; ');
        throw new LabError(
          `agents not ready: ${why} (logs in ${dirname(state.processes[0]?.log ?? '.')})`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await ds.close();
  }
}

/**
 * BGP labs: waits until every host's agent reports every BGP peer
 * Established (the external router's sessions included), then a moment for
 * the first UPDATEs to reach the kernels; throws with the sessions still
 * down.
 */
export async function waitForBgp(
  state: LabState,
  opts: { timeoutMs?: number } = {},
): Promise<AgentStatus[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const ds = await openDatastore(state.datastore.url);
  try {
    for (;;) {
      const statuses = await readStatuses(ds);
      const byNode = new Map(statuses.map((s) => [s.node, s]));
      const down: string[] = [];
      for (const h of state.hosts) {
        const b = byNode.get(h.name)?.bgp;
        if (!b || !b.running) down.push(`${h.name}: no BGP speaker yet`);
        else
          for (const p of b.peers)
            if (p.state !== 'Established')
              down.push(`${h.name} → ${p.address}: ${p.state} ${p.info}`.trim());
      }
      if (down.length === 0) {
        await new Promise((r) => setTimeout(r, 500));
        return statuses;
      }
      if (Date.now() > deadline) throw new LabError(`BGP sessions not up: ${down.join('; ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await ds.close();
  }
}

/** What `lab up` shows once the agents run: the reachability matrix and each host's routes. */
export async function agentsReport(
  ctx: LabContext,
  state: LabState,
): Promise<{ text: string; failures: number }> {
  const ping = await labPing(ctx, state.name);
  const parts = [formatMatrix(ping.endpoints, ping.probes), formatSummary(ping.summary)];
  for (const host of state.hosts) {
    parts.push(`routes on ${host.name} (${host.address}/${host.prefixLength}):`);
    parts.push(formatRouteTable(await labRoutes(ctx, state.name, host.name)));
  }
  return { text: parts.join('\n'), failures: ping.summary.failures.length };
}
