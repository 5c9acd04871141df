import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from './resource.js';
import { calico, objectIssues } from './test-support.js';
import { applyDefaults } from './validate.js';

const specOf = (resource: Resource<unknown>) => applyDefaults(resource).spec;

describe('applyDefaults', () => {
  it('fills an IPv4 IPPool as Calico stores it', () => {
    assert.deepEqual(specOf(calico('IPPool', 'p', { cidr: '10.0.0.0/16' })), {
      cidr: '10.0.0.0/16',
      blockSize: 26,
      ipipMode: 'Never',
      vxlanMode: 'Never',
      natOutgoing: false,
      disabled: false,
      disableBGPExport: false,
      nodeSelector: 'all()',
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
    });
  });

  it('gives an IPv6 pool /122 blocks and its canonical cidr, and keeps what is set', () => {
    const spec = specOf(
      calico('IPPool', 'p', {
        cidr: 'FD00:0:0::/48',
        blockSize: 120,
        vxlanMode: 'Always',
        allowedUses: [],
      }),
    );
    assert.deepEqual(spec, {
      cidr: 'fd00::/48',
      blockSize: 120,
      ipipMode: 'Never',
      vxlanMode: 'Always',
      natOutgoing: false,
      disabled: false,
      disableBGPExport: false,
      nodeSelector: 'all()',
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
    });
    assert.equal(
      (specOf(calico('IPPool', 'p', { cidr: 'fd00::/48' })) as { blockSize: number }).blockSize,
      122,
    );
  });

  it('puts policies in the default tier, with types derived from their rules', () => {
    const types = (spec: Record<string, unknown>) =>
      (specOf(calico('GlobalNetworkPolicy', 'p', spec)) as { types: string[] }).types;
    assert.deepEqual(types({}), ['Ingress']);
    assert.deepEqual(types({ ingress: [{ action: 'Allow' }] }), ['Ingress']);
    assert.deepEqual(types({ egress: [{ action: 'Allow' }] }), ['Egress']);
    assert.deepEqual(types({ ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }), [
      'Ingress',
      'Egress',
    ]);
    assert.deepEqual(types({ egress: [{ action: 'Allow' }], types: ['Ingress'] }), ['Ingress']);
    const policy = applyDefaults(calico('NetworkPolicy', 'p', { selector: "app == 'web'" }));
    assert.deepEqual(policy.metadata, {
      name: 'p',
      namespace: 'default',
      labels: { 'projectcalico.org/tier': 'default' },
    });
    assert.deepEqual(policy.spec, {
      selector: "app == 'web'",
      tier: 'default',
      types: ['Ingress'],
    });
  });

  it('leaves rules as written', () => {
    const rules = [{ action: 'Allow', protocol: 6, destination: { ports: ['80:81'] } }];
    assert.deepEqual(
      (specOf(calico('GlobalNetworkPolicy', 'p', { ingress: rules })) as { ingress: unknown })
        .ingress,
      rules,
    );
  });

  it('fills the default BGPConfiguration only', () => {
    assert.deepEqual(specOf(calico('BGPConfiguration', 'default', {})), {
      asNumber: 64512,
      nodeToNodeMeshEnabled: true,
      logSeverityScreen: 'Info',
    });
    assert.deepEqual(
      specOf(
        calico('BGPConfiguration', 'default', { asNumber: 63400, nodeToNodeMeshEnabled: false }),
      ),
      {
        asNumber: 63400,
        nodeToNodeMeshEnabled: false,
        logSeverityScreen: 'Info',
      },
    );
    assert.deepEqual(specOf(calico('BGPConfiguration', 'node.host-a', { listenPort: 1179 })), {
      listenPort: 1179,
    });
  });

  it('fills tiers, IPAM configuration and the Felix fields Calico fills', () => {
    assert.deepEqual(specOf(calico('Tier', 'security', {})), {
      order: 1_000_000,
      defaultAction: 'Deny',
    });
    assert.deepEqual(specOf(calico('Tier', 'security', { order: 100 })), {
      order: 100,
      defaultAction: 'Deny',
    });
    assert.deepEqual(specOf(calico('IPAMConfiguration', 'default', { strictAffinity: true })), {
      strictAffinity: true,
      maxBlocksPerHost: 0,
      autoAllocateBlocks: true,
    });
    assert.deepEqual(specOf(calico('FelixConfiguration', 'default', { vxlanEnabled: true })), {
      vxlanEnabled: true,
      floatingIPs: 'Disabled',
      bpfConnectTimeLoadBalancing: 'TCP',
      bpfHostNetworkedNATWithoutCTLB: 'Enabled',
    });
    assert.deepEqual(
      specOf(
        calico('FelixConfiguration', 'default', { bpfConnectTimeLoadBalancingEnabled: false }),
      ),
      {
        bpfConnectTimeLoadBalancingEnabled: false,
        floatingIPs: 'Disabled',
        bpfConnectTimeLoadBalancing: 'Disabled',
        bpfHostNetworkedNATWithoutCTLB: 'Disabled',
      },
    );
  });

  it('fills Kubernetes NetworkPolicy as Kubernetes reads it', () => {
    const policy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web' },
      spec: { egress: [{ ports: [{ port: 53 }] }] },
    };
    assert.deepEqual(applyDefaults(policy), {
      ...policy,
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        podSelector: {},
        egress: [{ ports: [{ port: 53, protocol: 'TCP' }] }],
        policyTypes: ['Ingress', 'Egress'],
      },
    });
  });

  it('returns a new object and leaves the input alone', () => {
    const input = calico('IPPool', 'p', { cidr: '10.0.0.0/16', allowedUses: ['Tunnel'] });
    const snapshot = structuredClone(input);
    const output = applyDefaults(input);
    assert.deepEqual(input, snapshot);
    assert.notEqual(output.spec, input.spec);
    (output.spec as { allowedUses: string[] }).allowedUses.push('Workload');
    assert.deepEqual(input, snapshot);
  });

  it('produces valid resources from valid ones', () => {
    for (const resource of [
      calico('IPPool', 'p', { cidr: '10.0.0.0/16' }),
      calico('NetworkPolicy', 'security.p', { tier: 'security' }),
      calico('Tier', 'default', {}),
      calico('BGPConfiguration', 'default', {}),
      calico('FelixConfiguration', 'default', {}),
      calico('IPAMConfiguration', 'default', {}),
    ]) {
      assert.deepEqual(objectIssues(applyDefaults(resource)), [], resource.kind);
    }
  });
});
