import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Ipam } from '../ipam/allocator.js';
import { addNode, addPool, tempSqlite, type TempStore } from '../ipam/test-support/fixtures.js';
import { startIpamGc } from './ipam-gc.js';

const quiet = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('automatic IPAM garbage collection in the agent', () => {
  let store: TempStore;
  before(async () => {
    store = tempSqlite();
    await addPool(store.ds, 'pool', '10.60.0.0/16');
    await addNode(store.ds, 'node-a');
    await addNode(store.ds, 'node-b');
  });
  after(async () => store.cleanup());

  it('releases a leaked address only from the leading agent, after two agreeing runs', async () => {
    const ipam = new Ipam(store.ds);
    const { ipv4 } = await ipam.autoAssign({
      handle: 'net.no-such-container',
      node: 'node-b',
      num4: 1,
    });
    assert.equal(ipv4.length, 1);

    const follower = startIpamGc(store.ds, 'node-b', quiet, { intervalMs: 20, graceSeconds: 0 });
    await sleep(200);
    await follower?.stop();
    assert.equal(
      (await ipam.ipsByHandle('net.no-such-container')).length,
      1,
      'node-b does not lead',
    );

    const leader = startIpamGc(store.ds, 'node-a', quiet, { intervalMs: 20, graceSeconds: 0 });
    try {
      for (
        let i = 0;
        i < 100 && (await ipam.ipsByHandle('net.no-such-container')).length > 0;
        i++
      ) {
        await sleep(20);
      }
    } finally {
      await leader?.stop();
    }
    assert.deepEqual(await ipam.ipsByHandle('net.no-such-container'), []);
  });

  it('is off when the interval is 0', () => {
    assert.equal(startIpamGc(store.ds, 'node-a', quiet, { intervalMs: 0 }), undefined);
  });
});
