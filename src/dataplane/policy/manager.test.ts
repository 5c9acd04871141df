import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PolicyCalc } from '../../calc/policy/calc.js';
import { workload } from '../../calc/policy/test-support/fixtures.js';
import { baseResources, NODES } from '../../calc/policy/test-support/scenarios.js';
import { PolicyManager } from './manager.js';
import type { NftRunner, Script } from './nft.js';

/** Records transactions; each takes a turn of the event loop; no table at first. */
class FakeNft implements NftRunner {
  readonly transactions: string[] = [];
  private gate: Promise<void> = Promise.resolve();
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise((r) => (release = r));
    return release;
  }
  async run(script: string): Promise<void> {
    // The manager's probe for the table: fails as nft does once there is one.
    if (script.startsWith('create table ')) {
      if (this.transactions.length) throw new Error('Error: Could not process rule: File exists');
      return;
    }
    this.transactions.push(script);
    await this.gate;
  }
  async runConcurrently(scripts: Script[]): Promise<void> {
    await Promise.all(scripts.map((s) => this.run(typeof s === 'string' ? s : s())));
  }
  async json(): Promise<string> {
    return '{"nftables": []}';
  }
  close(): void {}
}

describe('policy manager', () => {
  it('a first write into an empty namespace loads sets and chains at once, then the hooks', async () => {
    const nft = new FakeNft();
    const calc = new PolicyCalc({ nodeName: NODES[0] });
    for (const r of baseResources()) calc.onResource(r);
    const manager = new PolicyManager(nft);
    manager.onUpdates(calc.drain());
    const result = await manager.apply();
    assert.deepEqual(result.failures, []);
    assert.equal(result.fresh, true);
    assert.equal(nft.transactions.length, 3);
    const [sets, chains, hooks] = nft.transactions as [string, string, string];
    assert.doesNotMatch(sets, /add chain|delete table/);
    assert.match(chains, /add chain inet tortie-policy from-wl/);
    assert.doesNotMatch(chains, /hook/);
    assert.match(hooks, /hook forward/);
    // The next full write (a table exists now) replaces it in one transaction.
    manager.invalidate();
    const again = await manager.apply();
    assert.equal(again.fresh, undefined);
    assert.match(nft.transactions.at(-1)!, /^add table inet tortie-policy\ndelete table/);
  });

  it('updates that arrive while a full write is in flight are applied by the next one', async () => {
    const nft = new FakeNft();
    const calc = new PolicyCalc({ nodeName: NODES[0] });
    for (const r of baseResources()) calc.onResource(r);
    const manager = new PolicyManager(nft);
    manager.onUpdates(calc.drain());
    const release = nft.hold();
    const writing = manager.apply();
    await new Promise((r) => setImmediate(r));
    calc.onResource(
      workload({
        namespace: 'x',
        name: 'late',
        node: NODES[0],
        iface: 'calilate0',
        ip: '10.77.9.9',
      }),
    );
    manager.onUpdates(calc.drain());
    release();
    assert.deepEqual((await writing).failures, []);
    assert.ok(manager.dirty, 'the late update is still to be written');
    const next = await manager.apply();
    assert.equal(next.kind, 'incremental');
    assert.match(nft.transactions.at(-1)!, /"calilate0"/);
  });
});
