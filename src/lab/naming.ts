// Every name the lab gives to something in the kernel or on disk. All of a
// lab's network namespaces share the prefix `tl-<lab>-`, and lab names hold
// no dash, so `tl-a-` never matches a namespace of lab `a-b`: `lab down` can
// sweep by prefix after a crash without touching anything else.
//
// Links are never created in the root namespace: each veth is made with both
// ends already inside lab namespaces (`ip -n A link add X type veth peer name
// Y netns B`), so interface names only have to be unique within one lab
// namespace and stay short (`eth0`, `br1`, `host1`, `rtr1`).

import { join } from 'node:path';
import { LabError } from './errors.js';

export const DEFAULT_LAB_NAME = 'tortie';
export const DEFAULT_LAB_ROOT = '/var/lib/tortie/labs';
/** Every lab namespace starts with this. */
export const NETNS_PREFIX = 'tl-';
export const STATE_FILE = 'state.json';
export const DATASTORE_FILE = 'tortie.db';
/** The workload's interface name inside its namespace (CNI_IFNAME). */
export const WORKLOAD_IFNAME = 'eth0';
/** A host's underlay interface inside its namespace. */
export const HOST_UPLINK = 'eth0';

const LAB_NAME = /^[a-z][a-z0-9]{0,11}$/;
// A Kubernetes DNS label (pod names are subdomains, but a label keeps netns names short).
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const MAX_WORKLOAD_NAME = 40;

export function checkLabName(name: string): string {
  if (!LAB_NAME.test(name)) {
    throw new LabError(
      `invalid lab name "${name}": use 1-12 lowercase letters and digits, starting with a letter (no dashes: the name is part of every namespace name)`,
    );
  }
  return name;
}

export function checkWorkloadName(name: string): string {
  if (name.length > MAX_WORKLOAD_NAME || !DNS_LABEL.test(name)) {
    throw new LabError(
      `invalid workload name "${name}": use up to ${MAX_WORKLOAD_NAME} lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
  return name;
}

export function checkNamespaceName(name: string): string {
  if (name.length > 63 || !DNS_LABEL.test(name)) {
    throw new LabError(
      `invalid namespace "${name}": a Kubernetes namespace is up to 63 lowercase letters, digits and '-'`,
    );
  }
  return name;
}

/** The role of a host agent in the lab's process registry. */
export const AGENT_ROLE = 'agent';

/** Host names are fixed: host1, host2, … (the Node resource names). */
export function hostName(index: number): string {
  return `host${index}`;
}

export function netnsPrefix(lab: string): string {
  return `${NETNS_PREFIX}${lab}-`;
}

export function underlayNetns(lab: string): string {
  return `${netnsPrefix(lab)}ul`;
}

export function routerNetns(lab: string): string {
  return `${netnsPrefix(lab)}rtr`;
}

/** The external router (BIRD 2), the data-centre gateway. */
export function gatewayNetns(lab: string): string {
  return `${netnsPrefix(lab)}gw`;
}

/** The outside network behind the external router. */
export function outsideNetns(lab: string): string {
  return `${netnsPrefix(lab)}ext`;
}

export function hostNetns(lab: string, host: string): string {
  return `${netnsPrefix(lab)}${host}`;
}

export function workloadNetns(lab: string, workload: string): string {
  return `${netnsPrefix(lab)}w-${workload}`;
}

/** True for a namespace name that belongs to `lab`. */
export function isLabNetns(lab: string, netns: string): boolean {
  return netns.startsWith(netnsPrefix(lab));
}

/** The bridge of segment `n` inside the underlay namespace. */
export function bridgeName(segment: number): string {
  return `br${segment}`;
}

/** The router's interface on segment `n` (inside the router namespace). */
export function routerInterface(segment: number): string {
  return `eth${segment}`;
}

/** The underlay-side port of the router's leg on segment `n`. */
export function routerPort(segment: number): string {
  return `rtr${segment}`;
}

export function labRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env['TORTIE_LAB_ROOT'] || DEFAULT_LAB_ROOT;
}

export function labDir(root: string, lab: string): string {
  return join(root, checkLabName(lab));
}

/** The CNI container ID of a lab workload: unique per ADD, as a runtime's would be. */
export function containerIdFor(lab: string, workload: string, nonce: string): string {
  return `${lab}-${workload}-${nonce}`;
}

/** Interface names are at most 15 bytes (IFNAMSIZ - 1). */
export const MAX_IFNAME = 15;

export function checkIfName(name: string): string {
  if (name.length === 0 || name.length > MAX_IFNAME) {
    throw new LabError(`interface name "${name}" is longer than ${MAX_IFNAME} characters`);
  }
  return name;
}
