import type { WatchListener } from './types.js';

/**
 * Calls into a watch listener. A listener that throws reports to its own
 * onError; without one, the error is rethrown outside the backend's delivery
 * loop (crashing like an EventEmitter listener would) so it is never swallowed.
 */
export function callListener(listener: WatchListener, call: () => void): void {
  try {
    call();
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    if (listener.onError) listener.onError(error);
    else
      process.nextTick(() => {
        throw error;
      });
  }
}
