import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runConformanceSuite } from './conformance.js';
import { SqliteDatastore } from './sqlite.js';
import type { WatchEvent } from './types.js';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tortie-sqlite-'));
  tempDirs.push(dir);
  return dir;
}

runConformanceSuite('sqlite', async () => {
  // A nested path checks that the parent directory is created.
  const path = join(tempDir(), 'nested', 'tortie.db');
  const clients = new Set<SqliteDatastore>();
  const closeAll = async () => {
    for (const client of clients) await client.close();
    clients.clear();
  };
  return {
    url: `sqlite:${path}`,
    clientsSurviveRestart: false,
    async open() {
      const client = SqliteDatastore.open(path);
      clients.add(client);
      return client;
    },
    restart: closeAll,
    async compact(revision) {
      const client = SqliteDatastore.open(path);
      await client.compact(revision);
      await client.close();
    },
    dispose: closeAll,
  };
});

describe('SqliteDatastore specifics', () => {
  it('keeps the change log bounded and relists watches that fell behind', async () => {
    const ds = SqliteDatastore.open(join(tempDir(), 'small.db'), { retention: 20 });
    try {
      const start = await ds.revision();
      let kv = await ds.create('/k', '0');
      for (let i = 1; i <= 100; i++) kv = await ds.update('/k', String(i), kv.modRevision);

      const relisted = await new Promise<string>((resolve, reject) => {
        const watch = ds.watch('/', start, {
          onEvents: () => reject(new Error('a compacted watch must not get partial history')),
          onRelist: (reason) => void watch.close().then(() => resolve(reason)),
        });
      });
      assert.match(relisted, /compacted/);

      // A watch inside the retained window still replays it.
      const events = await new Promise<WatchEvent[]>((resolve) => {
        const watch = ds.watch('/', kv.modRevision - 10, {
          onEvents: (evs) => void watch.close().then(() => resolve(evs)),
          onRelist: () => resolve([]),
        });
      });
      assert.equal(events.length, 10);
    } finally {
      await ds.close();
    }
  });

  it('reports the file it opened as its url', async () => {
    const path = join(tempDir(), 'url.db');
    const ds = SqliteDatastore.open(path);
    assert.equal(ds.url, `sqlite:${path}`);
    await ds.close();
  });
});
