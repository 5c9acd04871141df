// Datastore states for the calculation tests, built from Calico-shaped
// values at Calico's keys, and the replay machinery after Felix's
// calc_graph_fv_test: every state list is also run reversed, with its keys
// injected in reverse, with empty states between, split in halves and
// squashed to its last state, each flushed after every key, after every key
// twice, after every state and only at the end.

import { formatCidr, parseCidr } from '../../model/cidr.js';
import {
  BGPCONFIGURATION,
  BGPPEER,
  FELIXCONFIGURATION,
  IPPOOL,
  NODE,
  WORKLOADENDPOINT,
  resourceKey,
} from '../../model/kinds.js';
import type { EncapsulationMode } from '../types.js';

export interface State {
  name: string;
  kvs: ReadonlyMap<string, string>;
}

export function state(name: string, ...parts: [string, string][][]): State {
  const kvs = new Map<string, string>();
  for (const part of parts) for (const [k, v] of part) kvs.set(k, v);
  return { name, kvs };
}

export function withoutKeys(base: State, name: string, drop: (key: string) => boolean): State {
  return { name, kvs: new Map([...base.kvs].filter(([k]) => !drop(k))) };
}

export function pool(
  name: string,
  cidr: string,
  opts: {
    vxlanMode?: EncapsulationMode;
    ipipMode?: EncapsulationMode;
    natOutgoing?: boolean;
    disabled?: boolean;
    nodeSelector?: string;
    disableBGPExport?: boolean;
  } = {},
): [string, string][] {
  return [
    [
      resourceKey(IPPOOL, name),
      JSON.stringify({
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: { name },
        spec: {
          cidr,
          blockSize: 26,
          vxlanMode: opts.vxlanMode ?? 'Never',
          ipipMode: opts.ipipMode ?? 'Never',
          natOutgoing: opts.natOutgoing ?? false,
          disabled: opts.disabled ?? false,
          nodeSelector: opts.nodeSelector ?? 'all()',
          ...(opts.disableBGPExport ? { disableBGPExport: true } : {}),
        },
      }),
    ],
  ];
}

export function node(
  name: string,
  address: string,
  opts: {
    tunnel?: string;
    mac?: string;
    labels?: Record<string, string>;
    asNumber?: number;
    rrClusterId?: string;
  } = {},
): [string, string][] {
  return [
    [
      resourceKey(NODE, name),
      JSON.stringify({
        apiVersion: 'projectcalico.org/v3',
        kind: 'Node',
        metadata: { name, labels: opts.labels ?? { 'kubernetes.io/hostname': name } },
        spec: {
          bgp: {
            ipv4Address: address,
            ...(opts.asNumber !== undefined ? { asNumber: opts.asNumber } : {}),
            ...(opts.rrClusterId ? { routeReflectorClusterID: opts.rrClusterId } : {}),
          },
          addresses: [{ address, type: 'CalicoNodeIP' }],
          ...(opts.tunnel ? { ipv4VXLANTunnelAddr: opts.tunnel } : {}),
          ...(opts.mac ? { vxlanTunnelMACAddr: opts.mac } : {}),
        },
      }),
    ],
  ];
}

/** A block with `allocations`: ordinal -> [handle, node attribute or undefined]. */
export function block(
  cidr: string,
  affinity: string | undefined,
  allocations: Record<number, [string, string | undefined]> = {},
): [string, string][] {
  const c = parseCidr(cidr);
  const size = 2 ** (32 - c.prefixLength);
  const slots: (number | null)[] = new Array<number | null>(size).fill(null);
  const attributes: { handle_id: string; secondary: Record<string, string> | null }[] = [];
  for (const [ordinal, [handle, nodeAttr]] of Object.entries(allocations)) {
    slots[Number(ordinal)] = attributes.length;
    attributes.push({ handle_id: handle, secondary: nodeAttr ? { node: nodeAttr } : null });
  }
  return [
    [
      `/calico/ipam/v2/assignment/ipv4/block/${formatCidr(c).replace('/', '-')}`,
      JSON.stringify({
        cidr: formatCidr(c),
        affinity: affinity ? `host:${affinity}` : null,
        allocations: slots,
        unallocated: slots.flatMap((s, i) => (s === null ? [i] : [])),
        attributes,
        deleted: false,
      }),
    ],
  ];
}

export function endpoint(
  ns: string,
  name: string,
  nodeName: string,
  iface: string,
  ips: string[],
): [string, string][] {
  return [
    [
      resourceKey(WORKLOADENDPOINT, name, ns),
      JSON.stringify({
        apiVersion: 'projectcalico.org/v3',
        kind: 'WorkloadEndpoint',
        metadata: { name, namespace: ns },
        spec: {
          node: nodeName,
          interfaceName: iface,
          ipNetworks: ips,
          orchestrator: 'k8s',
          endpoint: 'eth0',
        },
      }),
    ],
  ];
}

export function felixConfig(name: string, spec: Record<string, unknown>): [string, string][] {
  return [
    [
      resourceKey(FELIXCONFIGURATION, name),
      JSON.stringify({
        apiVersion: 'projectcalico.org/v3',
        kind: 'FelixConfiguration',
        metadata: { name },
        spec,
      }),
    ],
  ];
}

export function bgpConfig(name: string, spec: Record<string, unknown>): [string, string][] {
  return [
    [
      resourceKey(BGPCONFIGURATION, name),
      JSON.stringify({
        apiVersion: 'projectcalico.org/v3',
        kind: 'BGPConfiguration',
        metadata: { name },
        spec,
      }),
    ],
  ];
}

export function bgpPeer(name: string, spec: Record<string, unknown>): [string, string][] {
  return [
    [
      resourceKey(BGPPEER, name),
      JSON.stringify({
        apiVersion: 'projectcalico.org/v3',
        kind: 'BGPPeer',
        metadata: { name },
        spec,
      }),
    ],
  ];
}

export function raw(key: string, value: string): [string, string][] {
  return [[key, value]];
}

// ---------------------------------------------------------------------------
// Replay

export interface KvDelta {
  key: string;
  value: string | undefined;
}

export const EMPTY: State = { name: 'empty', kvs: new Map() };

/** The updates that take a datastore from `from` to `to`, keys in sorted order. */
export function deltas(from: State, to: State): KvDelta[] {
  const out: KvDelta[] = [];
  const keys = [...new Set([...from.kvs.keys(), ...to.kvs.keys()])].sort();
  for (const key of keys) {
    const a = from.kvs.get(key);
    const b = to.kvs.get(key);
    if (a !== b) out.push({ key, value: b });
  }
  return out;
}

export interface Expanded {
  description: string;
  states: State[];
  reverseKeys: boolean;
}

export function expansions(base: State[]): Expanded[] {
  const out: Expanded[] = [{ description: 'as given', states: base, reverseKeys: false }];
  if (base.length === 0) return out;
  out.push({ description: 'keys injected in reverse', states: base, reverseKeys: true });
  out.push({ description: 'states reversed', states: [...base].reverse(), reverseKeys: false });
  out.push({
    description: 'empty states inserted',
    states: base.flatMap((s) => [s, EMPTY]),
    reverseKeys: false,
  });
  out.push({
    description: 'states split in halves',
    states: base.flatMap((s) => {
      const keys = [...s.kvs.keys()].sort();
      const half = new Map(
        keys.slice(0, Math.ceil(keys.length / 2)).map((k) => [k, s.kvs.get(k)!]),
      );
      return [{ name: `${s.name} (first half)`, kvs: half }, s];
    }),
    reverseKeys: false,
  });
  out.push({
    description: 'squashed to the last state',
    states: [base[base.length - 1]!],
    reverseKeys: false,
  });
  return out;
}

export const FLUSH_STRATEGIES = [
  'after each key',
  'after each key, duplicated',
  'after each state',
  'at the end',
] as const;
export type FlushStrategy = (typeof FLUSH_STRATEGIES)[number];
