// `tortie ipam show|check|release|configure`: calicoctl's IPAM commands.

import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Ipam, type IpamUsage } from '../ipam/allocator.js';
import { IpamError } from '../ipam/errors.js';
import {
  DEFAULT_GRACE_SECONDS,
  checkIpam,
  parseReport,
  releaseFromReport,
  type IpamReport,
} from '../ipam/gc.js';
import { CliError, type CliContext } from './context.js';

/** A bordered table in calicoctl's style: headers centred, numbers right-aligned. */
export function borderedTable(
  headers: string[],
  rows: string[][],
  rightAlign: boolean[] = [],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const centre = (text: string, w: number) => {
    const left = Math.floor((w - text.length) / 2);
    return ' '.repeat(left) + text + ' '.repeat(w - text.length - left);
  };
  const line = (cells: string[], fmt: (c: string, i: number) => string) =>
    `| ${cells.map(fmt).join(' | ')} |`;
  return [
    rule,
    line(headers, (c, i) => centre(c, widths[i]!)),
    rule,
    ...rows.map((r) =>
      line(
        headers.map((_, i) => r[i] ?? ''),
        (c, i) => (rightAlign[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)),
      ),
    ),
    rule,
  ].join('\n');
}

/** "n (p%)" with the percentage of total, rounded as calicoctl does. */
function withPercent(n: bigint, total: bigint): string {
  if (total === 0n) return `${n} (0%)`;
  const pct = (n * 1000n) / total;
  return `${n} (${(pct + 5n) / 10n}%)`;
}

function usageTable(usage: IpamUsage, showBlocks: boolean): string {
  const headers = showBlocks
    ? ['GROUPING', 'CIDR', 'AFFINITY', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE']
    : ['GROUPING', 'CIDR', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE'];
  const rows: string[][] = [];
  const row = (grouping: string, cidr: string, affinity: string, total: bigint, inUse: bigint) => {
    const cells = [grouping, cidr];
    if (showBlocks) cells.push(affinity);
    cells.push(String(total), withPercent(inUse, total), withPercent(total - inUse, total));
    rows.push(cells);
  };
  for (const p of usage.pools) {
    row(p.disabled ? 'IP Pool (disabled)' : 'IP Pool', p.cidr, '', p.size, BigInt(p.inUse));
    if (!showBlocks) continue;
    for (const b of usage.blocks.filter((x) => x.pool === p.name)) {
      row(
        'Block',
        b.cidr,
        b.node === null ? '(none)' : `host:${b.node}`,
        BigInt(b.size),
        BigInt(b.inUse),
      );
    }
  }
  if (showBlocks) {
    for (const b of usage.blocks.filter((x) => x.pool === null)) {
      row(
        'Block (no pool)',
        b.cidr,
        b.node === null ? '(none)' : `host:${b.node}`,
        BigInt(b.size),
        BigInt(b.inUse),
      );
    }
  }
  const right = headers.map((h) => h === 'IPS TOTAL');
  return borderedTable(headers, rows, right);
}

function reportSummary(report: IpamReport): string {
  const s = report.summary;
  const lines = [
    `Checked ${s.pools} IP pools, ${s.blocks} blocks, ${s.handles} handles (datastore revision ${report.revision}).`,
    `Found ${s.addressesInUse} IPs in use: ${s.liveAddresses} with a live owner, ${s.leakedAddresses} leaked` +
      (s.youngUnownedAddresses > 0
        ? `, ${s.youngUnownedAddresses} without owner but within the ${report.graceSeconds}s grace period`
        : '') +
      '.',
  ];
  for (const l of report.leaks) {
    lines.push(
      `  leaked: ${l.address} handle ${l.handle ?? '(none)'} node ${l.node ?? '(unknown)'}` +
        ` age ${l.ageSeconds === null ? 'unknown' : `${l.ageSeconds}s`}: ${l.reason}`,
    );
  }
  lines.push(`Found ${s.orphanBlocks} orphan blocks (affine to nodes that do not exist).`);
  for (const o of report.orphanBlocks)
    lines.push(`  orphan: ${o.block} node ${o.node} (${o.inUse} in use)`);
  lines.push(
    `Found ${s.staleAffinities} stale and ${s.missingAffinities} missing block affinities.`,
  );
  for (const a of report.staleAffinities) lines.push(`  stale: ${a.key} (${a.state}): ${a.reason}`);
  for (const m of report.missingAffinities)
    lines.push(`  missing: ${m.block} node ${m.node} (${m.state})`);
  lines.push(`Found ${s.handleProblems} handles whose records disagree with the blocks.`);
  for (const h of report.handles) {
    lines.push(
      `  handle: ${h.handle} (${h.problem}) records ${JSON.stringify(h.recorded)} blocks hold ${JSON.stringify(h.actual)}`,
    );
  }
  lines.push(`Found ${s.outsidePools} IPs outside every IP pool.`);
  for (const o of report.outsidePools)
    lines.push(`  outside pools: ${o.address} in block ${o.block} handle ${o.handle ?? '(none)'}`);
  if (s.invalidBlocks > 0) {
    lines.push(`Found ${s.invalidBlocks} blocks that break the block invariants:`);
    for (const b of report.invalidBlocks) lines.push(`  ${b.key}: ${b.problems.join('; ')}`);
  }
  for (const w of report.warnings) lines.push(`Warning: ${w}`);
  return lines.join('\n');
}

function parseBool(flag: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new CliError(`${flag} must be true or false, got "${value}"`);
}

function parseCount(flag: string, value: string): number {
  if (!/^\d+$/.test(value))
    throw new CliError(`${flag} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

async function wrap<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof IpamError) throw new CliError(err.message);
    throw err;
  }
}

interface ShowOptions {
  showBlocks?: boolean;
  showBorrowed?: boolean;
  showConfiguration?: boolean;
  ip?: string;
}

export function registerIpamCommands(program: Command, ctx: CliContext): void {
  const print = (text: string) => ctx.stdout.write(text + '\n');
  const ipam = program.command('ipam').description('IP address management');

  ipam
    .command('show')
    .description(
      'IP pool usage; with options, blocks, borrowed addresses, one address, or the configuration',
    )
    .option('--show-blocks', 'show each block, its affinity and its usage')
    .option('--show-borrowed', "show addresses used by a node other than the block's owner")
    .option('--show-configuration', 'show the IPAM configuration')
    .option('--ip <address>', 'show who holds the address')
    .action((opts: ShowOptions) =>
      wrap(async () => {
        const allocator = new Ipam(await ctx.datastore(), { cacheTtlMs: 0 });
        if (opts.ip !== undefined) {
          const h = await allocator.holderOf(opts.ip);
          if (!h.allocated) {
            print(
              h.pool === null && h.block === null
                ? `IP ${h.address} is not in any IP pool`
                : `IP ${h.address} is not assigned`,
            );
            return;
          }
          print(`IP ${h.address} is in use`);
          print(`Handle: ${h.handle ?? '(none)'}`);
          print(
            `Block: ${h.block} (affinity ${h.blockNode === null ? 'none' : `host:${h.blockNode}`})`,
          );
          print('Attributes:');
          for (const [k, v] of Object.entries(h.attrs).sort()) print(`  ${k}: ${v}`);
          return;
        }
        if (opts.showConfiguration) {
          const c = await allocator.getConfig();
          print(
            borderedTable(
              ['PROPERTY', 'VALUE'],
              [
                ['StrictAffinity', String(c.strictAffinity)],
                ['AutoAllocateBlocks', String(c.autoAllocateBlocks)],
                ['MaxBlocksPerHost', String(c.maxBlocksPerHost)],
              ],
            ),
          );
          return;
        }
        const usage = await allocator.usage();
        if (opts.showBorrowed) {
          print(
            borderedTable(
              ['IP', 'BORROWING-NODE', 'BLOCK', 'BLOCK OWNER', 'TYPE', 'ALLOCATED-TO'],
              usage.borrowed.map((b) => [
                b.address,
                b.borrowingNode ?? '',
                b.block,
                b.blockNode ?? '(none)',
                b.type,
                b.handle ?? '',
              ]),
            ),
          );
          return;
        }
        print(usageTable(usage, opts.showBlocks === true));
      }),
    );

  ipam
    .command('check')
    .description('look for leaked addresses, orphan blocks and inconsistent records')
    .option(
      '-o, --output <file>',
      'write the report as JSON (input for `ipam release --from-report`)',
    )
    .option(
      '--grace-period <seconds>',
      'an address without owner counts as leaked only after this long',
      String(DEFAULT_GRACE_SECONDS),
    )
    .action((opts: { output?: string; gracePeriod: string }) =>
      wrap(async () => {
        const graceSeconds = parseCount('--grace-period', opts.gracePeriod);
        const report = await checkIpam(await ctx.datastore(), { graceSeconds });
        print(reportSummary(report));
        if (opts.output !== undefined) {
          writeFileSync(opts.output, JSON.stringify(report, null, 2) + '\n');
          print(`IPAM check report saved to ${opts.output}`);
        }
      }),
    );

  ipam
    .command('release')
    .description('release an address, or everything a check report found')
    .option('--ip <address>', 'the address to release')
    .option('--from-report <file>', 'a report from `ipam check -o`; each item is re-verified first')
    .action((opts: { ip?: string; fromReport?: string }) =>
      wrap(async () => {
        if ((opts.ip === undefined) === (opts.fromReport === undefined)) {
          throw new CliError('give exactly one of --ip ADDRESS or --from-report FILE');
        }
        const ds = await ctx.datastore();
        if (opts.ip !== undefined) {
          const result = await new Ipam(ds, { cacheTtlMs: 0 }).releaseIPs([opts.ip]);
          if (result.released.length > 0)
            print(`Successfully released IP address ${result.released[0]}`);
          else
            print(
              `IP address ${result.notAllocated[0] ?? opts.ip} is not assigned; nothing to release`,
            );
          return;
        }
        let report: IpamReport;
        try {
          report = parseReport(readFileSync(opts.fromReport!, 'utf8'));
        } catch (err) {
          throw new CliError(`--from-report ${opts.fromReport}: ${(err as Error).message}`);
        }
        if (report.datastore !== ds.url) {
          ctx.stderr.write(
            `Warning: the report was made against ${report.datastore}, not ${ds.url}\n`,
          );
        }
        const r = await releaseFromReport(ds, report);
        print(`Released ${r.releasedAddresses.length} leaked IP addresses.`);
        for (const a of r.releasedAddresses) print(`  released: ${a}`);
        for (const s of r.skippedAddresses) print(`  skipped ${s.address}: ${s.reason}`);
        print(`Released ${r.releasedBlocks.length} orphan blocks.`);
        for (const b of r.skippedBlocks) print(`  skipped block ${b.block}: ${b.reason}`);
        print(
          `Deleted ${r.deletedAffinities.length} stale affinities, restored ${r.createdAffinities.length}, ` +
            `repaired ${r.repairedHandles.length} handles.`,
        );
        for (const i of r.skippedItems) print(`  skipped ${i.item}: ${i.reason}`);
      }),
    );

  ipam
    .command('configure')
    .description('change the IPAM configuration')
    .option(
      '--strictaffinity <true|false>',
      "when true, nodes never borrow addresses from other nodes' blocks",
    )
    .option('--max-blocks-per-host <n>', 'the most blocks a node may claim (0: no limit)')
    .action((opts: { strictaffinity?: string; maxBlocksPerHost?: string }) =>
      wrap(async () => {
        if (opts.strictaffinity === undefined && opts.maxBlocksPerHost === undefined) {
          throw new CliError('give --strictaffinity=true|false and/or --max-blocks-per-host N');
        }
        const patch: { strictAffinity?: boolean; maxBlocksPerHost?: number } = {};
        if (opts.strictaffinity !== undefined) {
          patch.strictAffinity = parseBool('--strictaffinity', opts.strictaffinity);
        }
        if (opts.maxBlocksPerHost !== undefined) {
          patch.maxBlocksPerHost = parseCount('--max-blocks-per-host', opts.maxBlocksPerHost);
        }
        const c = await new Ipam(await ctx.datastore()).setConfig(patch);
        print(
          `Successfully set StrictAffinity to: ${c.strictAffinity}, MaxBlocksPerHost to: ${c.maxBlocksPerHost}`,
        );
      }),
    );
}
