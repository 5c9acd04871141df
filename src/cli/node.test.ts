import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { writeStatus, type AgentStatus } from '../agent/status.js';
import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import type { NodeSpec } from '../model/resource.js';
import { formatNodeStatus, registerNodeCommands } from './node.js';

function status(node: string, over: Partial<AgentStatus> = {}): AgentStatus {
  return {
    node,
    pid: 1,
    version: '0.1.0',
    startedAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    live: true,
    ready: true,
    reason: 'ready',
    inSync: true,
    datastore: 'connected',
    hostAddress: '172.31.1.11/24',
    vxlan: { device: true, tunnelAddress: '10.244.0.2', mac: '66:00:00:00:00:01', mtu: 1450 },
    routes: { desired: 4, programmed: 4, pending: 0 },
    endpoints: { total: 2, ready: 2 },
    problems: [],
    failures: [],
    lastApply: undefined,
    lastResync: undefined,
    ...over,
  };
}

describe('tortie node status', () => {
  it('shows every Node, whether its agent runs, and its problems', () => {
    const text = formatNodeStatus(
      [
        { name: 'host1', address: '172.31.1.11/24' },
        { name: 'host2', address: '172.31.1.12/24' },
        { name: 'host10', address: '172.31.1.20/24' },
      ],
      [
        status('host1'),
        status('host2', {
          hostAddress: '172.31.1.12/24',
          ready: false,
          reason: 'dataplane programming failing: x',
          vxlan: { device: false, tunnelAddress: undefined, mac: undefined, mtu: undefined },
          problems: [
            {
              kind: 'ipip-unsupported',
              subject: 'old',
              severity: 'error',
              message: 'IPPool old has ipipMode Always, but this kernel cannot make ipip devices',
            },
          ],
        }),
      ],
    );
    const lines = text.split('\n');
    assert.match(
      lines[0]!,
      /^NODE\s+ADDRESS\s+AGENT\s+DATASTORE\s+ROUTES\s+ENDPOINTS\s+VXLAN\s+UPDATED$/,
    );
    assert.match(
      lines[1]!,
      /^host1\s+172\.31\.1\.11\/24\s+ready\s+connected\s+4\/4\s+2\/2\s+10\.244\.0\.2 66:00:00:00:00:01\s+\d+s ago$/,
    );
    assert.match(lines[2]!, /^host2\s+172\.31\.1\.12\/24\s+not ready/);
    assert.match(lines[3]!, /^host10\s+172\.31\.1\.20\/24\s+no agent/);
    assert.match(text, /host2: not ready: dataplane programming failing: x/);
    assert.match(text, /host2: error ipip-unsupported: IPPool old has ipipMode Always/);
  });

  it('reads Nodes and agent reports from the datastore', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tortie-node-cli-'));
    const ds = await openDatastore(`sqlite:${join(dir, 'ds.db')}`);
    try {
      await new ResourceStore(ds).create<NodeSpec>({
        apiVersion: 'projectcalico.org/v3',
        kind: 'Node',
        metadata: { name: 'host1' },
        spec: { bgp: { ipv4Address: '172.31.1.11/24' } },
      });
      await writeStatus(ds, status('host1'));
      const out = new PassThrough();
      let text = '';
      out.on('data', (b: Buffer) => (text += b.toString()));
      const program = new Command('tortie').exitOverride();
      registerNodeCommands(program, { stdout: out, stderr: out, datastore: async () => ds });
      await program.parseAsync(['node', 'status', '-o', 'json'], { from: 'user' });
      const parsed = JSON.parse(text) as AgentStatus[];
      assert.deepEqual(
        parsed.map((s) => [s.node, s.ready]),
        [['host1', true]],
      );
      await assert.rejects(
        program.parseAsync(['node', 'status', '--name', 'nope'], { from: 'user' }),
        /no Node "nope"/,
      );
    } finally {
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
