// A stand-in for the tortie CNI plugin, so the lab is tested on its own. It
// speaks the same protocol (env + stdin config → result or error JSON) and
// lays out a workload as Calico does:
//
//   host netns:      cali<11 hex> (proxy_arp on)      route <addr>/32 dev cali…
//   workload netns:  eth0 <addr>/32                   169.254.1.1 dev eth0 scope link
//                                                     default via 169.254.1.1
//
// Its IPAM is deliberately simple (one /blockSize block per node, claimed
// with create-if-absent keys under /tortie-fake/ in the datastore), and it
// writes the WorkloadEndpoint so tests can check the namespace and labels
// that the lab passed. Run through the `fake-cni` wrapper beside it.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { openDatastore } from '../../datastore/open.js';
import { ResourceStore } from '../../datastore/resources.js';
import { AlreadyExistsError, NotFoundError, type Datastore } from '../../datastore/types.js';
import { addressAt, cidrSize, formatCidr, formatIP, parseCidr, subnets } from '../../model/cidr.js';
import { CALICO_API_VERSION, type IPPoolSpec } from '../../model/resource.js';

const SUPPORTED = ['0.4.0', '1.0.0'];
const PREFIX = '/tortie-fake/ipam';
const GATEWAY = '169.254.1.1';

class PluginError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
  }
}

interface Config {
  cniVersion: string;
  name: string;
  type: string;
  nodename?: string;
  datastore?: string;
  mtu?: number;
  args?: { cni?: { labels?: { key: string; value: string }[] } };
}

function sh(argv: string[], allowFail = false): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) {
    throw new PluginError(5, `${argv.join(' ')} failed`, (r.stderr || r.stdout || '').trim());
  }
  return r.stdout ?? '';
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new PluginError(4, `${name} is not set`);
  return value;
}

function parseArgs(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function hostIfName(namespace: string, pod: string): string {
  return 'cali' + createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11);
}

function wepName(node: string, pod: string, endpoint: string): string {
  const esc = (s: string) => s.replace(/-/g, '--');
  return `${esc(node)}-k8s-${esc(pod)}-${esc(endpoint)}`;
}

async function createIfAbsent(ds: Datastore, key: string, value: string): Promise<boolean> {
  try {
    await ds.create(key, value);
    return true;
  } catch (err) {
    if (err instanceof AlreadyExistsError) return false;
    throw err;
  }
}

async function nodeBlock(ds: Datastore, node: string): Promise<string> {
  const mine = await ds.get(`${PREFIX}/node/${node}`);
  if (mine) return mine.value;
  const pools = (await new ResourceStore(ds).list<IPPoolSpec>('IPPool')).filter(
    (p) => p.spec && !p.spec.disabled && !p.spec.cidr.includes(':'),
  );
  const pool = pools[0];
  if (!pool?.spec) throw new PluginError(100, 'no enabled IPv4 IPPool in the datastore');
  for (const block of subnets(parseCidr(pool.spec.cidr), pool.spec.blockSize ?? 26)) {
    const text = formatCidr(block);
    if (await createIfAbsent(ds, `${PREFIX}/block/${text.replace('/', '-')}`, node)) {
      if (await createIfAbsent(ds, `${PREFIX}/node/${node}`, text)) return text;
      await ds.delete(`${PREFIX}/block/${text.replace('/', '-')}`);
      return (await ds.get(`${PREFIX}/node/${node}`))!.value;
    }
  }
  throw new PluginError(100, `pool ${pool.spec.cidr} has no free block`);
}

async function allocate(ds: Datastore, node: string, containerId: string): Promise<string> {
  const held = await ds.get(`${PREFIX}/handle/${containerId}`);
  if (held) return held.value;
  const block = parseCidr(await nodeBlock(ds, node));
  for (let i = 0n; i < cidrSize(block); i++) {
    const address = formatIP(addressAt(block, i));
    if (await createIfAbsent(ds, `${PREFIX}/ip/${address}`, containerId)) {
      await ds.create(`${PREFIX}/handle/${containerId}`, address);
      return address;
    }
  }
  throw new PluginError(100, `block ${formatCidr(block)} of ${node} is full`);
}

async function release(ds: Datastore, containerId: string): Promise<void> {
  const held = await ds.get(`${PREFIX}/handle/${containerId}`);
  if (!held) return;
  await ds.delete(`${PREFIX}/ip/${held.value}`).catch((e) => {
    if (!(e instanceof NotFoundError)) throw e;
  });
  await ds.delete(`${PREFIX}/handle/${containerId}`);
}

function macOf(netnsPath: string | undefined, ifName: string): string | undefined {
  const argv = netnsPath
    ? ['nsenter', `--net=${netnsPath}`, 'ip', '-json', 'link', 'show', ifName]
    : ['ip', '-json', 'link', 'show', ifName];
  const out = sh(argv, true);
  try {
    return (JSON.parse(out) as { address?: string }[])[0]?.address;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const command = env('CNI_COMMAND');
  const stdin = readFileSync(0, 'utf8');
  if (command === 'VERSION') {
    process.stdout.write(
      JSON.stringify({ cniVersion: '1.0.0', supportedVersions: SUPPORTED }) + '\n',
    );
    return;
  }
  let config: Config;
  try {
    config = JSON.parse(stdin) as Config;
  } catch (err) {
    throw new PluginError(6, 'cannot decode the network configuration', (err as Error).message);
  }
  if (!SUPPORTED.includes(config.cniVersion))
    throw new PluginError(1, `unsupported cniVersion ${config.cniVersion}`);
  if (!config.nodename || !config.datastore)
    throw new PluginError(7, 'nodename and datastore are required');
  const containerId = env('CNI_CONTAINERID');
  const ifName = env('CNI_IFNAME');
  const netns = process.env['CNI_NETNS'];
  const args = parseArgs(process.env['CNI_ARGS']);
  const namespace = args['K8S_POD_NAMESPACE'] ?? 'default';
  const pod = args['K8S_POD_NAME'] ?? containerId;
  const hostIf = hostIfName(namespace, pod);
  const ds = await openDatastore(config.datastore);
  const weps = new ResourceStore(ds);
  const name = wepName(config.nodename, pod, ifName);
  try {
    if (command === 'ADD') {
      if (!netns) throw new PluginError(4, 'CNI_NETNS is not set');
      const address = await allocate(ds, config.nodename, containerId);
      const mtu = String(config.mtu ?? 1500);
      const inWl = (argv: string[]) => sh(['nsenter', `--net=${netns}`, ...argv]);
      sh([
        'ip',
        'link',
        'add',
        hostIf,
        'mtu',
        mtu,
        'type',
        'veth',
        'peer',
        'name',
        ifName,
        'mtu',
        mtu,
        'netns',
        netns,
      ]);
      writeFileSync(`/proc/sys/net/ipv4/conf/${hostIf}/proxy_arp`, '1');
      writeFileSync(`/proc/sys/net/ipv4/neigh/${hostIf}/proxy_delay`, '0');
      sh(['ip', 'link', 'set', hostIf, 'up']);
      sh(['ip', 'route', 'replace', `${address}/32`, 'dev', hostIf, 'scope', 'link']);
      inWl(['ip', 'addr', 'add', `${address}/32`, 'dev', ifName]);
      inWl(['ip', 'link', 'set', ifName, 'up']);
      inWl(['ip', 'route', 'add', GATEWAY, 'dev', ifName, 'scope', 'link']);
      inWl(['ip', 'route', 'add', 'default', 'via', GATEWAY, 'dev', ifName]);
      const labels = Object.fromEntries(
        (config.args?.cni?.labels ?? []).map((l) => [l.key, l.value]),
      );
      await weps.apply({
        apiVersion: CALICO_API_VERSION,
        kind: 'WorkloadEndpoint',
        metadata: {
          name,
          namespace,
          labels: {
            ...labels,
            'projectcalico.org/namespace': namespace,
            'projectcalico.org/orchestrator': 'k8s',
          },
        },
        spec: {
          orchestrator: 'k8s',
          node: config.nodename,
          containerID: containerId,
          pod,
          endpoint: ifName,
          ipNetworks: [`${address}/32`],
          profiles: [`kns.${namespace}`],
          interfaceName: hostIf,
          mac: macOf(netns, ifName),
        },
      });
      const result = {
        cniVersion: config.cniVersion,
        interfaces: [
          { name: hostIf, mac: macOf(undefined, hostIf) },
          { name: ifName, mac: macOf(netns, ifName), sandbox: netns },
        ],
        ips: [{ address: `${address}/32`, gateway: GATEWAY, interface: 1 }],
        routes: [{ dst: '0.0.0.0/0', gw: GATEWAY }],
        dns: {},
      };
      process.stdout.write(JSON.stringify(result) + '\n');
    } else if (command === 'DEL') {
      sh(['ip', 'link', 'del', hostIf], true);
      await release(ds, containerId);
      await weps.delete('WorkloadEndpoint', name, namespace).catch((e) => {
        if (!(e instanceof NotFoundError)) throw e;
      });
    } else if (command === 'CHECK') {
      sh(['ip', 'link', 'show', hostIf]);
      if (!(await ds.get(`${PREFIX}/handle/${containerId}`)))
        throw new PluginError(3, `no address for ${containerId}`);
    } else {
      throw new PluginError(4, `unknown CNI_COMMAND ${command}`);
    }
  } finally {
    await ds.close();
  }
}

main().catch((err: unknown) => {
  const e =
    err instanceof PluginError ? err : new PluginError(100, (err as Error).message ?? String(err));
  process.stdout.write(
    JSON.stringify({
      cniVersion: '1.0.0',
      code: e.code,
      msg: e.message,
      ...(e.details ? { details: e.details } : {}),
    }) + '\n',
  );
  process.exitCode = 1;
});
