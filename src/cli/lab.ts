import { InvalidArgumentError, type Command } from 'commander';
import { agentHostProcess, agentsReport, waitForAgents, waitForBgp } from '../lab/agents.js';
import { formatStatus } from '../lab/format.js';
import {
  labDown,
  labExec,
  labPing,
  labRoutes,
  labState,
  labUp,
  labWorkloadAdd,
  labWorkloadDelete,
  listLabs,
  pluginAt,
  type LabContext,
} from '../lab/lab.js';
import { formatMatrix, formatSummary } from '../lab/matrix.js';
import { DEFAULT_LAB_NAME, labRoot } from '../lab/naming.js';
import { ENCAPS, TOPOLOGIES, parseLabels, type Encap, type Topology } from '../lab/plan.js';
import { formatRouteTable } from '../lab/routes.js';
import { statusOf } from '../lab/state.js';
import { CliError, type CliContext } from './context.js';

interface LabOpt {
  name: string;
}

const NAME_HELP = `the lab (default "${DEFAULT_LAB_NAME}")`;

/** `tortie lab …`: a cluster of network namespaces on this machine (docs/lab.md). */
export function registerLabCommands(program: Command, ctx: CliContext): void {
  const print = (text: string) => ctx.stdout.write(text.endsWith('\n') ? text : text + '\n');
  const labCtx = (progress = false): LabContext => ({
    root: labRoot(),
    ...(progress ? { progress: (line: string) => print(line) } : {}),
  });

  const lab = program
    .command('lab')
    .description(
      'a Tortie cluster on this machine: hosts and workloads made of network namespaces',
    );

  lab
    .command('up')
    .description(
      'build a lab: underlay, hosts, datastore, IP pool, workloads (through the CNI plugin)',
    )
    .option('--name <lab>', NAME_HELP, DEFAULT_LAB_NAME)
    .option('--hosts <n>', 'number of hosts', integer, 2)
    .option('--workloads <n>', 'workloads per host', integer, 2)
    .option('--topology <t>', `underlay: ${TOPOLOGIES.join(' | ')}`, 'flat')
    .option('--encap <e>', `pool encapsulation: ${ENCAPS.join(' | ')}`, 'none')
    .option(
      '--bgp',
      'the hosts peer over BGP (full mesh; racks always do) instead of programming routes to each other directly',
    )
    .option('--racks <n>', 'racks topology: how many racks', integer, 2)
    .option(
      '--hosts-per-rack <n>',
      'racks topology: hosts per rack (the first reflects)',
      integer,
      2,
    )
    .option(
      '--external-router',
      'a BIRD 2 data-centre gateway peering with the hosts (or reflectors), and an outside namespace behind it',
    )
    .option('--datastore <url>', 'a shared datastore (default: embedded, in the lab directory)')
    .option(
      '--cni-plugin <path>',
      'the CNI plugin executable (default: bin/tortie-cni, or $TORTIE_CNI_PLUGIN)',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{
        name: string;
        hosts: number;
        workloads: number;
        topology: string;
        encap: string;
        datastore?: string;
        cniPlugin?: string;
        bgp?: boolean;
        racks: number;
        hostsPerRack: number;
        externalRouter?: boolean;
      }>();
      const racks = opts.topology === 'racks';
      const state = await labUp(labCtx(true), {
        name: opts.name,
        hosts: racks ? opts.racks * opts.hostsPerRack : opts.hosts,
        workloads: opts.workloads,
        topology: opts.topology as Topology,
        encap: opts.encap as Encap,
        ...(opts.bgp ? { bgp: true } : {}),
        ...(racks ? { racks: opts.racks, hostsPerRack: opts.hostsPerRack } : {}),
        ...(opts.externalRouter ? { externalRouter: true } : {}),
        ...(opts.datastore ? { datastore: opts.datastore } : {}),
        ...(opts.cniPlugin ? { plugin: pluginAt(opts.cniPlugin) } : {}),
        hostProcesses: [agentHostProcess({ root: labRoot() })],
      });
      print('');
      print(formatStatus(state));
      await waitForAgents(state);
      if (state.bgp) await waitForBgp(state);
      print('');
      print((await agentsReport(labCtx(), state)).text);
      print('');
      const flag = opts.name === DEFAULT_LAB_NAME ? '' : ` --name ${opts.name}`;
      print(
        [
          `next: tortie lab ping${flag}`,
          `      tortie lab routes${flag} host1`,
          `      tortie lab exec${flag} ${state.workloads[0]?.name ?? 'host1'} -- ip addr`,
          `      tortie --datastore ${state.datastore.url} get workloadendpoints -o wide`,
          `      tortie lab down${flag}`,
        ].join('\n'),
      );
    });

  lab
    .command('down')
    .description('remove every namespace, link, process and file of a lab (safe to repeat)')
    .option('--name <lab>', NAME_HELP, DEFAULT_LAB_NAME)
    .action(async (opts: LabOpt) => {
      const report = await labDown(labCtx(true), opts.name);
      for (const w of report.warnings) ctx.stderr.write(`warning: ${w}\n`);
      const nothing =
        report.namespaces.length === 0 && !report.dirRemoved && report.processes === 0;
      print(nothing ? `lab ${opts.name}: nothing to remove` : `lab ${opts.name} is down`);
      if (report.warnings.some((w) => w.startsWith('namespaces still present'))) {
        throw new CliError(`lab ${opts.name}: some namespaces could not be removed`);
      }
    });

  lab
    .command('status')
    .description('hosts, workloads, addresses and namespaces of a lab')
    .option('--name <lab>', NAME_HELP, DEFAULT_LAB_NAME)
    .option('-o, --output <format>', 'text | json', 'text')
    .action((opts: LabOpt & { output: string }) => {
      const state = withLabList(() => labState(labCtx(), opts.name), opts.name);
      if (opts.output === 'json') print(JSON.stringify(statusOf(state), null, 2));
      else if (opts.output === 'text') print(formatStatus(state));
      else throw new CliError(`unknown output format "${opts.output}": use text or json`);
    });

  const workload = lab
    .command('workload')
    .description('add or delete one workload through the CNI plugin');
  workload
    .command('add')
    .description('create a workload: a namespace, then CNI ADD on its host')
    .argument('<workload>', 'workload (pod) name')
    .requiredOption('--host <host>', 'the host it runs on, e.g. host1')
    .option('--namespace <ns>', 'its namespace (K8S_POD_NAMESPACE)', 'default')
    .option('--labels <k=v,...>', 'labels for its WorkloadEndpoint')
    .option('--name <lab>', NAME_HELP, DEFAULT_LAB_NAME)
    .action(
      async (name: string, opts: LabOpt & { host: string; namespace: string; labels?: string }) => {
        const w = await labWorkloadAdd(labCtx(), opts.name, name, {
          host: opts.host,
          namespace: opts.namespace,
          labels: parseLabels(opts.labels),
        });
        print(
          `workload ${w.name} added on ${w.host}: ${w.addresses.join(', ')} (netns ${w.netns})`,
        );
      },
    );
  workload
    .command('delete')
    .description('remove a workload: CNI DEL, then its namespace')
    .argument('<workload>')
    .option('--name <lab>', NAME_HELP, DEFAULT_LAB_NAME)
    .action(async (name: string, opts: LabOpt) => {
      const w = await labWorkloadDelete(labCtx(), opts.name, name);
      print(`workload ${w.name} deleted from ${w.host}`);
    });

  lab
    .command('exec')
    .description(
      "run a command in a host's or workload's network namespace: lab exec NAME -- CMD...",
    )
    .argument('<node>', 'a host, a workload, "router", "underlay", "gateway" or "outside"')
    .argument('<command...>', 'the command, after --')
    .option('--name <lab>', NAME_HELP, DEFAULT_LAB_NAME)
    .action(async (node: string, argv: string[], opts: LabOpt) => {
      const interactive = ctx.stdout === process.stdout && ctx.stderr === process.stderr;
      const status = await labExec(
        labCtx(),
        opts.name,
        node,
        argv,
        interactive ? {} : { stdout: ctx.stdout, stderr: ctx.stderr },
      );
      if (status !== 0) throw new CliError(`${argv[0]} exited with status ${status}`, status);
    });

  lab
    .command('ping')
    .description(
      'ping every pair of hosts and workloads; fails if a pair that should reach does not',
    )
    .option('--name <lab>', NAME_HELP, DEFAULT_LAB_NAME)
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (opts: LabOpt & { output: string }) => {
      const report = await labPing(labCtx(), opts.name);
      if (opts.output === 'json') {
        print(JSON.stringify({ summary: report.summary, probes: report.probes }, null, 2));
      } else {
        print(formatMatrix(report.endpoints, report.probes));
        print('');
        print(formatSummary(report.summary));
      }
      const failed = report.summary.failures.length;
      if (failed > 0) throw new CliError(`${failed} pair(s) that should reach did not`);
    });

  lab
    .command('routes')
    .description("a host's IPv4 routing table, as route -n prints it")
    .argument('<node>', 'a host (or a workload, "router")')
    .option('--name <lab>', NAME_HELP, DEFAULT_LAB_NAME)
    .option('-o, --output <format>', 'text | json (ip -json route)', 'text')
    .action(async (node: string, opts: LabOpt & { output: string }) => {
      const routes = await labRoutes(labCtx(), opts.name, node);
      print(opts.output === 'json' ? JSON.stringify(routes, null, 2) : formatRouteTable(routes));
    });
}

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a whole number.');
  return Number(value);
}

/** A missing lab's error also names the labs that do exist. */
function withLabList<T>(fn: () => T, name: string): T {
  try {
    return fn();
  } catch (err) {
    const others = listLabs({ root: labRoot() }).filter((l) => l !== name);
    if (others.length > 0 && err instanceof Error && err.message.startsWith('no lab')) {
      throw new CliError(`${err.message} (existing labs: ${others.join(', ')})`);
    }
    throw err;
  }
}
