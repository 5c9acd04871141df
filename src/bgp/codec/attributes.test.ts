import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
  AS_TRANS,
  asPathLength,
  decodeMessage,
  encodeAttributes,
  encodeMessage,
  isPartial,
  readvertise,
  reconstructAsPath,
  type CodecContext,
  type PathAttributes,
  type UpdateMessage,
} from './index.js';
import { decodeAttributes } from './attributes.js';
import * as arb from './test-support/arbitraries.js';

const C2: CodecContext = { fourOctetAs: false };
const C4: CodecContext = { fourOctetAs: true };
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function roundTrip(attrs: PathAttributes, ctx: CodecContext): PathAttributes {
  const bytes = encodeAttributes(attrs, ctx);
  const decoded = decodeAttributes(bytes, 0, bytes.length, ctx);
  assert.equal(decoded.fatal, undefined);
  assert.deepEqual(decoded.problems, []);
  return decoded.attributes;
}

describe('each attribute round trips on its own', () => {
  for (const ctx of [
    C2,
    C4,
    { fourOctetAs: true, addPath: { ipv4Unicast: true, ipv6Unicast: true } },
  ]) {
    it(`under ${JSON.stringify(ctx)}`, () => {
      fc.assert(
        fc.property(arb.attributes(ctx), (all) => {
          // One attribute at a time, then all together.
          for (const key of Object.keys(all) as (keyof PathAttributes)[]) {
            const one = { [key]: all[key] } as PathAttributes;
            assert.deepEqual(roundTrip(one, ctx), one, key);
          }
          assert.deepEqual(roundTrip(all, ctx), all);
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('2-octet and 4-octet AS numbers (RFC 6793)', () => {
  const path = [{ type: 'sequence' as const, asns: [4200000001, 65001, 70000] }];

  it('a 4-octet session carries 4-octet ASNs and never sends AS4_PATH', () => {
    const attrs: PathAttributes = {
      asPath: path,
      as4Path: path,
      as4Aggregator: { asn: 70000, address: '1.2.3.4' },
    };
    assert.deepEqual(roundTrip(attrs, C4), { asPath: path });
  });

  it('a 2-octet session gets AS_TRANS in AS_PATH and the real path in AS4_PATH', () => {
    const decoded = roundTrip(
      { asPath: path, aggregator: { asn: 70000, address: '10.0.0.1' } },
      C2,
    );
    assert.deepEqual(decoded.asPath, [{ type: 'sequence', asns: [AS_TRANS, 65001, AS_TRANS] }]);
    assert.deepEqual(decoded.as4Path, path);
    assert.deepEqual(decoded.aggregator, { asn: AS_TRANS, address: '10.0.0.1' });
    assert.deepEqual(decoded.as4Aggregator, { asn: 70000, address: '10.0.0.1' });
    assert.deepEqual(reconstructAsPath(decoded), path);
  });

  it('confederation segments stay out of AS4_PATH', () => {
    const decoded = roundTrip(
      { asPath: [{ type: 'confed-sequence', asns: [64512] }, ...path] },
      C2,
    );
    assert.deepEqual(decoded.as4Path, path);
    assert.deepEqual(reconstructAsPath(decoded), [
      { type: 'confed-sequence', asns: [64512] },
      ...path,
    ]);
  });

  it('reconstruction prepends what AS_PATH has beyond AS4_PATH (an OLD speaker prepended)', () => {
    const attrs: PathAttributes = {
      asPath: [{ type: 'sequence', asns: [65010, 65011, AS_TRANS, 65001] }],
      as4Path: [{ type: 'sequence', asns: [4200000001, 65001] }],
    };
    assert.deepEqual(reconstructAsPath(attrs), [
      { type: 'sequence', asns: [65010, 65011] },
      { type: 'sequence', asns: [4200000001, 65001] },
    ]);
    // AS4_PATH longer than AS_PATH: ignored.
    assert.deepEqual(
      reconstructAsPath({ asPath: [{ type: 'sequence', asns: [1] }], as4Path: attrs.as4Path }),
      [{ type: 'sequence', asns: [1] }],
    );
  });

  it('AS_PATH length counts a set as one and confederation segments as none', () => {
    assert.equal(
      asPathLength([
        { type: 'sequence', asns: [1, 2, 3] },
        { type: 'set', asns: [4, 5] },
        { type: 'confed-sequence', asns: [6, 7] },
      ]),
      4,
    );
    assert.equal(asPathLength(undefined), 0);
  });

  it('a sequence longer than 255 ASNs is split into segments', () => {
    const asns = Array.from({ length: 300 }, (_, i) => i + 1);
    const decoded = roundTrip({ asPath: [{ type: 'sequence', asns }] }, C4);
    assert.deepEqual(decoded.asPath, [
      { type: 'sequence', asns: asns.slice(0, 255) },
      { type: 'sequence', asns: asns.slice(255) },
    ]);
    assert.equal(asPathLength(decoded.asPath), 300);
  });
});

describe('unrecognised attributes', () => {
  const update = (attrs: string): Uint8Array => {
    const a = hex(attrs);
    const body = hex(`0000 ${a.length.toString(16).padStart(4, '0')}`);
    const total = 19 + body.length + a.length;
    return Uint8Array.from([
      ...new Array<number>(16).fill(0xff),
      total >> 8,
      total & 0xff,
      2,
      ...body,
      ...a,
    ]);
  };

  it('keeps optional transitive ones and sets Partial when passing them on (RFC 4271 §5)', () => {
    const r = decodeMessage(update('c0 63 02 abcd  c0 64 01 ee'), C4);
    assert.ok(r.ok && r.message.type === 'update');
    const attrs = r.message.attributes;
    assert.deepEqual(attrs.unknown, [
      { type: 99, flags: 0xc0, value: hex('abcd') },
      { type: 100, flags: 0xc0, value: hex('ee') },
    ]);
    assert.equal(isPartial(attrs.unknown![0]!), false);
    const onward = readvertise(attrs);
    assert.ok(onward.unknown!.every(isPartial));
    assert.equal(attrs.unknown![0]!.flags, 0xc0, 'readvertise does not change its input');
    const again = decodeMessage(encodeMessage({ ...r.message, attributes: onward }, C4), C4);
    assert.ok(again.ok && again.message.type === 'update');
    assert.deepEqual(
      again.message.attributes.unknown?.map((u) => u.flags),
      [0xe0, 0xe0],
    );
  });

  it('drops optional non-transitive ones quietly', () => {
    const r = decodeMessage(update('80 63 02 abcd'), C4);
    assert.ok(r.ok && r.message.type === 'update');
    assert.deepEqual(r.message.attributes, {});
  });

  it('keeps an unknown attribute of over 255 octets with the Extended Length bit', () => {
    const value = new Uint8Array(300).fill(7);
    const m: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: { unknown: [{ type: 200, flags: 0xc0, value }] },
      nlri: [],
    };
    const bytes = encodeMessage(m, C4);
    assert.equal(bytes[23], 0xd0); // Optional | Transitive | Extended Length
    const r = decodeMessage(bytes, C4);
    assert.ok(r.ok);
    assert.deepEqual(r.message, m);
  });

  it('keeps MP_REACH/MP_UNREACH of families it does not parse, opaque', () => {
    const m: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: {
        mpUnreach: { afi: 25, safi: 65, withdrawn: [], opaque: hex('0102') },
        mpReach: {
          afi: 1,
          safi: 128,
          nextHop: '',
          nlri: [],
          opaque: { nextHop: hex('000000000000000001020304'), nlri: hex('70') },
        },
        origin: 0,
        asPath: [],
      },
      nlri: [],
    };
    const r = decodeMessage(encodeMessage(m, C4), C4);
    assert.ok(r.ok);
    assert.deepEqual(r.message, m);
  });
});

describe('decoded values never alias the input', () => {
  it('a Buffer decoded then overwritten leaves the message intact', () => {
    const m: UpdateMessage = {
      type: 'update',
      withdrawn: [],
      attributes: {
        origin: 0,
        asPath: [],
        nextHop: '192.0.2.1',
        unknown: [{ type: 99, flags: 0xc0, value: hex('abcd') }],
      },
      nlri: ['10.0.0.0/24'],
    };
    const buf = Buffer.from(encodeMessage(m, C4));
    const r = decodeMessage(buf, C4);
    buf.fill(0);
    assert.ok(r.ok);
    assert.deepEqual(r.message, m);
    const value =
      r.ok && r.message.type === 'update' ? r.message.attributes.unknown![0]!.value : undefined;
    assert.equal(
      Object.getPrototypeOf(value),
      Uint8Array.prototype,
      'a plain Uint8Array, not a Buffer view',
    );
  });
});
