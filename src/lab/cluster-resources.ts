// What the lab writes to the datastore itself: the IP pool and one Node per
// host. Workload endpoints are the CNI plugin's to write.

import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import { AlreadyExistsError, NotFoundError } from '../datastore/types.js';
import {
  CALICO_API_VERSION,
  type BGPConfigurationSpec,
  type BGPPeerSpec,
  type IPPoolSpec,
  type NodeSpec,
  type Resource,
} from '../model/resource.js';
import { applyDefaults, formatIssue, validateResource } from '../model/validate.js';
import { LAB_NETWORK_NAME } from './cni-runtime.js';
import { LabError } from './errors.js';
import { LAB_ASN, type PoolPlan } from './plan.js';
import type { LabGateway, LabHost, ResourceRef } from './state.js';

export const LAB_LABEL = 'tortie.io/lab';
export const SEGMENT_LABEL = 'tortie.io/segment';
export const RACK_LABEL = 'tortie.io/rack';
export const REFLECTOR_LABEL = 'tortie.io/route-reflector';

/**
 * What a lab needs so that policy, on by default in every agent, lets its
 * workloads talk: Calico's Kubernetes manifests let workloads reach their own
 * host (`defaultEndpointToHostAction: Accept`), and Calico's docker networks
 * get a profile named after the network that the plugin lists on every
 * endpoint; without it those endpoints are denied. Users tighten both with
 * their own policies.
 */
export function labPolicyResources(): Resource[] {
  return [
    {
      apiVersion: CALICO_API_VERSION,
      kind: 'FelixConfiguration',
      metadata: { name: 'default' },
      spec: { defaultEndpointToHostAction: 'Accept' },
    },
    {
      apiVersion: CALICO_API_VERSION,
      kind: 'Profile',
      metadata: { name: LAB_NETWORK_NAME },
      spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] },
    },
  ];
}

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
        ...(host.rack !== undefined ? { [RACK_LABEL]: String(host.rack) } : {}),
        ...(host.routeReflector ? { [REFLECTOR_LABEL]: 'true' } : {}),
      },
    },
    spec: {
      bgp: {
        ipv4Address: address,
        ...(host.asNumber !== undefined ? { asNumber: host.asNumber } : {}),
        ...(host.clusterId !== undefined ? { routeReflectorClusterID: host.clusterId } : {}),
      },
      addresses: [{ address, type: 'CalicoNodeIP' }],
      orchRefs: [{ nodeName: host.name, orchestrator: 'k8s' }],
    },
  };
}

/**
 * BGP: the BGPConfiguration (AS 64512, the speaker bound to each host's
 * address; the full mesh unless racks) and, with racks, the peerings the
 * source article draws — every host with its rack's reflector (iBGP), the
 * reflectors with each other (eBGP, one AS per rack) — and the external
 * router's peering with every host (flat) or every reflector (racks).
 */
export function bgpResources(
  racks: number | undefined,
  gateway: LabGateway | undefined,
): Resource<unknown>[] {
  const config: Resource<BGPConfigurationSpec> = {
    apiVersion: CALICO_API_VERSION,
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: {
      asNumber: LAB_ASN,
      nodeToNodeMeshEnabled: racks === undefined,
      bindMode: 'NodeIP',
      logSeverityScreen: 'Info',
    },
  };
  const peer = (name: string, spec: BGPPeerSpec): Resource<BGPPeerSpec> => ({
    apiVersion: CALICO_API_VERSION,
    kind: 'BGPPeer',
    metadata: { name },
    spec,
  });
  const out: Resource<unknown>[] = [config];
  const isRr = `has(${REFLECTOR_LABEL})`;
  for (let r = 1; r <= (racks ?? 0); r++) {
    const inRack = `${RACK_LABEL} == '${r}'`;
    out.push(
      peer(`rack${r}-to-reflector`, {
        nodeSelector: `${inRack} && !${isRr}`,
        peerSelector: `${inRack} && ${isRr}`,
      }),
      peer(`rack${r}-reflector`, {
        nodeSelector: `${inRack} && ${isRr}`,
        peerSelector: `${inRack} && !${isRr}`,
      }),
    );
  }
  if (racks !== undefined) {
    out.push(peer('reflectors', { nodeSelector: isRr, peerSelector: isRr }));
  }
  if (gateway) {
    out.push(
      peer('external-router', {
        peerIP: gateway.address,
        asNumber: gateway.asNumber,
        ...(racks !== undefined
          ? // From the reflector's core leg, the gateway's own segment.
            { nodeSelector: isRr, sourceAddress: 'None' as const }
          : {}),
      }),
    );
  }
  return out;
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

/** Runs `work` on the resource store of `url`, closing the datastore after. */
async function withStore<T>(url: string, work: (store: ResourceStore) => Promise<T>): Promise<T> {
  const datastore = await openDatastore(url);
  try {
    return await work(new ResourceStore(datastore));
  } finally {
    await datastore.close();
  }
}

/** Applies the resources (create or update); returns references for cleanup. */
export async function applyResources(
  url: string,
  resources: Resource<unknown>[],
): Promise<ResourceRef[]> {
  const prepared = prepareResources(resources);
  return withStore(url, async (store) => {
    for (const resource of prepared) await store.apply(resource);
    return prepared.map(refOf);
  });
}

/**
 * Creates each resource that is not there yet and leaves existing ones alone
 * (a shared datastore's own FelixConfiguration stays the user's). Returns
 * only what it created, so `lab down` removes only that.
 */
export async function ensureResources(
  url: string,
  resources: Resource<unknown>[],
): Promise<ResourceRef[]> {
  const prepared = prepareResources(resources);
  return withStore(url, async (store) => {
    const created: ResourceRef[] = [];
    for (const resource of prepared) {
      try {
        await store.create(resource);
        created.push(refOf(resource));
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
      }
    }
    return created;
  });
}

/** Deletes what the lab wrote; already-deleted resources are fine. */
export async function deleteResources(url: string, refs: ResourceRef[]): Promise<void> {
  if (refs.length === 0) return;
  await withStore(url, async (store) => {
    for (const ref of [...refs].reverse()) {
      try {
        await store.delete(ref.kind, ref.name, ref.namespace);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
  });
}

/** Reads resources of a kind (for tests and `lab status` checks). */
export async function listResources(
  url: string,
  kind: string,
  namespace?: string,
): Promise<Resource[]> {
  return withStore(url, (store) => store.list(kind, namespace));
}
