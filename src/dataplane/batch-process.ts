// One long-lived `ip -force -batch -` (or `bridge -force -batch -`) process
// that the agent feeds all of its kernel changes through, so a change costs
// a write to a pipe rather than a process start.
//
// Protocol. iproute2 numbers the lines it reads from 1, for the life of the
// process. With -force it keeps going after a failing line, writing the
// reason and then "Command failed -:N" to stderr (unbuffered, so in order).
// A modifying command that succeeds prints nothing. After each batch we
// write a sentinel line that always fails without side effects — a lookup of
// a device named with a "/", which no interface can have — and the batch is
// done when stderr reports that line's number. Every "Command failed" before
// it belongs to a line of the batch; the text since the previous report is
// that line's reason.
//
// A line iproute2 cannot parse (a bad prefix, a bad MAC) makes it exit
// instead. Then the batch fails as a whole (which of its lines ran is
// unknown, so the caller must read the kernel again) and the next batch
// starts a fresh process. Callers validate their input so that this stays
// an accident.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface BatchLineFailure {
  /** Index into the batch's lines. */
  index: number;
  line: string;
  /** iproute2's words, e.g. "RTNETLINK answers: File exists". */
  error: string;
}

export interface BatchOutcome {
  failures: BatchLineFailure[];
}

/** The process died or stalled during the batch: which lines took effect is unknown. */
export class BatchAbortedError extends Error {
  constructor(
    readonly program: string,
    readonly detail: string,
  ) {
    super(`${program} -batch: ${detail}; the batch may have been applied in part`);
    this.name = 'BatchAbortedError';
  }
}

export interface BatchProcessOptions {
  /** The argv that starts the process, without the batch flags: ["ip"], ["ip", "-n", "ns1"], ["bridge"]. */
  command: string[];
  /** A line that always fails and changes nothing. */
  sentinel: string;
  /** A batch that takes longer is aborted and the process killed (default 60 s). */
  timeoutMs?: number;
}

interface Pending {
  lines: readonly string[];
  /** Process line number of the batch's first line. */
  first: number;
  sentinelLine: number;
  failures: BatchLineFailure[];
  resolve(outcome: BatchOutcome): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export const IP_SENTINEL = 'link show dev tortie/sync';
export const BRIDGE_SENTINEL = 'fdb show dev tortie/sync';

const FAILED = /^Command failed (\S+):(\d+)$/;

export class BatchProcess {
  private child: ChildProcessWithoutNullStreams | undefined;
  private linesWritten = 0;
  private stderrBuffer = '';
  private reasonLines: string[] = [];
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Processes started so far (1 in a healthy life). */
  starts = 0;

  constructor(private readonly opts: BatchProcessOptions) {}

  get program(): string {
    return this.opts.command.join(' ');
  }

  /** Runs the lines as one batch, after any batch already queued. */
  run(lines: readonly string[]): Promise<BatchOutcome> {
    for (const line of lines) {
      if (line.includes('\n') || line.trim() === '')
        throw new Error(`bad batch line ${JSON.stringify(line)}`);
    }
    const next = this.queue.then(() => this.runNow(lines));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private start(): ChildProcessWithoutNullStreams {
    const [file, ...args] = this.opts.command;
    const child = spawn(file!, [...args, '-force', '-batch', '-'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.starts++;
    this.linesWritten = 0;
    this.stderrBuffer = '';
    this.reasonLines = [];
    child.stdout.resume();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => this.onStderr(text));
    child.stdin.on('error', () => undefined);
    const onGone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.abort(why);
    };
    child.on('error', (err) => onGone(`cannot run: ${err.message}`));
    child.on('close', (code, signal) => {
      const said = this.reasonLines
        .concat(this.stderrBuffer.trim() ? [this.stderrBuffer.trim()] : [])
        .join(' ');
      onGone(`exited (${signal ?? `status ${code}`})${said ? `: ${said}` : ''}`);
    });
    this.child = child;
    return child;
  }

  private runNow(lines: readonly string[]): Promise<BatchOutcome> {
    if (this.closed) return Promise.reject(new Error(`${this.program} batch process is closed`));
    if (lines.length === 0) return Promise.resolve({ failures: [] });
    const child = this.child ?? this.start();
    return new Promise<BatchOutcome>((resolve, reject) => {
      const first = this.linesWritten + 1;
      this.linesWritten += lines.length + 1;
      this.pending = {
        lines,
        first,
        sentinelLine: this.linesWritten,
        failures: [],
        resolve,
        reject,
        timer: setTimeout(() => {
          this.abort(`no answer within ${this.opts.timeoutMs ?? 60_000} ms`);
          child.kill('SIGKILL');
        }, this.opts.timeoutMs ?? 60_000),
      };
      child.stdin.write(lines.join('\n') + '\n' + this.opts.sentinel + '\n');
    });
  }

  private onStderr(text: string): void {
    this.stderrBuffer += text;
    let nl: number;
    while ((nl = this.stderrBuffer.indexOf('\n')) >= 0) {
      const line = this.stderrBuffer.slice(0, nl).trim();
      this.stderrBuffer = this.stderrBuffer.slice(nl + 1);
      const m = FAILED.exec(line);
      if (!m) {
        if (line !== '') this.reasonLines.push(line);
        continue;
      }
      const number = Number(m[2]);
      const reason = this.reasonLines.join(' ');
      this.reasonLines = [];
      const p = this.pending;
      if (!p) continue;
      if (number === p.sentinelLine) {
        clearTimeout(p.timer);
        this.pending = undefined;
        p.resolve({ failures: p.failures });
      } else if (number >= p.first && number < p.sentinelLine) {
        const index = number - p.first;
        p.failures.push({ index, line: p.lines[index]!, error: reason || 'failed' });
      }
    }
  }

  private abort(why: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    if (this.child) {
      const child = this.child;
      this.child = undefined;
      child.kill('SIGKILL');
    }
    p.reject(new BatchAbortedError(this.program, why));
  }

  /** Ends the process; batches queued after this fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.stdin.end();
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    });
  }
}
