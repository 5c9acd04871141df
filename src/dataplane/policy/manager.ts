// The policy manager: PolicyUpdate messages in, nftables transactions out.
// onUpdates only records (no I/O); apply() programs the kernel, incrementally
// when it can (set elements, map entries, the chains that changed), the whole
// table when it must (first apply, a failed transaction, settings that change
// the skeleton, a resync that finds the table gone). Every write is one nft
// transaction, so the kernel never holds half an update.

import {
  applyPolicyUpdates,
  copyPolicyState,
  DEFAULT_SETTINGS,
  emptyPolicyState,
} from '../../calc/policy/state.js';
import type { PolicyState, PolicyUpdate } from '../../calc/policy/types.js';
import type { NftRunner } from './nft.js';
import { POLICY_FAMILY, POLICY_TABLE, renderFull, renderUpdates } from './render.js';

export interface PolicyApplyResult {
  failures: string[];
  /** 'none' (nothing to do), 'incremental' or 'full'. */
  kind: 'none' | 'incremental' | 'full';
  durationMs: number;
  scriptBytes: number;
}

export class PolicyManager {
  readonly name = 'policy';
  /** What the calculation wants (every message applied). */
  private readonly want: PolicyState = emptyPolicyState(DEFAULT_SETTINGS);
  /** What the kernel holds, as far as we know; undefined: unknown (render it all). */
  private have: PolicyState | undefined;
  private pending: PolicyUpdate[] = [];
  private checkTable = false;
  readonly table: string;
  lastResult: PolicyApplyResult | undefined;

  constructor(
    private readonly nft: NftRunner,
    opts: { table?: string } = {},
  ) {
    this.table = opts.table ?? POLICY_TABLE;
  }

  onUpdates(msgs: readonly PolicyUpdate[]): void {
    if (msgs.length === 0) return;
    applyPolicyUpdates(this.want, msgs);
    this.pending.push(...msgs);
  }

  /** The next apply checks that the table is still there, and renders it all if not. */
  resync(): void {
    this.checkTable = true;
  }

  /** Forget what the kernel holds: the next apply renders the whole table. */
  invalidate(): void {
    this.have = undefined;
  }

  get dirty(): boolean {
    return this.have === undefined || this.pending.length > 0 || this.checkTable;
  }

  get state(): PolicyState {
    return this.want;
  }

  private async tableExists(): Promise<boolean> {
    const out = await this.nft.json(['list', 'tables', POLICY_FAMILY]);
    const items = (JSON.parse(out) as { nftables?: { table?: { name: string } }[] }).nftables ?? [];
    return items.some((i) => i.table?.name === this.table);
  }

  async apply(): Promise<PolicyApplyResult> {
    const started = performance.now();
    const done = (kind: PolicyApplyResult['kind'], failures: string[], bytes: number) =>
      (this.lastResult = {
        kind,
        failures,
        durationMs: performance.now() - started,
        scriptBytes: bytes,
      });
    try {
      if (this.checkTable && this.have) {
        this.checkTable = false;
        if (!(await this.tableExists())) this.have = undefined;
      }
      this.checkTable = false;
      if (this.have) {
        if (this.pending.length === 0) return done('none', [], 0);
        // renderUpdates advances `have`; if the transaction fails it is dropped.
        const have = this.have;
        const { script, full } = renderUpdates(have, this.pending, { table: this.table });
        this.pending = [];
        if (!full) {
          try {
            await this.nft.run(script);
            return done('incremental', [], script.length);
          } catch (err) {
            // Fall through to a full render from what is wanted.
            this.have = undefined;
            const full = await this.applyFull();
            return done(
              'full',
              [
                `incremental update failed, table rewritten: ${(err as Error).message.slice(0, 400)}`,
              ],
              full,
            );
          }
        }
      }
      return done('full', [], await this.applyFull());
    } catch (err) {
      this.have = undefined;
      return done(
        'full',
        [`nftables table ${POLICY_FAMILY} ${this.table}: ${(err as Error).message.slice(0, 400)}`],
        0,
      );
    }
  }

  private async applyFull(): Promise<number> {
    const { sets, rules } = renderFull(this.want, { table: this.table });
    const script = sets + rules;
    await this.nft.run(script);
    this.have = copyPolicyState(this.want);
    this.pending = [];
    return script.length;
  }

  /** Removes the table (tests, and an agent that stops enforcing). */
  async remove(): Promise<void> {
    await this.nft.run(
      `add table ${POLICY_FAMILY} ${this.table}\ndelete table ${POLICY_FAMILY} ${this.table}\n`,
    );
    this.have = undefined;
  }
}
