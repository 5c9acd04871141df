// The policy enforcement the host agent runs beside its other managers, as
// one object with a narrow surface, so that wiring it in is a few lines in
// the agent: watch POLICY_PREFIXES too, hand every batch of datastore
// updates to onUpdates(), call apply() when dirty, resync() on resync.
//
//   KvUpdate ──► PolicyCalc (this host's view) ──drain──► PolicyManager ──► nft (inet tortie-policy)

import { POLICY_PREFIXES } from '../../calc/policy/model.js';
import { PolicyCalc } from '../../calc/policy/calc.js';
import type { KvUpdate } from '../../calc/types.js';
import { PolicyManager, type PolicyApplyResult } from './manager.js';
import { interfaceAddresses } from './interfaces.js';
import { SessionNft, type NftRunner } from './nft.js';

export interface PolicyHookOptions {
  nodeName: string;
  /** How to run nft (default: a session in the caller's namespace, or in `netns`). */
  nft?: NftRunner;
  netns?: string;
  table?: string;
}

export interface PolicyHookStatus {
  endpoints: number;
  endpointChains: number;
  ruleChains: number;
  sets: number;
  lastApply: PolicyApplyResult | undefined;
  invalid: number;
}

export class PolicyAgentHook {
  /** The datastore prefixes policy reads; the agent watches them besides its own. */
  static readonly prefixes: readonly string[] = POLICY_PREFIXES;
  readonly calc: PolicyCalc;
  readonly manager: PolicyManager;
  private readonly nft: NftRunner;
  private readonly netns: string | undefined;

  constructor(opts: PolicyHookOptions) {
    this.netns = opts.netns;
    this.calc = new PolicyCalc({ nodeName: opts.nodeName });
    this.nft = opts.nft ?? new SessionNft(opts.netns ? { netns: opts.netns } : {});
    this.manager = new PolicyManager(this.nft, opts.table ? { table: opts.table } : {});
  }

  /** Feeds datastore updates; returns whether any was a key policy reads. */
  onUpdates(updates: readonly KvUpdate[]): boolean {
    let relevant = false;
    for (const u of updates) relevant = this.calc.onKv(u.key, u.value) || relevant;
    return relevant;
  }

  get dirty(): boolean {
    return this.calc.dirty || this.manager.dirty;
  }

  /** The next apply checks the kernel's table and rewrites it if it is gone. */
  resync(): void {
    this.manager.resync();
  }

  /** Calculates and programs what changed; resolves to the failures (empty when all went in). */
  async apply(): Promise<string[]> {
    // Host endpoints known by their addresses only: which interface has them, now.
    if (this.calc.needsInterfaceAddresses) {
      try {
        this.calc.setInterfaceAddresses(await interfaceAddresses(this.netns));
      } catch (err) {
        return [`listing the host's interface addresses: ${(err as Error).message}`];
      }
    }
    if (this.calc.dirty) this.manager.onUpdates(this.calc.drain());
    const result = await this.manager.apply();
    return result.failures;
  }

  status(): PolicyHookStatus {
    const s = this.manager.state;
    return {
      endpoints: s.endpoints.size,
      endpointChains: s.endpointChains.size,
      ruleChains: s.ruleChains.size,
      sets: s.sets.size,
      lastApply: this.manager.lastResult,
      invalid: this.calc.model.invalid.size,
    };
  }

  /** Removes the policy table (an agent told to stop enforcing); not called on a normal stop. */
  async removeTable(): Promise<void> {
    await this.manager.remove();
  }

  close(): void {
    this.nft.close();
  }
}
