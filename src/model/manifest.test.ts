// A manifest as a Calico user writes it (the resources are the examples from
// Calico's documentation), which must validate unchanged.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocuments } from './documents.js';
import { applyDefaults, formatIssue, validateDocument, validateResource } from './validate.js';

const CLUSTER_MANIFEST = `# Cluster networking and policy.
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 192.168.0.0/16
  blockSize: 26
  ipipMode: Never
  vxlanMode: CrossSubnet
  natOutgoing: true
  nodeSelector: all()
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv6-ippool
spec:
  cidr: fd5f:3a7c:1::/48
  natOutgoing: false
  vxlanMode: Never
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata:
  name: security
spec:
  order: 300
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: security.allow-kube-dns
spec:
  tier: security
  order: 200
  selector: all()
  types:
    - Egress
  egress:
    - action: Allow
      protocol: UDP
      destination:
        selector: "k8s-app == 'kube-dns'"
        ports:
          - 53
    - action: Pass
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: default-deny
spec:
  selector: projectcalico.org/namespace not in  {'kube-system', 'calico-system', 'calico-apiserver'}
  types:
    - Ingress
    - Egress
  egress:
    - action: Allow
      protocol: UDP
      destination:
        selector: k8s-app == "kube-dns"
        ports:
          - 53
    - action: Allow
      protocol: TCP
      destination:
        selector: k8s-app == "kube-dns"
        ports:
          - 53
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-tcp-6379
  namespace: production
spec:
  selector: role == 'database'
  types:
    - Ingress
    - Egress
  ingress:
    - action: Log
      protocol: TCP
      source:
        selector: role == 'frontend'
    - action: Allow
      protocol: TCP
      source:
        selector: role == 'frontend'
      destination:
        ports:
          - 6379
    - action: Allow
      protocol: ICMP
      icmp:
        type: 8
  egress:
    - action: Allow
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: a-name-for-the-set
  labels:
    role: external-database
spec:
  nets:
    - 198.51.100.0/28
    - 203.0.113.0/24
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata:
  name: some.name
  labels:
    type: production
spec:
  interfaceName: eth0
  node: myhost
  expectedIPs:
    - 192.168.0.1
    - 192.168.0.2
  profiles:
    - profile1
    - profile2
  ports:
    - name: some-port
      port: 1234
      protocol: TCP
    - name: another-port
      port: 5432
      protocol: UDP
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: false
  asNumber: 63400
  serviceClusterIPs:
    - cidr: 10.96.0.0/12
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: my-global-peer
spec:
  peerIP: 192.20.30.40
  asNumber: 64567
---
kind: BGPPeer
apiVersion: projectcalico.org/v3
metadata:
  name: peer-with-route-reflectors
spec:
  nodeSelector: all()
  peerSelector: route-reflector == 'true'
---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata:
  name: default
spec:
  ipv6Support: false
  ipipMTU: 1400
  chainInsertMode: Append
  logSeverityScreen: Info
  reportingInterval: 0s
  vxlanEnabled: true
  bpfLogLevel: ""
`;

describe('a realistic Calico manifest', () => {
  const docs = parseDocuments(CLUSTER_MANIFEST, 'cluster.yaml');

  it('has every document, at its line', () => {
    assert.deepEqual(
      docs.map((d) => [(d.object as { kind: string }).kind, d.line]),
      [
        ['IPPool', 2],
        ['IPPool', 14],
        ['Tier', 23],
        ['GlobalNetworkPolicy', 30],
        ['GlobalNetworkPolicy', 49],
        ['NetworkPolicy', 72],
        ['GlobalNetworkSet', 101],
        ['HostEndpoint', 112],
        ['BGPConfiguration', 135],
        ['BGPPeer', 146],
        ['BGPPeer', 154],
        ['FelixConfiguration', 162],
      ],
    );
  });

  it('validates with no issues', () => {
    const issues = docs.flatMap((d) => validateDocument(d).issues.map(formatIssue));
    assert.deepEqual(issues, []);
  });

  it('still validates once defaults are applied', () => {
    for (const doc of docs) {
      const { resource } = validateDocument(doc);
      assert.ok(resource);
      assert.deepEqual(
        validateResource(applyDefaults(resource)).issues,
        [],
        resource.metadata.name,
      );
    }
  });

  it('reports a mistake in it at the right line', () => {
    const broken = CLUSTER_MANIFEST.replace(
      '        type: 8',
      '        type: 8\n        code: 300',
    );
    const issues = parseDocuments(broken, 'cluster.yaml').flatMap((d) =>
      validateDocument(d).issues.map(formatIssue),
    );
    assert.deepEqual(issues, [
      'cluster.yaml:98: spec.ingress[2].icmp.code: 300 is out of range: must be 0-255',
    ]);
  });
});
