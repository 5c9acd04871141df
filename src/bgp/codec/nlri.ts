// NLRI: IPv4 and IPv6 prefixes on the wire (RFC 4271 §4.3, RFC 4760 §5,
// RFC 7911 §3 for ADD-PATH), and the text forms of addresses.
//
// A decoded prefix is one string in canonical form, "10.0.0.0/24" or
// "2001:db8::/32" (host bits cleared, RFC 5952 text for IPv6, the same text as
// model/cidr's formatCidr). That string is the RIB's key: decoding a prefix
// costs one string and no other object.

import { Afi, type AddPathFamilies } from './constants.js';
import { BgpEncodeError } from './errors.js';
import { u32, type ByteWriter } from './wire.js';

/** Canonical "address/length" text. */
export type Prefix = string;

/** Decimal text of 0..255, so that formatting an IPv4 prefix is concatenation only. */
const DEC: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));

/** Mask for the last, partial octet of a prefix of `bits % 8` bits. */
const LAST_OCTET_MASK: readonly number[] = [0xff, 0x80, 0xc0, 0xe0, 0xf0, 0xf8, 0xfc, 0xfe];

// ---------------------------------------------------------------------------
// Address text

export function formatIPv4(buf: Uint8Array, at: number): string {
  return `${DEC[buf[at]!]}.${DEC[buf[at + 1]!]}.${DEC[buf[at + 2]!]}.${DEC[buf[at + 3]!]}`;
}

export function formatIPv4Number(value: number): string {
  return `${DEC[value >>> 24]}.${DEC[(value >>> 16) & 0xff]}.${DEC[(value >>> 8) & 0xff]}.${DEC[value & 0xff]}`;
}

const groups = new Int32Array(8);

/** Hex text of 0..0xffff without leading zeros, built on first use. */
const HEX: string[] = [];
function hex(value: number): string {
  return (HEX[value] ??= value.toString(16));
}

/** RFC 5952 text of the 16 octets at buf[at]. Allocates only the result. */
export function formatIPv6(buf: Uint8Array, at: number): string {
  const g = groups;
  for (let i = 0; i < 8; i++) g[i] = (buf[at + 2 * i]! << 8) | buf[at + 2 * i + 1]!;
  // ::ffff:0:0/96 keeps its IPv4 part dotted (RFC 5952 §5).
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIPv4(buf, at + 12)}`;
  }
  // Longest run of two or more zero groups, leftmost on a tie (RFC 5952 §4.2).
  let bestStart = -1;
  let bestEnd = -1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > 1 && j - i > bestEnd - bestStart) {
      bestStart = i;
      bestEnd = j;
    }
    i = j;
  }
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += '::';
      i = bestEnd - 1;
      continue;
    }
    if (i > 0 && i !== bestEnd) text += ':';
    text += hex(g[i]!);
  }
  return text;
}

/** A dotted quad as an unsigned 32-bit number, or -1. No leading zeros. */
export function parseIPv4(text: string): number {
  let value = 0;
  let octets = 0;
  let i = 0;
  const n = text.length;
  while (octets < 4) {
    const start = i;
    let octet = 0;
    while (i < n) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      octet = octet * 10 + c;
      i++;
    }
    const digits = i - start;
    if (
      digits === 0 ||
      digits > 3 ||
      octet > 255 ||
      (digits > 1 && text.charCodeAt(start) === 48)
    ) {
      return -1;
    }
    value = value * 256 + octet;
    octets++;
    if (octets < 4) {
      if (text.charCodeAt(i) !== 46) return -1;
      i++;
    }
  }
  return i === n ? value : -1;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseGroups(text: string, out: number[], allowV4: boolean): boolean {
  if (text === '') return true;
  const pieces = text.split(':');
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (allowV4 && i === pieces.length - 1 && piece.includes('.')) {
      const v4 = parseIPv4(piece);
      if (v4 < 0) return false;
      out.push(v4 >>> 16, v4 & 0xffff);
    } else if (HEX_GROUP.test(piece)) {
      out.push(parseInt(piece, 16));
    } else {
      return false;
    }
  }
  return true;
}

/** Parses IPv6 text into out[at..at+16); false if it is not an address. No zones. */
export function parseIPv6(text: string, out: Uint8Array, at: number): boolean {
  const gap = text.indexOf('::');
  let groups: number[];
  if (gap < 0) {
    groups = [];
    if (!parseGroups(text, groups, true) || groups.length !== 8) return false;
  } else {
    const head: number[] = [];
    const tail: number[] = [];
    if (text.indexOf('::', gap + 1) >= 0) return false;
    if (!parseGroups(text.slice(0, gap), head, false)) return false;
    if (!parseGroups(text.slice(gap + 2), tail, true)) return false;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return false;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }
  for (let i = 0; i < 8; i++) {
    out[at + 2 * i] = groups[i]! >>> 8;
    out[at + 2 * i + 1] = groups[i]! & 0xff;
  }
  return true;
}

/** Writes an IPv4 address; throws BgpEncodeError if the text is not one. */
export function writeIPv4(w: ByteWriter, text: string, what: string): void {
  const value = parseIPv4(text);
  if (value < 0)
    throw new BgpEncodeError(
      'invalid-address',
      `${what} ${JSON.stringify(text)} is not an IPv4 address`,
    );
  w.u32(value);
}

/** Writes an IPv6 address; throws BgpEncodeError if the text is not one. */
export function writeIPv6(w: ByteWriter, text: string, what: string): void {
  w.ensure(16);
  if (!parseIPv6(text, w.buf, w.pos)) {
    throw new BgpEncodeError(
      'invalid-address',
      `${what} ${JSON.stringify(text)} is not an IPv6 address`,
    );
  }
  w.pos += 16;
}

export function isIPv4(text: string): boolean {
  return parseIPv4(text) >= 0;
}

export function isIPv6(text: string): boolean {
  return parseIPv6(text, new Uint8Array(16), 0);
}

// ---------------------------------------------------------------------------
// Prefixes

/** Whether NLRI of this AFI/SAFI carry path identifiers under `addPath`. */
export function hasPathIds(
  addPath: AddPathFamilies | undefined,
  afi: number,
  safi: number,
): boolean {
  if (addPath === undefined || safi !== 1) return false;
  return afi === Afi.IPV4
    ? addPath.ipv4Unicast === true
    : afi === Afi.IPV6 && addPath.ipv6Unicast === true;
}

const scratch = new Uint8Array(16);

/**
 * Decodes the prefixes in buf[start..end) of family `afi` into `out` (and their
 * path identifiers into `pathIds` when given). Returns undefined, or the reason
 * the field is malformed (RFC 7606 §5.3: a length over the family's maximum,
 * or a prefix cut off by the end of the field).
 */
export function decodePrefixes(
  buf: Uint8Array,
  start: number,
  end: number,
  afi: number,
  out: Prefix[],
  pathIds: number[] | undefined,
): string | undefined {
  const v4 = afi === Afi.IPV4;
  const maxBits = v4 ? 32 : 128;
  let p = start;
  while (p < end) {
    if (pathIds !== undefined) {
      if (end - p < 5) return `path identifier cut off at offset ${p - start}`;
      pathIds.push(u32(buf, p));
      p += 4;
    }
    const bits = buf[p]!;
    if (bits > maxBits) return `prefix length ${bits} exceeds ${maxBits}`;
    const octets = (bits + 7) >>> 3;
    const next = p + 1 + octets;
    if (next > end) return `prefix of length ${bits} cut off at offset ${p - start}`;
    const rest = bits & 7;
    if (v4) {
      let a = 0,
        b = 0,
        c = 0,
        d = 0;
      if (octets > 0) a = buf[p + 1]!;
      if (octets > 1) b = buf[p + 2]!;
      if (octets > 2) c = buf[p + 3]!;
      if (octets > 3) d = buf[p + 4]!;
      if (rest !== 0) {
        const m = LAST_OCTET_MASK[rest]!;
        if (octets === 1) a &= m;
        else if (octets === 2) b &= m;
        else if (octets === 3) c &= m;
        else d &= m;
      }
      out.push(`${DEC[a]}.${DEC[b]}.${DEC[c]}.${DEC[d]}/${DEC[bits]}`);
    } else {
      scratch.fill(0);
      for (let i = 0; i < octets; i++) scratch[i] = buf[p + 1 + i]!;
      if (rest !== 0) scratch[octets - 1]! &= LAST_OCTET_MASK[rest]!;
      out.push(`${formatIPv6(scratch, 0)}/${bits}`);
    }
    p = next;
  }
  return undefined;
}

/** A parsed prefix: family, length, and the address octets (4 or 16). */
export interface ParsedPrefix {
  readonly afi: number;
  readonly length: number;
  readonly bytes: Uint8Array;
}

/**
 * Parses canonical prefix text ("10.0.0.0/24", "2001:db8::/32"). Returns
 * undefined if the text is not a prefix or has host bits set.
 */
export function parsePrefix(prefix: string): ParsedPrefix | undefined {
  const slash = prefix.indexOf('/');
  if (slash < 0) return undefined;
  const lengthText = prefix.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  const addressText = prefix.slice(0, slash);
  let bytes: Uint8Array;
  let afi: number;
  if (addressText.includes(':')) {
    bytes = new Uint8Array(16);
    if (length > 128 || !parseIPv6(addressText, bytes, 0)) return undefined;
    afi = Afi.IPV6;
  } else {
    const value = parseIPv4(addressText);
    if (value < 0 || length > 32) return undefined;
    bytes = Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
    afi = Afi.IPV4;
  }
  // Host bits must be clear: the prefix must be in canonical form.
  for (let bit = length; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >>> 3]! >>> (7 - (bit & 7))) & 1) return undefined;
  }
  return { afi, length, bytes };
}

/** The canonical text of a prefix given in any valid form ("10.0.0.1/24" → "10.0.0.0/24"). */
export function canonicalPrefix(text: string): Prefix | undefined {
  const slash = text.indexOf('/');
  const lengthText = text.slice(slash + 1);
  if (slash < 0 || !/^(?:0|[1-9][0-9]{0,2})$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  const addressText = text.slice(0, slash);
  // Encode the address as NLRI and decode it again: the decoder clears host bits.
  const wire = new Uint8Array(17);
  wire[0] = length;
  let afi: number;
  if (addressText.includes(':')) {
    if (length > 128 || !parseIPv6(addressText, wire, 1)) return undefined;
    afi = Afi.IPV6;
  } else {
    const value = parseIPv4(addressText);
    if (value < 0 || length > 32) return undefined;
    wire.set([value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff], 1);
    afi = Afi.IPV4;
  }
  const out: Prefix[] = [];
  decodePrefixes(wire, 0, 1 + ((length + 7) >>> 3), afi, out, undefined);
  return out[0];
}

/** The family of canonical prefix text, by its address syntax. */
export function prefixAfi(prefix: Prefix): number {
  return prefix.includes(':') ? Afi.IPV6 : Afi.IPV4;
}

/** Octets a prefix takes on the wire (length octet, address octets, path identifier). */
export function prefixWireLength(prefix: Prefix, withPathId: boolean): number {
  const slash = prefix.lastIndexOf('/');
  const length = Number(prefix.slice(slash + 1));
  return 1 + ((length + 7) >>> 3) + (withPathId ? 4 : 0);
}

function invalidPrefix(prefix: unknown, afi: number): BgpEncodeError {
  return new BgpEncodeError(
    'invalid-prefix',
    `${JSON.stringify(prefix)} is not a canonical IPv${afi === Afi.IPV4 ? 4 : 6} prefix`,
  );
}

/**
 * Writes one prefix of family `afi` (with its path identifier if pathId is
 * given). Throws BgpEncodeError if the text is not a canonical prefix of the family.
 */
export function writePrefix(w: ByteWriter, prefix: Prefix, afi: number, pathId?: number): void {
  if (pathId !== undefined) w.u32(pathId, 'path identifier');
  if (afi === Afi.IPV4 && typeof prefix === 'string') {
    // Fast path for the common case: parse the dotted quad in place.
    const slash = prefix.indexOf('/');
    const value = slash > 0 ? parseIPv4(prefix.slice(0, slash)) : -1;
    const lengthText = prefix.slice(slash + 1);
    const d0 = lengthText.charCodeAt(0) - 48;
    const d1 = lengthText.length === 2 ? lengthText.charCodeAt(1) - 48 : 0;
    const length =
      (lengthText.length === 1 || lengthText.length === 2) &&
      d0 >= 0 &&
      d0 <= 9 &&
      d1 >= 0 &&
      d1 <= 9
        ? lengthText.length === 2
          ? d0 * 10 + d1
          : d0
        : NaN;
    if (
      value < 0 ||
      !(length >= 0 && length <= 32) ||
      (lengthText.length === 2 && lengthText.charCodeAt(0) === 48) ||
      (length < 32 && (value & (0xffffffff >>> length)) !== 0)
    ) {
      throw invalidPrefix(prefix, afi);
    }
    const octets = (length + 7) >>> 3;
    w.ensure(1 + octets);
    const b = w.buf;
    b[w.pos++] = length;
    if (octets > 0) b[w.pos++] = value >>> 24;
    if (octets > 1) b[w.pos++] = (value >>> 16) & 0xff;
    if (octets > 2) b[w.pos++] = (value >>> 8) & 0xff;
    if (octets > 3) b[w.pos++] = value & 0xff;
    return;
  }
  const parsed = typeof prefix === 'string' ? parsePrefix(prefix) : undefined;
  if (parsed === undefined || parsed.afi !== afi) throw invalidPrefix(prefix, afi);
  const octets = (parsed.length + 7) >>> 3;
  w.ensure(1 + octets);
  w.buf[w.pos++] = parsed.length;
  w.buf.set(parsed.bytes.subarray(0, octets), w.pos);
  w.pos += octets;
}

/** Writes a list of prefixes with optional index-aligned path identifiers. */
export function writePrefixes(
  w: ByteWriter,
  prefixes: readonly Prefix[],
  afi: number,
  pathIds: readonly number[] | undefined,
): void {
  if (pathIds !== undefined && pathIds.length !== prefixes.length) {
    throw new BgpEncodeError(
      'invalid-message',
      `${pathIds.length} path identifiers for ${prefixes.length} prefixes`,
    );
  }
  for (let i = 0; i < prefixes.length; i++) {
    writePrefix(w, prefixes[i]!, afi, pathIds === undefined ? undefined : pathIds[i]);
  }
}
