// The reachability truth table with real traffic (docs/policy.md): two hosts
// in network namespaces, nine workloads (x, y, z × a, b, c) serving TCP and
// UDP on 80 and 81; for each scenario the policy goes through the agent's
// path (datastore keys ─► PolicyAgentHook ─► nftables, incrementally), every
// (source, destination, protocol, port) is probed, and the observed matrix is
// compared with what the reference evaluator predicts from the resources —
// and with what `tortie policy explain` says. Then anti-spoofing and counters.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { evaluatePacket, ReferenceModel } from '../../calc/policy/reference.js';
import { workload } from '../../calc/policy/test-support/fixtures.js';
import {
  baseResources,
  NODES,
  POD_LIST,
  SCENARIOS,
  SERVE_PORTS,
  type Scenario,
} from '../../calc/policy/test-support/scenarios.js';
import type { KvUpdate } from '../../calc/types.js';
import { explainFlow, loadPolicyResources, registerPolicyCommands } from '../../cli/policy.js';
import { openDatastore } from '../../datastore/open.js';
import { ResourceStore } from '../../datastore/resources.js';
import type { Datastore } from '../../datastore/types.js';
import { lookupKindOf, resourceKey } from '../../model/kinds.js';
import type { Resource } from '../../model/resource.js';
import { applyDefaults } from '../../model/defaults.js';
import { PolicyAgentHook } from './agent-hook.js';
import { readCounters } from './counters.js';
import { ProcessNft } from './nft.js';
import { pool, ProbeAgent, writeProbeAgent } from './test-support/probe-agent.js';
import { buildTopology, sh, uniquePrefix, type Topology } from './test-support/topology.js';
import { formatTruthTable, type Cell } from './test-support/truth-table.js';
import { commentCounters } from '../test-support/nft-counters.js';

const root = process.getuid?.() === 0;
const PREFIX = uniquePrefix('tpt');
const TIMEOUT_MS = 500;
const RETRY_TIMEOUT_MS = 2500;

function kv(resource: Resource): { key: string; value: string } {
  const info = lookupKindOf(resource)!;
  const r = applyDefaults(resource);
  return {
    key: resourceKey(info, r.metadata.name, info.namespaced ? r.metadata.namespace : undefined),
    value: JSON.stringify(r),
  };
}

/** The updates that take a datastore holding `before` to holding `after`. */
function updatesBetween(beforeList: Resource[], afterList: Resource[]): KvUpdate[] {
  const old = new Map(beforeList.map((r) => [kv(r).key, kv(r).value]));
  const next = new Map(afterList.map((r) => [kv(r).key, kv(r).value]));
  const out: KvUpdate[] = [];
  for (const key of old.keys()) if (!next.has(key)) out.push({ key, value: undefined });
  for (const [key, value] of next) if (old.get(key) !== value) out.push({ key, value });
  return out;
}

describe(
  'policy truth table (real traffic)',
  { skip: !root && 'needs root', concurrency: false },
  () => {
    let dir: string;
    let topo: Topology | undefined;
    const agents = new Map<string, ProbeAgent>();
    const hooks = new Map<string, PolicyAgentHook>();
    let datastore: Datastore | undefined;
    let current: Resource[] = [];
    const timings: string[] = [];

    async function program(resources: Resource[]): Promise<void> {
      const updates = updatesBetween(current, resources);
      current = resources;
      for (const [node, hook] of hooks) {
        hook.onUpdates(updates);
        const failures = await hook.apply();
        assert.deepEqual(failures, [], `policy on ${node}`);
      }
      // New flows only: what the probes see must be the policy, not old conntrack entries.
      for (const { netns } of topo!.hosts.values()) {
        await sh(['ip', 'netns', 'exec', netns, 'conntrack', '-F'], { check: false });
      }
      const store = new ResourceStore(datastore!);
      const existing = await loadPolicyResources(datastore!);
      const wanted = new Set(resources.map((r) => kv(r).key));
      for (const r of existing) {
        if (!wanted.has(kv(r).key))
          await store.delete(
            lookupKindOf(r)!,
            r.metadata.name,
            lookupKindOf(r)!.namespaced ? r.metadata.namespace : undefined,
          );
      }
      for (const r of resources) await store.apply(applyDefaults(r));
    }

    async function probe(
      cell: Omit<Cell, 'observed' | 'expected'>,
      timeoutMs: number,
      family: 4 | 6 = 4,
    ): Promise<boolean> {
      const src = POD_LIST.find((p) => p.id === cell.src)!;
      const dst = POD_LIST.find((p) => p.id === cell.dst)!;
      return agents.get(src.id)!.probe({
        proto: cell.proto,
        host: family === 6 ? dst.ip6 : dst.ip,
        ...(cell.port !== undefined ? { port: cell.port } : {}),
        timeoutMs: cell.proto === 'icmp' ? Math.max(timeoutMs, 1000) : timeoutMs,
      });
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tortie-truth-'));
      topo = await buildTopology(
        PREFIX,
        NODES,
        POD_LIST.map((p) => ({ id: p.id, ip: p.ip, ip6: p.ip6, node: p.node, iface: p.iface })),
      );
      const file = writeProbeAgent(dir);
      for (const p of POD_LIST)
        agents.set(p.id, new ProbeAgent(topo.workloads.get(p.id)!.netns, file, SERVE_PORTS));
      await Promise.all([...agents.values()].map((a) => a.ready));
      for (const node of NODES) {
        hooks.set(
          node,
          new PolicyAgentHook({ nodeName: node, netns: topo.hosts.get(node)!.netns }),
        );
      }
      datastore = await openDatastore(`sqlite:${join(dir, 'policy.db')}`);
    });

    after(async () => {
      try {
        await Promise.all([...agents.values()].map((a) => a.stop()));
        for (const hook of hooks.values()) hook.close();
        await datastore?.close();
      } finally {
        await topo?.destroy();
        rmSync(dir, { recursive: true, force: true });
        if (timings.length) console.log(`truth table timings:\n  ${timings.join('\n  ')}`);
      }
    });

    const explainCli = async (cell: Cell): Promise<boolean> => {
      let out = '';
      const ctx = {
        datastore: async () => datastore!,
        stdout: { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream,
        stderr: { write: () => true } as unknown as NodeJS.WritableStream,
      };
      const cmd = new Command('tortie').exitOverride();
      registerPolicyCommands(cmd, ctx);
      const args = [
        'policy',
        'explain',
        '--from',
        cell.src,
        '--to',
        cell.dst,
        '--protocol',
        cell.proto,
        '-o',
        'json',
      ];
      if (cell.port !== undefined) args.push('--port', String(cell.port));
      await cmd.parseAsync(args, { from: 'user' });
      return (JSON.parse(out) as { allowed: boolean }).allowed;
    };

    /** Programs the scenario and probes every cell, over IPv4 or (dual stack) IPv6. */
    async function runScenario(sc: Scenario, family: 4 | 6 = 4): Promise<void> {
      const t0 = performance.now();
      const resources = [...baseResources({ ipv6: family === 6 }), ...sc.resources];
      const addr = (p: (typeof POD_LIST)[number]) => (family === 6 ? p.ip6 : p.ip);
      await program(resources);
      const t1 = performance.now();
      const model = new ReferenceModel(resources);
      const cells: Cell[] = [];
      const protos: ['tcp' | 'udp' | 'icmp', number | undefined][] = [
        ...SERVE_PORTS.flatMap((port) => [
          ['tcp', port] as ['tcp', number],
          ['udp', port] as ['udp', number],
        ]),
        ...(sc.icmp ? [['icmp', undefined] as ['icmp', undefined]] : []),
      ];
      for (const [proto, port] of protos) {
        for (const s of POD_LIST) {
          for (const d of POD_LIST) {
            const v = evaluatePacket(model, {
              src: addr(s),
              dst: addr(d),
              protocol: proto,
              ...(port ? { port } : {}),
            });
            cells.push({
              src: s.id,
              dst: d.id,
              proto,
              port,
              expected: v.allowed,
              observed: undefined,
            });
          }
        }
      }
      await pool(cells, 96, async (c) => {
        c.observed = await probe(c, TIMEOUT_MS, family);
      });
      // A dropped probe where traffic should pass gets a second, longer chance
      // (unless so many failed that something is plainly broken).
      const retry = cells.filter((c) => c.expected && !c.observed);
      await pool(retry.length <= 40 ? retry : [], 32, async (c) => {
        c.observed = await probe(c, RETRY_TIMEOUT_MS, family);
      });
      const t2 = performance.now();
      // `policy explain`: the pure function on resources read back from the datastore for
      // every cell, the command itself (-o json) for the TCP/80 ones.
      const stored = await loadPolicyResources(datastore!);
      const byId = (id: string) => POD_LIST.find((p) => p.id === id)!;
      for (const c of cells) {
        c.explained = explainFlow(stored, {
          from: family === 6 ? byId(c.src).ip6 : c.src,
          to: family === 6 ? byId(c.dst).ip6 : c.dst,
          protocol: c.proto,
          ...(c.port ? { port: c.port } : {}),
        }).allowed;
      }
      for (const c of cells.filter((x) => family === 4 && x.proto === 'tcp' && x.port === 80)) {
        const viaCli = await explainCli(c);
        assert.equal(
          viaCli,
          c.explained,
          `policy explain command vs function for ${c.src} -> ${c.dst}`,
        );
      }
      const t3 = performance.now();
      timings.push(
        `${`${sc.name}${family === 6 ? ' (IPv6)' : ''}`.padEnd(30)} program ${(t1 - t0).toFixed(0)} ms, ${cells.length} probes ${(t2 - t1).toFixed(0)} ms, explain ${(t3 - t2).toFixed(0)} ms`,
      );
      const pods = POD_LIST.map((p) => p.id);
      const wrong = cells.filter((c) => c.observed !== c.expected);
      assert.equal(
        wrong.length,
        0,
        `${sc.name} (${sc.description}): ${wrong.length} cells differ from the model\n${formatTruthTable(cells, pods)}`,
      );
      const disagree = cells.filter((c) => c.explained !== c.observed);
      assert.equal(
        disagree.length,
        0,
        `${sc.name}: policy explain disagrees with the probes on ${disagree.map((c) => `${c.src}->${c.dst} ${c.proto}/${c.port}`).join(', ')}`,
      );
    }

    for (const sc of SCENARIOS) {
      it(`${sc.name}: ${sc.description}`, { timeout: 60_000 }, () => runScenario(sc));
    }

    // The same scenarios with every workload dual stack, probed over IPv6: IPv6
    // sets, rule variants and anti-spoofing, ICMPv6 (which ICMP rules do not match).
    for (const sc of SCENARIOS) {
      it(`IPv6: ${sc.name}`, { timeout: 60_000 }, () => runScenario(sc, 6));
    }

    it(
      "IPv6: a workload cannot send from another workload's address",
      { timeout: 60_000 },
      async () => {
        await program(baseResources({ ipv6: true }));
        const [xa, xb, yb] = ['x/a', 'x/b', 'y/b'].map((id) => POD_LIST.find((p) => p.id === id)!);
        const netns = topo!.workloads.get('x/a')!.netns;
        const send = (from: string) =>
          agents
            .get('x/a')!
            .probe({ proto: 'tcp', host: yb!.ip6, port: 80, timeoutMs: 1000, localAddress: from });
        try {
          await sh(['ip', '-n', netns, 'addr', 'add', `${xb!.ip6}/128`, 'dev', 'eth0', 'nodad']);
          assert.equal(await send(xa!.ip6), true);
          assert.equal(
            await send(xb!.ip6),
            false,
            "x/a sending as x/b's IPv6 address must be dropped",
          );
        } finally {
          await sh(['ip', '-n', netns, 'addr', 'del', `${xb!.ip6}/128`, 'dev', 'eth0'], {
            check: false,
          });
        }
      },
    );

    it(
      "packets that carry someone else's mark (kube-proxy's 0x4000) are policed the same and keep it",
      { timeout: 90_000 },
      async () => {
        // A table of "someone else's" in each host: marks workload traffic in
        // prerouting, and counts in forward, after Tortie's chain, what it sees.
        const foreign = `inet ${PREFIX}-foreign`;
        const setup = (ctMark: boolean) =>
          [
            `add table ${foreign}`,
            `delete table ${foreign}`,
            `add table ${foreign}`,
            `add chain ${foreign} marking { type filter hook prerouting priority mangle; }`,
            `add rule ${foreign} marking iifname "cali*" meta mark set meta mark | 0x4000${ctMark ? ' ct mark set 0x7' : ''}`,
            `add chain ${foreign} counting { type filter hook forward priority 10; }`,
            `add rule ${foreign} counting iifname "cali*" ct state new meta mark 0x4000 counter comment "kept"`,
            `add rule ${foreign} counting iifname "cali*" ct state new meta mark != 0x4000 counter comment "changed"`,
          ].join('\n') + '\n';
        const hosts = [...topo!.hosts.values()].map((h) => h.netns);
        const nfts = hosts.map((netns) => new ProcessNft({ netns }));
        try {
          for (const nft of nfts) await nft.run(setup(false));
          await runScenario(SCENARIOS.find((s) => s.name === 'allow-from-namespace')!);
          for (const netns of hosts) {
            const counts = await commentCounters(netns, 'inet', `${PREFIX}-foreign`);
            assert.ok((counts['kept'] ?? 0) > 0, `${netns}: allowed new flows kept their mark`);
            assert.equal(
              counts['changed'],
              0,
              `${netns}: no allowed packet left with another mark`,
            );
          }
          // With a conntrack mark of someone else's as well, there is nowhere to
          // keep the packet mark meanwhile: new flows between workloads are dropped, and counted.
          for (const nft of nfts) await nft.run(setup(true));
          for (const { netns } of topo!.hosts.values())
            await sh(['ip', 'netns', 'exec', netns, 'conntrack', '-F'], { check: false });
          const model = new ReferenceModel(current);
          const pair = POD_LIST.flatMap((a) => POD_LIST.map((b) => [a, b] as const)).find(
            ([a, b]) =>
              a !== b &&
              evaluatePacket(model, { src: a.ip, dst: b.ip, protocol: 'tcp', port: 80 }).allowed,
          )!;
          assert.ok(pair, 'the scenario allows some flow');
          assert.equal(
            await agents
              .get(pair[0].id)!
              .probe({ proto: 'tcp', host: pair[1].ip, port: 80, timeoutMs: 500 }),
            false,
            `${pair[0].id} -> ${pair[1].id} is dropped with both marks set`,
          );
          const drops = (await Promise.all(nfts.map((nft) => readCounters(nft))))
            .flat()
            .filter((r) => r.kind === 'packet-mark')
            .reduce((n, r) => n + r.packets, 0);
          assert.ok(drops > 0, 'the drop is counted as a packet-mark drop');
        } finally {
          for (const nft of nfts) {
            await nft.run(`add table ${foreign}\ndelete table ${foreign}\n`);
            nft.close();
          }
        }
      },
    );

    it(
      "a workload cannot send from another workload's address, only from its own and allowSpoofedSourcePrefixes",
      { timeout: 60_000 },
      async () => {
        await program(baseResources());
        const xa = POD_LIST.find((p) => p.id === 'x/a')!;
        const xb = POD_LIST.find((p) => p.id === 'x/b')!;
        const yb = POD_LIST.find((p) => p.id === 'y/b')!;
        assert.equal(xa.node, yb.node, 'the spoofing test wants x/a and y/b on one host');
        const netns = topo!.workloads.get('x/a')!.netns;
        const host = topo!.hosts.get(xa.node)!.netns;
        const nft = new ProcessNft({ netns: host });
        const spoofDrops = async () =>
          (await readCounters(nft))
            .filter((r) => r.kind === 'anti-spoof')
            .reduce((n, r) => n + r.packets, 0);
        try {
          await sh(['ip', '-n', netns, 'addr', 'add', `${xb.ip}/32`, 'dev', 'eth0']);
          await sh(['ip', '-n', netns, 'addr', 'add', '10.88.0.1/32', 'dev', 'eth0']);
          await sh(['ip', '-n', host, 'route', 'add', '10.88.0.1/32', 'dev', xa.iface]);
          const model = new ReferenceModel(current);
          const send = (from: string) =>
            agents
              .get('x/a')!
              .probe({ proto: 'tcp', host: yb.ip, port: 80, timeoutMs: 1000, localAddress: from });
          // Its own address works; x/b's and an unlisted one do not.
          assert.equal(await send(xa.ip), true);
          const before = await spoofDrops();
          assert.equal(
            evaluatePacket(
              model,
              { src: xb.ip, dst: yb.ip, protocol: 'tcp', port: 80 },
              { from: 'x/a' },
            ).allowed,
            false,
          );
          assert.equal(await send(xb.ip), false, "x/a sending as x/b's address must be dropped");
          assert.equal(await send('10.88.0.1'), false);
          assert.ok((await spoofDrops()) > before, 'the anti-spoofing counter counts the drops');
          // allowSpoofedSourcePrefixes lets it use 10.88.0.0/24.
          const spoofable = workload({
            namespace: 'x',
            name: 'a',
            node: xa.node,
            iface: xa.iface,
            ip: xa.ip,
            labels: { pod: 'a' },
            allowSpoofedSourcePrefixes: ['10.88.0.0/24'],
            ports: SERVE_PORTS.flatMap((port) => [
              { name: `serve-${port}-tcp`, protocol: 'TCP', port },
              { name: `serve-${port}-udp`, protocol: 'UDP', port },
            ]),
          });
          await program(
            current.map((r) =>
              r.kind === 'WorkloadEndpoint' &&
              r.metadata.name === 'a' &&
              r.metadata.namespace === 'x'
                ? spoofable
                : r,
            ),
          );
          const allowed = new ReferenceModel(current);
          assert.equal(
            evaluatePacket(
              allowed,
              { src: '10.88.0.1', dst: yb.ip, protocol: 'tcp', port: 80 },
              { from: 'x/a' },
            ).allowed,
            true,
          );
          assert.equal(
            await send('10.88.0.1'),
            true,
            'allowSpoofedSourcePrefixes admits 10.88.0.1',
          );
          assert.equal(await send(xb.ip), false, "still not x/b's address");
        } finally {
          nft.close();
          await sh(['ip', '-n', netns, 'addr', 'del', `${xb.ip}/32`, 'dev', 'eth0'], {
            check: false,
          });
          await sh(['ip', '-n', netns, 'addr', 'del', '10.88.0.1/32', 'dev', 'eth0'], {
            check: false,
          });
          await sh(['ip', '-n', host, 'route', 'del', '10.88.0.1/32'], { check: false });
        }
      },
    );

    it(
      'a workload reaches its own host only as defaultEndpointToHostAction says (Drop by default)',
      { timeout: 60_000 },
      async () => {
        const xa = POD_LIST.find((p) => p.id === 'x/a')!;
        const host = topo!.hosts.get(xa.node)!;
        const file = writeProbeAgent(dir);
        const server = new ProbeAgent(host.netns, file, [8081]);
        try {
          await server.ready;
          const nodes: Resource[] = [...topo!.hosts].map(([name, h]) => ({
            apiVersion: 'projectcalico.org/v3',
            kind: 'Node',
            metadata: { name },
            spec: { bgp: { ipv4Address: `${h.address}/24` } },
          }));
          const toHost = () =>
            agents
              .get('x/a')!
              .probe({ proto: 'tcp', host: host.address, port: 8081, timeoutMs: 800 });
          const predict = () =>
            evaluatePacket(new ReferenceModel(current), {
              src: xa.ip,
              dst: host.address,
              protocol: 'tcp',
              port: 8081,
            }).allowed;
          await program([...baseResources(), ...nodes]);
          assert.equal(predict(), false);
          assert.equal(await toHost(), false, 'Drop: the workload cannot reach its host');
          const accept: Resource = {
            apiVersion: 'projectcalico.org/v3',
            kind: 'FelixConfiguration',
            metadata: { name: 'default' },
            spec: { defaultEndpointToHostAction: 'Accept' },
          };
          await program([...baseResources(), ...nodes, accept]);
          assert.equal(predict(), true);
          assert.equal(await toHost(), true, 'Accept: it can');
        } finally {
          await server.stop();
        }
      },
    );

    it('counters name the rule that drops traffic', { timeout: 60_000 }, async () => {
      const sc = SCENARIOS.find((s) => s.name === 'log-then-allow')!;
      await program([...baseResources(), ...sc.resources]);
      const src = 'y/b';
      const dst = POD_LIST.find((p) => p.id === 'x/c')!;
      const nft = new ProcessNft({ netns: topo!.hosts.get(dst.node)!.netns });
      try {
        const sent = 5;
        for (let i = 0; i < sent; i++) {
          assert.equal(
            await agents.get(src)!.probe({ proto: 'udp', host: dst.ip, port: 81, timeoutMs: 300 }),
            false,
          );
        }
        const rows = await readCounters(nft);
        const deny = rows.find((r) => r.kind === 'rule' && r.name === 'x/log-b' && r.rule === 1);
        const log = rows.find((r) => r.kind === 'rule' && r.name === 'x/log-b' && r.rule === 0);
        assert.ok(deny, `a counter for x/log-b rule 1 in ${JSON.stringify(rows)}`);
        assert.equal(deny.action, 'Deny');
        assert.equal(deny.direction, 'ingress');
        assert.ok(deny.packets >= sent, `deny counted ${deny.packets} packets`);
        assert.equal(log?.action, 'Log');
        assert.ok((log?.packets ?? 0) >= sent);
      } finally {
        nft.close();
      }
    });
  },
);
