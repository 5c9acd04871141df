// Spawning IPAM worker processes (test-support/worker.ts) for the concurrency
// and fault tests and for bench/ipam.ts.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig } from './worker-lib.js';

export const WORKER_SCRIPT = fileURLToPath(new URL('./worker.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface WorkersResult<T> {
  /** Wall time from "go" until every worker printed its result. */
  elapsedMs: number;
  results: T[];
}

/**
 * Starts one worker per config, releases them together once all are ready,
 * and collects each one's JSON result line. Kills them all on failure or
 * after `timeoutMs`.
 */
export async function runWorkers<T>(
  configs: WorkerConfig[],
  timeoutMs = 300_000,
): Promise<WorkersResult<T>> {
  const children = configs.map((c) =>
    spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT, JSON.stringify(c)], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  const timer = setTimeout(() => {
    for (const child of children) child.kill('SIGKILL');
  }, timeoutMs);
  try {
    const watched = children.map((child, i) => {
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      let onReady!: () => void;
      let onResult!: (v: T) => void;
      let onFail!: (e: Error) => void;
      const ready = new Promise<void>((resolve, reject) => {
        onReady = resolve;
        onFail = reject;
      });
      const result = new Promise<T>((resolve, reject) => {
        onResult = resolve;
        child.on('exit', (code, signal) => {
          const err = new Error(`ipam worker ${i} exited with ${code ?? signal}: ${stderr.trim()}`);
          onFail(err);
          reject(err);
        });
      });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'ready') onReady();
        else if (line.startsWith('{')) onResult(JSON.parse(line) as T);
      });
      return { ready, result, exited };
    });
    await Promise.all(watched.map((w) => w.ready));
    const started = performance.now();
    for (const child of children) child.stdin!.write('go\n');
    const results = await Promise.all(watched.map((w) => w.result));
    const elapsedMs = performance.now() - started;
    await Promise.all(watched.map((w) => w.exited));
    return { elapsedMs, results };
  } finally {
    clearTimeout(timer);
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * Starts fault-mode workers together and SIGKILLs each after its own delay
 * (ms after "go"). Resolves once all are dead.
 */
export async function runAndKill(configs: WorkerConfig[], killAfterMs: number[]): Promise<void> {
  const children: ChildProcess[] = configs.map((c) =>
    spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT, JSON.stringify(c)], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  try {
    const stderr = children.map(() => ({ text: '' }));
    const exits = children.map(
      (child, i) =>
        new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
          child.stderr!.on('data', (d: Buffer) => (stderr[i]!.text += d.toString()));
          child.on('exit', (code, signal) => resolve({ code, signal }));
        }),
    );
    await Promise.all(
      children.map(
        (child, i) =>
          new Promise<void>((resolve, reject) => {
            const lines = createInterface({ input: child.stdout! });
            lines.on('line', (line) => {
              if (line === 'ready') resolve();
            });
            child.on('exit', () =>
              reject(new Error(`worker ${i} exited early: ${stderr[i]!.text}`)),
            );
          }),
      ),
    );
    for (const child of children) child.stdin!.write('go\n');
    children.forEach((child, i) => {
      setTimeout(() => child.kill('SIGKILL'), killAfterMs[i] ?? 0);
    });
    const results = await Promise.all(exits);
    results.forEach((r, i) => {
      if (r.signal !== 'SIGKILL') {
        throw new Error(`fault worker ${i} ended by itself (${r.code}): ${stderr[i]!.text}`);
      }
    });
  } finally {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
