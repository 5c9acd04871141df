// TCP for BGP sessions over node:net. The FSM sees a Connection (bytes in,
// bytes out, close) and never a net.Socket, so tests can substitute their own.
//
// What Node can and cannot do for BGP transport (Node 20, Linux):
//   - source address and port: yes (net.connect localAddress / listen host+port);
//   - IP_TTL on a TCP socket: no. net.Socket has no setTTL (only dgram has),
//     and there is no setsockopt. Outgoing packets carry the namespace's
//     net.ipv4.ip_default_ttl (64), so eBGP multihop up to 64 hops works and a
//     single-hop TTL of 1 cannot be set; see isDirectlyConnected for what is
//     enforced instead;
//   - IP_MINTTL (GTSM, RFC 5082) and TCP_MD5SIG (RFC 2385): no, for the same
//     reason: both need setsockopt, which Node does not expose.

import net from 'node:net';
import os from 'node:os';

export interface Connection {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Queues bytes; false when the kernel buffer is full (they are still queued). */
  write(bytes: Uint8Array): boolean;
  /** Flushes what is queued, then closes; destroyed after graceMs if the peer does not close. */
  close(graceMs?: number): void;
  /** Closes at once, dropping anything queued. */
  destroy(): void;
  onData: ((chunk: Uint8Array) => void) | undefined;
  onClose: ((error: Error | undefined) => void) | undefined;
}

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly timeoutMs: number;
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
}

export interface Listener {
  readonly port: number;
  close(): Promise<void>;
}

export interface Transport {
  /** Starts a connection attempt; cb is called exactly once unless the returned cancel() is called first. */
  connect(
    opts: ConnectOptions,
    cb: (err: Error | undefined, conn?: Connection) => void,
  ): () => void;
  listen(opts: ListenOptions, onConnection: (conn: Connection) => void): Promise<Listener>;
}

/** "::ffff:10.0.0.1" → "10.0.0.1". */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

class TcpConnection implements Connection {
  onData: ((chunk: Uint8Array) => void) | undefined;
  onClose: ((error: Error | undefined) => void) | undefined;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  private error: Error | undefined;
  private closed = false;

  constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    this.localAddress = plainAddress(socket.localAddress);
    this.localPort = socket.localPort ?? 0;
    this.remoteAddress = plainAddress(socket.remoteAddress);
    this.remotePort = socket.remotePort ?? 0;
    socket.on('data', (chunk: Buffer) => this.onData?.(chunk));
    socket.on('error', (err) => (this.error ??= err));
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.onClose?.(this.error);
    });
  }

  write(bytes: Uint8Array): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  close(graceMs = 2000): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), graceMs);
    t.unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export const tcpTransport: Transport = {
  connect(opts, cb) {
    let done = false;
    const socket = net.connect({
      host: opts.host,
      port: opts.port,
      ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    });
    const finish = (err: Error | undefined, conn?: Connection): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      cb(err, conn);
    };
    const onError = (err: Error): void => {
      socket.destroy();
      finish(err);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish(new Error(`connect to ${opts.host}:${opts.port} timed out`));
    }, opts.timeoutMs);
    socket.once('error', onError);
    socket.once('connect', () => finish(undefined, new TcpConnection(socket)));
    return () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
    };
  },

  listen(opts, onConnection) {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        // An accepted socket can fail before anyone listens to it.
        socket.on('error', () => undefined);
        onConnection(new TcpConnection(socket));
      });
      server.once('error', reject);
      server.listen({ host: opts.host, port: opts.port }, () => {
        server.removeListener('error', reject);
        server.on('error', () => undefined);
        const address = server.address();
        resolve({
          port: typeof address === 'object' && address !== null ? address.port : opts.port,
          close: () => new Promise<void>((r) => server.close(() => r())),
        });
      });
    });
  },
};

function ipv4Number(text: string): number {
  const parts = text.split('.').map(Number);
  return (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0) as number;
}

function ipv6Bytes(text: string): number[] | undefined {
  const [head = '', tail] = text.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  if (h.some(Number.isNaN) || t.some(Number.isNaN)) return undefined;
  const groups =
    tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  if (groups.length !== 8) return undefined;
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** Whether address is inside the subnet of cidr ("10.0.0.1/24"), both of one family. */
export function inSubnet(address: string, cidr: string): boolean {
  const [base = '', bitsText = ''] = cidr.split('/');
  const bits = Number(bitsText);
  if (net.isIPv4(address) && net.isIPv4(base)) {
    if (bits === 0) return true;
    const mask = bits >= 32 ? 0xffffffff : ~(0xffffffff >>> bits) >>> 0;
    return (ipv4Number(address) & mask) >>> 0 === (ipv4Number(base) & mask) >>> 0;
  }
  if (net.isIPv6(address) && net.isIPv6(base)) {
    const a = ipv6Bytes(address.split('%')[0]!);
    const b = ipv6Bytes(base.split('%')[0]!);
    if (a === undefined || b === undefined) return false;
    for (let bit = 0; bit < bits; bit++) {
      const m = 0x80 >> (bit & 7);
      if ((a[bit >> 3]! & m) !== (b[bit >> 3]! & m)) return false;
    }
    return true;
  }
  return false;
}

/**
 * Whether a peer is on a network one of our interfaces is attached to: what
 * an eBGP session without multihop requires. Node cannot send with TTL 1, so
 * this check (the one BIRD calls "direct") is what keeps single-hop eBGP
 * single-hop.
 */
export function isDirectlyConnected(address: string): boolean {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.cidr !== null && inSubnet(address, a.cidr)) return true;
    }
  }
  return false;
}

/** TCP MD5 (RFC 2385) cannot be had from Node: the error addPeer throws for a password. */
export class Md5UnsupportedError extends Error {
  override name = 'Md5UnsupportedError';
  constructor(peer: string) {
    super(
      `BGP peer ${peer}: TCP MD5 signatures (RFC 2385, BGPPeer "password") need ` +
        'setsockopt(TCP_MD5SIG) on the socket, which Node.js net.Socket does not expose; ' +
        'this speaker cannot authenticate sessions with a password',
    );
  }
}
