import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Resource } from '../model/resource.js';
import { ResourceStore } from './resources.js';
import { SqliteDatastore } from './sqlite.js';
import { ConflictError, type Datastore } from './types.js';

const pool = (cidr: string): Resource => ({
  apiVersion: 'projectcalico.org/v3',
  kind: 'IPPool',
  metadata: { name: 'p' },
  spec: { cidr },
});

describe('ResourceStore', () => {
  let dir: string;
  let datastore: Datastore;
  let store: ResourceStore;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-resources-'));
    datastore = SqliteDatastore.open(join(dir, 'store.db'));
    store = new ResourceStore(datastore);
  });
  after(async () => {
    await datastore.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores at Calico's key, without resourceVersion in the value, and keeps uid across updates", async () => {
    const created = await store.create(pool('10.1.0.0/16'));
    const kv = await datastore.get('/calico/resources/v3/projectcalico.org/ippools/p');
    assert.ok(kv);
    assert.equal(JSON.parse(kv.value).metadata.resourceVersion, undefined);
    assert.equal(created.metadata.resourceVersion, String(kv.modRevision));
    const { resource: updated, created: wasCreated } = await store.apply(pool('10.2.0.0/16'));
    assert.equal(wasCreated, false);
    assert.equal(updated.metadata.uid, created.metadata.uid);
    assert.equal(updated.metadata.creationTimestamp, created.metadata.creationTimestamp);
  });

  it('update with a stale resourceVersion is a conflict and changes nothing', async () => {
    const current = (await store.get('IPPool', 'p'))!;
    await store.update({
      ...current,
      metadata: { ...current.metadata },
      spec: { cidr: '10.3.0.0/16' },
    });
    await assert.rejects(
      store.update({ ...current, spec: { cidr: '10.4.0.0/16' } }),
      ConflictError,
    );
    assert.deepEqual((await store.get('IPPool', 'p'))!.spec, { cidr: '10.3.0.0/16' });
  });

  it("applies a Kubernetes NetworkPolicy twice at its own key, apart from Calico's", async () => {
    const knp: Resource = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny', namespace: 'prod' },
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    };
    assert.equal((await store.apply(knp)).created, true);
    assert.equal((await store.apply(knp)).created, false);
    assert.ok(
      await datastore.get('/calico/resources/v3/networking.k8s.io/networkpolicies/prod/deny'),
    );
    assert.deepEqual(await store.list('networkpolicies', 'prod'), []);
  });
});
