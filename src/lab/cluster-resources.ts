// What the lab writes to the datastore itself: the IP pool and one Node per
// host. Workload endpoints are the CNI plugin's to write.

import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import { NotFoundError } from '../datastore/types.js';
import {
  CALICO_API_VERSION,
  type IPPoolSpec,
  type NodeSpec,
  type Resource,
} from '../model/resource.js';
import { applyDefaults, formatIssue, validateResource } from '../model/validate.js';
import { LabError } from './errors.js';
import type { PoolPlan } from './plan.js';
import type { LabHost, ResourceRef } from './state.js';

export const LAB_LABEL = 'tortie.io/lab';
export const SEGMENT_LABEL = 'tortie.io/segment';

export function poolResource(pool: PoolPlan): Resource<IPPoolSpec> {
  return {
    apiVersion: CALICO_API_VERSION,
    kind: 'IPPool',
    metadata: { name: pool.name },
    spec: {
      cidr: pool.cidr,
      blockSize: pool.blockSize,
      ipipMode: 'Never',
      vxlanMode: pool.vxlanMode,
      natOutgoing: true,
      nodeSelector: 'all()',
    },
  };
}

export function nodeResource(lab: string, host: LabHost): Resource<NodeSpec> {
  const address = `${host.address}/${host.prefixLength}`;
  return {
    apiVersion: CALICO_API_VERSION,
    kind: 'Node',
    metadata: {
      name: host.name,
      labels: {
        'kubernetes.io/hostname': host.name,
        'kubernetes.io/os': 'linux',
        [LAB_LABEL]: lab,
        [SEGMENT_LABEL]: String(host.segment),
      },
    },
    spec: {
      bgp: { ipv4Address: address },
      addresses: [{ address, type: 'CalicoNodeIP' }],
      orchRefs: [{ nodeName: host.name, orchestrator: 'k8s' }],
    },
  };
}

export function refOf(resource: Resource<unknown>): ResourceRef {
  return {
    kind: resource.kind,
    name: resource.metadata.name,
    ...(resource.metadata.namespace ? { namespace: resource.metadata.namespace } : {}),
  };
}

/**
 * Validates the resources and fills in Calico's defaults, as `tortie apply`
 * would; a lab bug that makes an invalid resource fails here, by field.
 */
export function prepareResources(resources: Resource<unknown>[]): Resource[] {
  return resources.map((resource) => {
    const { issues } = validateResource(resource, {
      source: `lab ${resource.kind} ${resource.metadata.name}`,
      line: 0,
    });
    if (issues.length > 0) throw new LabError(issues.map(formatIssue).join('; '));
    return applyDefaults(resource as Resource);
  });
}

/** Applies the resources (create or update); returns references for cleanup. */
export async function applyResources(
  url: string,
  resources: Resource<unknown>[],
): Promise<ResourceRef[]> {
  const prepared = prepareResources(resources);
  const datastore = await openDatastore(url);
  try {
    const store = new ResourceStore(datastore);
    const refs: ResourceRef[] = [];
    for (const resource of prepared) {
      await store.apply(resource);
      refs.push(refOf(resource));
    }
    return refs;
  } finally {
    await datastore.close();
  }
}

/** Deletes what the lab wrote; already-deleted resources are fine. */
export async function deleteResources(url: string, refs: ResourceRef[]): Promise<void> {
  if (refs.length === 0) return;
  const datastore = await openDatastore(url);
  try {
    const store = new ResourceStore(datastore);
    for (const ref of [...refs].reverse()) {
      try {
        await store.delete(ref.kind, ref.name, ref.namespace);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
  } finally {
    await datastore.close();
  }
}

/** Reads resources of a kind (for tests and `lab status` checks). */
export async function listResources(
  url: string,
  kind: string,
  namespace?: string,
): Promise<Resource[]> {
  const datastore = await openDatastore(url);
  try {
    return await new ResourceStore(datastore).list(kind, namespace);
  } finally {
    await datastore.close();
  }
}
