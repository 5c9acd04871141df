import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { raceWorkers } from './test-support/worker-protocol.js';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  UnavailableError,
  type Datastore,
  type KeyValue,
  type WatchEvent,
  type WatchListener,
} from './types.js';

/**
 * The behaviour every Datastore backend must share, as a node:test suite. A
 * backend test file calls `runConformanceSuite(name, factory)`; the factory
 * brings up a store (a temp SQLite file, a fresh etcd server) once for the
 * whole suite. Each case works under its own random key prefix.
 */

export interface ConformanceBackend {
  /** A URL `openDatastore` accepts, handed to child processes. */
  readonly url: string;
  /** A new client on the same store. The backend closes all of them on dispose. */
  open(): Promise<Datastore>;
  /**
   * Restarts the backend. etcd: kill the server and start it again on the same
   * data dir; open clients must reconnect. SQLite (no server): close every
   * handle opened through `open()`, so the next `open()` starts from the file.
   */
  restart(): Promise<void>;
  /** Whether clients and their watches stay usable across `restart()`. */
  readonly clientsSurviveRestart: boolean;
  /** Discards watch history up to `revision`. */
  compact(revision: number): Promise<void>;
  /** Closes every client and stops whatever the factory started. */
  dispose(): Promise<void>;
}

export type ConformanceFactory = () => Promise<ConformanceBackend>;

const casWorker = fileURLToPath(new URL('./test-support/cas-worker.ts', import.meta.url));

export function runConformanceSuite(name: string, factory: ConformanceFactory): void {
  describe(`Datastore conformance: ${name}`, () => {
    let backend: ConformanceBackend;
    let ds: Datastore;
    let prefix: string;

    before(async () => {
      backend = await factory();
      ds = await backend.open();
    });
    after(async () => {
      await backend?.dispose();
    });
    /** A fresh key namespace per case, so cases never see each other's keys. */
    const fresh = () => (prefix = `/conformance/${randomUUID().slice(0, 8)}/`);
    const k = (name: string) => prefix + name;

    it('get returns undefined for a missing key and the pair after create', async () => {
      fresh();
      assert.equal(await ds.get(k('a')), undefined);
      const created = await ds.create(k('a'), '{"v":1}');
      assert.equal(created.key, k('a'));
      assert.equal(created.value, '{"v":1}');
      assert.equal(created.createRevision, created.modRevision);
      assert.deepEqual(await ds.get(k('a')), created);
    });

    it('list by prefix returns exactly the keys under it, in key order', async () => {
      fresh();
      for (const key of ['a/b', 'a/bc', 'a/b/y', 'a/b/x', 'a/b/x/deep', 'a/a/z', 'a/b0']) {
        await ds.create(k(key), JSON.stringify(key));
      }
      const listed = await ds.list(k('a/b/'));
      assert.deepEqual(
        listed.items.map((kv) => kv.key),
        [k('a/b/x'), k('a/b/x/deep'), k('a/b/y')],
      );
      const last = Math.max(...listed.items.map((kv) => kv.modRevision));
      assert.ok(listed.revision >= last, 'list revision covers its items');
      assert.equal(
        (await ds.list(k('a/b'))).items.length,
        6,
        'without the slash, a/bc and a/b0 match',
      );
      assert.deepEqual((await ds.list(k('none/'))).items, []);
    });

    it('create fails with AlreadyExistsError carrying the current value', async () => {
      fresh();
      const first = await ds.create(k('a'), 'one');
      const err = await rejection(ds.create(k('a'), 'two'), AlreadyExistsError);
      assert.deepEqual(err.current, first);
      assert.equal((await ds.get(k('a')))?.value, 'one');
    });

    it('update is a compare-and-swap on modRevision', async () => {
      fresh();
      const created = await ds.create(k('a'), 'one');
      const updated = await ds.update(k('a'), 'two', created.modRevision);
      assert.equal(updated.value, 'two');
      assert.equal(updated.createRevision, created.createRevision);
      assert.ok(updated.modRevision > created.modRevision);

      const err = await rejection(ds.update(k('a'), 'stale', created.modRevision), ConflictError);
      assert.equal(err.expectedModRevision, created.modRevision);
      assert.deepEqual(err.current, updated);
      assert.deepEqual(await ds.get(k('a')), updated, 'a lost CAS changes nothing');
    });

    it('update of a missing key fails with NotFoundError', async () => {
      fresh();
      await rejection(ds.update(k('missing'), 'x', 5), NotFoundError);
      await rejection(ds.update(k('missing'), 'x', 0), NotFoundError);
      assert.equal(await ds.get(k('missing')), undefined);
    });

    it('delete works with and without CAS, and reports the deleted pair', async () => {
      fresh();
      const a = await ds.create(k('a'), 'A');
      assert.deepEqual(await ds.delete(k('a')), a);
      assert.equal(await ds.get(k('a')), undefined);
      await rejection(ds.delete(k('a')), NotFoundError);

      const b = await ds.create(k('b'), 'B');
      const b2 = await ds.update(k('b'), 'B2', b.modRevision);
      const err = await rejection(ds.delete(k('b'), b.modRevision), ConflictError);
      assert.deepEqual(err.current, b2);
      assert.deepEqual(await ds.get(k('b')), b2);
      assert.deepEqual(await ds.delete(k('b'), b2.modRevision), b2);
      await rejection(ds.delete(k('b'), b2.modRevision), NotFoundError);
    });

    it('every write bumps the store revision, which only grows', async () => {
      fresh();
      let last = await ds.revision();
      assert.ok(Number.isInteger(last) && last > 0);
      const step = async (write: Promise<{ modRevision: number } | KeyValue>) => {
        const kv = await write;
        assert.ok(kv.modRevision > last, `${kv.modRevision} > ${last}`);
        last = kv.modRevision;
        assert.ok((await ds.revision()) >= last);
        return kv;
      };
      const a = await step(ds.create(k('a'), '1'));
      const a2 = await step(ds.update(k('a'), '2', a.modRevision));
      await step(ds.create(k('b'), '1'));
      await ds.delete(k('a'), a2.modRevision);
      assert.ok((await ds.revision()) > last, 'delete bumps the revision');
      const other = await backend.open();
      assert.ok((await other.revision()) >= last, 'another client sees at least as far');
    });

    it('watch delivers puts and deletes with previous values', async () => {
      fresh();
      const rec = new Recorder();
      const watch = ds.watch(prefix, await ds.revision(), rec);
      try {
        const v1 = await ds.create(k('a'), '1');
        const v2 = await ds.update(k('a'), '2', v1.modRevision);
        const del = await ds.delete(k('a'));
        await rec.until(() => rec.events.length >= 3);
        assert.deepEqual(rec.events, [
          { type: 'put', kv: v1 },
          { type: 'put', kv: v2, prev: v1 },
          { type: 'delete', key: k('a'), revision: rec.revisions()[2], prev: v2 },
        ]);
        assert.ok(rec.revisions()[2]! > del.modRevision);
      } finally {
        await watch.close();
      }
    });

    it('watch sees only its prefix and replays history after the given revision', async () => {
      fresh();
      const start = await ds.revision();
      await ds.create(k('in/a'), '1');
      await ds.create(k('inx'), 'not under in/');
      await ds.create(k('in/b'), '2');
      const rec = new Recorder();
      const watch = ds.watch(k('in/'), start, rec);
      try {
        await ds.create(k('in/c'), '3');
        await ds.create(k('out/d'), '4');
        await rec.until(() => rec.events.length >= 3);
        await settle();
        assert.deepEqual(rec.keys(), [k('in/a'), k('in/b'), k('in/c')]);
        assertIncreasing(rec.revisions());
      } finally {
        await watch.close();
      }
    });

    it('closing a watch stops its events', async () => {
      fresh();
      const rec = new Recorder();
      const watch = ds.watch(prefix, await ds.revision(), rec);
      await ds.create(k('a'), '1');
      await rec.until(() => rec.events.length === 1);
      await watch.close();
      await ds.create(k('b'), '2');
      await settle();
      assert.deepEqual(rec.keys(), [k('a')]);
    });

    it(
      '8 processes racing CAS increments on one key lose no increment',
      { timeout: 120_000 },
      async () => {
        fresh();
        const workers = 8;
        const increments = 25;
        const total = workers * increments;
        const counter = await ds.create(k('counter'), '0');
        // Watching from this process also checks delivery of other processes' writes.
        const rec = new Recorder();
        const watch = ds.watch(prefix, counter.modRevision, rec);
        try {
          const { results } = await raceWorkers<{ conflicts: number }>(
            casWorker,
            Array.from({ length: workers }, () => [backend.url, k('counter'), String(increments)]),
          );
          assert.equal(results.length, workers);
          assert.equal((await ds.get(k('counter')))?.value, String(total));
          await rec.until(() => rec.events.length >= total, 10_000);
          assert.deepEqual(
            rec.events.map((e) => (e.type === 'put' ? Number(e.kv.value) : NaN)),
            Array.from({ length: total }, (_, i) => i + 1),
          );
        } finally {
          await watch.close();
        }
      },
    );

    it(
      'a watch resumed from its last revision misses nothing across a backend restart',
      { timeout: 60_000 },
      async () => {
        fresh();
        const seen: WatchEvent[] = [];
        const first = new Recorder();
        let client = await backend.open();
        const watch = client.watch(prefix, await client.revision(), first);
        const a = await client.create(k('a'), '1');
        await client.create(k('b'), '1');
        await client.update(k('a'), '2', a.modRevision);
        await first.until(() => first.events.length === 3);
        await watch.close();
        seen.push(...first.events);
        // Written while nobody watches: the resumed watch must still see it.
        await client.delete(k('b'));
        const beforeRestart = await client.revision();

        await backend.restart();
        // The suite's shared client may not have survived; later cases use the new one.
        client = ds = await backend.open();
        const second = new Recorder();
        const resumed = client.watch(prefix, first.revisions().at(-1)!, second);
        try {
          const c = await retryUnavailable(() => client.create(k('c'), '1'));
          assert.ok(c.modRevision > beforeRestart, 'revisions keep growing across the restart');
          await client.delete(k('a'));
          await second.until(() => second.events.length >= 3);
          await settle();
          seen.push(...second.events);
          assert.deepEqual(
            seen.map(describeEvent),
            ['put a=1', 'put b=1', 'put a=2', 'delete b', 'put c=1', 'delete a'].map((e) =>
              e.replace(/ (\w)/, ` ${prefix}$1`),
            ),
          );
          assertIncreasing(seen.map(eventRevision));
          assert.equal(second.relists.length, 0);
        } finally {
          await resumed.close();
        }
      },
    );

    it(
      'an open watch keeps delivering, exactly once, across a backend restart',
      { timeout: 60_000 },
      async (t) => {
        if (!backend.clientsSurviveRestart) {
          t.skip('clients of this backend do not outlive a restart');
          return;
        }
        fresh();
        const client = await backend.open();
        const rec = new Recorder();
        const watch = client.watch(prefix, await client.revision(), rec);
        try {
          await client.create(k('a'), '1');
          await client.create(k('b'), '1');
          await rec.until(() => rec.events.length === 2);
          await backend.restart();
          await retryUnavailable(() => client.create(k('c'), '1'));
          await client.create(k('d'), '1');
          await rec.until(() => rec.events.length >= 4);
          await settle(200);
          assert.deepEqual(rec.keys(), ['a', 'b', 'c', 'd'].map(k));
          assertIncreasing(rec.revisions());
          assert.equal(rec.relists.length, 0);
        } finally {
          await watch.close();
        }
      },
    );

    it(
      'compaction makes a watch from before it relist, not go silent',
      { timeout: 30_000 },
      async () => {
        fresh();
        const a = await ds.create(k('a'), '0');
        let current = a;
        for (let i = 1; i <= 5; i++)
          current = await ds.update(k('a'), String(i), current.modRevision);

        const live = new Recorder();
        const liveWatch = ds.watch(prefix, current.modRevision, live);
        await backend.compact(current.modRevision);

        const stale = new Recorder();
        const staleWatch = ds.watch(prefix, a.modRevision, stale);
        try {
          await stale.until(() => stale.relists.length === 1);
          assert.deepEqual(stale.events, [], 'no partial history before the relist');

          await ds.update(k('a'), 'after', current.modRevision);
          await live.until(() => live.events.length === 1);
          assert.equal(live.relists.length, 0, 'a watch already past the mark keeps going');

          const fromMark = new Recorder();
          const markWatch = ds.watch(prefix, current.modRevision, fromMark);
          await fromMark.until(() => fromMark.events.length === 1);
          await markWatch.close();
        } finally {
          await staleWatch.close();
          await liveWatch.close();
        }
      },
    );

    it(
      'a key created with a TTL expires, and watches see the delete',
      { timeout: 15_000 },
      async () => {
        fresh();
        const rec = new Recorder();
        const watch = ds.watch(prefix, await ds.revision(), rec);
        try {
          const kv = await ds.create(k('lease'), 'x', { ttlSeconds: 1 });
          await ds.create(k('forever'), 'y');
          await rec.until(() => rec.events.some((e) => e.type === 'delete'), 10_000);
          assert.deepEqual(rec.events.at(-1), {
            type: 'delete',
            key: k('lease'),
            revision: rec.revisions().at(-1),
            prev: kv,
          });
          assert.equal(await ds.get(k('lease')), undefined);
          assert.equal((await ds.get(k('forever')))?.value, 'y');
        } finally {
          await watch.close();
        }
      },
    );
  });
}

/** Records what a watch delivers, for assertions. */
class Recorder implements WatchListener {
  readonly events: WatchEvent[] = [];
  readonly relists: string[] = [];
  readonly errors: Error[] = [];

  onEvents(events: WatchEvent[]): void {
    this.events.push(...events);
  }
  onRelist(reason: string): void {
    this.relists.push(reason);
  }
  onError(err: Error): void {
    this.errors.push(err);
  }

  keys(): string[] {
    return this.events.map((e) => (e.type === 'put' ? e.kv.key : e.key));
  }
  revisions(): number[] {
    return this.events.map(eventRevision);
  }

  async until(done: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) {
        assert.fail(
          `watch condition not met in ${timeoutMs}ms; events: ${JSON.stringify(this.events.map(describeEvent))}, relists: ${JSON.stringify(this.relists)}, errors: ${this.errors.join('; ')}`,
        );
      }
      await settle(5);
    }
  }
}

function eventRevision(e: WatchEvent): number {
  return e.type === 'put' ? e.kv.modRevision : e.revision;
}

function describeEvent(e: WatchEvent): string {
  return e.type === 'put' ? `put ${e.kv.key}=${e.kv.value}` : `delete ${e.key}`;
}

function assertIncreasing(revisions: number[]): void {
  for (let i = 1; i < revisions.length; i++) {
    assert.ok(revisions[i]! > revisions[i - 1]!, `revisions in order: ${revisions.join(',')}`);
  }
}

/** Long enough for a stray duplicate or late event to show up. */
function settle(ms = 100): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function rejection<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${type.name}, but it succeeded`);
}

/** Right after a restart a backend may briefly refuse; a caller would retry too. */
async function retryUnavailable<T>(op: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof UnavailableError) || Date.now() > deadline) throw err;
      await settle(100);
    }
  }
}
