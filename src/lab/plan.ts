// The lab's address plan, computed before anything is made: segments, the
// router, hosts, the pool, the initial workloads. Pure, so it is unit-tested
// and `lab up` only has to carry it out.
//
//   segment s (1-based): 172.31.s.0/24, gateway 172.31.s.1
//   host i   (1-based): 172.31.<its segment>.(10 + i)
//   pool:               10.244.0.0/16 in /26 blocks
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
  hostNetns,
  routerInterface,
  routerNetns,
  routerPort,
  underlayNetns,
} from './naming.js';

export const TOPOLOGIES = ['flat', 'two-subnets'] as const;
export type Topology = (typeof TOPOLOGIES)[number];
export const ENCAPS = ['none', 'vxlan', 'crosssubnet'] as const;
export type Encap = (typeof ENCAPS)[number];

export const MAX_HOSTS = 50;
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
  /** .1: the bridge itself (flat) or the router's leg (two-subnets). */
  gateway: string;
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
}

export interface PlanOptions {
  name: string;
  hosts: number;
  workloads: number;
  topology: Topology;
  encap: Encap;
}

export function planLab(opts: PlanOptions): LabPlan {
  const name = checkLabName(opts.name);
  checkCount('--hosts', opts.hosts, 1, MAX_HOSTS);
  checkCount('--workloads', opts.workloads, 0, MAX_WORKLOADS_PER_HOST);
  if (!TOPOLOGIES.includes(opts.topology)) {
    throw new LabError(`unknown topology "${opts.topology}": use ${TOPOLOGIES.join(' or ')}`);
  }
  if (!ENCAPS.includes(opts.encap)) {
    throw new LabError(`unknown encapsulation "${opts.encap}": use ${ENCAPS.join(', ')}`);
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

  const workloads: WorkloadPlan[] = [];
  for (const host of hosts) {
    for (let k = 1; k <= opts.workloads; k++) {
      workloads.push(defaultWorkload(host.name, k));
    }
  }

  const encapsulated = opts.encap !== 'none';
  return {
    name,
    topology: opts.topology,
    encap: opts.encap,
    segments,
    ...(router ? { router } : {}),
    hosts,
    workloads,
    pool: {
      name: POOL_NAME,
      cidr: POOL_CIDR,
      blockSize: POOL_BLOCK_SIZE,
      vxlanMode: vxlanModeFor(opts.encap),
    },
    mtu: encapsulated ? UNDERLAY_MTU - VXLAN_OVERHEAD : UNDERLAY_MTU,
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
