// The reachability truth table's cluster and scenarios, after the Kubernetes
// network policy e2e design (the "netpol"/cyclonus framework): three
// namespaces x, y, z with pods a, b, c each, every pod serving TCP and UDP on
// ports 80 and 81; each scenario adds policy on top and every (source,
// destination, protocol, port) is probed. The unit tests evaluate these
// scenarios through the compiled IR and the reference evaluator; the
// end-to-end test sends real traffic.

import type { Resource } from '../../../model/resource.js';
import {
  globalNetworkSet,
  globalPolicy,
  k8sPolicy,
  namespaceProfile,
  networkPolicy,
  networkSet,
  profile,
  tier,
  workload,
} from './fixtures.js';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;
export const NODES = ['tt-h1', 'tt-h2'] as const;

export interface Pod {
  /** "x/a". */
  id: string;
  namespace: string;
  pod: string;
  ip: string;
  /** Its IPv6 address (used when the cluster is dual stack: baseResources({ ipv6: true })). */
  ip6: string;
  node: string;
  /** Host-side interface name. */
  iface: string;
}

export const POD_LIST: Pod[] = NAMESPACES.flatMap((namespace, i) =>
  PODS.map((pod, j) => ({
    id: `${namespace}/${pod}`,
    namespace,
    pod,
    ip: `10.77.${i + 1}.${j + 1}`,
    ip6: `fd00:77:${i + 1}::${j + 1}`,
    // Alternate hosts, so that some pairs share a host and others cross.
    node: NODES[(i * 3 + j) % 2]!,
    iface: `cali${namespace}${pod}0`,
  })),
);

export function podIP(id: string): string {
  return POD_LIST.find((p) => p.id === id)!.ip;
}

/** A truth-table pod's workload with other labels (same name, host, interface, address; no ports). */
export function podWithLabels(id: string, labels: Record<string, string>): Resource {
  const p = POD_LIST.find((x) => x.id === id)!;
  return workload({
    namespace: p.namespace,
    name: p.pod,
    node: p.node,
    iface: p.iface,
    ip: p.ip,
    labels,
  });
}

export const SERVE_PORTS = [80, 81] as const;

/** The cluster every scenario starts from: namespaces (kns profiles) and pods. */
export function baseResources(opts: { ipv6?: boolean } = {}): Resource[] {
  const out: Resource[] = NAMESPACES.map((ns) => namespaceProfile(ns, { ns, team: `team-${ns}` }));
  for (const p of POD_LIST) {
    out.push(
      workload({
        namespace: p.namespace,
        name: p.pod,
        node: p.node,
        iface: p.iface,
        ip: p.ip,
        ...(opts.ipv6 ? { ip6: p.ip6 } : {}),
        labels: { pod: p.pod },
        ports: SERVE_PORTS.flatMap((port) => [
          { name: `serve-${port}-tcp`, protocol: 'TCP', port },
          { name: `serve-${port}-udp`, protocol: 'UDP', port },
        ]),
      }),
    );
  }
  return out;
}

export type ProbeProtocol = 'tcp' | 'udp' | 'icmp';

export interface Scenario {
  name: string;
  description: string;
  resources: Resource[];
  /** What to probe: TCP and UDP on 80 and 81 always; ICMP where the scenario is about it. */
  icmp?: boolean;
}

const deny = (ns: string, types: ('Ingress' | 'Egress')[]) =>
  k8sPolicy(ns, `deny-${types.join('-').toLowerCase()}`, { podSelector: {}, policyTypes: types });

export const SCENARIOS: Scenario[] = [
  {
    name: 'none',
    description: 'no policy: every pod reaches every pod',
    resources: [],
    icmp: true,
  },
  {
    name: 'default-deny-ingress',
    description: 'Kubernetes default deny ingress in x',
    resources: [deny('x', ['Ingress'])],
    icmp: true,
  },
  {
    name: 'default-deny-egress',
    description: 'Kubernetes default deny egress in y',
    resources: [deny('y', ['Egress'])],
  },
  {
    name: 'allow-from-namespace',
    description: 'y admits only pods of namespaces labelled ns=x',
    resources: [
      k8sPolicy('y', 'allow-from-x', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }] }],
        policyTypes: ['Ingress'],
      }),
    ],
  },
  {
    name: 'allow-by-pod-label',
    description: 'z admits pods labelled pod=b from every namespace (Calico policy)',
    resources: [
      networkPolicy('z', 'allow-b', {
        selector: 'all()',
        ingress: [
          { action: 'Allow', source: { selector: "pod == 'b'", namespaceSelector: 'all()' } },
        ],
        types: ['Ingress'],
      }),
    ],
  },
  {
    name: 'ports-and-ranges',
    description: 'pods a admit TCP 80 only and UDP 81-90',
    resources: [
      globalPolicy('ports', {
        selector: "pod == 'a'",
        ingress: [
          { action: 'Allow', protocol: 'TCP', destination: { ports: [80] } },
          { action: 'Allow', protocol: 'UDP', destination: { ports: ['81:90'] } },
        ],
        types: ['Ingress'],
      }),
    ],
  },
  {
    name: 'named-ports',
    description: 'x admits on the named ports serve-81-tcp and serve-80-udp only',
    resources: [
      k8sPolicy('x', 'named', {
        podSelector: {},
        ingress: [
          {
            ports: [
              { protocol: 'TCP', port: 'serve-81-tcp' },
              { protocol: 'UDP', port: 'serve-80-udp' },
            ],
          },
        ],
        policyTypes: ['Ingress'],
      }),
    ],
  },
  {
    name: 'nets-notnets',
    description: 'y admits from the pod range except x/b and z/c (nets, notNets)',
    resources: [
      networkPolicy('y', 'nets', {
        selector: 'all()',
        ingress: [
          {
            action: 'Allow',
            source: { nets: ['10.77.0.0/16'], notNets: ['10.77.1.2/32', '10.77.3.3/32'] },
          },
        ],
        types: ['Ingress'],
      }),
    ],
  },
  {
    name: 'not-selector',
    description: 'z admits everything but pods c (notSelector, global policy)',
    resources: [
      globalPolicy('not-c-into-z', {
        selector: "projectcalico.org/namespace == 'z'",
        ingress: [{ action: 'Allow', source: { notSelector: "pod == 'c'" } }],
        types: ['Ingress'],
      }),
    ],
  },
  {
    name: 'icmp',
    description: 'y admits ICMP echo only from pods a, TCP from anyone, no UDP',
    icmp: true,
    resources: [
      globalPolicy('icmp-y', {
        selector: "projectcalico.org/namespace == 'y'",
        ingress: [
          {
            action: 'Allow',
            protocol: 'ICMP',
            icmp: { type: 8 },
            source: { selector: "pod == 'a'" },
          },
          { action: 'Allow', protocol: 'TCP' },
        ],
        types: ['Ingress'],
      }),
    ],
  },
  {
    name: 'log-then-allow',
    description: 'x logs traffic from pods b, denies their UDP, allows the rest',
    resources: [
      networkPolicy('x', 'log-b', {
        selector: 'all()',
        ingress: [
          { action: 'Log', source: { selector: "pod == 'b'", namespaceSelector: 'all()' } },
          {
            action: 'Deny',
            protocol: 'UDP',
            source: { selector: "pod == 'b'", namespaceSelector: 'all()' },
          },
          { action: 'Allow' },
        ],
        types: ['Ingress'],
      }),
    ],
  },
  {
    name: 'tiers-pass',
    description:
      'tier security (order 100): y and z pass x to the default tier, admit pods a, drop the rest; default tier: y denies x/b',
    resources: [
      tier('security', { order: 100 }),
      globalPolicy('security.gate', {
        tier: 'security',
        selector: "projectcalico.org/namespace in {'y', 'z'}",
        ingress: [
          { action: 'Pass', source: { namespaceSelector: "ns == 'x'" } },
          { action: 'Allow', source: { selector: "pod == 'a'" } },
        ],
        types: ['Ingress'],
      }),
      networkPolicy('y', 'deny-xb', {
        selector: 'all()',
        ingress: [
          { action: 'Deny', source: { selector: "pod == 'b'", namespaceSelector: "ns == 'x'" } },
          { action: 'Allow' },
        ],
        types: ['Ingress'],
      }),
    ],
  },
  {
    name: 'global-overrides',
    description:
      'a global policy (order 10) denies TCP 80 from pods c into x, above x allowing all',
    resources: [
      k8sPolicy('x', 'allow-all', { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] }),
      globalPolicy('deny-c-80', {
        order: 10,
        selector: "projectcalico.org/namespace == 'x'",
        ingress: [
          {
            action: 'Deny',
            protocol: 'TCP',
            source: { selector: "pod == 'c'" },
            destination: { ports: [80] },
          },
        ],
        types: ['Ingress'],
      }),
    ],
  },
  {
    name: 'profiles',
    description: "z's namespace profile admits only z, and UDP from anyone into pods b",
    resources: [
      profile('kns.z', {
        labelsToApply: {
          'pcns.projectcalico.org/name': 'z',
          'pcns.ns': 'z',
          'pcns.team': 'team-z',
        },
        ingress: [
          { action: 'Allow', source: { namespaceSelector: "ns == 'z'" } },
          { action: 'Allow', protocol: 'UDP', destination: { selector: "pod == 'b'" } },
        ],
        egress: [{ action: 'Allow' }],
      }),
    ],
  },
  {
    name: 'k8s-ipblock-except',
    description: 'y/a admits the pod range except namespace x (ipBlock with except)',
    resources: [
      k8sPolicy('y', 'ipblock', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ ipBlock: { cidr: '10.77.0.0/16', except: ['10.77.1.0/24'] } }] }],
        policyTypes: ['Ingress'],
      }),
    ],
  },
  {
    name: 'k8s-endport',
    description: 'z admits TCP 80-81 and UDP 81-85 (endPort) from every namespace',
    resources: [
      k8sPolicy('z', 'endport', {
        podSelector: {},
        ingress: [
          {
            from: [{ namespaceSelector: {} }],
            ports: [
              { protocol: 'TCP', port: 80, endPort: 81 },
              { protocol: 'UDP', port: 81, endPort: 85 },
            ],
          },
        ],
        policyTypes: ['Ingress'],
      }),
    ],
  },
  {
    name: 'k8s-egress-pod-and-namespace',
    description: 'x/a may reach only pods b of namespaces labelled ns=y',
    resources: [
      k8sPolicy('x', 'egress-a', {
        podSelector: { matchLabels: { pod: 'a' } },
        egress: [
          {
            to: [
              {
                namespaceSelector: { matchLabels: { ns: 'y' } },
                podSelector: { matchLabels: { pod: 'b' } },
              },
            ],
          },
        ],
        policyTypes: ['Egress'],
      }),
    ],
  },
  {
    name: 'network-sets',
    description:
      'x admits from a NetworkSet selected by label (covering y) and a GlobalNetworkSet (z/a)',
    resources: [
      networkSet('x', 'y-range', { role: 'trusted' }, ['10.77.2.0/24']),
      globalNetworkSet('z-a', { role: 'trusted-global' }, ['10.77.3.1/32']),
      networkPolicy('x', 'from-sets', {
        selector: 'all()',
        ingress: [
          { action: 'Allow', source: { selector: "role == 'trusted'" } },
          {
            action: 'Allow',
            source: { selector: "role == 'trusted-global'", namespaceSelector: 'global()' },
          },
        ],
        types: ['Ingress'],
      }),
    ],
  },
];
