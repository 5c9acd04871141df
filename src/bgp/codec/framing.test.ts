import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
  MessageReader,
  encodeMessage,
  makeOpen,
  type BgpMessage,
  type CodecContext,
  type ReadResult,
} from './index.js';
import * as arb from './test-support/arbitraries.js';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function drain(reader: MessageReader): ReadResult[] {
  return [...reader.messages()];
}

const KEEPALIVE = encodeMessage({ type: 'keepalive' });

describe('MessageReader', () => {
  it('yields the same messages however the stream is cut (property)', () => {
    fc.assert(
      fc.property(
        arb.context.chain((ctx) =>
          fc.tuple(fc.constant(ctx), fc.array(arb.message(ctx), { minLength: 1, maxLength: 8 })),
        ),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
        ([ctx, messages], cuts) => {
          const encoded: Uint8Array[] = [];
          const kept: BgpMessage[] = [];
          for (const m of messages) {
            try {
              encoded.push(encodeMessage(m, ctx));
              kept.push(m);
            } catch {
              // too long for this context: leave it out
            }
          }
          const stream = concat(encoded);
          const reader = new MessageReader(ctx, 64);
          const got: ReadResult[] = [];
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const size = cuts[i % cuts.length]!;
            reader.push(stream.subarray(at, at + size));
            at += size;
            got.push(...drain(reader));
          }
          assert.equal(reader.buffered, 0);
          assert.deepEqual(
            got,
            kept.map((message) => ({ ok: true, message })),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('waits for the rest of a message split one octet at a time', () => {
    const reader = new MessageReader();
    for (const b of KEEPALIVE.subarray(0, 18)) {
      reader.push(Uint8Array.of(b));
      assert.equal(reader.next(), undefined);
    }
    reader.push(KEEPALIVE.subarray(18));
    assert.deepEqual(reader.next(), { ok: true, message: { type: 'keepalive' } });
    assert.equal(reader.next(), undefined);
  });

  it('applies a context change to the messages after the one being handled', () => {
    // OPEN, KEEPALIVE and a 4-octet-AS UPDATE arrive in one chunk; the session
    // switches to the negotiated context on seeing the OPEN.
    const update: BgpMessage = {
      type: 'update',
      withdrawn: [],
      attributes: {
        origin: 0,
        asPath: [{ type: 'sequence', asns: [4200000001] }],
        nextHop: '192.0.2.1',
      },
      nlri: ['10.0.0.0/24'],
    };
    const four: CodecContext = { fourOctetAs: true };
    const chunk = concat([
      encodeMessage(makeOpen({ asn: 4200000001, holdTime: 90, bgpId: '10.0.0.1' })),
      KEEPALIVE,
      encodeMessage(update, four),
    ]);
    const reader = new MessageReader();
    reader.push(chunk);
    const seen: ReadResult[] = [];
    for (const r of reader.messages()) {
      seen.push(r);
      if (r.ok && r.message.type === 'open') reader.context = four;
    }
    assert.deepEqual(
      seen.map((r) => r.ok && r.message.type),
      ['open', 'keepalive', 'update'],
    );
    assert.deepEqual(seen[2], { ok: true, message: update });
  });

  it('reports a bad marker once (1/1) and then stops', () => {
    const bad = KEEPALIVE.slice();
    bad[3] = 0;
    const reader = new MessageReader();
    reader.push(concat([KEEPALIVE, bad, KEEPALIVE]));
    const results = drain(reader);
    assert.equal(results.length, 2);
    assert.deepEqual(results[0], { ok: true, message: { type: 'keepalive' } });
    const second = results[1]!;
    assert.ok(!second.ok);
    assert.deepEqual([second.error.code, second.error.subcode], [1, 1]);
    reader.push(KEEPALIVE);
    assert.equal(reader.next(), undefined);
    assert.ok(reader.failed);
  });

  it('rejects a length over 4096 (1/2, length as data) but takes it with extended messages', () => {
    const update = encodeMessage(
      {
        type: 'update',
        withdrawn: Array.from({ length: 1500 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`),
        attributes: {},
        nlri: [],
      },
      { fourOctetAs: true, extendedMessage: true },
    );
    assert.ok(update.length > 4096);
    const plain = new MessageReader({ fourOctetAs: true });
    plain.push(update.subarray(0, 19));
    const r = plain.next();
    assert.ok(r && !r.ok);
    assert.deepEqual(
      [r.error.code, r.error.subcode, [...r.error.data]],
      [1, 2, [update[16], update[17]]],
    );

    const extended = new MessageReader({ fourOctetAs: true, extendedMessage: true });
    extended.push(update);
    const ok = extended.next();
    assert.ok(ok?.ok && ok.message.type === 'update' && ok.message.withdrawn.length === 1500);
  });

  it('copies its input: the caller may reuse the chunk buffer', () => {
    const reader = new MessageReader();
    const chunk = Buffer.from(concat([KEEPALIVE, KEEPALIVE.subarray(0, 10)]));
    reader.push(chunk);
    chunk.fill(0);
    reader.push(KEEPALIVE.subarray(10));
    assert.deepEqual(
      drain(reader).map((r) => r.ok),
      [true, true],
    );
  });
});
