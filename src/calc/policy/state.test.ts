import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyPolicyUpdates,
  copyPolicyState,
  DEFAULT_SETTINGS,
  emptyPolicyState,
} from './state.js';

describe('policy state', () => {
  it('a copy and its original change independently (set elements shared until one side changes them)', () => {
    const a = emptyPolicyState(DEFAULT_SETTINGS);
    applyPolicyUpdates(a, [
      { type: 'set-create', spec: { name: 's1-a4', family: 4, kind: 'addr' } },
      { type: 'set-create', spec: { name: 's2-a4', family: 4, kind: 'addr' } },
      { type: 'set-delta', name: 's1-a4', add: ['10.0.0.1', '10.0.0.2'], remove: [] },
      { type: 'set-delta', name: 's2-a4', add: ['10.0.0.3'], remove: [] },
    ]);
    const b = copyPolicyState(a);
    const c = copyPolicyState(b);
    applyPolicyUpdates(a, [
      { type: 'set-delta', name: 's1-a4', add: ['10.0.0.9'], remove: ['10.0.0.1'] },
    ]);
    applyPolicyUpdates(b, [{ type: 'set-delta', name: 's1-a4', add: ['10.0.0.7'], remove: [] }]);
    const elements = (s: typeof a, name: string) => [...s.sets.get(name)!.elements].sort();
    assert.deepEqual(elements(a, 's1-a4'), ['10.0.0.2', '10.0.0.9']);
    assert.deepEqual(elements(b, 's1-a4'), ['10.0.0.1', '10.0.0.2', '10.0.0.7']);
    assert.deepEqual(elements(c, 's1-a4'), ['10.0.0.1', '10.0.0.2']);
    // A set nobody changed is still one object, not a copy per state.
    assert.equal(a.sets.get('s2-a4')!.elements, c.sets.get('s2-a4')!.elements);
    applyPolicyUpdates(c, [{ type: 'set-delta', name: 's2-a4', add: [], remove: ['10.0.0.3'] }]);
    assert.deepEqual(elements(a, 's2-a4'), ['10.0.0.3']);
    assert.deepEqual(elements(c, 's2-a4'), []);
    // The last holder of a set changes it in place (no copy nobody needs).
    const d = copyPolicyState(c);
    const before = d.sets.get('s2-a4')!.elements;
    applyPolicyUpdates(c, [{ type: 'set-delta', name: 's2-a4', add: ['10.0.0.4'], remove: [] }]);
    applyPolicyUpdates(d, [{ type: 'set-delta', name: 's2-a4', add: ['10.0.0.5'], remove: [] }]);
    assert.equal(d.sets.get('s2-a4')!.elements, before);
    assert.deepEqual(elements(c, 's2-a4'), ['10.0.0.4']);
    assert.deepEqual(elements(d, 's2-a4'), ['10.0.0.5']);
  });
});
