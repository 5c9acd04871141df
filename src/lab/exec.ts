// Running commands: `ip`, `sysctl`, `ping`, the CNI plugin. Every kernel
// change the lab makes goes through `ip -n <netns>` or `ip netns exec`, never
// the root namespace.

import { spawn } from 'node:child_process';

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Throw CommandError on a non-zero exit (the default). */
  check?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: RunResult,
  ) {
    const how = result.timedOut
      ? 'timed out'
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with status ${result.code}`;
    const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join('; ');
    super(`\`${argv.join(' ')}\` ${how}${detail ? `: ${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('run: empty command');
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout kills whatever it started too
    // (a plugin's children would otherwise hold our pipes open).
    const child = spawn(file, args, {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              child.kill('SIGKILL');
            }
          }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run \`${argv.join(' ')}\`: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout, stderr, timedOut };
      if ((opts.check ?? true) && (code !== 0 || timedOut)) reject(new CommandError(argv, result));
      else resolve(result);
    });
    // A plugin that exits without reading stdin must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** The argv that runs `argv` inside network namespace `netns` (with its own /sys). */
export function inNetns(netns: string, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', netns, ...argv];
}

/** `ip -n <netns> …`, or plain `ip …` when netns is undefined. */
export async function ip(netns: string | undefined, args: string[]): Promise<string> {
  const argv = netns === undefined ? ['ip', ...args] : ['ip', '-n', netns, ...args];
  return (await run(argv)).stdout;
}

/** Several `ip` commands in one process (`ip -batch -`), stopping at the first error. */
export async function ipBatch(netns: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  await run(['ip', '-n', netns, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

/**
 * Maps with at most `limit` calls in flight, keeping the order of `items`.
 * After a failure no new call starts; the first error is thrown once the
 * calls in flight have finished (so nothing is still running behind a
 * caller that goes on to clean up).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}
