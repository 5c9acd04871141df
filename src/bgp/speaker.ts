// BgpSpeaker: what the agent uses. It owns the listening socket, one PeerFsm
// per peer and the RIB, and turns between them:
//
//   FSM events (UPDATE, End-of-RIB, down)  →  RIB operations
//   RIB drain (coalesced, once per event-loop turn)  →  UPDATEs per peer,
//                                                       onRouteChange batches
//
// Graceful restart (RFC 4724), both roles:
//   helper     a GR-capable peer's session drops without NOTIFICATION: its
//              routes stay in the Loc-RIB (marked stale, no change events)
//              until it re-sends them and End-of-RIB sweeps the rest, or
//              until min(its restart time, the peer's gracefulRestartTime)
//              passes without a new session, or the stale-path time passes
//              after one. A new session without the F bit for a family
//              flushes that family at once.
//   restarting start({gracefulRestart: {restarting: true}}) sets the R and F
//              bits, so peers keep our routes until we send End-of-RIB;
//              whenSynced() tells the agent when every peer has sent its
//              End-of-RIB (or the deferral time passed), i.e. when kernel
//              routes not re-learnt may be removed. stop({graceful: true})
//              closes sessions without NOTIFICATION so peers keep our routes.

import {
  Afi,
  CeaseSubcode,
  ErrorCode,
  Safi,
  canonicalPrefix,
  type Capability,
  type Family,
  type FamilyPrefixes,
  type NotificationMessage,
  type UpdateMessage,
} from './codec/index.js';
import {
  Md5UnsupportedError,
  PeerFsm,
  Timer,
  isDirectlyConnected,
  plainAddress,
  systemClock,
  tcpTransport,
  type Clock,
  type Connection,
  type DownEvent,
  type FsmState,
  type Listener,
  type SessionParams,
  type Transport,
} from './fsm/index.js';
import {
  Rib,
  afiFamily,
  familyAfi,
  type AddressFamily,
  type BestRoute,
  type RibPeer,
  type Route,
} from './rib/index.js';

export type { AddressFamily, BestRoute } from './rib/index.js';
export type { FsmState } from './fsm/index.js';

/** Minimal logger (pino's methods fit). */
export interface BgpLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const silentLogger: BgpLogger = { info() {}, warn() {}, debug() {} };

export interface GracefulRestartOptions {
  /** Advertise the capability and keep GR peers' routes across their restarts. */
  readonly enabled: boolean;
  /** Seconds we ask peers to keep our routes (0..4095). Default 120. */
  readonly restartTime?: number;
  /** This start is a restart that kept forwarding state: set the R and F bits. */
  readonly restarting?: boolean;
  /** Seconds a restarted peer's stale routes wait for its End-of-RIB. Default 360. */
  readonly stalePathTime?: number;
  /** Upper bound of whenSynced(), seconds. Default restartTime. */
  readonly deferralTime?: number;
}

export interface SpeakerConfig {
  readonly routerId: string;
  readonly asn: number;
  readonly listen: { readonly host: string; readonly port: number } | false;
  /** Route-reflector cluster id (default: the router id). */
  readonly clusterId?: string;
  readonly gracefulRestart?: GracefulRestartOptions;
  /** Hold time we propose, seconds (0 or ≥ 3). Default 90. */
  readonly holdTime?: number;
  /** Seconds between connection attempts. Default 5. */
  readonly connectRetryTime?: number;
  /** Seconds in Idle after an error. Default 2. */
  readonly idleHoldTime?: number;
  /** Families to negotiate. Default both. */
  readonly families?: readonly AddressFamily[];
}

/** As calicoctl node status calls them: node-to-node mesh, global, node specific, route reflector. */
export type PeerType = 'mesh' | 'global' | 'node' | 'rr';

export interface PeerConfig {
  readonly address: string;
  readonly port?: number;
  readonly asn: number;
  readonly type: PeerType;
  /** Never connect, wait for the peer (one side of each mesh pair, as Calico does). */
  readonly passive?: boolean;
  /** Source address of our connection and the "self" next hop. */
  readonly localAddress?: string;
  readonly nextHopSelf?: boolean;
  readonly keepOriginalNextHop?: boolean;
  /** The peer is our route-reflector client. */
  readonly routeReflectorClient?: boolean;
  /**
   * eBGP only. Without it the peer must be on a directly connected network
   * (Node cannot send with TTL 1, so that is checked instead). With it any
   * reachable peer is accepted; packets go out with the namespace's default
   * TTL (64): a given multihop TTL cannot be set from Node.
   */
  readonly multihop?: boolean | number;
  /** TCP MD5: not available in Node; addPeer throws Md5UnsupportedError. */
  readonly password?: string;
  /** Longest time (s) we keep this peer's routes while it restarts (Calico maxRestartTime). */
  readonly gracefulRestartTime?: number;
  readonly holdTime?: number;
}

export interface PeerStatus {
  readonly address: string;
  readonly port: number;
  readonly asn: number;
  readonly type: PeerType;
  readonly state: FsmState;
  readonly since: Date;
  /** "Established", or why not (last error). */
  readonly info: string;
  readonly routerId?: string;
  readonly prefixesReceived: number;
  readonly prefixesAccepted: number;
  readonly prefixesStale: number;
  readonly prefixesAdvertised: number;
  readonly gracefulRestart: boolean;
  /** The established TCP connection. */
  readonly connection?: {
    readonly localPort: number;
    readonly remotePort: number;
    readonly outgoing: boolean;
  };
}

export interface SpeakerStatus {
  readonly routerId: string;
  readonly asn: number;
  readonly listening: { readonly host: string; readonly port: number } | undefined;
  readonly locRibSize: number;
  readonly peers: PeerStatus[];
}

export interface RouteEntry {
  readonly prefix: string;
  readonly nextHop: string;
  /** Peer address, or "local" for our own. */
  readonly peer: string;
  readonly local: boolean;
  readonly asPath: number[];
  readonly origin: number;
  readonly localPref: number;
  readonly med: number;
  readonly stale: boolean;
}

/**
 * One Loc-RIB change: the prefix's new best route, or undefined when the
 * prefix is gone. `route` is the RIB's own object (shared by the prefixes of
 * one UPDATE): read it, do not keep it beyond the callback if memory matters.
 */
export interface RouteChange {
  readonly prefix: string;
  readonly route: BestRoute | undefined;
}

export interface SpeakerOptions {
  readonly clock?: Clock;
  readonly transport?: Transport;
  readonly logger?: BgpLogger;
}

export interface OriginateOptions {
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly communities?: readonly number[];
}

function entryOf(prefix: string, r: Route): RouteEntry {
  return {
    prefix,
    nextHop: r.nextHop,
    peer: r.local ? 'local' : r.peer.address,
    local: r.local,
    asPath: r.asPath,
    origin: r.origin,
    localPref: r.localPref,
    med: r.med,
    stale: r.stale,
  };
}

function isIPv4(text: string): boolean {
  const p = text.split('.');
  return p.length === 4 && p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255);
}

class PeerEntry {
  fsm!: PeerFsm;
  readonly restartTimer: Timer;
  readonly staleTimer: Timer;
  /** Last session's peer GR capability: restart time and the families it covers. */
  peerRestartTime = 0;
  peerGr = false;
  needEndOfRib = false;
  /** Families whose End-of-RIB arrived in the current session. */
  eorReceived = new Set<AddressFamily>();
  families: AddressFamily[] = [];
  routerId: string | undefined;
  connection: { localPort: number; remotePort: number; outgoing: boolean } | undefined;

  constructor(
    readonly config: PeerConfig,
    readonly rib: RibPeer,
    clock: Clock,
    onRestartExpired: () => void,
    onStaleExpired: () => void,
  ) {
    this.restartTimer = new Timer(clock, onRestartExpired);
    this.staleTimer = new Timer(clock, onStaleExpired);
  }
}

export class BgpSpeaker {
  private readonly clock: Clock;
  private readonly transport: Transport;
  private readonly log: BgpLogger;
  private config: SpeakerConfig | undefined;
  private rib: Rib | undefined;
  private listener: Listener | undefined;
  private readonly peers = new Map<string, PeerEntry>();
  private readonly routeListeners = new Set<(changes: RouteChange[]) => void>();
  private readonly stateListeners = new Set<
    (peer: string, state: FsmState, info: string) => void
  >();
  private flushScheduled = false;
  private stopped = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private syncTimer: Timer | undefined;

  constructor(options: SpeakerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.transport = options.transport ?? tcpTransport;
    this.log = options.logger ?? silentLogger;
  }

  // -------------------------------------------------------------------------
  // Lifecycle

  async start(config: SpeakerConfig): Promise<void> {
    if (this.config !== undefined) throw new Error('BgpSpeaker.start: already started');
    if (!isIPv4(config.routerId) || config.routerId === '0.0.0.0')
      throw new Error(
        `BgpSpeaker.start: router id ${config.routerId} is not a non-zero IPv4 address`,
      );
    if (!Number.isInteger(config.asn) || config.asn < 1 || config.asn > 0xffffffff)
      throw new Error(`BgpSpeaker.start: ASN ${config.asn} is not 1..4294967295`);
    const hold = config.holdTime ?? 90;
    if (hold !== 0 && (hold < 3 || hold > 65535))
      throw new Error(`BgpSpeaker.start: hold time ${hold} is not 0 or 3..65535`);
    this.config = config;
    this.rib = new Rib({
      localAsn: config.asn,
      routerId: config.routerId,
      ...(config.clusterId !== undefined ? { clusterId: config.clusterId } : {}),
    });
    const gr = config.gracefulRestart;
    if (gr?.enabled === true && gr.restarting === true) {
      this.syncTimer = new Timer(this.clock, () => this.markSynced('deferral timer expired'));
      this.syncTimer.start((gr.deferralTime ?? gr.restartTime ?? 120) * 1000);
    } else {
      this.synced = true;
    }
    if (config.listen !== false) {
      this.listener = await this.transport.listen(config.listen, (conn) => this.onIncoming(conn));
    }
    this.log.info(
      { routerId: config.routerId, asn: config.asn, listen: config.listen },
      'BGP speaker started',
    );
  }

  /**
   * Stops every session. graceful: close without NOTIFICATION, so that
   * graceful-restart peers keep our routes (the agent is restarting);
   * otherwise Cease/Administrative Shutdown and peers withdraw them.
   */
  async stop(options: { graceful?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const notice: NotificationMessage | null =
      options.graceful === true
        ? null
        : {
            type: 'notification',
            code: ErrorCode.CEASE,
            subcode: CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
            data: new Uint8Array(0),
          };
    for (const p of this.peers.values()) {
      p.restartTimer.stop();
      p.staleTimer.stop();
      p.fsm.stop(notice);
    }
    this.syncTimer?.stop();
    await this.listener?.close();
    this.listener = undefined;
    this.markSynced('stopped');
  }

  // -------------------------------------------------------------------------
  // Peers

  addPeer(config: PeerConfig): void {
    const cfg = this.requireStarted('addPeer');
    const rib = this.rib!;
    const address = plainAddress(config.address);
    if (this.peers.has(address)) throw new Error(`BGP peer ${address} is already configured`);
    if (config.password !== undefined && config.password !== '')
      throw new Md5UnsupportedError(address);
    if (!Number.isInteger(config.asn) || config.asn < 1 || config.asn > 0xffffffff)
      throw new Error(`BGP peer ${address}: ASN ${config.asn} is not 1..4294967295`);
    const ebgp = config.asn !== cfg.asn;
    const direct = ebgp && (config.multihop === undefined || config.multihop === false);
    const ribPeer = rib.addPeer({
      address,
      asn: config.asn,
      ...(config.routeReflectorClient !== undefined
        ? { routeReflectorClient: config.routeReflectorClient }
        : {}),
      ...(config.nextHopSelf !== undefined ? { nextHopSelf: config.nextHopSelf } : {}),
      ...(config.keepOriginalNextHop !== undefined
        ? { keepOriginalNextHop: config.keepOriginalNextHop }
        : {}),
    });
    const entry: PeerEntry = new PeerEntry(
      { ...config, address },
      ribPeer,
      this.clock,
      () => this.onRestartExpired(entry),
      () => this.onStaleExpired(entry),
    );
    const families = (cfg.families ?? ['ipv4', 'ipv6']).map(familyAfi);
    const gr = cfg.gracefulRestart;
    entry.fsm = new PeerFsm(
      {
        peerAddress: address,
        peerPort: config.port ?? 179,
        ...(config.localAddress !== undefined ? { localAddress: config.localAddress } : {}),
        localAsn: cfg.asn,
        peerAsn: config.asn,
        routerId: cfg.routerId,
        passive: config.passive === true,
        holdTime: config.holdTime ?? cfg.holdTime ?? 90,
        connectRetryTime: cfg.connectRetryTime ?? 5,
        idleHoldTime: cfg.idleHoldTime ?? 2,
        families,
        capabilities: () => this.capabilities(families),
        gracefulRestartHelper: gr?.enabled === true,
        ...(direct
          ? {
              admissible: () =>
                isDirectlyConnected(address)
                  ? undefined
                  : `eBGP peer ${address} is not on a directly connected network (set multihop)`,
            }
          : {}),
      },
      {
        stateChanged: (state) => this.emitState(entry, state),
        established: (s) => this.onEstablished(entry, s),
        update: (u) => this.onUpdate(entry, u),
        treatAsWithdraw: (w, reason) => this.onTreatAsWithdraw(entry, w, reason),
        endOfRib: (f) => this.onEndOfRib(entry, f),
        routeRefresh: (f) => {
          const fam = afiFamily(f);
          if (fam !== undefined) rib.refresh(ribPeer, fam);
          this.scheduleFlush();
        },
        down: (ev) => this.onDown(entry, ev),
      },
      this.transport,
      this.clock,
    );
    this.peers.set(address, entry);
    entry.fsm.start();
    this.log.info({ peer: address, asn: config.asn, type: config.type }, 'BGP peer added');
  }

  /** Removes a peer: Cease/Peer De-configured, its routes withdrawn. */
  removePeer(address: string): boolean {
    const key = plainAddress(address);
    const entry = this.peers.get(key);
    if (entry === undefined) return false;
    this.peers.delete(key);
    entry.restartTimer.stop();
    entry.staleTimer.stop();
    entry.fsm.stop({
      type: 'notification',
      code: ErrorCode.CEASE,
      subcode: CeaseSubcode.PEER_DECONFIGURED,
      data: new Uint8Array(0),
    });
    this.rib!.removePeer(entry.rib);
    this.scheduleFlush();
    this.checkSynced();
    return true;
  }

  // -------------------------------------------------------------------------
  // Routes

  /** Advertises a prefix of ours (an affine block, a borrowed /32) to every peer. */
  originate(prefix: string, options: OriginateOptions = {}): void {
    this.requireStarted('originate');
    const canonical = canonicalPrefix(prefix);
    if (canonical === undefined) throw new Error(`originate: ${prefix} is not a prefix`);
    this.rib!.originate(canonical, options);
    this.scheduleFlush();
  }

  withdraw(prefix: string): boolean {
    this.requireStarted('withdraw');
    const canonical = canonicalPrefix(prefix);
    if (canonical === undefined) throw new Error(`withdraw: ${prefix} is not a prefix`);
    const removed = this.rib!.withdrawLocal(canonical);
    if (removed) this.scheduleFlush();
    return removed;
  }

  /** Loc-RIB best-path changes, batched per event-loop turn. Returns an unsubscribe function. */
  onRouteChange(listener: (changes: RouteChange[]) => void): () => void {
    this.routeListeners.add(listener);
    return () => this.routeListeners.delete(listener);
  }

  /** Peer FSM state changes. Returns an unsubscribe function. */
  onPeerStateChange(listener: (peer: string, state: FsmState, info: string) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** The Loc-RIB's best routes (learned and our own). */
  routes(): RouteEntry[] {
    const out: RouteEntry[] = [];
    if (this.rib === undefined) return out;
    for (const [p, r] of this.rib.entries()) out.push(entryOf(p, r));
    return out;
  }

  route(prefix: string): RouteEntry | undefined {
    const canonical = canonicalPrefix(prefix);
    const r = canonical === undefined ? undefined : this.rib?.best(canonical);
    return r === undefined ? undefined : entryOf(canonical!, r);
  }

  /** Number of prefixes in the Loc-RIB. */
  get locRibSize(): number {
    return this.rib?.size ?? 0;
  }

  status(): SpeakerStatus {
    const cfg = this.config;
    return {
      routerId: cfg?.routerId ?? '',
      asn: cfg?.asn ?? 0,
      listening:
        cfg?.listen === false || cfg === undefined
          ? undefined
          : { host: cfg.listen.host, port: this.listener?.port ?? cfg.listen.port },
      locRibSize: this.locRibSize,
      peers: [...this.peers.values()].map((p) => {
        const fsm = p.fsm;
        const rib = this.rib!;
        return {
          address: p.config.address,
          port: p.config.port ?? 179,
          asn: p.config.asn,
          type: p.config.type,
          state: fsm.state,
          since: new Date(fsm.since),
          info: fsm.state === 'Established' ? 'Established' : (fsm.lastError ?? ''),
          ...(p.routerId !== undefined ? { routerId: p.routerId } : {}),
          prefixesReceived: p.rib.received,
          prefixesAccepted: p.rib.accepted,
          prefixesStale: rib.staleCount(p.rib),
          prefixesAdvertised: p.rib.adjOut.size,
          gracefulRestart: p.peerGr,
          ...(fsm.state === 'Established' && p.connection !== undefined
            ? { connection: p.connection }
            : {}),
        };
      }),
    };
  }

  /**
   * Resolves when the initial routing exchange is complete: every configured
   * peer has sent End-of-RIB for each negotiated family, or the deferral
   * time has passed (RFC 4724 §4.1). Immediately if this start is not a
   * graceful restart.
   */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  // -------------------------------------------------------------------------

  private requireStarted(what: string): SpeakerConfig {
    if (this.config === undefined) throw new Error(`BgpSpeaker.${what}: call start() first`);
    if (this.stopped) throw new Error(`BgpSpeaker.${what}: the speaker is stopped`);
    return this.config;
  }

  private capabilities(families: readonly Family[]): Capability[] {
    const caps: Capability[] = [{ kind: 'route-refresh' }];
    const gr = this.config?.gracefulRestart;
    if (gr?.enabled === true) {
      const restarting = gr.restarting === true && !this.synced;
      const forwarding = gr.restarting === true || this.synced;
      caps.push({
        kind: 'graceful-restart',
        restarting,
        notification: false,
        restartTime: Math.min(4095, Math.max(0, Math.round(gr.restartTime ?? 120))),
        families: families.map((f) => ({ ...f, forwarding })),
      });
    }
    return caps;
  }

  private onIncoming(conn: Connection): void {
    const entry = this.peers.get(conn.remoteAddress);
    if (entry === undefined || this.stopped) {
      this.log.debug({ from: conn.remoteAddress }, 'refused connection from an unknown address');
      conn.destroy();
      return;
    }
    entry.fsm.accept(conn);
  }

  private emitState(entry: PeerEntry, state: FsmState): void {
    const info = state === 'Established' ? 'Established' : (entry.fsm.lastError ?? '');
    this.log.info({ peer: entry.config.address, state, info }, 'BGP peer state');
    for (const l of this.stateListeners) {
      try {
        l(entry.config.address, state, info);
      } catch (e) {
        this.log.warn({ err: String(e) }, 'peer state listener threw');
      }
    }
  }

  private onEstablished(entry: PeerEntry, s: SessionParams): void {
    const rib = this.rib!;
    const wanted = this.config!.families ?? ['ipv4', 'ipv6'];
    const families = s.negotiated.families
      .map(afiFamily)
      .filter((f): f is AddressFamily => f !== undefined && wanted.includes(f));
    entry.families = families;
    entry.routerId = s.peerBgpId;
    entry.connection = { localPort: s.localPort, remotePort: s.remotePort, outgoing: s.outgoing };
    entry.eorReceived = new Set();
    entry.needEndOfRib = true;
    const peerGr =
      this.config!.gracefulRestart?.enabled === true ? s.negotiated.peerGracefulRestart : undefined;
    entry.peerGr = peerGr !== undefined;
    entry.peerRestartTime = peerGr?.restartTime ?? 0;
    entry.restartTimer.stop();
    rib.peerUp(entry.rib, {
      routerId: s.peerBgpId,
      localAddress: entry.config.localAddress ?? s.localAddress,
      families,
    });
    // RFC 4724 §4.2: stale routes survive only for families the peer kept forwarding state for.
    if (rib.staleCount(entry.rib) > 0) {
      for (const fam of ['ipv4', 'ipv6'] as const) {
        const f = familyAfi(fam);
        const kept =
          peerGr?.families.some((g) => g.afi === f.afi && g.safi === f.safi && g.forwarding) ===
          true;
        if (!kept) rib.sweepStale(entry.rib, fam);
      }
      if (rib.staleCount(entry.rib) > 0) {
        entry.staleTimer.start((this.config!.gracefulRestart?.stalePathTime ?? 360) * 1000);
      }
    }
    this.log.info(
      {
        peer: entry.config.address,
        routerId: s.peerBgpId,
        families,
        holdTime: s.negotiated.holdTime,
      },
      'BGP session established',
    );
    this.scheduleFlush();
  }

  private onUpdate(entry: PeerEntry, u: UpdateMessage): void {
    const rib = this.rib!;
    const peer = entry.rib;
    const fams = entry.families;
    const v4 = fams.includes('ipv4');
    if (v4 && u.withdrawn.length > 0) rib.withdraw(peer, u.withdrawn);
    const a = u.attributes;
    const unreach = a.mpUnreach;
    if (unreach !== undefined && unreach.safi === Safi.UNICAST) {
      const fam = afiFamily(unreach);
      if (fam !== undefined && fams.includes(fam)) rib.withdraw(peer, unreach.withdrawn);
    }
    if (v4 && u.nlri.length > 0) {
      rib.announce(peer, { attrs: a, nextHop: a.nextHop ?? '', prefixes: u.nlri });
    }
    const reach = a.mpReach;
    if (reach !== undefined && reach.safi === Safi.UNICAST && reach.nlri.length > 0) {
      const fam = afiFamily(reach);
      if (fam !== undefined && fams.includes(fam)) {
        rib.announce(peer, { attrs: a, nextHop: reach.nextHop, prefixes: reach.nlri });
      }
    }
    this.scheduleFlush();
  }

  private onTreatAsWithdraw(
    entry: PeerEntry,
    withdrawn: readonly FamilyPrefixes[],
    reason: string,
  ): void {
    this.log.warn({ peer: entry.config.address, reason }, 'malformed UPDATE treated as withdraw');
    for (const w of withdrawn) {
      if (w.safi === Safi.UNICAST && (w.afi === Afi.IPV4 || w.afi === Afi.IPV6)) {
        this.rib!.withdraw(entry.rib, w.prefixes);
      }
    }
    this.scheduleFlush();
  }

  private onEndOfRib(entry: PeerEntry, f: Family): void {
    const fam = afiFamily(f);
    if (fam === undefined) return;
    entry.eorReceived.add(fam);
    const swept = this.rib!.sweepStale(entry.rib, fam);
    if (swept > 0)
      this.log.info(
        { peer: entry.config.address, family: fam, swept },
        'End-of-RIB: stale routes removed',
      );
    if (this.rib!.staleCount(entry.rib) === 0) entry.staleTimer.stop();
    this.scheduleFlush();
    this.checkSynced();
  }

  private onDown(entry: PeerEntry, ev: DownEvent): void {
    const rib = this.rib!;
    const retain = ev.retainRoutes && entry.peerGr && !this.stopped;
    rib.peerDown(entry.rib, retain);
    entry.eorReceived = new Set();
    entry.needEndOfRib = false;
    if (retain) {
      const limit = entry.config.gracefulRestartTime;
      const seconds =
        limit === undefined ? entry.peerRestartTime : Math.min(limit, entry.peerRestartTime);
      entry.restartTimer.start(seconds * 1000);
      this.log.info(
        {
          peer: entry.config.address,
          reason: ev.reason,
          keepSeconds: seconds,
          stale: rib.staleCount(entry.rib),
        },
        'BGP session down; keeping routes for graceful restart',
      );
    } else {
      this.log.info({ peer: entry.config.address, reason: ev.reason }, 'BGP session down');
    }
    this.scheduleFlush();
  }

  private onRestartExpired(entry: PeerEntry): void {
    if (entry.fsm.state === 'Established') return;
    const n = this.rib!.sweepStale(entry.rib);
    this.log.info(
      { peer: entry.config.address, swept: n },
      'graceful restart time passed; stale routes removed',
    );
    this.scheduleFlush();
  }

  private onStaleExpired(entry: PeerEntry): void {
    const n = this.rib!.sweepStale(entry.rib);
    this.log.info(
      { peer: entry.config.address, swept: n },
      'stale-path time passed; stale routes removed',
    );
    this.scheduleFlush();
  }

  private checkSynced(): void {
    if (this.synced) return;
    for (const p of this.peers.values()) {
      if (p.fsm.state !== 'Established') return;
      for (const f of p.families) if (!p.eorReceived.has(f)) return;
    }
    this.markSynced('End-of-RIB from every peer');
  }

  private markSynced(why: string): void {
    if (this.synced) return;
    this.synced = true;
    this.syncTimer?.stop();
    this.log.info({ why }, 'initial routing exchange complete');
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends what the RIB says each peer is missing and tells listeners what changed. */
  private flush(): void {
    const rib = this.rib;
    if (rib === undefined) return;
    const { changes, outputs } = rib.drain();
    for (const out of outputs) {
      const entry = this.peers.get(out.peer.address);
      if (entry === undefined) continue;
      const fsm = entry.fsm;
      for (const w of out.withdraw) {
        const f = familyAfi(w.family);
        fsm.withdraw(f.afi, f.safi, w.prefixes);
      }
      for (const a of out.announce) {
        const f = familyAfi(a.family);
        fsm.announce({
          afi: f.afi,
          safi: f.safi,
          attributes: a.out.attrs,
          ...(a.family === 'ipv4' ? {} : { nextHop: a.out.nextHop }),
          prefixes: a.prefixes,
        });
      }
      if (out.full && entry.needEndOfRib) {
        entry.needEndOfRib = false;
        for (const fam of entry.families) fsm.sendEndOfRib(familyAfi(fam));
      }
    }
    if (changes.length > 0 && this.routeListeners.size > 0) {
      for (const l of this.routeListeners) {
        try {
          l(changes);
        } catch (e) {
          this.log.warn({ err: String(e) }, 'route change listener threw');
        }
      }
    }
  }
}
