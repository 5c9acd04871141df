// Network namespaces and daemons for the BGP interop tests and the bench.
// Every namespace carries the prefix `tbgp<pid>-`; cleanup() kills every
// process this lab started or that lives in one of its namespaces, deletes
// the namespaces and the temporary directory, and is safe to call twice.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function sh(argv: string[], input?: string): string {
  const [file, ...args] = argv;
  const r = spawnSync(file!, args, { encoding: 'utf8', input, timeout: 30_000 });
  if (r.status !== 0) {
    throw new Error(
      `\`${argv.join(' ')}\` failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim()}`,
    );
  }
  return r.stdout;
}

export function shQuiet(argv: string[]): { code: number; out: string } {
  const [file, ...args] = argv;
  const r = spawnSync(file!, args, { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export class NetLab {
  readonly prefix: string;
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();

  constructor(tag = 'tbgp') {
    this.prefix = `${tag}${process.pid}-`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.prefix}`));
    // Clean up even when the process dies on a signal, an exception or a
    // broken stdout pipe, where the caller's finally never runs.
    process.once('exit', () => this.cleanupSync());
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        this.cleanupSync();
        process.exit(128);
      });
    }
  }

  /** The synchronous part of cleanup(), for exit handlers. */
  cleanupSync(): void {
    for (const c of this.children) {
      try {
        c.kill('SIGKILL');
      } catch {
        // gone already
      }
    }
    for (const ns of this.namespaces) {
      for (const pid of this.pidsIn(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      shQuiet(['ip', 'netns', 'del', ns]);
    }
    this.namespaces.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }

  ns(name: string): string {
    const full = `${this.prefix}${name}`;
    sh(['ip', 'netns', 'add', full]);
    this.namespaces.push(full);
    sh(['ip', '-n', full, 'link', 'set', 'lo', 'up']);
    return full;
  }

  /** A veth pair between two namespaces, addresses in CIDR form. */
  veth(a: string, ifA: string, addrA: string, b: string, ifB: string, addrB: string): void {
    sh(['ip', 'link', 'add', ifA, 'netns', a, 'type', 'veth', 'peer', 'name', ifB, 'netns', b]);
    sh(['ip', '-n', a, 'addr', 'add', addrA, 'dev', ifA]);
    sh(['ip', '-n', b, 'addr', 'add', addrB, 'dev', ifB]);
    sh(['ip', '-n', a, 'link', 'set', ifA, 'up']);
    sh(['ip', '-n', b, 'link', 'set', ifB, 'up']);
  }

  exec(ns: string, argv: string[]): string {
    return sh(['ip', 'netns', 'exec', ns, ...argv]);
  }

  execQuiet(ns: string, argv: string[]): { code: number; out: string } {
    return shQuiet(['ip', 'netns', 'exec', ns, ...argv]);
  }

  /** Starts a long-running process in a namespace; cleanup() kills it. */
  spawn(ns: string, argv: string[], options: { cwd?: string; stdin?: boolean } = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      cwd: options.cwd,
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.stderr?.setEncoding('utf8');
    return child;
  }

  /** Kills a process this lab started and waits for it to exit. */
  async kill(
    child: ChildProcess,
    signal: NodeJS.Signals = 'SIGTERM',
    graceMs = 3000,
  ): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }

  /** Processes living in one of our namespaces. */
  private pidsIn(ns: string): number[] {
    const r = shQuiet(['ip', 'netns', 'pids', ns]);
    return r.out
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((p) => Number.isInteger(p) && p > 0 && p !== process.pid);
  }

  async cleanup(): Promise<void> {
    for (const c of [...this.children]) await this.kill(c, 'SIGTERM', 1500);
    for (const ns of this.namespaces) {
      for (const pid of this.pidsIn(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
    for (const ns of this.namespaces) shQuiet(['ip', 'netns', 'del', ns]);
    this.namespaces.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
