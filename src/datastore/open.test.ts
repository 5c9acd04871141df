import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_DATASTORE_URL, openDatastore, parseDatastoreUrl } from './open.js';

describe('parseDatastoreUrl', () => {
  it('accepts sqlite paths, relative or absolute', () => {
    assert.deepEqual(parseDatastoreUrl('sqlite:/var/lib/x.db'), {
      kind: 'sqlite',
      path: '/var/lib/x.db',
    });
    assert.deepEqual(parseDatastoreUrl('sqlite:data/x.db'), { kind: 'sqlite', path: 'data/x.db' });
    assert.equal(DEFAULT_DATASTORE_URL, 'sqlite:/var/lib/tortie/tortie.db');
  });

  it('accepts etcd endpoint lists, defaulting the port', () => {
    assert.deepEqual(parseDatastoreUrl('etcd://10.0.0.1:2379,etcd-b,[::1]:2380'), {
      kind: 'etcd',
      endpoints: ['http://10.0.0.1:2379', 'http://etcd-b:2379', 'http://[::1]:2380'],
    });
  });

  it('takes TLS files from the query, falling back to the environment', () => {
    const env = {
      TORTIE_ETCD_CA: '/env/ca.pem',
      TORTIE_ETCD_CERT: '/env/c.pem',
      TORTIE_ETCD_KEY: '/env/k.pem',
    };
    assert.deepEqual(parseDatastoreUrl('etcds://h:2379?ca=/q/ca.pem', env), {
      kind: 'etcd',
      endpoints: ['https://h:2379'],
      tls: { caFile: '/q/ca.pem', certFile: '/env/c.pem', keyFile: '/env/k.pem' },
    });
    assert.deepEqual(parseDatastoreUrl('etcds://h:2379', {}), {
      kind: 'etcd',
      endpoints: ['https://h:2379'],
      tls: {},
    });
  });

  it('rejects bad URLs naming the URL and the accepted forms', () => {
    for (const url of [
      'mysql://x',
      'sqlite:',
      'etcd://',
      'etcd://h:99999',
      'etcd://h:2379?ca=x',
      'etcds://h?bogus=1',
      'etcds://h?cert=c',
    ]) {
      assert.throws(
        () => parseDatastoreUrl(url, {}),
        (err: Error) => err.message.includes(`"${url}"`) && err.message.includes('sqlite:PATH'),
        url,
      );
    }
  });
});

describe('openDatastore', () => {
  it('opens the URL given, else TORTIE_DATASTORE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tortie-open-'));
    const saved = process.env['TORTIE_DATASTORE'];
    try {
      const direct = await openDatastore(`sqlite:${join(dir, 'a.db')}`);
      assert.equal(direct.url, `sqlite:${join(dir, 'a.db')}`);
      await direct.close();
      process.env['TORTIE_DATASTORE'] = `sqlite:${join(dir, 'b.db')}`;
      const fromEnv = await openDatastore();
      assert.equal(fromEnv.url, `sqlite:${join(dir, 'b.db')}`);
      await fromEnv.close();
    } finally {
      if (saved === undefined) delete process.env['TORTIE_DATASTORE'];
      else process.env['TORTIE_DATASTORE'] = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
