// fast-check arbitraries for policy models: a few namespaces and workloads
// with labels drawn from a small vocabulary (so selectors match often),
// network sets, tiers, and policies of all three kinds with every rule
// feature the dataplane renders; and packets between them.

import fc from 'fast-check';
import type {
  EntityRule,
  K8sNetworkPolicyPeer,
  K8sNetworkPolicyPort,
  LabelSelector,
  Resource,
  Rule,
} from '../../../model/resource.js';
import {
  globalNetworkSet,
  globalPolicy,
  k8sPolicy,
  namespaceProfile,
  networkPolicy,
  networkSet,
  tier,
  workload,
} from './fixtures.js';

export const R_NAMESPACES = ['n1', 'n2', 'n3'];
export const R_NODES = ['r-h1', 'r-h2'];
const APPS = ['web', 'db', 'cache'];
const COLORS = ['red', 'blue'];
const PORTS = [80, 81, 443];

export interface RandomWorkload {
  namespace: string;
  name: string;
  node: string;
  ip: string;
  iface: string;
}

const selectorText = fc.oneof(
  fc.constantFrom(...APPS).map((a) => `app == '${a}'`),
  fc.constantFrom(...COLORS).map((c) => `color == '${c}'`),
  fc.constant('has(color)'),
  fc.constant('!has(color)'),
  fc.constant('all()'),
  fc
    .tuple(fc.constantFrom(...APPS), fc.constantFrom(...COLORS))
    .map(([a, c]) => `app == '${a}' && color != '${c}'`),
  fc.constant("app in {'web', 'db'}"),
  fc.constant("role == 'trusted'"),
);

const namespaceSelectorText = fc.oneof(
  fc.constantFrom(...R_NAMESPACES).map((n) => `ns == '${n}'`),
  fc.constant("env == 'prod'"),
  fc.constant('all()'),
  fc.constant('global()'),
);

const portList = fc.array(
  fc.oneof(
    fc.constantFrom(...PORTS),
    fc.constant('80:81'),
    fc.constant('http'),
    fc.constant('alt'),
  ),
  { minLength: 1, maxLength: 2 },
);

const net = fc.constantFrom(
  '10.66.1.0/24',
  '10.66.2.0/24',
  '10.66.0.0/16',
  '10.66.1.2/32',
  '10.66.3.1/32',
  '192.0.2.0/24',
);

function entityRule(withPorts: boolean): fc.Arbitrary<EntityRule | undefined> {
  return fc.option(
    fc
      .record(
        {
          selector: selectorText,
          notSelector: selectorText,
          namespaceSelector: namespaceSelectorText,
          nets: fc.array(net, { minLength: 1, maxLength: 2 }),
          notNets: fc.array(net, { minLength: 1, maxLength: 2 }),
          ports: withPorts ? portList : fc.constant(undefined),
          notPorts: withPorts ? portList : fc.constant(undefined),
        },
        { requiredKeys: [] },
      )
      .map((r) => {
        const out: EntityRule = {};
        for (const [k, v] of Object.entries(r))
          if (v !== undefined) (out as Record<string, unknown>)[k] = v;
        return out;
      }),
    { nil: undefined },
  );
}

function rule(): fc.Arbitrary<Rule> {
  return fc
    .record({
      action: fc.constantFrom('Allow', 'Deny', 'Pass', 'Log', 'Allow', 'Deny'),
      protocol: fc.option(fc.constantFrom('TCP', 'UDP', 'ICMP'), { nil: undefined }),
      notProtocol: fc.option(fc.constantFrom('TCP', 'UDP'), { nil: undefined }),
      icmpType: fc.option(fc.constantFrom(0, 8), { nil: undefined }),
      seed: fc.nat(),
    })
    .chain((b) => {
      const ports = b.protocol === 'TCP' || b.protocol === 'UDP';
      return fc
        .record({ source: entityRule(ports), destination: entityRule(ports) })
        .map(({ source, destination }) => {
          const r: Rule = { action: b.action as Rule['action'] };
          if (b.protocol) r.protocol = b.protocol;
          if (b.notProtocol && b.notProtocol !== b.protocol) r.notProtocol = b.notProtocol;
          if (b.protocol === 'ICMP' && b.icmpType !== undefined) r.icmp = { type: b.icmpType };
          if (source) r.source = source;
          if (destination) r.destination = destination;
          return r;
        });
    });
}

const types = fc.constantFrom<('Ingress' | 'Egress')[]>(
  ['Ingress'],
  ['Egress'],
  ['Ingress', 'Egress'],
);

const calicoPolicy = (i: number) =>
  fc
    .record({
      global: fc.boolean(),
      namespace: fc.constantFrom(...R_NAMESPACES),
      tier: fc.constantFrom('default', 'security'),
      order: fc.option(fc.constantFrom(1, 5, 10, 100), { nil: undefined }),
      selector: selectorText,
      nsSel: fc.option(
        namespaceSelectorText.filter((s) => s !== 'global()'),
        { nil: undefined },
      ),
      ingress: fc.array(rule(), { maxLength: 3 }),
      egress: fc.array(rule(), { maxLength: 3 }),
      types,
    })
    .map((p) => {
      const name = p.tier === 'default' ? `p${i}` : `security.p${i}`;
      const spec = {
        tier: p.tier,
        ...(p.order !== undefined ? { order: p.order } : {}),
        selector: p.selector,
        ingress: p.ingress,
        egress: p.egress,
        types: p.types,
      };
      if (p.global) {
        return globalPolicy(name, { ...spec, ...(p.nsSel ? { namespaceSelector: p.nsSel } : {}) });
      }
      return networkPolicy(p.namespace, name, spec);
    });

const k8sSelector: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant<LabelSelector>({}),
  fc.constantFrom(...APPS).map((a): LabelSelector => ({ matchLabels: { app: a } })),
  fc.constant<LabelSelector>({ matchExpressions: [{ key: 'color', operator: 'Exists' }] }),
  fc.constant<LabelSelector>({
    matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }],
  }),
);

const k8sPeer: fc.Arbitrary<K8sNetworkPolicyPeer> = fc.oneof(
  k8sSelector.map((podSelector) => ({ podSelector })),
  fc
    .constantFrom<LabelSelector>(
      {},
      { matchLabels: { env: 'prod' } },
      { matchLabels: { ns: 'n2' } },
    )
    .map((namespaceSelector) => ({ namespaceSelector })),
  fc
    .tuple(k8sSelector, fc.constantFrom<LabelSelector>({}, { matchLabels: { env: 'prod' } }))
    .map(([podSelector, namespaceSelector]) => ({ podSelector, namespaceSelector })),
  fc.constantFrom<K8sNetworkPolicyPeer>(
    { ipBlock: { cidr: '10.66.0.0/16', except: ['10.66.1.0/24'] } },
    { ipBlock: { cidr: '10.66.2.0/24' } },
  ),
);

const k8sPort: fc.Arbitrary<K8sNetworkPolicyPort> = fc.oneof(
  fc.record({
    protocol: fc.constantFrom<'TCP' | 'UDP'>('TCP', 'UDP'),
    port: fc.constantFrom(80, 81, 443),
  }),
  fc.record({
    protocol: fc.constantFrom<'TCP' | 'UDP'>('TCP', 'UDP'),
    port: fc.constant(80),
    endPort: fc.constant(81),
  }),
  fc.record({
    protocol: fc.constantFrom<'TCP' | 'UDP'>('TCP', 'UDP'),
    port: fc.constantFrom('http', 'alt'),
  }),
  fc.record({ protocol: fc.constantFrom<'TCP' | 'UDP'>('TCP', 'UDP') }),
);

const k8sRule = fc.record(
  { peers: fc.array(k8sPeer, { maxLength: 2 }), ports: fc.array(k8sPort, { maxLength: 2 }) },
  { requiredKeys: [] },
);

const kubernetesPolicy = (i: number) =>
  fc
    .record({
      namespace: fc.constantFrom(...R_NAMESPACES),
      podSelector: k8sSelector,
      ingress: fc.array(k8sRule, { maxLength: 2 }),
      egress: fc.array(k8sRule, { maxLength: 2 }),
      policyTypes: types,
    })
    .map((p) =>
      k8sPolicy(p.namespace, `k${i}`, {
        podSelector: p.podSelector,
        ingress: p.ingress.map((r) => ({
          ...(r.peers ? { from: r.peers } : {}),
          ...(r.ports ? { ports: r.ports } : {}),
        })),
        egress: p.egress.map((r) => ({
          ...(r.peers ? { to: r.peers } : {}),
          ...(r.ports ? { ports: r.ports } : {}),
        })),
        policyTypes: p.policyTypes,
      }),
    );

export interface RandomModel {
  resources: Resource[];
  workloads: RandomWorkload[];
}

/** A random cluster: workloads 10.66.<ns>.<k>, namespaces with profiles, sets, tiers, policies. */
export const randomModel: fc.Arbitrary<RandomModel> = fc
  .record({
    workloads: fc.array(
      fc.record({
        ns: fc.nat({ max: R_NAMESPACES.length - 1 }),
        app: fc.constantFrom(...APPS),
        color: fc.option(fc.constantFrom(...COLORS), { nil: undefined }),
        node: fc.constantFrom(...R_NODES),
        ports: fc.subarray([
          { name: 'http', protocol: 'TCP', port: 80 },
          { name: 'http', protocol: 'UDP', port: 81 },
          { name: 'alt', protocol: 'TCP', port: 443 },
        ]),
      }),
      { minLength: 2, maxLength: 7 },
    ),
    nsProd: fc.subarray(R_NAMESPACES),
    storedProfiles: fc.subarray(R_NAMESPACES),
    profileRules: fc.array(rule(), { maxLength: 2 }),
    sets: fc.subarray(['ns-set', 'global-set']),
    tierPass: fc.boolean(),
    calico: fc
      .nat({ max: 4 })
      .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => calicoPolicy(i)))),
    k8s: fc
      .nat({ max: 3 })
      .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => kubernetesPolicy(i)))),
  })
  .map((m) => {
    const resources: Resource[] = [];
    const counts = new Map<number, number>();
    const workloads: RandomWorkload[] = m.workloads.map((w, i) => {
      const k = (counts.get(w.ns) ?? 0) + 1;
      counts.set(w.ns, k);
      return {
        namespace: R_NAMESPACES[w.ns]!,
        name: `w${i}`,
        node: w.node,
        ip: `10.66.${w.ns + 1}.${k}`,
        iface: `caliw${i}`,
      };
    });
    for (const ns of R_NAMESPACES) {
      const labels = { ns, ...(m.nsProd.includes(ns) ? { env: 'prod' } : {}) };
      // Namespaces without a stored profile get the implicit allow-all one.
      if (m.storedProfiles.includes(ns)) {
        const p = namespaceProfile(ns, labels);
        p.spec = { ...p.spec, ingress: m.profileRules, egress: [{ action: 'Allow' }] };
        resources.push(p);
      } else if (m.nsProd.includes(ns)) {
        resources.push(namespaceProfile(ns, labels));
      }
    }
    m.workloads.forEach((w, i) => {
      const x = workloads[i]!;
      resources.push(
        workload({
          namespace: x.namespace,
          name: x.name,
          node: x.node,
          iface: x.iface,
          ip: x.ip,
          labels: { app: w.app, ...(w.color ? { color: w.color } : {}) },
          ports: w.ports,
        }),
      );
    });
    if (m.sets.includes('ns-set'))
      resources.push(
        networkSet('n1', 'trusted', { role: 'trusted' }, ['10.66.2.0/24', '10.66.2.1/32']),
      );
    if (m.sets.includes('global-set'))
      resources.push(
        globalNetworkSet('g-trusted', { role: 'trusted' }, ['10.66.3.0/24', '192.0.2.0/24']),
      );
    resources.push(
      tier('security', { order: 10, ...(m.tierPass ? { defaultAction: 'Pass' as const } : {}) }),
    );
    resources.push(...m.calico, ...m.k8s);
    return { resources, workloads };
  });

export interface RandomPacket {
  src: string;
  dst: string;
  protocol: 'tcp' | 'udp' | 'icmp';
  port: number | undefined;
  srcPort: number;
  icmpType: number | undefined;
}

/** Packets between the model's workloads (and one outside address). */
export function randomPacket(workloads: RandomWorkload[]): fc.Arbitrary<RandomPacket> {
  const addrs = [...workloads.map((w) => w.ip), '192.0.2.9'];
  return fc
    .record({
      src: fc.constantFrom(...addrs),
      dst: fc.constantFrom(...addrs),
      protocol: fc.constantFrom<'tcp' | 'udp' | 'icmp'>('tcp', 'udp', 'icmp'),
      port: fc.constantFrom(80, 81, 443, 8080),
      srcPort: fc.constantFrom(80, 40000),
      icmpType: fc.constantFrom(0, 8),
    })
    .map((p) => ({
      ...p,
      port: p.protocol === 'icmp' ? undefined : p.port,
      icmpType: p.protocol === 'icmp' ? p.icmpType : undefined,
    }));
}
