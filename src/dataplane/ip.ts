// Running iproute2: one process per batch of commands, in the host's network
// namespace or a container's. Every failure names the command line, the batch
// line that failed and iproute2's own words.

import { spawn } from 'node:child_process';

/** Where a command runs: the caller's namespace, a named one (/run/netns/NAME), or any namespace file. */
export type NetnsTarget =
  { kind: 'host' } | { kind: 'named'; name: string; path: string } | { kind: 'path'; path: string };

export const HOST: NetnsTarget = { kind: 'host' };

const NAMED_NETNS_DIRS = ['/run/netns/', '/var/run/netns/'];

/**
 * A namespace path as a target. `/run/netns/NAME` (and /var/run/netns/NAME)
 * become `ip -n NAME`, one process; any other path (`/proc/PID/ns/net`) goes
 * through `nsenter --net=PATH`, two.
 */
export function netnsTarget(path: string): NetnsTarget {
  for (const dir of NAMED_NETNS_DIRS) {
    if (path.startsWith(dir)) {
      const name = path.slice(dir.length);
      if (name !== '' && !name.includes('/')) return { kind: 'named', name, path };
    }
  }
  return { kind: 'path', path };
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    /** The batch line that failed, when iproute2 says which. */
    readonly failedLine?: string,
  ) {
    const detail = stderr.trim().replace(/\s+/g, ' ');
    super(
      `${command} failed (exit ${exitCode ?? 'signal'})` +
        (failedLine !== undefined ? ` at "${failedLine}"` : '') +
        (detail ? `: ${detail}` : ''),
    );
    this.name = 'CommandError';
  }

  /** iproute2's "no such device" / "Cannot find device" / ENODEV family. */
  get isNoDevice(): boolean {
    return /Cannot find device|No such device|does not exist/i.test(this.stderr);
  }

  get isExists(): boolean {
    return /File exists/i.test(this.stderr);
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a program, feeding `input` on stdin; rejects with CommandError on a non-zero exit. */
export function run(file: string, args: readonly string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) =>
      reject(new CommandError([file, ...args].join(' '), null, (e as Error).message)),
    );
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandError([file, ...args].join(' '), code, stderr));
    });
    child.stdin.on('error', () => {
      /* the child may exit before reading everything; its exit code tells */
    });
    child.stdin.end(input ?? '');
  });
}

function ipArgv(target: NetnsTarget, args: readonly string[]): [string, string[]] {
  switch (target.kind) {
    case 'host':
      return ['ip', [...args]];
    case 'named':
      return ['ip', ['-n', target.name, ...args]];
    case 'path':
      return ['nsenter', [`--net=${target.path}`, 'ip', ...args]];
  }
}

/** `ip ARGS` in the target namespace. */
export async function ip(target: NetnsTarget, args: readonly string[]): Promise<string> {
  const [file, argv] = ipArgv(target, args);
  return (await run(file, argv)).stdout;
}

/** `ip -json ARGS`, parsed. */
export async function ipJson<T = unknown>(
  target: NetnsTarget,
  args: readonly string[],
): Promise<T> {
  const text = await ip(target, ['-json', ...args]);
  return (text.trim() === '' ? [] : JSON.parse(text)) as T;
}

/**
 * Runs `lines` through one `ip -batch -` process. iproute2 stops at the first
 * failing line; the error names it.
 */
export async function ipBatch(target: NetnsTarget, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  for (const line of lines) {
    if (line.includes('\n'))
      throw new Error(`ip batch line contains a newline: ${JSON.stringify(line)}`);
  }
  const [file, argv] = ipArgv(target, ['-batch', '-']);
  try {
    await run(file, argv, lines.join('\n') + '\n');
  } catch (err) {
    if (err instanceof CommandError) {
      const m = /Command failed -:(\d+)/.exec(err.stderr);
      const failed = m ? lines[Number(m[1]) - 1] : undefined;
      throw new CommandError(err.command, err.exitCode, err.stderr, failed);
    }
    throw err;
  }
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  flags?: string[];
  mtu?: number;
  operstate?: string;
  address?: string;
  link_netnsid?: number;
  link_index?: number;
  linkinfo?: { info_kind?: string };
}

export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope?: string;
}

export interface IpAddr extends IpLink {
  addr_info?: IpAddrInfo[];
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  flags?: string[];
}
