// Time for the FSM: an injectable clock so that hold, keepalive and
// connect-retry timers can be driven by tests without waiting.

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic enough for timers (Date.now for the system clock). */
  now(): number;
  /** Runs fn once after ms milliseconds unless cancelled. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** A one-shot timer that can be restarted; at most one pending expiry. */
export class Timer {
  private handle: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
  ) {}

  get running(): boolean {
    return this.handle !== undefined;
  }

  start(ms: number): void {
    this.stop();
    this.handle = this.clock.setTimeout(() => {
      this.handle = undefined;
      this.fn();
    }, ms);
  }

  stop(): void {
    this.handle?.cancel();
    this.handle = undefined;
  }
}
