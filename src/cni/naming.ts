// Who a CNI call is about, and the names that follow from it. Everything here
// is a pure function of the configuration, the environment and CNI_ARGS, so
// ADD, CHECK and DEL compute the same names without storing them anywhere.
//
//   workload id   K8S_POD_NAMESPACE.K8S_POD_NAME when the pod is named, else
//                 the container id; ".IFNAME" is appended for an interface
//                 other than eth0 so each (container, interface) is distinct
//   host veth     "cali" + first 11 hex characters of sha1(workload id)
//   IPAM handle   "<network>.<containerID>" (Calico's), ":<ifname>" appended
//                 for an interface other than eth0
//   WEP name      <node>-<orchestrator>-<workload>-<endpoint>, each part with
//                 '-' doubled (Calico's escaping); orchestrator "k8s" with the
//                 pod name as workload, else "cni" with the container id

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { WORKLOAD_IFACE_PREFIX } from '../dataplane/constants.js';
import { CniError, ERR_INVALID_ENV } from './errors.js';
import { parseCniArgs, parseLabelArg, type NetConf } from './config.js';

export const LABEL_NAMESPACE = 'projectcalico.org/namespace';
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';
/** WorkloadEndpoint annotations Tortie's CNI writes (GC and DEL read them). */
export const ANNOTATION_NETWORK = 'cni.tortie.dev/network';
export const ANNOTATION_HANDLE = 'cni.tortie.dev/handle';
export const ANNOTATION_NETNS = 'cni.tortie.dev/netns';
/** IPAM allocation attributes Tortie adds beside Calico's node/namespace/pod/timestamp. */
export const ATTR_NETWORK = 'network';
export const ATTR_CONTAINER_ID = 'containerID';
export const ATTR_IFNAME = 'ifname';

export interface WorkloadIdentity {
  node: string;
  orchestrator: 'k8s' | 'cni';
  namespace: string;
  /** Pod name (k8s) or container id. */
  workload: string;
  pod?: string;
  containerId: string;
  endpoint: string;
  workloadId: string;
  hostIface: string;
  handle: string;
  wepName: string;
  labels: Record<string, string>;
  profiles: string[];
}

/** "cali" + 11 hex characters of sha1(id). */
export function hostIfaceName(workloadId: string, prefix = WORKLOAD_IFACE_PREFIX): string {
  return prefix + createHash('sha1').update(workloadId).digest('hex').slice(0, 11);
}

export function escapeDashes(s: string): string {
  return s.replace(/-/g, '--');
}

/** Calico's WorkloadEndpoint name. */
export function workloadEndpointName(
  node: string,
  orchestrator: string,
  workload: string,
  endpoint: string,
): string {
  return [node, orchestrator, workload, endpoint].map(escapeDashes).join('-');
}

export function handleId(network: string, containerId: string, ifName: string): string {
  return ifName === 'eth0' ? `${network}.${containerId}` : `${network}.${containerId}:${ifName}`;
}

/** The node name: config `nodename`, else the nodename file, else the hostname. */
export function resolveNodename(conf: Pick<NetConf, 'nodename' | 'nodenameFile'>): string {
  if (conf.nodename) return conf.nodename;
  try {
    const fromFile = readFileSync(conf.nodenameFile, 'utf8').trim();
    if (fromFile) return fromFile;
  } catch {
    /* no file: fall through */
  }
  return hostname();
}

export function identify(
  conf: NetConf,
  call: { containerId: string; ifName: string; args: string },
  node = resolveNodename(conf),
): WorkloadIdentity {
  const args = parseCniArgs(call.args);
  const podNamespace = args['K8S_POD_NAMESPACE'] || undefined;
  const pod = args['K8S_POD_NAME'] || undefined;
  const namespace = podNamespace ?? 'default';
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    throw new CniError(
      ERR_INVALID_ENV,
      'invalid CNI_ARGS',
      `K8S_POD_NAMESPACE "${namespace}" is not a valid namespace name`,
    );
  }
  const orchestrator = pod ? 'k8s' : 'cni';
  const workload = pod ?? call.containerId;
  let workloadId = pod ? `${namespace}.${pod}` : call.containerId;
  if (call.ifName !== 'eth0') workloadId += `.${call.ifName}`;
  const labels: Record<string, string> = {
    ...conf.labels,
    ...(args['TORTIE_LABELS'] ? parseLabelArg(args['TORTIE_LABELS']) : {}),
    [LABEL_NAMESPACE]: namespace,
    [LABEL_ORCHESTRATOR]: orchestrator,
  };
  const id: WorkloadIdentity = {
    node,
    orchestrator,
    namespace,
    workload,
    containerId: call.containerId,
    endpoint: call.ifName,
    workloadId,
    hostIface: hostIfaceName(workloadId),
    handle: handleId(conf.name, call.containerId, call.ifName),
    wepName: workloadEndpointName(node, orchestrator, workload, call.ifName),
    labels,
    profiles: pod ? [`kns.${namespace}`] : [conf.name],
  };
  if (pod) id.pod = pod;
  return id;
}
