// Kubernetes networking.k8s.io/v1 NetworkPolicy, validated as the Kubernetes
// API server would.

import { cidrContainsCidr, formatCidr, tryParseCidr } from '../cidr.js';
import { checkCidr, checkPortName, checkQualifiedName } from '../formats.js';
import { show, type FieldPath, type IssueSink } from '../issues.js';
import { K8S_NETWORKPOLICY } from '../kinds.js';
import { labelsSchema } from '../meta.js';
import type {
  K8sNetworkPolicyPeer,
  K8sNetworkPolicyPort,
  K8sNetworkPolicySpec,
  LabelSelector,
  Resource,
} from '../resource.js';
import { any, arr, int, intOrString, obj, str, strCheck, strEnum } from '../schema.js';
import type { KindModule } from './module.js';

const labelSelectorSchema = obj({
  matchLabels: labelsSchema,
  matchExpressions: arr(
    obj(
      {
        key: strCheck(checkQualifiedName),
        operator: strEnum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: arr(str()),
      },
      ['key', 'operator'],
    ),
  ),
});

const peerSchema = obj({
  podSelector: labelSelectorSchema,
  namespaceSelector: labelSelectorSchema,
  ipBlock: obj({ cidr: strCheck(checkCidr()), except: arr(strCheck(checkCidr())) }, ['cidr']),
});

const portSchema = obj({
  protocol: strEnum(['TCP', 'UDP', 'SCTP']),
  port: intOrString((port) =>
    typeof port === 'number'
      ? Number.isInteger(port) && port >= 1 && port <= 65535
        ? undefined
        : `${port} is not a valid port: must be 1-65535`
      : checkPortName(port),
  ),
  endPort: int(1, 65535),
});

const specSchema = obj({
  podSelector: labelSelectorSchema,
  ingress: arr(obj({ from: arr(peerSchema), ports: arr(portSchema) })),
  egress: arr(obj({ to: arr(peerSchema), ports: arr(portSchema) })),
  policyTypes: arr(strEnum(['Ingress', 'Egress']), { maxItems: 2, unique: true }),
});

function checkLabelSelector(selector: LabelSelector | undefined, path: FieldPath, sink: IssueSink) {
  selector?.matchExpressions?.forEach((expression, i) => {
    const count = expression.values?.length ?? 0;
    const setOperator = expression.operator === 'In' || expression.operator === 'NotIn';
    if (setOperator && count === 0) {
      sink.report(
        [...path, 'matchExpressions', i, 'values'],
        `must be non-empty for operator ${expression.operator}`,
      );
    } else if (!setOperator && count > 0) {
      sink.report(
        [...path, 'matchExpressions', i, 'values'],
        `must be empty for operator ${expression.operator}`,
      );
    }
  });
}

function checkPeer(peer: K8sNetworkPolicyPeer, path: FieldPath, sink: IssueSink): void {
  const hasSelector = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
  if (peer.ipBlock && hasSelector) {
    sink.report(path, 'may not set ipBlock together with podSelector or namespaceSelector');
  } else if (!peer.ipBlock && !hasSelector) {
    sink.report(path, 'must set podSelector, namespaceSelector or ipBlock');
  }
  checkLabelSelector(peer.podSelector, [...path, 'podSelector'], sink);
  checkLabelSelector(peer.namespaceSelector, [...path, 'namespaceSelector'], sink);
  if (!peer.ipBlock) return;
  const block = tryParseCidr(peer.ipBlock.cidr);
  peer.ipBlock.except?.forEach((text, i) => {
    const except = tryParseCidr(text);
    if (!block || !except) return;
    if (!cidrContainsCidr(block, except) || except.prefixLength === block.prefixLength) {
      sink.report(
        [...path, 'ipBlock', 'except', i],
        `${show(text)} must be strictly inside the block's cidr ${formatCidr(block)}`,
      );
    }
  });
}

function checkPort(port: K8sNetworkPolicyPort, path: FieldPath, sink: IssueSink): void {
  if (port.endPort === undefined) return;
  if (typeof port.port !== 'number') {
    sink.report([...path, 'endPort'], 'needs port to be a number');
  } else if (port.endPort < port.port) {
    sink.report([...path, 'endPort'], `must be at least port (${port.port})`);
  }
}

function checkK8sPolicy(policy: Resource<K8sNetworkPolicySpec>, sink: IssueSink): void {
  const spec = policy.spec ?? {};
  checkLabelSelector(spec.podSelector, ['spec', 'podSelector'], sink);
  spec.ingress?.forEach((rule, i) => {
    rule.from?.forEach((peer, j) => checkPeer(peer, ['spec', 'ingress', i, 'from', j], sink));
    rule.ports?.forEach((port, j) => checkPort(port, ['spec', 'ingress', i, 'ports', j], sink));
  });
  spec.egress?.forEach((rule, i) => {
    rule.to?.forEach((peer, j) => checkPeer(peer, ['spec', 'egress', i, 'to', j], sink));
    rule.ports?.forEach((port, j) => checkPort(port, ['spec', 'egress', i, 'ports', j], sink));
  });
}

/**
 * Kubernetes' defaults: a port's protocol is TCP; and an empty policyTypes
 * means Ingress, plus Egress if there are egress rules (how Kubernetes and
 * Calico read such a policy, written out).
 */
function k8sPolicyDefaults(policy: Resource<K8sNetworkPolicySpec>): Resource<K8sNetworkPolicySpec> {
  const spec = policy.spec ?? {};
  const withProtocol = <R extends { ports?: K8sNetworkPolicyPort[] }>(rule: R): R =>
    rule.ports
      ? { ...rule, ports: rule.ports.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' })) }
      : rule;
  const policyTypes: K8sNetworkPolicySpec['policyTypes'] = spec.policyTypes?.length
    ? spec.policyTypes
    : spec.egress?.length
      ? ['Ingress', 'Egress']
      : ['Ingress'];
  return {
    ...policy,
    spec: {
      ...spec,
      podSelector: spec.podSelector ?? {},
      ...(spec.ingress ? { ingress: spec.ingress.map(withProtocol) } : {}),
      ...(spec.egress ? { egress: spec.egress.map(withProtocol) } : {}),
      policyTypes: [...policyTypes],
    },
  };
}

export const k8sNetworkPolicyModule: KindModule<K8sNetworkPolicySpec> = {
  info: K8S_NETWORKPOLICY,
  spec: specSchema,
  status: any,
  checkSemantics: checkK8sPolicy,
  defaults: k8sPolicyDefaults,
};
