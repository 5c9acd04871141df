import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Racing worker processes: each prints "ready" once set up, waits for a line
 * on stdin so all start together, and ends with one JSON result line.
 */

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** In the worker: announce readiness and wait for the parent's go. */
export async function waitForGo(): Promise<void> {
  console.log('ready');
  const lines = createInterface({ input: process.stdin });
  for await (const _line of lines) break;
  lines.close();
}

export interface RaceResult<T> {
  /** Wall time from "go" until every worker printed its result. */
  elapsedMs: number;
  results: T[];
}

/**
 * Spawns one `node --import tsx <script> ...args` per entry of `argsPerWorker`,
 * starts them together (after `beforeGo`, once all are ready) and collects
 * their JSON result lines. Kills every worker still running if anything fails.
 */
export async function raceWorkers<T>(
  script: string,
  argsPerWorker: string[][],
  opts: { timeoutMs?: number; beforeGo?: () => Promise<void> } = {},
): Promise<RaceResult<T>> {
  const children: ChildProcess[] = [];
  const killAll = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  };
  const timer = setTimeout(killAll, opts.timeoutMs ?? 60_000);
  try {
    const workers = argsPerWorker.map((args) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
        cwd: repoRoot,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      children.push(child);
      return watchWorker<T>(child, `${script} ${args.join(' ')}`);
    });
    await Promise.all(workers.map((w) => w.ready));
    await opts.beforeGo?.();
    const started = performance.now();
    for (const child of children) child.stdin?.write('go\n');
    const results = await Promise.all(workers.map((w) => w.result));
    const elapsedMs = performance.now() - started;
    await Promise.all(workers.map((w) => w.exited));
    return { elapsedMs, results };
  } finally {
    clearTimeout(timer);
    killAll();
  }
}

function watchWorker<T>(child: ChildProcess, name: string) {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = deferred<void>();
  const result = deferred<T>();
  const exited = deferred<void>();
  const fail = (err: Error) => {
    ready.reject(err);
    result.reject(err);
    exited.reject(err);
  };
  child.on('error', fail);
  child.on('exit', (code, signal) => {
    if (code === 0) exited.resolve();
    fail(new Error(`${name} exited with ${code ?? signal}: ${stderr.trim()}`));
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'ready') ready.resolve();
    else if (line.startsWith('{')) result.resolve(JSON.parse(line) as T);
  });
  return { ready: ready.promise, result: result.promise, exited: exited.promise };
}

/** A promise with its settle functions; marked handled so an early failure is not "unhandled". */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}
