import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MAX_IFNAME,
  checkLabName,
  checkNamespaceName,
  checkWorkloadName,
  hostNetns,
  isLabNetns,
  labDir,
  labRoot,
  netnsPrefix,
  routerNetns,
  underlayNetns,
  workloadNetns,
} from './naming.js';

describe('lab naming', () => {
  it('accepts short lowercase lab names without dashes', () => {
    for (const name of ['tortie', 'a', 'demo2', 'abcdefghijkl'])
      assert.equal(checkLabName(name), name);
    for (const name of ['', 'A', '1lab', 'my-lab', 'abcdefghijklm', 'a_b', 'a.b']) {
      assert.throws(() => checkLabName(name), /invalid lab name/, name);
    }
  });

  it('gives every namespace of a lab the prefix tl-<lab>-', () => {
    const names = [
      underlayNetns('demo'),
      routerNetns('demo'),
      hostNetns('demo', 'host1'),
      workloadNetns('demo', 'web-1'),
    ];
    assert.deepEqual(names, ['tl-demo-ul', 'tl-demo-rtr', 'tl-demo-host1', 'tl-demo-w-web-1']);
    for (const n of names) assert.ok(isLabNetns('demo', n));
  });

  it('never mistakes one lab namespace for another lab (names hold no dash)', () => {
    assert.equal(netnsPrefix('a'), 'tl-a-');
    assert.ok(!isLabNetns('a', hostNetns('ab', 'host1')));
    assert.ok(!isLabNetns('ab', hostNetns('a', 'host1')));
    // "tl-a-b…" could only come from a lab named "a-b", which is not a valid name.
    assert.throws(() => checkLabName('a-b'));
  });

  it('checks workload and namespace names like Kubernetes does', () => {
    assert.equal(checkWorkloadName('web-1'), 'web-1');
    for (const bad of ['-web', 'web-', 'Web', 'w_b', 'a'.repeat(41), '']) {
      assert.throws(() => checkWorkloadName(bad), /invalid workload name/, bad);
    }
    assert.equal(checkNamespaceName('kube-system'), 'kube-system');
    assert.throws(() => checkNamespaceName('Kube'), /invalid namespace/);
  });

  it('keeps labs under the root, overridable by TORTIE_LAB_ROOT', () => {
    assert.equal(labRoot({}), '/var/lib/tortie/labs');
    assert.equal(labRoot({ TORTIE_LAB_ROOT: '/tmp/x' }), '/tmp/x');
    assert.equal(labDir('/tmp/x', 'demo'), '/tmp/x/demo');
    assert.throws(() => labDir('/tmp/x', '../etc'), /invalid lab name/);
    assert.equal(MAX_IFNAME, 15);
  });
});
