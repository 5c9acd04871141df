import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CniPluginError,
  cniEnv,
  cniVersions,
  configLabels,
  formatCniArgs,
  invokeCni,
  k8sCniArgs,
  labNetworkConfig,
  parseCniOutput,
  resultAddresses,
  resultHostInterface,
  type CniRequest,
} from './cni-runtime.js';

const config = labNetworkConfig({
  nodename: 'host1',
  datastore: 'sqlite:/var/lib/tortie/labs/demo/tortie.db',
  mtu: 1450,
  labels: { app: 'web', 'example.com/tier': 'front' },
  logFile: '/var/lib/tortie/labs/demo/cni.log',
});

const request: CniRequest = {
  command: 'ADD',
  containerId: 'demo-web-0123abcd',
  netns: '/var/run/netns/tl-demo-w-web',
  ifName: 'eth0',
  args: k8sCniArgs('prod', 'web', 'demo-web-0123abcd'),
  config,
};

describe('CNI runtime: what the lab hands the plugin', () => {
  it('builds the network configuration, labels in args.cni.labels', () => {
    assert.deepEqual(config, {
      cniVersion: '1.0.0',
      name: 'tortie-lab',
      type: 'tortie',
      nodename: 'host1',
      datastore: 'sqlite:/var/lib/tortie/labs/demo/tortie.db',
      mtu: 1450,
      agent_socket: '',
      log_level: 'info',
      log_file_path: '/var/lib/tortie/labs/demo/cni.log',
      ipam: { type: 'tortie-ipam' },
      args: {
        cni: {
          labels: [
            { key: 'app', value: 'web' },
            { key: 'example.com/tier', value: 'front' },
          ],
        },
      },
    });
    assert.deepEqual(configLabels(config), { app: 'web', 'example.com/tier': 'front' });
  });

  it('sets the CNI_* environment and drops any CNI_* of its own', () => {
    const env = cniEnv({ command: ['/bin/tortie-cni'], path: ['/opt/cni/bin', '/bin'] }, request, {
      PATH: '/usr/bin',
      CNI_COMMAND: 'DEL',
      CNI_EXTRA: 'x',
    });
    assert.deepEqual(env, {
      PATH: '/usr/bin',
      CNI_COMMAND: 'ADD',
      CNI_PATH: '/opt/cni/bin:/bin',
      CNI_CONTAINERID: 'demo-web-0123abcd',
      CNI_NETNS: '/var/run/netns/tl-demo-w-web',
      CNI_IFNAME: 'eth0',
      CNI_ARGS:
        'IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=demo-web-0123abcd',
    });
  });

  it('refuses CNI_ARGS values that would break the pair syntax', () => {
    assert.throws(() => formatCniArgs({ LABELS: 'app=web' }), /';' and '=' separate its pairs/);
    assert.throws(() => formatCniArgs({ A: 'x;y' }), /separate its pairs/);
    assert.equal(formatCniArgs({}), '');
  });
});

describe('CNI runtime: reading the answer', () => {
  const result = {
    cniVersion: '1.0.0',
    interfaces: [
      { name: 'cali0123456789a', mac: 'ee:ee:ee:ee:ee:ee' },
      { name: 'eth0', mac: '0a:00:00:00:00:01', sandbox: '/var/run/netns/tl-demo-w-web' },
    ],
    ips: [{ address: '10.244.0.5/32', gateway: '169.254.1.1', interface: 1 }],
  };

  it('reads an ADD result', () => {
    const parsed = parseCniOutput('ADD', 0, JSON.stringify(result), '');
    assert.deepEqual(parsed, result);
    assert.deepEqual(resultAddresses(result), ['10.244.0.5/32']);
    assert.equal(resultHostInterface(result), 'cali0123456789a');
  });

  it('reads DEL and CHECK as no result', () => {
    assert.equal(parseCniOutput('DEL', 0, '', ''), undefined);
    assert.equal(parseCniOutput('CHECK', 0, '', ''), undefined);
  });

  it('turns an error result into CniPluginError with code, msg and details', () => {
    const err = (() => {
      try {
        parseCniOutput(
          'ADD',
          1,
          '{"cniVersion":"1.0.0","code":7,"msg":"invalid network config","details":"mtu: bad"}',
          '',
        );
      } catch (e) {
        return e as CniPluginError;
      }
      throw new Error('no error');
    })();
    assert.ok(err instanceof CniPluginError);
    assert.equal(err.code, 7);
    assert.equal(err.details, 'mtu: bad');
    assert.equal(
      err.message,
      'CNI ADD failed (code 7, invalid network config): invalid network config — mtu: bad',
    );
  });

  it('reports a plugin that breaks the protocol', () => {
    assert.throws(
      () => parseCniOutput('ADD', 2, '', 'segfault\n'),
      /exited with status 2 and no error result: segfault/,
    );
    assert.throws(() => parseCniOutput('ADD', 0, 'hello', ''), /printed no JSON result/);
    assert.throws(() => parseCniOutput('ADD', 0, '{"ips": 3}', ''), /not a CNI result/);
  });
});

describe('CNI runtime: calling an executable', () => {
  let dir: string;
  let plugin: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tortie-cni-runtime-'));
    plugin = join(dir, 'echo-plugin');
    // Answers VERSION; ADD echoes what it was given; DEL fails with an error result.
    writeFileSync(
      plugin,
      `#!/bin/sh
input=$(cat)
case "$CNI_COMMAND" in
  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
  ADD) printf '{"cniVersion":"1.0.0","ips":[{"address":"10.244.0.9/32"}],"interfaces":[{"name":"%s"}],"dns":{"domain":"%s"},"routes":[{"dst":"%s"}]}\\n' "$CNI_CONTAINERID" "$CNI_ARGS" "$(printf %s "$input" | tr -d '"' | cut -c1-40)" ;;
  DEL) echo '{"cniVersion":"1.0.0","code":3,"msg":"container unknown"}'; exit 1 ;;
esac
`,
    );
    chmodSync(plugin, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes env and stdin, and reads the result', async () => {
    const result = await invokeCni({ command: [plugin], path: [dir] }, request);
    assert.deepEqual(result?.ips, [{ address: '10.244.0.9/32' }]);
    assert.equal(result?.interfaces?.[0]?.name, 'demo-web-0123abcd');
    assert.equal(result?.dns?.['domain'], formatCniArgs(request.args!));
    assert.equal(result?.routes?.[0]?.dst, '{cniVersion:1.0.0,name:tortie-lab,type:t');
  });

  it('asks for the versions', async () => {
    assert.deepEqual((await cniVersions({ command: [plugin], path: [dir] })).supportedVersions, [
      '0.4.0',
      '1.0.0',
    ]);
  });

  it('surfaces the error result', async () => {
    await assert.rejects(
      invokeCni({ command: [plugin], path: [dir] }, { ...request, command: 'DEL' }),
      {
        name: 'CniPluginError',
        message: 'CNI DEL failed (code 3, container unknown or does not exist): container unknown',
      },
    );
  });

  it('reports a missing plugin and a plugin that hangs', async () => {
    await assert.rejects(
      invokeCni({ command: [join(dir, 'nope')], path: [dir] }, request),
      /cannot run/,
    );
    const slow = join(dir, 'slow');
    writeFileSync(slow, '#!/bin/sh\nsleep 5\n');
    chmodSync(slow, 0o755);
    await assert.rejects(
      invokeCni({ command: [slow], path: [dir] }, { ...request, timeoutMs: 200 }),
      /timed out/,
    );
  });
});
