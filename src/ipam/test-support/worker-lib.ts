// Types and helpers shared by worker.ts and the processes that drive it.
// (worker.ts itself runs on import, so nothing else may import it.)

export interface WorkerConfig {
  mode: 'churn' | 'hold' | 'fault' | 'cas';
  url: string;
  node: string;
  /** Handles are "tortie.<prefix>-<i>". */
  prefix: string;
  count: number;
  seed: number;
  /** churn: chance of releasing a random held handle after each allocation. */
  releaseChance?: number;
  num6?: number;
  logFile?: string;
  /** cas: size of the value written (default: the counter itself, a few bytes). */
  valueBytes?: number;
  /** hold / cas: stop after this long even if `count` is not reached. */
  durationMs?: number;
  /** fault: up to this long (random) between allocating and creating the owner. */
  ownerDelayMs?: number;
}

export interface ChurnResult {
  held: { handle: string; addresses: string[] }[];
  allocations: number;
  releases: number;
  errors: string[];
  ms: number;
  roundTrips: number;
  /** Round trips spent in autoAssign calls only. */
  allocRoundTrips: number;
}

export interface CasResult {
  ops: number;
  ms: number;
}

/** mulberry32: a small seeded PRNG, so runs can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
