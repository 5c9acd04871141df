// `tortie policy explain` and `tortie policy counters`: why a packet is
// allowed or dropped, from the model (the reference evaluator, the same
// Calico semantics the dataplane is tested against), and which rules are
// counting packets right now, from the kernel.

import { InvalidArgumentError, type Command } from 'commander';
import { readCounters, type CounterRow } from '../dataplane/policy/counters.js';
import { ProcessNft } from '../dataplane/policy/nft.js';
import { POLICY_TABLE } from '../dataplane/policy/render.js';
import type { Datastore } from '../datastore/types.js';
import { ResourceStore } from '../datastore/resources.js';
import { table } from '../lab/format.js';
import { labState } from '../lab/lab.js';
import { DEFAULT_LAB_NAME, hostNetns, labRoot } from '../lab/naming.js';
import { formatIP, tryParseIP } from '../model/cidr.js';
import { POLICY_KINDS } from '../calc/policy/model.js';
import {
  describeBy,
  describeVerdict,
  evaluatePacket,
  ReferenceModel,
} from '../calc/policy/reference.js';
import type { Protocol, Verdict } from '../calc/policy/types.js';
import type { Resource } from '../model/resource.js';
import { CliError, type CliContext } from './context.js';

/** Every resource the policy model reads, from the datastore. */
export async function loadPolicyResources(ds: Datastore): Promise<Resource[]> {
  const store = new ResourceStore(ds);
  const lists = await Promise.all(POLICY_KINDS.map((k) => store.list(k)));
  return lists.flat();
}

export interface ExplainQuery {
  from: string;
  to: string;
  protocol: Protocol;
  port?: number;
  /** ICMP type (default: echo request). */
  icmpType?: number;
  /** Host interfaces a forwarded packet arrives by (receiver's host) and leaves by (sender's). */
  inInterface?: string;
  outInterface?: string;
}

export interface ExplainResult {
  allowed: boolean;
  from: { ref: string; address: string; endpoint: string | undefined };
  to: { ref: string; address: string; endpoint: string | undefined };
  protocol: Protocol;
  port: number | undefined;
  /** One line: what decided. */
  decidedBy: string;
  verdict: Verdict;
}

function resolve(
  model: ReferenceModel,
  ref: string,
  side: 'from' | 'to',
): { address: string; endpoint: string | undefined } {
  const ip = tryParseIP(ref);
  if (ip) {
    const ep = model.findWorkload(ref);
    return { address: ref, endpoint: ep?.id };
  }
  const ep = model.findWorkload(ref);
  if (!ep) {
    const known = model.workloadIds();
    throw new CliError(
      `--${side} ${ref}: no such workload (give "namespace/name", a pod name or an address${known.length ? `; known: ${known.slice(0, 8).join(', ')}${known.length > 8 ? ', …' : ''}` : ''})`,
    );
  }
  const address = ep.ips[0];
  if (!address) throw new CliError(`--${side} ${ref}: workload ${ep.id} has no address`);
  return { address: formatIP(address), endpoint: ep.id };
}

/** The verdict for one flow, from resources (pure). */
export function explainFlow(resources: readonly Resource[], q: ExplainQuery): ExplainResult {
  const model = new ReferenceModel(resources);
  const from = resolve(model, q.from, 'from');
  const to = resolve(model, q.to, 'to');
  const verdict = evaluatePacket(
    model,
    {
      src: from.address,
      dst: to.address,
      protocol: q.protocol,
      ...(q.port !== undefined ? { port: q.port } : {}),
      ...(q.icmpType !== undefined ? { icmpType: q.icmpType } : {}),
    },
    {
      ...(q.inInterface !== undefined ? { inInterface: q.inInterface } : {}),
      ...(q.outInterface !== undefined ? { outInterface: q.outInterface } : {}),
    },
  );
  return {
    allowed: verdict.allowed,
    from: { ref: q.from, ...from },
    to: { ref: q.to, ...to },
    protocol: q.protocol,
    port: q.port,
    decidedBy: verdict.decisive ? describeBy(verdict.decisive.by) : 'nothing',
    verdict,
  };
}

export function formatExplain(r: ExplainResult): string {
  const port = r.port !== undefined ? `/${r.port}` : '';
  const who = (s: ExplainResult['from']) =>
    s.endpoint && s.endpoint !== s.ref
      ? `${s.ref} [${s.endpoint}] (${s.address})`
      : s.endpoint
        ? `${s.endpoint} (${s.address})`
        : s.address;
  const lines = describeVerdict(r.verdict);
  lines[0] = `${r.allowed ? 'ALLOWED' : 'DENIED'}: ${who(r.from)} -> ${who(r.to)} ${r.protocol}${port}`;
  lines.push(`decided by: ${r.decidedBy}`);
  return `${lines.join('\n')}\n`;
}

export function formatCounters(rows: CounterRow[], all: boolean): string {
  const shown = rows
    .filter((r) => all || r.packets > 0)
    .sort(
      (a, b) =>
        b.packets - a.packets || a.name.localeCompare(b.name) || (a.rule ?? -1) - (b.rule ?? -1),
    );
  if (shown.length === 0)
    return all ? 'no policy table\n' : 'no packets counted yet (--all lists every rule)\n';
  const rowsShown = [
    ['POLICY', 'DIRECTION', 'RULE', 'ACTION', 'PACKETS', 'BYTES'],
    ...shown.map((r) => [
      r.kind === 'rule' ? r.name : `(${r.kind}) ${r.name}`,
      r.direction ?? '',
      r.rule === undefined ? '' : String(r.rule),
      r.action ?? '',
      String(r.packets),
      String(r.bytes),
    ]),
  ];
  return table(rowsShown);
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError('a port is 1-65535');
  return n;
}

function protocol(value: string): Protocol {
  const p = value.toLowerCase();
  if (p !== 'tcp' && p !== 'udp' && p !== 'icmp' && p !== 'sctp') {
    throw new InvalidArgumentError('tcp, udp, icmp or sctp');
  }
  return p;
}

/** `tortie policy …` (docs/policy.md). */
export function registerPolicyCommands(program: Command, ctx: CliContext): void {
  const print = (text: string) => ctx.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const policy = program
    .command('policy')
    .description('network policy: explain verdicts, read rule counters');

  policy
    .command('explain')
    .description(
      'the verdict for a flow and the tier, policy and rule that decide it (from the model)',
    )
    .requiredOption('--from <workload|addr>', 'source: "namespace/name", a pod name, or an address')
    .requiredOption(
      '--to <workload|addr>',
      'destination: "namespace/name", a pod name, or an address',
    )
    .requiredOption('--protocol <p>', 'tcp | udp | icmp | sctp', protocol)
    .option('--port <n>', 'destination port (tcp, udp, sctp)', port)
    .option(
      '--in-interface <iface>',
      "the host interface a forwarded packet arrives by at the receiver's host (its host endpoint's policy applies)",
    )
    .option(
      '--out-interface <iface>',
      "the host interface it leaves the sender's host by (all-interfaces host endpoints apply without these)",
    )
    .option('-o, --output <format>', 'text | json', 'text')
    .action(
      async (opts: {
        from: string;
        to: string;
        protocol: Protocol;
        port?: number;
        inInterface?: string;
        outInterface?: string;
        output: string;
      }) => {
        if (opts.protocol !== 'icmp' && opts.port === undefined) {
          throw new CliError(`--port is required for ${opts.protocol}`, 2);
        }
        const resources = await loadPolicyResources(await ctx.datastore());
        const result = explainFlow(resources, {
          from: opts.from,
          to: opts.to,
          protocol: opts.protocol,
          ...(opts.port !== undefined && opts.protocol !== 'icmp' ? { port: opts.port } : {}),
          ...(opts.inInterface !== undefined ? { inInterface: opts.inInterface } : {}),
          ...(opts.outInterface !== undefined ? { outInterface: opts.outInterface } : {}),
        });
        if (opts.output === 'json') {
          const { verdict, ...rest } = result;
          print(JSON.stringify({ ...rest, steps: verdict.steps }, null, 2));
        } else if (opts.output === 'text') {
          print(formatExplain(result));
        } else {
          throw new CliError(`-o ${opts.output}: use text or json`, 2);
        }
      },
    );

  policy
    .command('counters')
    .description("packets and bytes per policy rule, read from a node's kernel")
    .option('--node <node>', "a lab host (default: this host's own namespace)")
    .option('--lab <name>', 'the lab --node is in', DEFAULT_LAB_NAME)
    .option('--all', 'list rules that have counted nothing too')
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (opts: { node?: string; lab: string; all?: boolean; output: string }) => {
      let netns: string | undefined;
      if (opts.node) {
        let hosts: string[];
        try {
          hosts = labState({ root: labRoot() }, opts.lab).hosts.map((h) => h.name);
        } catch (err) {
          throw new CliError(`--node ${opts.node}: lab ${opts.lab}: ${(err as Error).message}`);
        }
        if (!hosts.includes(opts.node)) {
          throw new CliError(`--node ${opts.node}: lab ${opts.lab} has hosts ${hosts.join(', ')}`);
        }
        netns = hostNetns(opts.lab, opts.node);
      }
      const nft = new ProcessNft(netns ? { netns } : {});
      try {
        const rows = await readCounters(nft, POLICY_TABLE);
        if (opts.output === 'json') print(JSON.stringify(rows, null, 2));
        else if (opts.output === 'text') print(formatCounters(rows, opts.all === true));
        else throw new CliError(`-o ${opts.output}: use text or json`, 2);
      } finally {
        nft.close();
      }
    });
}
