// A real client: podman (CNI network backend, runc, cgroupfs) runs two
// containers on a conflist of `type: tortie`. They get addresses from the
// pool, reach each other, and `podman rm` (DEL) leaves no address, no veth
// and no WorkloadEndpoint behind.
//
// Nothing global changes: podman gets a private --root/--runroot/--tmpdir,
// a private containers.conf (CONTAINERS_CONF) and network config dir, and the
// image is imported from a tarball of Debian's busybox-static (no registry).
// Podman runs under `nsenter --net=` into a namespace of ours that plays the
// host, so the cali* interfaces and routes never touch the machine's own
// namespace.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ipam } from '../ipam/allocator.js';
import { Lab, TORTIE_CNI_BIN, isRoot } from './test-support/harness.js';

const BUSYBOX = '/bin/busybox';

/** Pids whose command line mentions `text` (our private podman directories). */
function processesUsing(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function skipReason(): string | false {
  if (!isRoot()) return 'needs root';
  if (spawnSync('podman', ['--version']).status !== 0) return 'podman is not installed';
  if (spawnSync('runc', ['--version']).status !== 0) return 'runc is not installed';
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static)`;
  if (!existsSync(join(TORTIE_CNI_BIN, '../../dist/cni/main.js'))) return 'run npm run build first';
  return false;
}

describe(
  'podman with a type: tortie conflist (root)',
  { skip: skipReason(), concurrency: false },
  () => {
    const prefix = `tcni${process.pid}m-`;
    const NET = `${prefix}net`;
    const IMAGE = `localhost/${prefix}busybox:latest`;
    const names = [`${prefix}a`, `${prefix}b`];
    let lab: Lab;
    // libcni (inside podman) caches results under /var/lib/cni; podman 4.3 has
    // no setting to move it. DEL empties it; the folders go if we made them.
    const cniCache = ['/var/lib/cni/results', '/var/lib/cni'];
    const cacheExisted = cniCache.map((d) => existsSync(d));
    let host = '';
    let ipam: Ipam;
    let podDir = '';

    function podman(args: string[], check = true): string {
      const global = [
        '--root',
        join(podDir, 'root'),
        '--runroot',
        join(podDir, 'runroot'),
        '--tmpdir',
        join(podDir, 'tmp'),
        '--storage-driver',
        'vfs',
        '--cgroup-manager',
        'cgroupfs',
        '--network-config-dir',
        join(podDir, 'net.d'),
      ];
      const r = spawnSync('nsenter', [`--net=/run/netns/${host}`, 'podman', ...global, ...args], {
        encoding: 'utf8',
        env: { ...process.env, CONTAINERS_CONF: join(podDir, 'containers.conf') },
        timeout: 120_000,
      });
      if (check && r.status !== 0)
        throw new Error(`podman ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
      return r.stdout;
    }

    async function inUse(): Promise<number> {
      ipam.invalidate();
      return (await ipam.usage()).pools.reduce((n, p) => n + p.inUse, 0);
    }

    before(async () => {
      lab = new Lab('m');
      await lab.openStore();
      await lab.addPool('pool-pod', '198.18.40.0/24');
      await lab.addNode('pod-node');
      ipam = new Ipam(lab.ds!);
      host = lab.hostNetns('host', '198.18.255.1');

      podDir = join(lab.dir, 'podman');
      for (const d of ['root', 'runroot', 'tmp', 'net.d', 'rootfs/bin'])
        mkdirSync(join(podDir, d), { recursive: true });
      writeFileSync(
        join(podDir, 'containers.conf'),
        [
          '[containers]',
          // Explicitly none: podman's own defaults for root (nofile/nproc raised
          // to 1048576/4194304) make runc's setrlimit fail with EPERM here.
          'default_ulimits = []',
          '[network]',
          'network_backend = "cni"',
          `cni_plugin_dirs = ["${lab.cniBinDir}"]`,
          `network_config_dir = "${join(podDir, 'net.d')}"`,
          '[engine]',
          'cgroup_manager = "cgroupfs"',
          'runtime = "runc"',
          'events_logger = "file"',
          '',
        ].join('\n'),
      );
      writeFileSync(
        join(podDir, 'net.d', `${NET}.conflist`),
        JSON.stringify({
          cniVersion: '1.0.0',
          name: NET,
          plugins: [
            {
              type: 'tortie',
              nodename: 'pod-node',
              datastore: lab.datastoreUrl,
              agent_socket: '',
              mtu: 1400,
              log_level: 'info',
              log_file_path: join(lab.dir, 'cni.log'),
              ipam: { type: 'tortie-ipam', ipv4_pools: ['pool-pod'] },
            },
          ],
        }),
      );
      // A busybox image from Debian's static busybox: no registry involved.
      const rootfs = join(podDir, 'rootfs');
      copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
      for (const applet of ['sh', 'ping', 'sleep', 'ip', 'cat'])
        symlinkSync('busybox', join(rootfs, 'bin', applet));
      const tar = join(podDir, 'busybox.tar');
      const t = spawnSync('tar', ['-C', rootfs, '-cf', tar, '.']);
      assert.equal(t.status, 0, 'tar');
      podman(['import', tar, IMAGE]);
    });

    after(async () => {
      if (podDir) {
        podman(['rm', '-f', '-t', '0', ...names], false);
        podman(['rmi', '-f', IMAGE], false);
      }
      // conmon runs `podman container cleanup` by itself after a container
      // exits: wait for every process naming our podman directories to end.
      for (let i = 0; i < 100 && podDir && processesUsing(podDir).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const pid of podDir ? processesUsing(podDir) : [])
        spawnSync('kill', ['-9', String(pid)]);
      await lab?.cleanup();
      for (let i = 0; i < 10; i++) {
        cniCache.forEach((d, k) => {
          if (!cacheExisted[k]) spawnSync('rmdir', [d]);
        });
        await new Promise((r) => setTimeout(r, 100));
      }
    });

    it('uses the CNI backend', () => {
      assert.equal(podman(['info', '--format', '{{.Host.NetworkBackend}}']).trim(), 'cni');
    });

    it('two containers get pool addresses, reach each other, and podman rm leaves nothing', async () => {
      for (const n of names) {
        podman([
          'run',
          '-d',
          '--name',
          n,
          '--network',
          NET,
          '--cap-add',
          'NET_RAW',
          IMAGE,
          'sleep',
          '600',
        ]);
      }
      const ips = names.map((n) =>
        podman([
          'inspect',
          '-f',
          `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`,
          n,
        ]).trim(),
      );
      for (const ip of ips) assert.match(ip, /^198\.18\.40\.\d+$/);
      assert.notEqual(ips[0], ips[1]);
      assert.equal(await inUse(), 2);
      assert.equal((await lab.store!.list('WorkloadEndpoint')).length, 2);
      assert.equal(lab.caliLinks(host).length, 2);

      assert.match(
        podman(['exec', names[0]!, 'ip', 'route']),
        /default via 169\.254\.1\.1 dev eth0/,
      );
      podman(['exec', names[0]!, 'ping', '-c', '1', '-W', '3', ips[1]!]);
      podman(['exec', names[1]!, 'ping', '-c', '1', '-W', '3', ips[0]!]);

      podman(['rm', '-f', '-t', '0', ...names]);
      assert.deepEqual(lab.caliLinks(host), []);
      assert.equal(await inUse(), 0);
      assert.equal((await lab.store!.list('WorkloadEndpoint')).length, 0);
    });
  },
);
