// The shape every dataplane manager has, after Felix's: onUpdate records
// intent and is cheap (no I/O); completeDeferredWork does the kernel work
// in batches and says what failed. resync makes the next
// completeDeferredWork read the kernel again instead of trusting what the
// manager last wrote.

import type { DataplaneMessage } from '../calc/diff.js';

export interface Manager {
  readonly name: string;
  onUpdate(msg: DataplaneMessage): void;
  /** Kernel work; resolves to the failures (empty when all went in). */
  completeDeferredWork(): Promise<string[]>;
  resync(): void;
  /** Whether completeDeferredWork has something to do. */
  readonly dirty: boolean;
}

/** A manager whose work is split in two: what must come before the routes and what must come after. */
export interface TwoPhaseManager extends Manager {
  /** Deferred deletions, run after the routes that used what they delete are gone. */
  completeDeferredCleanup(): Promise<string[]>;
}
