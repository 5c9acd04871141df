import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../model/resource.js';
import { describeVerdict, evaluatePacket, ReferenceModel } from './reference.js';
import {
  felix,
  globalPolicy,
  namespaceProfile,
  networkPolicy,
  profile,
  tier,
  workload,
} from './test-support/fixtures.js';

const A = {
  namespace: 'n1',
  name: 'a',
  node: 'h1',
  iface: 'calia',
  ip: '10.0.0.1',
  labels: { app: 'a' },
};
const B = {
  namespace: 'n1',
  name: 'b',
  node: 'h2',
  iface: 'calib',
  ip: '10.0.0.2',
  labels: { app: 'b' },
};
const base = (): Resource[] => [namespaceProfile('n1', { env: 'prod' }), workload(A), workload(B)];
const node = (name: string, ip: string): Resource => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'Node',
  metadata: { name },
  spec: { bgp: { ipv4Address: `${ip}/24` } },
});

function verdict(resources: Resource[], pkt: Partial<Parameters<typeof evaluatePacket>[1]> = {}) {
  return evaluatePacket(new ReferenceModel(resources), {
    src: A.ip,
    dst: B.ip,
    protocol: 'tcp',
    port: 80,
    ...pkt,
  });
}

describe('reference evaluator', () => {
  it('no policy: the namespace profile (stored or implicit) allows; an unknown profile denies', () => {
    assert.equal(verdict(base()).allowed, true);
    assert.equal(verdict([workload(A), workload(B)]).allowed, true, 'implicit kns profile');
    const v = verdict([workload({ ...A, profiles: ['nope'] }), workload(B)]);
    assert.equal(v.allowed, false);
    assert.equal(v.decisive?.by.kind, 'no-profile-matched');
  });

  it('a selected endpoint is default-deny at the end of its tier', () => {
    const v = verdict([
      ...base(),
      networkPolicy('n1', 'sel-b', { selector: "app == 'b'", ingress: [], types: ['Ingress'] }),
    ]);
    assert.equal(v.allowed, false);
    assert.deepEqual(v.decisive?.by, { kind: 'end-of-tier', tier: 'default' });
  });

  it('tiers in order; Pass skips to the next tier; a Pass default action too', () => {
    const resources = [
      ...base(),
      tier('first', { order: 10 }),
      globalPolicy('first.pass', {
        tier: 'first',
        selector: 'all()',
        ingress: [{ action: 'Log' }, { action: 'Pass', protocol: 'TCP' }],
        types: ['Ingress'],
      }),
      networkPolicy('n1', 'deny-80', {
        selector: 'all()',
        ingress: [
          { action: 'Deny', protocol: 'TCP', destination: { ports: [80] } },
          { action: 'Allow' },
        ],
        types: ['Ingress'],
      }),
    ];
    const tcp = verdict(resources);
    assert.equal(tcp.allowed, false);
    assert.deepEqual(tcp.decisive?.passedTiers, ['first']);
    assert.equal(tcp.decisive?.logged.length, 1);
    assert.deepEqual(tcp.decisive?.by, {
      kind: 'rule',
      tier: 'default',
      policy: 'n1/deny-80',
      policyKind: 'NetworkPolicy',
      rule: 0,
      action: 'Deny',
    });
    // UDP is not passed: the first tier ends in a drop...
    assert.equal(verdict(resources, { protocol: 'udp' }).decisive?.by.kind, 'end-of-tier');
    // ...unless the tier's default action is Pass.
    resources[3] = tier('first', { order: 10, defaultAction: 'Pass' });
    assert.equal(verdict(resources, { protocol: 'udp' }).allowed, true);
  });

  it('policies in a tier by order, then name; a lower order decides first', () => {
    const resources = [
      ...base(),
      networkPolicy('n1', 'b-allow', {
        order: 5,
        selector: 'all()',
        ingress: [{ action: 'Allow' }],
      }),
      networkPolicy('n1', 'a-deny', { order: 5, selector: 'all()', ingress: [{ action: 'Deny' }] }),
      networkPolicy('n1', 'first', { order: 1, selector: 'all()', ingress: [{ action: 'Log' }] }),
    ];
    const v = verdict(resources);
    assert.equal(v.allowed, false);
    assert.equal(v.decisive?.by.kind === 'rule' && v.decisive.by.policy, 'n1/a-deny');
  });

  it('a profile with rules decides after the tiers; its Deny drops', () => {
    const resources = [
      workload(A),
      workload(B),
      profile('kns.n1', {
        ingress: [{ action: 'Deny', source: { selector: "app == 'a'" } }, { action: 'Allow' }],
        egress: [{ action: 'Allow' }],
      }),
    ];
    const v = verdict(resources);
    assert.equal(v.allowed, false);
    assert.equal(v.decisive?.by.kind === 'rule' && v.decisive.by.policyKind, 'Profile');
  });

  it('workload to its own host: egress policy, then defaultEndpointToHostAction (Drop by default)', () => {
    const resources = [...base(), node('h1', '172.16.0.1'), node('h2', '172.16.0.2')];
    const toHost = verdict(resources, { dst: '172.16.0.1' });
    assert.equal(toHost.allowed, false);
    assert.deepEqual(toHost.decisive?.by, { kind: 'endpoint-to-host', action: 'Drop' });
    assert.equal(
      verdict([...resources, felix('default', { defaultEndpointToHostAction: 'Accept' })], {
        dst: '172.16.0.1',
      }).allowed,
      true,
    );
    // Another host is just a destination; the host reaches its own workloads without policy.
    assert.equal(verdict(resources, { dst: '172.16.0.2' }).allowed, true);
    const fromHost = verdict(
      [...resources, networkPolicy('n1', 'deny', { selector: 'all()', ingress: [] })],
      { src: '172.16.0.2' },
    );
    assert.equal(fromHost.allowed, true);
    assert.equal(fromHost.decisive?.by.kind, 'loopback');
  });

  it('a workload sending from an address not its own is spoofing unless allowed', () => {
    const m = new ReferenceModel(base());
    const v = evaluatePacket(
      m,
      { src: B.ip, dst: '10.9.9.9', protocol: 'udp', port: 53 },
      { from: 'n1/a' },
    );
    assert.equal(v.allowed, false);
    assert.equal(v.decisive?.by.kind, 'spoofed');
    const ok = new ReferenceModel([
      workload({ ...A, allowSpoofedSourcePrefixes: ['10.0.0.0/30'] }),
      workload(B),
    ]);
    assert.equal(
      evaluatePacket(
        ok,
        { src: B.ip, dst: '10.9.9.9', protocol: 'udp', port: 53 },
        { from: 'n1/a' },
      ).allowed,
      true,
    );
  });

  it('describes its verdict step by step', () => {
    const lines = describeVerdict(
      verdict([
        ...base(),
        networkPolicy('n1', 'sel-b', { selector: "app == 'b'", ingress: [], types: ['Ingress'] }),
      ]),
    );
    assert.match(lines[0]!, /^DENIED/);
    assert.ok(
      lines.some((l) => l.includes('egress of n1/a: allow by profile kns.n1 rule 0')),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.includes('ingress of n1/b: deny by the end of tier default')),
      lines.join('\n'),
    );
  });
});
