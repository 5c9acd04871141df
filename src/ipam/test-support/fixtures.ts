// Test fixtures: a throwaway SQLite datastore and helpers that write the
// resources IPAM reads (pools, reservations, nodes, workload endpoints).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResourceStore } from '../../datastore/resources.js';
import { SqliteDatastore } from '../../datastore/sqlite.js';
import type { Datastore } from '../../datastore/types.js';
import type {
  IPPoolSpec,
  IPReservationSpec,
  NodeSpec,
  WorkloadEndpointSpec,
} from '../../model/resource.js';

export interface TempStore {
  ds: Datastore;
  url: string;
  dir: string;
  cleanup(): Promise<void>;
}

export function tempSqlite(): TempStore {
  const dir = mkdtempSync(join(tmpdir(), 'tortie-ipam-'));
  const path = join(dir, 'tortie.db');
  const ds = SqliteDatastore.open(path);
  return {
    ds,
    url: `sqlite:${path}`,
    dir,
    async cleanup() {
      await ds.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const API = 'projectcalico.org/v3';

export async function addPool(
  ds: Datastore,
  name: string,
  cidr: string,
  spec: Partial<IPPoolSpec> = {},
): Promise<void> {
  await new ResourceStore(ds).create<IPPoolSpec>({
    apiVersion: API,
    kind: 'IPPool',
    metadata: { name },
    spec: { cidr, ...spec },
  });
}

export async function addReservation(ds: Datastore, name: string, cidrs: string[]): Promise<void> {
  await new ResourceStore(ds).create<IPReservationSpec>({
    apiVersion: API,
    kind: 'IPReservation',
    metadata: { name },
    spec: { reservedCIDRs: cidrs },
  });
}

export async function addNode(
  ds: Datastore,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  await new ResourceStore(ds).create<NodeSpec>({
    apiVersion: API,
    kind: 'Node',
    metadata: { name, labels },
    spec: {},
  });
}

export async function deleteNode(ds: Datastore, name: string): Promise<void> {
  await new ResourceStore(ds).delete('Node', name);
}

/** A WorkloadEndpoint owning the handle "<network>.<containerID>". */
export async function addWorkload(
  ds: Datastore,
  name: string,
  node: string,
  containerID: string,
  ipNetworks: string[] = [],
  namespace = 'default',
): Promise<void> {
  await new ResourceStore(ds).create<WorkloadEndpointSpec>({
    apiVersion: API,
    kind: 'WorkloadEndpoint',
    metadata: { name, namespace },
    spec: {
      node,
      containerID,
      interfaceName: 'eth0',
      ipNetworks,
      orchestrator: 'tortie',
      endpoint: 'eth0',
    },
  });
}

export async function deleteWorkload(
  ds: Datastore,
  name: string,
  namespace = 'default',
): Promise<void> {
  await new ResourceStore(ds).delete('WorkloadEndpoint', name, namespace);
}
