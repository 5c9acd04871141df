// Interface events from `ip -o monitor link`: when a workload's veth appears
// (the CNI plugin made it) or changes, the agent applies at once instead of
// waiting for its next resync. The monitor is restarted if it exits.

import { spawn, type ChildProcess } from 'node:child_process';

export class LinkMonitor {
  private child: ChildProcess | undefined;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;

  /** `onChange` gets the interface names of each batch of events. */
  constructor(private readonly onChange: (ifaces: string[]) => void) {}

  start(): void {
    if (this.stopped || this.child) return;
    const child = spawn('ip', ['-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    let buffer = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (text: string) => {
      buffer += text;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      const names = lines
        .map((l) => /^(?:Deleted )?\d+:\s+([^:@\s]+)/.exec(l)?.[1])
        .filter((n): n is string => n !== undefined);
      if (names.length > 0) this.onChange(names);
    });
    child.on('error', () => undefined);
    child.on('close', () => {
      if (this.child === child) this.child = undefined;
      if (!this.stopped) this.restartTimer = setTimeout(() => this.start(), 1000);
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }
}
