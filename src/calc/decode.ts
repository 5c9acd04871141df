// The validation filter: datastore keys and JSON values in, typed facts out.
// Keys the calculation does not use are ignored; a value that cannot be
// decoded is reported and treated as if the key were absent, so a bad write
// never leaves half of an old value behind.

import { formatCidr, formatIP, tryParseCidr, tryParseIP, type Cidr } from '../model/cidr.js';
import { parseASNumber, parseDuration } from '../model/formats.js';
import {
  BGPCONFIGURATION,
  BGPPEER,
  FELIXCONFIGURATION,
  IPPOOL,
  NODE,
  WORKLOADENDPOINT,
  kindPrefix,
} from '../model/kinds.js';
import type {
  BGPConfigurationSpec,
  BGPPeerSpec,
  FelixConfigurationSpec,
  IPPoolSpec,
  NodeSpec,
  Resource,
  WorkloadEndpointSpec,
} from '../model/resource.js';
import { parseSelector, type Selector } from '../model/selector.js';
import type { EncapsulationMode } from './types.js';

const POOLS = kindPrefix(IPPOOL);
const NODES = kindPrefix(NODE);
const WEPS = kindPrefix(WORKLOADENDPOINT);
const FELIX = kindPrefix(FELIXCONFIGURATION);
const BLOCKS = '/calico/ipam/v2/assignment/';
const BGPCONFIGS = kindPrefix(BGPCONFIGURATION);
const BGPPEERS = kindPrefix(BGPPEER);

/** The key prefixes the calculation reads; the agent watches exactly these. */
export const CALC_PREFIXES: readonly string[] = [
  POOLS,
  NODES,
  WEPS,
  FELIX,
  BLOCKS,
  BGPCONFIGS,
  BGPPEERS,
];

export interface PoolFact {
  name: string;
  cidr: Cidr;
  vxlanMode: EncapsulationMode;
  ipipMode: EncapsulationMode;
  natOutgoing: boolean;
  disabled: boolean;
  nodeSelector: Selector;
  allowsTunnel: boolean;
  /** Its blocks are not advertised over BGP. */
  disableBGPExport: boolean;
}

export interface NodeFact {
  name: string;
  labels: Record<string, string>;
  /** IPv4 address and its subnet's prefix length. */
  ipv4: { address: string; prefixLength: number } | undefined;
  vxlanTunnelAddress: string | undefined;
  vxlanMac: string | undefined;
  /** spec.bgp.asNumber; undefined: the cluster's default AS. */
  asNumber: number | undefined;
  /** spec.bgp.routeReflectorClusterID: the Node is a route reflector. */
  routeReflectorClusterId: string | undefined;
}

export interface EndpointFact {
  key: string;
  node: string;
  iface: string;
  ipv4: string[];
  ipv6: string[];
}

export interface BlockAllocationFact {
  address: string;
  /** The node using the address: its `node` attribute, else the tunnel handle's node. */
  node: string | undefined;
  tunnel: boolean;
}

export interface BlockFact {
  cidr: Cidr;
  /** The node of `affinity: "host:<node>"`, if any. */
  affinity: string | undefined;
  allocations: BlockAllocationFact[];
}

export interface FelixFact {
  /** "default" or "node.<name>". */
  name: string;
  vxlanVNI: number | undefined;
  vxlanPort: number | undefined;
  vxlanMTU: number | undefined;
}

/** A BGPConfiguration: "default" (cluster-wide) or "node.<name>". */
export interface BgpConfigFact {
  name: string;
  nodeToNodeMeshEnabled: boolean | undefined;
  asNumber: number | undefined;
  listenPort: number | undefined;
  bindMode: 'None' | 'NodeIP' | undefined;
  /** "secret/key" of nodeMeshPassword's secretKeyRef. */
  meshPassword: string | undefined;
  /** nodeMeshMaxRestartTime, seconds. */
  meshMaxRestartSeconds: number | undefined;
}

export interface BgpPeerFact {
  name: string;
  /** spec.node: this peering is for that Node only. */
  node: string | undefined;
  nodeSelector: Selector | undefined;
  peerIP: { address: string; port: number | undefined } | undefined;
  peerSelector: Selector | undefined;
  asNumber: number | undefined;
  keepOriginalNextHop: boolean;
  nextHopMode: 'Auto' | 'Self' | 'Keep';
  /** "secret/key" of password.secretKeyRef. */
  password: string | undefined;
  /** sourceAddress UseNodeIP (the default): the session's source is the Node's address. */
  useNodeIp: boolean;
  maxRestartSeconds: number | undefined;
  /** Fields set that Tortie does not implement (reported, otherwise ignored). */
  unsupported: string[];
}

export type Decoded =
  | { kind: 'pool'; name: string; fact: PoolFact | undefined }
  | { kind: 'node'; name: string; fact: NodeFact | undefined }
  | { kind: 'endpoint'; key: string; fact: EndpointFact | undefined }
  | { kind: 'block'; key: string; fact: BlockFact | undefined }
  | { kind: 'felix'; name: string; fact: FelixFact | undefined }
  | { kind: 'bgpconfig'; name: string; fact: BgpConfigFact | undefined }
  | { kind: 'bgppeer'; name: string; fact: BgpPeerFact | undefined }
  | { kind: 'ignored' };

export interface DecodeResult {
  decoded: Decoded;
  /** Why the value was rejected, when it was. */
  error: string | undefined;
}

const MODES: readonly string[] = ['Never', 'Always', 'CrossSubnet'];
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IFACE = /^[^\s/]{1,15}$/;

class DecodeError extends Error {}

function fail(message: string): never {
  throw new DecodeError(message);
}

function resourceJson<S>(value: string): Resource<S> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    fail('value is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    fail('value is not an object');
  return parsed as Resource<S>;
}

function mode(value: unknown, field: string): EncapsulationMode {
  if (value === undefined || value === null || value === '') return 'Never';
  if (typeof value !== 'string' || !MODES.includes(value))
    fail(`${field} ${JSON.stringify(value)} is not Never, Always or CrossSubnet`);
  return value as EncapsulationMode;
}

function decodePool(name: string, value: string): PoolFact {
  const spec = resourceJson<IPPoolSpec>(value).spec ?? fail('no spec');
  const cidr = typeof spec.cidr === 'string' ? tryParseCidr(spec.cidr) : undefined;
  if (!cidr) fail(`spec.cidr ${JSON.stringify(spec.cidr)} is not a CIDR`);
  let nodeSelector: Selector;
  try {
    nodeSelector = parseSelector(spec.nodeSelector ?? 'all()');
  } catch (err) {
    fail(`spec.nodeSelector: ${(err as Error).message}`);
  }
  return {
    name,
    cidr,
    vxlanMode: mode(spec.vxlanMode, 'spec.vxlanMode'),
    ipipMode: mode(spec.ipipMode, 'spec.ipipMode'),
    natOutgoing: spec.natOutgoing === true,
    disabled: spec.disabled === true,
    nodeSelector,
    allowsTunnel: spec.allowedUses === undefined || spec.allowedUses.includes('Tunnel'),
    disableBGPExport: spec.disableBGPExport === true,
  };
}

/** "10.0.0.5/24" -> address and prefix length; a bare address counts as /32. */
function ipv4WithPrefix(text: unknown): { address: string; prefixLength: number } | undefined {
  if (typeof text !== 'string') return undefined;
  const [addr = '', len] = text.split('/', 2);
  const ip = tryParseIP(addr);
  if (!ip || ip.family !== 4) return undefined;
  const prefixLength = len === undefined ? 32 : Number(len);
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) return undefined;
  return { address: formatIP(ip), prefixLength };
}

function decodeNode(name: string, value: string): NodeFact {
  const r = resourceJson<NodeSpec>(value);
  const spec = r.spec ?? {};
  let ipv4 = ipv4WithPrefix(spec.bgp?.ipv4Address);
  if (!ipv4) {
    for (const a of spec.addresses ?? []) {
      if (a.type !== undefined && a.type !== 'CalicoNodeIP' && a.type !== 'InternalIP') continue;
      ipv4 = ipv4WithPrefix(a.address);
      if (ipv4) break;
    }
  }
  let tunnel: string | undefined;
  if (spec.ipv4VXLANTunnelAddr !== undefined && spec.ipv4VXLANTunnelAddr !== '') {
    const ip = tryParseIP(spec.ipv4VXLANTunnelAddr);
    if (!ip || ip.family !== 4)
      fail(
        `spec.ipv4VXLANTunnelAddr ${JSON.stringify(spec.ipv4VXLANTunnelAddr)} is not an IPv4 address`,
      );
    tunnel = formatIP(ip);
  }
  let mac: string | undefined;
  if (spec.vxlanTunnelMACAddr !== undefined && spec.vxlanTunnelMACAddr !== '') {
    mac = spec.vxlanTunnelMACAddr.toLowerCase();
    if (!MAC.test(mac))
      fail(
        `spec.vxlanTunnelMACAddr ${JSON.stringify(spec.vxlanTunnelMACAddr)} is not a MAC address`,
      );
  }
  let asNumber: number | undefined;
  if (spec.bgp?.asNumber !== undefined) {
    asNumber = parseASNumber(spec.bgp.asNumber);
    if (asNumber === undefined || asNumber === 0)
      fail(`spec.bgp.asNumber ${JSON.stringify(spec.bgp.asNumber)} is not an AS number`);
  }
  const clusterId = spec.bgp?.routeReflectorClusterID;
  if (clusterId !== undefined && clusterId !== '') {
    const ip = tryParseIP(clusterId);
    if (!ip || ip.family !== 4)
      fail(`spec.bgp.routeReflectorClusterID ${JSON.stringify(clusterId)} is not an IPv4 address`);
  }
  return {
    name,
    labels: { ...(r.metadata?.labels ?? {}) },
    ipv4,
    vxlanTunnelAddress: tunnel,
    vxlanMac: mac,
    asNumber,
    routeReflectorClusterId: clusterId === '' ? undefined : clusterId,
  };
}

function decodeEndpoint(key: string, value: string): EndpointFact {
  const spec = resourceJson<WorkloadEndpointSpec>(value).spec ?? fail('no spec');
  if (typeof spec.node !== 'string' || spec.node === '') fail('spec.node is missing');
  if (typeof spec.interfaceName !== 'string' || !IFACE.test(spec.interfaceName)) {
    fail(`spec.interfaceName ${JSON.stringify(spec.interfaceName)} is not an interface name`);
  }
  const ipv4: string[] = [];
  const ipv6: string[] = [];
  for (const net of spec.ipNetworks ?? []) {
    const cidr = tryParseCidr(net);
    if (!cidr) fail(`spec.ipNetworks: ${JSON.stringify(net)} is not a CIDR`);
    const single = cidr.prefixLength === (cidr.family === 4 ? 32 : 128);
    if (!single) fail(`spec.ipNetworks: ${net} is not a single address`);
    const text = formatIP({ family: cidr.family, value: cidr.network });
    (cidr.family === 4 ? ipv4 : ipv6).push(text);
  }
  return { key, node: spec.node, iface: spec.interfaceName, ipv4: ipv4.sort(), ipv6: ipv6.sort() };
}

const TUNNEL_HANDLE = /^(?:vxlan|ipip|wireguard)(?:-v6)?-tunnel-addr-(.+)$/;

function decodeBlock(key: string, value: string): BlockFact | undefined {
  const raw = resourceJson<never>(value) as unknown as Record<string, unknown>;
  const cidr = typeof raw['cidr'] === 'string' ? tryParseCidr(raw['cidr']) : undefined;
  if (!cidr) fail('block has no valid cidr');
  const segment = key.slice(key.lastIndexOf('/') + 1);
  if (segment !== formatCidr(cidr).replace('/', '-'))
    fail(`block stored at ${key} claims cidr ${formatCidr(cidr)}`);
  // A block being deleted is gone as far as routing goes.
  if (raw['deleted'] === true) return undefined;
  const affinityText = raw['affinity'];
  const affinity =
    typeof affinityText === 'string' && affinityText.startsWith('host:')
      ? affinityText.slice('host:'.length)
      : undefined;
  const attributes = Array.isArray(raw['attributes']) ? (raw['attributes'] as unknown[]) : [];
  const allocations = Array.isArray(raw['allocations']) ? (raw['allocations'] as unknown[]) : [];
  const size = 2 ** ((cidr.family === 4 ? 32 : 128) - cidr.prefixLength);
  if (allocations.length > size)
    fail(`block ${formatCidr(cidr)} has more allocations than addresses`);
  const facts: BlockAllocationFact[] = [];
  allocations.forEach((idx, ordinal) => {
    if (typeof idx !== 'number') return;
    const attr = attributes[idx];
    const rec = typeof attr === 'object' && attr !== null ? (attr as Record<string, unknown>) : {};
    const handle = typeof rec['handle_id'] === 'string' ? rec['handle_id'] : undefined;
    const secondary =
      typeof rec['secondary'] === 'object' && rec['secondary'] !== null
        ? (rec['secondary'] as Record<string, unknown>)
        : {};
    const tunnelNode = handle ? TUNNEL_HANDLE.exec(handle)?.[1] : undefined;
    const attrNode =
      typeof secondary['node'] === 'string' && secondary['node'] !== ''
        ? secondary['node']
        : undefined;
    facts.push({
      address: formatIP({ family: cidr.family, value: cidr.network + BigInt(ordinal) }),
      node: attrNode ?? tunnelNode,
      tunnel: tunnelNode !== undefined,
    });
  });
  return { cidr, affinity, allocations: facts };
}

function optionalInt(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${field} ${JSON.stringify(value)} is not a whole number from ${min} to ${max}`);
  }
  return value;
}

function decodeFelix(name: string, value: string): FelixFact {
  const spec = resourceJson<FelixConfigurationSpec>(value).spec ?? {};
  return {
    name,
    vxlanVNI: optionalInt(spec.vxlanVNI, 'spec.vxlanVNI', 1, 16777215),
    vxlanPort: optionalInt(spec.vxlanPort, 'spec.vxlanPort', 1, 65535),
    vxlanMTU: optionalInt(spec.vxlanMTU, 'spec.vxlanMTU', 68, 65535),
  };
}

function optionalAsn(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n =
    typeof value === 'number' || typeof value === 'string' ? parseASNumber(value) : undefined;
  if (n === undefined) fail(`${field} ${JSON.stringify(value)} is not an AS number`);
  return n === 0 ? undefined : n;
}

function optionalSeconds(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || ms < 0) fail(`${field} ${JSON.stringify(value)} is not a duration`);
  return Math.round(ms / 1000);
}

function secretRef(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const ref = (value as { secretKeyRef?: { name?: unknown; key?: unknown } }).secretKeyRef;
  if (!ref) return undefined;
  return `${typeof ref.name === 'string' ? ref.name : ''}/${typeof ref.key === 'string' ? ref.key : ''}`;
}

function optionalSelector(value: unknown, field: string): Selector | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') fail(`${field} is not a selector`);
  try {
    return parseSelector(value);
  } catch (err) {
    fail(`${field}: ${(err as Error).message}`);
  }
}

function decodeBgpConfig(name: string, value: string): BgpConfigFact {
  const spec = resourceJson<BGPConfigurationSpec>(value).spec ?? {};
  const mesh = spec.nodeToNodeMeshEnabled;
  if (mesh !== undefined && typeof mesh !== 'boolean')
    fail('spec.nodeToNodeMeshEnabled is not true or false');
  const bind = spec.bindMode;
  if (bind !== undefined && bind !== 'None' && bind !== 'NodeIP')
    fail(`spec.bindMode ${JSON.stringify(bind)} is not None or NodeIP`);
  return {
    name,
    nodeToNodeMeshEnabled: mesh,
    asNumber: optionalAsn(spec.asNumber, 'spec.asNumber'),
    listenPort: optionalInt(spec.listenPort, 'spec.listenPort', 1, 65535),
    bindMode: bind,
    meshPassword: secretRef(spec.nodeMeshPassword),
    meshMaxRestartSeconds: optionalSeconds(
      spec.nodeMeshMaxRestartTime,
      'spec.nodeMeshMaxRestartTime',
    ),
  };
}

/** "192.0.2.1", "192.0.2.1:179" (IPv4 only; IPv6 peers are not supported yet). */
function peerAddress(text: unknown): { address: string; port: number | undefined } {
  if (typeof text !== 'string') fail('spec.peerIP is not a string');
  const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(text);
  const ip = m ? tryParseIP(m[1]!) : undefined;
  if (!m || !ip || ip.family !== 4)
    fail(`spec.peerIP ${JSON.stringify(text)} is not an IPv4 address`);
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535))
    fail(`spec.peerIP ${JSON.stringify(text)}: port out of range`);
  return { address: formatIP(ip), port };
}

function decodeBgpPeer(name: string, value: string): BgpPeerFact {
  const spec = resourceJson<BGPPeerSpec>(value).spec ?? fail('no spec');
  const mode = spec.nextHopMode ?? 'Auto';
  if (mode !== 'Auto' && mode !== 'Self' && mode !== 'Keep')
    fail(`spec.nextHopMode ${JSON.stringify(mode)} is not Auto, Self or Keep`);
  const unsupported: string[] = [];
  if (spec.localASNumber !== undefined) unsupported.push('localASNumber');
  if (spec.localWorkloadSelector) unsupported.push('localWorkloadSelector');
  if (spec.ttlSecurity) unsupported.push('ttlSecurity');
  if (spec.filters?.length) unsupported.push('filters');
  if (spec.keepaliveTime) unsupported.push('keepaliveTime');
  if (spec.reachableBy) unsupported.push('reachableBy');
  if (spec.numAllowedLocalASNumbers) unsupported.push('numAllowedLocalASNumbers');
  const fact: BgpPeerFact = {
    name,
    node: typeof spec.node === 'string' && spec.node !== '' ? spec.node : undefined,
    nodeSelector: optionalSelector(spec.nodeSelector, 'spec.nodeSelector'),
    peerIP: spec.peerIP === undefined || spec.peerIP === '' ? undefined : peerAddress(spec.peerIP),
    peerSelector: optionalSelector(spec.peerSelector, 'spec.peerSelector'),
    asNumber: optionalAsn(spec.asNumber, 'spec.asNumber'),
    keepOriginalNextHop: spec.keepOriginalNextHop === true,
    nextHopMode: mode,
    password: secretRef(spec.password),
    useNodeIp: spec.sourceAddress !== 'None',
    maxRestartSeconds: optionalSeconds(spec.maxRestartTime, 'spec.maxRestartTime'),
    unsupported,
  };
  if (fact.peerIP === undefined && fact.peerSelector === undefined)
    fail('neither spec.peerIP nor spec.peerSelector is set');
  if (fact.peerIP !== undefined && fact.asNumber === undefined)
    fail('spec.asNumber is required with spec.peerIP');
  return fact;
}

function classify(key: string): Decoded {
  if (key.startsWith(POOLS))
    return { kind: 'pool', name: key.slice(POOLS.length), fact: undefined };
  if (key.startsWith(NODES))
    return { kind: 'node', name: key.slice(NODES.length), fact: undefined };
  if (key.startsWith(WEPS))
    return { kind: 'endpoint', key: key.slice(WEPS.length), fact: undefined };
  if (key.startsWith(FELIX))
    return { kind: 'felix', name: key.slice(FELIX.length), fact: undefined };
  if (key.startsWith(BGPCONFIGS))
    return { kind: 'bgpconfig', name: key.slice(BGPCONFIGS.length), fact: undefined };
  if (key.startsWith(BGPPEERS))
    return { kind: 'bgppeer', name: key.slice(BGPPEERS.length), fact: undefined };
  if (/^\/calico\/ipam\/v2\/assignment\/ipv4\/block\/[^/]+$/.test(key))
    return { kind: 'block', key, fact: undefined };
  return { kind: 'ignored' };
}

/** Decodes one update. Deletions and bad values both come out with `fact: undefined`. */
export function decodeUpdate(key: string, value: string | undefined): DecodeResult {
  const c = classify(key);
  if (c.kind === 'ignored' || value === undefined) return { decoded: c, error: undefined };
  if (
    (c.kind === 'pool' ||
      c.kind === 'node' ||
      c.kind === 'felix' ||
      c.kind === 'bgpconfig' ||
      c.kind === 'bgppeer') &&
    (c.name === '' || c.name.includes('/'))
  ) {
    return { decoded: { kind: 'ignored' }, error: undefined };
  }
  try {
    switch (c.kind) {
      case 'pool':
        return { decoded: { ...c, fact: decodePool(c.name, value) }, error: undefined };
      case 'node':
        return { decoded: { ...c, fact: decodeNode(c.name, value) }, error: undefined };
      case 'endpoint':
        return { decoded: { ...c, fact: decodeEndpoint(c.key, value) }, error: undefined };
      case 'block':
        return { decoded: { ...c, fact: decodeBlock(key, value) }, error: undefined };
      case 'felix':
        return { decoded: { ...c, fact: decodeFelix(c.name, value) }, error: undefined };
      case 'bgpconfig':
        return { decoded: { ...c, fact: decodeBgpConfig(c.name, value) }, error: undefined };
      case 'bgppeer':
        return { decoded: { ...c, fact: decodeBgpPeer(c.name, value) }, error: undefined };
    }
  } catch (err) {
    if (err instanceof DecodeError) return { decoded: c, error: err.message };
    throw err;
  }
}
