import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IPPoolSpec, Resource } from './resource.js';
import { calico, manifestIssues, objectIssues } from './test-support.js';
import { checkPoolOverlap, formatIssue, validateReplace } from './validate.js';

const pool = (spec: Record<string, unknown>, name = 'pool') =>
  calico('IPPool', name, spec) as Resource<IPPoolSpec>;

describe('IPPool', () => {
  it('accepts the pool from Calico’s reference page', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: my.ippool-1
spec:
  cidr: 10.1.0.0/16
  ipipMode: CrossSubnet
  natOutgoing: true
  disabled: false
  nodeSelector: all()
  allowedUses:
    - Workload
    - Tunnel
`;
    assert.deepEqual(manifestIssues(text), []);
  });

  it('requires a cidr', () => {
    assert.deepEqual(objectIssues(pool({})), ['spec.cidr: is required']);
    assert.deepEqual(objectIssues({ ...pool({}), spec: undefined }), ['spec.cidr: is required']);
    assert.deepEqual(objectIssues(pool({ cidr: '' })), ['spec.cidr: is required']);
  });

  it('refuses a CIDR with host bits set, naming the network', () => {
    const text =
      'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.0.0.1/16\n';
    assert.deepEqual(manifestIssues(text, 'pools.yaml'), [
      'pools.yaml:6: spec.cidr: "10.0.0.1/16" has host bits set: the network is "10.0.0.0/16"',
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: 'fd00::1/64' })), [
      'spec.cidr: "fd00::1/64" has host bits set: the network is "fd00::/64"',
    ]);
  });

  it('refuses a CIDR in the link-local range', () => {
    assert.deepEqual(objectIssues(pool({ cidr: '169.254.0.0/20' })), [
      'spec.cidr: "169.254.0.0/20" overlaps the link-local range 169.254.0.0/16',
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: 'fe80::/64' })), [
      'spec.cidr: "fe80::/64" overlaps the link-local range fe80::/10',
    ]);
  });

  it('keeps blockSize within the family’s range', () => {
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/8', blockSize: 19 })), [
      'spec.blockSize: 19 is out of range: IPv4 block sizes are 20-32',
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/8', blockSize: 33 })), [
      'spec.blockSize: 33 is out of range: IPv4 block sizes are 20-32',
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: 'fd00::/48', blockSize: 115 })), [
      'spec.blockSize: 115 is out of range: IPv6 block sizes are 116-128',
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/8', blockSize: 32 })), []);
    assert.deepEqual(objectIssues(pool({ cidr: 'fd00::/48', blockSize: 128 })), []);
  });

  it('needs the pool at least as big as a block, unless disabled', () => {
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/27' })), [
      'spec.blockSize: a /27 pool cannot hold /26 blocks: blockSize must be at least 27',
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/27', blockSize: 28 })), []);
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/27', disabled: true })), []);
  });

  it('accepts only Never, Always and CrossSubnet as modes', () => {
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/16', vxlanMode: 'always' })), [
      'spec.vxlanMode: "always" is not one of Never, Always, CrossSubnet',
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/16', vxlanMode: 'CrossSubnet' })), []);
  });

  it('refuses IPIP and VXLAN on one pool', () => {
    assert.deepEqual(
      objectIssues(pool({ cidr: '10.0.0.0/16', ipipMode: 'Always', vxlanMode: 'CrossSubnet' })),
      [
        'spec.vxlanMode: cannot be CrossSubnet while ipipMode is Always: a pool uses at most one encapsulation',
      ],
    );
    assert.deepEqual(
      objectIssues(pool({ cidr: '10.0.0.0/16', ipipMode: 'Never', vxlanMode: 'Always' })),
      [],
    );
  });

  it('refuses IPIP on an IPv6 pool', () => {
    assert.deepEqual(objectIssues(pool({ cidr: 'fd00::/48', ipipMode: 'Always' })), [
      'spec.ipipMode: IPIP is not supported on an IPv6 pool: use Never',
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: 'fd00::/48', vxlanMode: 'Always' })), []);
  });

  it('checks selectors, showing the column', () => {
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/16', nodeSelector: "zone == 'a' &&" })), [
      `spec.nodeSelector: "zone == 'a' &&" is not a valid selector: column 15: expected an expression`,
    ]);
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/16', nodeSelector: '!all()' })), []);
  });

  it('checks allowedUses', () => {
    assert.deepEqual(
      objectIssues(pool({ cidr: '10.0.0.0/16', allowedUses: ['Workload', 'Pods'] })),
      ['spec.allowedUses[1]: "Pods" is not one of Workload, Tunnel, LoadBalancer'],
    );
    assert.deepEqual(
      objectIssues(pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer', 'Tunnel'] })),
      ['spec.allowedUses: LoadBalancer cannot be combined with other uses'],
    );
    assert.deepEqual(
      objectIssues(
        pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'], vxlanMode: 'Always' }),
      ),
      ['spec.allowedUses: a LoadBalancer pool cannot use IPIP or VXLAN'],
    );
    assert.deepEqual(
      objectIssues(pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'] })),
      [],
    );
  });

  it('refuses the APIv1 fields', () => {
    assert.deepEqual(objectIssues(pool({ cidr: '10.0.0.0/16', ipip: { enabled: true } })), [
      'spec.ipip: is an APIv1 field: use ipipMode',
    ]);
  });
});

describe('checkPoolOverlap', () => {
  const where = { source: 'pools.yaml', line: 3 };

  it('refuses an enabled pool overlapping another enabled pool', () => {
    const issues = checkPoolOverlap(
      pool({ cidr: '10.0.0.0/16' }, 'new'),
      [pool({ cidr: '10.0.0.0/8' }, 'old')],
      where,
    );
    assert.deepEqual(issues.map(formatIssue), [
      'pools.yaml:3: spec.cidr: "10.0.0.0/16" overlaps IPPool "old" (10.0.0.0/8): disable one of them first',
    ]);
  });

  it('ignores the pool itself, disabled pools and disjoint pools', () => {
    const mine = pool({ cidr: '10.0.0.0/16' }, 'mine');
    assert.deepEqual(checkPoolOverlap(mine, [pool({ cidr: '10.0.0.0/16' }, 'mine')], where), []);
    assert.deepEqual(
      checkPoolOverlap(mine, [pool({ cidr: '10.0.0.0/8', disabled: true }, 'old')], where),
      [],
    );
    assert.deepEqual(
      checkPoolOverlap(
        pool({ cidr: '10.0.0.0/16', disabled: true }),
        [pool({ cidr: '10.0.0.0/8' }, 'x')],
        where,
      ),
      [],
    );
    assert.deepEqual(
      checkPoolOverlap(
        mine,
        [pool({ cidr: '10.1.0.0/16' }, 'b'), pool({ cidr: 'fd00::/48' }, 'c')],
        where,
      ),
      [],
    );
  });
});

describe('IPPool updates', () => {
  it('refuse a new cidr or blockSize', () => {
    const before = pool({ cidr: '10.0.0.0/16' });
    const issues = validateReplace(before, pool({ cidr: '10.1.0.0/16', blockSize: 28 }));
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      [
        'spec.cidr: cannot be changed from "10.0.0.0/16": create a new pool instead',
        'spec.blockSize: cannot be changed from 26',
      ],
    );
  });

  it('allow other changes, the default blockSize spelled out, and a normalised cidr', () => {
    assert.deepEqual(
      validateReplace(
        pool({ cidr: '10.0.0.0/16' }),
        pool({ cidr: '10.0.0.0/16', blockSize: 26, disabled: true }),
      ),
      [],
    );
    assert.deepEqual(
      validateReplace(pool({ cidr: 'fd00:0::/48' }), pool({ cidr: 'fd00::/48' })),
      [],
    );
  });

  it('refuse turning a LoadBalancer pool into a workload pool', () => {
    const issues = validateReplace(
      pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'] }),
      pool({ cidr: '10.0.0.0/16', allowedUses: ['Workload'] }),
    );
    assert.deepEqual(
      issues.map((i) => i.path),
      ['spec.allowedUses'],
    );
  });
});

describe('IPReservation and IPAMConfiguration', () => {
  it('accept CIDRs and bare addresses as reservations', () => {
    assert.deepEqual(
      objectIssues(calico('IPReservation', 'r', { reservedCIDRs: ['10.0.0.5', '10.0.1.0/28'] })),
      [],
    );
    assert.deepEqual(
      objectIssues(calico('IPReservation', 'r', { reservedCIDRs: ['10.0.0.300'] })),
      ['spec.reservedCIDRs[0]: "10.0.0.300" is not a valid CIDR'],
    );
  });

  it('bound maxBlocksPerHost', () => {
    assert.deepEqual(
      objectIssues(
        calico('IPAMConfiguration', 'default', { strictAffinity: true, maxBlocksPerHost: 4 }),
      ),
      [],
    );
    assert.deepEqual(
      objectIssues(calico('IPAMConfiguration', 'default', { maxBlocksPerHost: -1 })),
      ['spec.maxBlocksPerHost: -1 is out of range: must be 0-1000000'],
    );
  });
});
