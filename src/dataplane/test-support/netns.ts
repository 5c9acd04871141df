// Network namespaces for end-to-end tests: unique names under a prefix the
// test chooses, all removed by cleanup() even when the test failed.

import { randomBytes } from 'node:crypto';
import { run } from '../ip.js';

export class TestNamespaces {
  readonly prefix: string;
  private readonly made: string[] = [];

  /** `tag` should say which test it is (a few letters); a random part makes it unique. */
  constructor(tag: string) {
    this.prefix = `tz${tag}${randomBytes(3).toString('hex')}-`;
  }

  async add(suffix: string): Promise<string> {
    const name = `${this.prefix}${suffix}`;
    await run('ip', ['netns', 'add', name]);
    this.made.push(name);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** `ip -n NS -batch -`, stopping at the first error. */
  async batch(ns: string, lines: string[]): Promise<void> {
    await run('ip', ['-n', ns, '-batch', '-'], lines.join('\n') + '\n');
  }

  async exec(ns: string, argv: string[], input?: string): Promise<string> {
    return (await run('ip', ['netns', 'exec', ns, ...argv], input)).stdout;
  }

  /** Kills every process left in the namespaces, then deletes them. */
  async cleanup(): Promise<void> {
    for (const ns of [...this.made].reverse()) {
      try {
        const pids = (await run('ip', ['netns', 'pids', ns])).stdout
          .split('\n')
          .map(Number)
          .filter((p) => p > 0);
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      } catch {
        /* namespace already gone */
      }
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
    this.made.length = 0;
  }
}

/** Whether we may make namespaces (root); tests skip otherwise. */
export function netnsSkipReason(): string | undefined {
  return typeof process.getuid === 'function' && process.getuid() !== 0
    ? 'needs root for network namespaces'
    : undefined;
}
