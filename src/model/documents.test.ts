import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentFromObject, ModelError, parseDocuments } from './documents.js';

const MULTI = `# two pools
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: a
spec:
  cidr: 10.0.0.0/16
---
---
# nothing but a comment
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: b
spec:
  cidr: 10.1.0.0/16
  allowedUses:
    - Workload
    - Tunnel
`;

describe('parseDocuments: YAML', () => {
  it('splits on --- and skips empty documents', () => {
    const docs = parseDocuments(MULTI, 'pools.yaml');
    assert.equal(docs.length, 2);
    assert.deepEqual(
      docs.map((d) => [
        d.source,
        d.line,
        (d.object as { metadata: { name: string } }).metadata.name,
      ]),
      [
        ['pools.yaml', 3, 'a'],
        ['pools.yaml', 13, 'b'],
      ],
    );
  });

  it('gives the line of a field, of a list item, and of the nearest ancestor for a missing one', () => {
    const [, b] = parseDocuments(MULTI, 'pools.yaml');
    assert.ok(b);
    assert.equal(b.lineOf(['spec', 'cidr']), 18);
    assert.equal(b.lineOf(['spec', 'allowedUses', 1]), 21);
    assert.equal(b.lineOf(['spec', 'blockSize']), 17);
    assert.equal(b.lineOf([]), 13);
  });

  it('points at the key of a field whose value is null', () => {
    const [doc] = parseDocuments('kind: IPPool\nspec:\n  cidr:\n  blockSize: 26\n', 'x.yaml');
    assert.equal(doc?.lineOf(['spec', 'cidr']), 3);
  });

  it('reports a syntax error as ModelError with file and line', () => {
    const text = 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: a: b\n';
    assert.throws(
      () => parseDocuments(text, 'bad.yaml'),
      (err: unknown) => {
        assert.ok(err instanceof ModelError);
        assert.equal(err.line, 4);
        assert.match(err.message, /^bad\.yaml:4: /);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
  });

  it('refuses duplicate keys', () => {
    assert.throws(
      () => parseDocuments('a: 1\nb: 2\na: 3\n', 'dup.yaml'),
      /^ModelError: dup\.yaml:3: Map keys must be unique/,
    );
  });

  it('expands a kind: XxxList, with each item its own line', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: IPPoolList
items:
  - apiVersion: projectcalico.org/v3
    kind: IPPool
    metadata: {name: a}
    spec: {cidr: 10.0.0.0/16}
  - apiVersion: projectcalico.org/v3
    kind: IPPool
    metadata: {name: b}
    spec:
      cidr: 10.1.0.0/16
`;
    const docs = parseDocuments(text, 'list.yaml');
    assert.deepEqual(
      docs.map((d) => d.line),
      [4, 8],
    );
    assert.equal(docs[1]?.lineOf(['spec', 'cidr']), 12);
  });

  it('treats an empty manifest as no documents', () => {
    assert.deepEqual(parseDocuments('', 'empty.yaml'), []);
    assert.deepEqual(parseDocuments('# just a comment\n---\n', 'empty.yaml'), []);
  });
});

describe('parseDocuments: JSON', () => {
  it('reads a single object with line numbers', () => {
    const text =
      '{\n  "apiVersion": "projectcalico.org/v3",\n  "kind": "IPPool",\n  "metadata": {"name": "a"},\n  "spec": {\n    "cidr": "10.0.0.0/8"\n  }\n}\n';
    const [doc] = parseDocuments(text, 'pool.json');
    assert.deepEqual(doc?.object, {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'a' },
      spec: { cidr: '10.0.0.0/8' },
    });
    assert.equal(doc?.line, 1);
    assert.equal(doc?.lineOf(['spec', 'cidr']), 6);
  });

  it('reads an array of objects, one document each', () => {
    const text =
      '[\n  {"kind": "IPPool", "metadata": {"name": "a"}},\n  {"kind": "IPPool",\n   "metadata": {"name": "b"}}\n]';
    const docs = parseDocuments(text, 'pools.json');
    assert.deepEqual(
      docs.map((d) => [d.line, d.lineOf(['metadata', 'name'])]),
      [
        [2, 2],
        [3, 4],
      ],
    );
  });

  it('expands a JSON List', () => {
    const text = JSON.stringify({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicyList',
      items: [{ kind: 'GlobalNetworkPolicy', metadata: { name: 'x' } }],
    });
    const docs = parseDocuments(text, 'gnps.json');
    assert.equal(docs.length, 1);
    assert.deepEqual(docs[0]?.object, { kind: 'GlobalNetworkPolicy', metadata: { name: 'x' } });
  });

  it('reports malformed JSON with its line', () => {
    assert.throws(
      () => parseDocuments('{\n  "a": 1,\n  "b": \n', 'bad.json'),
      /^ModelError: bad\.json:\d+: /,
    );
  });
});

describe('documentFromObject', () => {
  it('wraps an object with a fixed line', () => {
    const doc = documentFromObject({ kind: 'IPPool' }, 'datastore', 0);
    assert.equal(doc.lineOf(['spec', 'cidr']), 0);
    assert.equal(doc.source, 'datastore');
  });
});
