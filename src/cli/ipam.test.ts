import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import type { Datastore } from '../datastore/types.js';
import { Ipam } from '../ipam/allocator.js';
import {
  addNode,
  addPool,
  addWorkload,
  tempSqlite,
  type TempStore,
} from '../ipam/test-support/fixtures.js';
import { runCli } from './test-support/run-cli.js';

describe('tortie ipam', () => {
  const stores: TempStore[] = [];
  let store: TempStore;
  let ds: Datastore;

  beforeEach(async () => {
    store = tempSqlite();
    stores.push(store);
    ds = store.ds;
    await addNode(ds, 'n1');
    await addNode(ds, 'n2');
    await addPool(ds, 'default-ipv4-ippool', '10.48.0.0/24', { blockSize: 28 });
    await addPool(ds, 'default-ipv6-ippool', 'fd00:48::/120');
  });
  after(async () => {
    for (const s of stores) await s.cleanup();
  });

  const tortie = (...argv: string[]) => runCli(argv, async () => ds);

  it('show: per pool size, in use, free and percentages; blocks with affinity', async () => {
    const ipam = new Ipam(ds);
    await ipam.autoAssign({ handle: 'net.a', node: 'n1', num4: 5, num6: 1 });
    const out = await tortie('ipam', 'show');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(
      out.stdout,
      [
        '+----------+---------------+-----------+------------+------------+',
        '| GROUPING |     CIDR      | IPS TOTAL | IPS IN USE |  IPS FREE  |',
        '+----------+---------------+-----------+------------+------------+',
        '| IP Pool  | 10.48.0.0/24  |       256 | 5 (2%)     | 251 (98%)  |',
        '| IP Pool  | fd00:48::/120 |       256 | 1 (0%)     | 255 (100%) |',
        '+----------+---------------+-----------+------------+------------+',
        '',
      ].join('\n'),
    );
    const blocks = await tortie('ipam', 'show', '--show-blocks');
    assert.match(
      blocks.stdout,
      /\| Block +\| 10\.48\.0\.\d+\/28 +\| host:n1 +\| +16 \| 5 \(31%\) +\| 11 \(69%\) +\|/,
    );
    assert.match(blocks.stdout, /\| Block +\| fd00:48::\S*\/122 +\| host:n1 +\| +64 \| 1 \(2%\)/);
  });

  it('show --ip, --show-borrowed and --show-configuration', async () => {
    const ipam = new Ipam(ds);
    await ipam.assignIP({ ip: '10.48.0.5', handle: 'net.x', node: 'n1', attrs: { pod: 'web' } });
    await ipam.assignIP({ ip: '10.48.0.6', handle: 'net.y', node: 'n2' });
    const held = await tortie('ipam', 'show', '--ip', '10.48.0.5');
    assert.match(
      held.stdout,
      /^IP 10\.48\.0\.5 is in use\nHandle: net\.x\nBlock: 10\.48\.0\.0\/28 \(affinity host:n1\)\nAttributes:\n  node: n1\n  pod: web\n  timestamp: /,
    );
    assert.equal(
      (await tortie('ipam', 'show', '--ip', '10.48.0.7')).stdout,
      'IP 10.48.0.7 is not assigned\n',
    );
    assert.equal(
      (await tortie('ipam', 'show', '--ip', '1.2.3.4')).stdout,
      'IP 1.2.3.4 is not in any IP pool\n',
    );
    const borrowed = await tortie('ipam', 'show', '--show-borrowed');
    assert.match(
      borrowed.stdout,
      /\| 10\.48\.0\.6 \| n2 +\| 10\.48\.0\.0\/28 \| n1 +\| workload \| net\.y +\|/,
    );
    assert.equal(
      (await tortie('ipam', 'configure', '--strictaffinity=true', '--max-blocks-per-host', '4'))
        .stdout,
      'Successfully set StrictAffinity to: true, MaxBlocksPerHost to: 4\n',
    );
    const config = await tortie('ipam', 'show', '--show-configuration');
    assert.equal(
      config.stdout,
      [
        '+--------------------+-------+',
        '|      PROPERTY      | VALUE |',
        '+--------------------+-------+',
        '| StrictAffinity     | true  |',
        '| AutoAllocateBlocks | true  |',
        '| MaxBlocksPerHost   | 4     |',
        '+--------------------+-------+',
        '',
      ].join('\n'),
    );
    assert.equal(
      (await ds.get('/calico/ipam/v2/config'))!.value,
      '{"strict_affinity":true,"auto_allocate_blocks":true,"maxBlocksPerHost":4}',
    );
  });

  it('check -o writes a report; release --from-report returns the leaks; release --ip', async () => {
    const ipam = new Ipam(ds);
    const live = await ipam.autoAssign({ handle: 'net.live', node: 'n1', num4: 1 });
    await addWorkload(ds, 'wep-live', 'n1', 'live');
    const lost = await ipam.autoAssign({ handle: 'net.lost', node: 'n1', num4: 2 });
    const file = join(store.dir, 'report.json');
    const check = await tortie('ipam', 'check', '-o', file, '--grace-period', '0');
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /Found 3 IPs in use: 1 with a live owner, 2 leaked\./);
    assert.match(
      check.stdout,
      /leaked: 10\.48\.0\.\d+ handle net\.lost node n1 age \d+s: no WorkloadEndpoint has containerID "lost"/,
    );
    assert.match(check.stdout, /IPAM check report saved to/);
    assert.ok(existsSync(file));
    const report = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(report.kind, 'TortieIpamReport');
    assert.deepEqual(
      report.leaks.map((l: { address: string }) => l.address).sort(),
      [...lost.ipv4].sort(),
    );
    const release = await tortie('ipam', 'release', '--from-report', file);
    assert.equal(release.code, 0, release.stderr);
    assert.match(release.stdout, /^Released 2 leaked IP addresses\./);
    assert.equal((await ipam.holderOf(live.ipv4[0]!)).handle, 'net.live');
    const again = await tortie('ipam', 'release', '--from-report', file);
    assert.match(
      again.stdout,
      /Released 0 leaked IP addresses\.\n  skipped .*released or reallocated since the report/,
    );
    const one = await tortie('ipam', 'release', '--ip', live.ipv4[0]!);
    assert.equal(one.stdout, `Successfully released IP address ${live.ipv4[0]}\n`);
    assert.equal(
      (await tortie('ipam', 'release', '--ip', live.ipv4[0]!)).stdout,
      `IP address ${live.ipv4[0]} is not assigned; nothing to release\n`,
    );
  });

  it('bad input: clear errors, non-zero exit', async () => {
    const bad = await tortie('ipam', 'release');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /exactly one of --ip ADDRESS or --from-report FILE/);
    assert.match(
      (await tortie('ipam', 'release', '--ip', 'nonsense')).stderr,
      /"nonsense" is not an IP address/,
    );
    assert.match(
      (await tortie('ipam', 'configure', '--strictaffinity=maybe')).stderr,
      /--strictaffinity must be true or false/,
    );
    assert.match(
      (await tortie('ipam', 'configure', '--max-blocks-per-host', '-1')).stderr,
      /non-negative integer/,
    );
    const missing = await tortie('ipam', 'release', '--from-report', join(store.dir, 'nope.json'));
    assert.match(missing.stderr, /--from-report .*nope\.json: ENOENT/);
  });
});
