// A two-host cluster in network namespaces for the policy end-to-end tests:
// hosts joined by one veth (10.99.0.1 and .2), workloads on veths whose host
// ends are named like Calico's (cali…), each workload a /32 routed by its
// host and by the other host via the first. Every namespace name starts with
// a prefix unique to the run; destroy() removes them all (and so every link
// and process in them).

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function sh(
  argv: string[],
  opts: { check?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
      const raw = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof raw === 'number' ? raw : 1) : 0;
      if (err && opts.check !== false)
        reject(new Error(`${argv.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve({ code, stdout, stderr });
    });
  });
}

export async function ipBatch(netns: string | undefined, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const dir = mkdtempSync(join(tmpdir(), 'tortie-ip-'));
  const file = join(dir, 'batch');
  try {
    writeFileSync(file, `${lines.join('\n')}\n`);
    await sh(netns ? ['ip', '-n', netns, '-batch', file] : ['ip', '-batch', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TopologyWorkload {
  id: string;
  ip: string;
  /** An IPv6 address too: routed like the IPv4 one, the host's link-local as gateway. */
  ip6?: string;
  node: string;
  iface: string;
}

export interface Topology {
  prefix: string;
  hosts: Map<string, { netns: string; address: string; address6: string }>;
  workloads: Map<string, TopologyWorkload & { netns: string }>;
  destroy(): Promise<void>;
}

const HOST_NET = '10.99.0';
const HOST_NET6 = 'fd00:99::';
/** The link-local address of a veth whose MAC is ee:ee:ee:ee:ee:ee (Calico's host side). */
const HOST_LINK_LOCAL = 'fe80::ecee:eeff:feee:eeee';
/** No duplicate address detection: addresses are usable at once, as the tests want. */
const NO_DAD = ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'];

/** A unique namespace prefix for this run ("tpp1a2b-"). */
export function uniquePrefix(tag: string): string {
  return `${tag}${process.pid.toString(36).slice(-3)}${Math.random().toString(36).slice(2, 5)}-`;
}

export async function listNetns(prefix: string): Promise<string[]> {
  const { stdout } = await sh(['ip', 'netns', 'list'], { check: false });
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

export async function deleteNamespaces(prefix: string): Promise<void> {
  for (const ns of await listNetns(prefix)) {
    const { stdout } = await sh(['ip', 'netns', 'pids', ns], { check: false });
    for (const pid of stdout
      .split('\n')
      .map(Number)
      .filter((p) => p > 0 && p !== process.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sh(['ip', 'netns', 'del', ns], { check: false });
  }
}

/**
 * Builds hosts (by node name) and workloads. Hosts get forwarding on and
 * routes to the other host's workloads; workloads route everything through
 * 169.254.1.1, which their host's veth answers by proxy ARP (as in Calico).
 */
export async function buildTopology(
  prefix: string,
  nodes: readonly string[],
  workloads: readonly TopologyWorkload[],
): Promise<Topology> {
  const hosts = new Map<string, { netns: string; address: string; address6: string }>();
  const wls = new Map<string, TopologyWorkload & { netns: string }>();
  const topo: Topology = { prefix, hosts, workloads: wls, destroy: () => deleteNamespaces(prefix) };
  try {
    for (const [i, node] of nodes.entries()) {
      const netns = `${prefix}h${i + 1}`;
      await sh(['ip', 'netns', 'add', netns]);
      hosts.set(node, {
        netns,
        address: `${HOST_NET}.${i + 1}`,
        address6: `${HOST_NET6}${i + 1}`,
      });
      await sh([
        'ip',
        'netns',
        'exec',
        netns,
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.ip_forward=1',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
        'net.ipv6.conf.all.forwarding=1',
        ...NO_DAD,
      ]);
    }
    const hostList = [...hosts.values()];
    // Proxy ARP answers for 169.254.1.1 only if the host routes it out of another
    // interface: a veth with nothing behind it (no dummy driver everywhere).
    for (const h of hostList) {
      await ipBatch(h.netns, [
        'link set lo up',
        'link add gw0 type veth peer name gw1',
        'link set gw1 up',
        'link set gw0 up',
        'route add 169.254.1.1/32 dev gw0',
      ]);
    }
    // One segment between hosts: a veth pair for two, a bridge-free chain otherwise.
    if (hostList.length >= 2) {
      const [a, b] = hostList as [
        { netns: string; address: string; address6: string },
        { netns: string; address: string; address6: string },
      ];
      await sh([
        'ip',
        '-n',
        a.netns,
        'link',
        'add',
        'eth1',
        'type',
        'veth',
        'peer',
        'name',
        'eth1',
        'netns',
        b.netns,
      ]);
      for (const h of [a, b]) {
        await ipBatch(h.netns, [
          `addr add ${h.address}/24 dev eth1`,
          `addr add ${h.address6}/64 dev eth1 nodad`,
          'link set eth1 up',
        ]);
      }
    }
    const perHost = new Map<string, string[]>();
    for (const w of workloads) {
      const host = hosts.get(w.node);
      if (!host) throw new Error(`workload ${w.id}: no host ${w.node}`);
      const netns = `${prefix}w${wls.size + 1}`;
      await sh(['ip', 'netns', 'add', netns]);
      await sh(['ip', 'netns', 'exec', netns, 'sysctl', '-q', '-w', ...NO_DAD]);
      await sh([
        'ip',
        '-n',
        host.netns,
        'link',
        'add',
        w.iface,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        netns,
      ]);
      await ipBatch(netns, [
        'link set lo up',
        `addr add ${w.ip}/32 dev eth0`,
        'link set eth0 up',
        'route add 169.254.1.1 dev eth0 scope link',
        'route add default via 169.254.1.1 dev eth0',
        ...(w.ip6
          ? [
              `addr add ${w.ip6}/128 dev eth0 nodad`,
              `route add default via ${HOST_LINK_LOCAL} dev eth0`,
            ]
          : []),
      ]);
      const lines = perHost.get(w.node) ?? [];
      lines.push(
        `link set ${w.iface} address ee:ee:ee:ee:ee:ee`,
        `link set ${w.iface} up`,
        `route add ${w.ip}/32 dev ${w.iface} scope link`,
        ...(w.ip6 ? [`route add ${w.ip6}/128 dev ${w.iface}`] : []),
      );
      perHost.set(w.node, lines);
      await sh([
        'ip',
        'netns',
        'exec',
        host.netns,
        'sysctl',
        '-q',
        '-w',
        `net.ipv4.conf.${w.iface}.proxy_arp=1`,
        `net.ipv4.neigh.${w.iface}.proxy_delay=0`,
        `net.ipv4.conf.${w.iface}.rp_filter=0`,
      ]);
      wls.set(w.id, { ...w, netns });
    }
    for (const [node, lines] of perHost) {
      const host = hosts.get(node)!;
      for (const w of workloads) {
        if (w.node === node) continue;
        lines.push(`route add ${w.ip}/32 via ${hosts.get(w.node)!.address} dev eth1`);
        if (w.ip6) lines.push(`route add ${w.ip6}/128 via ${hosts.get(w.node)!.address6} dev eth1`);
      }
      await ipBatch(host.netns, lines);
    }
    return topo;
  } catch (err) {
    await topo.destroy();
    throw err;
  }
}
