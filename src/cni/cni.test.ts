import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseCniArgs, parseLabelArg, parseNetConf } from './config.js';
import { CniError } from './errors.js';
import { escapeDashes, handleId, hostIfaceName, identify, workloadEndpointName } from './naming.js';
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  forwardedEnv,
} from './protocol.js';
import { compareVersions, formatResult, parseResult, type CniResult } from './result.js';
import { runSkel, validateInterfaceName, type CmdArgs, type PluginVerbs } from './skel.js';
import { hostBatch, containerBatch, randomMac } from '../dataplane/workload.js';
import { sysctlPath, workloadHostSysctls } from '../dataplane/sysctl.js';

const RESULT: CniResult = {
  interfaces: [
    { name: 'cali0123456789a', mac: 'ee:ee:ee:ee:ee:ee' },
    { name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1450, sandbox: '/run/netns/x' },
  ],
  ips: [
    { address: '198.18.0.5/32', gateway: '169.254.1.1', interface: 1 },
    { address: 'fd00::5/128', interface: 1 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '169.254.1.1', scope: 0 }],
};

function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cniVersion: '1.1.0',
    name: 'net1',
    type: 'tortie',
    ipam: { type: 'tortie-ipam' },
    ...extra,
  };
}

const calls: CmdArgs[] = [];
const VERBS: PluginVerbs = {
  add: async (a) => {
    calls.push(a);
    return RESULT;
  },
  del: async (a) => void calls.push(a),
  check: async (a) => void calls.push(a),
  gc: async (a) => void calls.push(a),
  status: async () => {
    throw new CniError(50, 'plugin not available', 'datastore down');
  },
};

const ENV = {
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};

async function skel(env: Record<string, string>, stdin: string, verbs = VERBS) {
  const out = await runSkel({ env, stdin }, verbs, 'about');
  return {
    ...out,
    json: out.stdout ? (JSON.parse(out.stdout) as Record<string, unknown>) : undefined,
  };
}

describe('skel', () => {
  it('VERSION lists the supported versions and needs nothing else', async () => {
    const r = await skel({ CNI_COMMAND: 'VERSION' }, 'garbage');
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.json, {
      cniVersion: '1.1.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });

  it('missing variables: code 4 naming each', async () => {
    const r = await skel({ CNI_COMMAND: 'ADD', CNI_PATH: '/x' }, JSON.stringify(conf()));
    assert.equal(r.exitCode, 1);
    assert.equal(r.json?.['code'], 4);
    assert.equal(
      r.json?.['msg'],
      'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing',
    );
    const none = await skel({}, '');
    assert.equal(none.json?.['code'], 4);
    assert.match(none.stderr, /about/);
    const del = await skel({ ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, JSON.stringify(conf()));
    assert.equal(del.exitCode, 0, 'DEL does not need CNI_NETNS');
  });

  it('unknown command: code 4', async () => {
    const r = await skel({ ...ENV, CNI_COMMAND: 'FROB' }, JSON.stringify(conf()));
    assert.equal(r.json?.['code'], 4);
  });

  it('malformed JSON: code 6; missing or bad name: code 7', async () => {
    assert.equal((await skel({ ...ENV, CNI_COMMAND: 'ADD' }, '{"cniVersion":')).json?.['code'], 6);
    assert.equal((await skel({ ...ENV, CNI_COMMAND: 'ADD' }, '[1]')).json?.['code'], 6);
    assert.equal(
      (await skel({ ...ENV, CNI_COMMAND: 'ADD' }, JSON.stringify(conf({ name: '' })))).json?.[
        'code'
      ],
      7,
    );
    assert.equal(
      (await skel({ ...ENV, CNI_COMMAND: 'ADD' }, JSON.stringify(conf({ name: 'a b' })))).json?.[
        'code'
      ],
      7,
    );
  });

  it('bad container id or interface name: code 4', async () => {
    const r = await skel(
      { ...ENV, CNI_COMMAND: 'ADD', CNI_CONTAINERID: '-x' },
      JSON.stringify(conf()),
    );
    assert.equal(r.json?.['code'], 4);
    const i = await skel(
      { ...ENV, CNI_COMMAND: 'ADD', CNI_IFNAME: 'a-very-long-name0' },
      JSON.stringify(conf()),
    );
    assert.equal(i.json?.['code'], 4);
    assert.equal(validateInterfaceName('eth0'), undefined);
    for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'x'.repeat(16)])
      assert.ok(validateInterfaceName(bad));
  });

  it('version negotiation: unsupported -> 1; CHECK < 0.4.0, GC/STATUS < 1.1.0 -> 1', async () => {
    assert.equal(
      (await skel({ ...ENV, CNI_COMMAND: 'ADD' }, JSON.stringify(conf({ cniVersion: '0.2.0' }))))
        .json?.['code'],
      1,
    );
    assert.equal(
      (await skel({ ...ENV, CNI_COMMAND: 'ADD' }, JSON.stringify(conf({ cniVersion: undefined }))))
        .json?.['code'],
      1,
    );
    assert.equal(
      (await skel({ ...ENV, CNI_COMMAND: 'CHECK' }, JSON.stringify(conf({ cniVersion: '0.3.1' }))))
        .json?.['code'],
      1,
    );
    assert.equal(
      (await skel({ ...ENV, CNI_COMMAND: 'GC' }, JSON.stringify(conf({ cniVersion: '1.0.0' }))))
        .json?.['code'],
      1,
    );
    assert.equal(
      (await skel({ ...ENV, CNI_COMMAND: 'CHECK' }, JSON.stringify(conf({ cniVersion: '0.4.0' }))))
        .exitCode,
      0,
    );
  });

  it('ADD prints the result in the configuration version; others print nothing', async () => {
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const r = await skel({ ...ENV, CNI_COMMAND: 'ADD' }, JSON.stringify(conf({ cniVersion: v })));
      assert.equal(r.exitCode, 0);
      assert.equal(r.json?.['cniVersion'], v);
    }
    for (const c of ['DEL', 'CHECK', 'GC']) {
      const r = await skel({ ...ENV, CNI_COMMAND: c }, JSON.stringify(conf()));
      assert.equal(r.exitCode, 0, c);
      assert.equal(r.stdout, '');
    }
  });

  it('a verb CniError passes through; anything else is 100 without a stack trace', async () => {
    const s = await skel({ CNI_COMMAND: 'STATUS', CNI_PATH: '/x' }, JSON.stringify(conf()));
    assert.deepEqual(s.json, {
      cniVersion: '1.1.0',
      code: 50,
      msg: 'plugin not available',
      details: 'datastore down',
    });
    const boom = await skel(
      { ...ENV, CNI_COMMAND: 'ADD' },
      JSON.stringify(conf({ cniVersion: '0.4.0' })),
      {
        ...VERBS,
        add: async () => {
          throw new TypeError('kaboom');
        },
      },
    );
    assert.equal(boom.json?.['code'], 100);
    assert.equal(boom.json?.['cniVersion'], '0.4.0');
    assert.equal(boom.json?.['details'], 'kaboom');
    assert.doesNotMatch(boom.stdout + boom.stderr, /at .*\.ts:\d+/);
  });
});

describe('result', () => {
  it('0.3.x and 0.4.0 carry ips[].version; 1.0.0 drops it; 1.1.0 adds mtu and route fields', () => {
    const r04 = formatResult(RESULT, '0.4.0') as {
      ips: Record<string, unknown>[];
      interfaces: Record<string, unknown>[];
    };
    assert.deepEqual(
      r04.ips.map((i) => i['version']),
      ['4', '6'],
    );
    assert.equal(r04.interfaces[1]?.['mtu'], undefined);
    const r10 = formatResult(RESULT, '1.0.0') as {
      ips: Record<string, unknown>[];
      routes: Record<string, unknown>[];
    };
    assert.equal(r10.ips[0]?.['version'], undefined);
    assert.deepEqual(r10.routes[0], { dst: '0.0.0.0/0', gw: '169.254.1.1' });
    const r11 = formatResult(RESULT, '1.1.0') as {
      interfaces: Record<string, unknown>[];
      routes: Record<string, unknown>[];
      dns: unknown;
    };
    assert.equal(r11.interfaces[1]?.['mtu'], 1450);
    assert.equal(r11.routes[0]?.['scope'], 0);
    assert.deepEqual(r11.dns, {});
  });

  it('parses any version back to the same addresses', () => {
    for (const v of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const back = parseResult(formatResult(RESULT, v));
      assert.deepEqual(
        back.ips?.map((i) => i.address),
        ['198.18.0.5/32', 'fd00::5/128'],
      );
      assert.equal(back.interfaces?.[1]?.sandbox, '/run/netns/x');
    }
    assert.throws(
      () => parseResult({ ips: [{ address: 'nope' }] }),
      (e: CniError) => e.code === 6,
    );
  });

  it('compares versions numerically', () => {
    assert.equal(compareVersions('0.10.0', '0.4.0'), 1);
    assert.equal(compareVersions('1.0.0', '1.0.0'), 0);
    assert.equal(compareVersions('0.3.1', '0.4.0'), -1);
  });
});

describe('config', () => {
  it('reads Calico field names with defaults', () => {
    const c = parseNetConf(
      conf({
        mtu: 1410,
        nodename: 'n1',
        log_level: 'DEBUG',
        ipam: {
          type: 'tortie-ipam',
          assign_ipv4: 'true',
          assign_ipv6: 'true',
          ipv4_pools: ['p4'],
          ipv6_pools: ['fd00::/64'],
        },
        policy: { type: 'k8s' },
        runtimeConfig: { labels: { app: 'web' } },
        args: { cni: { labels: [{ key: 'tier', value: 'front' }] } },
      }),
      {},
    );
    assert.equal(c.mtu, 1410);
    assert.equal(c.nodename, 'n1');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.datastore, 'sqlite:/var/lib/tortie/tortie.db');
    assert.equal(c.agentSocket, '/run/tortie/agent.sock');
    assert.deepEqual(c.ipam.ipv4Pools, ['p4']);
    assert.equal(c.ipam.assignIpv6, true);
    assert.deepEqual(c.labels, { app: 'web', tier: 'front' });
  });

  it('datastore precedence: datastore, etcd_endpoints, env, default', () => {
    assert.equal(
      parseNetConf(conf({ datastore: 'sqlite:/a' }), { TORTIE_DATASTORE: 'sqlite:/b' }).datastore,
      'sqlite:/a',
    );
    assert.equal(
      parseNetConf(
        conf({
          datastore_type: 'etcdv3',
          etcd_endpoints: 'http://127.0.0.1:2379,http://127.0.0.2:2379',
        }),
      ).datastore,
      'etcd://127.0.0.1:2379,127.0.0.2:2379',
    );
    assert.equal(
      parseNetConf(conf({ etcd_endpoints: 'https://e:2379', etcd_ca_cert_file: '/ca' })).datastore,
      'etcds://e:2379?ca=%2Fca',
    );
    assert.equal(parseNetConf(conf(), { TORTIE_DATASTORE: 'sqlite:/b' }).datastore, 'sqlite:/b');
  });

  it('rejects bad fields with code 7, naming the field', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ mtu: 20 }, /^mtu:/],
      [{ mtu: '1500' }, /^mtu:/],
      [{ ipam: undefined }, /^ipam:/],
      [{ ipam: { type: 'tortie-ipam', assign_ipv4: 'yes' } }, /^ipam\.assign_ipv4:/],
      [{ ipam: { type: 'tortie-ipam', ipv4_pools: 'p' } }, /^ipam\.ipv4_pools:/],
      [{ ipam: { type: 'tortie-ipam', assign_ipv4: false } }, /^ipam:/],
      [{ datastore_type: 'kubernetes' }, /^datastore_type:/],
      [{ datastore: 'mysql://x' }, /^datastore:/],
      [{ log_level: 'loud' }, /^log_level:/],
      [{ runtimeConfig: { labels: { 'bad key!': 'x' } } }, /^labels:/],
      [{ 'cni.dev/valid-attachments': [{ containerID: 1 }] }, /^cni\.dev\/valid-attachments\[0\]:/],
    ];
    for (const [extra, field] of cases) {
      assert.throws(
        () => parseNetConf(conf(extra)),
        (e: CniError) => e.code === 7 && field.test(e.details),
        JSON.stringify(extra),
      );
    }
  });

  it('parses CNI_ARGS and TORTIE_LABELS', () => {
    assert.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=prod'), {
      IgnoreUnknown: '1',
      K8S_POD_NAME: 'web-0',
      K8S_POD_NAMESPACE: 'prod',
    });
    assert.throws(
      () => parseCniArgs('novalue'),
      (e: CniError) => e.code === 4,
    );
    assert.deepEqual(parseLabelArg('app=web,tier=front'), { app: 'web', tier: 'front' });
    assert.throws(
      () => parseLabelArg('app'),
      (e: CniError) => e.code === 4,
    );
  });
});

describe('naming', () => {
  it('host veth is cali + 11 hex of sha1(namespace.pod) (Calico)', () => {
    const want = 'cali' + createHash('sha1').update('default.nginx').digest('hex').slice(0, 11);
    assert.equal(hostIfaceName('default.nginx'), want);
    assert.equal(want.length, 15);
  });

  it('WorkloadEndpoint names escape dashes', () => {
    assert.equal(escapeDashes('a-b'), 'a--b');
    assert.equal(workloadEndpointName('node-1', 'k8s', 'web-0', 'eth0'), 'node--1-k8s-web--0-eth0');
  });

  it('identity: k8s style from CNI_ARGS, else the container', () => {
    const c = parseNetConf(conf({ nodename: 'h1' }));
    const k = identify(c, {
      containerId: 'abc',
      ifName: 'eth0',
      args: 'K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;TORTIE_LABELS=app=web',
    });
    assert.equal(k.orchestrator, 'k8s');
    assert.equal(k.workloadId, 'prod.web-0');
    assert.equal(k.hostIface, hostIfaceName('prod.web-0'));
    assert.equal(k.wepName, 'h1-k8s-web--0-eth0');
    assert.equal(k.handle, 'net1.abc');
    assert.deepEqual(k.profiles, ['kns.prod']);
    assert.deepEqual(k.labels, {
      app: 'web',
      'projectcalico.org/namespace': 'prod',
      'projectcalico.org/orchestrator': 'k8s',
    });
    const p = identify(c, { containerId: 'abc', ifName: 'net1', args: '' });
    assert.equal(p.orchestrator, 'cni');
    assert.equal(p.namespace, 'default');
    assert.equal(p.workloadId, 'abc.net1');
    assert.equal(p.handle, 'net1.abc:net1');
    assert.deepEqual(p.profiles, ['net1']);
    assert.equal(handleId('n', 'c', 'eth0'), 'n.c');
    assert.throws(
      () => identify(c, { containerId: 'a', ifName: 'eth0', args: 'K8S_POD_NAMESPACE=Bad_NS' }),
      (e: CniError) => e.code === 4,
    );
  });
});

describe('protocol', () => {
  it('round-trips requests and replies', () => {
    const env = forwardedEnv({
      CNI_COMMAND: 'ADD',
      PATH: '/bin',
      TORTIE_DATASTORE: 'sqlite:/x',
      CNI_ARGS: 'A=b=c',
    });
    assert.deepEqual(Object.keys(env).sort(), ['CNI_ARGS', 'CNI_COMMAND', 'TORTIE_DATASTORE']);
    const req = decodeRequest(encodeRequest({ plugin: 'tortie-ipam', env, stdin: '{"name":"ü"}' }));
    assert.deepEqual(req, { plugin: 'tortie-ipam', env, stdin: '{"name":"ü"}' });
    const rep = decodeReply(
      encodeReply({ exitCode: 1, stdout: '{"code":7,"msg":"é"}\n', stderr: 'log\n' }),
    );
    assert.deepEqual(rep, { exitCode: 1, stdout: '{"code":7,"msg":"é"}\n', stderr: 'log\n' });
    assert.throws(() => decodeRequest(Buffer.from('HTTP/1.1\0')));
  });
});

describe('dataplane batches', () => {
  const spec = {
    hostIface: 'cali0123456789a',
    containerIface: 'eth0',
    netns: '/run/netns/x',
    mtu: 1450,
    containerMac: '02:00:00:00:00:01',
    ipv4: ['198.18.0.5'],
    ipv6: ['fd00::5'],
  };
  it('host: one veth with the peer born in the container, fixed MACs, proto 80 routes', () => {
    assert.deepEqual(hostBatch(spec), [
      'link add name cali0123456789a mtu 1450 address ee:ee:ee:ee:ee:ee type veth peer name eth0 mtu 1450 address 02:00:00:00:00:01 netns /run/netns/x',
      'link set cali0123456789a up',
      'route replace 198.18.0.5/32 dev cali0123456789a scope link proto 80',
      'route replace fd00::5/128 dev cali0123456789a proto 80',
    ]);
  });
  it('container: /32 and /128, link-scope gateway and default routes', () => {
    assert.deepEqual(containerBatch(spec), [
      'addr add 198.18.0.5/32 dev eth0',
      'addr add fd00::5/128 dev eth0 nodad',
      'link set eth0 up',
      'route add 169.254.1.1 dev eth0 scope link',
      'route add default via 169.254.1.1 dev eth0',
      'route add default via fe80::ecee:eeff:feee:eeee dev eth0',
    ]);
  });
  it('sysctls as Calico sets them', () => {
    assert.deepEqual(
      workloadHostSysctls('caliX', { ipv4: true, ipv6: true }).map(([k, v]) => `${k}=${v}`),
      [
        'net.ipv4.conf.caliX.forwarding=1',
        'net.ipv4.conf.caliX.route_localnet=1',
        'net.ipv4.conf.caliX.proxy_arp=1',
        'net.ipv4.neigh.caliX.proxy_delay=0',
        'net.ipv6.conf.caliX.accept_ra=0',
        'net.ipv6.conf.caliX.proxy_ndp=1',
        'net.ipv6.conf.caliX.forwarding=1',
      ],
    );
    assert.equal(
      sysctlPath('net.ipv4.conf.eth0.100.proxy_arp'),
      '/proc/sys/net/ipv4/conf/eth0.100/proxy_arp',
    );
  });
  it('random MACs are locally administered unicast', () => {
    const mac = randomMac(() => new Uint8Array([0xff, 1, 2, 3, 4, 5]));
    assert.equal(mac, 'fe:01:02:03:04:05');
  });
});
