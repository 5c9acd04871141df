// VXLAN: whether the host needs its device, with which settings, and the
// other hosts' VTEPs. A VTEP exists for a Node that has an IPv4 address, a
// VXLAN tunnel address and a VTEP MAC; until all three are there the Node is
// simply not a VTEP yet (its routes wait for it).

import {
  DEFAULT_VXLAN_PORT,
  DEFAULT_VXLAN_VNI,
  type CalcProblem,
  type Vtep,
  type VxlanSettings,
} from './types.js';
import { localNode, sortedPools, type CalcIndex } from './index-state.js';
import type { NodeFact } from './decode.js';

export function vtepOf(node: NodeFact): Vtep | undefined {
  if (!node.ipv4 || !node.vxlanTunnelAddress || !node.vxlanMac) return undefined;
  return {
    node: node.name,
    hostAddress: node.ipv4.address,
    tunnelAddress: node.vxlanTunnelAddress,
    mac: node.vxlanMac,
  };
}

/** VXLAN is on when any pool uses it. */
export function vxlanInUse(index: CalcIndex): boolean {
  for (const pool of index.pools.values()) if (pool.vxlanMode !== 'Never') return true;
  return false;
}

export function vxlanSettings(index: CalcIndex): VxlanSettings {
  const global = index.felix.get('default');
  const mine = index.felix.get(`node.${index.nodeName}`);
  const self = localNode(index);
  return {
    enabled: vxlanInUse(index),
    vni: mine?.vxlanVNI ?? global?.vxlanVNI ?? DEFAULT_VXLAN_VNI,
    port: mine?.vxlanPort ?? global?.vxlanPort ?? DEFAULT_VXLAN_PORT,
    mtu: mine?.vxlanMTU ?? global?.vxlanMTU,
    local: self ? vtepOf(self) : undefined,
  };
}

/** Other hosts' VTEPs, sorted by node name; none when VXLAN is off. */
export function remoteVteps(index: CalcIndex): Vtep[] {
  if (!vxlanInUse(index)) return [];
  const out: Vtep[] = [];
  for (const node of index.nodes.values()) {
    if (node.name === index.nodeName) continue;
    const vtep = vtepOf(node);
    if (vtep) out.push(vtep);
  }
  return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/**
 * The VXLAN pools a tunnel address for this host may come from: enabled,
 * allowing the Tunnel use, and selecting the host by its labels (as Calico's
 * allocator picks them).
 */
export function tunnelPools(index: CalcIndex): string[] {
  const self = localNode(index);
  const labels = self?.labels ?? {};
  return sortedPools(index)
    .filter((p) => p.cidr.family === 4 && p.vxlanMode !== 'Never' && !p.disabled && p.allowsTunnel)
    .filter((p) => p.nodeSelector.matches(labels))
    .map((p) => p.name);
}

export function vxlanProblems(index: CalcIndex, settings: VxlanSettings): CalcProblem[] {
  if (!settings.enabled || settings.local) return [];
  const self = localNode(index);
  const missing = [
    !self?.ipv4 && 'an IPv4 address',
    !self?.vxlanTunnelAddress && 'a VXLAN tunnel address',
    !self?.vxlanMac && 'a VTEP MAC',
  ].filter(Boolean);
  return [
    {
      kind: 'vtep-incomplete',
      subject: index.nodeName,
      severity: 'warning',
      message: `VXLAN is in use but this host's Node lacks ${missing.join(', ')}; VXLAN routes wait for it`,
    },
  ];
}
