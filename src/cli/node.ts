// `tortie node run` (the host agent) and `tortie node status`.

import { Command, InvalidArgumentError } from 'commander';
import { pino, type Logger } from 'pino';
import { Agent, defaultNodeName } from '../agent/agent.js';
import { parseAutodetectMethod, parseHostAddress } from '../agent/autodetect.js';
import { AgentMetrics } from '../agent/metrics.js';
import type { BgpStatus } from '../agent/bgp.js';
import { readStatuses, type AgentStatus } from '../agent/status.js';
import type { BgpMode } from '../calc/types.js';
import { startCniServer } from '../cni/server.js';
import { LinuxKernel } from '../dataplane/kernel.js';
import { PolicyAgentHook } from '../dataplane/policy/agent-hook.js';
import { openDatastore } from '../datastore/open.js';
import { ResourceStore } from '../datastore/resources.js';
import type { NodeSpec } from '../model/resource.js';
import { table } from '../lab/format.js';
import { CliError, type CliContext } from './context.js';

export const DEFAULT_AGENT_SOCKET = '/run/tortie/agent.sock';

export interface NodeRunOptions {
  name?: string;
  ip: string;
  ipAutodetectionMethod: string;
  datastore?: string;
  cniSocket: string;
  healthPort?: number;
  metricsPort?: number;
  resyncInterval: number;
  routeGrace: number;
  logLevel: string;
  /** Enforce network policy (default true; `--no-policy` turns it off). */
  policy?: boolean;
  /** BGP: auto (on once BGPConfiguration "default" exists), on, off. */
  bgp?: BgpMode;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < -1 || n > 65535)
    throw new InvalidArgumentError('a port number, 0 for any free port, -1 for none.');
  return n;
}

function bgpMode(value: string): BgpMode {
  if (value !== 'auto' && value !== 'on' && value !== 'off')
    throw new InvalidArgumentError('auto, on or off.');
  return value;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('a number of seconds (0 turns it off).');
  return n;
}

/** Runs the agent until SIGTERM or SIGINT; resolves when it has stopped. */
export async function runAgent(
  opts: NodeRunOptions,
  log: Logger = pino({ level: opts.logLevel, base: { component: 'tortie-agent' } }),
): Promise<void> {
  const nodeName = opts.name ?? defaultNodeName();
  const hostAddress =
    opts.ip === 'auto' || opts.ip === 'autodetect' ? undefined : parseHostAddress(opts.ip);
  const autodetect = parseAutodetectMethod(opts.ipAutodetectionMethod);
  const datastore = await openDatastore(opts.datastore);
  const kernel = new LinuxKernel();
  const policy = opts.policy === false ? undefined : new PolicyAgentHook({ nodeName });
  const agent = new Agent(
    {
      nodeName,
      hostAddress,
      autodetect,
      ...(opts.healthPort !== undefined ? { healthPort: opts.healthPort } : {}),
      ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}),
      resyncIntervalMs: opts.resyncInterval * 1000,
      routeGraceMs: opts.routeGrace * 1000,
      ...(opts.bgp !== undefined ? { bgp: opts.bgp } : {}),
    },
    {
      datastore,
      kernel,
      log,
      metrics: new AgentMetrics({ processMetrics: true }),
      extensions: policy
        ? [{ name: 'policy', prefixes: PolicyAgentHook.prefixes, hook: policy }]
        : [],
      services:
        opts.cniSocket === ''
          ? undefined
          : async (notReady) => {
              const server = await startCniServer({
                socketPath: opts.cniSocket,
                agentNotReady: notReady,
              });
              log.info({ socket: opts.cniSocket }, 'serving CNI calls');
              return server;
            },
    },
  );
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ node: nodeName, datastore: datastore.url, pid: process.pid }, 'tortie agent starting');
  try {
    await Promise.race([agent.start(), stopped]);
    const signal = await stopped;
    log.info({ signal }, 'stopping; the kernel is left as it is');
  } finally {
    await agent.stop().catch((err: Error) => log.error({ err: err.message }, 'stop failed'));
    policy?.close();
    await datastore.close().catch(() => undefined);
  }
}

function age(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

export function formatNodeStatus(
  nodes: { name: string; address: string | undefined }[],
  statuses: AgentStatus[],
): string {
  const byNode = new Map(statuses.map((s) => [s.node, s]));
  const names = [...new Set([...nodes.map((n) => n.name), ...statuses.map((s) => s.node)])].sort(
    (a, b) => a.localeCompare(b, 'en', { numeric: true }),
  );
  const rows = [
    ['NODE', 'ADDRESS', 'AGENT', 'DATASTORE', 'ROUTES', 'ENDPOINTS', 'VXLAN', 'UPDATED'],
  ];
  const problems: string[] = [];
  for (const name of names) {
    const s = byNode.get(name);
    const address = s?.hostAddress ?? nodes.find((n) => n.name === name)?.address ?? '-';
    if (!s) {
      rows.push([name, address, 'no agent', '-', '-', '-', '-', '-']);
      continue;
    }
    const stale = Date.now() - Date.parse(s.updatedAt) > 90_000;
    rows.push([
      name,
      address,
      stale ? 'stale' : s.ready ? 'ready' : 'not ready',
      s.datastore,
      `${s.routes.programmed}/${s.routes.desired}${s.routes.pending ? ` (${s.routes.pending} pending)` : ''}`,
      `${s.endpoints.ready}/${s.endpoints.total}`,
      s.vxlan.device ? `${s.vxlan.tunnelAddress} ${s.vxlan.mac}` : '-',
      `${age(s.updatedAt)} ago`,
    ]);
    if (!s.ready) problems.push(`${name}: not ready: ${s.reason}`);
    for (const p of s.problems) problems.push(`${name}: ${p.severity} ${p.kind}: ${p.message}`);
  }
  const bgp = names.flatMap((name) => {
    const b = byNode.get(name)?.bgp;
    return b ? [formatBgpStatus(name, b)] : [];
  });
  return (
    table(rows) +
    (problems.length ? '\n' + problems.join('\n') + '\n' : '') +
    (bgp.length ? '\n' + bgp.join('\n') : '')
  );
}

const PEER_TYPES: Record<BgpStatus['peers'][number]['type'], string> = {
  mesh: 'node-to-node mesh',
  global: 'global',
  node: 'node specific',
  rr: 'route reflector',
};

/** A table with calicoctl's borders. */
function boxed(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const rule = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const line = (r: string[], center = false) =>
    '| ' +
    r
      .map((c, i) => {
        const w = widths[i]!;
        if (!center) return c.padEnd(w);
        const left = Math.floor((w - c.length) / 2);
        return (' '.repeat(left) + c).padEnd(w);
      })
      .join(' | ') +
    ' |';
  return [rule, line(header, true), rule, ...rows.map((r) => line(r)), rule].join('\n');
}

function clock(iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return '-';
  const d = new Date(t);
  const today = new Date();
  const hms = d.toISOString().slice(11, 19);
  return d.toDateString() === today.toDateString() ? hms : d.toISOString().slice(0, 10);
}

/** One host's BGP part of `tortie node status`, after `calicoctl node status`. */
export function formatBgpStatus(node: string, b: BgpStatus): string {
  const head = b.running
    ? `${node}: BGP speaker running, AS ${b.asn}, router id ${b.routerId}` +
      (b.clusterId ? `, route reflector (cluster ${b.clusterId})` : '') +
      (b.listening ? `, listening on ${b.listening}` : '') +
      (b.restarting ? `, graceful restart in progress (${b.retained} routes kept)` : '')
    : `${node}: BGP on, speaker not running`;
  const peers = b.peers.map((p) => [
    p.address + (p.port !== 179 ? `:${p.port}` : ''),
    PEER_TYPES[p.type] + (p.routeReflectorClient ? ' (rr client)' : ''),
    p.state === 'Established' ? 'up' : p.state === 'Idle' ? 'down' : 'start',
    p.state === 'Established' || Date.parse(p.since) > 0 ? clock(p.since) : '-',
    p.state === 'Established'
      ? `Established${p.prefixesStale ? ` (${p.prefixesStale} stale)` : ''}`
      : `${p.state}${p.info ? ` ${p.info}` : ''}`,
  ]);
  const parts = [head, '', 'IPv4 BGP status'];
  parts.push(
    peers.length
      ? boxed(['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO'], peers)
      : 'No IPv4 peers found.',
  );
  parts.push('', `IPv4 routes learned (${b.learnedCount}), ${b.originated} originated`);
  if (b.learned.length > 0) {
    parts.push(
      boxed(
        ['PREFIX', 'NEXT HOP', 'PEER', 'KERNEL'],
        b.learned.map((r) => [
          r.prefix,
          r.nextHop,
          r.peer + (r.stale ? ' (stale)' : ''),
          r.skipped ?? `via ${r.via}`,
        ]),
      ),
    );
  }
  for (const e of b.errors) parts.push(`error: ${e}`);
  return parts.join('\n') + '\n';
}

/** `tortie node …`. */
export function registerNodeCommands(program: Command, ctx: CliContext): void {
  const node = program
    .command('node')
    .description("the host agent: run it, or see every host's status");

  node
    .command('run')
    .description('run the host agent: program routes, VXLAN and NAT outgoing from the datastore')
    .option('--name <node>', "this host's Node name (default: the hostname); must be unique")
    .option('--ip <addr>', 'the host address with its prefix length (ADDR/LEN), or "auto"', 'auto')
    .option(
      '--ip-autodetection-method <method>',
      'with --ip auto: first-found | interface=REGEX | skip-interface=REGEX | can-reach=ADDR | cidr=CIDR',
      'first-found',
    )
    .option('--datastore <url>', 'sqlite:PATH or etcd://HOST:PORT (env TORTIE_DATASTORE)')
    .option(
      '--cni-socket <path>',
      'where to serve CNI calls ("" for nowhere)',
      DEFAULT_AGENT_SOCKET,
    )
    .option(
      '--health-port <port>',
      'health HTTP port on 127.0.0.1 (default FelixConfiguration healthPort, else 9099)',
      port,
    )
    .option(
      '--metrics-port <port>',
      'Prometheus port on 127.0.0.1 (default prometheusMetricsPort, else 9091)',
      port,
    )
    .option(
      '--resync-interval <seconds>',
      're-read the kernel and repair drift this often',
      seconds,
      30,
    )
    .option('--route-grace <seconds>', 'how long a stray workload route is left alone', seconds, 10)
    .option('--no-policy', 'do not enforce network policy (no nftables table inet tortie-policy)')
    .option(
      '--bgp <mode>',
      'BGP: auto (on once BGPConfiguration "default" exists) | on | off (routes to peers programmed directly)',
      bgpMode,
      'auto',
    )
    .option(
      '--log-level <level>',
      'trace | debug | info | warn | error',
      process.env['TORTIE_LOG_LEVEL'] ?? 'info',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<NodeRunOptions>();
      await runAgent(opts);
    });

  node
    .command('status')
    .description(
      "every host: its agent's readiness, routes, endpoints, VXLAN, BGP peers and learned routes, and problems (such as ipip pools)",
    )
    .option('--name <node>', 'only this host')
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (opts: { name?: string; output: string }) => {
      const ds = await ctx.datastore();
      const [nodes, statuses] = await Promise.all([
        new ResourceStore(ds).list<NodeSpec>('Node'),
        readStatuses(ds),
      ]);
      const wanted = (n: string) => opts.name === undefined || n === opts.name;
      const shownNodes = nodes
        .filter((n) => wanted(n.metadata.name))
        .map((n) => ({ name: n.metadata.name, address: n.spec?.bgp?.ipv4Address }));
      const shownStatuses = statuses.filter((s) => wanted(s.node));
      if (opts.name !== undefined && shownNodes.length === 0 && shownStatuses.length === 0) {
        throw new CliError(`no Node "${opts.name}"`);
      }
      if (opts.output === 'json') ctx.stdout.write(JSON.stringify(shownStatuses, null, 2) + '\n');
      else if (opts.output === 'text')
        ctx.stdout.write(formatNodeStatus(shownNodes, shownStatuses));
      else throw new CliError(`unknown output format "${opts.output}": use text or json`);
    });
}

/**
 * The node commands on their own (`node run …`, `node status …`), for running
 * the agent straight from the sources: node --import tsx -e
 * "import('./src/cli/node.ts').then((m) => m.nodeMain(process.argv.slice(1)))" node run …
 */
export async function nodeMain(argv: string[]): Promise<void> {
  const program = new Command('tortie').option('--datastore <url>', 'datastore URL').exitOverride();
  let opened: ReturnType<typeof openDatastore> | undefined;
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    datastore: () => (opened ??= openDatastore(program.opts<{ datastore?: string }>().datastore)),
  };
  registerNodeCommands(program, ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('commander.')) {
      process.exitCode = (err as { exitCode?: number }).exitCode ?? 2;
    } else {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exitCode = err instanceof CliError ? err.exitCode : 1;
    }
  } finally {
    if (opened) await (await opened).close().catch(() => undefined);
  }
}
