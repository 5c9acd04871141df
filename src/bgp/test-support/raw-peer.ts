// A hand-driven BGP peer over a real socket, for session-level tests: it
// sends exactly the bytes a test gives it and records what comes back.

import net from 'node:net';

import {
  MessageReader,
  encodeMessage,
  makeOpen,
  negotiate,
  type BgpMessage,
  type CodecContext,
  type OpenMessage,
  type ReadResult,
} from '../codec/index.js';

export class RawPeer {
  readonly received: BgpMessage[] = [];
  readonly errors: ReadResult[] = [];
  closed = false;
  private readonly reader = new MessageReader();
  private waiters: (() => void)[] = [];
  sendCtx: CodecContext = { fourOctetAs: false };

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      this.reader.push(chunk);
      for (const r of this.reader.messages()) {
        if (r.ok) this.received.push(r.message);
        else this.errors.push(r);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(host: string, port: number, localAddress: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port, localAddress });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawPeer(s));
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until pred() holds, or throws after ms. */
  async until(pred: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`RawPeer: timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  sendMessage(m: BgpMessage): void {
    this.send(encodeMessage(m, this.sendCtx));
  }

  first<T extends BgpMessage['type']>(type: T): Extract<BgpMessage, { type: T }> | undefined {
    return this.received.find((m) => m.type === type) as
      Extract<BgpMessage, { type: T }> | undefined;
  }

  /** OPEN, KEEPALIVE, wait for the speaker's OPEN and KEEPALIVE: Established on both sides. */
  async handshake(options: {
    asn: number;
    bgpId: string;
    holdTime?: number;
    fourOctetAs?: boolean;
    gracefulRestart?: boolean;
  }): Promise<OpenMessage> {
    let open = makeOpen({
      asn: options.asn,
      holdTime: options.holdTime ?? 90,
      bgpId: options.bgpId,
      capabilities: options.gracefulRestart
        ? [
            {
              kind: 'graceful-restart',
              restarting: false,
              notification: false,
              restartTime: 120,
              families: [{ afi: 1, safi: 1, forwarding: true }],
            },
          ]
        : [],
    });
    if (options.fourOctetAs === false) {
      open = { ...open, capabilities: open.capabilities.filter((c) => c.kind !== 'four-octet-as') };
    }
    this.sendMessage(open);
    await this.until(() => this.first('open') !== undefined || this.closed, 3000, 'OPEN');
    const theirs = this.first('open');
    if (theirs === undefined) throw new Error('RawPeer: no OPEN from the speaker');
    const n = negotiate(open, theirs);
    this.reader.context = n.receiveContext;
    this.sendCtx = n.sendContext;
    this.sendMessage({ type: 'keepalive' });
    await this.until(
      () => this.received.some((m) => m.type === 'keepalive') || this.closed,
      3000,
      'KEEPALIVE',
    );
    return theirs;
  }

  close(): void {
    this.socket.destroy();
  }
}
