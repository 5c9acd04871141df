// The agent's status, published to the datastore so that `tortie node
// status` can show every host from anywhere (an agent's health port is on
// its own host's loopback). One key per host, rewritten when something in it
// changes and at least every heartbeat.

import type { CalcProblem } from '../calc/types.js';
import type { BgpStatus } from './bgp.js';
import type { Datastore } from '../datastore/types.js';

export const STATUS_PREFIX = '/tortie/agent/v1/status/';

export function statusKey(node: string): string {
  return `${STATUS_PREFIX}${node}`;
}

export interface AgentStatus {
  node: string;
  pid: number;
  version: string;
  startedAt: string;
  /** When this report was written. */
  updatedAt: string;
  live: boolean;
  ready: boolean;
  /** Why not ready (or "ready"). */
  reason: string;
  inSync: boolean;
  datastore: 'connected' | 'unavailable';
  hostAddress: string | undefined;
  vxlan: {
    device: boolean;
    tunnelAddress: string | undefined;
    mac: string | undefined;
    mtu: number | undefined;
  };
  routes: { desired: number; programmed: number; pending: number };
  endpoints: { total: number; ready: number };
  problems: CalcProblem[];
  /** What the last apply could not do. */
  failures: string[];
  lastApply:
    { at: string; durationMs: number; routesReplaced: number; routesDeleted: number } | undefined;
  lastResync: { at: string; durationMs: number } | undefined;
  /** BGP, when it is on: the speaker, its peers, what it learnt. */
  bgp?: BgpStatus;
}

export async function readStatuses(ds: Datastore): Promise<AgentStatus[]> {
  const { items } = await ds.list(STATUS_PREFIX);
  const out: AgentStatus[] = [];
  for (const kv of items) {
    try {
      out.push(JSON.parse(kv.value) as AgentStatus);
    } catch {
      /* a torn or foreign value: skip */
    }
  }
  return out.sort((a, b) => a.node.localeCompare(b.node, 'en', { numeric: true }));
}

/** Writes the report (last writer wins: only this host's agent writes its key). */
export async function writeStatus(ds: Datastore, status: AgentStatus): Promise<void> {
  const key = statusKey(status.node);
  const value = JSON.stringify(status);
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await ds.get(key);
    try {
      if (!current) await ds.create(key, value);
      else await ds.update(key, value, current.modRevision);
      return;
    } catch (err) {
      if (attempt === 4) throw err;
    }
  }
}
