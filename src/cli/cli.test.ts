import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { SqliteDatastore } from '../datastore/sqlite.js';
import type { Datastore } from '../datastore/types.js';
import { runCli } from './test-support/run-cli.js';

const POOL = (name: string, cidr: string, extra = '') => `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: ${name}
spec:
  cidr: ${cidr}
${extra}`;

describe('tortie CLI (resource verbs)', () => {
  let dir: string;
  let datastore: Datastore;
  let n = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    await datastore?.close();
    datastore = SqliteDatastore.open(join(dir, `store-${++n}.db`));
  });

  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  const tortie = (...argv: string[]) => runCli(argv, async () => datastore);

  it('applies a pool and reads it back with Calico defaults filled in', async () => {
    const applied = await tortie('apply', '-f', file('pool.yaml', POOL('p1', '10.10.0.0/16')));
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /IPPool\(p1\) created/);

    const got = await tortie('get', 'ippool', 'p1', '-o', 'yaml');
    assert.equal(got.code, 0, got.stderr);
    const pool = parseYaml(got.stdout);
    assert.equal(pool.kind, 'IPPool');
    assert.equal(pool.spec.cidr, '10.10.0.0/16');
    assert.equal(pool.spec.blockSize, 26);
    assert.equal(pool.spec.ipipMode, 'Never');
    assert.equal(pool.spec.vxlanMode, 'Never');
    assert.equal(pool.spec.nodeSelector, 'all()');
    assert.ok(pool.metadata.resourceVersion);
    assert.ok(pool.metadata.uid);

    const again = await tortie('apply', '-f', join(dir, 'pool.yaml'));
    assert.match(again.stdout, /IPPool\(p1\) unchanged/);
  });

  it('prints lists as <Kind>List and tables calicoctl style, kinds by any alias', async () => {
    await tortie(
      'apply',
      '-f',
      file(
        'pools.yaml',
        `${POOL('a', '10.1.0.0/16')}---\n${POOL('b', '10.2.0.0/16', '  natOutgoing: true')}`,
      ),
    );
    const json = await tortie('get', 'pools', '-o', 'json');
    const list = JSON.parse(json.stdout);
    assert.equal(list.apiVersion, 'projectcalico.org/v3');
    assert.equal(list.kind, 'IPPoolList');
    assert.deepEqual(
      list.items.map((p: { metadata: { name: string } }) => p.metadata.name),
      ['a', 'b'],
    );

    const table = await tortie('get', 'ippools');
    assert.match(table.stdout, /^NAME\s+CIDR\s+SELECTOR\n/);
    assert.match(table.stdout, /\na\s+10\.1\.0\.0\/16\s+all\(\)\n/);
    const wide = await tortie('get', 'IPPool', '-o', 'wide');
    assert.match(wide.stdout, /NAT\s+IPIPMODE\s+VXLANMODE/);
    assert.match(wide.stdout, /\nb\s+10\.2\.0\.0\/16\s+true\s+Never\s+Never/);
  });

  it('refuses a whole apply when one document is invalid, naming file, line and field', async () => {
    const path = file(
      'bad.yaml',
      `${POOL('good', '10.3.0.0/16')}---\n${POOL('bad', '10.0.0.0/33')}`,
    );
    const out = await tortie('apply', '-f', path);
    assert.notEqual(out.code, 0);
    assert.match(
      out.stderr,
      new RegExp(
        `${path.replace(/[.]/g, '\\.')}:13: spec\\.cidr: .*10\\.0\\.0\\.0/33.*not a valid CIDR`,
      ),
    );
    assert.match(out.stderr, /nothing was changed/);
    const list = await tortie('get', 'ippools', '-o', 'json');
    assert.deepEqual(JSON.parse(list.stdout).items, []);
  });

  it('refuses unknown fields and unknown kinds', async () => {
    const unknownField = await tortie(
      'apply',
      '-f',
      file('typo.yaml', POOL('t', '10.4.0.0/16', '  blocksize: 24')),
    );
    assert.notEqual(unknownField.code, 0);
    assert.match(unknownField.stderr, /typo\.yaml:7: spec\.blocksize/);
    const unknownKind = await tortie('get', 'nosuchkind');
    assert.notEqual(unknownKind.code, 0);
    assert.match(unknownKind.stderr, /unknown resource kind "nosuchkind"/);
  });

  it('refuses an enabled pool that overlaps a stored one, and immutable-field changes', async () => {
    assert.equal((await tortie('apply', '-f', file('p.yaml', POOL('p', '10.5.0.0/16')))).code, 0);
    const overlap = await tortie('apply', '-f', file('o.yaml', POOL('o', '10.5.128.0/17')));
    assert.notEqual(overlap.code, 0);
    assert.match(overlap.stderr, /overlap/i);
    const disabled = await tortie(
      'apply',
      '-f',
      file('d.yaml', POOL('d', '10.5.128.0/17', '  disabled: true')),
    );
    assert.equal(disabled.code, 0, disabled.stderr);

    const changedCidr = await tortie('replace', '-f', file('p2.yaml', POOL('p', '10.6.0.0/16')));
    assert.notEqual(changedCidr.code, 0);
    assert.match(changedCidr.stderr, /spec\.cidr/);
    const stored = JSON.parse((await tortie('get', 'ippool', 'p', '-o', 'json')).stdout);
    assert.equal(stored.spec.cidr, '10.5.0.0/16');
  });

  it('create fails on an existing resource unless --skip-exists; replace needs one', async () => {
    const path = file('c.yaml', POOL('c', '10.7.0.0/16'));
    assert.equal((await tortie('create', '-f', path)).code, 0);
    const again = await tortie('create', '-f', path);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already exists/);
    const skipped = await tortie('create', '-f', path, '--skip-exists');
    assert.equal(skipped.code, 0);
    assert.match(skipped.stdout, /skipped/);
    const missing = await tortie('replace', '-f', file('m.yaml', POOL('missing', '10.8.0.0/16')));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /does not exist/);
  });

  it('deletes by file or by name, refusing missing ones unless --skip-not-exists', async () => {
    const path = file('del.yaml', `${POOL('x', '10.9.0.0/16')}---\n${POOL('y', '10.11.0.0/16')}`);
    await tortie('apply', '-f', path);
    assert.equal((await tortie('delete', 'ippool', 'x')).code, 0);
    const partly = await tortie('delete', '-f', path);
    assert.notEqual(partly.code, 0);
    assert.match(partly.stderr, /IPPool\(x\)/);
    assert.equal(JSON.parse((await tortie('get', 'ippools', '-o', 'json')).stdout).items.length, 1);
    const skipping = await tortie('delete', '-f', path, '--skip-not-exists');
    assert.equal(skipping.code, 0, skipping.stderr);
    assert.equal(JSON.parse((await tortie('get', 'ippools', '-o', 'json')).stdout).items.length, 0);
  });

  it('labels, selects by label, and patches', async () => {
    await tortie(
      'apply',
      '-f',
      file('l.yaml', `${POOL('l1', '10.12.0.0/16')}---\n${POOL('l2', '10.13.0.0/16')}`),
    );
    assert.equal((await tortie('label', 'ippool', 'l1', 'tier=gold')).code, 0);
    const clash = await tortie('label', 'ippool', 'l1', 'tier=silver');
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /--overwrite/);
    assert.equal((await tortie('label', 'ippool', 'l1', 'tier=silver', '--overwrite')).code, 0);
    const selected = await tortie('get', 'ippools', '-l', 'tier == "silver"', '-o', 'json');
    assert.deepEqual(
      JSON.parse(selected.stdout).items.map((p: { metadata: { name: string } }) => p.metadata.name),
      ['l1'],
    );
    const absent = await tortie('get', 'ippools', '-l', 'tier != "silver"', '-o', 'json');
    assert.deepEqual(
      JSON.parse(absent.stdout).items.map((p: { metadata: { name: string } }) => p.metadata.name),
      ['l2'],
    );
    assert.equal((await tortie('label', 'ippool', 'l1', 'tier', '--remove')).code, 0);
    assert.equal(
      JSON.parse((await tortie('get', 'ippool', 'l1', '-o', 'json')).stdout).metadata.labels?.tier,
      undefined,
    );

    const badSelector = await tortie('get', 'ippools', '-l', 'tier == ');
    assert.notEqual(badSelector.code, 0);
    assert.match(badSelector.stderr, /column/);

    assert.equal(
      (await tortie('patch', 'ippool', 'l2', '-p', '{"spec":{"natOutgoing":true}}')).code,
      0,
    );
    assert.equal(
      JSON.parse((await tortie('get', 'ippool', 'l2', '-o', 'json')).stdout).spec.natOutgoing,
      true,
    );
    const badPatch = await tortie(
      'patch',
      'ippool',
      'l2',
      '-p',
      '{"spec":{"cidr":"10.99.0.0/16"}}',
    );
    assert.notEqual(badPatch.code, 0);
    assert.match(badPatch.stderr, /spec\.cidr/);
  });

  it('keeps namespaced resources in their namespace: -n, -A and the default namespace', async () => {
    const policy = (ns: string | undefined, name: string) => `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: ${name}
${ns ? `  namespace: ${ns}\n` : ''}spec:
  selector: app == "web"
  ingress:
    - action: Allow
      protocol: TCP
      destination:
        ports: [80]
`;
    const out = await tortie(
      'apply',
      '-f',
      file('np.yaml', `${policy(undefined, 'allow-web')}---\n${policy('prod', 'allow-web')}`),
    );
    assert.equal(out.code, 0, out.stderr);
    const inDefault = JSON.parse((await tortie('get', 'networkpolicy', '-o', 'json')).stdout);
    assert.deepEqual(
      inDefault.items.map((p: { metadata: { namespace: string } }) => p.metadata.namespace),
      ['default'],
    );
    const inProd = JSON.parse((await tortie('get', 'np', '-n', 'prod', '-o', 'json')).stdout);
    assert.equal(inProd.items.length, 1);
    const all = await tortie('get', 'networkpolicies', '-A');
    assert.match(all.stdout, /^NAMESPACE\s+NAME/);
    assert.match(all.stdout, /prod\s+/);
  });

  it("keeps Kubernetes NetworkPolicy apart from Calico's", async () => {
    const knp = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny-all
  namespace: prod
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;
    const out = await tortie('apply', '-f', file('knp.yaml', knp));
    assert.equal(out.code, 0, out.stderr);
    assert.ok(
      await datastore.get('/calico/resources/v3/networking.k8s.io/networkpolicies/prod/deny-all'),
    );
    const calico = JSON.parse(
      (await tortie('get', 'networkpolicies', '-n', 'prod', '-o', 'json')).stdout,
    );
    assert.deepEqual(calico.items, []);
    const k8s = JSON.parse((await tortie('get', 'knp', '-n', 'prod', '-o', 'json')).stdout);
    assert.equal(k8s.items[0].apiVersion, 'networking.k8s.io/v1');
    assert.equal((await tortie('delete', '-f', join(dir, 'knp.yaml'))).code, 0);
    assert.equal(
      await datastore.get('/calico/resources/v3/networking.k8s.io/networkpolicies/prod/deny-all'),
      undefined,
    );
  });

  it('validate checks without a datastore; version prints', async () => {
    const ok = await tortie('validate', '-f', file('v.yaml', POOL('v', '10.14.0.0/16')));
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /IPPool\(v\) is valid/);
    const bad = await tortie(
      'validate',
      '-f',
      file('vb.yaml', POOL('v', '10.14.0.0/16', '  blockSize: 19')),
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /vb\.yaml:7: spec\.blockSize/);
    const version = await tortie('version');
    assert.match(version.stdout, /Client Version:\s+v\d+\.\d+\.\d+/);
  });
});
