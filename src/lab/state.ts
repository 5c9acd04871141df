// The lab's state file: everything `lab up` made, written after every step so
// that `lab down` can undo a half-built lab. `lab down` does not depend on it
// alone (it also sweeps by namespace prefix and pidfiles), so a lost or
// corrupted file still cleans up.

import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { STATE_FILE } from './naming.js';
import type { Encap, PoolPlan, Topology } from './plan.js';

export const STATE_VERSION = 1;

export interface LabSegment {
  segment: number;
  netns: string;
  bridge: string;
  cidr: string;
  gateway: string;
}

export interface LabRouter {
  netns: string;
  addresses: string[];
}

export interface LabHost {
  name: string;
  netns: string;
  /** Underlay address, without prefix length (that is the segment's). */
  address: string;
  prefixLength: number;
  segment: number;
  gateway: string;
  /** racks: its rack, its AS, and for the rack's reflector its cluster id and core address. */
  rack?: number;
  asNumber?: number;
  routeReflector?: boolean;
  clusterId?: string;
  coreAddress?: string;
}

/** The external router (BIRD 2) and the outside namespace behind it. */
export interface LabGateway {
  netns: string;
  address: string;
  asNumber: number;
  /** BIRD's control socket: `tortie lab exec gateway -- birdc -s SOCKET show protocols`. */
  socket: string;
  /** Where its BGP sessions go: the hosts' (flat) or the reflectors' (racks) addresses. */
  peers: string[];
  outside: { netns: string; address: string; cidr: string };
}

export interface LabWorkload {
  name: string;
  host: string;
  /** The orchestrator namespace (K8S_POD_NAMESPACE), not the network namespace. */
  namespace: string;
  netns: string;
  containerId: string;
  /** CIDRs as the CNI result gives them, e.g. "10.244.0.1/32". */
  addresses: string[];
  /** The interface inside the workload (CNI_IFNAME). */
  interface: string;
  /** The host end of the veth, when the plugin reported it. */
  hostInterface?: string;
  labels: Record<string, string>;
  /** The plugin's ADD result, handed back as prevResult on DEL. */
  cniResult?: unknown;
}

/** A long-running process the lab started (the host agent, from the next issue on). */
export interface LabProcess {
  /** Unique in the lab, e.g. "agent-host1"; names its pidfile and log. */
  name: string;
  /** What it is, e.g. "agent"; the reachability expectation looks at this. */
  role: string;
  host?: string;
  netns: string;
  argv: string[];
  pid: number;
  /** /proc/<pid>/stat start time, so a reused pid is never killed. */
  startTime: string;
  pidfile: string;
  log: string;
}

export interface ResourceRef {
  kind: string;
  name: string;
  namespace?: string;
}

export interface LabState {
  version: number;
  name: string;
  createdAt: string;
  /** "creating" until `lab up` finished. */
  phase: 'creating' | 'ready';
  topology: Topology;
  encap: Encap;
  datastore: { url: string; embedded: boolean };
  cni: { command: string[]; path: string[]; mtu: number; logFile?: string };
  underlay: LabSegment[];
  router?: LabRouter;
  hosts: LabHost[];
  workloads: LabWorkload[];
  processes: LabProcess[];
  pool: PoolPlan;
  /** What the lab wrote to the datastore itself (not what the plugin wrote). */
  resources: ResourceRef[];
  /** The hosts run BGP (full mesh, or reflectors per rack). */
  bgp?: boolean;
  racks?: { count: number; hostsPerRack: number };
  gateway?: LabGateway;
}

export function statePath(dir: string): string {
  return join(dir, STATE_FILE);
}

export type ReadResult =
  { kind: 'missing' } | { kind: 'corrupt'; error: string } | { kind: 'ok'; state: LabState };

export function readState(dir: string): ReadResult {
  let text: string;
  try {
    text = readFileSync(statePath(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  try {
    const state = JSON.parse(text) as LabState;
    if (state === null || typeof state !== 'object' || state.version !== STATE_VERSION) {
      return { kind: 'corrupt', error: `not a version ${STATE_VERSION} lab state` };
    }
    return { kind: 'ok', state };
  } catch (err) {
    return { kind: 'corrupt', error: (err as Error).message };
  }
}

/** Reads the state of a lab that must exist. */
export function loadState(dir: string, lab: string): LabState {
  const read = readState(dir);
  if (read.kind === 'ok') return read.state;
  if (read.kind === 'missing') {
    throw new LabError(
      `no lab "${lab}" (no ${statePath(dir)}); start one with: tortie lab up --name ${lab}`,
    );
  }
  throw new LabError(
    `the state of lab "${lab}" is unreadable (${read.error}); remove it with: tortie lab down --name ${lab}`,
  );
}

/** Writes atomically (temp file + rename), so a crash leaves the old or the new file. */
export function writeState(dir: string, state: LabState): void {
  mkdirSync(dir, { recursive: true });
  const tmp = `${statePath(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, statePath(dir));
}

/** What `lab status -o json` prints: the contract for scripts. */
export interface LabStatus {
  name: string;
  datastore: string;
  topology: Topology;
  encap: Encap;
  phase: LabState['phase'];
  underlay: { segment: number; netns: string; bridge: string; cidr: string; gateway: string }[];
  router?: LabRouter;
  hosts: {
    name: string;
    netns: string;
    address: string;
    segment: number;
    rack?: number;
    routeReflector?: boolean;
  }[];
  workloads: {
    name: string;
    host: string;
    namespace: string;
    netns: string;
    addresses: string[];
    interface: string;
    labels: Record<string, string>;
  }[];
  processes: { name: string; role: string; host?: string; pid: number; log: string }[];
  pool: PoolPlan;
  bgp?: boolean;
  racks?: { count: number; hostsPerRack: number };
  gateway?: LabGateway;
}

export function statusOf(state: LabState): LabStatus {
  return {
    name: state.name,
    datastore: state.datastore.url,
    topology: state.topology,
    encap: state.encap,
    phase: state.phase,
    underlay: state.underlay.map(({ segment, netns, bridge, cidr, gateway }) => ({
      segment,
      netns,
      bridge,
      cidr,
      gateway,
    })),
    ...(state.router ? { router: state.router } : {}),
    hosts: state.hosts.map(({ name, netns, address, segment, rack, routeReflector }) => ({
      name,
      netns,
      address,
      segment,
      ...(rack !== undefined ? { rack } : {}),
      ...(routeReflector ? { routeReflector } : {}),
    })),
    workloads: state.workloads.map((w) => ({
      name: w.name,
      host: w.host,
      namespace: w.namespace,
      netns: w.netns,
      addresses: w.addresses,
      interface: w.interface,
      labels: w.labels,
    })),
    processes: state.processes.map(({ name, role, host, pid, log }) => ({
      name,
      role,
      ...(host ? { host } : {}),
      pid,
      log,
    })),
    pool: state.pool,
    ...(state.bgp ? { bgp: true } : {}),
    ...(state.racks ? { racks: state.racks } : {}),
    ...(state.gateway ? { gateway: state.gateway } : {}),
  };
}

const LOCK_FILE = '.lock';
const LOCK_WAIT_MS = 30_000;

/**
 * Runs `fn` holding the lab's lock (an O_EXCL file with our pid), so two
 * `workload add`s do not both rewrite the state file. A lock whose pid is
 * gone is taken over.
 */
export async function withLabLock<T>(
  dir: string,
  fn: () => Promise<T>,
  waitMs = LOCK_WAIT_MS,
): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(safeRead(path));
      if (!Number.isInteger(holder) || holder <= 0 || !pidAlive(holder)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new LabError(`the lab is busy: process ${holder} holds ${path}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    if (safeRead(path) === String(process.pid)) rmSync(path, { force: true });
  }
}

function safeRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
