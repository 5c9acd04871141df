import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { block, endpoint, node, pool } from '../calc/test-support/states.js';
import { fakeHost, type FakeKernel } from '../dataplane/test-support/fake-kernel.js';
import { VXLAN_DEVICE } from '../dataplane/vxlan-manager.js';
import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import type { Datastore } from '../datastore/types.js';
import type { IPPoolSpec, NodeSpec } from '../model/resource.js';
import { Agent, type AgentConfig } from './agent.js';
import { chooseHostAddress, parseAutodetectMethod, parseHostAddress } from './autodetect.js';
import {
  checkNameFree,
  registerNode,
  reconcileTunnelAddress,
  tunnelHandle,
} from './registration.js';
import { readStatuses, statusKey } from './status.js';
import { Syncer } from './syncer.js';
import { Ipam } from '../ipam/allocator.js';
import type { KvUpdate } from '../calc/types.js';

const quiet = pino({ level: 'silent' });

async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function hostKernel(): FakeKernel {
  const k = fakeHost();
  k.addLink('cali0000000001');
  k.sysctls.set('net.ipv4.ip_forward', '0');
  return k;
}

async function seed(ds: Datastore, ...parts: [string, string][][]): Promise<void> {
  for (const part of parts) for (const [key, value] of part) await ds.create(key, value);
}

describe('agent with a fake kernel', () => {
  let dir: string;
  let ds: Datastore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-agent-'));
    ds = await openDatastore(`sqlite:${join(dir, 'ds.db')}`);
  });
  after(async () => {
    await ds.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (over: Partial<AgentConfig> = {}): AgentConfig => ({
    nodeName: 'host1',
    hostAddress: { address: '172.31.1.11', prefixLength: 24, iface: 'eth0' },
    autodetect: { kind: 'first-found' },
    healthPort: 0,
    metricsPort: 0,
    resyncIntervalMs: 0,
    watchLinks: false,
    ...over,
  });

  it('registers, syncs, programs, and serves health, metrics and status', async () => {
    await seed(
      ds,
      pool('p1', '10.244.0.0/16', { natOutgoing: true }),
      node('host2', '172.31.1.12/24'),
      block('10.244.0.0/26', 'host1', { 0: ['k8s.a', 'host1'] }),
      block('10.244.0.64/26', 'host2', { 0: ['k8s.b', 'host2'] }),
      endpoint('default', 'w1', 'host1', 'cali0000000001', ['10.244.0.0/32']),
    );
    const kernel = hostKernel();
    const agent = new Agent(config(), { datastore: ds, kernel, log: quiet });
    const readiness = async () =>
      (await fetch(`http://127.0.0.1:${agent.healthPort}/readiness`)).status;
    try {
      await agent.start();
      await until(async () => (await readiness()) === 200);
      assert.deepEqual(kernel.ourRoutes(), [
        '10.244.0.0/32 dev cali0000000001 scope link',
        '10.244.0.64/26 via 172.31.1.12 dev eth0',
        'blackhole 10.244.0.0/26',
      ]);
      assert.equal(kernel.sysctls.get('net.ipv4.ip_forward'), '1', 'forwarding turned on');
      const mine = await new ResourceStore(ds).get<NodeSpec>('Node', 'host1');
      assert.equal(
        mine?.spec?.bgp?.ipv4Address,
        '172.31.1.11/24',
        'the Node records the real prefix length',
      );
      assert.equal((await fetch(`http://127.0.0.1:${agent.healthPort}/liveness`)).status, 200);

      // A change in the datastore reaches the kernel.
      await seed(ds, block('10.244.0.128/26', 'host2', { 0: ['k8s.c', 'host2'] }));
      await until(() => kernel.routesByDst.has('10.244.0.128/26'));
      const metrics = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
      assert.match(metrics, /tortie_agent_routes_programmed 4/);
      assert.match(metrics, /tortie_agent_sync_latency_seconds_count [1-9]/);
      assert.match(metrics, /tortie_agent_ready 1/);
      await until(async () =>
        (await readStatuses(ds)).some(
          (s) => s.node === 'host1' && s.ready && s.routes.desired === 4,
        ),
      );
    } finally {
      await agent.stop();
    }
  });

  it('reports not ready when programming fails, and not live once it keeps failing', async () => {
    const kernel = hostKernel();
    kernel.failing = /10\.244\.0\.64/;
    const agent = new Agent(config({ nodeName: 'host1', failureTimeoutMs: 300 }), {
      datastore: ds,
      kernel,
      log: quiet,
    });
    try {
      await agent.start();
      await until(
        () => agent.notReadyReason()?.startsWith('dataplane programming failing') === true,
      );
      const r = await fetch(`http://127.0.0.1:${agent.healthPort}/readiness`);
      assert.equal(r.status, 503);
      assert.match(((await r.json()) as { reason: string }).reason, /10.244.0.64\/26/);
      await until(
        async () => (await fetch(`http://127.0.0.1:${agent.healthPort}/liveness`)).status === 503,
        10_000,
      );
      kernel.failing = undefined;
      await until(() => agent.notReadyReason() === undefined, 10_000);
      assert.equal(agent.liveness().ok, true);
    } finally {
      await agent.stop();
    }
  });

  it('allocates its VXLAN tunnel address when a pool turns VXLAN on, and makes the device', async () => {
    const kernel = hostKernel();
    const agent = new Agent(config(), { datastore: ds, kernel, log: quiet });
    try {
      await agent.start();
      await until(() => agent.notReadyReason() === undefined);
      const store = new ResourceStore(ds);
      const p = (await store.get<IPPoolSpec>('IPPool', 'p1'))!;
      p.spec!.vxlanMode = 'Always';
      await store.update(p);
      await until(() => kernel.linksByName.has(VXLAN_DEVICE));
      const mine = (await store.get<NodeSpec>('Node', 'host1'))!;
      assert.ok(
        mine.spec?.ipv4VXLANTunnelAddr?.startsWith('10.244.'),
        'tunnel address from the pool',
      );
      assert.match(mine.spec?.vxlanTunnelMACAddr ?? '', /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      const dev = kernel.linksByName.get(VXLAN_DEVICE)!;
      assert.equal(dev.mac, mine.spec!.vxlanTunnelMACAddr);
      assert.ok(
        kernel.addrs.some(
          (a) => a.dev === VXLAN_DEVICE && a.address === mine.spec!.ipv4VXLANTunnelAddr,
        ),
      );
      p.spec!.vxlanMode = 'Never';
      await store.update({ ...p, metadata: { ...p.metadata, resourceVersion: undefined } });
      await until(() => !kernel.linksByName.has(VXLAN_DEVICE));
      await until(
        async () => !(await store.get<NodeSpec>('Node', 'host1'))?.spec?.ipv4VXLANTunnelAddr,
      );
    } finally {
      await agent.stop();
    }
  });
  it('runs extensions beside its managers: their prefixes watched, applied before the routes, resynced', async () => {
    const kernel = hostKernel();
    const seen: string[] = [];
    let applies = 0;
    let routesAtFirstApply = -1;
    let dirty = false;
    let resyncs = 0;
    const hook = {
      onUpdates(updates: readonly KvUpdate[]) {
        const mine = updates.filter((u) => u.key.startsWith('/ext/'));
        seen.push(...mine.map((u) => u.key));
        if (mine.length > 0) dirty = true;
        return mine.length > 0;
      },
      get dirty() {
        return dirty;
      },
      resync() {
        resyncs++;
        dirty = true;
      },
      async apply() {
        if (routesAtFirstApply < 0) routesAtFirstApply = kernel.ourRoutes().length;
        applies++;
        dirty = false;
        return [];
      },
    };
    const agent = new Agent(config(), {
      datastore: ds,
      kernel,
      log: quiet,
      extensions: [{ name: 'ext', prefixes: ['/ext/'], hook }],
    });
    try {
      await ds.create('/ext/a', '1');
      await agent.start();
      await until(() => agent.notReadyReason() === undefined && applies > 0);
      assert.deepEqual(seen, ['/ext/a']);
      assert.equal(routesAtFirstApply, 0, 'applied before the first routes went in');
      assert.ok(resyncs >= 1);
      await ds.create('/ext/b', '2');
      await until(() => seen.includes('/ext/b') && !dirty);
    } finally {
      await agent.stop();
    }
  });
});

describe('Node registration', () => {
  let dir: string;
  let ds: Datastore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-reg-'));
    ds = await openDatastore(`sqlite:${join(dir, 'ds.db')}`);
  });
  after(async () => {
    await ds.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the Node, updates only what changed, and refuses an address another Node has', async () => {
    const created = await registerNode(ds, 'a', {
      address: '10.0.0.1',
      prefixLength: 24,
      iface: undefined,
    });
    assert.equal(created.spec?.bgp?.ipv4Address, '10.0.0.1/24');
    const again = await registerNode(ds, 'a', {
      address: '10.0.0.1',
      prefixLength: 24,
      iface: undefined,
    });
    assert.equal(
      again.metadata.resourceVersion,
      created.metadata.resourceVersion,
      'no write when nothing changed',
    );
    const moved = await registerNode(ds, 'a', {
      address: '10.0.0.2',
      prefixLength: 16,
      iface: undefined,
    });
    assert.deepEqual(moved.spec?.addresses, [{ address: '10.0.0.2/16', type: 'CalicoNodeIP' }]);
    await assert.rejects(
      registerNode(ds, 'b', { address: '10.0.0.2', prefixLength: 16, iface: undefined }),
      /Node a already uses address 10.0.0.2/,
    );
  });

  it('refuses a name a live agent at another address reports under', async () => {
    const now = Date.now();
    await ds.create(
      statusKey('c'),
      JSON.stringify({
        node: 'c',
        hostAddress: '10.0.0.3/24',
        updatedAt: new Date(now - 5000).toISOString(),
      }),
    );
    await checkNameFree(ds, 'c', { address: '10.0.0.3', prefixLength: 24, iface: undefined }, now);
    await assert.rejects(
      checkNameFree(ds, 'c', { address: '10.0.0.4', prefixLength: 24, iface: undefined }, now),
      /in use by a live agent at 10.0.0.3/,
    );
    await checkNameFree(
      ds,
      'c',
      { address: '10.0.0.4', prefixLength: 24, iface: undefined },
      now + 120_000,
    );
  });

  it('keeps one tunnel address per node across reconciles, and releases it when no pool wants it', async () => {
    const store = new ResourceStore(ds);
    await store.apply<IPPoolSpec>({
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: 'vx' },
      spec: { cidr: '10.9.0.0/16', vxlanMode: 'Always' },
    });
    const ipam = new Ipam(ds);
    const first = await reconcileTunnelAddress(ds, ipam, 'a', ['vx']);
    assert.ok(first.changed && first.address?.startsWith('10.9.'));
    const second = await reconcileTunnelAddress(ds, ipam, 'a', ['vx']);
    assert.deepEqual(second, { address: first.address, mac: first.mac, changed: false });
    assert.deepEqual(await ipam.ipsByHandle(tunnelHandle('a')), [first.address]);
    const off = await reconcileTunnelAddress(ds, ipam, 'a', []);
    assert.equal(off.address, undefined);
    assert.deepEqual(await ipam.ipsByHandle(tunnelHandle('a')), []);
  });
});

describe('syncer', () => {
  it('lists, then watches; deletions come out as undefined values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tortie-sync-'));
    const ds = await openDatastore(`sqlite:${join(dir, 'ds.db')}`);
    const got: KvUpdate[] = [];
    let inSync = false;
    const syncer = new Syncer(ds, ['/a/', '/b/'], {
      onUpdates: (u) => got.push(...u),
      onInSync: () => (inSync = true),
      onConnectivity: () => undefined,
    });
    try {
      await ds.create('/a/1', 'one');
      syncer.start();
      await until(() => inSync);
      assert.deepEqual(got, [{ key: '/a/1', value: 'one' }]);
      await ds.create('/b/2', 'two');
      await ds.create('/c/3', 'ignored');
      await ds.delete('/a/1');
      await until(() => got.length === 3);
      assert.deepEqual(got.slice(1), [
        { key: '/b/2', value: 'two' },
        { key: '/a/1', value: undefined },
      ]);
    } finally {
      await syncer.stop();
      await ds.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('host address', () => {
  const addrs = [
    { dev: 'lo', family: 4 as const, address: '127.0.0.1', prefixLength: 8, scope: 'host' },
    {
      dev: 'cali123',
      family: 4 as const,
      address: '169.254.1.1',
      prefixLength: 32,
      scope: 'global',
    },
    { dev: 'eth0', family: 4 as const, address: '172.31.1.11', prefixLength: 24, scope: 'global' },
    { dev: 'eth1', family: 4 as const, address: '192.168.5.3', prefixLength: 22, scope: 'global' },
  ];
  it('finds it the ways calico-node does, keeping the real prefix length', () => {
    const pick = (m: string, src?: string) => {
      const a = chooseHostAddress(addrs, parseAutodetectMethod(m), src);
      return a && `${a.address}/${a.prefixLength} ${a.iface}`;
    };
    assert.equal(pick('first-found'), '172.31.1.11/24 eth0');
    assert.equal(pick('interface=^eth1$'), '192.168.5.3/22 eth1');
    assert.equal(pick('skip-interface=eth0'), '192.168.5.3/22 eth1');
    assert.equal(pick('cidr=192.168.0.0/16'), '192.168.5.3/22 eth1');
    assert.equal(pick('can-reach=192.168.4.1', '192.168.5.3'), '192.168.5.3/22 eth1');
    assert.equal(pick('interface=^wlan'), undefined);
  });
  it('rejects bad flags with the forms it takes', () => {
    assert.throws(() => parseAutodetectMethod('nearest'), /first-found, interface=REGEX/);
    assert.throws(() => parseAutodetectMethod('can-reach=nowhere'), /not an IP address/);
    assert.throws(() => parseHostAddress('10.0.0.1'), /prefix length/);
    assert.deepEqual(parseHostAddress('10.0.0.1/24'), {
      address: '10.0.0.1',
      prefixLength: 24,
      iface: undefined,
    });
  });
});
