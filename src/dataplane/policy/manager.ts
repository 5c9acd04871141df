// The policy manager: PolicyUpdate messages in, nftables transactions out.
// onUpdates only records (no I/O); apply() programs the kernel, incrementally
// when it can (set elements, map entries, the chains that changed), the whole
// table when it must (first apply, a failed transaction, settings that change
// the skeleton, a host endpoint change that hooks or unhooks a stage's base
// chain, a resync that finds the table gone). Every write is one nft
// transaction, so the kernel never holds half an update.

import {
  applyPolicyUpdates,
  copyPolicyState,
  DEFAULT_SETTINGS,
  emptyPolicyState,
} from '../../calc/policy/state.js';
import type { PolicyState, PolicyUpdate } from '../../calc/policy/types.js';
import type { NftRunner } from './nft.js';
import {
  freshChainsScript,
  freshHooksScript,
  freshSetsScript,
  POLICY_FAMILY,
  POLICY_TABLE,
  renderFullChains,
  renderFullSets,
  renderUpdates,
  wholeTableScript,
} from './render.js';

export interface PolicyApplyResult {
  failures: string[];
  /** 'none' (nothing to do), 'incremental' or 'full'. */
  kind: 'none' | 'incremental' | 'full';
  durationMs: number;
  /** Of durationMs, the rendering (for a full write, what was not overlapped with nft). */
  renderMs: number;
  scriptBytes: number;
  /** A full write into a namespace without the table: three transactions, two at once. */
  fresh?: boolean;
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

  /**
   * Whether the table exists: a transaction that creates it and deletes it
   * again, which fails as a whole ("File exists") when it is there. nft 1.0.6
   * reads the whole ruleset for `list tables` (0.4 s beside the benchmark's
   * table, against 40 ms for this), and every resync asks.
   */
  private async tableExists(): Promise<boolean> {
    const t = `${POLICY_FAMILY} ${this.table}`;
    try {
      await this.nft.run(`create table ${t}\ndelete table ${t}\n`);
      return false;
    } catch (err) {
      if (/File exists/.test((err as Error).message)) return true;
      throw err;
    }
  }

  async apply(): Promise<PolicyApplyResult> {
    const started = performance.now();
    let renderMs = 0;
    let fresh = false;
    const done = (kind: PolicyApplyResult['kind'], failures: string[], bytes: number) =>
      (this.lastResult = {
        kind,
        failures,
        durationMs: performance.now() - started,
        renderMs,
        scriptBytes: bytes,
        ...(fresh ? { fresh } : {}),
      });
    const full = async () => {
      const r = await this.applyFull();
      renderMs = r.renderMs;
      fresh = r.fresh;
      return r.bytes;
    };
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
        const t0 = performance.now();
        const { script, full: needsFull } = renderUpdates(have, this.pending, {
          table: this.table,
        });
        renderMs = performance.now() - t0;
        this.pending = [];
        if (!needsFull) {
          try {
            await this.nft.run(script);
            return done('incremental', [], script.length);
          } catch (err) {
            // Fall through to a full render from what is wanted.
            this.have = undefined;
            const bytes = await full();
            return done(
              'full',
              [
                `incremental update failed, table rewritten: ${(err as Error).message.slice(0, 400)}`,
              ],
              bytes,
            );
          }
        }
      }
      return done('full', [], await full());
    } catch (err) {
      this.have = undefined;
      return done(
        'full',
        [`nftables table ${POLICY_FAMILY} ${this.table}: ${(err as Error).message.slice(0, 400)}`],
        0,
      );
    }
  }

  /**
   * The whole table. Where there is none yet (an agent's first start), as
   * three transactions: the sets and the chains at once, then the hooks that
   * make it take effect (render.ts, FullRender); the chains are rendered
   * while nft loads the sets. Where there is one, as one transaction that
   * replaces it, so traffic never sees half a table.
   */
  private async applyFull(): Promise<{ bytes: number; renderMs: number; fresh: boolean }> {
    const opts = { table: this.table };
    // The sets are rendered while nft says whether the table is there.
    const exists = this.tableExists();
    let t0 = performance.now();
    const sets = renderFullSets(this.want, opts);
    let renderMs = performance.now() - t0;
    const fresh = !(await exists);
    // What the kernel will hold once this succeeds (kept only if it does), and
    // how many pending messages it covers: updates may arrive while nft runs.
    let snapshot: PolicyState;
    let covered = 0;
    let bytes: number;
    if (fresh) {
      const first = freshSetsScript(sets);
      let hooks = '';
      let secondBytes = 0;
      // The chains are rendered once nft is loading the sets.
      const second = () => {
        const t1 = performance.now();
        const chains = renderFullChains(this.want, opts);
        hooks = freshHooksScript(chains);
        const script = freshChainsScript({ ...sets, ...chains });
        secondBytes = script.length;
        renderMs += performance.now() - t1;
        return script;
      };
      try {
        const loading = this.nft.runConcurrently([first, second]);
        snapshot = copyPolicyState(this.want);
        covered = this.pending.length;
        this.nft.warm?.();
        await loading;
        await this.nft.run(hooks);
      } catch (err) {
        // No hooks yet: nothing took effect. Leave no half-built table behind.
        await this.nft
          .run(`add table ${sets.table}\ndelete table ${sets.table}\n`)
          .catch(() => undefined);
        throw err;
      }
      bytes = first.length + secondBytes + hooks.length;
    } else {
      t0 = performance.now();
      const script = wholeTableScript({ ...sets, ...renderFullChains(this.want, opts) });
      renderMs += performance.now() - t0;
      bytes = script.length;
      const loading = this.nft.run(script);
      snapshot = copyPolicyState(this.want);
      covered = this.pending.length;
      await loading;
    }
    this.have = snapshot;
    this.pending = this.pending.slice(covered);
    return { bytes, renderMs, fresh };
  }

  /** Removes the table (tests, and an agent that stops enforcing). */
  async remove(): Promise<void> {
    await this.nft.run(
      `add table ${POLICY_FAMILY} ${this.table}\ndelete table ${POLICY_FAMILY} ${this.table}\n`,
    );
    this.have = undefined;
  }
}
