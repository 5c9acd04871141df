// UPDATE (RFC 4271 §4.3): decoding with RFC 7606 error handling, encoding,
// End-of-RIB markers (RFC 4724 §2) and packing many prefixes into as few
// messages as fit.

import {
  Afi,
  AttrType,
  ErrorCode,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  Safi,
  UpdateSubcode,
  type CodecContext,
} from './constants.js';
import {
  BgpEncodeError,
  EMPTY_DATA,
  problem,
  strongerAction,
  type DecodeError,
  type FamilyPrefixes,
  type UpdateProblem,
} from './errors.js';
import {
  decodeAttributes,
  encodeAttributes,
  isSupportedFamily,
  pathIdsFor,
  writeAttributes,
  type MpReach,
  type MpUnreach,
  type PathAttributes,
} from './attributes.js';
import { beginMessage, endMessage } from './framing.js';
import {
  decodePrefixes,
  hasPathIds,
  prefixWireLength,
  writePrefixes,
  type Prefix,
} from './nlri.js';
import { ByteWriter, u16 } from './wire.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface UpdateMessage {
  readonly type: 'update';
  /** Withdrawn Routes field: IPv4 unicast prefixes. */
  readonly withdrawn: Prefix[];
  /** RFC 7911 path identifiers, index-aligned with withdrawn, when ADD-PATH is on for IPv4 unicast. */
  readonly withdrawnPathIds?: number[];
  readonly attributes: PathAttributes;
  /** NLRI field: IPv4 unicast prefixes. Other families travel in attributes.mpReach/mpUnreach. */
  readonly nlri: Prefix[];
  readonly nlriPathIds?: number[];
}

export type UpdateDecodeResult =
  | { readonly ok: true; readonly message: UpdateMessage }
  | { readonly ok: false; readonly error: DecodeError };

function sessionReset(
  subcode: number,
  reason: string,
  problems: UpdateProblem[] = [],
): UpdateDecodeResult {
  const p = problem('session-reset', ErrorCode.UPDATE_MESSAGE, subcode, reason);
  return {
    ok: false,
    error: {
      action: 'session-reset',
      code: p.code,
      subcode,
      data: EMPTY_DATA,
      reason,
      problems: [...problems, p],
    },
  };
}

/** Decodes an UPDATE body buf[start..end) (after the 19-octet header). Never throws. */
export function decodeUpdate(
  buf: Uint8Array,
  start: number,
  end: number,
  ctx: CodecContext,
): UpdateDecodeResult {
  if (end - start < 4)
    return sessionReset(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      'UPDATE body shorter than 4 octets',
    );
  // RFC 4271 §6.3: lengths that overrun the message → Malformed Attribute List.
  const withdrawnLength = u16(buf, start);
  const withdrawnStart = start + 2;
  const withdrawnEnd = withdrawnStart + withdrawnLength;
  if (withdrawnEnd + 2 > end) {
    return sessionReset(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `Withdrawn Routes Length ${withdrawnLength} overruns the message`,
    );
  }
  const attrLength = u16(buf, withdrawnEnd);
  const attrStart = withdrawnEnd + 2;
  const attrEnd = attrStart + attrLength;
  if (attrEnd > end) {
    return sessionReset(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `Total Path Attribute Length ${attrLength} overruns the message`,
    );
  }

  // RFC 7606 §5.3: an NLRI field that cannot be parsed cannot be withdrawn either.
  const ipv4PathIds = hasPathIds(ctx.addPath, Afi.IPV4, Safi.UNICAST);
  const withdrawn: Prefix[] = [];
  const withdrawnPathIds = ipv4PathIds ? [] : undefined;
  let bad = decodePrefixes(
    buf,
    withdrawnStart,
    withdrawnEnd,
    Afi.IPV4,
    withdrawn,
    withdrawnPathIds,
  );
  if (bad !== undefined)
    return sessionReset(UpdateSubcode.INVALID_NETWORK_FIELD, `Withdrawn Routes: ${bad}`);
  const nlri: Prefix[] = [];
  const nlriPathIds = ipv4PathIds ? [] : undefined;
  bad = decodePrefixes(buf, attrEnd, end, Afi.IPV4, nlri, nlriPathIds);
  if (bad !== undefined) return sessionReset(UpdateSubcode.INVALID_NETWORK_FIELD, `NLRI: ${bad}`);

  const decoded = decodeAttributes(buf, attrStart, attrEnd, ctx);
  if (decoded.fatal !== undefined) {
    const f = decoded.fatal;
    return {
      ok: false,
      error: {
        action: 'session-reset',
        code: f.code,
        subcode: f.subcode,
        data: f.data,
        reason: f.reason,
        problems: [...decoded.problems, f],
      },
    };
  }
  const attributes = decoded.attributes;
  const problems = decoded.problems;

  // RFC 7606 §3 d: a missing well-known mandatory attribute → treat-as-withdraw.
  // Mandatory only when there is something to announce; NEXT_HOP only for the
  // NLRI field (RFC 4760 §3 carries the next hop of MP_REACH_NLRI itself).
  if (nlri.length > 0 || attributes.mpReach !== undefined) {
    const missing: number[] = [];
    if (!decoded.sawOrigin) missing.push(AttrType.ORIGIN);
    if (!decoded.sawAsPath) missing.push(AttrType.AS_PATH);
    if (!decoded.sawNextHop && nlri.length > 0) missing.push(AttrType.NEXT_HOP);
    for (const type of missing) {
      problems.push(
        problem(
          'treat-as-withdraw',
          ErrorCode.UPDATE_MESSAGE,
          UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
          `missing well-known attribute ${type}`,
          Uint8Array.of(type),
          type,
        ),
      );
    }
  }

  const message: Mutable<UpdateMessage> = { type: 'update', withdrawn, attributes, nlri };
  if (withdrawnPathIds !== undefined) message.withdrawnPathIds = withdrawnPathIds;
  if (nlriPathIds !== undefined) message.nlriPathIds = nlriPathIds;
  if (problems.length === 0) return { ok: true, message };

  let action: UpdateProblem['action'] = 'attribute-discard';
  for (const p of problems) action = strongerAction(action, p.action) as UpdateProblem['action'];
  const first = problems.find((p) => p.action === action)!;
  const base = {
    code: first.code,
    subcode: first.subcode,
    data: first.data,
    reason: first.reason,
    problems,
  };
  if (action === 'treat-as-withdraw') {
    return { ok: false, error: { action, ...base, withdrawn: withdrawalsOf(message) } };
  }
  return {
    ok: false,
    error: { action: 'attribute-discard', ...base, update: message, discarded: decoded.discarded },
  };
}

/**
 * Everything an UPDATE withdraws or announces, per family, as withdrawals:
 * what "treat-as-withdraw" means (RFC 7606 §2). Families this codec does not
 * parse are left out.
 */
export function withdrawalsOf(update: UpdateMessage): FamilyPrefixes[] {
  const byFamily = new Map<
    string,
    { afi: number; safi: number; prefixes: Prefix[]; pathIds?: number[] }
  >();
  const add = (
    afi: number,
    safi: number,
    prefixes: readonly Prefix[],
    pathIds: readonly number[] | undefined,
  ): void => {
    if (prefixes.length === 0 || !isSupportedFamily(afi, safi)) return;
    const key = `${afi}/${safi}`;
    let entry = byFamily.get(key);
    if (entry === undefined) {
      entry =
        pathIds !== undefined
          ? { afi, safi, prefixes: [], pathIds: [] }
          : { afi, safi, prefixes: [] };
      byFamily.set(key, entry);
    }
    // Loops, not push(...list): one extended UPDATE can carry ~65,000 prefixes.
    for (const p of prefixes) entry.prefixes.push(p);
    if (entry.pathIds !== undefined) {
      for (let i = 0; i < prefixes.length; i++) entry.pathIds.push(pathIds?.[i] ?? 0);
    }
  };
  add(Afi.IPV4, Safi.UNICAST, update.withdrawn, update.withdrawnPathIds);
  add(Afi.IPV4, Safi.UNICAST, update.nlri, update.nlriPathIds);
  const { mpUnreach, mpReach } = update.attributes;
  if (mpUnreach !== undefined)
    add(mpUnreach.afi, mpUnreach.safi, mpUnreach.withdrawn, mpUnreach.pathIds);
  if (mpReach !== undefined) add(mpReach.afi, mpReach.safi, mpReach.nlri, mpReach.pathIds);
  return [...byFamily.values()];
}

/** Writes a whole UPDATE message. Throws BgpEncodeError. */
export function writeUpdate(w: ByteWriter, msg: UpdateMessage, ctx: CodecContext): void {
  const withdrawnAt = w.reserve16();
  writePrefixes(
    w,
    msg.withdrawn,
    Afi.IPV4,
    pathIdsFor(ctx, Afi.IPV4, Safi.UNICAST, msg.withdrawn, msg.withdrawnPathIds),
  );
  w.patch16(withdrawnAt, w.pos - withdrawnAt - 2, 'Withdrawn Routes Length');
  const attrAt = w.reserve16();
  writeAttributes(w, msg.attributes, ctx);
  w.patch16(attrAt, w.pos - attrAt - 2, 'Total Path Attribute Length');
  writePrefixes(
    w,
    msg.nlri,
    Afi.IPV4,
    pathIdsFor(ctx, Afi.IPV4, Safi.UNICAST, msg.nlri, msg.nlriPathIds),
  );
}

// ---------------------------------------------------------------------------
// End-of-RIB (RFC 4724 §2)

function hasNoAttributes(attrs: PathAttributes, except?: keyof PathAttributes): boolean {
  for (const key of Object.keys(attrs) as (keyof PathAttributes)[]) {
    if (key !== except && attrs[key] !== undefined) return false;
  }
  return true;
}

/**
 * The family an End-of-RIB marker stands for, or undefined if the UPDATE is
 * not one: an empty UPDATE for IPv4 unicast; for any other family an UPDATE
 * whose only attribute is an MP_UNREACH_NLRI without withdrawn routes.
 */
export function endOfRibFamily(update: UpdateMessage): { afi: number; safi: number } | undefined {
  if (update.withdrawn.length !== 0 || update.nlri.length !== 0) return undefined;
  const attrs = update.attributes;
  if (hasNoAttributes(attrs)) return { afi: Afi.IPV4, safi: Safi.UNICAST };
  const unreach = attrs.mpUnreach;
  if (
    unreach !== undefined &&
    unreach.withdrawn.length === 0 &&
    (unreach.opaque === undefined || unreach.opaque.length === 0) &&
    hasNoAttributes(attrs, 'mpUnreach')
  ) {
    return { afi: unreach.afi, safi: unreach.safi };
  }
  return undefined;
}

export function isEndOfRib(update: UpdateMessage): boolean {
  return endOfRibFamily(update) !== undefined;
}

/** The End-of-RIB marker for a family. */
export function endOfRib(afi: number, safi: number): UpdateMessage {
  if (afi === Afi.IPV4 && safi === Safi.UNICAST)
    return { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
  return {
    type: 'update',
    withdrawn: [],
    attributes: { mpUnreach: { afi, safi, withdrawn: [] } },
    nlri: [],
  };
}

// ---------------------------------------------------------------------------
// Packing: many prefixes into as few UPDATEs as fit

function maxUpdateLength(ctx: CodecContext): number {
  return ctx.extendedMessage === true ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
}

/** Splits prefixes into runs whose wire size fits `room` octets. */
function chunk(
  prefixes: readonly Prefix[],
  withPathIds: boolean,
  room: number,
): [number, number][] {
  const runs: [number, number][] = [];
  let from = 0;
  let used = 0;
  for (let i = 0; i < prefixes.length; i++) {
    const size = prefixWireLength(prefixes[i]!, withPathIds);
    if (used + size > room && i > from) {
      runs.push([from, i]);
      from = i;
      used = 0;
    }
    if (size > room)
      throw new BgpEncodeError('message-too-long', 'no room for a single prefix in an UPDATE');
    used += size;
  }
  if (from < prefixes.length) runs.push([from, prefixes.length]);
  return runs;
}

function slice<T>(values: readonly T[] | undefined, [from, to]: [number, number]): T[] | undefined {
  return values === undefined ? undefined : values.slice(from, to);
}

export interface Announcement {
  readonly afi: number;
  readonly safi: number;
  /** Attributes shared by all the prefixes; no mpReach/mpUnreach. For IPv4 unicast, nextHop is the NEXT_HOP. */
  readonly attributes: PathAttributes;
  /** Next hop for MP_REACH_NLRI (every family but IPv4 unicast). */
  readonly nextHop?: string;
  readonly linkLocalNextHop?: string;
  readonly prefixes: readonly Prefix[];
  readonly pathIds?: readonly number[];
}

/**
 * Encodes the announcement of many prefixes with one set of attributes as
 * the fewest UPDATE messages that hold them. Throws BgpEncodeError.
 */
export function encodeAnnouncements(a: Announcement, ctx: CodecContext): Uint8Array[] {
  if (a.attributes.mpReach !== undefined || a.attributes.mpUnreach !== undefined) {
    throw new BgpEncodeError(
      'invalid-message',
      'announcement attributes must not carry MP_REACH/MP_UNREACH',
    );
  }
  if (a.prefixes.length === 0) return [];
  const withPathIds = hasPathIds(ctx.addPath, a.afi, a.safi);
  const pathIds = pathIdsFor(ctx, a.afi, a.safi, a.prefixes, a.pathIds);
  const attrBytes = encodeAttributes(a.attributes, ctx).length;
  const ipv4Unicast = a.afi === Afi.IPV4 && a.safi === Safi.UNICAST;
  let fixed = 19 + 2 + 2 + attrBytes;
  if (!ipv4Unicast) {
    if (a.nextHop === undefined)
      throw new BgpEncodeError('invalid-message', 'MP announcement without a next hop');
    const nhLength = a.nextHop.includes(':') ? (a.linkLocalNextHop !== undefined ? 32 : 16) : 4;
    fixed += 4 + 2 + 1 + 1 + nhLength + 1; // MP_REACH_NLRI header, AFI, SAFI, NH length, NH, Reserved
  }
  const out: Uint8Array[] = [];
  for (const run of chunk(a.prefixes, withPathIds, maxUpdateLength(ctx) - fixed)) {
    const prefixes = a.prefixes.slice(run[0], run[1]);
    const ids = slice(pathIds, run);
    let message: UpdateMessage;
    if (ipv4Unicast) {
      message = {
        type: 'update',
        withdrawn: [],
        attributes: a.attributes,
        nlri: prefixes,
        ...(ids ? { nlriPathIds: ids } : {}),
      };
    } else {
      const mpReach: MpReach = {
        afi: a.afi,
        safi: a.safi,
        nextHop: a.nextHop!,
        ...(a.linkLocalNextHop !== undefined ? { linkLocalNextHop: a.linkLocalNextHop } : {}),
        nlri: prefixes,
        ...(ids ? { pathIds: ids } : {}),
      };
      message = {
        type: 'update',
        withdrawn: [],
        attributes: { mpReach, ...a.attributes },
        nlri: [],
      };
    }
    out.push(encodeUpdateMessage(message, ctx));
  }
  return out;
}

/** Encodes the withdrawal of many prefixes of one family as the fewest UPDATEs. Throws BgpEncodeError. */
export function encodeWithdrawals(
  afi: number,
  safi: number,
  prefixes: readonly Prefix[],
  pathIds: readonly number[] | undefined,
  ctx: CodecContext,
): Uint8Array[] {
  if (prefixes.length === 0) return [];
  const withPathIds = hasPathIds(ctx.addPath, afi, safi);
  const ids = pathIdsFor(ctx, afi, safi, prefixes, pathIds);
  const ipv4Unicast = afi === Afi.IPV4 && safi === Safi.UNICAST;
  const fixed = 19 + 2 + 2 + (ipv4Unicast ? 0 : 4 + 2 + 1);
  const out: Uint8Array[] = [];
  for (const run of chunk(prefixes, withPathIds, maxUpdateLength(ctx) - fixed)) {
    const part = prefixes.slice(run[0], run[1]);
    const partIds = slice(ids, run);
    let message: UpdateMessage;
    if (ipv4Unicast) {
      message = {
        type: 'update',
        withdrawn: part,
        ...(partIds ? { withdrawnPathIds: partIds } : {}),
        attributes: {},
        nlri: [],
      };
    } else {
      const mpUnreach: MpUnreach = {
        afi,
        safi,
        withdrawn: part,
        ...(partIds ? { pathIds: partIds } : {}),
      };
      message = { type: 'update', withdrawn: [], attributes: { mpUnreach }, nlri: [] };
    }
    out.push(encodeUpdateMessage(message, ctx));
  }
  return out;
}

/** Encodes one UPDATE with its header. Throws BgpEncodeError. */
export function encodeUpdateMessage(msg: UpdateMessage, ctx: CodecContext): Uint8Array {
  const w = new ByteWriter(4096);
  beginMessage(w, MessageType.UPDATE);
  writeUpdate(w, msg, ctx);
  return endMessage(w, MessageType.UPDATE, ctx);
}
