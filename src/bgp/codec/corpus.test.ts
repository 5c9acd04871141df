// Walks testdata/: every hand-built malformed message must get exactly the
// reaction its file names (RFC 4271 §6, RFC 7606, RFC 6793, RFC 7313).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { decodeMessage, encodeMessage, endOfRibFamily, type CodecContext } from './index.js';

interface CorpusEntry {
  description: string;
  rfc: string;
  context?: CodecContext;
  bytes: string[];
  expect: {
    action: string;
    code?: number;
    subcode?: number;
    data?: string;
    withdrawn?: { afi: number; safi: number; prefixes: string[] }[];
    discarded?: number[];
    nlri?: string[];
    unknown?: number[];
    endOfRib?: { afi: number; safi: number };
  };
}

const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'testdata');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

function hexOf(lines: string[]): Uint8Array {
  const hex = lines.map((l) => l.replace(/#.*$/, '').replace(/\s+/g, '')).join('');
  assert.match(hex, /^(?:[0-9a-f]{2})*$/, 'bytes must be whole octets of hex');
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('malformed-message corpus', () => {
  it('has entries', () => assert.ok(files.length >= 60, `only ${files.length} corpus files`));

  for (const file of files) {
    const entry = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CorpusEntry;
    it(`${file.replace(/\.json$/, '')}: ${entry.description} (${entry.rfc})`, () => {
      const ctx = entry.context ?? { fourOctetAs: false };
      const result = decodeMessage(hexOf(entry.bytes), ctx);
      const e = entry.expect;
      if (e.action === 'ok') {
        assert.ok(
          result.ok,
          `expected a message, got ${JSON.stringify(!result.ok && result.error)}`,
        );
        const m = result.message;
        assert.equal(m.type, 'update');
        if (m.type !== 'update') return;
        if (e.nlri) assert.deepEqual(m.nlri, e.nlri);
        if (e.unknown)
          assert.deepEqual(
            m.attributes.unknown?.map((u) => u.type),
            e.unknown,
          );
        if (e.endOfRib) assert.deepEqual(endOfRibFamily(m), e.endOfRib);
        // Whatever decodes must re-encode and decode to the same value.
        assert.deepEqual(decodeMessage(encodeMessage(m, ctx), ctx), result);
        return;
      }
      assert.ok(!result.ok, `expected ${e.action}, got a message`);
      const err = result.error;
      assert.equal(err.action, e.action, err.reason);
      if (e.code !== undefined) assert.equal(err.code, e.code, err.reason);
      if (e.subcode !== undefined) assert.equal(err.subcode, e.subcode, err.reason);
      if (e.data !== undefined) assert.equal(toHex(err.data), e.data);
      if (e.withdrawn !== undefined) {
        assert.equal(err.action, 'treat-as-withdraw');
        if (err.action === 'treat-as-withdraw') assert.deepEqual(err.withdrawn, e.withdrawn);
      }
      if (e.discarded !== undefined) {
        assert.equal(err.action, 'attribute-discard');
        if (err.action === 'attribute-discard') assert.deepEqual(err.discarded, e.discarded);
      }
    });
  }
});
