// The lab's long-running processes (from the next issue on: one host agent
// per host). Each is started inside a lab namespace, detached, with its
// output in <labdir>/run/<name>.log and its pid and start time in
// <labdir>/run/<name>.pid. `lab down` stops what the state lists, what the
// pidfiles name (in case the state is lost), and anything else still running
// inside a lab namespace.

import { spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { inNetns } from './exec.js';
import { killAll } from './netns.js';
import type { LabProcess } from './state.js';

export const RUN_DIR = 'run';
const NAME = /^[a-z0-9][a-z0-9.-]{0,62}$/;

export interface ProcessSpec {
  name: string;
  role: string;
  host?: string;
  netns: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
}

/** Starts `spec.argv` in its namespace, detached; returns its registry entry. */
export async function startProcess(labDir: string, spec: ProcessSpec): Promise<LabProcess> {
  if (!NAME.test(spec.name)) throw new LabError(`invalid process name "${spec.name}"`);
  const runDir = join(labDir, RUN_DIR);
  mkdirSync(runDir, { recursive: true });
  const log = join(runDir, `${spec.name}.log`);
  const pidfile = join(runDir, `${spec.name}.pid`);
  const fd = openSync(log, 'a');
  const argv = inNetns(spec.netns, spec.argv);
  const child = spawn(argv[0]!, argv.slice(1), {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: spec.env ?? process.env,
  });
  closeSync(fd);
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new LabError(`cannot start ${spec.name}: ${err.message}`)));
    child.once('spawn', () => resolve(child.pid!));
  });
  child.unref();
  // `ip netns exec` enters the namespace, then execs the command in place:
  // the pid is the command's. Wait until it is inside, so callers never see
  // it half-started.
  await waitInNetns(pid, spec.netns, log, spec.name);
  const startTime = processStartTime(pid);
  if (startTime === undefined) {
    throw new LabError(`${spec.name} exited at once; see ${log}`);
  }
  writeFileSync(pidfile, `${pid} ${startTime}\n`);
  return {
    name: spec.name,
    role: spec.role,
    ...(spec.host ? { host: spec.host } : {}),
    netns: spec.netns,
    argv: spec.argv,
    pid,
    startTime,
    pidfile,
    log,
  };
}

async function waitInNetns(
  pid: number,
  netns: string,
  log: string,
  name: string,
  timeoutMs = 5000,
): Promise<void> {
  const target = statSync(`/var/run/netns/${netns}`).ino;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let inode: number | undefined;
    try {
      inode = statSync(`/proc/${pid}/ns/net`).ino;
    } catch {
      inode = undefined;
    }
    if (inode === target) return;
    if (processStartTime(pid) === undefined)
      throw new LabError(`${name} exited at once; see ${log}`);
    if (Date.now() > deadline)
      throw new LabError(`${name} did not enter namespace ${netns}; see ${log}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export interface PidRecord {
  pid: number;
  startTime: string;
}

/** Every pidfile under <labdir>/run. */
export function readPidfiles(labDir: string): PidRecord[] {
  const runDir = join(labDir, RUN_DIR);
  let names: string[];
  try {
    names = readdirSync(runDir).filter((n) => n.endsWith('.pid'));
  } catch {
    return [];
  }
  const records: PidRecord[] = [];
  for (const name of names) {
    try {
      const [pid, startTime] = readFileSync(join(runDir, name), 'utf8').trim().split(/\s+/);
      if (pid && startTime && Number.isInteger(Number(pid)))
        records.push({ pid: Number(pid), startTime });
    } catch {
      // unreadable pidfile: the namespace sweep still finds the process
    }
  }
  return records;
}

/**
 * Stops the given processes — only those still running with the recorded
 * start time, so a pid the kernel has since given to someone else is left
 * alone. Returns how many were running.
 */
export async function stopProcesses(records: PidRecord[], graceMs = 3000): Promise<number> {
  const live = records.filter((r) => processStartTime(r.pid) === r.startTime).map((r) => r.pid);
  const unique = [...new Set(live)];
  await killAll(unique, graceMs);
  return unique.length;
}
