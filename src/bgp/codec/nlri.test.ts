import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { formatCidr, makeCidr, parseCidr } from '../../model/cidr.js';
import { ByteWriter } from './wire.js';
import {
  canonicalPrefix,
  decodePrefixes,
  formatIPv6,
  parseIPv4,
  parsePrefix,
  prefixWireLength,
  writePrefix,
  writePrefixes,
} from './nlri.js';
import { BgpEncodeError } from './errors.js';
import * as arb from './test-support/arbitraries.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

function decode(buf: Uint8Array, afi: number, pathIds?: number[]): string[] | string {
  const out: string[] = [];
  const bad = decodePrefixes(buf, 0, buf.length, afi, out, pathIds);
  return bad ?? out;
}

function bigintOf(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

describe('prefix decoding', () => {
  it('decodes IPv4 prefixes of every length into canonical text', () => {
    assert.deepEqual(decode(bytes(0, 8, 10, 24, 192, 168, 1, 32, 1, 2, 3, 4), 1), [
      '0.0.0.0/0',
      '10.0.0.0/8',
      '192.168.1.0/24',
      '1.2.3.4/32',
    ]);
  });

  it('clears host bits (RFC 4271 §4.3: trailing bits are irrelevant)', () => {
    assert.deepEqual(decode(bytes(20, 10, 1, 0xff), 1), ['10.1.240.0/20']);
    assert.deepEqual(decode(bytes(1, 0xff), 1), ['128.0.0.0/1']);
  });

  it('rejects a length over 32 / 128 and a prefix cut off (RFC 7606 §5.3)', () => {
    assert.match(decode(bytes(33, 1, 2, 3, 4, 5), 1) as string, /exceeds 32/);
    assert.match(decode(bytes(24, 10, 0), 1) as string, /cut off/);
    assert.match(decode(bytes(129, ...new Array<number>(17).fill(0)), 2) as string, /exceeds 128/);
    assert.match(decode(bytes(64, 0x20, 0x01), 2) as string, /cut off/);
  });

  it('reads RFC 7911 path identifiers before each prefix', () => {
    const ids: number[] = [];
    assert.deepEqual(decode(bytes(0, 0, 0, 7, 24, 10, 0, 0, 0xff, 0xff, 0xff, 0xff, 0), 1, ids), [
      '10.0.0.0/24',
      '0.0.0.0/0',
    ]);
    assert.deepEqual(ids, [7, 0xffffffff]);
    assert.match(decode(bytes(0, 0, 0), 1, []) as string, /path identifier/);
  });

  it('formats IPv6 exactly as model/cidr does (RFC 5952), for random prefixes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 128 }),
        (addr, len) => {
          const octets = (len + 7) >> 3;
          const wire = Uint8Array.of(len, ...addr.subarray(0, octets));
          const expected = formatCidr(makeCidr(6, bigintOf(addr), len));
          assert.deepEqual(decode(wire, 2), [expected]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('formats IPv4 exactly as model/cidr does, for random prefixes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 32 }),
        (addr, len) => {
          const wire = Uint8Array.of(len, ...addr.subarray(0, (len + 7) >> 3));
          assert.deepEqual(decode(wire, 1), [formatCidr(makeCidr(4, bigintOf(addr), len))]);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('formats special IPv6 addresses per RFC 5952', () => {
    const v6 = (s: string): string => {
      const cidr = parseCidr(`${s}/128`);
      const b = new Uint8Array(16);
      let v = cidr.network;
      for (let i = 15; i >= 0; i--, v >>= 8n) b[i] = Number(v & 0xffn);
      return formatIPv6(b, 0);
    };
    assert.equal(v6('::'), '::');
    assert.equal(v6('::1'), '::1');
    assert.equal(v6('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // leftmost of equal runs
    assert.equal(v6('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1'); // longest run
    assert.equal(v6('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // a single zero group is not compressed
    assert.equal(v6('::ffff:10.1.2.3'), '::ffff:10.1.2.3');
  });
});

describe('prefix encoding', () => {
  it('round trips random IPv4 and IPv6 prefixes with and without path identifiers', () => {
    fc.assert(
      fc.property(
        fc.array(arb.ipv4Prefix, { maxLength: 20 }),
        fc.array(arb.ipv6Prefix, { maxLength: 20 }),
        fc.boolean(),
        (v4, v6, withIds) => {
          for (const [afi, prefixes] of [
            [1, v4],
            [2, v6],
          ] as const) {
            const ids = withIds ? prefixes.map((_, i) => i * 7919) : undefined;
            const w = new ByteWriter(16);
            writePrefixes(w, prefixes, afi, ids);
            const expectedSize = prefixes.reduce((n, p) => n + prefixWireLength(p, withIds), 0);
            assert.equal(w.pos, expectedSize);
            const out: string[] = [];
            const outIds = withIds ? [] : undefined;
            assert.equal(decodePrefixes(w.buf, 0, w.pos, afi, out, outIds), undefined);
            assert.deepEqual(out, prefixes);
            assert.deepEqual(outIds, ids);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses non-canonical or malformed prefix text with a typed error', () => {
    for (const [prefix, afi] of [
      ['10.0.0.1/24', 1],
      ['10.0.0.0/33', 1],
      ['10.0.0.0/024', 1],
      ['10.0.0.0', 1],
      ['010.0.0.0/8', 1],
      ['10.0.0.0/8 ', 1],
      ['2001:db8::/32', 1],
      ['10.0.0.0/8', 2],
      ['2001:db8::1/64', 2],
      ['2001:db8:::/48', 2],
      ['2001:db8::/129', 2],
    ] as const) {
      assert.throws(
        () => writePrefix(new ByteWriter(), prefix, afi),
        (e: unknown) => e instanceof BgpEncodeError && e.kind === 'invalid-prefix',
        prefix,
      );
    }
  });

  it('parses and canonicalises prefix text', () => {
    assert.deepEqual(parsePrefix('10.1.0.0/16'), {
      afi: 1,
      length: 16,
      bytes: Uint8Array.of(10, 1, 0, 0),
    });
    assert.equal(parsePrefix('10.1.0.1/16'), undefined);
    assert.equal(canonicalPrefix('10.1.2.3/16'), '10.1.0.0/16');
    assert.equal(canonicalPrefix('2001:DB8::1/32'), '2001:db8::/32');
    assert.equal(canonicalPrefix('2001:db8::/200'), undefined);
    assert.equal(parseIPv4('1.2.3.4'), 0x01020304);
    assert.equal(parseIPv4('1.2.3'), -1);
    assert.equal(parseIPv4('1.2.3.256'), -1);
  });
});
