import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatStatus } from './format.js';
import { loadState, readState, statePath, statusOf, withLabLock, writeState } from './state.js';
import { sampleState } from './test-support/fixtures.js';

describe('lab state file', () => {
  let root: string;
  before(() => (root = mkdtempSync(join(tmpdir(), 'tortie-lab-state-'))));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('round-trips through an atomic write', () => {
    const dir = join(root, 'demo');
    writeState(dir, sampleState());
    assert.deepEqual(readState(dir), { kind: 'ok', state: sampleState() });
    assert.deepEqual(readdirSync(dir), ['state.json']);
  });

  it('tells missing from corrupt, and says what to do', () => {
    assert.deepEqual(readState(join(root, 'none')), { kind: 'missing' });
    assert.throws(
      () => loadState(join(root, 'none'), 'none'),
      /no lab "none".*tortie lab up --name none/,
    );
    const dir = join(root, 'bad');
    writeState(dir, sampleState('bad'));
    writeFileSync(statePath(dir), '{"version": 1, "name": "ba');
    assert.equal(readState(dir).kind, 'corrupt');
    assert.throws(() => loadState(dir, 'bad'), /unreadable.*tortie lab down --name bad/);
    writeFileSync(statePath(dir), '{"version": 99}');
    assert.equal(readState(dir).kind, 'corrupt');
  });

  it('projects the status JSON that scripts rely on', () => {
    const status = statusOf(sampleState());
    assert.deepEqual(Object.keys(status), [
      'name',
      'datastore',
      'topology',
      'encap',
      'phase',
      'underlay',
      'hosts',
      'workloads',
      'processes',
      'pool',
    ]);
    assert.deepEqual(status.underlay, [
      {
        segment: 1,
        netns: 'tl-demo-ul',
        bridge: 'br1',
        cidr: '172.31.1.0/24',
        gateway: '172.31.1.1',
      },
    ]);
    assert.deepEqual(status.hosts[0], {
      name: 'host1',
      netns: 'tl-demo-host1',
      address: '172.31.1.11',
      segment: 1,
    });
    assert.deepEqual(status.workloads[0], {
      name: 'host1-w1',
      host: 'host1',
      namespace: 'default',
      netns: 'tl-demo-w-host1-w1',
      addresses: ['10.244.0.0/32'],
      interface: 'eth0',
      labels: { app: 'w1' },
    });
  });

  it('renders the status as tables', () => {
    const text = formatStatus(sampleState());
    assert.match(
      text,
      /^lab demo: flat, encapsulation none, pool 10\.244\.0\.0\/16 \(\/26 blocks\)$/m,
    );
    assert.match(text, /^host2 +172\.31\.1\.12\/24 +1 +tl-demo-host2 +-$/m);
    assert.match(
      text,
      /^host2-w2 +host2 +default +10\.244\.0\.65\/32 +cali22000000000 +tl-demo-w-host2-w2 +app=w2$/m,
    );
    assert.match(
      formatStatus({ ...sampleState(), phase: 'creating' }),
      /incomplete; run tortie lab down --name demo/,
    );
  });

  it('serializes writers with a lock file, and takes over a dead holder’s lock', async () => {
    const dir = join(root, 'locked');
    const order: string[] = [];
    const slow = (tag: string) =>
      withLabLock(dir, async () => {
        order.push(`${tag}+`);
        await new Promise((r) => setTimeout(r, 50));
        order.push(`${tag}-`);
      });
    await Promise.all([slow('a'), slow('b')]);
    assert.deepEqual(order, ['a+', 'a-', 'b+', 'b-']);
    assert.ok(!existsSync(join(dir, '.lock')));

    writeFileSync(join(dir, '.lock'), '999999999');
    assert.equal(await withLabLock(dir, async () => 'taken over'), 'taken over');
    writeFileSync(join(dir, '.lock'), String(process.ppid));
    await assert.rejects(
      withLabLock(dir, async () => 'never', 200),
      /the lab is busy/,
    );
  });
});
