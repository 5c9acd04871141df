import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseSelector } from '../../model/selector.js';
import { entityRuleSelector, policySelector, SelectorIndex } from './selectors.js';

const SELECTORS = [
  "app == 'a'",
  "app == 'b' && color == 'red'",
  'has(color)',
  "!has(color) || app == 'a'",
  'all()',
  "app in {'a'}",
  "projectcalico.org/namespace == 'n1' && app == 'a'",
  "color != 'red'",
];

const labels = fc.record(
  {
    app: fc.constantFrom('a', 'b', 'c'),
    color: fc.constantFrom('red', 'blue'),
    'projectcalico.org/namespace': fc.constantFrom('n1', 'n2'),
  },
  { requiredKeys: [] },
);

type Op =
  | { kind: 'item'; id: number; labels: Record<string, string> }
  | { kind: 'delItem'; id: number }
  | { kind: 'sel'; id: number; text: string }
  | { kind: 'delSel'; id: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('item' as const), id: fc.nat({ max: 6 }), labels }),
  fc.record({ kind: fc.constant('delItem' as const), id: fc.nat({ max: 6 }) }),
  fc.record({
    kind: fc.constant('sel' as const),
    id: fc.nat({ max: 4 }),
    text: fc.constantFrom(...SELECTORS),
  }),
  fc.record({ kind: fc.constant('delSel' as const), id: fc.nat({ max: 4 }) }),
);

describe('selectors', () => {
  it('the incremental index always equals matching every selector against every item', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const events: string[] = [];
        const members = new Map<string, Set<string>>();
        const index = new SelectorIndex({
          onMatch: (s, i) => {
            const m = members.get(s) ?? new Set();
            assert.ok(!m.has(i), 'matched twice');
            m.add(i);
            members.set(s, m);
            events.push(`+${s}${i}`);
          },
          onUnmatch: (s, i) => {
            assert.ok(members.get(s)?.delete(i), 'unmatched a non-member');
          },
        });
        const items = new Map<string, Record<string, string>>();
        const sels = new Map<string, string>();
        for (const o of ops) {
          if (o.kind === 'item') {
            items.set(`i${o.id}`, o.labels);
            index.setItem(`i${o.id}`, o.labels);
          } else if (o.kind === 'delItem') {
            items.delete(`i${o.id}`);
            index.deleteItem(`i${o.id}`);
          } else if (o.kind === 'sel') {
            sels.set(`s${o.id}`, o.text);
            index.setSelector(`s${o.id}`, parseSelector(o.text));
          } else {
            sels.delete(`s${o.id}`);
            index.deleteSelector(`s${o.id}`);
          }
          for (const [sid, text] of sels) {
            const want = [...items]
              .filter(([, l]) => parseSelector(text).matches(l))
              .map(([i]) => i)
              .sort();
            assert.deepEqual([...index.members(sid)].sort(), want);
            assert.deepEqual([...(members.get(sid) ?? [])].sort(), want);
          }
          for (const [iid] of items) {
            const want = [...sels]
              .filter(([, t]) => parseSelector(t).matches(items.get(iid)!))
              .map(([s]) => s)
              .sort();
            assert.deepEqual([...index.selectorsMatching(iid)].sort(), want);
          }
        }
      }),
    );
  });

  it('scopes a namespaced policy and its rules to their namespace, as Calico does', () => {
    const inN1 = { 'projectcalico.org/namespace': 'n1', app: 'a', 'pcns.env': 'prod' };
    const inN2 = { 'projectcalico.org/namespace': 'n2', app: 'a' };
    const host = { app: 'a' };
    const pol = policySelector({
      namespace: 'n1',
      selector: "app == 'a'",
      namespaceSelector: undefined,
    });
    assert.deepEqual(
      [inN1, inN2, host].map((l) => pol.matches(l)),
      [true, false, false],
    );
    const gnp = policySelector({
      namespace: undefined,
      selector: "app == 'a'",
      namespaceSelector: "env == 'prod'",
    });
    assert.deepEqual(
      [inN1, inN2, host].map((l) => gnp.matches(l)),
      [true, false, false],
    );
    // A rule selector in a namespaced policy: its namespace only.
    const r = entityRuleSelector({ selector: "app == 'a'" }, 'n1')!;
    assert.deepEqual(
      [inN1, inN2, host].map((l) => r.matches(l)),
      [true, false, false],
    );
    // namespaceSelector: all() means every namespaced entity; global() the others.
    const all = entityRuleSelector({ selector: "app == 'a'", namespaceSelector: 'all()' }, 'n1')!;
    assert.deepEqual(
      [inN1, inN2, host].map((l) => all.matches(l)),
      [true, true, false],
    );
    const global = entityRuleSelector({ namespaceSelector: 'global()' }, 'n1')!;
    assert.deepEqual(
      [inN1, inN2, host].map((l) => global.matches(l)),
      [false, false, true],
    );
    // Only nets: no selector at all. Only notSelector in a namespaced policy: the namespace.
    assert.equal(entityRuleSelector({ nets: ['10.0.0.0/8'] }, 'n1'), undefined);
    const onlyNot = entityRuleSelector({ notSelector: "app == 'b'" }, 'n1')!;
    assert.deepEqual(
      [inN1, inN2, host].map((l) => onlyNot.matches(l)),
      [true, false, false],
    );
    // In a global policy, a rule selector spans every namespace and non-namespaced entities.
    const g = entityRuleSelector({ selector: "app == 'a'" }, undefined)!;
    assert.deepEqual(
      [inN1, inN2, host].map((l) => g.matches(l)),
      [true, true, true],
    );
  });
});
