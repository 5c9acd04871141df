// Properties of applyDefaults over generated valid resources: it is
// idempotent, it does not touch its input, and what it returns is valid.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cidrsOverlap, formatCidr, makeCidr, parseCidr, type Cidr } from './cidr.js';
import type { Resource } from './resource.js';
import { calico } from './test-support.js';
import { applyDefaults, validateResource } from './validate.js';

const LINK_LOCAL = { 4: parseCidr('169.254.0.0/16'), 6: parseCidr('fe80::/10') };
const MODES = ['Never', 'Always', 'CrossSubnet'] as const;

/** A pool CIDR that Calico accepts: masked, not link-local, big enough for its blocks. */
const poolNetwork = (family: 4 | 6, blockSize: number): fc.Arbitrary<Cidr> => {
  const bits = family === 4 ? 32 : 128;
  const minPrefix = family === 4 ? 8 : 48;
  return fc
    .record({
      value: fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n }),
      prefixLength: fc.integer({ min: minPrefix, max: blockSize }),
    })
    .map(({ value, prefixLength }) => makeCidr(family, value, prefixLength))
    .filter((cidr) => !cidrsOverlap(cidr, LINK_LOCAL[family]));
};

const ipPool: fc.Arbitrary<Resource> = fc
  .record({
    family: fc.constantFrom<4 | 6>(4, 6),
    explicitBlockSize: fc.boolean(),
    ipipMode: fc.option(fc.constantFrom(...MODES), { nil: undefined }),
    vxlanMode: fc.option(fc.constantFrom(...MODES), { nil: undefined }),
    natOutgoing: fc.option(fc.boolean(), { nil: undefined }),
    disabled: fc.option(fc.boolean(), { nil: undefined }),
    nodeSelector: fc.option(fc.constantFrom('all()', "zone == 'a'", '!has(edge)', ''), {
      nil: undefined,
    }),
    allowedUses: fc.option(fc.subarray(['Workload', 'Tunnel']), { nil: undefined }),
    assignmentMode: fc.option(fc.constantFrom('Automatic', 'Manual'), { nil: undefined }),
    name: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/),
  })
  .chain((p) => {
    const [min, max] = p.family === 4 ? [20, 32] : [116, 128];
    return fc.integer({ min, max }).chain((blockSize) =>
      poolNetwork(p.family, p.explicitBlockSize ? blockSize : p.family === 4 ? 26 : 122).map(
        (cidr) => {
          const ipipMode = p.family === 6 ? 'Never' : p.ipipMode;
          // At most one encapsulation per pool.
          const vxlanMode = ipipMode && ipipMode !== 'Never' ? 'Never' : p.vxlanMode;
          const spec: Record<string, unknown> = { cidr: formatCidr(cidr) };
          if (p.explicitBlockSize) spec.blockSize = blockSize;
          for (const [key, value] of Object.entries({
            ipipMode,
            vxlanMode,
            natOutgoing: p.natOutgoing,
            disabled: p.disabled,
            nodeSelector: p.nodeSelector,
            allowedUses: p.allowedUses,
            assignmentMode: p.assignmentMode,
          })) {
            if (value !== undefined) spec[key] = value;
          }
          return calico('IPPool', p.name, spec);
        },
      ),
    );
  });

const rule = fc.oneof(
  fc.record({ action: fc.constantFrom('Allow', 'Deny', 'Log', 'Pass') }),
  fc.record({
    action: fc.constantFrom('Allow', 'Deny'),
    protocol: fc.constantFrom('TCP', 'UDP', 6, 17),
    destination: fc.record({
      ports: fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 3 }),
    }),
  }),
  fc.record({
    action: fc.constant('Allow'),
    protocol: fc.constant('ICMP'),
    icmp: fc.record({
      type: fc.integer({ min: 0, max: 254 }),
      code: fc.integer({ min: 0, max: 255 }),
    }),
  }),
);

const globalPolicy: fc.Arbitrary<Resource> = fc
  .record({
    ingress: fc.option(fc.array(rule, { maxLength: 3 }), { nil: undefined }),
    egress: fc.option(fc.array(rule, { maxLength: 3 }), { nil: undefined }),
    tier: fc.option(fc.constantFrom('default', 'security'), { nil: undefined }),
    order: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
  })
  .map(({ ingress, egress, tier, order }) => {
    const spec: Record<string, unknown> = { selector: 'all()' };
    if (ingress) spec.ingress = ingress;
    if (egress) spec.egress = egress;
    if (tier) spec.tier = tier;
    if (order !== undefined) spec.order = order;
    return calico('GlobalNetworkPolicy', 'generated', spec);
  });

function checkDefaultsProperties(arbitrary: fc.Arbitrary<Resource>): void {
  // Through JSON, as resources arrive (fast-check's records have no prototype).
  const asParsed = arbitrary.map((r) => JSON.parse(JSON.stringify(r)) as Resource);
  fc.assert(
    fc.property(asParsed, (resource) => {
      assert.deepEqual(
        validateResource(resource).issues,
        [],
        'the generator makes valid resources',
      );
      const snapshot = structuredClone(resource);
      const once = applyDefaults(resource);
      assert.deepEqual(resource, snapshot, 'the input is untouched');
      assert.deepEqual(applyDefaults(once), once, 'idempotent');
      assert.deepEqual(validateResource(once).issues, [], 'still valid');
    }),
    { numRuns: 300 },
  );
}

describe('applyDefaults properties', () => {
  it('holds for generated IPPools', () => checkDefaultsProperties(ipPool));
  it('holds for generated GlobalNetworkPolicies', () => checkDefaultsProperties(globalPolicy));
});
