import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeState } from '../lab/state.js';
import { sampleState } from '../lab/test-support/fixtures.js';
import { runCli } from './test-support/run-cli.js';

const tortie = (...argv: string[]) => runCli(argv);

describe('tortie lab (CLI, no root needed)', () => {
  let root: string;
  const saved = process.env['TORTIE_LAB_ROOT'];
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'tortie-cli-lab-'));
    process.env['TORTIE_LAB_ROOT'] = root;
    writeState(join(root, 'demo'), sampleState('demo'));
  });
  after(() => {
    if (saved === undefined) delete process.env['TORTIE_LAB_ROOT'];
    else process.env['TORTIE_LAB_ROOT'] = saved;
    rmSync(root, { recursive: true, force: true });
  });

  it('prints the status JSON scripts drive the lab with', async () => {
    const { code, stdout, stderr } = await tortie('lab', 'status', '--name', 'demo', '-o', 'json');
    assert.equal(stderr, '');
    assert.equal(code, 0);
    const status = JSON.parse(stdout);
    assert.equal(status.name, 'demo');
    assert.equal(status.datastore, 'sqlite:/var/lib/tortie/labs/demo/tortie.db');
    assert.deepEqual(status.underlay, [
      {
        segment: 1,
        netns: 'tl-demo-ul',
        bridge: 'br1',
        cidr: '172.31.1.0/24',
        gateway: '172.31.1.1',
      },
    ]);
    assert.deepEqual(
      status.hosts.map((h: { name: string; address: string }) => `${h.name}=${h.address}`),
      ['host1=172.31.1.11', 'host2=172.31.1.12'],
    );
    assert.deepEqual(Object.keys(status.workloads[0]).sort(), [
      'addresses',
      'host',
      'interface',
      'labels',
      'name',
      'namespace',
      'netns',
    ]);
  });

  it('prints the status as tables', async () => {
    const { code, stdout } = await tortie('lab', 'status', '--name', 'demo');
    assert.equal(code, 0);
    assert.match(stdout, /^WORKLOAD +HOST +NAMESPACE +ADDRESSES/m);
    assert.match(stdout, /^host1-w1 +host1 +default +10\.244\.0\.0\/32/m);
  });

  it('names the labs that exist when asked for one that does not', async () => {
    const { code, stderr } = await tortie('lab', 'status');
    assert.equal(code, 1);
    assert.match(stderr, /no lab "tortie" .*tortie lab up --name tortie.*\(existing labs: demo\)/);
  });

  it('refuses a bad output format, a bad count and a missing host', async () => {
    assert.match(
      (await tortie('lab', 'status', '--name', 'demo', '-o', 'yaml')).stderr,
      /unknown output format "yaml"/,
    );
    const hosts = await tortie('lab', 'up', '--hosts', 'two');
    assert.equal(hosts.code, 2);
    assert.match(hosts.stderr, /--hosts <n>.*not a whole number/);
    const add = await tortie('lab', 'workload', 'add', 'web');
    assert.equal(add.code, 2);
    assert.match(add.stderr, /required option '--host <host>'/);
    const exec = await tortie('lab', 'exec', 'host1');
    assert.equal(exec.code, 2);
    assert.match(exec.stderr, /missing required argument 'command'/);
  });

  it('lists every lab verb in the help', async () => {
    const { stdout } = await tortie('lab', '--help');
    for (const verb of ['up', 'down', 'status', 'workload', 'exec', 'ping', 'routes']) {
      assert.match(stdout, new RegExp(`^  ${verb}\\b`, 'm'), verb);
    }
  });
});
