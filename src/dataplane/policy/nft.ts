// Running nft: scripts as one transaction each, read from a file (nft
// misbehaves when stdin is a socket, which Node's child pipes are), and
// JSON listings for counters. In a named network namespace for tests and the
// lab; in the caller's own for the agent.

import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Script = string | (() => string);

export interface NftRunner {
  /** Runs a script as one transaction; rejects with nft's error text. */
  run(script: string): Promise<void>;
  /**
   * Runs independent scripts at once, each one transaction, in no particular
   * order (after whatever run() has queued); rejects with the first error once
   * all have ended. A script given as a function is made once the scripts
   * before it are running (so rendering it overlaps their loading).
   */
  runConcurrently(scripts: Script[]): Promise<void>;
  /** `nft -j <args>` output. */
  json(args: string[]): Promise<string>;
  /** Gets ready to run a transaction soon (a long-lived nft, started now). */
  warm?(): void;
  close(): void;
}

export class NftError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'NftError';
  }
}

function exec(argv: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { maxBuffer: 1 << 30 }, (err, stdout, stderr) => {
      if (err) reject(new NftError(`${argv.join(' ')}: ${(stderr || err.message).trim()}`, stderr));
      else resolve({ stdout, stderr });
    });
  });
}

/** Waits for every promise; rejects with the first rejection. */
async function settleAll(promises: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

export class ProcessNft implements NftRunner {
  private readonly prefix: string[];

  constructor(opts: { netns?: string } = {}) {
    this.prefix = opts.netns ? ['ip', 'netns', 'exec', opts.netns] : [];
  }

  async run(script: string): Promise<void> {
    if (!script.trim()) return;
    // A file of its own per transaction, gone when nft is done with it: a
    // process that is killed leaves nothing behind but the one in flight.
    const file = join(tmpdir(), `tortie-nft-${process.pid}-${randomBytes(6).toString('hex')}.nft`);
    writeFileSync(file, script, { mode: 0o600, flag: 'wx' });
    try {
      await exec([...this.prefix, 'nft', '-f', file]);
    } finally {
      rmSync(file, { force: true });
    }
  }

  async runConcurrently(scripts: Script[]): Promise<void> {
    const running: Promise<void>[] = [];
    // run() spawns nft before it first waits, so each is loading while the next is made.
    try {
      for (const s of scripts) running.push(this.run(typeof s === 'string' ? s : s()));
    } catch (err) {
      // A script that could not be made: let the ones already running end first.
      await Promise.allSettled(running);
      throw err;
    }
    await settleAll(running);
  }

  async json(args: string[]): Promise<string> {
    return (await exec([...this.prefix, 'nft', '-j', ...args])).stdout;
  }

  close(): void {
    // Nothing held: each transaction's file is removed when it ends.
  }
}

/**
 * A long-lived `nft -i` that small transactions go through, so an update
 * costs a write to a pipe (a few milliseconds) rather than a process start.
 * A script's commands are sent as one line, which nft runs as one
 * transaction; after it a line that is not a command, whose syntax error
 * on stderr marks the end (everything on stderr before it is the
 * transaction's error). Large scripts go through a file as with ProcessNft.
 */
export class SessionNft implements NftRunner {
  private child: ChildProcessWithoutNullStreams | undefined;
  private stderr = '';
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly files: ProcessNft;
  private readonly prefix: string[];
  /** Scripts up to this size go through the session. */
  maxSessionBytes = 256 * 1024;
  timeoutMs = 30_000;

  constructor(opts: { netns?: string } = {}) {
    this.prefix = opts.netns ? ['ip', 'netns', 'exec', opts.netns] : [];
    this.files = new ProcessNft(opts);
  }

  private start(): ChildProcessWithoutNullStreams {
    const argv = [...this.prefix, 'nft', '-i'];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.on('data', () => undefined);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      this.stderr += d;
      this.wake?.();
    });
    child.on('error', (err) => {
      this.stderr += `\n${err.message}\n`;
      if (this.child === child) this.child = undefined;
      this.wake?.();
    });
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      this.wake?.();
    });
    child.stdin.on('error', () => undefined);
    // Never what keeps the process alive: it ends with its stdin when the process exits.
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) {
      (stream as unknown as { unref?: () => void }).unref?.();
    }
    this.stderr = '';
    return child;
  }

  private wake: (() => void) | undefined;

  warm(): void {
    this.child ??= this.start();
  }

  /** Operations queued or running. */
  private pending = 0;

  private enqueue(op: () => Promise<void>): Promise<void> {
    this.pending++;
    // When nothing is queued, start at once (a process spawned now runs while
    // the caller goes on computing); otherwise after what is queued.
    const next = (this.pending === 1 ? op() : this.queue.then(op)).finally(() => this.pending--);
    this.queue = next.catch(() => undefined);
    return next;
  }

  run(script: string): Promise<void> {
    return this.enqueue(() => this.runNow(script));
  }

  runConcurrently(scripts: Script[]): Promise<void> {
    return this.enqueue(() => this.files.runConcurrently(scripts));
  }

  private async runNow(script: string): Promise<void> {
    if (!script.trim()) return;
    if (script.length > this.maxSessionBytes) return this.files.run(script);
    const commands = script
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const child = (this.child ??= this.start());
    // A line nft cannot parse: it fails at once, before nft reads any state
    // (a look-up would make it read the whole ruleset first).
    const end = `tortie-end-${process.pid}-${++this.seq}`;
    const startAt = this.stderr.length;
    child.stdin.write(`${commands.join('; ')}\n${end}\n`);
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const at = this.stderr.indexOf(end, startAt);
      if (at >= 0) {
        // The previous marker's caret line may arrive late: it is no error of ours.
        const before = this.stderr.slice(startAt, at).replace(/^(\s*\^+\s*\n)+/, '');
        // The marker's own error line ("Error: syntax error, …") precedes its echo.
        const own = before.lastIndexOf('Error:');
        const error = own >= 0 ? before.slice(0, own).trim() : before.trim();
        this.stderr = this.stderr.slice(at + end.length);
        if (error) throw new NftError(`nft: ${error.slice(0, 2000)}`, error);
        return;
      }
      if (!this.child || Date.now() > deadline) {
        const text = this.stderr.slice(startAt).trim();
        this.kill();
        throw new NftError(
          `nft -i ${this.child ? 'timed out' : 'exited'}: ${text.slice(0, 500)}`,
          text,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  json(args: string[]): Promise<string> {
    return this.files.json(args);
  }

  private kill(): void {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) child.kill('SIGKILL');
  }

  close(): void {
    const child = this.child;
    this.child = undefined;
    if (child) {
      child.stdin.end();
      setTimeout(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      }, 1000).unref();
    }
    this.files.close();
  }
}
