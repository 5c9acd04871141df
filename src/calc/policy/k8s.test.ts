import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSelector } from '../../model/selector.js';
import { k8sRuleToCalico, labelSelectorText, translateK8sPolicy } from './k8s.js';

describe('Kubernetes NetworkPolicy translation', () => {
  it('turns label selectors into Calico selectors, pods limited to Kubernetes ones', () => {
    assert.equal(labelSelectorText({}, 'pod'), 'projectcalico.org/orchestrator == "k8s"');
    assert.equal(labelSelectorText({}, 'namespace'), 'all()');
    const text = labelSelectorText(
      {
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'x', operator: 'DoesNotExist' },
        ],
      },
      'pod',
    );
    const sel = parseSelector(text);
    const pod = { 'projectcalico.org/orchestrator': 'k8s', app: 'web', tier: 'b' };
    assert.equal(sel.matches(pod), true);
    assert.equal(sel.matches({ ...pod, x: '1' }), false);
    assert.equal(sel.matches({ ...pod, 'projectcalico.org/orchestrator': 'cni' }), false);
  });

  it('makes one rule per protocol and peer, ports of that protocol together, endPort as a range', () => {
    const rules = k8sRuleToCalico(
      [
        { podSelector: { matchLabels: { a: 'b' } } },
        { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } },
      ],
      [{ port: 80 }, { protocol: 'UDP', port: 53, endPort: 55 }, { protocol: 'TCP', port: 'http' }],
      'ingress',
    );
    assert.equal(rules.length, 4);
    const tcp = rules.filter((r) => r.protocol === 'TCP');
    assert.deepEqual(tcp[0]!.destination, { ports: [80, 'http'] });
    assert.deepEqual(tcp[1]!.source, { nets: ['10.0.0.0/8'], notNets: ['10.1.0.0/16'] });
    assert.deepEqual(rules.find((r) => r.protocol === 'UDP')!.destination, { ports: ['53:55'] });
  });

  it('no peers and no ports allow everything; a protocol without port allows all its ports', () => {
    assert.deepEqual(k8sRuleToCalico(undefined, undefined, 'ingress'), [{ action: 'Allow' }]);
    assert.deepEqual(
      k8sRuleToCalico([], [{ protocol: 'UDP' }, { protocol: 'UDP', port: 53 }], 'egress'),
      [{ action: 'Allow', protocol: 'UDP' }],
    );
    const egress = k8sRuleToCalico([{ namespaceSelector: {} }], [{ port: 80 }], 'egress');
    assert.deepEqual(egress, [
      {
        action: 'Allow',
        protocol: 'TCP',
        destination: {
          selector: 'projectcalico.org/orchestrator == "k8s"',
          namespaceSelector: 'all()',
          ports: [80],
        },
      },
    ]);
  });

  it('names the policy knp.default.<name> and defaults its types as Kubernetes does', () => {
    const t = translateK8sPolicy('deny', { podSelector: {}, egress: [{}] });
    assert.equal(t.name, 'knp.default.deny');
    assert.deepEqual(t.types, ['Ingress', 'Egress']);
    assert.deepEqual(translateK8sPolicy('x', { policyTypes: ['Egress'] }).types, ['Egress']);
    assert.deepEqual(translateK8sPolicy('x', {}).types, ['Ingress']);
  });
});
