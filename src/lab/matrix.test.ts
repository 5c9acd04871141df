import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  endpointsOf,
  expectation,
  formatMatrix,
  formatSummary,
  plannedProbes,
  reachContext,
  summarize,
  type Probe,
} from './matrix.js';
import { sampleState } from './test-support/fixtures.js';

describe('reachability matrix', () => {
  const state = sampleState();
  const endpoints = endpointsOf(state);
  const byName = (n: string) => endpoints.find((e) => e.name === n)!;

  it('lists hosts (underlay address) then workloads (first IPv4)', () => {
    assert.deepEqual(
      endpoints.map((e) => `${e.kind}:${e.name}@${e.address} on ${e.host}`),
      [
        'host:host1@172.31.1.11 on host1',
        'host:host2@172.31.1.12 on host2',
        'workload:host1-w1@10.244.0.0 on host1',
        'workload:host1-w2@10.244.0.1 on host1',
        'workload:host2-w1@10.244.0.64 on host2',
        'workload:host2-w2@10.244.0.65 on host2',
      ],
    );
  });

  it('without host agents: same-host pairs and host-to-host pairs must reach; cross-host workload pairs wait', () => {
    const ctx = reachContext(state);
    assert.equal(ctx.crossHostRouting, false);
    assert.equal(expectation(byName('host1-w1'), byName('host1-w2'), ctx), 'reach');
    assert.equal(expectation(byName('host1-w1'), byName('host1'), ctx), 'reach');
    assert.equal(expectation(byName('host1'), byName('host1-w2'), ctx), 'reach');
    assert.equal(expectation(byName('host1'), byName('host2'), ctx), 'reach');
    assert.equal(expectation(byName('host1-w1'), byName('host2-w1'), ctx), 'needs-agent');
    assert.equal(expectation(byName('host1-w1'), byName('host2'), ctx), 'needs-agent');
    assert.equal(expectation(byName('host2'), byName('host1-w1'), ctx), 'needs-agent');

    const planned = plannedProbes(endpoints, ctx);
    assert.equal(planned.length, 6 * 5);
    assert.equal(planned.filter((p) => p.expected === 'reach').length, 14);
    assert.equal(planned.filter((p) => p.expected === 'needs-agent').length, 16);
  });

  it('expects every pair to reach once every host runs an agent, and only then', () => {
    const agent = (host: string) => ({
      name: `agent-${host}`,
      role: 'agent',
      host,
      netns: `tl-demo-${host}`,
      argv: ['tortie', 'node', 'run'],
      pid: 1,
      startTime: '1',
      pidfile: '/x',
      log: '/y',
    });
    const one = { ...state, processes: [agent('host1')] };
    assert.equal(reachContext(one).crossHostRouting, false);
    const both = { ...state, processes: [agent('host1'), agent('host2')] };
    assert.equal(reachContext(both).crossHostRouting, true);
    assert.ok(plannedProbes(endpoints, reachContext(both)).every((p) => p.expected === 'reach'));
  });

  it('summarizes: failures are expected pairs without a reply', () => {
    const probes: Probe[] = plannedProbes(endpoints, reachContext(state)).map((p) => ({
      ...p,
      reached: p.expected === 'reach' && !(p.from === 'host1-w1' && p.to === 'host1-w2'),
    }));
    const summary = summarize(probes);
    assert.equal(summary.expected, 14);
    assert.equal(summary.expectedReached, 13);
    assert.deepEqual(
      summary.failures.map((f) => `${f.from}->${f.to}`),
      ['host1-w1->host1-w2'],
    );
    assert.equal(summary.pending, 16);
    assert.equal(summary.pendingReached, 0);

    const text = formatMatrix(endpoints, probes);
    assert.equal(
      text,
      [
        'from \\ to                  1  2  3  4  5  6',
        ' 1 host1 (172.31.1.11)     -  ✓  ✓  ✓  ·  ·',
        ' 2 host2 (172.31.1.12)     ✓  -  ·  ·  ✓  ✓',
        ' 3 host1-w1 (10.244.0.0)   ✓  ·  -  ✗  ·  ·',
        ' 4 host1-w2 (10.244.0.1)   ✓  ·  ✓  -  ·  ·',
        ' 5 host2-w1 (10.244.0.64)  ·  ✓  ·  ·  -  ✓',
        ' 6 host2-w2 (10.244.0.65)  ·  ✓  ·  ·  ✓  -',
        '',
      ].join('\n'),
    );
    const lines = formatSummary(summary);
    assert.match(lines, /expected: 13\/14 pairs reach/);
    assert.match(lines, /cross-host workload pairs: 0\/16 reach/);
    assert.match(lines, /FAIL host1-w1 -> host1-w2/);
  });
});
