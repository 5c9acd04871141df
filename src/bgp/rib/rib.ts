// The RIB: Adj-RIB-In per peer, the Loc-RIB with best-path selection, and
// Adj-RIB-Out per peer with the export rules of RFC 4271 §9.2 and route
// reflection (RFC 4456). Pure: no I/O, no timers. The speaker feeds it the
// UPDATEs the FSM decoded and turns what drain() returns into UPDATEs and
// Loc-RIB change events.
//
// Data layout (1M routes must fit comfortably):
//   - a Route is made once per announcement group of an UPDATE and shared by
//     all its prefixes; prefixes are the codec's canonical strings;
//   - Adj-RIB-In is Map<prefix, Route> per peer; rejected routes (loops,
//     first-AS mismatch) stay there, marked, and never reach the Loc-RIB;
//   - the Loc-RIB is Map<prefix, Route | Route[]>: one candidate is the common
//     case; with several, index 0 is the best;
//   - Adj-RIB-Out is Map<prefix, OutRoute> per peer, OutRoutes shared by every
//     prefix of a Route (cached per peer session), so grouping prefixes into
//     UPDATEs is grouping by object;
//   - changes are coalesced until drain(): `pending` maps each changed prefix
//     to the best route it had at the previous drain.

import {
  Afi,
  Safi,
  WellKnownCommunity,
  asPathLength,
  readvertise,
  reconstructAsPath,
  type AsPathSegment,
  type Family,
  type PathAttributes,
  type Prefix,
} from '../codec/index.js';
import { addressKey, ipv4Number, selectBest, type Candidate } from './best-path.js';

export type AddressFamily = 'ipv4' | 'ipv6';

export function familyOf(prefix: Prefix): AddressFamily {
  return prefix.includes(':') ? 'ipv6' : 'ipv4';
}

export function familyAfi(f: AddressFamily): Family {
  return f === 'ipv4'
    ? { afi: Afi.IPV4, safi: Safi.UNICAST }
    : { afi: Afi.IPV6, safi: Safi.UNICAST };
}

export function afiFamily(f: Family): AddressFamily | undefined {
  if (f.safi !== Safi.UNICAST) return undefined;
  return f.afi === Afi.IPV4 ? 'ipv4' : f.afi === Afi.IPV6 ? 'ipv6' : undefined;
}

export interface RibOptions {
  readonly localAsn: number;
  readonly routerId: string;
  /** Route reflector cluster id; defaults to the router id (RFC 4456 §7). */
  readonly clusterId?: string;
}

export interface RibPeerConfig {
  readonly address: string;
  readonly asn: number;
  readonly routeReflectorClient?: boolean;
  /** Always advertise our session address as next hop. */
  readonly nextHopSelf?: boolean;
  /** To an eBGP peer, pass the next hop on unchanged instead of setting our own. */
  readonly keepOriginalNextHop?: boolean;
}

export interface SessionInfo {
  /** The peer's BGP Identifier. */
  readonly routerId: string;
  /** Our address on the session: the next hop we advertise as "self". */
  readonly localAddress: string;
  readonly families: readonly AddressFamily[];
}

/** What we send one peer for one Route: the attributes and the next hop. */
export interface OutRoute {
  readonly attrs: PathAttributes;
  readonly nextHop: string;
}

export class RibPeer {
  readonly ibgp: boolean;
  readonly key: string;
  up = false;
  routerId = '';
  routerIdNumber = 0;
  localAddress = '';
  families = new Set<AddressFamily>();
  /** Prefixes in its Adj-RIB-In (fresh, rejected included), accepted ones, stale ones. */
  received = 0;
  accepted = 0;
  stale = 0;
  adjOut = new Map<Prefix, OutRoute>();
  /** The next drain exports the whole Loc-RIB to this peer (session came up or refresh). */
  fullExport = false;
  outCache = new WeakMap<Route, OutRoute | null>();
  /** For the local pseudo-peer: the prefixes we originate. */
  readonly originated = new Map<Prefix, Route>();

  constructor(
    readonly config: RibPeerConfig,
    localAsn: number,
    readonly local = false,
  ) {
    this.ibgp = !local && config.asn === localAsn;
    this.key = local ? '' : addressKey(config.address);
  }

  get address(): string {
    return this.config.address;
  }
}

/** What the Loc-RIB tells its users about a best path (a Route is one; no copy is made). */
export interface BestRoute {
  readonly nextHop: string;
  /** The peer's address, or "local" for a route we originate. */
  readonly peerAddress: string;
  readonly local: boolean;
  readonly asPath: number[];
  readonly origin: number;
  readonly localPref: number;
  readonly med: number;
  readonly stale: boolean;
}

/** A path: one peer's announcement of a set of prefixes with one set of attributes. */
export class Route implements Candidate, BestRoute {
  readonly localPref: number;
  readonly asPathLength: number;
  readonly origin: number;
  readonly med: number;
  readonly neighborAs: number;
  readonly ebgp: boolean;
  readonly local: boolean;
  readonly routerIdNumber: number;
  readonly clusterListLength: number;
  readonly peerKey: string;
  /** Kept across a graceful restart of its peer and not refreshed yet. */
  stale = false;

  constructor(
    readonly peer: RibPeer,
    /** Attributes as received, AS path reconstructed, without NEXT_HOP and MP attributes. */
    readonly attrs: PathAttributes,
    readonly nextHop: string,
    readonly family: AddressFamily,
    localAsn: number,
    /** Why the route is not eligible (loop etc.), if it is not. */
    readonly rejected?: string,
  ) {
    this.local = peer.local;
    this.ebgp = !peer.local && !peer.ibgp;
    this.localPref = this.ebgp ? 100 : (attrs.localPref ?? 100);
    this.asPathLength = asPathLength(attrs.asPath);
    this.origin = attrs.origin ?? 0;
    this.med = attrs.med ?? 0;
    this.neighborAs = firstAs(attrs.asPath) ?? localAsn;
    this.routerIdNumber = ipv4Number(attrs.originatorId ?? peer.routerId);
    this.clusterListLength = attrs.clusterList?.length ?? 0;
    this.peerKey = peer.key;
  }

  get peerAddress(): string {
    return this.local ? 'local' : this.peer.address;
  }

  /** The AS path as a flat list (sets flattened), for display. */
  get asPath(): number[] {
    return (this.attrs.asPath ?? []).flatMap((s) => s.asns);
  }
}

function firstAs(path: readonly AsPathSegment[] | undefined): number | undefined {
  const s = path?.[0];
  return s !== undefined && s.type === 'sequence' ? s.asns[0] : undefined;
}

export interface Announced {
  /** As decoded; MP attributes and NEXT_HOP are ignored (the next hop is given apart). */
  readonly attrs: PathAttributes;
  readonly nextHop: string;
  readonly prefixes: readonly Prefix[];
}

/**
 * A Loc-RIB change. The RIB hands out its own entries as change records:
 * read them during the drain's caller, do not keep them (they change).
 */
export interface LocRibChange {
  readonly prefix: Prefix;
  /** The new best route; undefined when the prefix left the Loc-RIB. */
  readonly route: Route | undefined;
}

export interface PeerOutput {
  readonly peer: RibPeer;
  readonly announce: {
    readonly family: AddressFamily;
    readonly out: OutRoute;
    readonly prefixes: Prefix[];
  }[];
  readonly withdraw: { readonly family: AddressFamily; readonly prefixes: Prefix[] }[];
  /** This drain was the peer's full export (session start or refresh): the speaker follows it with End-of-RIB. */
  readonly full: boolean;
}

export interface DrainResult {
  readonly changes: LocRibChange[];
  readonly outputs: PeerOutput[];
}

export interface OriginateOptions {
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly communities?: readonly number[];
}

const NO_ADVERTISE = WellKnownCommunity.NO_ADVERTISE;
const NO_EXPORT = WellKnownCommunity.NO_EXPORT;
const NO_EXPORT_SUBCONFED = WellKnownCommunity.NO_EXPORT_SUBCONFED;

/**
 * One prefix: every peer's path for it (its Adj-RIB-In entry, rejected and
 * stale ones included, at most one per peer) and the best of them. A Dest
 * sits in one Map, so a received prefix costs one hash lookup.
 */
class Dest implements LocRibChange {
  /** One path per peer; with several, an array. */
  routes: Route | Route[] | undefined = undefined;
  /** The best path (the Loc-RIB entry), undefined if no path is eligible. */
  route: Route | undefined = undefined;
  /** The best at the previous drain, valid while pending. */
  old: Route | undefined = undefined;
  pending = false;

  constructor(readonly prefix: Prefix) {}
}

function eligible(r: Route): boolean {
  return r.rejected === undefined;
}

export class Rib {
  readonly localAsn: number;
  readonly routerId: string;
  readonly clusterId: string;
  readonly local: RibPeer;
  private readonly dests = new Map<Prefix, Dest>();
  private bestCount = 0;
  private pending: Dest[] = [];
  private readonly peers = new Set<RibPeer>();

  constructor(options: RibOptions) {
    this.localAsn = options.localAsn;
    this.routerId = options.routerId;
    this.clusterId = options.clusterId ?? options.routerId;
    this.local = new RibPeer({ address: 'local', asn: options.localAsn }, options.localAsn, true);
    this.local.routerId = options.routerId;
    this.local.routerIdNumber = ipv4Number(options.routerId);
  }

  /** Prefixes in the Loc-RIB (with a best path). */
  get size(): number {
    return this.bestCount;
  }

  /** Whether drain() has anything to do. */
  get dirty(): boolean {
    if (this.pending.length > 0) return true;
    for (const p of this.peers) if (p.up && p.fullExport) return true;
    return false;
  }

  best(prefix: Prefix): Route | undefined {
    return this.dests.get(prefix)?.route;
  }

  /** Every eligible path for a prefix, best first. */
  candidates(prefix: Prefix): readonly Route[] {
    const d = this.dests.get(prefix);
    if (d === undefined || d.routes === undefined) return [];
    const all = Array.isArray(d.routes) ? d.routes : [d.routes];
    const ok = all.filter(eligible);
    return d.route === undefined ? ok : [d.route, ...ok.filter((r) => r !== d.route)];
  }

  /** A peer's path for a prefix as received (Adj-RIB-In), rejected or stale included. */
  adjRibIn(peer: RibPeer, prefix: Prefix): Route | undefined {
    const d = this.dests.get(prefix);
    return d === undefined ? undefined : findPeer(d, peer);
  }

  *entries(): IterableIterator<[Prefix, Route]> {
    for (const [p, d] of this.dests) if (d.route !== undefined) yield [p, d.route];
  }

  addPeer(config: RibPeerConfig): RibPeer {
    const peer = new RibPeer(config, this.localAsn);
    this.peers.add(peer);
    return peer;
  }

  removePeer(peer: RibPeer): void {
    this.peerDown(peer, false);
    this.peers.delete(peer);
  }

  peerUp(peer: RibPeer, session: SessionInfo): void {
    peer.up = true;
    peer.routerId = session.routerId;
    peer.routerIdNumber = ipv4Number(session.routerId);
    peer.localAddress = session.localAddress;
    peer.families = new Set(session.families);
    peer.adjOut = new Map();
    peer.outCache = new WeakMap();
    peer.fullExport = true;
  }

  /**
   * The session ended. With retain (RFC 4724 helper), the peer's routes stay
   * in the Loc-RIB marked stale until refreshed, swept by End-of-RIB, or
   * swept by the speaker's restart timer; otherwise they are withdrawn.
   * A scan of the whole table: sessions end rarely.
   */
  peerDown(peer: RibPeer, retain: boolean): void {
    peer.up = false;
    peer.fullExport = false;
    peer.adjOut = new Map();
    if (peer.received > 0 || peer.stale > 0) {
      // A Route is shared by the prefixes of an UPDATE: count prefixes, flag routes.
      const marked = new Set<Route>();
      for (const d of this.dests.values()) {
        const r = findPeer(d, peer);
        if (r === undefined) continue;
        if (retain && eligible(r)) {
          if (!r.stale || marked.has(r)) {
            r.stale = true;
            marked.add(r);
            peer.stale++;
          }
        } else {
          this.removeRoute(d, r);
          if (r.stale) peer.stale--;
        }
      }
    }
    peer.received = 0;
    peer.accepted = 0;
  }

  /** Number of stale routes of a peer. */
  staleCount(peer: RibPeer): number {
    return peer.stale;
  }

  /** Removes a peer's stale routes (of one family, if given): End-of-RIB or the restart timer. */
  sweepStale(peer: RibPeer, family?: AddressFamily): number {
    if (peer.stale === 0) return 0;
    let n = 0;
    for (const d of this.dests.values()) {
      const r = findPeer(d, peer);
      if (r === undefined || !r.stale) continue;
      if (family !== undefined && familyOf(d.prefix) !== family) continue;
      this.removeRoute(d, r);
      n++;
    }
    peer.stale -= n;
    return n;
  }

  /** Routes received from a peer. */
  announce(peer: RibPeer, announced: Announced): void {
    const prefixes = announced.prefixes;
    if (prefixes.length === 0) return;
    const family = familyOf(prefixes[0]!);
    const route = this.makeRoute(peer, announced.attrs, announced.nextHop, family);
    const ok = eligible(route);
    const dests = this.dests;
    for (let i = 0; i < prefixes.length; i++) {
      const p = prefixes[i]!;
      let d = dests.get(p);
      if (d === undefined) {
        // The common case on a full-table load: a prefix nobody had.
        d = new Dest(p);
        dests.set(p, d);
        d.routes = route;
        peer.received++;
        if (ok) {
          peer.accepted++;
          d.route = route;
          this.bestCount++;
          d.old = undefined;
          d.pending = true;
          this.pending.push(d);
        }
        continue;
      }
      const old = findPeer(d, peer);
      if (old !== undefined) {
        if (old.stale) peer.stale--;
        else {
          peer.received--;
          if (eligible(old)) peer.accepted--;
        }
      }
      peer.received++;
      if (ok) peer.accepted++;
      this.putRoute(d, route, old);
    }
  }

  /** Prefixes a peer withdrew (or that a malformed UPDATE made us treat as withdrawn). */
  withdraw(peer: RibPeer, prefixes: readonly Prefix[]): void {
    for (const p of prefixes) {
      const d = this.dests.get(p);
      if (d === undefined) continue;
      const old = findPeer(d, peer);
      if (old === undefined) continue;
      if (old.stale) peer.stale--;
      else {
        peer.received--;
        if (eligible(old)) peer.accepted--;
      }
      this.removeRoute(d, old);
    }
  }

  /** Originates (or replaces) a route of our own. */
  originate(prefix: Prefix, options: OriginateOptions = {}): void {
    const attrs: PathAttributes = {
      origin: 0,
      asPath: [],
      ...(options.med !== undefined ? { med: options.med } : {}),
      ...(options.localPref !== undefined ? { localPref: options.localPref } : {}),
      ...(options.communities !== undefined ? { communities: options.communities } : {}),
    };
    const route = new Route(
      this.local,
      attrs,
      options.nextHop ?? '',
      familyOf(prefix),
      this.localAsn,
    );
    this.local.originated.set(prefix, route);
    let d = this.dests.get(prefix);
    if (d === undefined) {
      d = new Dest(prefix);
      this.dests.set(prefix, d);
    }
    this.putRoute(d, route, findPeer(d, this.local));
  }

  withdrawLocal(prefix: Prefix): boolean {
    if (!this.local.originated.delete(prefix)) return false;
    const d = this.dests.get(prefix);
    const r = d === undefined ? undefined : findPeer(d, this.local);
    if (d !== undefined && r !== undefined) this.removeRoute(d, r);
    return true;
  }

  /** Originated prefixes. */
  localPrefixes(): Prefix[] {
    return [...this.local.originated.keys()];
  }

  /** ROUTE-REFRESH: send the peer everything again for the family (RFC 2918). */
  refresh(peer: RibPeer, family: AddressFamily): void {
    if (!peer.up) return;
    for (const p of [...peer.adjOut.keys()]) if (familyOf(p) === family) peer.adjOut.delete(p);
    peer.fullExport = true;
  }

  /**
   * Hands over what changed since the last drain: Loc-RIB best-path changes
   * and, for every peer that is up, the announcements and withdrawals that
   * bring its Adj-RIB-Out in line with the Loc-RIB.
   */
  drain(): DrainResult {
    const pending = this.pending;
    this.pending = [];
    // The Dests themselves are the change records ({prefix, route}): no copies.
    const changes: LocRibChange[] = [];
    for (const d of pending) {
      d.pending = false;
      if (d.route !== d.old) changes.push(d);
      d.old = undefined;
    }
    const outputs: PeerOutput[] = [];
    for (const peer of this.peers) {
      if (!peer.up) continue;
      const full = peer.fullExport;
      if (!full && pending.length === 0) continue;
      peer.fullExport = false;
      const out = this.exportTo(peer, full ? [this.dests.values(), pending] : [pending]);
      if (full || out.announce.length > 0 || out.withdraw.length > 0) {
        outputs.push({ peer, ...out, full });
      }
    }
    for (const d of pending) if (d.routes === undefined && !d.pending) this.dests.delete(d.prefix);
    return { changes, outputs };
  }

  // -------------------------------------------------------------------------
  // Import

  private makeRoute(
    peer: RibPeer,
    received: PathAttributes,
    nextHop: string,
    family: AddressFamily,
  ): Route {
    const asPath = reconstructAsPath(received) ?? [];
    // Keep what is worth keeping; drop the MP attributes (they hold the whole NLRI list).
    const {
      mpReach: _r,
      mpUnreach: _u,
      as4Path: _p,
      as4Aggregator: _a,
      nextHop: _n,
      ...rest
    } = received;
    let attrs: PathAttributes = { ...rest, asPath };
    let rejected: string | undefined;
    // AS-path loop detection (RFC 4271 §9.1.2): our own AS in the path.
    for (const s of asPath) {
      if (s.asns.includes(this.localAsn)) {
        rejected = `AS path loop: contains our AS ${this.localAsn}`;
        break;
      }
    }
    if (rejected === undefined && peer.ibgp) {
      // RFC 4456 §8: reflected back to us.
      if (attrs.originatorId === this.routerId) rejected = 'ORIGINATOR_ID is our router id';
      else if (attrs.clusterList?.includes(this.clusterId) === true)
        rejected = `CLUSTER_LIST contains our cluster id ${this.clusterId}`;
    }
    if (rejected === undefined && !peer.ibgp) {
      // RFC 4271 §6.3 (MAY) and RFC 7606 §3 treat-as-withdraw for these.
      const first = firstAs(asPath);
      if (first !== peer.config.asn)
        rejected = `first AS ${first ?? 'none'} is not the peer's AS ${peer.config.asn}`;
      else if (asPath.some((s) => s.type === 'confed-sequence' || s.type === 'confed-set'))
        rejected = 'confederation segment from an external peer';
      else if (attrs.originatorId !== undefined || attrs.clusterList !== undefined) {
        // RFC 4456 attributes are iBGP-only; drop them rather than the route.
        const { originatorId: _o, clusterList: _c, ...clean } = attrs;
        attrs = clean;
      }
    }
    if (rejected === undefined && nextHop !== '' && nextHop === peer.localAddress)
      rejected = `next hop ${nextHop} is our own address`;
    return new Route(peer, attrs, nextHop, family, this.localAsn, rejected);
  }

  private markPending(d: Dest, oldBest: Route | undefined): void {
    if (d.pending) return;
    d.pending = true;
    d.old = oldBest;
    this.pending.push(d);
  }

  /** Puts a peer's path in a Dest, replacing `old` (that peer's previous one) if given. */
  private putRoute(d: Dest, route: Route, old: Route | undefined): void {
    const routes = d.routes;
    if (routes === undefined || routes === old) d.routes = route;
    else if (Array.isArray(routes)) {
      const i = old === undefined ? -1 : routes.indexOf(old);
      if (i >= 0) routes[i] = route;
      else routes.push(route);
    } else d.routes = [routes, route];
    this.reselect(d);
  }

  private removeRoute(d: Dest, route: Route): void {
    const routes = d.routes;
    if (routes === route) d.routes = undefined;
    else if (Array.isArray(routes)) {
      const i = routes.indexOf(route);
      if (i < 0) return;
      routes.splice(i, 1);
      if (routes.length === 1) d.routes = routes[0];
    } else return;
    this.reselect(d);
    if (d.routes === undefined && !d.pending) this.dests.delete(d.prefix);
  }

  private reselect(d: Dest): void {
    const routes = d.routes;
    let best: Route | undefined;
    if (routes === undefined) best = undefined;
    else if (!Array.isArray(routes)) best = eligible(routes) ? routes : undefined;
    else best = selectBest(routes.filter(eligible));
    const before = d.route;
    if (best === before) return;
    if (before === undefined) this.bestCount++;
    if (best === undefined) this.bestCount--;
    d.route = best;
    this.markPending(d, before);
  }

  // -------------------------------------------------------------------------
  // Export

  private exportTo(
    peer: RibPeer,
    sources: Iterable<Dest>[],
  ): Pick<PeerOutput, 'announce' | 'withdraw'> {
    const groups = new Map<
      OutRoute,
      { family: AddressFamily; out: OutRoute; prefixes: Prefix[] }
    >();
    const withdraw4: Prefix[] = [];
    const withdraw6: Prefix[] = [];
    const adjOut = peer.adjOut;
    let lastRoute: Route | undefined;
    let lastOut: OutRoute | undefined;
    for (const source of sources) {
      for (const d of source) {
        const best = d.route;
        let next: OutRoute | undefined;
        if (best !== undefined) {
          if (!peer.families.has(best.family)) continue;
          if (best !== lastRoute) {
            lastRoute = best;
            lastOut = this.exportRoute(best, peer);
          }
          next = lastOut;
        }
        // Nothing to send and nothing sent before: the common case for a route's own source.
        if (next === undefined && adjOut.size === 0) continue;
        const p = d.prefix;
        const current = adjOut.get(p);
        if (next === undefined) {
          if (current !== undefined) {
            adjOut.delete(p);
            (familyOf(p) === 'ipv4' ? withdraw4 : withdraw6).push(p);
          }
        } else if (next !== current) {
          adjOut.set(p, next);
          let g = groups.get(next);
          if (g === undefined) {
            g = { family: best!.family, out: next, prefixes: [] };
            groups.set(next, g);
          }
          g.prefixes.push(p);
        }
      }
    }
    const withdraw: PeerOutput['withdraw'] = [];
    if (withdraw4.length > 0) withdraw.push({ family: 'ipv4', prefixes: withdraw4 });
    if (withdraw6.length > 0) withdraw.push({ family: 'ipv6', prefixes: withdraw6 });
    return { announce: [...groups.values()], withdraw };
  }

  /** What to send `to` for `route` (cached per route and session), or undefined: not to be sent. */
  exportRoute(route: Route, to: RibPeer): OutRoute | undefined {
    const cached = to.outCache.get(route);
    if (cached !== undefined) return cached ?? undefined;
    const out = this.computeExport(route, to);
    to.outCache.set(route, out ?? null);
    return out;
  }

  private computeExport(route: Route, to: RibPeer): OutRoute | undefined {
    const from = route.peer;
    // Never back to where it came from.
    if (from === to) return undefined;
    const a = route.attrs;
    const communities = a.communities;
    if (communities !== undefined) {
      if (communities.includes(NO_ADVERTISE)) return undefined;
      if (
        !to.ibgp &&
        (communities.includes(NO_EXPORT) || communities.includes(NO_EXPORT_SUBCONFED))
      )
        return undefined;
    }
    const base = readvertise(a);
    let attrs: PathAttributes;
    if (to.ibgp) {
      if (from.ibgp) {
        // iBGP split horizon (RFC 4271 §9.2), lifted by route reflection (RFC 4456 §6):
        // from a client to everyone, from a non-client to clients only.
        const fromClient = from.config.routeReflectorClient === true;
        const toClient = to.config.routeReflectorClient === true;
        if (!fromClient && !toClient) return undefined;
        const originatorId = a.originatorId ?? from.routerId;
        if (originatorId === to.routerId) return undefined;
        attrs = {
          ...base,
          localPref: route.localPref,
          originatorId,
          clusterList: [this.clusterId, ...(a.clusterList ?? [])],
        };
      } else {
        const { originatorId: _o, clusterList: _c, ...rest } = base;
        attrs = { ...rest, localPref: route.localPref };
      }
    } else {
      // To another AS: prepend ours; LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST
      // stay inside the AS, and a learned MED is not passed on (RFC 4271 §5.1.4).
      const { localPref: _l, originatorId: _o, clusterList: _c, med, ...rest } = base;
      const path = a.asPath ?? [];
      const head = path[0];
      const asPath: AsPathSegment[] =
        head !== undefined && head.type === 'sequence' && head.asns.length < 255
          ? [{ type: 'sequence', asns: [this.localAsn, ...head.asns] }, ...path.slice(1)]
          : [{ type: 'sequence', asns: [this.localAsn] }, ...path];
      attrs = { ...rest, asPath, ...(route.local && med !== undefined ? { med } : {}) };
    }
    const self = sameFamily(to.localAddress, route.family) ? to.localAddress : '';
    let nextHop: string;
    if (to.config.nextHopSelf === true) nextHop = self;
    else if (route.local) nextHop = route.nextHop !== '' ? route.nextHop : self;
    else if (!to.ibgp && to.config.keepOriginalNextHop !== true) nextHop = self;
    else nextHop = route.nextHop;
    // IPv6 routes on an IPv4-only session need a next hop of their own.
    if (nextHop === '' || !sameFamily(nextHop, route.family)) {
      if (sameFamily(route.nextHop, route.family)) nextHop = route.nextHop;
      else return undefined;
    }
    if (route.family === 'ipv4') attrs = { ...attrs, nextHop };
    return { attrs, nextHop };
  }
}

function findPeer(d: Dest, peer: RibPeer): Route | undefined {
  const routes = d.routes;
  if (routes === undefined) return undefined;
  if (!Array.isArray(routes)) return routes.peer === peer ? routes : undefined;
  for (const r of routes) if (r.peer === peer) return r;
  return undefined;
}

function sameFamily(address: string, family: AddressFamily): boolean {
  if (address === '') return false;
  return family === 'ipv6' ? address.includes(':') : !address.includes(':');
}
