// End to end, as root: the real executables (bin/tortie-cni, bin/tortie-ipam,
// built into dist/) run inside a namespace that plays the host, against a
// temporary SQLite datastore. Workloads are namespaces of ours; nothing here
// touches the machine's own network namespace.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ipam } from '../ipam/allocator.js';
import type { WorkloadEndpointSpec } from '../model/resource.js';
import { buildFastClient } from './native.js';
import { hostIfaceName } from './naming.js';
import {
  Lab,
  TORTIE_CNI_BIN,
  TORTIE_IPAM_BIN,
  cniEnv,
  isRoot,
  sh,
  type PluginRun,
} from './test-support/harness.js';

const skip = !isRoot()
  ? 'needs root'
  : !existsSync(join(TORTIE_CNI_BIN, '../../dist/cni/main.js'))
    ? 'run npm run build first'
    : false;

describe('tortie CNI plugin (root, namespaces)', { skip, concurrency: false }, () => {
  let lab: Lab;
  let host = '';
  let ipam: Ipam;
  const NODE = 'node-a';
  const HOST_ADDR = '198.18.255.1';

  const netconf = (
    extra: Record<string, unknown> = {},
    ipamExtra: Record<string, unknown> = {},
    version = '1.1.0',
  ) =>
    JSON.stringify({
      cniVersion: version,
      name: 'net1',
      type: 'tortie',
      nodename: NODE,
      datastore: lab.datastoreUrl,
      agent_socket: '',
      mtu: 1400,
      ipam: { type: 'tortie-ipam', ipv4_pools: ['pool-a'], ...ipamExtra },
      ...extra,
    });

  const plugin = (env: Record<string, string>, conf: string, bin = TORTIE_CNI_BIN) =>
    lab.run(bin, env, conf, host);

  async function inUse(): Promise<number> {
    ipam.invalidate();
    const u = await ipam.usage();
    return u.pools.reduce((n, p) => n + p.inUse, 0);
  }

  function ok(r: PluginRun, what: string): void {
    assert.equal(
      r.exitCode,
      0,
      `${what}: exit ${r.exitCode} stdout=${r.stdout} stderr=${r.stderr}`,
    );
  }

  function cniError(r: PluginRun, code: number, what: string): void {
    assert.equal(r.exitCode, 1, `${what}: expected failure, got ${r.stdout}`);
    assert.ok(r.json, `${what}: stdout is not JSON: ${r.stdout}`);
    assert.equal(r.json['code'], code, `${what}: ${r.stdout}`);
    assert.equal(typeof r.json['msg'], 'string');
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, `${what}: stack trace`);
  }

  function ping(fromNs: string, to: string): boolean {
    return spawnSync('ip', ['netns', 'exec', fromNs, 'ping', '-c1', '-W2', to]).status === 0;
  }

  function addrOf(r: PluginRun): string {
    const ips = r.json?.['ips'] as { address: string }[];
    return ips[0]!.address.split('/')[0]!;
  }

  before(async () => {
    lab = new Lab('p');
    const store = await lab.openStore();
    await lab.addPool('pool-a', '198.18.0.0/24');
    await lab.addPool('pool-tiny', '198.18.1.0/31', { blockSize: 31 });
    await lab.addPool('pool-v6', 'fd00:198:18::/120', { blockSize: 122 });
    await lab.addNode(NODE);
    void store;
    ipam = new Ipam(lab.ds!);
    host = lab.hostNetns('host', HOST_ADDR);
    sh('ip', ['netns', 'exec', host, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
  });

  after(async () => {
    await lab?.cleanup();
  });

  it('ADD sets up the workload as Calico does; CHECK passes; DEL removes everything, twice', async () => {
    const w = lab.netns('w1');
    const r = await plugin(cniEnv('ADD', 'c1', w), netconf());
    ok(r, 'ADD');
    const iface = hostIfaceName('c1');
    const ifaces = r.json?.['interfaces'] as {
      name: string;
      mac?: string;
      sandbox?: string;
      mtu?: number;
    }[];
    assert.equal(ifaces[0]?.name, iface);
    assert.equal(ifaces[0]?.mac, 'ee:ee:ee:ee:ee:ee');
    assert.equal(ifaces[1]?.sandbox, `/run/netns/${w}`);
    assert.equal(ifaces[1]?.mtu, 1400);
    const addr = addrOf(r);
    assert.match(addr, /^198\.18\.0\.\d+$/);

    // Kernel state, both ends.
    const hostLink = JSON.parse(sh('ip', ['-n', host, '-json', 'link', 'show', 'dev', iface]))[0];
    assert.equal(hostLink.address, 'ee:ee:ee:ee:ee:ee');
    const routes = sh('ip', ['-n', host, 'route', 'show', 'dev', iface]);
    assert.match(routes, new RegExp(`${addr.replace(/\./g, '\\.')} proto 80 scope link`));
    for (const [k, v] of [
      ['ipv4/conf', 'proxy_arp', '1'],
      ['ipv4/neigh', 'proxy_delay', '0'],
      ['ipv4/conf', 'forwarding', '1'],
      ['ipv4/conf', 'route_localnet', '1'],
    ] as const) {
      const got = sh('ip', [
        'netns',
        'exec',
        host,
        'cat',
        `/proc/sys/net/${k}/${iface}/${v}`,
      ]).trim();
      assert.equal(got, v === 'proxy_delay' ? '0' : '1', `${k}/${v}`);
    }
    const contRoutes = sh('ip', ['-n', w, 'route', 'show']);
    assert.match(contRoutes, /default via 169\.254\.1\.1 dev eth0/);
    assert.match(contRoutes, /169\.254\.1\.1 dev eth0 scope link/);
    assert.match(sh('ip', ['-n', w, 'addr', 'show', 'dev', 'eth0']), new RegExp(`inet ${addr}/32`));

    // Datastore state.
    const weps = await lab.store!.list<WorkloadEndpointSpec>('WorkloadEndpoint', 'default');
    assert.equal(weps.length, 1);
    const wep = weps[0]!;
    assert.equal(wep.metadata.name, 'node--a-cni-c1-eth0');
    assert.equal(wep.spec?.interfaceName, iface);
    assert.deepEqual(wep.spec?.ipNetworks, [`${addr}/32`]);
    assert.deepEqual(wep.spec?.profiles, ['net1']);
    assert.equal(wep.spec?.mac, ifaces[1]?.mac);
    assert.equal(wep.metadata.labels?.['projectcalico.org/orchestrator'], 'cni');
    assert.equal(await inUse(), 1);

    const prev = r.json!;
    ok(await plugin(cniEnv('CHECK', 'c1', w), netconf({ prevResult: prev })), 'CHECK');
    cniError(await plugin(cniEnv('CHECK', 'c1', w), netconf()), 7, 'CHECK without prevResult');

    // Break it: CHECK notices.
    sh('ip', ['-n', w, 'route', 'del', 'default']);
    cniError(
      await plugin(cniEnv('CHECK', 'c1', w), netconf({ prevResult: prev })),
      108,
      'CHECK after damage',
    );

    ok(await plugin(cniEnv('DEL', 'c1', w), netconf({ prevResult: prev })), 'DEL');
    assert.deepEqual(lab.caliLinks(host), []);
    assert.equal(await inUse(), 0);
    assert.equal((await lab.store!.list('WorkloadEndpoint')).length, 0);
    ok(await plugin(cniEnv('DEL', 'c1', w), netconf()), 'second DEL');
    lab.delNetns(w);
  });

  it('two workloads reach each other and the host', async () => {
    const a = lab.netns('pa');
    const b = lab.netns('pb');
    const ra = await plugin(cniEnv('ADD', 'ping-a', a), netconf());
    const rb = await plugin(cniEnv('ADD', 'ping-b', b), netconf());
    ok(ra, 'ADD a');
    ok(rb, 'ADD b');
    try {
      assert.ok(ping(a, addrOf(rb)), 'a -> b');
      assert.ok(ping(b, addrOf(ra)), 'b -> a');
      assert.ok(ping(a, HOST_ADDR), 'a -> host');
    } finally {
      ok(await plugin(cniEnv('DEL', 'ping-a', a), netconf()), 'DEL a');
      ok(await plugin(cniEnv('DEL', 'ping-b', b), netconf()), 'DEL b');
    }
    assert.deepEqual(lab.caliLinks(host), []);
    assert.equal(await inUse(), 0);
    lab.delNetns(a);
    lab.delNetns(b);
  });

  it('dual stack: /128, default route via fe80::ecee:eeff:feee:eeee, IPv6 ping between workloads', async () => {
    const a = lab.netns('6a');
    const b = lab.netns('6b');
    const conf = netconf({}, { assign_ipv6: 'true', ipv6_pools: ['pool-v6'] });
    const ra = await plugin(cniEnv('ADD', 'v6-a', a), conf);
    const rb = await plugin(cniEnv('ADD', 'v6-b', b), conf);
    ok(ra, 'ADD a');
    ok(rb, 'ADD b');
    try {
      const v6 = (r: PluginRun) =>
        (r.json?.['ips'] as { address: string }[])
          .map((i) => i.address)
          .find((x) => x.includes(':'))!;
      assert.match(v6(ra), /^fd00:198:18::[0-9a-f]+\/128$/);
      assert.match(
        sh('ip', ['-n', a, '-6', 'route', 'show']),
        /default via fe80::ecee:eeff:feee:eeee dev eth0/,
      );
      ok(
        await plugin(
          cniEnv('CHECK', 'v6-a', a),
          netconf({ prevResult: ra.json }, { assign_ipv6: 'true', ipv6_pools: ['pool-v6'] }),
        ),
        'CHECK',
      );
      assert.ok(
        spawnSync('ip', ['netns', 'exec', a, 'ping', '-6', '-c1', '-W3', v6(rb).split('/')[0]!])
          .status === 0,
        'a -> b over IPv6',
      );
    } finally {
      ok(await plugin(cniEnv('DEL', 'v6-a', a), conf), 'DEL a');
      ok(await plugin(cniEnv('DEL', 'v6-b', b), conf), 'DEL b');
    }
    assert.equal(await inUse(), 0);
    lab.delNetns(a);
    lab.delNetns(b);
  });

  it('k8s-style CNI_ARGS: namespace, pod, labels and kns profile on the WorkloadEndpoint', async () => {
    const w = lab.netns('k8s');
    const args =
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;TORTIE_LABELS=app=web,tier=front';
    const r = await plugin(
      cniEnv('ADD', 'k8s-c', w, 'eth0', args),
      netconf({ runtimeConfig: { labels: { team: 'a' } } }),
    );
    ok(r, 'ADD');
    const wep = await lab.store!.get<WorkloadEndpointSpec>(
      'WorkloadEndpoint',
      'node--a-k8s-web--0-eth0',
      'shop',
    );
    assert.ok(wep);
    assert.equal(wep.spec?.pod, 'web-0');
    assert.equal(wep.spec?.orchestrator, 'k8s');
    assert.deepEqual(wep.spec?.profiles, ['kns.shop']);
    assert.deepEqual(wep.metadata.labels, {
      team: 'a',
      app: 'web',
      tier: 'front',
      'projectcalico.org/namespace': 'shop',
      'projectcalico.org/orchestrator': 'k8s',
    });
    assert.equal(wep.spec?.interfaceName, hostIfaceName('shop.web-0'));
    ok(await plugin(cniEnv('DEL', 'k8s-c', w, 'eth0', args), netconf()), 'DEL');
    assert.equal(
      await lab.store!.get('WorkloadEndpoint', 'node--a-k8s-web--0-eth0', 'shop'),
      undefined,
    );
    lab.delNetns(w);
  });

  it('ADD of an attached (container, interface) fails with 101 and leaves the first intact', async () => {
    const w = lab.netns('dup');
    const r = await plugin(cniEnv('ADD', 'dup', w), netconf());
    ok(r, 'ADD');
    cniError(await plugin(cniEnv('ADD', 'dup', w), netconf()), 101, 'second ADD');
    ok(
      await plugin(cniEnv('CHECK', 'dup', w), netconf({ prevResult: r.json })),
      'CHECK after refused ADD',
    );
    assert.equal(await inUse(), 1);
    ok(await plugin(cniEnv('DEL', 'dup', w), netconf()), 'DEL');
    lab.delNetns(w);
  });

  it('bad input gives CNI error JSON with the right code and leaks nothing', async () => {
    const w = lab.netns('bad');
    const base = cniEnv('ADD', 'bad', w);
    const cases: [string, Record<string, string>, string, number][] = [
      [
        'missing CNI_NETNS',
        { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bad', CNI_IFNAME: 'eth0' },
        netconf(),
        4,
      ],
      ['missing CNI_COMMAND', { CNI_CONTAINERID: 'bad' }, netconf(), 4],
      ['malformed JSON', base, '{"cniVersion": "1.1.0", "name": ', 6],
      ['invalid mtu', base, netconf({ mtu: 'big' }), 7],
      ['missing ipam', base, netconf({ ipam: undefined }), 7],
      ['unsupported version', base, netconf({}, {}, '0.2.0'), 1],
      ['bad CNI_ARGS', { ...base, CNI_ARGS: 'garbage' }, netconf(), 4],
      ['unknown pool', base, netconf({}, { ipv4_pools: ['no-such-pool'] }), 103],
      ['netns does not exist', cniEnv('ADD', 'bad', `${lab.prefix}nope`), netconf(), 105],
    ];
    for (const [what, env, conf, code] of cases) {
      cniError(await plugin(env, conf), code, what);
      assert.deepEqual(lab.caliLinks(host), [], `${what}: veth left`);
      assert.equal(await inUse(), 0, `${what}: address held`);
    }

    // Exhausted pool: pool-tiny has two addresses.
    const t1 = lab.netns('t1');
    const t2 = lab.netns('t2');
    const tiny = netconf({}, { ipv4_pools: ['pool-tiny'] });
    ok(await plugin(cniEnv('ADD', 'tiny1', t1), tiny), 'tiny 1');
    ok(await plugin(cniEnv('ADD', 'tiny2', t2), tiny), 'tiny 2');
    cniError(await plugin(cniEnv('ADD', 'tiny3', w), tiny), 102, 'exhausted');
    assert.equal(await inUse(), 2);
    assert.equal(lab.caliLinks(host).length, 2);
    assert.equal(
      JSON.parse(sh('ip', ['-n', w, '-json', 'link', 'show'])).length,
      1,
      'nothing left in the workload namespace',
    );
    ok(await plugin(cniEnv('DEL', 'tiny1', t1), tiny), 'DEL tiny 1');
    ok(await plugin(cniEnv('DEL', 'tiny2', t2), tiny), 'DEL tiny 2');
    assert.equal(await inUse(), 0);
    assert.equal((await lab.store!.list('WorkloadEndpoint')).length, 0);
    for (const n of [w, t1, t2]) lab.delNetns(n);
  });

  it('DEL works when the namespace is already gone', async () => {
    const w = lab.netns('gone');
    ok(await plugin(cniEnv('ADD', 'gone', w), netconf()), 'ADD');
    lab.delNetns(w);
    ok(await plugin(cniEnv('DEL', 'gone', w), netconf()), 'DEL with netns gone');
    ok(await plugin(cniEnv('DEL', 'gone', undefined), netconf()), 'DEL without CNI_NETNS');
    assert.deepEqual(lab.caliLinks(host), []);
    assert.equal(await inUse(), 0);
  });

  it('GC releases attachments missing from cni.dev/valid-attachments', async () => {
    const a = lab.netns('gca');
    const b = lab.netns('gcb');
    const ra = await plugin(cniEnv('ADD', 'gc-a', a), netconf());
    ok(ra, 'ADD a');
    ok(await plugin(cniEnv('ADD', 'gc-b', b), netconf()), 'ADD b');
    // An allocation with no endpoint (as a crash between IPAM and the WEP would leave).
    await ipam.autoAssign({
      handle: 'net1.gc-orphan',
      node: NODE,
      num4: 1,
      pools4: ['pool-a'],
      attrs: { network: 'net1', containerID: 'gc-orphan', ifname: 'eth0' },
    });
    // Another network's allocation on this node: GC of net1 must not touch it.
    await ipam.autoAssign({
      handle: 'net2.other',
      node: NODE,
      num4: 1,
      pools4: ['pool-a'],
      attrs: { network: 'net2', containerID: 'other', ifname: 'eth0' },
    });
    assert.equal(await inUse(), 4);
    const gcEnv = { CNI_COMMAND: 'GC' };
    ok(
      await plugin(
        gcEnv,
        netconf({ 'cni.dev/valid-attachments': [{ containerID: 'gc-a', ifname: 'eth0' }] }),
      ),
      'GC',
    );
    assert.deepEqual(lab.caliLinks(host), [hostIfaceName('gc-a')]);
    assert.equal(await inUse(), 2);
    const weps = await lab.store!.list<WorkloadEndpointSpec>('WorkloadEndpoint');
    assert.deepEqual(
      weps.map((x) => x.spec?.containerID),
      ['gc-a'],
    );
    ok(
      await plugin(cniEnv('CHECK', 'gc-a', a), netconf({ prevResult: ra.json })),
      'survivor CHECK',
    );
    cniError(await plugin(gcEnv, netconf()), 7, 'GC without valid-attachments');
    cniError(
      await plugin(gcEnv, netconf({ 'cni.dev/valid-attachments': [] }, {}, '1.0.0')),
      1,
      'GC on 1.0.0',
    );
    ok(await plugin(cniEnv('DEL', 'gc-a', a), netconf()), 'DEL a');
    await ipam.releaseByHandle('net2.other');
    assert.equal(await inUse(), 0);
    lab.delNetns(a);
    lab.delNetns(b);
  });

  it('STATUS: ready with a reachable datastore and a pool; 50 otherwise', async () => {
    const env = { CNI_COMMAND: 'STATUS' };
    ok(await plugin(env, netconf()), 'STATUS');
    cniError(
      await plugin(env, netconf({}, { ipv4_pools: ['no-such-pool'] })),
      50,
      'STATUS unknown pool',
    );
    cniError(
      await plugin(env, netconf({ datastore: `sqlite:${lab.dir}/no/such/dir/x.db` })),
      50,
      'STATUS datastore',
    );
    cniError(await plugin(env, netconf({}, {}, '1.0.0')), 1, 'STATUS on 1.0.0');
  });

  it('results in every supported version', async () => {
    for (const v of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const w = lab.netns(`v${v.replace(/\./g, '')}`);
      const r = await plugin(cniEnv('ADD', `ver${v.replace(/\./g, '')}`, w), netconf({}, {}, v));
      ok(r, `ADD ${v}`);
      assert.equal(r.json?.['cniVersion'], v);
      const ip = (r.json?.['ips'] as Record<string, unknown>[])[0]!;
      assert.equal(ip['version'], v.startsWith('0.') ? '4' : undefined, v);
      if (v !== '0.3.1')
        ok(
          await plugin(
            cniEnv('CHECK', `ver${v.replace(/\./g, '')}`, w),
            netconf({ prevResult: r.json }, {}, v),
          ),
          `CHECK ${v}`,
        );
      ok(
        await plugin(cniEnv('DEL', `ver${v.replace(/\./g, '')}`, w), netconf({}, {}, v)),
        `DEL ${v}`,
      );
      lab.delNetns(w);
    }
    assert.equal(await inUse(), 0);
  });

  it('tortie-ipam standalone; tortie with a delegated IPAM plugin (host-local)', async () => {
    const ipamConf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'net1',
      type: 'tortie-ipam',
      nodename: NODE,
      datastore: lab.datastoreUrl,
      agent_socket: '',
      ipam: { type: 'tortie-ipam', ipv4_pools: ['pool-a'] },
    });
    const w = lab.netns('ipam');
    const r = await plugin(cniEnv('ADD', 'ipam-only', w), ipamConf, TORTIE_IPAM_BIN);
    ok(r, 'ipam ADD');
    assert.equal(r.json?.['interfaces'], undefined);
    assert.match(addrOf(r), /^198\.18\.0\./);
    assert.equal(await inUse(), 1);
    ok(await plugin(cniEnv('DEL', 'ipam-only', w), ipamConf, TORTIE_IPAM_BIN), 'ipam DEL');
    assert.equal(await inUse(), 0);

    // Debian's host-local speaks CNI up to 1.0.0.
    const hlIpam = {
      type: 'host-local',
      ranges: [[{ subnet: '198.18.30.0/24' }]],
      dataDir: join(lab.dir, 'host-local'),
    };
    const hl = netconf({}, hlIpam, '1.0.0');
    const d = await plugin(cniEnv('ADD', 'delegated', w), hl);
    ok(d, 'ADD via host-local');
    assert.match(addrOf(d), /^198\.18\.30\./);
    ok(
      await plugin(
        cniEnv('CHECK', 'delegated', w),
        netconf({ prevResult: d.json }, hlIpam, '1.0.0'),
      ),
      'CHECK',
    );
    ok(await plugin(cniEnv('DEL', 'delegated', w), hl), 'DEL via host-local');
    assert.deepEqual(lab.caliLinks(host), []);
    lab.delNetns(w);
  });

  it('the thin path: the same calls served by the agent-side server over its socket', async () => {
    const socket = join(lab.dir, 'agent.sock');
    const server = lab.track(
      spawn('ip', ['netns', 'exec', host, TORTIE_CNI_BIN, 'serve', '--socket', socket], {
        stdio: ['ignore', 'ignore', 'pipe'],
      }),
    );
    try {
      for (let i = 0; i < 100 && !existsSync(socket); i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(socket), 'server socket');
      const conf = netconf({ agent_socket: socket });
      const a = lab.netns('ta');
      const b = lab.netns('tb');
      const ra = await plugin(cniEnv('ADD', 'thin-a', a), conf);
      const rb = await plugin(cniEnv('ADD', 'thin-b', b), conf);
      ok(ra, 'ADD a');
      ok(rb, 'ADD b');
      assert.ok(ping(a, addrOf(rb)), 'a -> b');
      ok(
        await plugin(
          cniEnv('CHECK', 'thin-a', a),
          netconf({ agent_socket: socket, prevResult: ra.json }),
        ),
        'CHECK',
      );
      cniError(await plugin(cniEnv('ADD', 'thin-a', a), conf), 101, 'duplicate');
      cniError(
        await plugin(cniEnv('ADD', 'thin-c', `${lab.prefix}nope`), conf),
        105,
        'netns missing',
      );
      cniError(
        await plugin(cniEnv('ADD', 'thin-c', a), '{"name":', TORTIE_CNI_BIN),
        6,
        'malformed',
      );
      ok(await plugin({ CNI_COMMAND: 'STATUS' }, conf), 'STATUS');

      // The native front: same calls without Node in the loop; without an agent it falls back to Node.
      const fast = join(lab.dir, 'tortie-cni-fast');
      const built = buildFastClient(fast);
      if (built === undefined) {
        const c = lab.netns('tc');
        const rc = await plugin(cniEnv('ADD', 'thin-c', c), conf, fast);
        ok(rc, 'native ADD');
        assert.match(addrOf(rc), /^198\.18\.0\./);
        cniError(await plugin(cniEnv('ADD', 'thin-c', c), conf, fast), 101, 'native duplicate');
        ok(await plugin(cniEnv('DEL', 'thin-c', c), conf, fast), 'native DEL');
        const v = await plugin({ CNI_COMMAND: 'VERSION' }, '', fast);
        ok(v, 'native VERSION');
        assert.equal(v.json?.['cniVersion'], '1.1.0');
        const noAgent = netconf({ agent_socket: join(lab.dir, 'nobody.sock') });
        const rs = await plugin(cniEnv('ADD', 'thin-s', c), noAgent, fast);
        ok(rs, 'native fallback ADD');
        ok(await plugin(cniEnv('DEL', 'thin-s', c), noAgent, fast), 'native fallback DEL');
        cniError(
          await plugin(cniEnv('ADD', 'thin-s', c), '{"name": "x"', fast),
          6,
          'native malformed',
        );
        lab.delNetns(c);
      } else {
        console.log(`native client not built: ${built}`);
      }
      ok(await plugin(cniEnv('DEL', 'thin-a', a), conf), 'DEL a');
      ok(await plugin(cniEnv('DEL', 'thin-b', b), conf), 'DEL b');
      assert.deepEqual(lab.caliLinks(host), []);
      assert.equal(await inUse(), 0);
      lab.delNetns(a);
      lab.delNetns(b);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    assert.ok(!existsSync(socket), 'server removed its socket');
  });
});
