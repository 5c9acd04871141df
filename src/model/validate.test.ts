import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentFromObject, parseDocuments } from './documents.js';
import { calico, manifestIssues, objectIssues } from './test-support.js';
import { formatIssue, validateDocument, validateReplace } from './validate.js';

describe('formatIssue', () => {
  it('prints file:line: path: message', () => {
    assert.equal(
      formatIssue({
        source: 'pools.yaml',
        line: 12,
        path: 'spec.cidr',
        message: '"10.0.0.0/33" is not a valid CIDR',
      }),
      'pools.yaml:12: spec.cidr: "10.0.0.0/33" is not a valid CIDR',
    );
    assert.equal(
      formatIssue({ source: 'a.yaml', line: 1, path: '', message: 'bad' }),
      'a.yaml:1: bad',
    );
  });
});

describe('validateDocument: the document', () => {
  it('names the line and path of a bad CIDR exactly', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 10.0.0.0/33
`;
    assert.deepEqual(manifestIssues(text, 'pools.yaml'), [
      'pools.yaml:6: spec.cidr: "10.0.0.0/33" is not a valid CIDR',
    ]);
  });

  it('returns the resource, null fields dropped, when there are no issues', () => {
    const [doc] = parseDocuments(
      'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: a, labels: null}\nspec: {cidr: 10.0.0.0/16, nodeSelector: null}\n',
      'a.yaml',
    );
    const result = validateDocument(doc!);
    assert.deepEqual(result.issues, []);
    assert.deepEqual(result.resource, calico('IPPool', 'a', { cidr: '10.0.0.0/16' }));
  });

  it('requires an object', () => {
    assert.deepEqual(manifestIssues('- a\n- b\n'), [
      'test.yaml:1: a resource must be an object with apiVersion, kind and metadata, not "a"',
      'test.yaml:2: a resource must be an object with apiVersion, kind and metadata, not "b"',
    ]);
  });

  it('requires apiVersion and kind', () => {
    assert.deepEqual(manifestIssues('metadata: {name: a}\n'), [
      'test.yaml:1: kind: is required',
      'test.yaml:1: apiVersion: is required',
    ]);
  });

  it('refuses an unknown kind, suggesting the right spelling', () => {
    assert.deepEqual(
      objectIssues({ apiVersion: 'projectcalico.org/v3', kind: 'IpPool', metadata: { name: 'a' } }),
      ['kind: unknown kind "IpPool" (did you mean "IPPool"?)'],
    );
    assert.deepEqual(
      objectIssues({ apiVersion: 'projectcalico.org/v3', kind: 'Pod', metadata: { name: 'a' } }),
      ['kind: unknown kind "Pod"'],
    );
  });

  it('refuses the wrong apiVersion for a kind', () => {
    assert.deepEqual(
      objectIssues({
        apiVersion: 'crd.projectcalico.org/v1',
        kind: 'IPPool',
        metadata: { name: 'a' },
      }),
      [
        'apiVersion: "crd.projectcalico.org/v1" is not an API version of IPPool: use projectcalico.org/v3',
      ],
    );
    assert.deepEqual(
      objectIssues({ apiVersion: 'v1', kind: 'NetworkPolicy', metadata: { name: 'a' } }),
      [
        'apiVersion: "v1" is not an API version of NetworkPolicy: use projectcalico.org/v3 or networking.k8s.io/v1',
      ],
    );
  });
});

describe('validateDocument: unknown fields and types', () => {
  it('refuses an unknown field at any depth, with its line', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: allow-web
spec:
  ingress:
    - action: Allow
      protocol: TCP
      destination:
        ports: [80]
        portz: [443]
  bogus: 1
`;
    assert.deepEqual(manifestIssues(text, 'gnp.yaml'), [
      'gnp.yaml:11: spec.ingress[0].destination.portz: unknown field (did you mean "ports"?)',
      'gnp.yaml:12: spec.bogus: unknown field',
    ]);
  });

  it('refuses unknown top-level and metadata fields', () => {
    assert.deepEqual(
      objectIssues({
        ...calico('IPPool', 'a', { cidr: '10.0.0.0/8' }),
        spce: {},
        metadata: { name: 'a', nmae: 'b' },
      }),
      [
        'metadata.nmae: unknown field (did you mean "name"?)',
        'spce: unknown field (did you mean "spec"?)',
      ],
    );
  });

  it('checks the type of every field', () => {
    assert.deepEqual(
      objectIssues(
        calico('IPPool', 'a', {
          cidr: 10,
          natOutgoing: 'yes',
          blockSize: 26.5,
          allowedUses: 'Workload',
        }),
      ),
      [
        'spec.cidr: must be a string, not the number 10',
        'spec.natOutgoing: must be true or false, not the string "yes"',
        'spec.blockSize: must be an integer, not the number 26.5',
        'spec.allowedUses: must be a list, not the string "Workload"',
      ],
    );
  });

  it('accepts Kubernetes bookkeeping metadata from kubectl output', () => {
    const pool = calico('IPPool', 'a', { cidr: '10.0.0.0/8' });
    const exported = {
      ...pool,
      metadata: {
        ...pool.metadata,
        resourceVersion: '12',
        uid: 'c0ffee',
        creationTimestamp: '2024-01-01T00:00:00Z',
        generation: 3,
        managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
      },
    };
    assert.deepEqual(objectIssues(exported), []);
  });
});

describe('validateDocument: metadata', () => {
  it('requires a name', () => {
    assert.deepEqual(
      objectIssues({
        apiVersion: 'projectcalico.org/v3',
        kind: 'IPPool',
        metadata: {},
        spec: { cidr: '10.0.0.0/8' },
      }),
      ['metadata.name: is required'],
    );
    assert.deepEqual(objectIssues(calico('IPPool', '', { cidr: '10.0.0.0/8' })), [
      'metadata.name: is required',
    ]);
  });

  it('requires a DNS-subdomain name', () => {
    assert.deepEqual(objectIssues(calico('IPPool', 'Pool_A', { cidr: '10.0.0.0/8' })), [
      `metadata.name: "Pool_A" is not a valid name: use lower case letters, digits, '-' and '.', starting and ending with a letter or digit`,
    ]);
    assert.deepEqual(objectIssues(calico('IPPool', 'my.ippool-1', { cidr: '10.0.0.0/8' })), []);
    assert.match(
      objectIssues(calico('IPPool', 'a'.repeat(254), { cidr: '10.0.0.0/8' }))[0]!,
      /too long/,
    );
  });

  it('refuses a namespace on a cluster-wide kind', () => {
    assert.deepEqual(objectIssues(calico('IPPool', 'a', { cidr: '10.0.0.0/8' }, 'default')), [
      'metadata.namespace: must not be set: IPPool is not namespaced',
    ]);
  });

  it('allows a namespaced kind without a namespace (it goes to "default"), and checks the name of one', () => {
    assert.deepEqual(objectIssues(calico('NetworkSet', 'ns', { nets: ['10.0.0.0/8'] })), []);
    assert.deepEqual(objectIssues(calico('NetworkSet', 'ns', {}, 'Prod')), [
      `metadata.namespace: "Prod" is not a valid name: use lower case letters, digits and '-', starting and ending with a letter or digit`,
    ]);
  });

  it('checks label keys and values, and annotation keys', () => {
    const pool = calico('IPPool', 'a', { cidr: '10.0.0.0/8' });
    pool.metadata.labels = { 'app.kubernetes.io/name': 'web', 'bad key': 'x', zone: 'not valid!' };
    pool.metadata.annotations = { 'example.com/ok': 'anything at all', '-bad': '' };
    assert.deepEqual(objectIssues(pool), [
      `metadata.labels["bad key"]: "bad key" is not a valid key: the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
      `metadata.labels.zone: "not valid!" is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
      `metadata.annotations["-bad"]: "-bad" is not a valid key: the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
    ]);
  });

  it('limits the total size of annotations', () => {
    const pool = calico('IPPool', 'a', { cidr: '10.0.0.0/8' });
    pool.metadata.annotations = { big: 'x'.repeat(256 * 1024) };
    assert.deepEqual(objectIssues(pool), [
      'metadata.annotations: total size 262147 bytes is over the 262144-byte limit',
    ]);
  });

  it('gives the singleton kinds their one name', () => {
    assert.deepEqual(objectIssues(calico('IPAMConfiguration', 'ipam', {})), [
      'metadata.name: "ipam": IPAMConfiguration is a singleton named "default"',
    ]);
    assert.deepEqual(
      objectIssues(calico('ClusterInformation', 'default', { clusterGUID: 'x' })),
      [],
    );
  });
});

describe('validateDocument without a file', () => {
  it('reports line 0 for objects from documentFromObject', () => {
    const result = validateDocument(documentFromObject(calico('IPPool', 'a', {}), 'store'));
    assert.deepEqual(result.issues, [
      { source: 'store', line: 0, path: 'spec.cidr', message: 'is required' },
    ]);
  });
});

describe('validateReplace', () => {
  it('refuses a change of identity', () => {
    const before = calico('NetworkSet', 'a', {}, 'prod');
    assert.deepEqual(
      validateReplace(before, calico('NetworkSet', 'b', {}, 'dev')).map(
        (i) => `${i.path}: ${i.message}`,
      ),
      [
        'metadata.name: cannot be changed from "a"',
        'metadata.namespace: cannot be changed from "prod"',
      ],
    );
    assert.deepEqual(
      validateReplace(calico('NetworkSet', 'a', {}), calico('NetworkSet', 'a', {}, 'default')),
      [],
    );
    assert.deepEqual(
      validateReplace(before, calico('GlobalNetworkSet', 'a', {})).map((i) => i.path),
      ['kind'],
    );
  });
});
