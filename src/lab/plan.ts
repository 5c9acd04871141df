// The lab's address plan, computed before anything is made: segments, the
// router, hosts, the pool, the initial workloads. Pure, so it is unit-tested
// and `lab up` only has to carry it out.
//
//   segment s (1-based): 172.31.s.0/24, gateway 172.31.s.1
//   host i   (1-based): 172.31.<its segment>.(10 + i)
//   pool:               10.244.0.0/16 in /26 blocks
//
// racks (BGP, as the source article draws it): rack r is segment r, and its
// first host is the rack's route reflector and its router (the "ToR"): the
// other hosts' gateway, with a second leg on the core segment 0
// (172.31.0.(10 + r)) and a route to every other rack's subnet via that
// rack's reflector. One AS per rack (65000 + r): iBGP from the hosts to
// their reflector, eBGP between reflectors.
//
// --external-router: a BIRD 2 namespace holding the gateway .1 of segment 1
// (flat) or of the core (racks), peering (eBGP, AS 65000) with every host
// (flat) or every reflector (racks), and an "outside" namespace behind it on
// 172.30.0.0/24 that reaches workloads without NAT.
//
// These ranges are only ever configured inside the lab's own namespaces; the
// root namespace has no route to them.

import type { EncapsulationMode } from '../model/resource.js';
import { LabError } from './errors.js';
import {
  bridgeName,
  checkIfName,
  checkLabName,
  hostName,
  gatewayNetns,
  hostNetns,
  outsideNetns,
  routerInterface,
  routerNetns,
  routerPort,
  underlayNetns,
} from './naming.js';

export const TOPOLOGIES = ['flat', 'two-subnets', 'racks'] as const;
export type Topology = (typeof TOPOLOGIES)[number];
export const ENCAPS = ['none', 'vxlan', 'crosssubnet'] as const;
export type Encap = (typeof ENCAPS)[number];

export const MAX_HOSTS = 50;
export const MAX_RACKS = 20;
/** The cluster's AS (BGPConfiguration default), the full mesh's. */
export const LAB_ASN = 64512;
/** Rack r's AS. */
export function rackAsn(rack: number): number {
  return 65000 + rack;
}
/** The external router's AS. */
export const GATEWAY_ASN = 65000;
/** The core segment joining the racks' reflectors (racks topology). */
export const CORE_SEGMENT = 0;
export const OUTSIDE_CIDR = '172.30.0.0/24';
export const MAX_WORKLOADS_PER_HOST = 50;
export const POOL_NAME = 'lab-ipv4-pool';
export const POOL_CIDR = '10.244.0.0/16';
export const POOL_BLOCK_SIZE = 26;
const UNDERLAY_MTU = 1500;
/** VXLAN's outer headers: IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
const VXLAN_OVERHEAD = 50;

export interface SegmentPlan {
  /** 1-based; also the third octet of its CIDR. */
  segment: number;
  netns: string;
  bridge: string;
  cidr: string;
  prefixLength: number;
  /** .1: the bridge itself (flat) or the router's leg (two-subnets); a rack's: its reflector. */
  gateway: string;
  /** false: the gateway is not the bridge's (a reflector's or the external router's). */
  gatewayOnBridge?: boolean;
}

export interface RouterLegPlan {
  segment: number;
  /** Interface in the router namespace. */
  iface: string;
  /** The veth end in the underlay namespace, enslaved to the segment's bridge. */
  port: string;
  address: string;
}

export interface RouterPlan {
  netns: string;
  legs: RouterLegPlan[];
}

export interface HostPlan {
  name: string;
  netns: string;
  segment: number;
  address: string;
  prefixLength: number;
  gateway: string;
  /** The veth end in the underlay namespace; the host's end is `eth0`. */
  port: string;
  /** racks: the host's rack (its segment). */
  rack?: number;
  /** racks: the rack's route reflector. */
  routeReflector?: boolean;
  /** Node spec.bgp.asNumber (racks). */
  asNumber?: number;
  /** Node spec.bgp.routeReflectorClusterID (racks). */
  clusterId?: string;
  /** A reflector's leg on the core segment: `eth1`. */
  core?: { address: string; prefixLength: number; port: string };
  /** Static underlay routes ("CIDR via GATEWAY"): a reflector's routes to the other racks. */
  routes?: string[];
}

/** The external router (BIRD 2) and the outside network behind it. */
export interface GatewayPlan {
  netns: string;
  segment: number;
  /** Its address on the segment: the segment's .1, the hosts' default gateway. */
  address: string;
  prefixLength: number;
  /** The veth end in the underlay namespace (the router's end is `eth0`). */
  port: string;
  asNumber: number;
  /** The hosts it peers with (flat: all; racks: the reflectors, at their core address). */
  peers: { node: string; address: string; asNumber: number }[];
  /** Underlay routes to the racks ("CIDR via GATEWAY"). */
  routes: string[];
  outside: { netns: string; cidr: string; gateway: string; address: string };
}

export interface WorkloadPlan {
  name: string;
  host: string;
  namespace: string;
  labels: Record<string, string>;
}

export interface PoolPlan {
  name: string;
  cidr: string;
  blockSize: number;
  vxlanMode: EncapsulationMode;
}

export interface LabPlan {
  name: string;
  topology: Topology;
  encap: Encap;
  segments: SegmentPlan[];
  router?: RouterPlan;
  hosts: HostPlan[];
  workloads: WorkloadPlan[];
  pool: PoolPlan;
  /** The MTU handed to the CNI plugin for workload interfaces. */
  mtu: number;
  /** The hosts peer over BGP (a BGPConfiguration is written). */
  bgp: boolean;
  racks?: { count: number; hostsPerRack: number };
  gateway?: GatewayPlan;
}

export interface PlanOptions {
  name: string;
  hosts: number;
  workloads: number;
  topology: Topology;
  encap: Encap;
  /** BGP between the hosts (full mesh on flat; always on with racks). */
  bgp?: boolean;
  /** racks: how many (default 2). */
  racks?: number;
  /** racks: hosts in each (default 2); --hosts is racks × this. */
  hostsPerRack?: number;
  /** A BIRD 2 data-centre gateway and an outside network behind it. */
  externalRouter?: boolean;
}

export function planLab(opts: PlanOptions): LabPlan {
  if (opts.topology === 'racks') return planRacks(opts);
  const name = checkLabName(opts.name);
  checkCount('--hosts', opts.hosts, 1, MAX_HOSTS);
  checkCount('--workloads', opts.workloads, 0, MAX_WORKLOADS_PER_HOST);
  if (!TOPOLOGIES.includes(opts.topology)) {
    throw new LabError(`unknown topology "${opts.topology}": use ${TOPOLOGIES.join(' or ')}`);
  }
  if (!ENCAPS.includes(opts.encap)) {
    throw new LabError(`unknown encapsulation "${opts.encap}": use ${ENCAPS.join(', ')}`);
  }

  if (opts.externalRouter && opts.topology !== 'flat') {
    throw new LabError('--external-router needs --topology flat or racks');
  }
  const segmentCount = opts.topology === 'flat' ? 1 : 2;
  const segments: SegmentPlan[] = [];
  for (let s = 1; s <= segmentCount; s++) {
    segments.push({
      segment: s,
      netns: underlayNetns(name),
      bridge: checkIfName(bridgeName(s)),
      cidr: `172.31.${s}.0/24`,
      prefixLength: 24,
      gateway: `172.31.${s}.1`,
    });
  }

  const router: RouterPlan | undefined =
    opts.topology === 'two-subnets'
      ? {
          netns: routerNetns(name),
          legs: segments.map((seg) => ({
            segment: seg.segment,
            iface: checkIfName(routerInterface(seg.segment)),
            port: checkIfName(routerPort(seg.segment)),
            address: seg.gateway,
          })),
        }
      : undefined;

  // two-subnets: the first half of the hosts on segment 1 ("rack 1"), the rest on 2.
  const perSegment = Math.ceil(opts.hosts / segmentCount);
  const hosts: HostPlan[] = [];
  for (let i = 1; i <= opts.hosts; i++) {
    const seg = segments[Math.min(segmentCount, Math.ceil(i / perSegment)) - 1]!;
    const host = hostName(i);
    hosts.push({
      name: host,
      netns: hostNetns(name, host),
      segment: seg.segment,
      address: `172.31.${seg.segment}.${10 + i}`,
      prefixLength: seg.prefixLength,
      gateway: seg.gateway,
      port: checkIfName(host),
    });
  }

  const gateway = opts.externalRouter
    ? gatewayPlan(
        name,
        segments[0]!,
        hosts.map((h) => ({ node: h.name, address: h.address, asNumber: LAB_ASN })),
        [],
      )
    : undefined;
  if (gateway) segments[0]!.gatewayOnBridge = false;
  return {
    name,
    topology: opts.topology,
    encap: opts.encap,
    segments,
    ...(router ? { router } : {}),
    hosts,
    workloads: defaultWorkloads(hosts, opts.workloads),
    pool: poolPlan(opts.encap),
    mtu: mtuFor(opts.encap),
    bgp: opts.bgp === true || gateway !== undefined,
    ...(gateway ? { gateway } : {}),
  };
}

function defaultWorkloads(hosts: HostPlan[], perHost: number): WorkloadPlan[] {
  const workloads: WorkloadPlan[] = [];
  for (const host of hosts) {
    for (let k = 1; k <= perHost; k++) workloads.push(defaultWorkload(host.name, k));
  }
  return workloads;
}

function poolPlan(encap: Encap): PoolPlan {
  return {
    name: POOL_NAME,
    cidr: POOL_CIDR,
    blockSize: POOL_BLOCK_SIZE,
    vxlanMode: vxlanModeFor(encap),
  };
}

function mtuFor(encap: Encap): number {
  return encap !== 'none' ? UNDERLAY_MTU - VXLAN_OVERHEAD : UNDERLAY_MTU;
}

function gatewayPlan(
  lab: string,
  segment: SegmentPlan,
  peers: GatewayPlan['peers'],
  routes: string[],
): GatewayPlan {
  return {
    netns: gatewayNetns(lab),
    segment: segment.segment,
    address: segment.gateway,
    prefixLength: segment.prefixLength,
    port: checkIfName('gw'),
    asNumber: GATEWAY_ASN,
    peers,
    routes,
    outside: {
      netns: outsideNetns(lab),
      cidr: OUTSIDE_CIDR,
      gateway: '172.30.0.1',
      address: '172.30.0.10',
    },
  };
}

/**
 * racks: R rack segments and the core; in each rack the first host reflects
 * and routes for the others. Hosts are numbered across racks (rack 1 holds
 * host1..hostH), so addresses stay 172.31.<rack>.(10 + i).
 */
function planRacks(opts: PlanOptions): LabPlan {
  const name = checkLabName(opts.name);
  const rackCount = opts.racks ?? 2;
  const perRack = opts.hostsPerRack ?? 2;
  checkCount('--racks', rackCount, 1, MAX_RACKS);
  checkCount('--hosts-per-rack', perRack, 1, MAX_HOSTS);
  checkCount('--racks × --hosts-per-rack', rackCount * perRack, 1, MAX_HOSTS);
  checkCount('--workloads', opts.workloads, 0, MAX_WORKLOADS_PER_HOST);
  if (!ENCAPS.includes(opts.encap)) {
    throw new LabError(`unknown encapsulation "${opts.encap}": use ${ENCAPS.join(', ')}`);
  }
  const ul = underlayNetns(name);
  const core: SegmentPlan = {
    segment: CORE_SEGMENT,
    netns: ul,
    bridge: checkIfName(bridgeName(CORE_SEGMENT)),
    cidr: `172.31.${CORE_SEGMENT}.0/24`,
    prefixLength: 24,
    gateway: `172.31.${CORE_SEGMENT}.1`,
  };
  const reflectorIndex = (r: number) => (r - 1) * perRack + 1;
  const rackAddress = (r: number, i: number) => `172.31.${r}.${10 + i}`;
  const coreAddress = (r: number) => `172.31.${CORE_SEGMENT}.${10 + r}`;
  const segments: SegmentPlan[] = [core];
  for (let r = 1; r <= rackCount; r++) {
    segments.push({
      segment: r,
      netns: ul,
      bridge: checkIfName(bridgeName(r)),
      cidr: `172.31.${r}.0/24`,
      prefixLength: 24,
      gateway: rackAddress(r, reflectorIndex(r)),
      gatewayOnBridge: false,
    });
  }
  const hosts: HostPlan[] = [];
  for (let r = 1; r <= rackCount; r++) {
    for (let k = 1; k <= perRack; k++) {
      const i = (r - 1) * perRack + k;
      const host = hostName(i);
      const reflector = k === 1;
      const others = [];
      for (let o = 1; o <= rackCount; o++)
        if (o !== r) others.push(`172.31.${o}.0/24 via ${coreAddress(o)}`);
      hosts.push({
        name: host,
        netns: hostNetns(name, host),
        segment: r,
        address: rackAddress(r, i),
        prefixLength: 24,
        gateway: reflector ? core.gateway : rackAddress(r, reflectorIndex(r)),
        port: checkIfName(host),
        rack: r,
        asNumber: rackAsn(r),
        ...(reflector
          ? {
              routeReflector: true,
              clusterId: `244.0.0.${r}`,
              core: {
                address: coreAddress(r),
                prefixLength: core.prefixLength,
                port: checkIfName(`c${host}`),
              },
              routes: others,
            }
          : {}),
      });
    }
  }
  const gateway = opts.externalRouter
    ? gatewayPlan(
        name,
        core,
        hosts
          .filter((h) => h.routeReflector)
          .map((h) => ({ node: h.name, address: h.core!.address, asNumber: h.asNumber! })),
        hosts
          .filter((h) => h.routeReflector)
          .map((h) => `172.31.${h.rack}.0/24 via ${h.core!.address}`),
      )
    : undefined;
  if (gateway) core.gatewayOnBridge = false;
  return {
    name,
    topology: 'racks',
    encap: opts.encap,
    segments,
    hosts,
    workloads: defaultWorkloads(hosts, opts.workloads),
    pool: poolPlan(opts.encap),
    mtu: mtuFor(opts.encap),
    bgp: true,
    racks: { count: rackCount, hostsPerRack: perRack },
    ...(gateway ? { gateway } : {}),
  };
}

/** The workloads `lab up` creates: host1-w1, host1-w2, …, labelled app=w1, app=w2, …. */
export function defaultWorkload(host: string, k: number): WorkloadPlan {
  return { name: `${host}-w${k}`, host, namespace: 'default', labels: { app: `w${k}` } };
}

export function vxlanModeFor(encap: Encap): EncapsulationMode {
  switch (encap) {
    case 'none':
      return 'Never';
    case 'vxlan':
      return 'Always';
    case 'crosssubnet':
      return 'CrossSubnet';
  }
}

/** Parses `k=v,k2=v2` (the --labels flag). */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === undefined || text.trim() === '') return labels;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const value = eq < 0 ? '' : pair.slice(eq + 1).trim();
    if (eq < 0 || !LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) {
      throw new LabError(
        `invalid label "${pair}": use key=value, keys like app or example.com/tier, values of letters, digits, '-', '_' and '.'`,
      );
    }
    labels[key] = value;
  }
  return labels;
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function checkCount(flag: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LabError(`${flag} must be a whole number from ${min} to ${max}, not ${value}`);
  }
}
