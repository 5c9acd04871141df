import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mapLimit } from './exec.js';
import { pidAlive } from './state.js';
import { processStartTime, readPidfiles, stopProcesses } from './processes.js';

describe('lab processes', () => {
  let dir: string;
  const children: number[] = [];
  before(() => (dir = mkdtempSync(join(tmpdir(), 'tortie-lab-proc-'))));
  after(() => {
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const sleeper = async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    children.push(child.pid!);
    return child;
  };

  it('reads a process start time, none for a dead pid', () => {
    assert.match(processStartTime(process.pid) ?? '', /^\d+$/);
    assert.equal(processStartTime(999_999_999), undefined);
  });

  it('stops only processes whose start time matches their record', async () => {
    const a = await sleeper();
    const b = await sleeper();
    const exited = (c: ReturnType<typeof spawn>) => new Promise((r) => c.once('exit', r));
    const aGone = exited(a);
    const stopped = await stopProcesses([
      { pid: a.pid!, startTime: processStartTime(a.pid!)! },
      { pid: b.pid!, startTime: '1' }, // a pid the kernel gave to someone else
      { pid: 999_999_999, startTime: '5' },
    ]);
    assert.equal(stopped, 1);
    await aGone;
    assert.ok(pidAlive(b.pid!));
  });

  it('reads pidfiles and ignores garbage', () => {
    mkdirSync(join(dir, 'run'));
    writeFileSync(join(dir, 'run', 'agent-host1.pid'), '1234 5678\n');
    writeFileSync(join(dir, 'run', 'junk.pid'), 'hello');
    writeFileSync(join(dir, 'run', 'agent-host1.log'), '1 2');
    assert.deepEqual(readPidfiles(dir), [{ pid: 1234, startTime: '5678' }]);
    assert.deepEqual(readPidfiles(join(dir, 'nowhere')), []);
  });
});

describe('mapLimit', () => {
  it('keeps order and bounds concurrency', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n * 5));
      running--;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30]);
    assert.equal(peak, 2);
  });

  it('starts nothing after a failure and waits for calls in flight before throwing', async () => {
    const started: number[] = [];
    let finished = 0;
    await assert.rejects(
      mapLimit([1, 2, 3, 4, 5], 2, async (n) => {
        started.push(n);
        if (n === 1) throw new Error('one failed');
        await new Promise((r) => setTimeout(r, 30));
        finished++;
      }),
      /one failed/,
    );
    assert.deepEqual(started, [1, 2]);
    assert.equal(finished, 1);
  });
});
