// The real `bin/tortie` executable (built into dist/ by the test runner):
// exit statuses, stdin input, stderr text, and both datastore backends.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openDatastore } from '../datastore/open.js';
import {
  etcdSkipReason,
  startEtcd,
  type EtcdServer,
} from '../datastore/test-support/etcd-server.js';

const BIN = fileURLToPath(new URL('../../bin/tortie', import.meta.url));

const POOL = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pool-a
spec:
  cidr: 10.20.0.0/16
`;

function tortie(datastore: string, args: string[], input?: string) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    input,
    encoding: 'utf8',
    env: { ...process.env, TORTIE_DATASTORE: datastore },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('bin/tortie as a process', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-cli-proc-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads manifests from stdin, exits 0 on success and 1 on bad input', () => {
    const url = `sqlite:${join(dir, 'a.db')}`;
    const ok = tortie(url, ['apply', '-f', '-'], POOL);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /IPPool\(pool-a\) created/);

    const bad = tortie(
      url,
      ['apply', '-f', '-'],
      POOL.replace('10.20.0.0/16', '10.20.0.0/40').replace('pool-a', 'pool-b'),
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^<stdin>:6: spec\.cidr: "10\.20\.0\.0\/40" is not a valid CIDR$/m);
    assert.equal(bad.stdout, '');

    const syntax = tortie(url, ['apply', '-f', '-'], 'kind: IPPool\n  bad: [indent\n');
    assert.equal(syntax.code, 1);
    assert.match(syntax.stderr, /^<stdin>:\d+: /);
    assert.doesNotMatch(syntax.stderr, /\n\s+at /, 'no stack trace');

    const list = tortie(url, ['get', 'ippools', '-o', 'yaml']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /kind: IPPoolList/);
    assert.match(list.stdout, /name: pool-a/);
    assert.doesNotMatch(list.stdout, /pool-b/);
  });

  it('exits non-zero with usage text for an unknown command or a missing file', () => {
    const url = `sqlite:${join(dir, 'b.db')}`;
    const unknown = tortie(url, ['frobnicate']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /unknown command/);
    const missing = tortie(url, ['apply', '-f', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.yaml: no such file or directory/);
    const badUrl = tortie('mysql://x', ['get', 'pools']);
    assert.equal(badUrl.code, 1);
    assert.match(badUrl.stderr, /mysql:\/\/x/);
  });

  describe('on etcd', { skip: etcdSkipReason() }, () => {
    let etcd: EtcdServer;
    before(async () => {
      etcd = await startEtcd();
    });
    after(async () => etcd?.stop());

    it("stores resources at Calico's etcdv3 keys", async () => {
      const ok = tortie(etcd.url, ['apply', '-f', '-'], POOL);
      assert.equal(ok.code, 0, ok.stderr);
      const got = tortie(etcd.url, ['get', 'ippool', 'pool-a', '-o', 'json']);
      assert.equal(JSON.parse(got.stdout).spec.blockSize, 26);

      const datastore = await openDatastore(etcd.url);
      try {
        const kv = await datastore.get('/calico/resources/v3/projectcalico.org/ippools/pool-a');
        assert.ok(kv, 'the pool is at its Calico key');
        const stored = JSON.parse(kv.value);
        assert.equal(stored.kind, 'IPPool');
        assert.equal(stored.spec.cidr, '10.20.0.0/16');
        assert.equal(
          stored.metadata.resourceVersion,
          undefined,
          'the revision is not stored in the value',
        );
      } finally {
        await datastore.close();
      }
    });
  });
});
