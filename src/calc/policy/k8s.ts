// Kubernetes NetworkPolicy in Calico's terms, as Calico's own converter reads
// it: the policy becomes a namespaced NetworkPolicy "knp.default.<name>" in
// the default tier at order 1000, selecting `podSelector` among Kubernetes
// pods; each ingress/egress rule becomes one Allow rule per (protocol, peer),
// with the rule's ports of that protocol. A selected pod is isolated in a
// direction by the policy's types, because the default tier ends in a drop.
//
//   podSelector only         -> selector, scoped to the policy's namespace
//   namespaceSelector only   -> namespaceSelector, any Kubernetes pod in them
//   both                     -> both
//   ipBlock {cidr, except}   -> nets [cidr], notNets except
//   port + endPort           -> "port:endPort"
//   no peers / no ports      -> any source or destination / any port

import type {
  K8sNetworkPolicyPeer,
  K8sNetworkPolicyPort,
  K8sNetworkPolicySpec,
  LabelSelector,
  Port,
  PolicyType,
  Rule,
} from '../../model/resource.js';
import { formatSelectorNode, type SelectorNode } from '../../model/selector.js';

export const K8S_POLICY_PREFIX = 'knp.default.';
export const K8S_POLICY_ORDER = 1000;
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';

/** Calico's selector text for a Kubernetes label selector ('' for none). */
export function labelSelectorText(
  selector: LabelSelector | undefined,
  kind: 'pod' | 'namespace',
): string {
  const terms: SelectorNode[] = [];
  if (kind === 'pod') terms.push({ kind: 'eq', key: LABEL_ORCHESTRATOR, value: 'k8s' });
  if (selector === undefined) return terms.length ? formatSelectorNode(terms[0]!) : '';
  const labels = selector.matchLabels ?? {};
  const expressions = selector.matchExpressions ?? [];
  if (kind === 'namespace' && Object.keys(labels).length === 0 && expressions.length === 0) {
    return 'all()';
  }
  for (const key of Object.keys(labels).sort()) {
    terms.push({ kind: 'eq', key, value: labels[key]! });
  }
  for (const e of expressions) {
    const values = [...new Set(e.values ?? [])].sort();
    switch (e.operator) {
      case 'In':
        terms.push({ kind: 'in', key: e.key, values });
        break;
      case 'NotIn':
        terms.push({ kind: 'notIn', key: e.key, values });
        break;
      case 'Exists':
        terms.push({ kind: 'has', key: e.key });
        break;
      case 'DoesNotExist':
        terms.push({ kind: 'not', operand: { kind: 'has', key: e.key } });
        break;
    }
  }
  if (terms.length === 0) return kind === 'pod' ? '' : 'all()';
  if (terms.length === 1) return formatSelectorNode(terms[0]!);
  return formatSelectorNode({ kind: 'and', operands: terms });
}

interface PeerFields {
  selector?: string;
  namespaceSelector?: string;
  nets?: string[];
  notNets?: string[];
}

function peerFields(peer: K8sNetworkPolicyPeer | undefined): PeerFields {
  if (!peer) return {};
  if (peer.ipBlock) {
    const out: PeerFields = { nets: [peer.ipBlock.cidr] };
    if (peer.ipBlock.except?.length) out.notNets = [...peer.ipBlock.except];
    return out;
  }
  const out: PeerFields = {};
  const selector = labelSelectorText(peer.podSelector, 'pod');
  if (selector) out.selector = selector;
  if (peer.namespaceSelector !== undefined) {
    out.namespaceSelector = labelSelectorText(peer.namespaceSelector, 'namespace');
  }
  return out;
}

function portOf(port: K8sNetworkPolicyPort): Port | undefined {
  if (port.port === undefined) return undefined;
  if (port.endPort !== undefined && typeof port.port === 'number') {
    return `${port.port}:${port.endPort}`;
  }
  return port.port;
}

/** The Calico rules for one Kubernetes ingress or egress rule. */
export function k8sRuleToCalico(
  peers: K8sNetworkPolicyPeer[] | undefined,
  ports: K8sNetworkPolicyPort[] | undefined,
  direction: 'ingress' | 'egress',
): Rule[] {
  // protocol -> ports; undefined ports: every port of the protocol; key '': any protocol.
  const byProtocol = new Map<string, Port[] | undefined>();
  for (const p of ports ?? []) {
    const protocol = p.protocol ?? 'TCP';
    const port = portOf(p);
    if (port === undefined) {
      byProtocol.set(protocol, undefined);
    } else if (!byProtocol.has(protocol) || byProtocol.get(protocol) !== undefined) {
      byProtocol.set(protocol, [...(byProtocol.get(protocol) ?? []), port]);
    }
  }
  if (byProtocol.size === 0) byProtocol.set('', undefined);
  const peerList: (K8sNetworkPolicyPeer | undefined)[] = peers?.length ? peers : [undefined];
  const rules: Rule[] = [];
  for (const protocol of [...byProtocol.keys()].sort()) {
    const protoPorts = byProtocol.get(protocol);
    for (const peer of peerList) {
      const fields = peerFields(peer);
      const rule: Rule = { action: 'Allow' };
      if (protocol) rule.protocol = protocol;
      const portSide = protoPorts ? { ports: [...protoPorts] } : {};
      if (direction === 'ingress') {
        if (Object.keys(fields).length) rule.source = { ...fields };
        if (protoPorts) rule.destination = portSide;
      } else {
        const destination = { ...fields, ...portSide };
        if (Object.keys(destination).length) rule.destination = destination;
      }
      rules.push(rule);
    }
  }
  return rules;
}

export interface TranslatedK8sPolicy {
  name: string;
  selector: string;
  types: PolicyType[];
  ingress: Rule[];
  egress: Rule[];
}

/** A Kubernetes NetworkPolicy as Calico's NetworkPolicy fields. */
export function translateK8sPolicy(name: string, spec: K8sNetworkPolicySpec): TranslatedK8sPolicy {
  const ingress = (spec.ingress ?? []).flatMap((r) => k8sRuleToCalico(r.from, r.ports, 'ingress'));
  const egress = (spec.egress ?? []).flatMap((r) => k8sRuleToCalico(r.to, r.ports, 'egress'));
  const listed = spec.policyTypes ?? [];
  const types: PolicyType[] = [];
  if (listed.includes('Ingress')) types.push('Ingress');
  if (listed.includes('Egress')) types.push('Egress');
  if (types.length === 0) {
    // Kubernetes' own default: Ingress, plus Egress when there are egress rules.
    types.push('Ingress');
    if (spec.egress?.length) types.push('Egress');
  }
  return {
    name: `${K8S_POLICY_PREFIX}${name}`,
    selector: labelSelectorText(spec.podSelector ?? {}, 'pod'),
    types,
    ingress,
    egress,
  };
}
