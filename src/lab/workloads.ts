// Workloads, made the way a container runtime makes a pod's network: a fresh
// network namespace, then CNI ADD; on removal CNI DEL, then the namespace
// goes. The plugin runs inside the workload's host namespace.

import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import {
  invokeCni,
  k8sCniArgs,
  labNetworkConfig,
  resultAddresses,
  resultHostInterface,
  type CniNetworkConfig,
  type CniRequest,
} from './cni-runtime.js';
import { LabError } from './errors.js';
import {
  AGENT_ROLE,
  checkNamespaceName,
  checkWorkloadName,
  containerIdFor,
  WORKLOAD_IFNAME,
  workloadNetns,
} from './naming.js';
import { createNetns, deleteNetns } from './netns.js';
import type { WorkloadPlan } from './plan.js';
import type { LabHost, LabState, LabWorkload } from './state.js';

export const NETNS_DIR = '/var/run/netns';

export function netnsPath(netns: string): string {
  return `${NETNS_DIR}/${netns}`;
}

function requestFor(
  state: LabState,
  host: LabHost,
  w: {
    name: string;
    namespace: string;
    netns: string;
    containerId: string;
    labels: Record<string, string>;
  },
  command: 'ADD' | 'DEL' | 'CHECK',
  prevResult?: unknown,
): CniRequest {
  const config: CniNetworkConfig = labNetworkConfig({
    nodename: host.name,
    datastore: state.datastore.url,
    mtu: state.cni.mtu,
    labels: w.labels,
    ...(state.cni.logFile ? { logFile: state.cni.logFile } : {}),
    agentSocket: agentSocketOf(state, host),
  });
  if (prevResult !== undefined) config['prevResult'] = prevResult;
  return {
    command,
    containerId: w.containerId,
    netns: netnsPath(w.netns),
    ifName: WORKLOAD_IFNAME,
    args: k8sCniArgs(w.namespace, w.name, w.containerId),
    config,
    runIn: host.netns,
  };
}

/**
 * The plugin may ask the host agent for help; a lab host has one only once
 * an "agent" process runs there, listening on <labdir>/run/agent-<host>.sock.
 */
export function agentSocketOf(state: LabState, host: LabHost): string {
  const agent = state.processes.find((p) => p.role === AGENT_ROLE && p.host === host.name);
  return agent ? join(dirname(agent.pidfile), `agent-${host.name}.sock`) : '';
}

function hostOf(state: LabState, name: string): LabHost {
  const host = state.hosts.find((h) => h.name === name);
  if (!host) {
    throw new LabError(
      `no host "${name}" in lab "${state.name}" (hosts: ${state.hosts.map((h) => h.name).join(', ')})`,
    );
  }
  return host;
}

/**
 * Creates the workload's namespace and calls CNI ADD. On failure it calls
 * DEL (as the spec asks of a runtime after a failed ADD), removes the
 * namespace, and throws.
 */
export async function addWorkload(state: LabState, plan: WorkloadPlan): Promise<LabWorkload> {
  checkWorkloadName(plan.name);
  checkNamespaceName(plan.namespace);
  const host = hostOf(state, plan.host);
  if (state.workloads.some((w) => w.name === plan.name)) {
    throw new LabError(`workload "${plan.name}" already exists in lab "${state.name}"`);
  }
  const netns = workloadNetns(state.name, plan.name);
  const containerId = containerIdFor(state.name, plan.name, randomBytes(4).toString('hex'));
  const w = { name: plan.name, namespace: plan.namespace, netns, containerId, labels: plan.labels };
  await createNetns(netns);
  try {
    const result = await invokeCni(
      { command: state.cni.command, path: state.cni.path },
      requestFor(state, host, w, 'ADD'),
    );
    const addresses = resultAddresses(result);
    if (addresses.length === 0) throw new LabError('the plugin returned no addresses');
    const hostInterface = resultHostInterface(result);
    return {
      name: plan.name,
      host: host.name,
      namespace: plan.namespace,
      netns,
      containerId,
      addresses,
      interface: WORKLOAD_IFNAME,
      ...(hostInterface ? { hostInterface } : {}),
      labels: plan.labels,
      cniResult: result,
    };
  } catch (err) {
    await invokeCni(
      { command: state.cni.command, path: state.cni.path },
      requestFor(state, host, w, 'DEL'),
    ).catch(() => undefined);
    await deleteNetns(netns).catch(() => undefined);
    throw new LabError(`workload ${plan.name} on ${host.name}: ${(err as Error).message}`);
  }
}

/** CNI DEL, then the namespace. A failed DEL leaves the workload in place (retry, or `lab down`). */
export async function deleteWorkload(state: LabState, workload: LabWorkload): Promise<void> {
  const host = hostOf(state, workload.host);
  try {
    await invokeCni(
      { command: state.cni.command, path: state.cni.path },
      requestFor(state, host, workload, 'DEL', workload.cniResult),
    );
  } catch (err) {
    throw new LabError(`workload ${workload.name}: ${(err as Error).message}`);
  }
  await deleteNetns(workload.netns);
}

/** CNI CHECK: the plugin verifies the workload is still as ADD left it. */
export async function checkWorkload(state: LabState, workload: LabWorkload): Promise<void> {
  const host = hostOf(state, workload.host);
  await invokeCni(
    { command: state.cni.command, path: state.cni.path },
    requestFor(state, host, workload, 'CHECK', workload.cniResult),
  );
}
