import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runConformanceSuite } from './conformance.js';
import { EtcdDatastore } from './etcd.js';
import { etcdSkipReason, startEtcd } from './test-support/etcd-server.js';
import { UnavailableError } from './types.js';

const skip = etcdSkipReason();

describe('etcd backend', { skip }, () => {
  runConformanceSuite('etcd', async () => {
    const server = await startEtcd();
    const clients = new Set<EtcdDatastore>();
    const open = () => {
      const client = EtcdDatastore.open([server.endpoint]);
      clients.add(client);
      return client;
    };
    return {
      url: server.url,
      clientsSurviveRestart: true,
      async open() {
        return open();
      },
      restart: () => server.restart(),
      async compact(revision) {
        const client = open();
        await client.compact(revision);
      },
      async dispose() {
        for (const client of clients) await client.close();
        await server.stop();
      },
    };
  });
});

describe('EtcdDatastore specifics', { skip }, () => {
  it('reports an unreachable cluster as UnavailableError', { timeout: 30_000 }, async () => {
    // Port 1 on loopback: nothing listens there, so connections are refused.
    const ds = EtcdDatastore.open(['127.0.0.1:1']);
    try {
      await assert.rejects(ds.get('/any'), UnavailableError);
    } finally {
      await ds.close();
    }
  });
});
