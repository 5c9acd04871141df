// The registry of resource kinds: names the CLI accepts for each, whether it is
// namespaced, and where it lives in the datastore (Calico's etcdv3 layout).

import {
  CALICO_API_GROUP,
  CALICO_API_VERSION,
  K8S_NETWORKING_API_GROUP,
  K8S_NETWORKING_API_VERSION,
} from './resource.js';

export interface KindInfo {
  kind: string;
  apiVersion: string;
  group: string;
  /** The plural Calico uses in its etcdv3 keys and kubectl resource names. */
  plural: string;
  singular: string;
  /** calicoctl's aliases (and kubectl's short names) besides singular and plural. */
  shortNames: string[];
  namespaced: boolean;
}

function calico(
  kind: string,
  plural: string,
  shortNames: string[],
  namespaced = false,
): Readonly<KindInfo> {
  return Object.freeze({
    kind,
    apiVersion: CALICO_API_VERSION,
    group: CALICO_API_GROUP,
    plural,
    singular: kind.toLowerCase(),
    shortNames: Object.freeze(shortNames) as string[],
    namespaced,
  });
}

export const IPPOOL = calico('IPPool', 'ippools', ['ipp', 'ipps', 'pool', 'pools']);
export const IPRESERVATION = calico('IPReservation', 'ipreservations', [
  'reservation',
  'reservations',
]);
export const IPAMCONFIGURATION = calico('IPAMConfiguration', 'ipamconfigurations', [
  'ipamconfig',
  'ipamconfigs',
]);
export const NODE = calico('Node', 'nodes', ['no', 'nos']);
export const WORKLOADENDPOINT = calico(
  'WorkloadEndpoint',
  'workloadendpoints',
  ['wep', 'weps'],
  true,
);
export const HOSTENDPOINT = calico('HostEndpoint', 'hostendpoints', ['hep', 'heps']);
export const PROFILE = calico('Profile', 'profiles', ['pro', 'pros']);
export const TIER = calico('Tier', 'tiers', []);
export const NETWORKPOLICY = calico(
  'NetworkPolicy',
  'networkpolicies',
  ['policy', 'policies', 'np', 'nps', 'pol', 'pols', 'cnp', 'caliconetworkpolicy'],
  true,
);
export const GLOBALNETWORKPOLICY = calico('GlobalNetworkPolicy', 'globalnetworkpolicies', [
  'gnp',
  'gnps',
  'cgnp',
]);
export const NETWORKSET = calico('NetworkSet', 'networksets', ['netset', 'netsets'], true);
export const GLOBALNETWORKSET = calico('GlobalNetworkSet', 'globalnetworksets', ['gns']);
export const BGPPEER = calico('BGPPeer', 'bgppeers', [
  'bgpp',
  'bgpps',
  'bp',
  'bps',
  'peer',
  'peers',
]);
export const BGPCONFIGURATION = calico('BGPConfiguration', 'bgpconfigurations', [
  'bgpconfig',
  'bgpconfigs',
]);
export const FELIXCONFIGURATION = calico('FelixConfiguration', 'felixconfigurations', [
  'felixconfig',
  'felixconfigs',
]);
export const CLUSTERINFORMATION = calico('ClusterInformation', 'clusterinformations', [
  'clusterinfo',
  'clusterinfos',
]);

/**
 * Kubernetes NetworkPolicy. Its kind is "NetworkPolicy" like Calico's, so on
 * the command line it goes by `knp` or `networkpolicies.networking.k8s.io`;
 * in a manifest its apiVersion tells the two apart (see lookupKindFor).
 */
export const K8S_NETWORKPOLICY: Readonly<KindInfo> = Object.freeze({
  kind: 'NetworkPolicy',
  apiVersion: K8S_NETWORKING_API_VERSION,
  group: K8S_NETWORKING_API_GROUP,
  plural: 'networkpolicies',
  singular: 'networkpolicy',
  shortNames: Object.freeze([
    'knp',
    'knps',
    'k8snetworkpolicy',
    'kubernetesnetworkpolicy',
  ]) as string[],
  namespaced: true,
});

/** Every kind, Calico's first: a bare "networkpolicy" means Calico's. */
export const ALL_KINDS: readonly Readonly<KindInfo>[] = Object.freeze([
  BGPCONFIGURATION,
  BGPPEER,
  CLUSTERINFORMATION,
  FELIXCONFIGURATION,
  GLOBALNETWORKPOLICY,
  GLOBALNETWORKSET,
  HOSTENDPOINT,
  IPAMCONFIGURATION,
  IPPOOL,
  IPRESERVATION,
  NETWORKPOLICY,
  NETWORKSET,
  NODE,
  PROFILE,
  TIER,
  WORKLOADENDPOINT,
  K8S_NETWORKPOLICY,
]);

function namesOf(info: KindInfo): string[] {
  const bare = [info.kind, info.singular, info.plural, ...info.shortNames];
  // kubectl style qualified names: "ippools.projectcalico.org", "NetworkPolicy.networking.k8s.io".
  const qualified = [info.kind, info.singular, info.plural].map((n) => `${n}.${info.group}`);
  return [...bare, ...qualified].map((n) => n.toLowerCase());
}

const BY_NAME: ReadonlyMap<string, Readonly<KindInfo>> = (() => {
  const map = new Map<string, Readonly<KindInfo>>();
  for (const info of ALL_KINDS) {
    for (const name of namesOf(info)) if (!map.has(name)) map.set(name, info);
  }
  return map;
})();

/**
 * The kind named by a kind name, singular, plural, short name or
 * `<plural>.<group>`, case-insensitively. Undefined if unknown.
 */
export function lookupKind(nameOrAlias: string): KindInfo | undefined {
  return BY_NAME.get(nameOrAlias.trim().toLowerCase());
}

/** The kind of a manifest: its `kind` exactly, under its `apiVersion`. */
export function lookupKindFor(apiVersion: string, kind: string): KindInfo | undefined {
  return ALL_KINDS.find((info) => info.apiVersion === apiVersion && info.kind === kind);
}

/** The kind of a resource object, telling Calico's and Kubernetes' NetworkPolicy apart. */
export function lookupKindOf(resource: { apiVersion: string; kind: string }): KindInfo | undefined {
  return lookupKindFor(resource.apiVersion, resource.kind);
}

/** The group's root: `/calico/resources/v3/projectcalico.org`. */
function groupRoot(info: KindInfo): string {
  return `/calico/resources/v3/${info.group}`;
}

function checkKeySegment(what: string, value: string): void {
  if (value === '' || value.includes('/')) {
    throw new Error(`${what} ${JSON.stringify(value)} cannot be part of a datastore key`);
  }
}

/**
 * Where a resource is stored, as Calico's etcdv3 datastore keeps it:
 * `/calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>`.
 * A namespaced kind needs a namespace; the others take none.
 */
export function resourceKey(info: KindInfo, name: string, namespace?: string): string {
  checkKeySegment('name', name);
  return `${kindPrefix(info, requireNamespaceArgument(info, namespace))}${name}`;
}

/**
 * The prefix under which every resource of the kind is stored (ending in "/"):
 * for a namespaced kind, within one namespace, or all of them if none is given.
 */
export function kindPrefix(info: KindInfo, namespace?: string): string {
  if (!info.namespaced && namespace !== undefined) {
    throw new Error(`${info.kind} is not namespaced, but namespace "${namespace}" was given`);
  }
  const base = `${groupRoot(info)}/${info.plural}/`;
  if (namespace === undefined) return base;
  checkKeySegment('namespace', namespace);
  return `${base}${namespace}/`;
}

function requireNamespaceArgument(info: KindInfo, namespace: string | undefined) {
  if (info.namespaced && namespace === undefined) {
    throw new Error(`${info.kind} is namespaced: a namespace is needed for its key`);
  }
  return namespace;
}
