// The masquerade manager: NAT outgoing in the agent's own nftables table,
// `inet tortie`. Two sets per family — every pool, and the natOutgoing
// pools — and one rule: from a natOutgoing pool to outside every pool,
// masquerade. The table is replaced whole, in one `nft -f` transaction, and
// only when what the kernel holds differs from what is wanted; each rule
// carries a comment that names it, which is how a restarted agent
// recognises its rules.
//
// Connection tracking is left on for all traffic (the NAT hook needs it for
// the flows it rewrites, and stateful policy matches `ct state`), as Felix
// leaves it.

import type { DataplaneMessage } from '../calc/diff.js';
import type { MasqueradeSets } from '../calc/types.js';
import type { Kernel, NftTableState } from './kernel.js';
import type { Manager } from './manager.js';

export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'tortie';
export const MASQ_CHAIN = 'nat-outgoing';

const EMPTY: MasqueradeSets = {
  allPoolsV4: [],
  natPoolsV4: [],
  allPoolsV6: [],
  natPoolsV6: [],
};

/** A rule of the table: its chain, its text, and the comment that names it (and is read back). */
interface RuleSpec {
  chain: string;
  text: string;
  comment: string;
}

const RULES: readonly RuleSpec[] = [
  {
    chain: MASQ_CHAIN,
    text: 'ip saddr @nat-pools-v4 ip daddr != @all-pools-v4 masquerade',
    comment: 'tortie: natOutgoing v4',
  },
  {
    chain: MASQ_CHAIN,
    text: 'ip6 saddr @nat-pools-v6 ip6 daddr != @all-pools-v6 masquerade',
    comment: 'tortie: natOutgoing v6',
  },
];

function setBlock(name: string, type: string, elements: string[]): string {
  const elems = elements.length > 0 ? ` elements = { ${elements.join(', ')} };` : '';
  return `  set ${name} { type ${type}; flags interval;${elems} }`;
}

/** The whole table as an nft script that replaces whatever table of that name exists. */
export function masqueradeScript(sets: MasqueradeSets): string {
  const chain = (name: string, head: string) => [
    `  chain ${name} {`,
    `    ${head}`,
    ...RULES.filter((r) => r.chain === name).map((r) => `    ${r.text} comment "${r.comment}"`),
    '  }',
  ];
  return [
    `table ${NFT_FAMILY} ${NFT_TABLE}`,
    `delete table ${NFT_FAMILY} ${NFT_TABLE}`,
    `table ${NFT_FAMILY} ${NFT_TABLE} {`,
    setBlock('all-pools-v4', 'ipv4_addr', sets.allPoolsV4),
    setBlock('nat-pools-v4', 'ipv4_addr', sets.natPoolsV4),
    setBlock('all-pools-v6', 'ipv6_addr', sets.allPoolsV6),
    setBlock('nat-pools-v6', 'ipv6_addr', sets.natPoolsV6),
    ...chain(MASQ_CHAIN, 'type nat hook postrouting priority srcnat; policy accept;'),
    '}',
    '',
  ].join('\n');
}

/** Whether the table the kernel holds is exactly the wanted one (sets, chains, and rules by their comments). */
export function tableMatches(have: NftTableState | undefined, sets: MasqueradeSets): boolean {
  if (!have) return false;
  const sorted = (xs: readonly string[] | undefined) => JSON.stringify([...(xs ?? [])].sort());
  const wantRules = RULES.map((r) => `${r.chain} ${r.comment}`);
  const haveRules = have.rules.map((r) => `${r.chain} ${r.comment ?? ''}`);
  return (
    sorted(have.sets['all-pools-v4']) === sorted(sets.allPoolsV4) &&
    sorted(have.sets['nat-pools-v4']) === sorted(sets.natPoolsV4) &&
    sorted(have.sets['all-pools-v6']) === sorted(sets.allPoolsV6) &&
    sorted(have.sets['nat-pools-v6']) === sorted(sets.natPoolsV6) &&
    Object.keys(have.sets).length === 4 &&
    sorted(have.chains) === sorted([MASQ_CHAIN]) &&
    sorted(haveRules) === sorted(wantRules)
  );
}

export class MasqueradeManager implements Manager {
  readonly name = 'masquerade';
  private sets: MasqueradeSets = EMPTY;
  private pending = true;
  private known: MasqueradeSets | undefined;

  constructor(private readonly kernel: Kernel) {}

  onUpdate(msg: DataplaneMessage): void {
    if (msg.type !== 'masquerade-sets') return;
    this.sets = msg.sets;
    this.pending = true;
  }

  resync(): void {
    this.known = undefined;
    this.pending = true;
  }

  get dirty(): boolean {
    return this.pending;
  }

  get natPools(): string[] {
    return [...this.sets.natPoolsV4, ...this.sets.natPoolsV6];
  }

  async completeDeferredWork(): Promise<string[]> {
    if (!this.pending) return [];
    const wanted = this.sets;
    if (this.known && JSON.stringify(this.known) === JSON.stringify(wanted)) {
      this.pending = false;
      return [];
    }
    try {
      const have = await this.kernel.nftTable(NFT_FAMILY, NFT_TABLE);
      if (!tableMatches(have, wanted)) await this.kernel.nft(masqueradeScript(wanted));
      this.known = wanted;
      this.pending = this.sets !== wanted;
      return [];
    } catch (err) {
      this.known = undefined;
      return [`nftables table ${NFT_FAMILY} ${NFT_TABLE}: ${(err as Error).message}`];
    }
  }
}
