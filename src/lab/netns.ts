// Network namespaces: the lab's hosts, router, underlay and workloads.

import { inNetns, ip, run } from './exec.js';

/** Names from `ip netns list` ("name (id: 3)" lines). */
export async function listNetns(): Promise<string[]> {
  // A namespace deleted by someone else while we list it makes `ip` complain
  // ("Peer netns reference is invalid") about that one; the list still holds.
  const { stdout, code, stderr } = await run(['ip', 'netns', 'list'], { check: false });
  if (code !== 0 && stdout.trim() === '' && stderr.trim() !== '') {
    throw new Error(`ip netns list failed: ${stderr.trim()}`);
  }
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '');
}

/** Creates a namespace with its loopback up. */
export async function createNetns(name: string): Promise<void> {
  await ip(undefined, ['netns', 'add', name]);
  await ip(name, ['link', 'set', 'lo', 'up']);
}

/** Processes whose network namespace is `name`. */
export async function netnsPids(name: string): Promise<number[]> {
  const { stdout } = await run(['ip', 'netns', 'pids', name], { check: false });
  return stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/**
 * Kills every process inside the namespace (TERM, then KILL after a grace
 * period), then deletes it; its links go with it. A namespace that is
 * already gone is not an error.
 */
export async function deleteNetns(name: string, graceMs = 2000): Promise<void> {
  await killAll(await netnsPids(name), graceMs);
  const { code, stderr } = await run(['ip', 'netns', 'del', name], { check: false });
  if (code !== 0 && !/No such file|Cannot remove/.test(stderr)) {
    throw new Error(`cannot delete namespace ${name}: ${stderr.trim()}`);
  }
}

export async function killAll(pids: number[], graceMs: number): Promise<void> {
  const signal = (pid: number, sig: NodeJS.Signals | 0) => {
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  };
  const live = pids.filter((pid) => pid !== process.pid && signal(pid, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  while (live.some((pid) => signal(pid, 0)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const pid of live) signal(pid, 'SIGKILL');
}

/** `sysctl -w` inside a namespace. */
export async function setSysctls(
  netns: string,
  values: Record<string, string | number>,
): Promise<void> {
  const args = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (args.length > 0) await run(inNetns(netns, ['sysctl', '-q', '-e', '-w', ...args]));
}
