// The agent's BGP edge: runs a BgpSpeaker inside the agent process and makes
// it match the calculation's `bgp` part (src/calc/bgp-peers.ts), and puts
// the routes it learns into the agent's one route table, with the agent's
// route protocol, beside the calculation's routes.
//
//   DesiredState.bgp ──► speaker: start/stop, peers (add/remove), originate/withdraw
//   speaker.onRouteChange ──► learned (prefix → next hop) ──► next hop resolved
//                             ──► RouteTable.set/delete (proto 80) ──► kernel
//
// Invariants:
// - One route table, one reconciler: learned routes are desired routes of
//   the table like the calculation's, so a resync re-reads the kernel and
//   keeps them, and removes what nobody wants. When the calculation wants a
//   destination too, the calculation's route wins (it is never overwritten).
// - Learned routes inside encapsulated pools (`noProgram`), default routes
//   and IPv6 are not programmed; our own routes (local) never are.
// - A next hop on a connected subnet is used as it is; another is resolved
//   recursively through the kernel's routing table (`ip route get`), as
//   BIRD's `gateway recursive` does for Calico: a client of a reflector in
//   another rack reaches the reflector's next hop through its own gateway.
// - Graceful restart, restarting side: a start that finds routes of ours in
//   the kernel that look learned (unicast via a gateway, not a workload's or
//   VXLAN's) keeps them as desired routes, starts the speaker with the R and
//   F bits set (peers keep our routes until our End-of-RIB), and drops the
//   ones not learnt again once every peer has sent its End-of-RIB (or the
//   deferral time passed). Stopping is graceful (no NOTIFICATION): peers
//   keep our routes, we keep our kernel routes.
// - Helper side: the speaker keeps a restarting peer's routes (stale, no
//   change event), so their kernel routes stay until the peer re-sends them
//   or its restart time passes.

import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import {
  BgpSpeaker,
  type FsmState,
  type PeerConfig,
  type RouteChange,
  type SpeakerConfig,
} from '../bgp/speaker.js';
import type { BgpDesired, BgpPeerType, DesiredRoute, DesiredState } from '../calc/types.js';
import { emptyBgp } from '../calc/diff.js';
import { TORTIE_ROUTE_PROTOCOL, WORKLOAD_IFACE_PREFIX } from '../dataplane/constants.js';
import type { KernelRoute } from '../dataplane/kernel.js';
import type { RouteSpec, RouteTable } from '../dataplane/route-table.js';
import { VXLAN_DEVICE } from '../dataplane/vxlan-manager.js';
import { cidrContainsAddress, cidrContainsCidr, parseCidr, parseIP } from '../model/cidr.js';

/** Seconds peers keep our routes while we restart (BIRD's default). */
export const DEFAULT_GR_RESTART_SECONDS = 120;

export interface BgpPeerStatus {
  address: string;
  port: number;
  asn: number;
  type: BgpPeerType;
  /** "node-to-node mesh" or "BGPPeer <name>". */
  source: string;
  node?: string;
  passive: boolean;
  routeReflectorClient: boolean;
  state: FsmState;
  /** ISO time of the last state change. */
  since: string;
  /** "Established", or why not. */
  info: string;
  prefixesReceived: number;
  prefixesAccepted: number;
  prefixesStale: number;
  prefixesAdvertised: number;
  gracefulRestart: boolean;
}

export interface BgpLearnedRoute {
  prefix: string;
  nextHop: string;
  /** The gateway programmed (the next hop, or what it resolves to); undefined: not programmed. */
  via: string | undefined;
  peer: string;
  stale: boolean;
  /** Why it is not programmed, if it is not. */
  skipped?: string;
}

export interface BgpStatus {
  enabled: boolean;
  running: boolean;
  asn: number;
  routerId: string | undefined;
  clusterId: string | undefined;
  listening: string | undefined;
  /** This start is a graceful restart that has not yet heard every peer's End-of-RIB. */
  restarting: boolean;
  peers: BgpPeerStatus[];
  originated: number;
  /** Learned routes (at most 500 listed; `learnedCount` has them all). */
  learned: BgpLearnedRoute[];
  learnedCount: number;
  /** Kernel routes kept from before a restart, not yet learnt again. */
  retained: number;
  errors: string[];
}

export interface BgpAgentOptions {
  log: Logger;
  /** Something changed that needs an apply (learned routes, a peer's sync). */
  onChange: () => void;
  /** Something changed that only the status shows (peer states). */
  onStatusChange?: () => void;
  /** The gateway for a next hop off the connected subnets; default `ip -json route get`. */
  resolveNextHop?: (nextHop: string) => Promise<string | undefined>;
  newSpeaker?: (log: Logger) => BgpSpeaker;
  /** Seconds peers keep our routes while we restart. */
  restartSeconds?: number;
  /** Longest wait for peers' End-of-RIB after a restart, seconds (default the restart time). */
  deferralSeconds?: number;
  /** Speaker timers (tests). */
  connectRetrySeconds?: number;
  holdSeconds?: number;
}

interface Learned {
  nextHop: string;
  peer: string;
  stale: boolean;
}

const PROTO = String(TORTIE_ROUTE_PROTOCOL);

/** `ip -json route get ADDR` in the agent's namespace: the gateway, or the address itself when on-link. */
export function kernelNextHop(nextHop: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['-json', 'route', 'get', nextHop], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      if (code !== 0) return resolve(undefined);
      try {
        const r = (JSON.parse(out) as { type?: string; gateway?: string; dev?: string }[])[0];
        if (!r || r.type === 'local' || r.dev === 'lo') return resolve(undefined);
        resolve(r.gateway ?? nextHop);
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** A kernel route that a previous run of the agent learnt over BGP (as far as one can tell). */
export function looksLearned(r: KernelRoute): boolean {
  return (
    r.protocol === PROTO &&
    r.type === 'unicast' &&
    r.gateway !== undefined &&
    r.dst !== '0.0.0.0/0' &&
    !(r.dev?.startsWith(WORKLOAD_IFACE_PREFIX) ?? false) &&
    r.dev !== VXLAN_DEVICE
  );
}

function speakerKey(b: BgpDesired): string {
  return JSON.stringify([b.asn, b.routerId, b.listen, b.clusterId]);
}

export class BgpAgent {
  private desired: BgpDesired = emptyBgp();
  private hostSubnet: string | undefined;
  private speaker: BgpSpeaker | undefined;
  private speakerFor = '';
  /** Peers given to the speaker: address → their settings (JSON). */
  private readonly peerKeys = new Map<string, string>();
  private readonly peerErrors = new Map<string, string>();
  private readonly originated = new Set<string>();
  private readonly learned = new Map<string, Learned>();
  private readonly retained = new Map<string, string>();
  private retainDecided = false;
  private synced = true;
  private readonly nextHops = new Map<string, string | undefined>();
  /** What we put into the route table (dst → spec). */
  private readonly programmed = new Map<string, RouteSpec>();
  private readonly errors = new Map<string, string>();
  private changed = true;
  private stopped = false;
  private readonly resolve: (nextHop: string) => Promise<string | undefined>;
  private readonly log: Logger;

  constructor(private readonly opts: BgpAgentOptions) {
    this.log = opts.log;
    this.resolve = opts.resolveNextHop ?? kernelNextHop;
  }

  get enabled(): boolean {
    return this.desired.enabled;
  }

  /** Whether retain() still has to be called (once, before the first apply). */
  get retainPending(): boolean {
    return !this.retainDecided;
  }

  /** Whether apply() has something to do. */
  get dirty(): boolean {
    return this.changed;
  }

  /**
   * The calculation's new desired state (records intent, no I/O). With the
   * previous one: when BGP goes on while the agent runs, the routes the
   * calculation programmed directly are kept until BGP has learned them
   * (as over a restart), so switching BGP on does not interrupt traffic.
   */
  setDesired(d: DesiredState, previous?: DesiredState): void {
    if (previous && this.retainDecided && !this.desired.enabled && d.bgp.enabled) {
      for (const r of previous.routes)
        if (r.target.kind === 'underlay') this.retained.set(r.dst, r.target.gateway);
      if (this.retained.size > 0) {
        this.synced = false;
        this.log.info(
          { routes: this.retained.size },
          'BGP on: keeping the routes programmed directly until the peers have sent theirs',
        );
      }
    }
    if (JSON.stringify(d.bgp) !== JSON.stringify(this.desired)) this.changed = true;
    if (d.hostAddress !== this.hostSubnet) {
      this.nextHops.clear();
      this.changed = true;
    }
    this.desired = d.bgp;
    this.hostSubnet = d.hostAddress;
  }

  /**
   * Before the first apply: the kernel routes a previous run left. Kept while
   * the speaker restarts, if BGP is on; otherwise not (the calculation's
   * table decides, as without BGP).
   */
  retain(kernelRoutes: readonly KernelRoute[]): void {
    if (this.retainDecided) return;
    this.retainDecided = true;
    if (!this.desired.enabled) return;
    for (const r of kernelRoutes) if (looksLearned(r)) this.retained.set(r.dst, r.gateway!);
    if (this.retained.size > 0) {
      this.synced = false;
      this.log.info(
        { routes: this.retained.size },
        'graceful restart: keeping the routes a previous run learnt until every peer has re-sent its own',
      );
    }
  }

  /** Next hops are resolved again (the underlay may have changed). */
  resync(): void {
    this.nextHops.clear();
    this.changed = true;
  }

  /**
   * Makes the speaker match the desired state and the route table hold the
   * learned routes. Returns failures (the speaker could not start).
   */
  async apply(table: RouteTable, calcRoutes: readonly DesiredRoute[]): Promise<string[]> {
    if (this.stopped) return [];
    this.changed = false;
    const failures: string[] = [];
    try {
      await this.reconcileSpeaker();
    } catch (err) {
      const msg = `BGP speaker: ${(err as Error).message}`;
      failures.push(msg);
      this.errors.set('speaker', msg);
      this.changed = true;
    }
    await this.program(table, calcRoutes);
    return failures;
  }

  private async reconcileSpeaker(): Promise<void> {
    const want = this.desired;
    const runnable = want.enabled && want.routerId !== undefined;
    const key = speakerKey(want);
    if (this.speaker && (!runnable || key !== this.speakerFor)) {
      const s = this.speaker;
      this.speaker = undefined;
      this.peerKeys.clear();
      this.peerErrors.clear();
      this.originated.clear();
      this.learned.clear();
      this.log.info({ enabled: want.enabled }, 'BGP speaker stopping (configuration changed)');
      await s.stop({ graceful: false });
    }
    if (!runnable) {
      this.retained.clear();
      this.synced = true;
      this.errors.delete('speaker');
      return;
    }
    // apply() runs one at a time (the agent's apply loop), so no start races another.
    if (!this.speaker) await this.startSpeaker(want, key);
    const speaker = this.speaker!;
    // Prefixes before peers: a new session's first export (and End-of-RIB) holds them all.
    const origins = new Set(want.originate);
    for (const p of want.originate) {
      if (!this.originated.has(p)) {
        speaker.originate(p);
        this.originated.add(p);
      }
    }
    for (const p of [...this.originated]) {
      if (!origins.has(p)) {
        speaker.withdraw(p);
        this.originated.delete(p);
      }
    }
    const wanted = new Map(want.peers.map((p) => [p.address, p]));
    for (const address of [...this.peerKeys.keys()]) {
      const peer = wanted.get(address);
      if (!peer || JSON.stringify(peer) !== this.peerKeys.get(address)) {
        speaker.removePeer(address);
        this.peerKeys.delete(address);
        this.peerErrors.delete(address);
      }
    }
    for (const peer of want.peers) {
      if (this.peerKeys.has(peer.address)) continue;
      this.peerKeys.set(peer.address, JSON.stringify(peer));
      const config: PeerConfig = {
        address: peer.address,
        port: peer.port,
        asn: peer.asn,
        type: peer.type,
        passive: peer.passive,
        ...(peer.useNodeIp ? { localAddress: want.routerId! } : {}),
        ...(peer.nextHopSelf ? { nextHopSelf: true } : {}),
        ...(peer.keepOriginalNextHop ? { keepOriginalNextHop: true } : {}),
        ...(peer.routeReflectorClient ? { routeReflectorClient: true } : {}),
        // Calico's BIRD template makes every session multihop.
        ...(peer.asn !== want.asn ? { multihop: true } : {}),
        ...(peer.maxRestartSeconds !== undefined
          ? { gracefulRestartTime: peer.maxRestartSeconds }
          : {}),
        ...(peer.password !== undefined ? { password: `secret:${peer.password}` } : {}),
        ...(this.opts.holdSeconds !== undefined ? { holdTime: this.opts.holdSeconds } : {}),
      };
      try {
        speaker.addPeer(config);
        this.peerErrors.delete(peer.address);
      } catch (err) {
        const msg = (err as Error).message;
        this.peerErrors.set(peer.address, msg);
        this.log.error({ peer: peer.address, source: peer.source, err: msg }, 'BGP peer not made');
      }
    }
    if (!this.synced && this.peerKeys.size === [...this.peerErrors.keys()].length) {
      // Nobody to wait for.
      this.markSynced('no peers to wait for');
    }
  }

  private async startSpeaker(want: BgpDesired, key: string): Promise<void> {
    const speaker = this.opts.newSpeaker
      ? this.opts.newSpeaker(this.log)
      : new BgpSpeaker({ logger: this.log.child({ component: 'bgp' }) });
    const restartTime = this.opts.restartSeconds ?? DEFAULT_GR_RESTART_SECONDS;
    const restarting = !this.synced;
    const config: SpeakerConfig = {
      routerId: want.routerId!,
      asn: want.asn,
      listen: want.listen,
      ...(want.clusterId !== undefined ? { clusterId: want.clusterId } : {}),
      families: ['ipv4'],
      connectRetryTime: this.opts.connectRetrySeconds ?? 2,
      idleHoldTime: 1,
      ...(this.opts.holdSeconds !== undefined ? { holdTime: this.opts.holdSeconds } : {}),
      gracefulRestart: {
        enabled: true,
        restartTime,
        restarting,
        deferralTime: this.opts.deferralSeconds ?? restartTime,
      },
    };
    await speaker.start(config);
    this.errors.delete('speaker');
    this.speaker = speaker;
    this.speakerFor = key;
    speaker.onRouteChange((changes) => this.onRoutes(changes));
    speaker.onPeerStateChange(() => this.opts.onStatusChange?.());
    this.log.info(
      {
        asn: want.asn,
        routerId: want.routerId,
        listen: want.listen,
        clusterId: want.clusterId,
        restarting,
      },
      'BGP speaker running',
    );
    if (restarting) {
      void speaker.whenSynced().then(() => {
        // After the speaker's pending change batch (queued before End-of-RIB was handled).
        setImmediate(() => {
          if (this.speaker === speaker) this.markSynced('every peer sent End-of-RIB, or deferral');
        });
      });
    }
  }

  private markSynced(why: string): void {
    if (this.synced) return;
    this.synced = true;
    const dropped = [...this.retained.keys()].filter((d) => !this.learned.has(d)).length;
    this.retained.clear();
    this.log.info({ why, dropped }, 'graceful restart complete: routes not learnt again go');
    this.changed = true;
    this.opts.onChange();
  }

  private onRoutes(changes: RouteChange[]): void {
    for (const { prefix, route } of changes) {
      if (route === undefined || route.local) this.learned.delete(prefix);
      else
        this.learned.set(prefix, {
          nextHop: route.nextHop,
          peer: route.peerAddress,
          stale: route.stale,
        });
    }
    this.changed = true;
    this.opts.onChange();
  }

  /** Why a learned prefix is not programmed, or undefined if it is. */
  private skipReason(prefix: string): string | undefined {
    if (prefix.includes(':')) return 'IPv6 routes are not programmed yet';
    if (prefix.endsWith('/0')) return 'default routes are not programmed';
    const cidr = parseCidr(prefix);
    for (const pool of this.desired.noProgram) {
      const p = parseCidr(pool);
      if (p.family === 4 && cidrContainsCidr(p, cidr))
        return `in encapsulated pool ${pool}: routed by the calculation`;
    }
    return undefined;
  }

  private async gatewayFor(nextHop: string): Promise<string | undefined> {
    if (this.nextHops.has(nextHop)) return this.nextHops.get(nextHop);
    let via: string | undefined;
    const sub = this.hostSubnet;
    if (sub !== undefined && cidrContainsAddress(parseCidr(sub), parseIP(nextHop))) via = nextHop;
    else via = await this.resolve(nextHop);
    this.nextHops.set(nextHop, via);
    if (via === undefined) this.errors.set(`nh ${nextHop}`, `next hop ${nextHop} is unreachable`);
    else this.errors.delete(`nh ${nextHop}`);
    return via;
  }

  private async program(table: RouteTable, calcRoutes: readonly DesiredRoute[]): Promise<void> {
    const calc = new Set(calcRoutes.map((r) => r.dst));
    const wanted = new Map<string, RouteSpec>();
    if (this.speaker && this.desired.enabled) {
      for (const [prefix, l] of this.learned) {
        if (this.skipReason(prefix) !== undefined) continue;
        const via = await this.gatewayFor(l.nextHop);
        if (via === undefined) continue;
        wanted.set(prefix, { dst: prefix, type: 'unicast', gateway: via });
      }
    }
    if (!this.synced) {
      for (const [dst, gateway] of this.retained)
        if (!wanted.has(dst)) wanted.set(dst, { dst, type: 'unicast', gateway });
    }
    for (const [dst, spec] of wanted) {
      if (calc.has(dst)) continue; // the calculation's route wins
      table.set(spec); // no-op when the table already wants exactly this
      this.programmed.set(dst, spec);
    }
    for (const dst of [...this.programmed.keys()]) {
      if (calc.has(dst)) {
        this.programmed.delete(dst);
      } else if (!wanted.has(dst)) {
        table.delete(dst);
        this.programmed.delete(dst);
      }
    }
  }

  status(): BgpStatus {
    const want = this.desired;
    const s = this.speaker?.status();
    const byAddress = new Map((s?.peers ?? []).map((p) => [p.address, p]));
    const peers: BgpPeerStatus[] = want.peers.map((w) => {
      const p = byAddress.get(w.address);
      const error = this.peerErrors.get(w.address);
      return {
        address: w.address,
        port: w.port,
        asn: w.asn,
        type: w.type,
        source: w.source,
        ...(w.node !== undefined ? { node: w.node } : {}),
        passive: w.passive,
        routeReflectorClient: w.routeReflectorClient,
        state: p?.state ?? 'Idle',
        since: (p?.since ?? new Date(0)).toISOString(),
        info: error ?? p?.info ?? (this.speaker ? '' : 'BGP speaker not running'),
        prefixesReceived: p?.prefixesReceived ?? 0,
        prefixesAccepted: p?.prefixesAccepted ?? 0,
        prefixesStale: p?.prefixesStale ?? 0,
        prefixesAdvertised: p?.prefixesAdvertised ?? 0,
        gracefulRestart: p?.gracefulRestart ?? false,
      };
    });
    const learned: BgpLearnedRoute[] = [];
    for (const [prefix, l] of this.learned) {
      if (learned.length >= 500) break;
      const via = this.programmed.get(prefix)?.gateway;
      let skipped = this.skipReason(prefix);
      if (skipped === undefined && via === undefined)
        skipped =
          this.nextHops.get(l.nextHop) === undefined
            ? `next hop ${l.nextHop} is unreachable`
            : 'the calculation routes this destination';
      learned.push({
        prefix,
        nextHop: l.nextHop,
        via,
        peer: l.peer,
        stale: l.stale,
        ...(skipped !== undefined ? { skipped } : {}),
      });
    }
    learned.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
    const errors = [
      ...this.errors.values(),
      ...[...this.peerErrors].map(([a, e]) => `peer ${a}: ${e}`),
    ];
    return {
      enabled: want.enabled,
      running: this.speaker !== undefined,
      asn: want.asn,
      routerId: want.routerId,
      clusterId: want.clusterId,
      listening: s?.listening ? `${s.listening.host}:${s.listening.port}` : undefined,
      restarting: !this.synced,
      peers,
      originated: this.originated.size,
      learned,
      learnedCount: this.learned.size,
      retained: this.retained.size,
      errors,
    };
  }

  /** Graceful: no NOTIFICATION, so peers keep our routes (the kernel keeps its own). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const s = this.speaker;
    this.speaker = undefined;
    await s?.stop({ graceful: true });
  }
}
