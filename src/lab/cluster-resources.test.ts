import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeResource, poolResource, prepareResources } from './cluster-resources.js';
import { planLab } from './plan.js';
import { sampleState } from './test-support/fixtures.js';

describe('what the lab writes to the datastore', () => {
  it('an IPPool from --encap, valid, with Calico’s defaults filled in', () => {
    const plan = planLab({
      name: 'demo',
      hosts: 2,
      workloads: 0,
      topology: 'flat',
      encap: 'vxlan',
    });
    const [pool] = prepareResources([poolResource(plan.pool)]);
    assert.equal(pool?.metadata.name, 'lab-ipv4-pool');
    assert.deepEqual(
      {
        cidr: pool?.spec?.['cidr'],
        blockSize: pool?.spec?.['blockSize'],
        ipipMode: pool?.spec?.['ipipMode'],
        vxlanMode: pool?.spec?.['vxlanMode'],
        natOutgoing: pool?.spec?.['natOutgoing'],
        nodeSelector: pool?.spec?.['nodeSelector'],
      },
      {
        cidr: '10.244.0.0/16',
        blockSize: 26,
        ipipMode: 'Never',
        vxlanMode: 'Always',
        natOutgoing: true,
        nodeSelector: 'all()',
      },
    );
  });

  it('a Node per host with its underlay address and labels, valid', () => {
    const host = sampleState().hosts[1]!;
    const [node] = prepareResources([nodeResource('demo', host)]);
    assert.equal(node?.metadata.name, 'host2');
    assert.deepEqual(node?.metadata.labels, {
      'kubernetes.io/hostname': 'host2',
      'kubernetes.io/os': 'linux',
      'tortie.io/lab': 'demo',
      'tortie.io/segment': '1',
    });
    assert.deepEqual((node?.spec as { bgp: unknown }).bgp, { ipv4Address: '172.31.1.12/24' });
  });

  it('refuses an invalid resource by field', () => {
    const bad = poolResource({
      name: 'p',
      cidr: '10.244.0.0/33',
      blockSize: 26,
      vxlanMode: 'Never',
    });
    assert.throws(() => prepareResources([bad]), /spec\.cidr/);
  });
});
