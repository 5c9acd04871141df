// End to end: real network namespaces, veths and bridges; needs root. The CNI
// plugin is the fake one (test-support/fake-cni.ts) unless the real
// bin/tortie-cni is built. Every lab gets a unique name, and whatever a test
// leaves behind is removed in `after`, failed or not.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CniPlugin } from './cni-runtime.js';
import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import { listResources } from './cluster-resources.js';
import {
  labDown,
  labExec,
  labNamespaces,
  labPing,
  labRoutes,
  labStartProcess,
  labState,
  labUp,
  labWorkloadAdd,
  labWorkloadDelete,
  pluginAt,
  type LabContext,
} from './lab.js';
import { formatRouteTable } from './routes.js';
import { processStartTime } from './processes.js';
import { statePath, statusOf, type LabState } from './state.js';
import { fakePlugin } from './test-support/fake-plugin.js';
import { runCli } from '../cli/test-support/run-cli.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REAL_PLUGIN = join(REPO, 'bin', 'tortie-cni');
const realPluginBuilt = existsSync(REAL_PLUGIN) && existsSync(join(REPO, 'dist', 'cni'));

const canRun =
  process.getuid?.() === 0 && spawnSync('ip', ['netns', 'list'], { stdio: 'ignore' }).status === 0;

function rootLinks(): string[] {
  const out = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** Every link name a lab made; none of them may ever show up in the root namespace. */
function labLinkNames(state: LabState): string[] {
  return [
    ...state.underlay.map((s) => s.bridge),
    ...state.hosts.map((h) => h.name),
    ...state.underlay.map((s) => `rtr${s.segment}`),
    ...state.workloads.flatMap((w) => (w.hostInterface ? [w.hostInterface] : [])),
  ];
}

function netnsInode(path: string): number {
  return statSync(path).ino;
}

const tortie = (...argv: string[]) => runCli(argv);

describe('tortie lab (end to end)', { skip: canRun ? false : 'needs root and ip netns' }, () => {
  let root: string;
  let scratch: string;
  let fake: CniPlugin;
  let linksBefore: string[];
  const labs: string[] = [];
  const savedRoot = process.env['TORTIE_LAB_ROOT'];
  const progress: string[] = [];
  const ctx = (): LabContext => ({ root, progress: (line) => progress.push(line) });
  const freshName = () => {
    const name = `t${randomBytes(3).toString('hex')}`;
    labs.push(name);
    return name;
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'tortie-lab-e2e-'));
    scratch = mkdtempSync(join(tmpdir(), 'tortie-lab-e2e-plugin-'));
    process.env['TORTIE_LAB_ROOT'] = root;
    fake = await fakePlugin(scratch);
    linksBefore = rootLinks();
  });

  after(async () => {
    for (const name of labs) {
      await labDown({ root }, name).catch(() => undefined);
      // Belt and braces: nothing named tl-<lab>- may survive the test run.
      for (const ns of await labNamespaces(name).catch(() => [])) {
        spawnSync('ip', ['netns', 'del', ns]);
      }
    }
    if (savedRoot === undefined) delete process.env['TORTIE_LAB_ROOT'];
    else process.env['TORTIE_LAB_ROOT'] = savedRoot;
    rmSync(root, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Checks that a lab left nothing: namespaces, state directory, root links. */
  async function assertGone(name: string, state?: LabState): Promise<void> {
    assert.deepEqual(await labNamespaces(name), []);
    assert.ok(!existsSync(join(root, name)), `${join(root, name)} still exists`);
    if (state) {
      const ours = new Set(labLinkNames(state));
      const added = rootLinks().filter((l) => !linksBefore.includes(l));
      assert.deepEqual(
        added.filter((l) => ours.has(l)),
        [],
      );
    }
  }

  it('flat: 2 hosts × 2 workloads, status, pings, workload add/delete, routes, exec, processes, down', async () => {
    const name = freshName();
    progress.length = 0;
    const state = await labUp(ctx(), {
      name,
      hosts: 2,
      workloads: 2,
      topology: 'flat',
      encap: 'none',
      plugin: fake,
    });

    // Progress: the six steps, in order.
    const steps = progress.filter((l) => /^\[\d\/6\]/.test(l)).map((l) => l.slice(0, 5));
    assert.deepEqual(steps, ['[1/6]', '[2/6]', '[3/6]', '[4/6]', '[5/6]', '[6/6]']);

    // Status JSON: the shape scripts use.
    const status = JSON.parse((await tortie('lab', 'status', '--name', name, '-o', 'json')).stdout);
    assert.equal(status.name, name);
    assert.equal(status.datastore, `sqlite:${join(root, name, 'tortie.db')}`);
    assert.deepEqual(status.underlay, [
      {
        segment: 1,
        netns: `tl-${name}-ul`,
        bridge: 'br1',
        cidr: '172.31.1.0/24',
        gateway: '172.31.1.1',
      },
    ]);
    assert.deepEqual(status.hosts, [
      { name: 'host1', netns: `tl-${name}-host1`, address: '172.31.1.11', segment: 1 },
      { name: 'host2', netns: `tl-${name}-host2`, address: '172.31.1.12', segment: 1 },
    ]);
    assert.deepEqual(
      status.workloads.map(
        (w: { name: string; host: string; netns: string; interface: string }) => [
          w.name,
          w.host,
          w.netns,
          w.interface,
        ],
      ),
      [
        ['host1-w1', 'host1', `tl-${name}-w-host1-w1`, 'eth0'],
        ['host1-w2', 'host1', `tl-${name}-w-host1-w2`, 'eth0'],
        ['host2-w1', 'host2', `tl-${name}-w-host2-w1`, 'eth0'],
        ['host2-w2', 'host2', `tl-${name}-w-host2-w2`, 'eth0'],
      ],
    );
    for (const w of status.workloads) assert.match(w.addresses[0], /^10\.244\.\d+\.\d+\/32$/);
    assert.deepEqual(
      (await labNamespaces(name)).sort(),
      [
        ...status.workloads.map((w: { netns: string }) => w.netns),
        `tl-${name}-host1`,
        `tl-${name}-host2`,
        `tl-${name}-ul`,
      ].sort(),
    );

    // The datastore holds the pool, the Nodes, and the plugin's WorkloadEndpoints.
    const url = state.datastore.url;
    const pools = await listResources(url, 'IPPool');
    assert.deepEqual(
      pools.map((p) => [
        p.metadata.name,
        p.spec?.['cidr'],
        p.spec?.['vxlanMode'],
        p.spec?.['natOutgoing'],
      ]),
      [['lab-ipv4-pool', '10.244.0.0/16', 'Never', true]],
    );
    const nodes = await listResources(url, 'Node');
    assert.deepEqual(
      nodes.map((n) => [n.metadata.name, (n.spec?.['bgp'] as { ipv4Address: string }).ipv4Address]),
      [
        ['host1', '172.31.1.11/24'],
        ['host2', '172.31.1.12/24'],
      ],
    );
    assert.equal((await listResources(url, 'WorkloadEndpoint')).length, 4);

    // Same-host pairs and host-to-host pairs reach; cross-host workload pairs wait for the agent.
    const ping = await labPing(ctx(), name);
    assert.deepEqual(ping.summary.failures, []);
    assert.equal(ping.summary.expected, 14);
    assert.equal(ping.summary.expectedReached, 14);
    assert.equal(ping.summary.pending, 16);
    const cliPing = await tortie('lab', 'ping', '--name', name);
    assert.equal(cliPing.code, 0, cliPing.stderr);
    assert.match(cliPing.stdout, /expected: 14\/14 pairs reach/);

    // One more workload through the CLI, in its own namespace with labels.
    const add = await tortie(
      'lab',
      'workload',
      'add',
      'api',
      '--host',
      'host2',
      '--namespace',
      'prod',
      '--labels',
      'app=api,tier=back',
      '--name',
      name,
    );
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^workload api added on host2: 10\.244\.\d+\.\d+\/32/);
    const api = labState(ctx(), name).workloads.find((w) => w.name === 'api')!;
    assert.equal(api.namespace, 'prod');
    assert.deepEqual(api.labels, { app: 'api', tier: 'back' });
    const wep = (await listResources(url, 'WorkloadEndpoint', 'prod')).find(
      (r) => r.spec?.['pod'] === 'api',
    );
    assert.ok(wep, 'the plugin wrote a WorkloadEndpoint for api');
    assert.equal(wep.metadata.namespace, 'prod');
    assert.equal(wep.metadata.labels?.['app'], 'api');
    assert.equal(wep.metadata.labels?.['tier'], 'back');
    assert.equal(wep.spec?.['node'], 'host2');

    // exec runs in the workload's namespace and returns the command's status.
    const sink = new PassThrough();
    let execOut = '';
    sink.on('data', (d) => (execOut += d));
    assert.equal(
      await labExec(ctx(), name, 'api', ['ping', '-c1', '-W1', '-n', '172.31.1.12'], {
        stdout: sink,
        stderr: sink,
      }),
      0,
    );
    assert.match(execOut, /1 received/);
    const w21 = status.workloads
      .find((w: { name: string }) => w.name === 'host2-w1')
      .addresses[0].split('/')[0];
    assert.equal(
      await labExec(ctx(), name, 'api', ['ping', '-c1', '-W1', '-n', w21], {
        stdout: sink,
        stderr: sink,
      }),
      0,
    );
    assert.equal(
      await labExec(ctx(), name, 'api', ['sh', '-c', 'exit 7'], { stdout: sink, stderr: sink }),
      7,
    );
    const cliExec = await tortie(
      'lab',
      'exec',
      '--name',
      name,
      'host1',
      '--',
      'ip',
      '-4',
      '-o',
      'addr',
      'show',
      'eth0',
    );
    assert.equal(cliExec.code, 0, cliExec.stderr);
    assert.match(cliExec.stdout, /inet 172\.31\.1\.11\/24/);
    assert.equal((await tortie('lab', 'exec', '--name', name, 'host1', '--', 'false')).code, 1);

    // route -n of host2: its default route and one /32 per local workload.
    const table = formatRouteTable(await labRoutes(ctx(), name, 'host2'));
    assert.match(table, /^0\.0\.0\.0 +172\.31\.1\.1 +0\.0\.0\.0 +UG .* eth0$/m);
    const host2Workloads = labState(ctx(), name).workloads.filter((w) => w.host === 'host2');
    assert.equal(host2Workloads.length, 3);
    for (const w of host2Workloads) {
      const addr = w.addresses[0]!.split('/')[0]!;
      assert.match(
        table,
        new RegExp(
          `^${addr.replace(/\./g, '\\.')} +0\\.0\\.0\\.0 +255\\.255\\.255\\.255 UH .* ${w.hostInterface}$`,
          'm',
        ),
      );
    }

    // Delete it again: CNI DEL, WorkloadEndpoint gone, namespace gone.
    const del = await tortie('lab', 'workload', 'delete', 'api', '--name', name);
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await listResources(url, 'WorkloadEndpoint', 'prod')).length, 0);
    assert.ok(!(await labNamespaces(name)).includes(api.netns));
    await assert.rejects(labWorkloadDelete(ctx(), name, 'api'), /no workload "api"/);
    await assert.rejects(labWorkloadAdd(ctx(), name, 'x', { host: 'host9' }), /no host "host9"/);
    await assert.rejects(
      labWorkloadAdd(ctx(), name, 'Bad_Name', { host: 'host1' }),
      /invalid workload name/,
    );
    await assert.rejects(
      labWorkloadAdd(ctx(), name, 'ok', { host: 'host1', namespace: 'No' }),
      /invalid namespace/,
    );
    assert.ok(
      !(await labNamespaces(name)).includes(`tl-${name}-w-x`),
      'a refused add leaves no namespace',
    );

    // A registered process runs inside its host's namespace; down stops it.
    const proc = await labStartProcess(ctx(), name, {
      name: 'sleeper',
      role: 'test',
      node: 'host1',
      argv: ['sleep', '300'],
    });
    assert.equal(
      netnsInode(`/proc/${proc.pid}/ns/net`),
      netnsInode(`/var/run/netns/tl-${name}-host1`),
    );
    assert.equal(readFileSync(proc.pidfile, 'utf8').trim(), `${proc.pid} ${proc.startTime}`);
    assert.equal(statusOf(labState(ctx(), name)).processes[0]?.pid, proc.pid);

    const finalState = labState(ctx(), name);
    const down = await tortie('lab', 'down', '--name', name);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`lab ${name} is down`));
    assert.equal(processStartTime(proc.pid), undefined, 'the registered process is gone');
    await assertGone(name, finalState);
  });

  it('two-subnets: hosts on two segments reach each other through the router', async () => {
    const name = freshName();
    const state = await labUp(ctx(), {
      name,
      hosts: 2,
      workloads: 1,
      topology: 'two-subnets',
      encap: 'crosssubnet',
      plugin: fake,
    });
    assert.deepEqual(
      statusOf(state).underlay.map((s) => [s.netns, s.bridge, s.cidr]),
      [
        [`tl-${name}-ul`, 'br1', '172.31.1.0/24'],
        [`tl-${name}-ul`, 'br2', '172.31.2.0/24'],
      ],
    );
    assert.deepEqual(
      state.hosts.map((h) => [h.name, h.address, h.segment]),
      [
        ['host1', '172.31.1.11', 1],
        ['host2', '172.31.2.12', 2],
      ],
    );
    assert.equal(state.router?.netns, `tl-${name}-rtr`);
    assert.equal(
      (await listResources(state.datastore.url, 'IPPool'))[0]?.spec?.['vxlanMode'],
      'CrossSubnet',
    );
    const ping = await labPing(ctx(), name);
    assert.deepEqual(ping.summary.failures, []);
    // host1 <-> host2 (across the router), each workload <-> its host.
    assert.equal(ping.summary.expected, 6);
    assert.equal(ping.summary.expectedReached, 6);
    const routes = await labRoutes(ctx(), name, 'host2');
    assert.ok(routes.some((r) => r.dst === 'default' && r.gateway === '172.31.2.1'));
    await labDown(ctx(), name);
    await assertGone(name, state);
  });

  it('down is safe twice, after a crash (state file lost), and with a corrupt state file', async () => {
    const sleeper = [{ role: 'sleeper', argv: () => ['sleep', '300'] }];

    const lost = freshName();
    const state = await labUp(ctx(), {
      name: lost,
      hosts: 1,
      workloads: 1,
      topology: 'flat',
      encap: 'none',
      plugin: fake,
      hostProcesses: sleeper,
    });
    const pid = state.processes[0]!.pid;
    assert.ok(processStartTime(pid));
    rmSync(statePath(join(root, lost)));
    const report = await labDown(ctx(), lost);
    assert.equal(report.namespaces.length, 3);
    assert.equal(report.processes, 1);
    assert.equal(processStartTime(pid), undefined);
    await assertGone(lost, state);
    const again = await tortie('lab', 'down', '--name', lost);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`lab ${lost}: nothing to remove`));

    const corrupt = freshName();
    const state2 = await labUp(ctx(), {
      name: corrupt,
      hosts: 2,
      workloads: 0,
      topology: 'two-subnets',
      encap: 'none',
      plugin: fake,
      hostProcesses: sleeper,
    });
    writeFileSync(statePath(join(root, corrupt)), '{"version": 1, "na');
    const pids = state2.processes.map((p) => p.pid);
    const report2 = await labDown(ctx(), corrupt);
    assert.match(report2.warnings.join(), /state file unreadable/);
    assert.equal(report2.processes, 2);
    for (const p of pids) assert.equal(processStartTime(p), undefined);
    await assertGone(corrupt, state2);
  });

  it('a failing up names the step, calls DEL after the failed ADD, and removes what it made', async () => {
    const name = freshName();
    const log = join(scratch, 'calls.log');
    const failing = join(scratch, 'failing-plugin');
    writeFileSync(
      failing,
      `#!/bin/sh
echo "$CNI_COMMAND" >> ${log}
cat > /dev/null
case "$CNI_COMMAND" in
  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}' ;;
  DEL) ;;
  *) echo '{"cniVersion":"1.0.0","code":11,"msg":"out of addresses"}'; exit 1 ;;
esac
`,
    );
    chmodSync(failing, 0o755);
    await assert.rejects(
      labUp(ctx(), {
        name,
        hosts: 2,
        workloads: 1,
        topology: 'flat',
        encap: 'none',
        plugin: pluginAt(failing),
        cniConcurrency: 1,
      }),
      /lab up failed at \[6\/6\] workloads: workload host1-w1 on host1: CNI ADD failed \(code 11, try again later\): out of addresses \(everything it made was removed\)/,
    );
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['VERSION', 'ADD', 'DEL']);
    await assertGone(name);

    const refused = freshName();
    await assert.rejects(
      labUp(ctx(), {
        name: refused,
        hosts: 1,
        workloads: 1,
        topology: 'flat',
        encap: 'none',
        plugin: pluginAt(join(scratch, 'missing')),
      }),
      /the CNI plugin .*missing is missing or not executable/,
    );
    await assertGone(refused);
  });

  it('refuses to build over an existing lab', async () => {
    const name = freshName();
    await labUp(ctx(), {
      name,
      hosts: 1,
      workloads: 0,
      topology: 'flat',
      encap: 'none',
      plugin: fake,
    });
    await assert.rejects(
      labUp(ctx(), { name, hosts: 1, workloads: 0, topology: 'flat', encap: 'none', plugin: fake }),
      new RegExp(`lab "${name}" already exists`),
    );
    rmSync(statePath(join(root, name)));
    await assert.rejects(
      labUp(ctx(), { name, hosts: 1, workloads: 0, topology: 'flat', encap: 'none', plugin: fake }),
      /namespaces of an earlier lab .* are still there/,
    );
    await labDown(ctx(), name);
    await assertGone(name);
  });

  it('a shared datastore: down releases the workloads (CNI DEL) and deletes what the lab wrote', async () => {
    const name = freshName();
    const url = `sqlite:${join(scratch, `${name}-shared.db`)}`;
    // The shared store's own FelixConfiguration is the user's: kept as it is.
    const users = await openDatastore(url);
    try {
      await new ResourceStore(users).create({
        apiVersion: 'projectcalico.org/v3',
        kind: 'FelixConfiguration',
        metadata: { name: 'default' },
        spec: { defaultEndpointToHostAction: 'Drop' },
      });
    } finally {
      await users.close();
    }
    const state = await labUp(ctx(), {
      name,
      hosts: 1,
      workloads: 2,
      topology: 'flat',
      encap: 'none',
      plugin: fake,
      datastore: url,
    });
    assert.deepEqual(state.datastore, { url, embedded: false });
    assert.equal((await listResources(url, 'WorkloadEndpoint')).length, 2);
    assert.equal((await listResources(url, 'Profile')).length, 1, 'the lab network profile');
    const report = await labDown(ctx(), name);
    assert.equal(report.workloadsDeleted, 2);
    assert.equal(report.resourcesDeleted, 3, 'pool, node and profile');
    for (const kind of ['WorkloadEndpoint', 'IPPool', 'Node', 'Profile']) {
      assert.deepEqual(await listResources(url, kind), [], kind);
    }
    const felix = await listResources(url, 'FelixConfiguration');
    assert.equal(felix.length, 1);
    assert.equal(felix[0]?.spec?.['defaultEndpointToHostAction'], 'Drop');
    await assertGone(name, state);
  });

  it(
    'the real tortie-cni plugin: workloads on one host reach each other and their host',
    {
      skip: realPluginBuilt
        ? false
        : `skipped: ${REAL_PLUGIN} and dist/cni/ are not built yet (npm run build)`,
    },
    async () => {
      const name = freshName();
      const state = await labUp(ctx(), {
        name,
        hosts: 2,
        workloads: 2,
        topology: 'flat',
        encap: 'none',
        plugin: pluginAt(REAL_PLUGIN),
      });
      const ping = await labPing(ctx(), name);
      assert.deepEqual(ping.summary.failures, []);
      const w = await labWorkloadAdd(ctx(), name, 'api', {
        host: 'host1',
        namespace: 'prod',
        labels: { app: 'api' },
      });
      const wep = (await listResources(state.datastore.url, 'WorkloadEndpoint', 'prod')).find(
        (r) => r.spec?.['pod'] === 'api',
      );
      assert.equal(wep?.metadata.labels?.['app'], 'api');
      assert.equal(
        await labExec(ctx(), name, 'api', ['ping', '-c1', '-W1', '-n', '172.31.1.11'], {
          stdout: new PassThrough(),
          stderr: new PassThrough(),
        }),
        0,
      );
      await labWorkloadDelete(ctx(), name, w.name);
      assert.equal(
        (await listResources(state.datastore.url, 'WorkloadEndpoint', 'prod')).length,
        0,
      );
      await labDown(ctx(), name);
      await assertGone(name, state);
    },
  );
});
