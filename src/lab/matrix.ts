// The all-pairs reachability matrix of `lab ping`. Which pairs must reach is
// computed from the lab's state: in this issue only the CNI plugin has run,
// so a host reaches its own workloads (and they each other and it), and
// hosts reach each other over the underlay; a workload on another host needs
// routes that the host agent programs. Once every host runs an agent
// (a process with role "agent"), every pair is expected to reach. With an
// external router, the outside namespace behind it is one more endpoint: it
// reaches every host and workload (and they it) once the agents run, since
// the routes to it are learned over BGP.

import { AGENT_ROLE } from './naming.js';
import type { LabState } from './state.js';

export interface Endpoint {
  name: string;
  kind: 'host' | 'workload' | 'outside';
  /** The host it runs on (itself, for a host; "outside" for the outside namespace). */
  host: string;
  netns: string;
  /** The address pinged: a host's underlay address, a workload's first IPv4. */
  address: string;
}

export type Expectation = 'reach' | 'needs-agent';

export interface ReachContext {
  /** True once every host runs a host agent: then cross-host workload traffic is routed. */
  crossHostRouting: boolean;
}

export interface Probe {
  from: string;
  to: string;
  expected: Expectation;
  reached: boolean;
}

export function endpointsOf(state: LabState): Endpoint[] {
  const hosts: Endpoint[] = state.hosts.map((h) => ({
    name: h.name,
    kind: 'host',
    host: h.name,
    netns: h.netns,
    address: h.address,
  }));
  const workloads: Endpoint[] = [];
  for (const w of state.workloads) {
    const v4 = w.addresses.map((a) => a.split('/')[0]!).find((a) => !a.includes(':'));
    if (v4)
      workloads.push({ name: w.name, kind: 'workload', host: w.host, netns: w.netns, address: v4 });
  }
  const outside: Endpoint[] = state.gateway
    ? [
        {
          name: 'outside',
          kind: 'outside',
          host: 'outside',
          netns: state.gateway.outside.netns,
          address: state.gateway.outside.address,
        },
      ]
    : [];
  return [...hosts, ...workloads, ...outside];
}

export function reachContext(state: LabState): ReachContext {
  const withAgent = new Set(
    state.processes.filter((p) => p.role === AGENT_ROLE).map((p) => p.host),
  );
  return {
    crossHostRouting: state.hosts.length > 0 && state.hosts.every((h) => withAgent.has(h.name)),
  };
}

export function expectation(from: Endpoint, to: Endpoint, ctx: ReachContext): Expectation {
  if (from.kind === 'outside' || to.kind === 'outside')
    return ctx.crossHostRouting ? 'reach' : 'needs-agent';
  if (from.host === to.host) return 'reach';
  if (from.kind === 'host' && to.kind === 'host') return 'reach';
  return ctx.crossHostRouting ? 'reach' : 'needs-agent';
}

/** Every ordered pair of distinct endpoints, with what is expected of it. */
export function plannedProbes(endpoints: Endpoint[], ctx: ReachContext): Omit<Probe, 'reached'>[] {
  const pairs: Omit<Probe, 'reached'>[] = [];
  for (const from of endpoints) {
    for (const to of endpoints) {
      if (from !== to)
        pairs.push({ from: from.name, to: to.name, expected: expectation(from, to, ctx) });
    }
  }
  return pairs;
}

export interface MatrixSummary {
  expected: number;
  expectedReached: number;
  /** Pairs that should reach and did not: `lab ping` fails when there are any. */
  failures: Probe[];
  pending: number;
  pendingReached: number;
}

export function summarize(probes: Probe[]): MatrixSummary {
  const expected = probes.filter((p) => p.expected === 'reach');
  const pending = probes.filter((p) => p.expected === 'needs-agent');
  return {
    expected: expected.length,
    expectedReached: expected.filter((p) => p.reached).length,
    failures: expected.filter((p) => !p.reached),
    pending: pending.length,
    pendingReached: pending.filter((p) => p.reached).length,
  };
}

export const CELL = {
  self: '-',
  reached: '✓',
  failed: '✗',
  pending: '·',
} as const;

/**
 * Rows are sources, columns destinations, both numbered in the same order:
 *
 *                 to  1  2  3
 *    1 host1 172.31.1.11   -  ✓  ✓
 */
export function formatMatrix(endpoints: Endpoint[], probes: Probe[]): string {
  const byPair = new Map(probes.map((p) => [`${p.from}\0${p.to}`, p]));
  const labels = endpoints.map((e, i) => `${String(i + 1).padStart(2)} ${e.name} (${e.address})`);
  const labelWidth = Math.max('from \\ to'.length, ...labels.map((l) => l.length));
  const cellWidth = Math.max(2, String(endpoints.length).length) + 1;
  const header =
    'from \\ to'.padEnd(labelWidth) +
    endpoints.map((_, i) => String(i + 1).padStart(cellWidth)).join('');
  const rows = endpoints.map((from, i) => {
    const cells = endpoints.map((to) => {
      if (to === from) return CELL.self;
      const probe = byPair.get(`${from.name}\0${to.name}`);
      if (!probe) return ' ';
      if (probe.reached) return CELL.reached;
      return probe.expected === 'reach' ? CELL.failed : CELL.pending;
    });
    return labels[i]!.padEnd(labelWidth) + cells.map((c) => c.padStart(cellWidth)).join('');
  });
  return [header, ...rows].join('\n') + '\n';
}

export function formatSummary(summary: MatrixSummary): string {
  const lines = [
    `${CELL.reached} reached   ${CELL.failed} no reply (should reach)   ${CELL.pending} no reply (cross-host: needs the host agent)   ${CELL.self} self`,
    `expected: ${summary.expectedReached}/${summary.expected} pairs reach`,
  ];
  if (summary.pending > 0) {
    lines.push(
      `cross-host workload pairs: ${summary.pendingReached}/${summary.pending} reach (they need the host agent on every host)`,
    );
  }
  for (const f of summary.failures) lines.push(`FAIL ${f.from} -> ${f.to}`);
  return lines.join('\n') + '\n';
}
