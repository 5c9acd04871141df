// Datastore keys of Calico's IPAM, in its etcdv3 layout, so that a Tortie
// datastore and a Calico one can be read by either side's tooling.
//
//   /calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26        AllocationBlock
//   /calico/ipam/v2/host/<node>/ipv4/block/10.0.0.0-26       BlockAffinity
//   /calico/ipam/v2/handle/<handle id>                       IPAMHandle
//   /calico/ipam/v2/config                                   IPAMConfig

import { formatCidr, tryParseCidr, type Cidr, type IPFamily } from '../model/cidr.js';

export const IPAM_ROOT = '/calico/ipam/v2/';
export const BLOCKS_PREFIX = '/calico/ipam/v2/assignment/';
export const HOSTS_PREFIX = '/calico/ipam/v2/host/';
export const HANDLES_PREFIX = '/calico/ipam/v2/handle/';
export const IPAM_CONFIG_KEY = '/calico/ipam/v2/config';

/** "10.0.0.0/26" -> "10.0.0.0-26" (Calico replaces the first "/" only). */
function cidrSegment(cidr: Cidr): string {
  return formatCidr(cidr).replace('/', '-');
}

function parseCidrSegment(segment: string): Cidr | undefined {
  const dash = segment.lastIndexOf('-');
  if (dash === -1) return undefined;
  const text = `${segment.slice(0, dash)}/${segment.slice(dash + 1)}`;
  const cidr = tryParseCidr(text);
  // Only canonical keys are ours; anything else is not a block key.
  if (cidr === undefined || formatCidr(cidr) !== text) return undefined;
  return cidr;
}

/** Prefix of every block (family omitted) or of one family's blocks. */
export function blocksPrefix(family?: IPFamily): string {
  return family === undefined ? BLOCKS_PREFIX : `${BLOCKS_PREFIX}ipv${family}/block/`;
}

export function blockKey(cidr: Cidr): string {
  return `${blocksPrefix(cidr.family)}${cidrSegment(cidr)}`;
}

const BLOCK_KEY = /^\/calico\/ipam\/v2\/assignment\/ipv([46])\/block\/([^/]+)$/;

export function parseBlockKey(key: string): Cidr | undefined {
  const m = BLOCK_KEY.exec(key);
  if (!m) return undefined;
  const cidr = parseCidrSegment(m[2]!);
  if (cidr === undefined || String(cidr.family) !== m[1]) return undefined;
  return cidr;
}

/** Node names become key segments: they must not be empty or contain "/". */
export function checkNodeName(node: string): void {
  if (node === '' || node.includes('/')) {
    throw new RangeError(`invalid node name ${JSON.stringify(node)}`);
  }
}

/** Prefix of every affinity, of one node's, or of one node's in one family. */
export function affinitiesPrefix(node?: string, family?: IPFamily): string {
  if (node === undefined) return HOSTS_PREFIX;
  checkNodeName(node);
  if (family === undefined) return `${HOSTS_PREFIX}${node}/`;
  return `${HOSTS_PREFIX}${node}/ipv${family}/block/`;
}

export function affinityKey(node: string, cidr: Cidr): string {
  return `${affinitiesPrefix(node, cidr.family)}${cidrSegment(cidr)}`;
}

const AFFINITY_KEY = /^\/calico\/ipam\/v2\/host\/([^/]+)\/ipv([46])\/block\/([^/]+)$/;

export function parseAffinityKey(key: string): { node: string; cidr: Cidr } | undefined {
  const m = AFFINITY_KEY.exec(key);
  if (!m) return undefined;
  const cidr = parseCidrSegment(m[3]!);
  if (cidr === undefined || String(cidr.family) !== m[2]) return undefined;
  return { node: m[1]!, cidr };
}

/** Handle IDs become key segments: they must not be empty or contain "/". */
export function checkHandleId(handle: string): void {
  if (handle === '' || handle.includes('/')) {
    throw new RangeError(`invalid handle ID ${JSON.stringify(handle)}`);
  }
}

export function handleKey(handle: string): string {
  checkHandleId(handle);
  return `${HANDLES_PREFIX}${handle}`;
}

export function parseHandleKey(key: string): string | undefined {
  if (!key.startsWith(HANDLES_PREFIX)) return undefined;
  const id = key.slice(HANDLES_PREFIX.length);
  return id === '' || id.includes('/') ? undefined : id;
}

// ---------------------------------------------------------------------------
// Keys of the v3 resources IPAM reads (written by the resource layer).

export const RESOURCES_PREFIX = '/calico/resources/v3/projectcalico.org/';

export function resourcePrefix(plural: string): string {
  return `${RESOURCES_PREFIX}${plural}/`;
}

export function resourceKey(plural: string, name: string, namespace?: string): string {
  return namespace === undefined
    ? `${RESOURCES_PREFIX}${plural}/${name}`
    : `${RESOURCES_PREFIX}${plural}/${namespace}/${name}`;
}
