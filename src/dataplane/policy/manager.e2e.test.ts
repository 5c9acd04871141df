// The policy manager against real nftables in scratch namespaces: what the
// incremental transactions leave in the kernel equals a fresh full render of
// the same state, after every step; a table removed behind its back or a
// failed transaction is repaired by a full render; host endpoints get their
// failsafe ports and default deny (real traffic between two hosts).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PolicyCalc } from '../../calc/policy/calc.js';
import {
  globalPolicy,
  hostEndpoint,
  hostStagePolicies,
  workload,
} from '../../calc/policy/test-support/fixtures.js';
import {
  baseResources,
  NODES,
  POD_LIST,
  SCENARIOS,
} from '../../calc/policy/test-support/scenarios.js';
import type { Resource } from '../../model/resource.js';
import { PolicyManager } from './manager.js';
import { ProcessNft, SessionNft } from './nft.js';
import { hookNeeds, renderFull } from './render.js';
import { ProbeAgent, writeProbeAgent } from './test-support/probe-agent.js';
import {
  buildTopology,
  deleteNamespaces,
  sh,
  uniquePrefix,
  type Topology,
} from './test-support/topology.js';

const root = process.getuid?.() === 0;

/** The table as comparable data: sets and maps with sorted elements, chains with their rules (no counters, no handles). */
async function tableShape(nft: ProcessNft): Promise<unknown> {
  const json = JSON.parse(await nft.json(['list', 'table', 'inet', 'tortie-policy'])) as {
    nftables: Record<string, Record<string, unknown>>[];
  };
  const sets: Record<string, unknown> = {};
  const chains: Record<string, unknown[]> = {};
  for (const item of json.nftables) {
    const set = item['set'] ?? item['map'];
    if (set) {
      const elems = ((set['elem'] as unknown[]) ?? []).map((e) => JSON.stringify(e)).sort();
      sets[set['name'] as string] = { type: set['type'], flags: set['flags'], elems };
    }
    if (item['chain']) chains[item['chain']['name'] as string] ??= [];
    if (item['rule']) {
      const r = item['rule'];
      const expr = JSON.stringify(r['expr']).replace(
        /"counter":\{"packets":\d+,"bytes":\d+\}/g,
        '"counter":{}',
      );
      (chains[r['chain'] as string] ??= []).push(`${expr} ${r['comment'] ?? ''}`);
    }
  }
  return { sets, chains };
}

describe('policy manager (nftables)', { skip: !root && 'needs root', concurrency: false }, () => {
  const prefix = uniquePrefix('tpm');
  const inc = `${prefix}inc`;
  const full = `${prefix}full`;

  before(async () => {
    await sh(['ip', 'netns', 'add', inc]);
    await sh(['ip', 'netns', 'add', full]);
  });

  after(async () => {
    await deleteNamespaces(prefix);
  });

  it(
    'incremental transactions leave the same table as a full render, step after step',
    { timeout: 120_000 },
    async () => {
      const session = new SessionNft({ netns: inc });
      const listInc = new ProcessNft({ netns: inc });
      const fullNft = new ProcessNft({ netns: full });
      try {
        const calc = new PolicyCalc({ nodeName: NODES[0] });
        const manager = new PolicyManager(session);
        let previous: Resource[] = [];
        // Host endpoints with policy of every stage, on one interface and then on all.
        const stagePolicies = (suffix: string) => hostStagePolicies("hep == 'uplink'", suffix);
        const hep = (name: string, iface: string) =>
          hostEndpoint(name, { node: NODES[0], interfaceName: iface }, { hep: 'uplink' });
        const steps: Resource[][] = [
          [],
          ...SCENARIOS.map((s) => s.resources),
          SCENARIOS.find((s) => s.name === 'tiers-pass')!.resources,
          [hep('uplink', 'eth1'), ...stagePolicies('a')],
          [hep('uplink', 'eth1'), ...stagePolicies('b')],
          [hep('all', '*'), ...stagePolicies('b')],
          [hep('all', '*'), hep('uplink', 'eth1')],
          [],
        ];
        for (const [i, step] of steps.entries()) {
          for (const r of previous) calc.onResource(r, true);
          if (i === 0) for (const r of baseResources()) calc.onResource(r);
          for (const r of step) calc.onResource(r);
          // Churn an endpoint too: relabelled, then moved to another address.
          const xa = POD_LIST.find((p) => p.id === 'x/a')!;
          calc.onResource(
            workload({
              namespace: 'x',
              name: 'a',
              node: xa.node,
              iface: xa.iface,
              ip: i % 2 ? '10.77.1.99' : xa.ip,
              labels: { pod: i % 2 ? 'b' : 'a' },
            }),
          );
          previous = step;
          const needsBefore = JSON.stringify(hookNeeds(manager.state));
          manager.onUpdates(calc.drain());
          const result = await manager.apply();
          assert.deepEqual(result.failures, [], `step ${i}`);
          // Only a change of which stages' base chains are hooked rewrites the table.
          const skeleton = JSON.stringify(hookNeeds(manager.state)) !== needsBefore;
          assert.equal(
            result.kind,
            i === 0 || skeleton ? 'full' : result.kind === 'none' ? 'none' : 'incremental',
            `step ${i}`,
          );
          const { sets, rules } = renderFull(manager.state);
          await fullNft.run(sets + rules);
          assert.deepEqual(
            await tableShape(listInc),
            await tableShape(fullNft),
            `step ${i}: incremental and full renders differ`,
          );
        }
        await manager.remove();
      } finally {
        session.close();
        listInc.close();
        fullNft.close();
      }
    },
  );

  it(
    'a table removed behind its back, or a failed transaction, is rewritten whole',
    { timeout: 60_000 },
    async () => {
      const nft = new SessionNft({ netns: inc });
      const list = new ProcessNft({ netns: inc });
      try {
        const calc = new PolicyCalc({ nodeName: NODES[0] });
        for (const r of [...baseResources(), ...SCENARIOS[3]!.resources]) calc.onResource(r);
        const manager = new PolicyManager(nft);
        manager.onUpdates(calc.drain());
        assert.equal((await manager.apply()).kind, 'full');
        const want = await tableShape(list);
        await list.run('delete table inet tortie-policy\n');
        manager.resync();
        assert.ok(manager.dirty);
        const repaired = await manager.apply();
        assert.deepEqual(repaired.failures, []);
        assert.equal(repaired.kind, 'full');
        assert.deepEqual(await tableShape(list), want);
        // Hold on to a chain the next transaction deletes: it fails, and the table is rewritten.
        const doomed = [...manager.state.ruleChains.keys()].find((c) =>
          c.includes('allow-from-x'),
        )!;
        assert.ok(doomed);
        await list.run(
          `add chain inet tortie-policy sabotage\nadd rule inet tortie-policy sabotage jump ${doomed}\n`,
        );
        for (const r of SCENARIOS[3]!.resources) calc.onResource(r, true);
        manager.onUpdates(calc.drain());
        const recovered = await manager.apply();
        assert.equal(recovered.kind, 'full');
        assert.equal(recovered.failures.length, 1);
        assert.match(recovered.failures[0]!, /incremental update failed, table rewritten/);
        const { sets, rules } = renderFull(manager.state);
        const check = new ProcessNft({ netns: full });
        await check.run(sets + rules);
        assert.deepEqual(await tableShape(list), await tableShape(check));
        check.close();
        await manager.remove();
      } finally {
        nft.close();
        list.close();
      }
    },
  );

  describe('host endpoints (real traffic between two hosts)', () => {
    let topo: Topology | undefined;
    let dir: string;
    const agents: ProbeAgent[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tortie-hep-'));
      topo = await buildTopology(`${prefix}hep-`, NODES, []);
    });

    after(async () => {
      await Promise.all(agents.map((a) => a.stop()));
      await topo?.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      'a host endpoint is default-deny except its failsafe ports, and policy opens it',
      { timeout: 60_000 },
      async () => {
        const [n1, n2] = NODES;
        const h1 = topo!.hosts.get(n1)!;
        const h2 = topo!.hosts.get(n2)!;
        const file = writeProbeAgent(dir);
        const a1 = new ProbeAgent(h1.netns, file, [22, 80]);
        const a2 = new ProbeAgent(h2.netns, file, [80]);
        agents.push(a1, a2);
        await Promise.all([a1.ready, a2.ready]);
        const nft = new SessionNft({ netns: h1.netns });
        try {
          const calc = new PolicyCalc({ nodeName: n1 });
          calc.onResource(
            hostEndpoint(
              'h1-eth1',
              { node: n1, interfaceName: 'eth1', expectedIPs: [h1.address] },
              { role: 'host' },
            ),
          );
          const manager = new PolicyManager(nft);
          const program = async () => {
            manager.onUpdates(calc.drain());
            assert.deepEqual((await manager.apply()).failures, []);
            await sh(['ip', 'netns', 'exec', h1.netns, 'conntrack', '-F'], { check: false });
          };
          await program();
          const to1 = (port: number) =>
            a2.probe({ proto: 'tcp', host: h1.address, port, timeoutMs: 600 });
          const from1 = () =>
            a1.probe({ proto: 'tcp', host: h2.address, port: 80, timeoutMs: 600 });
          assert.equal(await to1(22), true, 'SSH is a failsafe port');
          assert.equal(await to1(80), false, 'a host endpoint without policy drops');
          assert.equal(await from1(), false, 'and drops what the host sends out of it');
          calc.onResource(
            globalPolicy('hosts', {
              selector: "role == 'host'",
              ingress: [
                {
                  action: 'Allow',
                  protocol: 'TCP',
                  source: { nets: [`${h2.address}/32`] },
                  destination: { ports: [80] },
                },
              ],
              egress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }],
              types: ['Ingress', 'Egress'],
            }),
          );
          await program();
          assert.equal(await to1(80), true, 'policy allows TCP 80 from host 2');
          assert.equal(await from1(), true, 'and out to port 80');
          await manager.remove();
        } finally {
          nft.close();
        }
      },
    );
  });
});
