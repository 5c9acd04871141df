// Drives speaker-runner.ts in a namespace over its stdin/stdout.

import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import type { NetLab } from './netns.js';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const RUNNER = join(REPO_ROOT, 'src/bgp/test-support/speaker-runner.ts');

export interface StateEvent {
  peer: string;
  state: string;
  info: string;
  at: number;
}

export class SpeakerProcess {
  readonly states: StateEvent[] = [];
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private readyResolve!: () => void;
  readonly ready = new Promise<void>((r) => (this.readyResolve = r));
  stderr = '';

  private constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (msg['event'] === 'ready') this.readyResolve();
      else if (msg['event'] === 'state') this.states.push(msg as unknown as StateEvent);
      else if (typeof msg['id'] === 'number') {
        const p = this.pending.get(msg['id']);
        this.pending.delete(msg['id']);
        if (msg['ok'] === true) p?.resolve(msg['result']);
        else p?.reject(new Error(String(msg['error'])));
      }
    });
    child.stderr?.on('data', (d: string) => (this.stderr += d));
    child.on('exit', () => {
      for (const p of this.pending.values())
        p.reject(new Error(`speaker process exited: ${this.stderr.slice(-500)}`));
      this.pending.clear();
    });
  }

  static async spawn(lab: NetLab, ns: string, nodeArgs: string[] = []): Promise<SpeakerProcess> {
    const child = lab.spawn(ns, ['node', ...nodeArgs, '--import', 'tsx', RUNNER], {
      cwd: REPO_ROOT,
      stdin: true,
    });
    const sp = new SpeakerProcess(child);
    await Promise.race([
      sp.ready,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`runner did not start: ${sp.stderr}`)), 20_000),
      ),
    ]);
    return sp;
  }

  call<T = unknown>(cmd: string, args?: unknown): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
  }

  /** Resolves with the time of the first state event matching, waiting up to ms. */
  async waitState(peer: string, state: string, ms = 30_000, after = 0): Promise<StateEvent> {
    const end = Date.now() + ms;
    for (;;) {
      const ev = this.states.find((s) => s.peer === peer && s.state === state && s.at >= after);
      if (ev !== undefined) return ev;
      if (Date.now() > end)
        throw new Error(
          `peer ${peer} did not reach ${state}: ${JSON.stringify(this.states.slice(-3))}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
