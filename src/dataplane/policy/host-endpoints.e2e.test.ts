// Host endpoint policy stages with real traffic: a host endpoint on host 1's
// uplink (eth1, towards host 2), and flows from host 2 (its own processes and
// its workload) to host 1's processes and workload, and back out. Each case
// states what Calico's host endpoint semantics say of every flow:
//
//   normal          to the host's processes only; default deny once a policy applies
//   applyOnForward  also to traffic forwarded through the interface; allowed
//                   where no such policy applies to the direction
//   preDNAT         arriving traffic before DNAT, wherever it goes; Allow skips the
//                   normal policy of traffic to the host; no default deny
//   doNotTrack      raw, without conntrack; Allow skips the later stages for
//                   traffic to the host; no default deny

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PolicyCalc } from '../../calc/policy/calc.js';
import { describeVerdict, evaluatePacket, ReferenceModel } from '../../calc/policy/reference.js';
import {
  globalPolicy,
  hostEndpoint,
  namespaceProfile,
  workload,
} from '../../calc/policy/test-support/fixtures.js';
import type { Resource } from '../../model/resource.js';
import { readCounters } from './counters.js';
import { interfaceAddresses } from './interfaces.js';
import { PolicyManager } from './manager.js';
import { ProcessNft } from './nft.js';
import { ProbeAgent, writeProbeAgent } from './test-support/probe-agent.js';
import { buildTopology, sh, uniquePrefix, type Topology } from './test-support/topology.js';

const root = process.getuid?.() === 0;
const PREFIX = uniquePrefix('tph');
const NODES = ['hep-h1', 'hep-h2'] as const;
const XA = { id: 'x/a', ip: '10.78.1.1', node: NODES[0], iface: 'calixa0' };
const YB = { id: 'y/b', ip: '10.78.2.1', node: NODES[1], iface: 'caliyb0' };

/** The flows probed, all TCP. */
const FLOWS = {
  'h2 -> h1:8081': { from: 'h2', to: 'h1', port: 8081 },
  'h2 -> h1:8082': { from: 'h2', to: 'h1', port: 8082 },
  'y/b -> x/a:80 (in through eth1)': { from: 'y/b', to: 'x/a', port: 80 },
  'y/b -> x/a:81 (in through eth1)': { from: 'y/b', to: 'x/a', port: 81 },
  'x/a -> y/b:80 (out through eth1)': { from: 'x/a', to: 'y/b', port: 80 },
} as const;
type Flow = keyof typeof FLOWS;

const UPLINK = { hep: 'uplink' };
/** With hostIn alone: the host's processes take 8081 only; forwarded traffic is not its business. */
const NORMAL_ONLY: Record<Flow, boolean> = {
  'h2 -> h1:8081': true,
  'h2 -> h1:8082': false,
  'y/b -> x/a:80 (in through eth1)': true,
  'y/b -> x/a:81 (in through eth1)': true,
  'x/a -> y/b:80 (out through eth1)': true,
};
const fwdIn = globalPolicy('fwd-in', {
  selector: "hep == 'uplink'",
  applyOnForward: true,
  ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }],
  types: ['Ingress'],
});
/** With hostIn and fwdIn: forwarded traffic arriving on the interface takes port 80 only. */
const FORWARD_IN_80: Record<Flow, boolean> = {
  ...NORMAL_ONLY,
  'y/b -> x/a:81 (in through eth1)': false,
  // No applyOnForward egress policy: forwarded egress stays open.
  'x/a -> y/b:80 (out through eth1)': true,
};
const hostIn = globalPolicy('host-in', {
  selector: "hep == 'uplink'",
  ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [8081] } }],
  egress: [{ action: 'Allow' }],
  types: ['Ingress', 'Egress'],
});

describe('host endpoint policy stages (real traffic)', { skip: !root && 'needs root' }, () => {
  let topo: Topology | undefined;
  let dir: string;
  const agents = new Map<string, ProbeAgent>();
  let calc: PolicyCalc;
  let manager: PolicyManager;
  let nft: ProcessNft;
  let current: Resource[] = [];

  function base(): Resource[] {
    return [
      namespaceProfile('x', {}),
      namespaceProfile('y', {}),
      workload({ namespace: 'x', name: 'a', node: XA.node, iface: XA.iface, ip: XA.ip }),
      workload({ namespace: 'y', name: 'b', node: YB.node, iface: YB.iface, ip: YB.ip }),
      hostEndpoint(
        'h1-eth1',
        { node: NODES[0], interfaceName: 'eth1', expectedIPs: ['10.99.0.1'] },
        UPLINK,
      ),
    ];
  }

  async function program(resources: Resource[]): Promise<void> {
    const key = (r: Resource) => `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;
    const next = new Set(resources.map(key));
    for (const r of current) if (!next.has(key(r))) calc.onResource(r, true);
    for (const r of resources) calc.onResource(r);
    current = resources;
    // As the agent's hook does: which interface holds host endpoints' expectedIPs.
    if (calc.needsInterfaceAddresses)
      calc.setInterfaceAddresses(await interfaceAddresses(topo!.hosts.get(NODES[0])!.netns));
    manager.onUpdates(calc.drain());
    assert.deepEqual((await manager.apply()).failures, []);
    await sh(['ip', 'netns', 'exec', topo!.hosts.get(NODES[0])!.netns, 'conntrack', '-F'], {
      check: false,
    });
  }

  async function probeAll(): Promise<Record<Flow, boolean>> {
    const address: Record<string, string> = { h1: '10.99.0.1', 'x/a': XA.ip, 'y/b': YB.ip };
    const out = {} as Record<Flow, boolean>;
    for (const [name, f] of Object.entries(FLOWS) as [Flow, (typeof FLOWS)[Flow]][]) {
      out[name] = await agents
        .get(f.from)!
        .probe({ proto: 'tcp', host: address[f.to]!, port: f.port, timeoutMs: 800 });
    }
    return out;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-hep-'));
    topo = await buildTopology(PREFIX, NODES, [XA, YB]);
    const file = writeProbeAgent(dir);
    const h = (n: 0 | 1) => topo!.hosts.get(NODES[n])!.netns;
    agents.set('h1', new ProbeAgent(h(0), file, [8081, 8082]));
    agents.set('h2', new ProbeAgent(h(1), file, [9999]));
    agents.set('x/a', new ProbeAgent(topo.workloads.get('x/a')!.netns, file, [80, 81]));
    agents.set('y/b', new ProbeAgent(topo.workloads.get('y/b')!.netns, file, [80]));
    await Promise.all([...agents.values()].map((a) => a.ready));
    calc = new PolicyCalc({ nodeName: NODES[0] });
    nft = new ProcessNft({ netns: h(0) });
    manager = new PolicyManager(nft);
  });

  after(async () => {
    try {
      await Promise.all([...agents.values()].map((a) => a.stop()));
      nft?.close();
    } finally {
      await topo?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const expectFlows = async (
    want: Record<Flow, boolean>,
    what: string,
    opts: { explainForwarded?: boolean } = {},
  ) => {
    assert.deepEqual(await probeAll(), want, what);
    // `policy explain` agrees on every flow: to the host's processes by the
    // host endpoint's address, forwarded ones told the interface they cross.
    const address: Record<string, string> = {
      h1: '10.99.0.1',
      h2: '10.99.0.2',
      'x/a': XA.ip,
      'y/b': YB.ip,
    };
    const model = new ReferenceModel(current);
    for (const [name, f] of Object.entries(FLOWS) as [Flow, (typeof FLOWS)[Flow]][]) {
      if (opts.explainForwarded === false && f.to !== 'h1') continue;
      const v = evaluatePacket(
        model,
        { src: address[f.from]!, dst: address[f.to]!, protocol: 'tcp', port: f.port },
        { inInterface: 'eth1', outInterface: 'eth1' },
      );
      assert.equal(
        v.allowed,
        want[name],
        `${what}: explain of ${name}: ${describeVerdict(v).join('; ')}`,
      );
    }
  };

  it('normal policy: the host processes only, default deny; forwarded traffic untouched', async () => {
    await program(base());
    await expectFlows(
      {
        // As in Calico: a host endpoint without policy or profile denies all but failsafes.
        'h2 -> h1:8081': false,
        'h2 -> h1:8082': false,
        'y/b -> x/a:80 (in through eth1)': true,
        'y/b -> x/a:81 (in through eth1)': true,
        'x/a -> y/b:80 (out through eth1)': true,
      },
      'a host endpoint no policy selects',
    );
    await program([...base(), hostIn]);
    await expectFlows(NORMAL_ONLY, 'normal host endpoint policy');
  });

  it('applyOnForward: forwarded traffic through the interface too, where such a policy applies', async () => {
    await program([...base(), hostIn, fwdIn]);
    await expectFlows(FORWARD_IN_80, 'applyOnForward ingress policy');
    // Only the forwarded flow to port 80 matches fwd-in's rule: counted by the forward chain.
    const rows = await readCounters(nft);
    const rule = rows.find((r) => r.kind === 'rule' && r.name === 'fwd-in' && r.rule === 0);
    assert.ok((rule?.packets ?? 0) > 0, `fwd-in rule 0 counted: ${JSON.stringify(rule)}`);
  });

  it('preDNAT: arriving traffic wherever it goes; Allow skips normal policy; no default deny', async () => {
    const pre = globalPolicy('pre', {
      selector: "hep == 'uplink'",
      preDNAT: true,
      applyOnForward: true,
      ingress: [
        { action: 'Deny', protocol: 'TCP', destination: { ports: [80] } },
        { action: 'Allow', protocol: 'TCP', destination: { ports: [8082] } },
      ],
      types: ['Ingress'],
    });
    await program([...base(), hostIn, pre]);
    await expectFlows(
      {
        'h2 -> h1:8081': true,
        // Normal policy would deny it; preDNAT's Allow skips normal policy.
        'h2 -> h1:8082': true,
        'y/b -> x/a:80 (in through eth1)': false,
        'y/b -> x/a:81 (in through eth1)': true,
        'x/a -> y/b:80 (out through eth1)': true,
      },
      'preDNAT policy',
    );
  });

  it('interfaceName "*": every interface but loopback and workloads\'', async () => {
    const star = hostEndpoint(
      'h1-all',
      { node: NODES[0], interfaceName: '*', expectedIPs: ['10.99.0.1'] },
      UPLINK,
    );
    await program([...base().filter((r) => r.kind !== 'HostEndpoint'), star, hostIn, fwdIn]);
    await expectFlows(FORWARD_IN_80, 'all-interfaces host endpoint');
    // Loopback is not policed: the host still reaches its own processes.
    assert.equal(
      await agents
        .get('h1')!
        .probe({ proto: 'tcp', host: '127.0.0.1', port: 8082, timeoutMs: 800 }),
      true,
    );
    // Back to the interface's own host endpoint: the "*" chains are emptied.
    await program([...base(), hostIn]);
    await expectFlows(NORMAL_ONLY, 'the interface host endpoint again');
  });

  it('a host endpoint with expectedIPs and no interfaceName is the interface holding them', async () => {
    const byAddress = hostEndpoint(
      'h1-by-address',
      { node: NODES[0], expectedIPs: ['10.99.0.1'] },
      UPLINK,
    );
    await program([...base().filter((r) => r.kind !== 'HostEndpoint'), byAddress, hostIn, fwdIn]);
    assert.equal(manager.state.endpoints.get('eth1')?.key, 'h1-by-address');
    // explain cannot tell which interface holds the address: host traffic only.
    await expectFlows(FORWARD_IN_80, 'host endpoint found by its address', {
      explainForwarded: false,
    });
  });

  it('doNotTrack: raw, without conntrack; Allow skips the later stages; no default deny', async () => {
    const raw = globalPolicy('raw', {
      selector: "hep == 'uplink'",
      doNotTrack: true,
      applyOnForward: true,
      ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [8082] } }],
      egress: [{ action: 'Allow', protocol: 'TCP', source: { ports: [8082] } }],
      types: ['Ingress', 'Egress'],
    });
    await program([...base(), hostIn, raw]);
    await expectFlows(
      {
        'h2 -> h1:8081': true,
        'h2 -> h1:8082': true,
        'y/b -> x/a:80 (in through eth1)': true,
        'y/b -> x/a:81 (in through eth1)': true,
        'x/a -> y/b:80 (out through eth1)': true,
      },
      'doNotTrack policy',
    );
    const { stdout } = await sh([
      'ip',
      'netns',
      'exec',
      topo!.hosts.get(NODES[0])!.netns,
      'conntrack',
      '-L',
      '-p',
      'tcp',
    ]);
    assert.doesNotMatch(stdout, /dport=8082/, 'the untracked flow left no conntrack entry');
    assert.match(stdout, /dport=8081/, 'the tracked one did');
  });
});
