// Keeps bench.ts honest: every scenario builds and decodes completely (small sizes).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SCENARIOS, runDecodeBenchmark } from './bench.js';
import { decodeMessage, INTERNAL_ERROR_REASON } from './index.js';

describe('decode benchmark', () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario} decodes every prefix`, () => {
      const r = runDecodeBenchmark(scenario, 5000, 1);
      assert.equal(r.prefixes, 5000);
      assert.ok(r.prefixesPerSecond > 0);
    });
  }

  it('decodeMessage answers even a non-Uint8Array from an untyped caller', () => {
    const r = decodeMessage(null as unknown as Uint8Array);
    assert.ok(
      !r.ok &&
        r.error.action === 'notification' &&
        r.error.reason.startsWith(INTERNAL_ERROR_REASON),
    );
  });
});
