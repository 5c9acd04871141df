// Fuzzing: random bytes, random bodies behind valid headers, and mutations of
// valid messages. The decoder must never throw, must answer every input with
// a message or a typed error, and whatever it accepts must re-encode to bytes
// that decode to the same value.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import {
  BgpEncodeError,
  INTERNAL_ERROR_REASON,
  MessageReader,
  decodeMessage,
  encodeMessage,
  type CodecContext,
  type DecodeResult,
} from './index.js';
import * as arb from './test-support/arbitraries.js';

const ACTIONS = new Set([
  'notification',
  'session-reset',
  'treat-as-withdraw',
  'attribute-discard',
]);

function checkResult(result: DecodeResult, ctx: CodecContext): void {
  if (!result.ok) {
    const e = result.error;
    assert.ok(ACTIONS.has(e.action), `untyped action ${String(e.action)}`);
    assert.ok(!e.reason.startsWith(INTERNAL_ERROR_REASON), e.reason);
    assert.ok(Number.isInteger(e.code) && e.code >= 1 && e.code <= 7, `code ${e.code}`);
    assert.ok(Number.isInteger(e.subcode) && e.subcode >= 0 && e.subcode <= 255);
    assert.ok(e.data instanceof Uint8Array);
    if (e.action === 'attribute-discard') checkStable(e.update, ctx);
    if (e.action === 'treat-as-withdraw') {
      for (const f of e.withdrawn) assert.ok(f.prefixes.every((p) => typeof p === 'string'));
    }
    return;
  }
  checkStable(result.message, ctx);
}

/** decode → encode → decode is the identity on what the decoder produced. */
function checkStable(message: Parameters<typeof encodeMessage>[0], ctx: CodecContext): void {
  let bytes: Uint8Array;
  try {
    bytes = encodeMessage(message, ctx);
  } catch (e) {
    // The re-encoding may grow by an octet per MP attribute (always 2-octet lengths).
    if (e instanceof BgpEncodeError && e.kind === 'message-too-long') return;
    throw e;
  }
  const again = decodeMessage(bytes, ctx);
  assert.ok(again.ok, !again.ok ? again.error.reason : '');
  assert.deepEqual(again.message, message);
}

function withHeader(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(19 + body.length);
  out.fill(0xff, 0, 16);
  out[16] = out.length >> 8;
  out[17] = out.length & 0xff;
  out[18] = type;
  out.set(body, 19);
  return out;
}

type Mutation =
  | { kind: 'flip' | 'insert'; at: number; value: number }
  | { kind: 'truncate' | 'delete'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);

function mutate(bytes: Uint8Array, ms: Mutation[], fixLength: boolean): Uint8Array {
  let b = Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip') b[at] = m.value;
    else if (m.kind === 'insert') b.splice(at, 0, m.value);
    else if (m.kind === 'truncate') b = b.slice(0, at);
    else b.splice(at, 1);
  }
  if (fixLength && b.length >= 19) {
    b[16] = (b.length >> 8) & 0xff;
    b[17] = b.length & 0xff;
  }
  return Uint8Array.from(b);
}

describe('fuzz', () => {
  it('random bytes: never throws, always a message or a typed error', () => {
    fc.assert(
      fc.property(arb.context, fc.uint8Array({ maxLength: 300 }), (ctx, bytes) => {
        checkResult(decodeMessage(bytes, ctx), ctx);
      }),
      { numRuns: 3000 },
    );
  });

  it('random bodies behind a valid header of every type', () => {
    fc.assert(
      fc.property(
        arb.context,
        fc.integer({ min: 1, max: 5 }),
        fc.uint8Array({ maxLength: 400 }),
        (ctx, type, body) => {
          checkResult(decodeMessage(withHeader(type, body), ctx), ctx);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('UPDATE bodies made of plausible attribute headers', () => {
    // Bias towards deep parsing: lengths consistent, attribute types known.
    const attribute = fc
      .tuple(
        fc.constantFrom(0x40, 0x80, 0xc0, 0xe0, 0x50, 0x90, 0x00),
        fc.constantFrom(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32, 99),
        fc.uint8Array({ maxLength: 40 }),
      )
      .map(([flags, type, value]) =>
        flags & 0x10
          ? [flags, type, value.length >> 8, value.length & 255, ...value]
          : [flags, type, value.length, ...value],
      );
    fc.assert(
      fc.property(
        arb.context,
        fc.array(attribute, { maxLength: 8 }),
        fc.uint8Array({ maxLength: 30 }),
        fc.uint8Array({ maxLength: 12 }),
        (ctx, attrs, nlri, withdrawn) => {
          const a = attrs.flat();
          const body = Uint8Array.from([
            withdrawn.length >> 8,
            withdrawn.length & 255,
            ...withdrawn,
            a.length >> 8,
            a.length & 255,
            ...a,
            ...nlri,
          ]);
          checkResult(decodeMessage(withHeader(2, body), ctx), ctx);
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('mutations of valid messages', () => {
    fc.assert(
      fc.property(
        arb.contextAndMessage,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        ([ctx, message], ms, fixLength) => {
          let bytes: Uint8Array;
          try {
            bytes = encodeMessage(message, ctx);
          } catch {
            return;
          }
          checkResult(decodeMessage(mutate(bytes, ms, fixLength), ctx), ctx);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('the stream reader survives garbage', () => {
    fc.assert(
      fc.property(
        arb.context,
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
        (ctx, chunks) => {
          const reader = new MessageReader(ctx);
          for (const c of chunks) {
            reader.push(c);
            for (const r of reader.messages()) checkResult(r, ctx);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
