// nftables counters for tests that count packets inside a namespace: a
// throwaway table of counting rules, and counters read back by comment.

import { run } from '../ip.js';

/** Packets per rule comment of one table (rules without a comment or a counter are left out). */
export async function commentCounters(
  netns: string,
  family: string,
  table: string,
): Promise<Record<string, number>> {
  const out = await run('ip', [
    'netns',
    'exec',
    netns,
    'nft',
    '-j',
    'list',
    'table',
    family,
    table,
  ]);
  const items = (
    JSON.parse(out.stdout) as {
      nftables: { rule?: { comment?: string; expr: Record<string, unknown>[] } }[];
    }
  ).nftables;
  const counts: Record<string, number> = {};
  for (const item of items) {
    if (!item.rule?.comment) continue;
    const counter = item.rule.expr.find((e) => 'counter' in e)?.['counter'] as
      { packets: number } | undefined;
    if (counter) counts[item.rule.comment] = (counts[item.rule.comment] ?? 0) + counter.packets;
  }
  return counts;
}

/**
 * Counts ICMP echo requests by source inside a namespace (`sources`: a name
 * per address or CIDR); resolves to a function that reads the counts.
 */
export async function countEchoRequests(
  netns: string,
  sources: Record<string, string>,
): Promise<() => Promise<Record<string, number>>> {
  const rules = Object.entries(sources).map(
    ([name, addr]) => `    ip saddr ${addr} icmp type echo-request counter comment "${name}"`,
  );
  const script = [
    'table ip tzcount {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    ...rules,
    '  }',
    '}',
    '',
  ].join('\n');
  await run('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], script);
  return () => commentCounters(netns, 'ip', 'tzcount');
}
