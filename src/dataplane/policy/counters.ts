// Reading the policy table's counters back, per policy rule: every rule the
// renderer writes has a counter and a comment ("rule 3: ns/name ingress",
// "end of tier default", …), so `nft -j list table` tells which rule
// dropped or allowed how much.

import type { NftRunner } from './nft.js';
import {
  ALLOW_CHAIN,
  MARK_ACCEPT,
  MARK_PASS,
  PASS_CHAIN,
  parseRuleComment,
  POLICY_FAMILY,
  POLICY_TABLE,
} from './render.js';

export interface CounterRow {
  /** "rule", or what the counter stands for when it is no policy rule. */
  kind:
    | 'rule'
    | 'end-of-tier'
    | 'no-profile'
    | 'anti-spoof'
    | 'unknown-interface'
    | 'packet-mark'
    | 'invalid'
    | 'endpoint-to-host'
    | 'failsafe';
  /** Policy or profile display name; for other kinds, the comment. */
  name: string;
  /** The nftables chain (rule chains: pi-/po- policy, ri-/ro- profile). */
  chain: string;
  direction: 'ingress' | 'egress' | undefined;
  rule: number | undefined;
  action: 'Allow' | 'Deny' | 'Pass' | 'Log' | 'Accept' | undefined;
  packets: number;
  bytes: number;
}

interface NftRuleJson {
  chain: string;
  comment?: string;
  expr?: Record<string, unknown>[];
}

function counterOf(
  expr: Record<string, unknown>[],
): { packets: number; bytes: number } | undefined {
  for (const x of expr) {
    const c = x['counter'] as { packets?: number; bytes?: number } | undefined;
    if (c) return { packets: c.packets ?? 0, bytes: c.bytes ?? 0 };
  }
  return undefined;
}

function actionOf(expr: Record<string, unknown>[]): CounterRow['action'] {
  for (const x of expr) {
    if ('drop' in x || 'reject' in x) return 'Deny';
    if ('log' in x) return 'Log';
    if ('accept' in x) return 'Accept';
    const target = (x['goto'] as { target?: string } | undefined)?.target;
    if (target === ALLOW_CHAIN) return 'Allow';
    if (target === PASS_CHAIN) return 'Pass';
    if ('mangle' in x) {
      const text = JSON.stringify(x['mangle']);
      if (text.includes(String(MARK_ACCEPT))) return 'Allow';
      if (text.includes(String(MARK_PASS))) return 'Pass';
    }
  }
  return undefined;
}

/** Parses `nft -j list table inet tortie-policy` into one row per counted rule (merged per policy rule). */
export function parseCounters(json: string): CounterRow[] {
  const items = ((JSON.parse(json) as { nftables?: { rule?: NftRuleJson }[] }).nftables ?? []) as {
    rule?: NftRuleJson;
  }[];
  const rows = new Map<string, CounterRow>();
  for (const { rule } of items) {
    if (!rule) continue;
    const expr = rule.expr ?? [];
    const counter = counterOf(expr);
    if (!counter) continue;
    const comment = rule.comment ?? '';
    const chain = rule.chain;
    let row: Omit<CounterRow, 'packets' | 'bytes'>;
    const index = parseRuleComment(comment);
    if (index !== undefined && /^(pi|po|ri|ro)-/.test(chain)) {
      const m = /^rule \d+: (.*) (ingress|egress)$/.exec(comment);
      row = {
        kind: 'rule',
        name: m?.[1] ?? chain,
        chain,
        direction: chain.startsWith('pi') || chain.startsWith('ri') ? 'ingress' : 'egress',
        rule: index,
        action: actionOf(expr),
      };
    } else {
      const direction = /^[whfdut]i-/.test(chain)
        ? 'ingress'
        : /^[whfdut]e-/.test(chain)
          ? 'egress'
          : undefined;
      const kind: CounterRow['kind'] = comment.startsWith('end of tier')
        ? 'end-of-tier'
        : comment.startsWith('no ')
          ? 'no-profile'
          : comment.startsWith('workload source')
            ? 'anti-spoof'
            : comment.startsWith('unknown workload')
              ? 'unknown-interface'
              : comment.startsWith('packet mark')
                ? 'packet-mark'
                : comment.startsWith('defaultEndpointToHostAction')
                  ? 'endpoint-to-host'
                  : comment.startsWith('failsafe')
                    ? 'failsafe'
                    : 'invalid';
      row = {
        kind,
        name: comment || chain,
        chain: kind === 'end-of-tier' || kind === 'no-profile' ? '' : chain,
        direction,
        rule: undefined,
        action: actionOf(expr),
      };
    }
    const key = `${row.kind}|${row.chain}|${row.name}|${row.direction}|${row.rule}`;
    const have = rows.get(key);
    if (have) {
      have.packets += counter.packets;
      have.bytes += counter.bytes;
    } else {
      rows.set(key, { ...row, ...counter });
    }
  }
  return [...rows.values()];
}

/** The counters of the policy table in the runner's namespace; empty if there is no table. */
export async function readCounters(nft: NftRunner, table = POLICY_TABLE): Promise<CounterRow[]> {
  let json: string;
  try {
    json = await nft.json(['list', 'table', POLICY_FAMILY, table]);
  } catch (err) {
    if (/No such file or directory|does not exist/i.test((err as Error).message)) return [];
    throw err;
  }
  return parseCounters(json);
}
