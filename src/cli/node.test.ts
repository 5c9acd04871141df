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

  it('shows BGP like calicoctl node status: peers with type, state, since, info; the routes learned', () => {
    const since = new Date().toISOString();
    const peer = {
      port: 179,
      passive: false,
      routeReflectorClient: false,
      since,
      prefixesReceived: 1,
      prefixesAccepted: 1,
      prefixesStale: 0,
      prefixesAdvertised: 1,
      gracefulRestart: true,
    };
    const text = formatNodeStatus(
      [],
      [
        status('host2', {
          bgp: {
            enabled: true,
            running: true,
            asn: 65001,
            routerId: '172.31.1.12',
            clusterId: undefined,
            listening: '172.31.1.12:179',
            restarting: false,
            peers: [
              {
                ...peer,
                address: '172.31.1.11',
                asn: 65001,
                type: 'rr',
                source: 'BGPPeer rack1-to-reflector',
                state: 'Established',
                info: 'Established',
              },
              {
                ...peer,
                address: '172.31.9.9',
                asn: 65009,
                type: 'node',
                source: 'BGPPeer tor',
                state: 'Idle',
                since: new Date(0).toISOString(),
                info: 'TCP MD5 is not available',
              },
            ],
            originated: 1,
            learned: [
              {
                prefix: '10.244.1.0/26',
                nextHop: '172.31.2.13',
                via: '172.31.1.11',
                peer: '172.31.1.11',
                stale: false,
              },
              {
                prefix: '10.250.0.0/26',
                nextHop: '172.31.1.13',
                via: undefined,
                peer: '172.31.1.11',
                stale: true,
                skipped: 'in encapsulated pool 10.250.0.0/16: routed by the calculation',
              },
            ],
            learnedCount: 2,
            retained: 0,
            errors: ['peer 172.31.9.9: TCP MD5 is not available'],
          },
        }),
      ],
    );
    assert.match(text, /host2: BGP speaker running, AS 65001, router id 172\.31\.1\.12/);
    assert.match(text, /\| PEER ADDRESS \| +PEER TYPE +\| STATE \| +SINCE +\| +INFO +\|/);
    assert.match(
      text,
      /\| 172\.31\.1\.11 +\| route reflector \| up +\| \d\d:\d\d:\d\d \| Established +\|/,
    );
    assert.match(
      text,
      /\| 172\.31\.9\.9 +\| node specific +\| down +\| - +\| Idle TCP MD5 is not available \|/,
    );
    assert.match(text, /IPv4 routes learned \(2\), 1 originated/);
    assert.match(
      text,
      /\| 10\.244\.1\.0\/26 +\| 172\.31\.2\.13 \| 172\.31\.1\.11 +\| via 172\.31\.1\.11/,
    );
    assert.match(text, /172\.31\.1\.11 \(stale\) \| in encapsulated pool/);
    assert.match(text, /error: peer 172\.31\.9\.9: TCP MD5 is not available/);
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
