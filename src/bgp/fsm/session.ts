// The BGP session FSM of RFC 4271 §8, one per configured peer.
//
// A peer can have up to two TCP connections at a time (the one we opened and
// the one the peer opened) until collision detection (§6.8) keeps one. Each
// connection runs the connection half of the FSM (OpenSent → OpenConfirm →
// Established); the peer's state is the most advanced connection's, or
// Connect (an outgoing attempt is under way), Active (waiting: for the
// connect-retry timer, or for the peer when passive) or Idle (stopped, or
// holding after an error).
//
//   state        event                          action                                   next
//   Idle         start                          passive: wait; else connect, retry timer  Active / Connect
//   Idle         incoming connection            refuse                                    Idle
//   Idle         idle-hold timer                as start                                  Active / Connect
//   Connect      TCP established (either way)   send OPEN, hold timer 240 s               OpenSent
//   Connect      TCP fails                      keep the retry timer                      Active
//   Active       connect-retry timer            connect (not passive)                     Connect
//   OpenSent     OPEN, valid                    collision check, KEEPALIVE, negotiate     OpenConfirm
//   OpenSent     OPEN, invalid                  NOTIFICATION 2/x                          Idle
//   OpenSent     other message                  NOTIFICATION 5/1 (RFC 6608)               Idle
//   OpenSent     TCP closed                     –                                         Active
//   OpenConfirm  KEEPALIVE                      close other connection (6/7)              Established
//   OpenConfirm  other message                  NOTIFICATION 5/2                          Idle
//   Established  UPDATE                         to the speaker; hold timer restarted      Established
//   Established  UPDATE error (RFC 7606)        treat-as-withdraw / attribute-discard     Established
//   Established  fatal decode error             NOTIFICATION from the codec               Idle
//   Established  OPEN                           NOTIFICATION 5/3                          Idle
//   any          hold timer expires             NOTIFICATION 4/0                          Idle
//   any          NOTIFICATION received          close                                     Idle
//   any          header error                   NOTIFICATION 1/x                          Idle
//   any          stop                           NOTIFICATION 6/2 (or none: graceful)      Idle
//
// Leaving Established always reports `down` to the owner, saying whether the
// peer's routes may be kept (RFC 4724: the peer advertised graceful restart
// and the session ended without a NOTIFICATION). From Idle after an error the
// FSM restarts itself after the idle-hold time (automatic start, §8.1.1).
//
// Bytes never leave the codec: the FSM decodes with MessageReader and sends
// with encodeMessage / encodeAnnouncements / encodeWithdrawals.

import {
  CeaseSubcode,
  ErrorCode,
  FsmSubcode,
  INITIAL_CONTEXT,
  MessageReader,
  endOfRib,
  endOfRibFamily,
  encodeAnnouncements,
  encodeMessage,
  encodeWithdrawals,
  makeOpen,
  negotiate,
  notificationFor,
  notificationName,
  validateOpen,
  BgpEncodeError,
  type Announcement,
  type BgpMessage,
  type Capability,
  type CodecContext,
  type Family,
  type FamilyPrefixes,
  type Negotiated,
  type NotificationMessage,
  type OpenMessage,
  type Prefix,
  type ReadResult,
  type UpdateMessage,
} from '../codec/index.js';
import { Timer, systemClock, type Clock } from './clock.js';
import type { Connection, Transport } from './transport.js';

export type FsmState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export interface FsmConfig {
  readonly peerAddress: string;
  readonly peerPort: number;
  readonly localAddress?: string;
  readonly localAsn: number;
  readonly peerAsn: number;
  /** Our BGP Identifier. */
  readonly routerId: string;
  /** Never connect; wait for the peer. */
  readonly passive: boolean;
  /** Seconds we propose; 0 (no keepalives) or ≥ 3. RFC 4271 suggests 90. */
  readonly holdTime: number;
  /** Seconds between outgoing connection attempts. */
  readonly connectRetryTime: number;
  /** Seconds in Idle after a session ends before trying again. */
  readonly idleHoldTime: number;
  /** Seconds the hold timer runs while waiting for the peer's OPEN (RFC 4271 §8: "4 minutes"). */
  readonly openHoldTime?: number;
  /** Families to advertise (multiprotocol capabilities). */
  readonly families: readonly Family[];
  /** Further capabilities for the next OPEN, asked for each time one is sent (graceful restart flags change). */
  readonly capabilities: () => readonly Capability[];
  /** Keep the peer's routes when the session drops without NOTIFICATION (we are a GR helper). */
  readonly gracefulRestartHelper: boolean;
  /** Checked before connecting and when accepting: undefined to go ahead, else why not. */
  readonly admissible?: () => string | undefined;
}

export interface SessionParams {
  readonly negotiated: Negotiated;
  readonly peerOpen: OpenMessage;
  readonly peerBgpId: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remotePort: number;
  /** We opened the TCP connection (it survived collision detection, if any). */
  readonly outgoing: boolean;
}

export interface DownEvent {
  readonly reason: string;
  /** RFC 4724: keep the peer's routes as stale (it advertised GR, and no NOTIFICATION was exchanged). */
  readonly retainRoutes: boolean;
  readonly notification?: {
    readonly direction: 'sent' | 'received';
    readonly code: number;
    readonly subcode: number;
  };
}

export interface FsmListener {
  stateChanged?(state: FsmState, previous: FsmState): void;
  established(session: SessionParams): void;
  update(update: UpdateMessage): void;
  /** RFC 7606 treat-as-withdraw: the UPDATE was malformed; withdraw everything it carried. */
  treatAsWithdraw(withdrawn: readonly FamilyPrefixes[], reason: string): void;
  endOfRib(family: Family): void;
  routeRefresh(family: Family): void;
  down(event: DownEvent): void;
}

export interface FsmCounters {
  messagesIn: number;
  messagesOut: number;
  updatesIn: number;
  updatesOut: number;
  notificationsIn: number;
  notificationsOut: number;
  updateErrors: number;
}

type ConnState = 'OpenSent' | 'OpenConfirm' | 'Established';

const RANK: Readonly<Record<FsmState, number>> = {
  Idle: 0,
  Active: 1,
  Connect: 2,
  OpenSent: 3,
  OpenConfirm: 4,
  Established: 5,
};

/** Largest run of encoded messages joined into one socket write. */
const WRITE_BATCH = 64 * 1024;

function ipv4Number(text: string): number {
  const p = text.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function notification(code: number, subcode: number, data?: Uint8Array): NotificationMessage {
  return { type: 'notification', code, subcode, data: data ?? new Uint8Array(0) };
}

class Conn {
  state: ConnState = 'OpenSent';
  readonly reader = new MessageReader();
  sendCtx: CodecContext = INITIAL_CONTEXT;
  negotiated: Negotiated | undefined;
  peerOpen: OpenMessage | undefined;
  closed = false;
  holdMs = 0;
  lastHeard = 0;
  readonly holdTimer: Timer;
  readonly keepaliveTimer: Timer;

  constructor(
    readonly socket: Connection,
    readonly outgoing: boolean,
    readonly sentOpen: OpenMessage,
    clock: Clock,
    onHold: () => void,
    onKeepalive: () => void,
  ) {
    this.holdTimer = new Timer(clock, onHold);
    this.keepaliveTimer = new Timer(clock, onKeepalive);
  }
}

/** One peer's session: connections, timers, the RFC 4271 state machine. */
export class PeerFsm {
  private stateValue: FsmState = 'Idle';
  private conns: Conn[] = [];
  private cancelConnect: (() => void) | undefined;
  private started = false;
  private holdingIdle = false;
  private readonly connectRetry: Timer;
  private readonly idleHold: Timer;
  /** Why the session is not Established (last error), for status. */
  lastError: string | undefined;
  /** clock.now() when the state last changed. */
  since: number;
  readonly counters: FsmCounters = {
    messagesIn: 0,
    messagesOut: 0,
    updatesIn: 0,
    updatesOut: 0,
    notificationsIn: 0,
    notificationsOut: 0,
    updateErrors: 0,
  };

  constructor(
    readonly config: FsmConfig,
    private readonly listener: FsmListener,
    private readonly transport: Transport,
    private readonly clock: Clock = systemClock,
  ) {
    this.connectRetry = new Timer(clock, () => this.onConnectRetry());
    this.idleHold = new Timer(clock, () => {
      this.holdingIdle = false;
      this.begin();
    });
    this.since = clock.now();
  }

  get state(): FsmState {
    return this.stateValue;
  }

  /** The established session's negotiated parameters. */
  get session(): (Negotiated & { localAddress: string }) | undefined {
    const c = this.established();
    return c?.negotiated === undefined
      ? undefined
      : { ...c.negotiated, localAddress: c.socket.localAddress };
  }

  /** ManualStart / AutomaticStart (RFC 4271 §8.1.2 events 1, 3, 4, 5). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.holdingIdle = false;
    this.idleHold.stop();
    this.begin();
  }

  /**
   * ManualStop (event 2). With a notification (default Cease/Administrative
   * Shutdown) every connection gets it before closing; with null the
   * connections are dropped without one, which a graceful-restart peer takes
   * as a restart and so keeps our routes.
   */
  stop(
    notice: NotificationMessage | null = notification(
      ErrorCode.CEASE,
      CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
    ),
  ): void {
    this.started = false;
    this.holdingIdle = false;
    this.idleHold.stop();
    this.connectRetry.stop();
    this.cancelConnect?.();
    this.cancelConnect = undefined;
    for (const c of [...this.conns]) {
      this.closeConn(c, notice === null ? 'stopped (graceful)' : 'stopped', {
        send: notice ?? undefined,
        retain: false,
        idle: true,
      });
    }
    this.refresh();
  }

  /** An incoming TCP connection from this peer (Event 16/17). Returns false if refused. */
  accept(socket: Connection): boolean {
    const why = this.started ? this.config.admissible?.() : 'peer is stopped';
    if (!this.started || this.holdingIdle || why !== undefined || this.conns.length >= 2) {
      if (why !== undefined) this.lastError = why;
      socket.destroy();
      return false;
    }
    this.addConn(socket, false);
    return true;
  }

  // -------------------------------------------------------------------------
  // Sending (Established only)

  /** Sends announcements; returns the number of UPDATE messages. Nothing is sent unless Established. */
  announce(a: Announcement): number {
    const c = this.established();
    if (c === undefined) return 0;
    let messages: Uint8Array[];
    try {
      messages = encodeAnnouncements(a, c.sendCtx);
    } catch (e) {
      if (e instanceof BgpEncodeError) {
        this.lastError = `cannot encode announcement: ${e.message}`;
        return 0;
      }
      throw e;
    }
    this.writeAll(c, messages);
    this.counters.updatesOut += messages.length;
    return messages.length;
  }

  withdraw(afi: number, safi: number, prefixes: readonly Prefix[]): number {
    const c = this.established();
    if (c === undefined || prefixes.length === 0) return 0;
    const messages = encodeWithdrawals(afi, safi, prefixes, undefined, c.sendCtx);
    this.writeAll(c, messages);
    this.counters.updatesOut += messages.length;
    return messages.length;
  }

  sendEndOfRib(family: Family): void {
    const c = this.established();
    if (c === undefined) return;
    this.writeAll(c, [encodeMessage(endOfRib(family.afi, family.safi), c.sendCtx)]);
    this.counters.updatesOut++;
  }

  // -------------------------------------------------------------------------

  private established(): Conn | undefined {
    return this.conns.find((c) => c.state === 'Established' && !c.closed);
  }

  private refresh(): void {
    let next: FsmState;
    if (this.conns.length > 0) {
      next = 'OpenSent';
      for (const c of this.conns) if (RANK[c.state] > RANK[next]) next = c.state;
    } else if (this.cancelConnect !== undefined) {
      next = 'Connect';
    } else if (this.started && !this.holdingIdle) {
      next = 'Active';
    } else {
      next = 'Idle';
    }
    if (next === this.stateValue) return;
    const previous = this.stateValue;
    this.stateValue = next;
    this.since = this.clock.now();
    this.listener.stateChanged?.(next, previous);
  }

  private begin(): void {
    if (!this.started || this.holdingIdle) return;
    if (this.config.passive) {
      this.refresh();
      return;
    }
    this.connect();
  }

  private connect(): void {
    this.connectRetry.start(this.config.connectRetryTime * 1000);
    const why = this.config.admissible?.();
    if (why !== undefined) {
      this.lastError = why;
      this.refresh();
      return;
    }
    this.cancelConnect?.();
    this.cancelConnect = this.transport.connect(
      {
        host: this.config.peerAddress,
        port: this.config.peerPort,
        ...(this.config.localAddress !== undefined
          ? { localAddress: this.config.localAddress }
          : {}),
        timeoutMs: Math.max(1000, this.config.connectRetryTime * 1000),
      },
      (err, socket) => {
        this.cancelConnect = undefined;
        if (err !== undefined || socket === undefined) {
          this.lastError = `connect: ${err?.message ?? 'failed'}`;
          this.refresh(); // Connect → Active; the retry timer runs on
          return;
        }
        if (!this.started || this.holdingIdle || this.conns.length >= 2) {
          socket.destroy();
          this.refresh();
          return;
        }
        this.addConn(socket, true);
      },
    );
    this.refresh();
  }

  private onConnectRetry(): void {
    if (!this.started || this.holdingIdle) return;
    if (this.conns.length > 0) return; // RFC: the timer is stopped beyond Connect/Active
    if (this.config.passive) {
      this.connectRetry.start(this.config.connectRetryTime * 1000);
      return;
    }
    this.connect();
  }

  private addConn(socket: Connection, outgoing: boolean): void {
    const open = makeOpen({
      asn: this.config.localAsn,
      holdTime: this.config.holdTime,
      bgpId: this.config.routerId,
      families: this.config.families,
      capabilities: this.config.capabilities(),
    });
    const conn: Conn = new Conn(
      socket,
      outgoing,
      open,
      this.clock,
      () => this.onHoldTimer(conn),
      () => this.onKeepaliveTimer(conn),
    );
    this.conns.push(conn);
    this.connectRetry.stop();
    socket.onData = (chunk) => this.onData(conn, chunk);
    socket.onClose = (err) => {
      if (conn.closed) return;
      this.closeConn(conn, err ? `connection error: ${err.message}` : 'connection closed by peer', {
        retain: true,
        idle: false,
      });
    };
    this.send(conn, open);
    conn.holdMs = (this.config.openHoldTime ?? 240) * 1000;
    conn.lastHeard = this.clock.now();
    conn.holdTimer.start(conn.holdMs);
    this.refresh();
  }

  private send(conn: Conn, message: BgpMessage): void {
    conn.socket.write(encodeMessage(message, conn.sendCtx));
    this.counters.messagesOut++;
    if (message.type === 'notification') this.counters.notificationsOut++;
  }

  private writeAll(conn: Conn, messages: readonly Uint8Array[]): void {
    this.counters.messagesOut += messages.length;
    let batch: Uint8Array[] = [];
    let size = 0;
    for (const m of messages) {
      if (size + m.length > WRITE_BATCH && batch.length > 0) {
        conn.socket.write(Buffer.concat(batch, size));
        batch = [];
        size = 0;
      }
      batch.push(m);
      size += m.length;
    }
    if (batch.length === 1) conn.socket.write(batch[0]!);
    else if (batch.length > 1) conn.socket.write(Buffer.concat(batch, size));
  }

  private onData(conn: Conn, chunk: Uint8Array): void {
    if (conn.closed) return;
    conn.reader.push(chunk);
    for (const result of conn.reader.messages()) {
      if (conn.closed) return;
      this.counters.messagesIn++;
      try {
        this.onMessage(conn, result);
      } catch (e) {
        // A bug above the codec must not take the process down: reset the session.
        this.fail(
          conn,
          notification(ErrorCode.CEASE, 0),
          `internal error: ${(e as Error).message}`,
        );
        return;
      }
    }
  }

  private onMessage(conn: Conn, result: ReadResult): void {
    conn.lastHeard = this.clock.now();
    if (!result.ok) {
      const e = result.error;
      if (e.action === 'notification' || e.action === 'session-reset') {
        this.fail(conn, notificationFor(e), `${notificationName(e.code, e.subcode)}: ${e.reason}`);
        return;
      }
      this.counters.updatesIn++;
      this.counters.updateErrors++;
      if (conn.state !== 'Established') {
        // An UPDATE before Established is an FSM error whatever its content (RFC 6608).
        this.unexpected(conn, 'UPDATE');
        return;
      }
      if (e.action === 'treat-as-withdraw') {
        this.listener.treatAsWithdraw(
          e.withdrawn,
          `${notificationName(e.code, e.subcode)}: ${e.reason}`,
        );
      } else {
        this.listener.update(e.update);
      }
      return;
    }
    const m = result.message;
    if (m.type === 'notification') {
      this.counters.notificationsIn++;
      this.closeConn(conn, `received NOTIFICATION ${notificationName(m.code, m.subcode)}`, {
        retain: false,
        idle: true,
        received: m,
      });
      return;
    }
    switch (conn.state) {
      case 'OpenSent':
        if (m.type === 'open') this.onOpen(conn, m);
        else this.unexpected(conn, m.type);
        return;
      case 'OpenConfirm':
        if (m.type === 'keepalive') this.onEstablished(conn);
        else this.unexpected(conn, m.type);
        return;
      case 'Established':
        switch (m.type) {
          case 'keepalive':
            return;
          case 'update': {
            this.counters.updatesIn++;
            const eor = endOfRibFamily(m);
            if (eor !== undefined) this.listener.endOfRib(eor);
            else this.listener.update(m);
            return;
          }
          case 'route-refresh': {
            // RFC 2918 §4 / RFC 7313: requests (subtype 0) for negotiated families only; BoRR/EoRR and unknown subtypes are ignored.
            const fams = conn.negotiated?.families ?? [];
            if (m.subtype === 0 && fams.some((f) => f.afi === m.afi && f.safi === m.safi)) {
              this.listener.routeRefresh({ afi: m.afi, safi: m.safi });
            }
            return;
          }
          default:
            this.unexpected(conn, m.type);
            return;
        }
    }
  }

  /** RFC 6608: a message the state does not expect → FSM Error with the state's subcode. */
  private unexpected(conn: Conn, what: string): void {
    const subcode =
      conn.state === 'OpenSent'
        ? FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENSENT
        : conn.state === 'OpenConfirm'
          ? FsmSubcode.UNEXPECTED_MESSAGE_IN_OPENCONFIRM
          : FsmSubcode.UNEXPECTED_MESSAGE_IN_ESTABLISHED;
    this.fail(
      conn,
      notification(ErrorCode.FSM, subcode),
      `unexpected ${what} in ${conn.state} (${notificationName(ErrorCode.FSM, subcode)})`,
    );
  }

  private onOpen(conn: Conn, open: OpenMessage): void {
    const bad = validateOpen(open, {
      peerAs: this.config.peerAsn,
      localAs: this.config.localAsn,
      localBgpId: this.config.routerId,
      minHoldTime: 3,
    });
    if (bad !== undefined) {
      this.fail(
        conn,
        notificationFor(bad),
        `${notificationName(bad.code, bad.subcode)}: ${bad.reason}`,
      );
      return;
    }
    const negotiated = negotiate(conn.sentOpen, open);
    // Connection collision detection (RFC 4271 §6.8).
    const other = this.conns.find((c) => c !== conn && !c.closed);
    if (other !== undefined && other.state === 'Established') {
      if (
        this.config.gracefulRestartHelper &&
        other.negotiated?.peerGracefulRestart !== undefined
      ) {
        // RFC 4724 §4.2: a new connection while Established means the peer restarted.
        this.closeConn(other, 'peer restarted (new OPEN while Established)', {
          retain: true,
          idle: false,
        });
      } else {
        this.fail(
          conn,
          notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION),
          'connection collision with the Established session',
          false,
        );
        return;
      }
    } else if (other !== undefined && other.state === 'OpenConfirm') {
      // Keep the connection opened by the speaker with the higher BGP Identifier.
      const localHigher = ipv4Number(this.config.routerId) > ipv4Number(open.bgpId);
      const loser = conn.outgoing === localHigher ? other : conn;
      this.fail(
        loser,
        notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION),
        'connection collision resolution',
        false,
      );
      if (loser === conn) return;
    }
    conn.peerOpen = open;
    conn.negotiated = negotiated;
    conn.reader.context = negotiated.receiveContext;
    conn.sendCtx = negotiated.sendContext;
    conn.state = 'OpenConfirm';
    this.send(conn, { type: 'keepalive' });
    conn.holdMs = negotiated.holdTime * 1000;
    if (conn.holdMs > 0) {
      conn.holdTimer.start(conn.holdMs);
      conn.keepaliveTimer.start(Math.floor(conn.holdMs / 3));
    } else {
      conn.holdTimer.stop();
    }
    this.refresh();
  }

  private onEstablished(conn: Conn): void {
    conn.state = 'Established';
    for (const other of [...this.conns]) {
      if (other !== conn) {
        this.fail(
          other,
          notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION_RESOLUTION),
          'connection collision resolution',
          false,
        );
      }
    }
    this.lastError = undefined;
    this.refresh();
    this.listener.established({
      negotiated: conn.negotiated!,
      peerOpen: conn.peerOpen!,
      peerBgpId: conn.peerOpen!.bgpId,
      localAddress: conn.socket.localAddress,
      localPort: conn.socket.localPort,
      remotePort: conn.socket.remotePort,
      outgoing: conn.outgoing,
    });
  }

  private onHoldTimer(conn: Conn): void {
    if (conn.closed || conn.holdMs === 0) return;
    const due = conn.lastHeard + conn.holdMs;
    const now = this.clock.now();
    if (now < due) {
      conn.holdTimer.start(due - now);
      return;
    }
    this.fail(
      conn,
      notification(ErrorCode.HOLD_TIMER_EXPIRED, 0),
      'hold timer expired',
      true,
      // RFC 4724 helpers (BIRD among them) keep routes when the hold timer expires.
      true,
    );
  }

  private onKeepaliveTimer(conn: Conn): void {
    if (conn.closed || conn.holdMs === 0) return;
    this.send(conn, { type: 'keepalive' });
    conn.keepaliveTimer.start(Math.floor(conn.holdMs / 3));
  }

  /** Sends a NOTIFICATION on conn and closes it. */
  private fail(
    conn: Conn,
    notice: NotificationMessage,
    reason: string,
    idle = true,
    retain = false,
  ): void {
    this.closeConn(conn, reason, { send: notice, retain, idle });
  }

  private closeConn(
    conn: Conn,
    reason: string,
    how: {
      send?: NotificationMessage;
      received?: NotificationMessage;
      retain: boolean;
      idle: boolean;
    },
  ): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.holdTimer.stop();
    conn.keepaliveTimer.stop();
    this.conns = this.conns.filter((c) => c !== conn);
    const wasEstablished = conn.state === 'Established';
    if (how.send !== undefined) {
      try {
        this.send(conn, how.send);
      } catch {
        // an unencodable NOTIFICATION (data too long) is not worth a crash
      }
      conn.socket.close();
    } else {
      conn.socket.destroy();
    }
    this.lastError = reason;
    if (wasEstablished) {
      const notice = how.send ?? how.received;
      this.listener.down({
        reason,
        retainRoutes:
          how.retain &&
          (how.send === undefined || how.send.code === ErrorCode.HOLD_TIMER_EXPIRED) &&
          how.received === undefined &&
          this.config.gracefulRestartHelper &&
          conn.negotiated?.peerGracefulRestart !== undefined,
        ...(notice !== undefined
          ? {
              notification: {
                direction: how.send !== undefined ? 'sent' : 'received',
                code: notice.code,
                subcode: notice.subcode,
              },
            }
          : {}),
      });
    }
    if (this.conns.length === 0 && this.started) {
      if (how.idle) {
        // After an error: Idle, then an automatic start after the idle-hold time.
        this.holdingIdle = true;
        this.cancelConnect?.();
        this.cancelConnect = undefined;
        this.connectRetry.stop();
        this.idleHold.start(this.config.idleHoldTime * 1000);
      } else if (wasEstablished) {
        // The session dropped without an error (peer restarting): try again at once.
        this.begin();
      } else if (!this.connectRetry.running && this.cancelConnect === undefined) {
        // TCP failure in OpenSent/OpenConfirm → Active with the retry timer running.
        this.connectRetry.start(this.config.connectRetryTime * 1000);
      }
    }
    this.refresh();
  }
}
