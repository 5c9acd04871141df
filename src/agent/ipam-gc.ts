// Automatic IPAM garbage collection from the agent. Every agent can run it
// (releases are re-checked and compare-and-swapped, so two collectors never
// free a live address), but one per cluster is enough: the agent of the
// first Node by name leads, and the others stay idle until it is gone.

import type { Logger } from 'pino';
import type { Datastore } from '../datastore/types.js';
import { IpamGarbageCollector } from '../ipam/gc.js';
import { kindPrefix, NODE } from '../model/kinds.js';

export interface IpamGcConfig {
  /** Between runs; 0 turns automatic collection off (default 60 s). */
  intervalMs?: number;
  /** How long an owner-less address is left alone (default: the collector's, 300 s). */
  graceSeconds?: number;
}

export function startIpamGc(
  ds: Datastore,
  nodeName: string,
  log: Logger,
  config: IpamGcConfig = {},
): IpamGarbageCollector | undefined {
  if (config.intervalMs === 0) return undefined;
  const nodesPrefix = kindPrefix(NODE);
  const gc = new IpamGarbageCollector(ds, {
    intervalMs: config.intervalMs ?? 60_000,
    ...(config.graceSeconds !== undefined ? { graceSeconds: config.graceSeconds } : {}),
    log: (message, fields) => log.info(fields ?? {}, message),
    isLeader: async () => {
      const names = (await ds.list(nodesPrefix)).items.map((kv) =>
        kv.key.slice(nodesPrefix.length),
      );
      return names.sort()[0] === nodeName;
    },
  });
  gc.start();
  return gc;
}
