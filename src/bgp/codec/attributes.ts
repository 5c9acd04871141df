// Path attributes (RFC 4271 §4.3, §5): decoding with the per-attribute error
// handling of RFC 7606 §7, and encoding in canonical order.
//
// Decoding walks the attribute list once. Each malformation becomes an
// UpdateProblem carrying the reaction RFC 7606 prescribes; the caller
// (update.ts) combines them, strongest first. A problem that makes it
// impossible to locate NLRI (MP_REACH_NLRI/MP_UNREACH_NLRI broken or
// duplicated, unrecognised well-known attribute) is returned as `fatal`.

import {
  AS_TRANS,
  Afi,
  AttrFlag,
  AttrType,
  EXPECTED_ATTR_FLAGS,
  ErrorCode,
  Origin,
  Safi,
  SegmentType,
  UpdateSubcode,
  type CodecContext,
} from './constants.js';
import { BgpEncodeError, problem, type UpdateProblem } from './errors.js';
import {
  decodePrefixes,
  formatIPv4,
  formatIPv6,
  hasPathIds,
  writeIPv4,
  writeIPv6,
  writePrefixes,
  type Prefix,
} from './nlri.js';
import { ByteWriter, checkU32, copyBytes, u16, u32 } from './wire.js';

// ---------------------------------------------------------------------------
// Types

export type SegmentKind = 'set' | 'sequence' | 'confed-sequence' | 'confed-set';

export interface AsPathSegment {
  readonly type: SegmentKind;
  readonly asns: readonly number[];
}

export interface Aggregator {
  readonly asn: number;
  readonly address: string;
}

export interface LargeCommunity {
  readonly global: number;
  readonly local1: number;
  readonly local2: number;
}

/** MP_REACH_NLRI (RFC 4760 §3). */
export interface MpReach {
  readonly afi: number;
  readonly safi: number;
  /** The (global) next hop: IPv4 text for a 4-octet next hop, IPv6 otherwise. "" for an unsupported family. */
  readonly nextHop: string;
  /** RFC 2545 §3: the link-local address of a 32-octet IPv6 next hop. */
  readonly linkLocalNextHop?: string;
  readonly nlri: Prefix[];
  /** RFC 7911 path identifiers, index-aligned with nlri, when ADD-PATH is on for the family. */
  readonly pathIds?: number[];
  /** For an AFI/SAFI this codec does not parse: the raw next hop and NLRI, kept as received. */
  readonly opaque?: { readonly nextHop: Uint8Array; readonly nlri: Uint8Array };
}

/** MP_UNREACH_NLRI (RFC 4760 §4). */
export interface MpUnreach {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: Prefix[];
  readonly pathIds?: number[];
  /** For an AFI/SAFI this codec does not parse: the raw withdrawn routes. */
  readonly opaque?: Uint8Array;
}

/**
 * An optional attribute this codec does not interpret. Transitive ones are
 * kept so they can be passed on (RFC 4271 §5); use readvertise() to set the
 * Partial bit before sending them on.
 */
export interface UnknownAttribute {
  readonly type: number;
  /** Optional, Transitive and Partial bits as received; Extended Length is recomputed. Decoded lists are sorted by type. */
  readonly flags: number;
  readonly value: Uint8Array;
}

export interface PathAttributes {
  readonly origin?: Origin;
  readonly asPath?: readonly AsPathSegment[];
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: true;
  readonly aggregator?: Aggregator;
  /** RFC 1997 communities as unsigned 32-bit numbers (ASN << 16 | value). */
  readonly communities?: readonly number[];
  readonly originatorId?: string;
  readonly clusterList?: readonly string[];
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  /** RFC 4360 extended communities, each as its 8 octets in one unsigned 64-bit bigint. */
  readonly extendedCommunities?: readonly bigint[];
  /** RFC 6793 AS4_PATH; only on sessions without 4-octet AS numbers. */
  readonly as4Path?: readonly AsPathSegment[];
  readonly as4Aggregator?: Aggregator;
  readonly largeCommunities?: readonly LargeCommunity[];
  readonly unknown?: readonly UnknownAttribute[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const SEGMENT_KINDS: readonly (SegmentKind | undefined)[] = [
  undefined,
  'set',
  'sequence',
  'confed-sequence',
  'confed-set',
];

const SEGMENT_CODES: Readonly<Record<SegmentKind, number>> = {
  set: SegmentType.AS_SET,
  sequence: SegmentType.AS_SEQUENCE,
  'confed-sequence': SegmentType.AS_CONFED_SEQUENCE,
  'confed-set': SegmentType.AS_CONFED_SET,
};

/** The families whose NLRI this codec parses: IPv4/IPv6 × unicast/multicast. */
export function isSupportedFamily(afi: number, safi: number): boolean {
  return (
    (afi === Afi.IPV4 || afi === Afi.IPV6) && (safi === Safi.UNICAST || safi === Safi.MULTICAST)
  );
}

// ---------------------------------------------------------------------------
// Decoding

export interface DecodedAttributes {
  readonly attributes: PathAttributes;
  /** Non-fatal problems (treat-as-withdraw, attribute-discard), in wire order. */
  readonly problems: UpdateProblem[];
  /** Type codes of attributes dropped under attribute-discard. */
  readonly discarded: number[];
  /** Set when the UPDATE must reset the session; decoding stopped there. */
  readonly fatal?: UpdateProblem;
  /** Whether each well-known mandatory attribute appeared, well-formed or not. */
  readonly sawOrigin: boolean;
  readonly sawAsPath: boolean;
  readonly sawNextHop: boolean;
}

/** Parses an AS_PATH/AS4_PATH value; returns the reason if malformed (RFC 7606 §7.2). */
function decodeAsPath(
  buf: Uint8Array,
  start: number,
  end: number,
  asSize: 2 | 4,
): AsPathSegment[] | string {
  const segments: AsPathSegment[] = [];
  let p = start;
  while (p < end) {
    if (end - p < 2) return 'AS_PATH segment header cut off';
    const kind = SEGMENT_KINDS[buf[p]!];
    const count = buf[p + 1]!;
    if (kind === undefined) return `unknown AS_PATH segment type ${buf[p]}`;
    if (count === 0) return 'AS_PATH segment of length zero';
    const next = p + 2 + count * asSize;
    if (next > end) return 'AS_PATH segment overruns the attribute';
    const asns = new Array<number>(count);
    for (let i = 0, q = p + 2; i < count; i++, q += asSize) {
      asns[i] = asSize === 4 ? u32(buf, q) : u16(buf, q);
    }
    segments.push({ type: kind, asns });
    p = next;
  }
  return segments;
}

function decodeAggregator(buf: Uint8Array, at: number, asSize: 2 | 4): Aggregator {
  return {
    asn: asSize === 4 ? u32(buf, at) : u16(buf, at),
    address: formatIPv4(buf, at + asSize),
  };
}

// The decoder's hot loop reads these as module-local constants: under some
// loaders (tsx) an imported binding costs a getter call on every access.
const UPDATE_ERROR = ErrorCode.UPDATE_MESSAGE;
const SUB = UpdateSubcode;
const T = AttrType;
const F_OPTIONAL = AttrFlag.OPTIONAL;
const F_TRANSITIVE = AttrFlag.TRANSITIVE;
const F_PARTIAL = AttrFlag.PARTIAL;
const F_EXTENDED = AttrFlag.EXTENDED_LENGTH;
const EXPECTED = EXPECTED_ATTR_FLAGS;
const ORIGIN_MAX = Origin.INCOMPLETE;

/** Which type codes an UPDATE has shown so far: seen[type] === epoch. Reused; decoding is synchronous. */
const seenEpoch = new Int32Array(256);
let epoch = 0;

/** Where the attribute being decoded sits, shared by the helpers below (one per call, not per attribute). */
interface Cursor {
  readonly buf: Uint8Array;
  readonly problems: UpdateProblem[];
  readonly discarded: number[];
  at: number;
  valueEnd: number;
  type: number;
}

/** The erroneous attribute (flags, type, length, value) as NOTIFICATION data (RFC 4271 §6.3). */
function attributeData(c: Cursor): Uint8Array {
  return copyBytes(c.buf, c.at, c.valueEnd);
}

function report(
  c: Cursor,
  action: 'treat-as-withdraw' | 'attribute-discard',
  subcode: number,
  reason: string,
): void {
  c.problems.push(problem(action, UPDATE_ERROR, subcode, reason, attributeData(c), c.type));
  if (action === 'attribute-discard') c.discarded.push(c.type);
}

function framingProblem(c: Cursor, reason: string): void {
  c.problems.push(problem('treat-as-withdraw', UPDATE_ERROR, SUB.MALFORMED_ATTRIBUTE_LIST, reason));
}

function finish(
  c: Cursor,
  attrs: Mutable<PathAttributes>,
  fatal: UpdateProblem | undefined,
): DecodedAttributes {
  // Canonical order (ascending type, as the encoder writes them), whatever the peer sent.
  if (attrs.unknown !== undefined) {
    (attrs.unknown as UnknownAttribute[]).sort((a, b) => a.type - b.type);
  }
  const result: Mutable<DecodedAttributes> = {
    attributes: attrs,
    problems: c.problems,
    discarded: c.discarded,
    sawOrigin: seenEpoch[T.ORIGIN] === epoch,
    sawAsPath: seenEpoch[T.AS_PATH] === epoch,
    sawNextHop: seenEpoch[T.NEXT_HOP] === epoch,
  };
  if (fatal !== undefined) result.fatal = fatal;
  return result;
}

/**
 * Decodes the path attributes in buf[start..end) under RFC 7606. Never throws;
 * never keeps a view of `buf`.
 */
export function decodeAttributes(
  buf: Uint8Array,
  start: number,
  end: number,
  ctx: CodecContext,
): DecodedAttributes {
  const attrs: Mutable<PathAttributes> = {};
  const c: Cursor = { buf, problems: [], discarded: [], at: 0, valueEnd: 0, type: 0 };
  const asSize = ctx.fourOctetAs ? 4 : 2;
  if (++epoch > 0x3fffffff) {
    seenEpoch.fill(0);
    epoch = 1;
  }

  let p = start;
  while (p < end) {
    const at = p;
    // RFC 7606 §4: too few octets for an attribute header, or an attribute
    // overrunning the list: treat-as-withdraw, relying on Total Path
    // Attribute Length to find the NLRI.
    if (end - p < 3) {
      framingProblem(c, `${end - p} octets left over after the last path attribute`);
      break;
    }
    const flags = buf[p]!;
    const type = buf[p + 1]!;
    let length: number;
    let valueStart: number;
    if (flags & F_EXTENDED) {
      if (end - p < 4) {
        framingProblem(c, 'extended-length attribute header cut off');
        break;
      }
      length = u16(buf, p + 2);
      valueStart = p + 4;
    } else {
      length = buf[p + 2]!;
      valueStart = p + 3;
    }
    const valueEnd = valueStart + length;
    if (valueEnd > end) {
      const reason = `attribute ${type} of length ${length} overruns the path attributes`;
      if (type === T.MP_REACH_NLRI || type === T.MP_UNREACH_NLRI) {
        // Its NLRI cannot be located: treat-as-withdraw is impossible (RFC 7606 §2, §5.3).
        const data = copyBytes(buf, at, end);
        return finish(
          c,
          attrs,
          problem('session-reset', UPDATE_ERROR, SUB.ATTRIBUTE_LENGTH_ERROR, reason, data, type),
        );
      }
      framingProblem(c, reason);
      break;
    }
    p = valueEnd;
    c.at = at;
    c.valueEnd = valueEnd;
    c.type = type;

    // RFC 7606 §3 g: MP_REACH/MP_UNREACH twice → session reset; any other
    // attribute twice → keep the first, discard the rest.
    if (seenEpoch[type] === epoch) {
      const reason = `attribute ${type} appears more than once`;
      if (type === T.MP_REACH_NLRI || type === T.MP_UNREACH_NLRI) {
        return finish(
          c,
          attrs,
          problem(
            'session-reset',
            UPDATE_ERROR,
            SUB.MALFORMED_ATTRIBUTE_LIST,
            reason,
            attributeData(c),
            type,
          ),
        );
      }
      report(c, 'attribute-discard', SUB.MALFORMED_ATTRIBUTE_LIST, reason);
      continue;
    }
    seenEpoch[type] = epoch;

    const expected = EXPECTED[type];
    if (expected === undefined) {
      if ((flags & F_OPTIONAL) === 0) {
        // RFC 4271 §6.3; not revised by RFC 7606.
        const reason = `unrecognized well-known attribute ${type}`;
        return finish(
          c,
          attrs,
          problem(
            'session-reset',
            UPDATE_ERROR,
            SUB.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
            reason,
            attributeData(c),
            type,
          ),
        );
      }
      if (flags & F_TRANSITIVE) {
        // RFC 4271 §5: kept and passed on. Unrecognised non-transitive: quietly ignored.
        const unknown = (attrs.unknown ??= []) as UnknownAttribute[];
        unknown.push({
          type,
          flags: flags & (F_OPTIONAL | F_TRANSITIVE | F_PARTIAL),
          value: copyBytes(buf, valueStart, valueEnd),
        });
      }
      continue;
    }

    // RFC 7606 §3 c: Optional/Transitive bits in conflict → treat-as-withdraw
    // (AS4_* follow RFC 6793 §6: discard). Partial and Extended Length are not checked.
    const flagsWrong = (flags & (F_OPTIONAL | F_TRANSITIVE)) !== expected;
    if (flagsWrong && type !== T.MP_REACH_NLRI && type !== T.MP_UNREACH_NLRI) {
      const as4 = type === T.AS4_PATH || type === T.AS4_AGGREGATOR;
      report(
        c,
        as4 ? 'attribute-discard' : 'treat-as-withdraw',
        SUB.ATTRIBUTE_FLAGS_ERROR,
        `attribute ${type} has flags 0x${flags.toString(16)}`,
      );
      continue;
    }

    switch (type) {
      case T.ORIGIN: // RFC 7606 §7.1
        if (length !== 1) {
          report(c, 'treat-as-withdraw', SUB.ATTRIBUTE_LENGTH_ERROR, `ORIGIN length ${length}`);
        } else if (buf[valueStart]! > ORIGIN_MAX) {
          report(
            c,
            'treat-as-withdraw',
            SUB.INVALID_ORIGIN_ATTRIBUTE,
            `ORIGIN value ${buf[valueStart]}`,
          );
        } else {
          attrs.origin = buf[valueStart] as Origin;
        }
        break;

      case T.AS_PATH: {
        // RFC 7606 §7.2
        const path = decodeAsPath(buf, valueStart, valueEnd, asSize);
        if (typeof path === 'string') report(c, 'treat-as-withdraw', SUB.MALFORMED_AS_PATH, path);
        else attrs.asPath = path;
        break;
      }

      case T.NEXT_HOP: // RFC 7606 §7.3; RFC 4271 §6.3 for the semantic check
        if (length !== 4) {
          report(c, 'treat-as-withdraw', SUB.ATTRIBUTE_LENGTH_ERROR, `NEXT_HOP length ${length}`);
        } else if (buf[valueStart] === 0 || buf[valueStart]! >= 224) {
          report(
            c,
            'treat-as-withdraw',
            SUB.INVALID_NEXT_HOP_ATTRIBUTE,
            `NEXT_HOP ${formatIPv4(buf, valueStart)} is not a host address`,
          );
        } else {
          attrs.nextHop = formatIPv4(buf, valueStart);
        }
        break;

      case T.MULTI_EXIT_DISC: // RFC 7606 §7.4
        if (length !== 4)
          report(
            c,
            'treat-as-withdraw',
            SUB.ATTRIBUTE_LENGTH_ERROR,
            `MULTI_EXIT_DISC length ${length}`,
          );
        else attrs.med = u32(buf, valueStart);
        break;

      case T.LOCAL_PREF: // RFC 7606 §7.5
        if (length !== 4)
          report(c, 'treat-as-withdraw', SUB.ATTRIBUTE_LENGTH_ERROR, `LOCAL_PREF length ${length}`);
        else attrs.localPref = u32(buf, valueStart);
        break;

      case T.ATOMIC_AGGREGATE: // RFC 7606 §7.6
        if (length !== 0)
          report(
            c,
            'attribute-discard',
            SUB.ATTRIBUTE_LENGTH_ERROR,
            `ATOMIC_AGGREGATE length ${length}`,
          );
        else attrs.atomicAggregate = true;
        break;

      case T.AGGREGATOR: // RFC 7606 §7.7
        if (length !== 2 + asSize + 2) {
          report(c, 'attribute-discard', SUB.ATTRIBUTE_LENGTH_ERROR, `AGGREGATOR length ${length}`);
        } else {
          attrs.aggregator = decodeAggregator(buf, valueStart, asSize);
        }
        break;

      case T.COMMUNITIES: // RFC 7606 §7.8
        if (length === 0 || length % 4 !== 0) {
          report(
            c,
            'treat-as-withdraw',
            SUB.ATTRIBUTE_LENGTH_ERROR,
            `COMMUNITIES length ${length}`,
          );
        } else {
          const values = new Array<number>(length >>> 2);
          for (let i = 0; i < values.length; i++) values[i] = u32(buf, valueStart + 4 * i);
          attrs.communities = values;
        }
        break;

      case T.ORIGINATOR_ID: // RFC 7606 §7.9
        if (length !== 4)
          report(
            c,
            'treat-as-withdraw',
            SUB.ATTRIBUTE_LENGTH_ERROR,
            `ORIGINATOR_ID length ${length}`,
          );
        else attrs.originatorId = formatIPv4(buf, valueStart);
        break;

      case T.CLUSTER_LIST: // RFC 7606 §7.10
        if (length === 0 || length % 4 !== 0) {
          report(
            c,
            'treat-as-withdraw',
            SUB.ATTRIBUTE_LENGTH_ERROR,
            `CLUSTER_LIST length ${length}`,
          );
        } else {
          const ids = new Array<string>(length >>> 2);
          for (let i = 0; i < ids.length; i++) ids[i] = formatIPv4(buf, valueStart + 4 * i);
          attrs.clusterList = ids;
        }
        break;

      case T.MP_REACH_NLRI: {
        // RFC 7606 §7.11, RFC 4760 §7: a broken MP_REACH resets the session.
        const result = decodeMpReach(buf, valueStart, valueEnd, ctx);
        if (typeof result === 'string') {
          return finish(
            c,
            attrs,
            problem(
              'session-reset',
              UPDATE_ERROR,
              SUB.OPTIONAL_ATTRIBUTE_ERROR,
              result,
              attributeData(c),
              type,
            ),
          );
        }
        attrs.mpReach = result;
        if (flagsWrong)
          report(
            c,
            'treat-as-withdraw',
            SUB.ATTRIBUTE_FLAGS_ERROR,
            `MP_REACH_NLRI flags 0x${flags.toString(16)}`,
          );
        break;
      }

      case T.MP_UNREACH_NLRI: {
        // RFC 7606 §7.12
        const result = decodeMpUnreach(buf, valueStart, valueEnd, ctx);
        if (typeof result === 'string') {
          return finish(
            c,
            attrs,
            problem(
              'session-reset',
              UPDATE_ERROR,
              SUB.OPTIONAL_ATTRIBUTE_ERROR,
              result,
              attributeData(c),
              type,
            ),
          );
        }
        attrs.mpUnreach = result;
        if (flagsWrong)
          report(
            c,
            'treat-as-withdraw',
            SUB.ATTRIBUTE_FLAGS_ERROR,
            `MP_UNREACH_NLRI flags 0x${flags.toString(16)}`,
          );
        break;
      }

      case T.EXTENDED_COMMUNITIES: // RFC 7606 §7.14
        if (length === 0 || length % 8 !== 0) {
          report(
            c,
            'treat-as-withdraw',
            SUB.ATTRIBUTE_LENGTH_ERROR,
            `EXTENDED_COMMUNITIES length ${length}`,
          );
        } else {
          const values = new Array<bigint>(length >>> 3);
          for (let i = 0; i < values.length; i++) {
            const q = valueStart + 8 * i;
            values[i] = (BigInt(u32(buf, q)) << 32n) | BigInt(u32(buf, q + 4));
          }
          attrs.extendedCommunities = values;
        }
        break;

      case T.AS4_PATH: {
        // RFC 6793 §3: never between two 4-octet speakers; §6: malformed → discard.
        if (ctx.fourOctetAs) {
          report(
            c,
            'attribute-discard',
            SUB.MALFORMED_AS_PATH,
            'AS4_PATH from a 4-octet-AS speaker',
          );
          break;
        }
        const path = decodeAsPath(buf, valueStart, valueEnd, 4);
        if (typeof path === 'string') {
          report(c, 'attribute-discard', SUB.MALFORMED_AS_PATH, `AS4_PATH: ${path}`);
        } else if (path.some((s) => s.type === 'confed-sequence' || s.type === 'confed-set')) {
          report(
            c,
            'attribute-discard',
            SUB.MALFORMED_AS_PATH,
            'AS4_PATH carries confederation segments',
          );
        } else {
          attrs.as4Path = path;
        }
        break;
      }

      case T.AS4_AGGREGATOR:
        if (ctx.fourOctetAs) {
          report(
            c,
            'attribute-discard',
            SUB.OPTIONAL_ATTRIBUTE_ERROR,
            'AS4_AGGREGATOR from a 4-octet-AS speaker',
          );
        } else if (length !== 8) {
          report(
            c,
            'attribute-discard',
            SUB.ATTRIBUTE_LENGTH_ERROR,
            `AS4_AGGREGATOR length ${length}`,
          );
        } else {
          attrs.as4Aggregator = decodeAggregator(buf, valueStart, 4);
        }
        break;

      case T.LARGE_COMMUNITIES: // RFC 8092 §6
        if (length === 0 || length % 12 !== 0) {
          report(
            c,
            'treat-as-withdraw',
            SUB.ATTRIBUTE_LENGTH_ERROR,
            `LARGE_COMMUNITIES length ${length}`,
          );
        } else {
          const values = new Array<LargeCommunity>(length / 12);
          for (let i = 0; i < values.length; i++) {
            const q = valueStart + 12 * i;
            values[i] = { global: u32(buf, q), local1: u32(buf, q + 4), local2: u32(buf, q + 8) };
          }
          attrs.largeCommunities = values;
        }
        break;
    }
  }
  return finish(c, attrs, undefined);
}

/** The next-hop field of MP_REACH_NLRI, by family and length (RFC 4760 §3, RFC 2545 §3, RFC 8950). */
function decodeMpNextHop(
  buf: Uint8Array,
  at: number,
  length: number,
  afi: number,
): { nextHop: string; linkLocalNextHop?: string } | undefined {
  if (length === 4 && afi === Afi.IPV4) return { nextHop: formatIPv4(buf, at) };
  if (length === 16) return { nextHop: formatIPv6(buf, at) };
  if (length === 32)
    return { nextHop: formatIPv6(buf, at), linkLocalNextHop: formatIPv6(buf, at + 16) };
  return undefined;
}

function decodeMpReach(
  buf: Uint8Array,
  start: number,
  end: number,
  ctx: CodecContext,
): MpReach | string {
  if (end - start < 5) return `MP_REACH_NLRI of length ${end - start} is too short`;
  const afi = u16(buf, start);
  const safi = buf[start + 2]!;
  const nhLength = buf[start + 3]!;
  const nhStart = start + 4;
  const nlriStart = nhStart + nhLength + 1; // one Reserved octet (RFC 4760 §3) follows the next hop
  if (nlriStart > end) return `MP_REACH_NLRI next hop length ${nhLength} overruns the attribute`;
  if (!isSupportedFamily(afi, safi)) {
    return {
      afi,
      safi,
      nextHop: '',
      nlri: [],
      opaque: {
        nextHop: copyBytes(buf, nhStart, nhStart + nhLength),
        nlri: copyBytes(buf, nlriStart, end),
      },
    };
  }
  const nh = decodeMpNextHop(buf, nhStart, nhLength, afi);
  if (nh === undefined) return `MP_REACH_NLRI next hop length ${nhLength} does not fit AFI ${afi}`;
  const nlri: Prefix[] = [];
  const pathIds = hasPathIds(ctx.addPath, afi, safi) ? [] : undefined;
  const bad = decodePrefixes(buf, nlriStart, end, afi, nlri, pathIds);
  if (bad !== undefined) return `MP_REACH_NLRI: ${bad}`;
  const reach: Mutable<MpReach> = { afi, safi, nextHop: nh.nextHop, nlri };
  if (nh.linkLocalNextHop !== undefined) reach.linkLocalNextHop = nh.linkLocalNextHop;
  if (pathIds !== undefined) reach.pathIds = pathIds;
  return reach;
}

function decodeMpUnreach(
  buf: Uint8Array,
  start: number,
  end: number,
  ctx: CodecContext,
): MpUnreach | string {
  if (end - start < 3) return `MP_UNREACH_NLRI of length ${end - start} is too short`;
  const afi = u16(buf, start);
  const safi = buf[start + 2]!;
  if (!isSupportedFamily(afi, safi)) {
    // An empty one is an End-of-RIB marker (RFC 4724 §2): nothing to keep.
    if (end === start + 3) return { afi, safi, withdrawn: [] };
    return { afi, safi, withdrawn: [], opaque: copyBytes(buf, start + 3, end) };
  }
  const withdrawn: Prefix[] = [];
  const pathIds = hasPathIds(ctx.addPath, afi, safi) ? [] : undefined;
  const bad = decodePrefixes(buf, start + 3, end, afi, withdrawn, pathIds);
  if (bad !== undefined) return `MP_UNREACH_NLRI: ${bad}`;
  return pathIds === undefined ? { afi, safi, withdrawn } : { afi, safi, withdrawn, pathIds };
}

// ---------------------------------------------------------------------------
// Encoding

function header(w: ByteWriter, flags: number, type: number, length: number): void {
  if (length > 0xff) {
    w.u8(flags | AttrFlag.EXTENDED_LENGTH);
    w.u8(type);
    w.u16(length, `attribute ${type} length`);
  } else {
    w.u8(flags & ~AttrFlag.EXTENDED_LENGTH);
    w.u8(type);
    w.u8(length);
  }
}

function asPathSegmentsForWire(segments: readonly AsPathSegment[], what: string): AsPathSegment[] {
  const out: AsPathSegment[] = [];
  for (const segment of segments) {
    if (SEGMENT_CODES[segment.type] === undefined) {
      throw new BgpEncodeError('invalid-attribute', `${what} segment type ${String(segment.type)}`);
    }
    if (segment.asns.length === 0)
      throw new BgpEncodeError('invalid-attribute', `${what} has an empty segment`);
    if (segment.asns.length <= 255) {
      out.push(segment);
    } else if (segment.type === 'sequence' || segment.type === 'confed-sequence') {
      // A long sequence is several consecutive segments (RFC 4271 §5.1.2).
      for (let i = 0; i < segment.asns.length; i += 255) {
        out.push({ type: segment.type, asns: segment.asns.slice(i, i + 255) });
      }
    } else {
      throw new BgpEncodeError(
        'invalid-attribute',
        `${what} set of ${segment.asns.length} ASNs exceeds 255`,
      );
    }
  }
  return out;
}

function writeAsPath(
  w: ByteWriter,
  type: number,
  segments: readonly AsPathSegment[],
  asSize: 2 | 4,
  what: string,
): void {
  const wire = asPathSegmentsForWire(segments, what);
  let length = 0;
  for (const s of wire) length += 2 + s.asns.length * asSize;
  const flags =
    type === AttrType.AS_PATH ? AttrFlag.TRANSITIVE : AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;
  header(w, flags, type, length);
  for (const s of wire) {
    w.u8(SEGMENT_CODES[s.type]);
    w.u8(s.asns.length);
    for (const asn of s.asns) {
      checkU32(asn, `${what} ASN`);
      if (asSize === 4) w.u32(asn);
      else w.u16(asn > 0xffff ? AS_TRANS : asn);
    }
  }
}

function needsAs4(segments: readonly AsPathSegment[] | undefined): boolean {
  return segments !== undefined && segments.some((s) => s.asns.some((asn) => asn > 0xffff));
}

/** RFC 6793 §4.2.2: the AS4_PATH a 4-octet speaker sends to a 2-octet one (no confederation segments). */
function as4PathFor(segments: readonly AsPathSegment[]): AsPathSegment[] {
  return segments.filter((s) => s.type === 'set' || s.type === 'sequence');
}

function writeAggregator(w: ByteWriter, type: number, aggregator: Aggregator, asSize: 2 | 4): void {
  header(w, AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE, type, 2 + asSize + 2);
  checkU32(aggregator.asn, 'AGGREGATOR ASN');
  if (asSize === 4) w.u32(aggregator.asn);
  else w.u16(aggregator.asn > 0xffff ? AS_TRANS : aggregator.asn);
  writeIPv4(w, aggregator.address, 'AGGREGATOR address');
}

function writeMpReach(w: ByteWriter, reach: MpReach, ctx: CodecContext): void {
  // Always the 2-octet length form: the value is written before its size is known.
  w.u8(AttrFlag.OPTIONAL | AttrFlag.EXTENDED_LENGTH);
  w.u8(AttrType.MP_REACH_NLRI);
  const lengthAt = w.reserve16();
  const start = w.pos;
  w.u16(reach.afi, 'AFI');
  w.u8(reach.safi, 'SAFI');
  if (reach.opaque !== undefined) {
    w.u8(reach.opaque.nextHop.length, 'next hop length');
    w.bytes(reach.opaque.nextHop);
    w.u8(0);
    w.bytes(reach.opaque.nlri);
  } else {
    if (!isSupportedFamily(reach.afi, reach.safi)) {
      throw new BgpEncodeError(
        'invalid-attribute',
        `MP_REACH_NLRI family ${reach.afi}/${reach.safi} needs opaque`,
      );
    }
    const lengthOfNextHop = w.pos;
    w.u8(0);
    if (reach.nextHop.includes(':')) {
      writeIPv6(w, reach.nextHop, 'MP_REACH_NLRI next hop');
      if (reach.linkLocalNextHop !== undefined) {
        writeIPv6(w, reach.linkLocalNextHop, 'MP_REACH_NLRI link-local next hop');
      }
    } else {
      if (reach.afi !== Afi.IPV4 || reach.linkLocalNextHop !== undefined) {
        throw new BgpEncodeError(
          'invalid-attribute',
          `MP_REACH_NLRI next hop ${reach.nextHop} does not fit AFI ${reach.afi}`,
        );
      }
      writeIPv4(w, reach.nextHop, 'MP_REACH_NLRI next hop');
    }
    w.patch8(lengthOfNextHop, w.pos - lengthOfNextHop - 1);
    w.u8(0); // Reserved
    writePrefixes(
      w,
      reach.nlri,
      reach.afi,
      pathIdsFor(ctx, reach.afi, reach.safi, reach.nlri, reach.pathIds),
    );
  }
  w.patch16(lengthAt, w.pos - start, 'MP_REACH_NLRI length');
}

function writeMpUnreach(w: ByteWriter, unreach: MpUnreach, ctx: CodecContext): void {
  w.u8(AttrFlag.OPTIONAL | AttrFlag.EXTENDED_LENGTH);
  w.u8(AttrType.MP_UNREACH_NLRI);
  const lengthAt = w.reserve16();
  const start = w.pos;
  w.u16(unreach.afi, 'AFI');
  w.u8(unreach.safi, 'SAFI');
  if (unreach.opaque !== undefined) {
    w.bytes(unreach.opaque);
  } else {
    if (!isSupportedFamily(unreach.afi, unreach.safi) && unreach.withdrawn.length > 0) {
      throw new BgpEncodeError(
        'invalid-attribute',
        `MP_UNREACH_NLRI family ${unreach.afi}/${unreach.safi} needs opaque`,
      );
    }
    writePrefixes(
      w,
      unreach.withdrawn,
      unreach.afi,
      pathIdsFor(ctx, unreach.afi, unreach.safi, unreach.withdrawn, unreach.pathIds),
    );
  }
  w.patch16(lengthAt, w.pos - start, 'MP_UNREACH_NLRI length');
}

/**
 * The path identifiers to write for a list of prefixes: those given when the
 * context has ADD-PATH for the family (zeros if none were given), none otherwise.
 */
export function pathIdsFor(
  ctx: CodecContext,
  afi: number,
  safi: number,
  prefixes: readonly Prefix[],
  pathIds: readonly number[] | undefined,
): readonly number[] | undefined {
  if (hasPathIds(ctx.addPath, afi, safi))
    return pathIds ?? new Array<number>(prefixes.length).fill(0);
  if (pathIds !== undefined && pathIds.length > 0) {
    throw new BgpEncodeError(
      'invalid-message',
      `path identifiers given but ADD-PATH is off for ${afi}/${safi}`,
    );
  }
  return undefined;
}

function writeU32Attr(
  w: ByteWriter,
  flags: number,
  type: number,
  value: number,
  what: string,
): void {
  header(w, flags, type, 4);
  w.u32(value, what);
}

/**
 * Writes the path attributes (without the Total Path Attribute Length field).
 * Order: MP_UNREACH_NLRI, MP_REACH_NLRI first (RFC 7606 §5.1), then ascending
 * type code (RFC 4271 §5). On a 2-octet-AS session, ASNs above 65535 become
 * AS_TRANS and AS4_PATH/AS4_AGGREGATOR are added if not given (RFC 6793 §4.2.2);
 * on a 4-octet session AS4_PATH/AS4_AGGREGATOR are never sent (RFC 6793 §3).
 * Throws BgpEncodeError.
 */
export function writeAttributes(w: ByteWriter, attrs: PathAttributes, ctx: CodecContext): void {
  if (attrs.mpUnreach !== undefined) writeMpUnreach(w, attrs.mpUnreach, ctx);
  if (attrs.mpReach !== undefined) writeMpReach(w, attrs.mpReach, ctx);

  const unknown = [...(attrs.unknown ?? [])].sort((a, b) => a.type - b.type);
  for (let i = 0; i < unknown.length; i++) {
    const u = unknown[i]!;
    if ((u.type & 0xff) !== u.type || EXPECTED_ATTR_FLAGS[u.type] !== undefined) {
      throw new BgpEncodeError(
        'invalid-attribute',
        `unknown attribute type ${u.type} is not an unrecognised type code`,
      );
    }
    if ((u.flags & AttrFlag.OPTIONAL) === 0) {
      throw new BgpEncodeError('invalid-attribute', `unknown attribute ${u.type} must be optional`);
    }
    if (i > 0 && unknown[i - 1]!.type === u.type) {
      throw new BgpEncodeError('invalid-attribute', `unknown attribute ${u.type} given twice`);
    }
  }
  let nextUnknown = 0;
  const unknownBelow = (type: number): void => {
    while (nextUnknown < unknown.length && unknown[nextUnknown]!.type < type) {
      const u = unknown[nextUnknown++]!;
      header(
        w,
        u.flags & (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE | AttrFlag.PARTIAL),
        u.type,
        u.value.length,
      );
      w.bytes(u.value);
    }
  };

  const asSize = ctx.fourOctetAs ? 4 : 2;
  const transitive = AttrFlag.TRANSITIVE;
  const optional = AttrFlag.OPTIONAL;
  const optionalTransitive = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;

  unknownBelow(AttrType.ORIGIN);
  if (attrs.origin !== undefined) {
    if (attrs.origin !== 0 && attrs.origin !== 1 && attrs.origin !== 2) {
      throw new BgpEncodeError('out-of-range', `ORIGIN ${String(attrs.origin)} is not 0, 1 or 2`);
    }
    header(w, transitive, AttrType.ORIGIN, 1);
    w.u8(attrs.origin);
  }
  unknownBelow(AttrType.AS_PATH);
  if (attrs.asPath !== undefined) writeAsPath(w, AttrType.AS_PATH, attrs.asPath, asSize, 'AS_PATH');
  unknownBelow(AttrType.NEXT_HOP);
  if (attrs.nextHop !== undefined) {
    header(w, transitive, AttrType.NEXT_HOP, 4);
    writeIPv4(w, attrs.nextHop, 'NEXT_HOP');
  }
  unknownBelow(AttrType.MULTI_EXIT_DISC);
  if (attrs.med !== undefined)
    writeU32Attr(w, optional, AttrType.MULTI_EXIT_DISC, attrs.med, 'MULTI_EXIT_DISC');
  unknownBelow(AttrType.LOCAL_PREF);
  if (attrs.localPref !== undefined)
    writeU32Attr(w, transitive, AttrType.LOCAL_PREF, attrs.localPref, 'LOCAL_PREF');
  unknownBelow(AttrType.ATOMIC_AGGREGATE);
  if (attrs.atomicAggregate === true) header(w, transitive, AttrType.ATOMIC_AGGREGATE, 0);
  unknownBelow(AttrType.AGGREGATOR);
  if (attrs.aggregator !== undefined)
    writeAggregator(w, AttrType.AGGREGATOR, attrs.aggregator, asSize);
  unknownBelow(AttrType.COMMUNITIES);
  if (attrs.communities !== undefined && attrs.communities.length > 0) {
    header(w, optionalTransitive, AttrType.COMMUNITIES, 4 * attrs.communities.length);
    for (const c of attrs.communities) w.u32(c, 'community');
  }
  unknownBelow(AttrType.ORIGINATOR_ID);
  if (attrs.originatorId !== undefined) {
    header(w, optional, AttrType.ORIGINATOR_ID, 4);
    writeIPv4(w, attrs.originatorId, 'ORIGINATOR_ID');
  }
  unknownBelow(AttrType.CLUSTER_LIST);
  if (attrs.clusterList !== undefined && attrs.clusterList.length > 0) {
    header(w, optional, AttrType.CLUSTER_LIST, 4 * attrs.clusterList.length);
    for (const id of attrs.clusterList) writeIPv4(w, id, 'CLUSTER_LIST entry');
  }
  unknownBelow(AttrType.EXTENDED_COMMUNITIES);
  if (attrs.extendedCommunities !== undefined && attrs.extendedCommunities.length > 0) {
    header(
      w,
      optionalTransitive,
      AttrType.EXTENDED_COMMUNITIES,
      8 * attrs.extendedCommunities.length,
    );
    for (const c of attrs.extendedCommunities) {
      if (typeof c !== 'bigint' || c < 0n || c > 0xffffffffffffffffn) {
        throw new BgpEncodeError(
          'out-of-range',
          `extended community ${String(c)} is not a 64-bit value`,
        );
      }
      w.u32(Number(c >> 32n));
      w.u32(Number(c & 0xffffffffn));
    }
  }
  unknownBelow(AttrType.AS4_PATH);
  if (!ctx.fourOctetAs) {
    const as4Path =
      attrs.as4Path ??
      (attrs.asPath !== undefined && needsAs4(attrs.asPath) ? as4PathFor(attrs.asPath) : undefined);
    if (as4Path !== undefined && as4Path.length > 0)
      writeAsPath(w, AttrType.AS4_PATH, as4Path, 4, 'AS4_PATH');
  }
  unknownBelow(AttrType.AS4_AGGREGATOR);
  if (!ctx.fourOctetAs) {
    const as4Aggregator =
      attrs.as4Aggregator ??
      (attrs.aggregator !== undefined && attrs.aggregator.asn > 0xffff
        ? attrs.aggregator
        : undefined);
    if (as4Aggregator !== undefined) writeAggregator(w, AttrType.AS4_AGGREGATOR, as4Aggregator, 4);
  }
  unknownBelow(AttrType.LARGE_COMMUNITIES);
  if (attrs.largeCommunities !== undefined && attrs.largeCommunities.length > 0) {
    header(w, optionalTransitive, AttrType.LARGE_COMMUNITIES, 12 * attrs.largeCommunities.length);
    for (const c of attrs.largeCommunities) {
      w.u32(c.global, 'large community global administrator');
      w.u32(c.local1, 'large community local data part 1');
      w.u32(c.local2, 'large community local data part 2');
    }
  }
  unknownBelow(256);
}

/** Encodes path attributes alone, e.g. to size or compare them. Throws BgpEncodeError. */
export function encodeAttributes(attrs: PathAttributes, ctx: CodecContext): Uint8Array {
  const w = new ByteWriter(256);
  writeAttributes(w, attrs, ctx);
  return w.finish();
}

// ---------------------------------------------------------------------------
// Helpers for the layers above

/**
 * The attributes as they should be passed on to another peer: every
 * unrecognised optional transitive attribute gets the Partial bit (RFC 4271 §5).
 */
export function readvertise(attrs: PathAttributes): PathAttributes {
  if (attrs.unknown === undefined || attrs.unknown.length === 0) return attrs;
  return {
    ...attrs,
    unknown: attrs.unknown.map((u) =>
      u.flags & AttrFlag.TRANSITIVE ? { ...u, flags: u.flags | AttrFlag.PARTIAL } : u,
    ),
  };
}

/** True if the attribute is an unrecognised one that reached us through a speaker that did not recognise it. */
export function isPartial(attribute: UnknownAttribute): boolean {
  return (attribute.flags & AttrFlag.PARTIAL) !== 0;
}

/** AS_PATH length for route selection (RFC 4271 §9.1.2.2 a): a set counts 1, confederation segments 0. */
export function asPathLength(segments: readonly AsPathSegment[] | undefined): number {
  let n = 0;
  for (const s of segments ?? []) {
    if (s.type === 'sequence') n += s.asns.length;
    else if (s.type === 'set') n += 1;
  }
  return n;
}

/**
 * The AS path of a route learnt from a 2-octet-AS speaker, with 4-octet ASNs
 * restored from AS4_PATH (RFC 6793 §4.2.3). Returns asPath unchanged when
 * AS4_PATH is absent or must be ignored.
 */
export function reconstructAsPath(attrs: PathAttributes): readonly AsPathSegment[] | undefined {
  const asPath = attrs.asPath;
  const as4Path = attrs.as4Path;
  if (asPath === undefined || as4Path === undefined) return asPath;
  // §4.2.3: AS4_AGGREGATOR with an AGGREGATOR that is not AS_TRANS: ignore both AS4 attributes.
  if (
    attrs.as4Aggregator !== undefined &&
    attrs.aggregator !== undefined &&
    attrs.aggregator.asn !== AS_TRANS
  ) {
    return asPath;
  }
  const total = asPathLength(asPath);
  const total4 = asPathLength(as4Path);
  if (total4 > total) return asPath;
  let keep = total - total4;
  const head: AsPathSegment[] = [];
  for (const s of asPath) {
    if (s.type === 'confed-sequence' || s.type === 'confed-set') {
      if (keep > 0 || head.length === 0) head.push(s);
      continue;
    }
    if (keep <= 0) break;
    if (s.type === 'set') {
      head.push(s);
      keep -= 1;
    } else {
      const take = Math.min(keep, s.asns.length);
      head.push({ type: 'sequence', asns: s.asns.slice(0, take) });
      keep -= take;
    }
  }
  return [...head, ...as4Path];
}
