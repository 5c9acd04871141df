import type { Etcd3, IWatchResponse, Range, Watcher } from 'etcd3';
import { callListener } from './deliver.js';
import { toWatchEvent } from './etcd-convert.js';
import { UnavailableError, type WatchEvent, type WatchListener } from './types.js';

/**
 * One Datastore watch on etcd. The etcd3 client reconnects a dropped watch
 * stream by itself, but it resumes from the revision in the last response
 * *header*, which during a catch-up replay is the store's current revision,
 * not how far the replay got. So this class keeps its own position (the last
 * revision delivered) and rewrites the resume point after every client
 * update: a reconnect then replays exactly what was not yet delivered.
 */
export class EtcdWatch {
  /** Every change with revision <= position has been delivered. */
  private position: number;
  private readonly watcher: Watcher;
  private closed = false;

  constructor(
    client: Etcd3,
    range: Range,
    afterRevision: number,
    private readonly listener: WatchListener,
    private readonly onClosed: () => void,
  ) {
    this.position = afterRevision;
    // watcher() (not create()) returns synchronously, so no event can arrive
    // before the handlers below are attached.
    this.watcher = client
      .watch()
      .inRange(range)
      .startRevision(String(afterRevision + 1))
      .withPreviousKV()
      .watcher();
    // The client's own handlers run first and move the resume point; ours fix it.
    this.watcher.on('connected', () => this.pinResumePoint());
    this.watcher.on('data', (res: IWatchResponse) => this.onData(res));
    this.watcher.on('disconnected', (err: Error) => {
      this.pinResumePoint();
      if (!this.closed) {
        const error = new UnavailableError(`etcd watch disconnected: ${err.message}`);
        callListener(listener, () => listener.onError?.(error));
      }
    });
    // etcd cancelled the watch, typically because its start revision was compacted.
    this.watcher.on('error', (err: Error) => {
      if (this.closed) return;
      this.finish();
      callListener(listener, () =>
        listener.onRelist(
          `etcd cancelled the watch after revision ${this.position}: ${err.message}`,
        ),
      );
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.finish();
    await this.watcher.cancel().catch(() => undefined);
  }

  private finish(): void {
    this.closed = true;
    this.onClosed();
  }

  private onData(res: IWatchResponse): void {
    if (this.closed) return;
    const events: WatchEvent[] = [];
    for (const ev of res.events) {
      const revision = Number(ev.kv.mod_revision);
      // A replay after reconnect never overlaps, but never deliver twice regardless.
      if (revision <= this.position) continue;
      events.push(toWatchEvent(ev));
      this.position = revision;
    }
    // Progress notifications (no events) are only sent to watchers that are
    // caught up, so their header revision is a safe position.
    if (res.events.length === 0) {
      this.position = Math.max(this.position, Number(res.header.revision));
    }
    this.pinResumePoint();
    if (events.length > 0) callListener(this.listener, () => this.listener.onEvents(events));
  }

  private pinResumePoint(): void {
    this.watcher.request.start_revision = String(this.position + 1);
  }
}
