// The BGP decision process (RFC 4271 §9.1.2.2 with RFC 4456 §9), as the
// elimination over the whole candidate set that §9.1.2.2 describes rather
// than a pairwise comparison: MED is only comparable between routes from the
// same neighbouring AS, which makes pairwise "better than" intransitive and
// the result of a sort depend on arrival order. Elimination does not.
//
//   1. highest LOCAL_PREF (eBGP routes and our own: 100 unless set)
//   2. locally originated over learned (GoBGP's and Cisco's step; routes we
//      originate have an empty AS_PATH and would mostly win at 3 anyway)
//   3. shortest AS_PATH (an AS_SET counts 1, confederation segments 0)
//   4. lowest ORIGIN (IGP < EGP < INCOMPLETE)
//   5. lowest MED among routes from the same neighbouring AS (missing = 0)
//   6. eBGP over iBGP
//   7. lowest IGP cost to the next hop: not applicable (no IGP), skipped
//   8. lowest BGP Identifier, the ORIGINATOR_ID for reflected routes
//   9. shortest CLUSTER_LIST (RFC 4456 §9)
//  10. lowest peer address
//
// "Prefer the oldest eBGP route" (RFC 5004) is left out: it makes the result
// depend on history, and the property tests require that it does not.

export interface Candidate {
  readonly localPref: number;
  readonly local: boolean;
  readonly asPathLength: number;
  readonly origin: number;
  readonly med: number;
  /** The AS the route entered our AS from: first AS of the path, our own for iBGP-internal routes. */
  readonly neighborAs: number;
  readonly ebgp: boolean;
  /** ORIGINATOR_ID if present, else the peer's BGP Identifier, as an unsigned 32-bit number. */
  readonly routerIdNumber: number;
  readonly clusterListLength: number;
  /** The peer address in a form whose string order is numeric order (see addressKey). */
  readonly peerKey: string;
}

function keepMax<T>(set: T[], value: (c: T) => number): T[] {
  let best = -Infinity;
  for (const c of set) best = Math.max(best, value(c));
  return set.filter((c) => value(c) === best);
}

function keepMin<T>(set: T[], value: (c: T) => number): T[] {
  let best = Infinity;
  for (const c of set) best = Math.min(best, value(c));
  return set.filter((c) => value(c) === best);
}

/** The best of the candidates, or undefined if there are none. */
export function selectBest<T extends Candidate>(candidates: readonly T[]): T | undefined {
  if (candidates.length <= 1) return candidates[0];
  let set = keepMax([...candidates], (c) => c.localPref);
  if (set.length > 1 && set.some((c) => c.local)) set = set.filter((c) => c.local);
  if (set.length > 1) set = keepMin(set, (c) => c.asPathLength);
  if (set.length > 1) set = keepMin(set, (c) => c.origin);
  if (set.length > 1) {
    const minMed = new Map<number, number>();
    for (const c of set) {
      const m = minMed.get(c.neighborAs);
      if (m === undefined || c.med < m) minMed.set(c.neighborAs, c.med);
    }
    set = set.filter((c) => c.med === minMed.get(c.neighborAs));
  }
  if (set.length > 1 && set.some((c) => c.ebgp)) set = set.filter((c) => c.ebgp);
  if (set.length > 1) set = keepMin(set, (c) => c.routerIdNumber);
  if (set.length > 1) set = keepMin(set, (c) => c.clusterListLength);
  if (set.length > 1) {
    let best = set[0]!;
    for (const c of set) if (c.peerKey < best.peerKey) best = c;
    return best;
  }
  return set[0];
}

/** IPv4 text → unsigned 32-bit number; -1 if not a dotted quad. */
export function ipv4Number(text: string): number {
  const p = text.split('.');
  if (p.length !== 4) return -1;
  let n = 0;
  for (const part of p) {
    const v = Number(part);
    if (!Number.isInteger(v) || v < 0 || v > 255 || part === '') return -1;
    n = n * 256 + v;
  }
  return n;
}

/** A key whose string order is address order: IPv4 before IPv6, each numerically. */
export function addressKey(address: string): string {
  const v4 = ipv4Number(address);
  if (v4 >= 0) return `4${v4.toString(16).padStart(8, '0')}`;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const parse = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups =
    tail === undefined
      ? h
      : [...h, ...new Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `6${groups.map((g) => g.padStart(4, '0')).join('')}`;
}
