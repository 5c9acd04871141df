import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { prefixEnd } from './key-range.js';

/** SQLite's BINARY collation on UTF-8 text. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('prefixEnd', () => {
  it('bumps the last code point', () => {
    assert.equal(prefixEnd('/a/b/'), '/a/b0');
    assert.equal(prefixEnd('x\u{10FFFF}'), 'y');
    assert.equal(prefixEnd('\u{D7FF}'), '\u{E000}');
    assert.equal(prefixEnd(''), undefined);
    assert.equal(prefixEnd('\u{10FFFF}'), undefined);
  });

  it('bounds exactly the strings that start with the prefix', () => {
    const text = fc.string({ unit: 'binary', maxLength: 6 });
    fc.assert(
      fc.property(text, text, text, (prefix, suffix, other) => {
        const end = prefixEnd(prefix);
        for (const key of [
          prefix + suffix,
          other,
          Array.from(prefix).slice(0, -1).join('') + other,
        ]) {
          const inRange =
            byteOrder(key, prefix) >= 0 && (end === undefined || byteOrder(key, end) < 0);
          assert.equal(inRange, key.startsWith(prefix), JSON.stringify({ prefix, key, end }));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
