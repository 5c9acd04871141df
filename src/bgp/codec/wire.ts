// Low-level byte access shared by the encoders and decoders: a growable
// big-endian writer with range-checked fields, and bounds-free readers that
// callers use only after checking the bounds themselves.

import { BgpEncodeError } from './errors.js';

export function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

export function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

export function checkU8(value: number, what: string): number {
  if ((value & 0xff) !== value)
    throw new BgpEncodeError('out-of-range', `${what} ${value} is not 0..255`);
  return value;
}

export function checkU16(value: number, what: string): number {
  if ((value & 0xffff) !== value) {
    throw new BgpEncodeError('out-of-range', `${what} ${value} is not 0..65535`);
  }
  return value;
}

export function checkU32(value: number, what: string): number {
  if (value >>> 0 !== value) {
    throw new BgpEncodeError('out-of-range', `${what} ${value} is not 0..4294967295`);
  }
  return value;
}

/** Big-endian writer over a growing buffer. The u* methods check their ranges. */
export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity);
  }

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  u8(value: number, what = 'octet'): void {
    checkU8(value, what);
    this.ensure(1);
    this.buf[this.pos++] = value;
  }

  u16(value: number, what = 'field'): void {
    checkU16(value, what);
    this.ensure(2);
    this.buf[this.pos++] = value >>> 8;
    this.buf[this.pos++] = value & 0xff;
  }

  u32(value: number, what = 'field'): void {
    checkU32(value, what);
    this.ensure(4);
    this.buf[this.pos++] = value >>> 24;
    this.buf[this.pos++] = (value >>> 16) & 0xff;
    this.buf[this.pos++] = (value >>> 8) & 0xff;
    this.buf[this.pos++] = value & 0xff;
  }

  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** Writes 0 in a 2-octet slot and returns its offset, for patch16. */
  reserve16(): number {
    this.ensure(2);
    const at = this.pos;
    this.buf[this.pos++] = 0;
    this.buf[this.pos++] = 0;
    return at;
  }

  patch16(at: number, value: number, what = 'length'): void {
    checkU16(value, what);
    this.buf[at] = value >>> 8;
    this.buf[at + 1] = value & 0xff;
  }

  patch8(at: number, value: number, what = 'length'): void {
    checkU8(value, what);
    this.buf[at] = value;
  }

  /** A right-sized copy of what was written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/**
 * A fresh plain Uint8Array holding buf[start..end). Not buf.slice(): on a
 * Node Buffer (what sockets deliver) slice() is a view that aliases the input.
 */
export function copyBytes(buf: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(buf.subarray(start, end));
  return out;
}
