// IPv4 and IPv6 addresses and CIDR blocks as plain values over bigint.
//
// Both families share one representation (a family tag and an unsigned bigint)
// so that IPAM, routing and policy code can do arithmetic without caring
// which family it is looking at. Everything here is pure and allocation-light.

export type IPFamily = 4 | 6;

export interface IPAddress {
  readonly family: IPFamily;
  readonly value: bigint;
}

export interface Cidr {
  readonly family: IPFamily;
  /** The first address of the block; host bits are always zero. */
  readonly network: bigint;
  readonly prefixLength: number;
}

export class CidrError extends Error {
  override name = 'CidrError';
}

const IPV4_BITS = 32;
const IPV6_BITS = 128;
const IPV6_GROUPS = 8;

/** Number of bits in an address of the family: 32 or 128. */
export function maxPrefix(family: IPFamily): number {
  return family === 4 ? IPV4_BITS : IPV6_BITS;
}

/** Same as maxPrefix, as a bigint for shifting. */
export function addressBits(family: IPFamily): bigint {
  return BigInt(maxPrefix(family));
}

/** The largest address value of the family (all ones). */
export function maxAddressValue(family: IPFamily): bigint {
  return (1n << addressBits(family)) - 1n;
}

/** Mask with the low (bits - prefixLength) bits set. */
export function hostMask(family: IPFamily, prefixLength: number): bigint {
  checkPrefixLength(family, prefixLength);
  return (1n << BigInt(maxPrefix(family) - prefixLength)) - 1n;
}

/** Mask with the high prefixLength bits set. */
export function networkMask(family: IPFamily, prefixLength: number): bigint {
  return maxAddressValue(family) ^ hostMask(family, prefixLength);
}

function checkPrefixLength(family: IPFamily, prefixLength: number): void {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > maxPrefix(family)) {
    throw new RangeError(`prefix length ${prefixLength} is out of range for IPv${family}`);
  }
}

/** Builds an address from a raw value, checking that it fits the family. */
export function makeIP(family: IPFamily, value: bigint): IPAddress {
  if (value < 0n || value > maxAddressValue(family)) {
    throw new RangeError(`${value} is not an IPv${family} address value`);
  }
  return { family, value };
}

/** Builds a CIDR, masking off any host bits of `value`. */
export function makeCidr(family: IPFamily, value: bigint, prefixLength: number): Cidr {
  const address = makeIP(family, value);
  return { family, network: address.value & networkMask(family, prefixLength), prefixLength };
}

// ---------------------------------------------------------------------------
// Parsing and formatting addresses

function invalidIP(text: string): CidrError {
  return new CidrError(`${JSON.stringify(text)} is not a valid IP address`);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses a dotted quad; undefined if it is not one. Leading zeros are rejected
 * because some parsers read them as octal ("010" = 8) and others as decimal. */
function parseIPv4Value(text: string): bigint | undefined {
  const value = parseIPv4Number(text);
  return value === -1 ? undefined : BigInt(value);
}

/** parseIPv4Value as a number, or -1: exactly four dot-separated decimal
 * octets (0-255, no leading zeros), scanned by hand. */
function parseIPv4Number(text: string): number {
  const length = text.length;
  let value = 0;
  let parts = 0;
  let i = 0;
  for (;;) {
    const start = i;
    let octet = 0;
    while (i < length) {
      const code = text.charCodeAt(i);
      if (code < 0x30 || code > 0x39) break;
      octet = octet * 10 + (code - 0x30);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || octet > 255) return -1;
    if (digits > 1 && text.charCodeAt(start) === 0x30) return -1;
    value = value * 256 + octet;
    parts++;
    if (i === length) return parts === 4 ? value : -1;
    if (parts === 4 || text.charCodeAt(i) !== 0x2e) return -1;
    i++;
  }
}

/** Parses a ':'-separated run of groups (either side of "::"); the last piece
 * may be an embedded dotted quad worth two groups. undefined if malformed. */
function parseIPv6Groups(text: string, allowEmbeddedIPv4: boolean): number[] | undefined {
  if (text === '') return [];
  const pieces = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    const isLast = i === pieces.length - 1;
    if (isLast && allowEmbeddedIPv4 && piece.includes('.')) {
      const v4 = parseIPv4Value(piece);
      if (v4 === undefined) return undefined;
      groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    } else if (HEX_GROUP.test(piece)) {
      groups.push(parseInt(piece, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

function parseIPv6Value(text: string): bigint | undefined {
  const gap = text.indexOf('::');
  let groups: number[];
  if (gap === -1) {
    const all = parseIPv6Groups(text, true);
    if (all === undefined || all.length !== IPV6_GROUPS) return undefined;
    groups = all;
  } else {
    const head = parseIPv6Groups(text.slice(0, gap), false);
    const tail = parseIPv6Groups(text.slice(gap + 2), true);
    if (head === undefined || tail === undefined) return undefined;
    // "::" stands for at least one zero group (RFC 4291 2.2).
    const missing = IPV6_GROUPS - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(group);
  return value;
}

/** Parses an address, or returns undefined. No whitespace, no zones ("%eth0"). */
export function tryParseIP(text: string): IPAddress | undefined {
  if (text.includes(':')) {
    const value = parseIPv6Value(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIPv4Value(text);
  return value === undefined ? undefined : { family: 4, value };
}

/** Parses an IPv4 dotted quad or an IPv6 address; throws CidrError. */
export function parseIP(text: string): IPAddress {
  const address = tryParseIP(text);
  if (address === undefined) throw invalidIP(text);
  return address;
}

function formatIPv4Value(value: bigint): string {
  const n = Number(value);
  return `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

function ipv6Groups(value: bigint): number[] {
  const groups = new Array<number>(IPV6_GROUPS);
  for (let i = IPV6_GROUPS - 1; i >= 0; i--) {
    groups[i] = Number(value & 0xffffn);
    value >>= 16n;
  }
  return groups;
}

/** The longest run of two or more zero groups, leftmost on a tie (RFC 5952 4.2). */
function longestZeroRun(groups: readonly number[]): { start: number; length: number } {
  let best = { start: -1, length: 0 };
  let runStart = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (runStart === -1) runStart = i;
      continue;
    }
    if (runStart !== -1) {
      const length = i - runStart;
      if (length >= 2 && length > best.length) best = { start: runStart, length };
      runStart = -1;
    }
  }
  return best;
}

const IPV4_MAPPED_PREFIX = 0xffffn;

function formatIPv6Value(value: bigint): string {
  // ::ffff:0:0/96 is printed with the IPv4 part dotted (RFC 5952 section 5).
  if (value >> 32n === IPV4_MAPPED_PREFIX) {
    return `::ffff:${formatIPv4Value(value & 0xffffffffn)}`;
  }
  const groups = ipv6Groups(value);
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  const run = longestZeroRun(groups);
  if (run.length === 0) return hex(0, IPV6_GROUPS);
  return `${hex(0, run.start)}::${hex(run.start + run.length, IPV6_GROUPS)}`;
}

/** Canonical text: dotted quad, or RFC 5952 for IPv6. */
export function formatIP(address: IPAddress): string {
  return address.family === 4 ? formatIPv4Value(address.value) : formatIPv6Value(address.value);
}

// ---------------------------------------------------------------------------
// Parsing and formatting CIDRs

function invalidCidr(text: string): CidrError {
  return new CidrError(`${JSON.stringify(text)} is not a valid CIDR`);
}

/** The prefix length after the slash, or -1 unless it is 1-3 decimal digits
 * without a leading zero (a lone "0" is fine). */
function parsePrefixLength(text: string, from: number): number {
  const digits = text.length - from;
  if (digits < 1 || digits > 3) return -1;
  if (digits > 1 && text.charCodeAt(from) === 0x30) return -1;
  let n = 0;
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return -1;
    n = n * 10 + (code - 0x30);
  }
  return n;
}

/** Parses "addr/len" (host bits are masked off) or a bare address (a /32 or /128). */
export function tryParseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  if (!addressText.includes(':')) {
    // IPv4, in plain numbers.
    const value = parseIPv4Number(addressText);
    if (value === -1) return undefined;
    if (slash === -1) return { family: 4, network: BigInt(value), prefixLength: IPV4_BITS };
    const prefixLength = parsePrefixLength(text, slash + 1);
    if (prefixLength === -1 || prefixLength > IPV4_BITS) return undefined;
    const mask = prefixLength === 0 ? 0 : (0xffffffff << (IPV4_BITS - prefixLength)) >>> 0;
    return { family: 4, network: BigInt((value & mask) >>> 0), prefixLength };
  }
  const address = tryParseIP(addressText);
  if (address === undefined) return undefined;
  const max = maxPrefix(address.family);
  if (slash === -1) return { family: address.family, network: address.value, prefixLength: max };
  const prefixLength = parsePrefixLength(text, slash + 1);
  if (prefixLength === -1 || prefixLength > max) return undefined;
  return makeCidr(address.family, address.value, prefixLength);
}

/** Like tryParseCidr but throws CidrError. */
export function parseCidr(text: string): Cidr {
  const cidr = tryParseCidr(text);
  if (cidr === undefined) throw invalidCidr(text);
  return cidr;
}

/** "10.0.0.0/26", "fd00::/122". */
export function formatCidr(cidr: Cidr): string {
  const ip = cidr.family === 4 ? formatIPv4Value(cidr.network) : formatIPv6Value(cidr.network);
  return `${ip}/${cidr.prefixLength}`;
}

/** Canonical text with host bits masked: "10.0.0.5/24" -> "10.0.0.0/24". Throws CidrError. */
export function canonicalCidr(text: string): string {
  return formatCidr(parseCidr(text));
}

/** True iff the text is valid and already in canonical form. */
export function isCanonicalCidr(text: string): boolean {
  const cidr = tryParseCidr(text);
  return cidr !== undefined && formatCidr(cidr) === text;
}

// ---------------------------------------------------------------------------
// Comparison

export function ipEquals(a: IPAddress, b: IPAddress): boolean {
  return a.family === b.family && a.value === b.value;
}

export function cidrEquals(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.network === b.network && a.prefixLength === b.prefixLength;
}

/** Orders IPv4 before IPv6, then by value. */
export function compareIP(a: IPAddress, b: IPAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** Orders by family, then network, then prefix length (wider blocks first). */
export function compareCidr(a: Cidr, b: Cidr): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.network !== b.network) return a.network < b.network ? -1 : 1;
  return a.prefixLength - b.prefixLength;
}

// ---------------------------------------------------------------------------
// Containment and arithmetic

export function cidrContainsAddress(cidr: Cidr, address: IPAddress): boolean {
  return (
    cidr.family === address.family &&
    (address.value & networkMask(cidr.family, cidr.prefixLength)) === cidr.network
  );
}

export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    outer.prefixLength <= inner.prefixLength &&
    (inner.network & networkMask(outer.family, outer.prefixLength)) === outer.network
  );
}

/** Two aligned blocks overlap exactly when one contains the other. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContainsCidr(a, b) || cidrContainsCidr(b, a);
}

/** Number of addresses in the block. */
export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(maxPrefix(cidr.family) - cidr.prefixLength);
}

export function firstAddress(cidr: Cidr): IPAddress {
  return { family: cidr.family, value: cidr.network };
}

export function lastAddress(cidr: Cidr): IPAddress {
  return { family: cidr.family, value: cidr.network + cidrSize(cidr) - 1n };
}

/** The address `offset` places into the block; RangeError outside 0..size-1. */
export function addressAt(cidr: Cidr, offset: bigint): IPAddress {
  if (offset < 0n || offset >= cidrSize(cidr)) {
    throw new RangeError(`offset ${offset} is outside ${formatCidr(cidr)}`);
  }
  return { family: cidr.family, value: cidr.network + offset };
}

/** Inverse of addressAt; RangeError if the address is not in the block. */
export function offsetOf(cidr: Cidr, address: IPAddress): bigint {
  if (!cidrContainsAddress(cidr, address)) {
    throw new RangeError(`${formatIP(address)} is outside ${formatCidr(cidr)}`);
  }
  return address.value - cidr.network;
}

/** The block of the given prefix length that holds the address. */
export function subnetContaining(address: IPAddress, prefixLength: number): Cidr {
  return makeCidr(address.family, address.value, prefixLength);
}

/** Number of /prefixLength blocks in the block (2^(prefixLength - cidr.prefixLength)). */
export function subnetCount(cidr: Cidr, prefixLength: number): bigint {
  checkSubnetPrefix(cidr, prefixLength);
  return 1n << BigInt(prefixLength - cidr.prefixLength);
}

function checkSubnetPrefix(cidr: Cidr, prefixLength: number): void {
  checkPrefixLength(cidr.family, prefixLength);
  if (prefixLength < cidr.prefixLength) {
    throw new RangeError(`cannot split ${formatCidr(cidr)} into /${prefixLength}s`);
  }
}

/**
 * The /prefixLength blocks that make up `cidr`, in address order. Lazy and
 * re-iterable: splitting a /8 into /26s yields one at a time. The prefix length
 * is checked now (RangeError), not at first iteration.
 */
export function subnets(cidr: Cidr, prefixLength: number): Iterable<Cidr> {
  const count = subnetCount(cidr, prefixLength);
  const step = 1n << BigInt(maxPrefix(cidr.family) - prefixLength);
  const { family, network } = cidr;
  return {
    *[Symbol.iterator]() {
      for (let i = 0n; i < count; i++) {
        yield { family, network: network + i * step, prefixLength };
      }
    },
  };
}
