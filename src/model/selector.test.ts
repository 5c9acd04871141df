import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ALL,
  SelectorError,
  formatSelectorNode,
  isSelectorKey,
  isValidSelector,
  parseSelector,
  selectorFromAst,
  type Labels,
  type SelectorNode,
} from './selector.js';

function matches(selector: string, labels: Labels): boolean {
  return parseSelector(selector).matches(labels);
}

function canonical(selector: string): string {
  return parseSelector(selector).toString();
}

// ---------------------------------------------------------------------------
// Operators

describe('operators', () => {
  const web = { app: 'web', tier: 'frontend' };

  test('== needs the label present with that value', () => {
    assert.equal(matches('app == "web"', web), true);
    assert.equal(matches('app == "db"', web), false);
    assert.equal(matches('missing == "web"', web), false);
    assert.equal(matches('app == ""', web), false);
    assert.equal(matches('app == ""', { app: '' }), true);
  });

  test('!= also matches when the label is absent', () => {
    assert.equal(matches('app != "db"', web), true);
    assert.equal(matches('app != "web"', web), false);
    assert.equal(matches('missing != "web"', web), true);
    assert.equal(matches('missing != ""', {}), true);
  });

  test('in', () => {
    assert.equal(matches('app in {"web", "db"}', web), true);
    assert.equal(matches('app in {"db", "cache"}', web), false);
    assert.equal(matches('missing in {"web"}', web), false);
    assert.equal(matches('app in {}', web), false);
  });

  test('not in also matches when the label is absent', () => {
    assert.equal(matches('app not in {"db", "cache"}', web), true);
    assert.equal(matches('app not in {"web", "db"}', web), false);
    assert.equal(matches('missing not in {"web"}', web), true);
    assert.equal(matches('app not in {}', web), true);
  });

  test('has and !has', () => {
    assert.equal(matches('has(app)', web), true);
    assert.equal(matches('has(missing)', web), false);
    assert.equal(matches('!has(app)', web), false);
    assert.equal(matches('!has(missing)', web), true);
    assert.equal(matches('has(empty)', { empty: '' }), true);
  });

  test('all() and global() match anything', () => {
    for (const labels of [{}, web]) {
      assert.equal(matches('all()', labels), true);
      assert.equal(matches('global()', labels), true);
      assert.equal(matches('!all()', labels), false);
    }
  });

  test('contains, starts with, ends with need the label present', () => {
    assert.equal(matches('tier contains "ont"', web), true);
    assert.equal(matches('tier contains "back"', web), false);
    assert.equal(matches('tier contains ""', web), true);
    assert.equal(matches('missing contains ""', web), false);
    assert.equal(matches('tier starts with "front"', web), true);
    assert.equal(matches('tier starts with "end"', web), false);
    assert.equal(matches('missing starts with ""', web), false);
    assert.equal(matches('tier ends with "end"', web), true);
    assert.equal(matches('tier ends with "front"', web), false);
    assert.equal(matches('missing ends with ""', web), false);
  });

  test('! negates, and can be repeated', () => {
    assert.equal(matches('!app == "web"', web), false);
    assert.equal(matches('!!app == "web"', web), true);
    assert.equal(matches('!(app == "web")', web), false);
    assert.equal(matches('! ! ! has(app)', web), false);
  });

  test('&& and ||', () => {
    assert.equal(matches('app == "web" && tier == "frontend"', web), true);
    assert.equal(matches('app == "web" && tier == "backend"', web), false);
    assert.equal(matches('app == "db" || tier == "frontend"', web), true);
    assert.equal(matches('app == "db" || tier == "backend"', web), false);
    assert.equal(matches('has(app) && has(tier) && !has(x)', web), true);
    assert.equal(matches('has(x) || has(y) || has(tier)', web), true);
  });

  test('&& binds tighter than ||', () => {
    const s = 'a == "1" || b == "2" && c == "3"';
    assert.equal(matches(s, { a: '1' }), true);
    assert.equal(matches(s, { b: '2' }), false);
    assert.equal(matches(s, { b: '2', c: '3' }), true);
    assert.deepEqual(parseSelector(s).ast, {
      kind: 'or',
      operands: [
        { kind: 'eq', key: 'a', value: '1' },
        {
          kind: 'and',
          operands: [
            { kind: 'eq', key: 'b', value: '2' },
            { kind: 'eq', key: 'c', value: '3' },
          ],
        },
      ],
    });
    const grouped = '(a == "1" || b == "2") && c == "3"';
    assert.equal(matches(grouped, { a: '1' }), false);
    assert.equal(matches(grouped, { a: '1', c: '3' }), true);
  });

  test('! binds tighter than && and ||', () => {
    const s = '!has(a) && has(b) || has(c)';
    assert.equal(canonical(s), '!has(a) && has(b) || has(c)');
    assert.equal(matches(s, { b: '' }), true);
    assert.equal(matches(s, { a: '', b: '' }), false);
    assert.equal(matches(s, { a: '', c: '' }), true);
  });

  test('nesting', () => {
    const s = '((a == "1" || (b == "2")) && !(c in {"x", "y"} || d not in {"z"})) || global()';
    assert.equal(matches(s, { a: '1', d: 'z' }), true);
    assert.equal(matches(s, { a: '1', c: 'x', d: 'z' }), true, 'global() is true');
    const withoutGlobal = s.replace(' || global()', '');
    assert.equal(matches(withoutGlobal, { a: '1', d: 'z' }), true);
    assert.equal(matches(withoutGlobal, { a: '1', c: 'x', d: 'z' }), false);
    assert.equal(matches(withoutGlobal, { a: '1' }), false, 'd absent: not in is true');
    assert.equal(
      canonical(withoutGlobal),
      '(a == "1" || b == "2") && !(c in {"x", "y"} || d not in {"z"})',
    );
  });

  test('label lookups never reach Object.prototype', () => {
    assert.equal(matches('has(constructor)', {}), false);
    assert.equal(matches('has(toString)', {}), false);
    assert.equal(matches('constructor != "x"', {}), true);
    assert.equal(matches('toString not in {"x"}', {}), true);
    assert.equal(matches('constructor contains ""', {}), false);
    assert.equal(matches('has(__proto__)', {}), false);
    assert.equal(matches('has(constructor)', { constructor: 'x' }), true);
    assert.equal(matches('constructor == "x"', { constructor: 'x' }), true);
    const bare = Object.assign(Object.create(null) as Record<string, string>, { app: 'web' });
    assert.equal(matches('app == "web" && !has(toString)', bare), true);
  });
});

// ---------------------------------------------------------------------------
// Lexical details

describe('lexical', () => {
  test('keys may hold . / - _ and digits', () => {
    const labels = {
      'projectcalico.org/namespace': 'prod',
      'app.kubernetes.io/name': 'web',
      'x-y_z.0': '1',
      '9': 'nine',
    };
    assert.equal(matches('projectcalico.org/namespace == "prod"', labels), true);
    assert.equal(matches('app.kubernetes.io/name in {"web"}', labels), true);
    assert.equal(matches('has(x-y_z.0) && 9 == "nine"', labels), true);
    assert.deepEqual(
      [
        ...parseSelector('projectcalico.org/namespace == "prod" && has(app.kubernetes.io/name)')
          .labelKeys,
      ],
      ['projectcalico.org/namespace', 'app.kubernetes.io/name'],
    );
  });

  test('function names are ordinary keys when not followed by (', () => {
    assert.equal(matches('has == "x"', { has: 'x' }), true);
    assert.equal(matches('all != "x"', {}), true);
    assert.equal(matches('global in {"g"}', { global: 'g' }), true);
    assert.equal(
      matches('in == "1" && not not in {"2"} && contains contains "3"', {
        in: '1',
        contains: '345',
      }),
      true,
    );
    assert.equal(canonical('has==  "x"'), 'has == "x"');
  });

  test('single and double quotes, no escapes', () => {
    assert.equal(matches("app == 'web'", { app: 'web' }), true);
    assert.equal(matches(`msg == 'say "hi"'`, { msg: 'say "hi"' }), true);
    assert.equal(matches(`msg == "it's"`, { msg: "it's" }), true);
    assert.equal(matches(`msg == "a\\"`, { msg: 'a\\' }), true, 'backslash is literal');
    assert.equal(canonical("app == 'web'"), 'app == "web"');
    assert.equal(canonical(`msg == 'say "hi"'`), `msg == 'say "hi"'`);
    assert.equal(canonical(`msg == "it's"`), `msg == "it's"`);
    assert.equal(canonical(`m in {'"', "'"}`), `m in {'"', "'"}`);
  });

  test('values may hold any characters but their quote', () => {
    const value = 'a && b || (c) {d}, !e == "f';
    const s = `k == '${value}'`;
    assert.equal(matches(s, { k: value }), true);
    assert.equal(parseSelector(canonical(s)).matches({ k: value }), true);
    assert.equal(matches('k == "ünïcødé ✓"', { k: 'ünïcødé ✓' }), true);
  });

  test('whitespace is optional between tokens and allowed anywhere between them', () => {
    const tight = 'a=="1"&&!has(b)||c in{"x","y"}&&(d!="2")';
    const loose =
      ' \t a \n== "1"  &&  ! has ( b )\r\n||  c  in  {  "x" ,  "y"  }  &&  ( d  !=  "2" ) \n';
    assert.deepEqual(parseSelector(tight).ast, parseSelector(loose).ast);
    assert.equal(canonical(tight), 'a == "1" && !has(b) || c in {"x", "y"} && d != "2"');
    assert.equal(canonical('all( )'), 'all()');
    assert.equal(canonical('global ( )'), 'global()');
  });

  test('Calico run-together spellings notin, startswith, endswith', () => {
    assert.equal(canonical('a notin {"x"}'), 'a not in {"x"}');
    assert.equal(canonical('a startswith "x"'), 'a starts with "x"');
    assert.equal(canonical('a endswith "x"'), 'a ends with "x"');
    assert.equal(canonical('a  not\tin {"x"}'), 'a not in {"x"}');
  });

  test('empty and blank selectors are all()', () => {
    for (const text of ['', ' ', '\t\n  ']) {
      const s = parseSelector(text);
      assert.equal(s.source, text);
      assert.deepEqual(s.ast, { kind: 'all' });
      assert.equal(s.toString(), 'all()');
      assert.equal(s.matches({}), true);
      assert.equal(isValidSelector(text), undefined);
    }
    assert.equal(ALL.toString(), 'all()');
    assert.equal(ALL.matches({ anything: 'x' }), true);
    assert.equal(ALL.labelKeys.size, 0);
  });

  test('sets are printed sorted and without duplicates; trailing comma accepted', () => {
    assert.equal(canonical('a in {"c", "a", "b", "a"}'), 'a in {"a", "b", "c"}');
    assert.equal(canonical('a not in {"b", "a",}'), 'a not in {"a", "b"}');
    assert.equal(canonical('a in { }'), 'a in {}');
    assert.deepEqual(parseSelector('a in {"b", "a", "b"}').ast, {
      kind: 'in',
      key: 'a',
      values: ['a', 'b'],
    });
  });
});

// ---------------------------------------------------------------------------
// Canonical form and metadata

describe('canonical form', () => {
  const cases: [input: string, printed: string][] = [
    ['a=="1"', 'a == "1"'],
    ['(a == "1")', 'a == "1"'],
    ['((((has(a)))))', 'has(a)'],
    ['(a == "1" && b == "2") && c == "3"', 'a == "1" && b == "2" && c == "3"'],
    ['a == "1" && (b == "2" && c == "3")', 'a == "1" && b == "2" && c == "3"'],
    ['(a == "1" || b == "2") || c == "3"', 'a == "1" || b == "2" || c == "3"'],
    ['(a == "1" && b == "2") || c == "3"', 'a == "1" && b == "2" || c == "3"'],
    ['a == "1" && (b == "2" || c == "3")', 'a == "1" && (b == "2" || c == "3")'],
    ['!(a == "1")', '!a == "1"'],
    ['!(a == "1" && b == "2")', '!(a == "1" && b == "2")'],
    ['!(!(has(a)))', '!!has(a)'],
    ['!(a in {"x"})', '!a in {"x"}'],
    ["x starts with 'p' || y ends with 's'", 'x starts with "p" || y ends with "s"'],
  ];
  for (const [input, printed] of cases) {
    test(`${input}  ->  ${printed}`, () => {
      const s = parseSelector(input);
      assert.equal(s.source, input);
      assert.equal(s.toString(), printed);
      assert.equal(String(s), printed);
      assert.deepEqual(parseSelector(printed).ast, s.ast);
    });
  }

  test('labelKeys lists every referenced key once', () => {
    const s = parseSelector(
      'a == "1" && (b != "2" || !has(c)) && a in {"x"} && d contains "" && all()',
    );
    assert.deepEqual([...s.labelKeys].sort(), ['a', 'b', 'c', 'd']);
    assert.equal(parseSelector('all()').labelKeys.size, 0);
  });

  test('isGlobal and usesGlobal', () => {
    assert.equal(parseSelector('global()').isGlobal, true);
    assert.equal(parseSelector(' ( global( ) ) ').isGlobal, true);
    assert.equal(parseSelector('global()').usesGlobal, true);
    assert.equal(parseSelector('global() || has(a)').isGlobal, false);
    assert.equal(parseSelector('global() || has(a)').usesGlobal, true);
    assert.equal(parseSelector('!global()').usesGlobal, true);
    assert.equal(parseSelector('all()').isGlobal, false);
    assert.equal(parseSelector('all()').usesGlobal, false);
    assert.equal(parseSelector('global == "x"').usesGlobal, false);
  });

  test('matches can be passed around unbound', () => {
    const { matches: isWeb } = parseSelector('app == "web"');
    assert.deepEqual(
      ([{ app: 'web' }, { app: 'db' }, {}] as Labels[]).map((labels) => isWeb(labels)),
      [true, false, false],
    );
  });
});

// ---------------------------------------------------------------------------
// Errors

describe('errors', () => {
  test('message format', () => {
    assert.throws(
      () => parseSelector('app == '),
      (e: unknown) => {
        assert.ok(e instanceof SelectorError);
        assert.equal(e.message, 'selector "app == " column 8: expected a quoted string');
        assert.equal(e.selector, 'app == ');
        assert.equal(e.column, 8);
        assert.equal(e.reason, 'expected a quoted string');
        return true;
      },
    );
    assert.equal(
      isValidSelector('app == '),
      'selector "app == " column 8: expected a quoted string',
    );
  });

  const cases: [selector: string, column: number, reason: string | RegExp][] = [
    // missing operand / value
    ['app == ', 8, 'expected a quoted string'],
    ['app != tier', 8, 'expected a quoted string'],
    ['app', 4, /^expected an operator/],
    ['app == "a" &&', 14, 'expected an expression'],
    ['app == "a" && ', 15, 'expected an expression'],
    ['&& app == "a"', 1, 'expected an expression'],
    ['app == "a" || || b == "c"', 15, 'expected an expression'],
    ['!', 2, 'expected an expression'],
    ['()', 2, 'expected an expression'],
    ['"app" == "a"', 1, 'expected an expression'],
    // unterminated strings: the column of the opening quote
    ['app == "web', 8, 'unterminated string'],
    ["app == 'web", 8, 'unterminated string'],
    [`app == 'web"`, 8, 'unterminated string'],
    ['a in {"x", "y}', 12, 'unterminated string'],
    // unknown operators
    ['app ~= "a"', 5, /^expected an operator \(==, !=, in, not in/],
    ['app = "a"', 5, /^expected an operator/],
    ['app like "a"', 5, /^unknown operator "like"/],
    ['app inx {"a"}', 5, /^unknown operator "inx"/],
    ['app starts "a"', 12, 'expected "with" after "starts"'],
    ['app ends', 9, 'expected "with" after "ends"'],
    ['app not "a"', 9, 'expected "in" after "not"'],
    ['app not within {"a"}', 9, 'expected "in" after "not"'],
    // bad key characters
    ['ap$p == "a"', 3, 'invalid character "$" in label key'],
    ['app:x == "a"', 4, 'invalid character ":" in label key'],
    ['$app == "a"', 1, 'unexpected character "$"'],
    ['app == "a" && t@ == "b"', 16, 'invalid character "@" in label key'],
    ['has(ap$p)', 7, 'invalid character "$" in label key'],
    ['has()', 5, 'expected a label key in has()'],
    ['has("a")', 5, 'expected a label key in has()'],
    ['has(a', 6, 'expected ) after has('],
    ['has(a b)', 7, 'expected ) after has('],
    ['all(', 5, 'expected ) after all('],
    ['global(x)', 8, 'expected ) after global('],
    // trailing garbage
    ['app == "a" tier == "b"', 12, 'expected &&, || or the end of the selector'],
    ['app == "a" & b == "c"', 12, 'expected &&, || or the end of the selector'],
    ['app == "a" | b == "c"', 12, 'expected &&, || or the end of the selector'],
    ['all() all()', 7, 'expected &&, || or the end of the selector'],
    // unbalanced parentheses
    ['(app == "a"', 12, 'expected ) to close the ( at column 1'],
    ['((app == "a")', 14, 'expected ) to close the ( at column 1'],
    ['x == "1" && (a == "1" || (b == "2")', 36, 'expected ) to close the ( at column 13'],
    ['(app == "a" b', 13, 'expected ), && or ||'],
    ['app == "a")', 11, 'unmatched )'],
    [')', 1, 'expected an expression'],
    // sets
    ['app in "a"', 8, 'expected { to start a set of quoted strings'],
    ['app in {"a" "b"}', 13, 'expected , or } in set'],
    ['app in {"a"', 12, 'expected , or } in set'],
    ['app in {,}', 9, 'expected a quoted string or }'],
    ['app in {"a",,}', 13, 'expected a quoted string or }'],
    ['app in {', 9, 'expected a quoted string or }'],
    // columns count across newlines
    ['a == "1"\n&& b ==', 17, 'expected a quoted string'],
  ];
  for (const [selector, column, reason] of cases) {
    test(`${JSON.stringify(selector)}: column ${column}`, () => {
      assert.throws(
        () => parseSelector(selector),
        (e: unknown) => {
          assert.ok(e instanceof SelectorError, `not a SelectorError: ${String(e)}`);
          if (typeof reason === 'string') assert.equal(e.reason, reason);
          else assert.match(e.reason, reason);
          assert.equal(e.column, column, e.message);
          assert.equal(e.selector, selector);
          return true;
        },
      );
      assert.match(isValidSelector(selector) ?? '', /^selector ".*" column \d+: /s);
    });
  }

  test('isValidSelector is undefined for valid selectors', () => {
    assert.equal(isValidSelector('app == "web" && has(tier)'), undefined);
  });
});

// ---------------------------------------------------------------------------
// selectorFromAst

describe('selectorFromAst', () => {
  test('normalises like the parser', () => {
    const a = { kind: 'has', key: 'a' } as const;
    const b = { kind: 'has', key: 'b' } as const;
    const c = { kind: 'has', key: 'c' } as const;
    const s = selectorFromAst({
      kind: 'and',
      operands: [
        { kind: 'and', operands: [a, b] },
        { kind: 'or', operands: [c] },
      ],
    });
    assert.deepEqual(s.ast, { kind: 'and', operands: [a, b, c] });
    assert.equal(s.source, 'has(a) && has(b) && has(c)');
    assert.deepEqual(
      selectorFromAst({ kind: 'notIn', key: 'k', values: ['z', 'a', 'z'] }).ast,
      parseSelector('k not in {"a", "z"}').ast,
    );
  });

  test('rejects what the grammar cannot express', () => {
    assert.throws(() => selectorFromAst({ kind: 'has', key: '' }), TypeError);
    assert.throws(() => selectorFromAst({ kind: 'has', key: 'a b' }), TypeError);
    assert.throws(() => selectorFromAst({ kind: 'eq', key: 'a', value: `'"` }), TypeError);
    assert.throws(() => selectorFromAst({ kind: 'in', key: 'a', values: ['ok', `"'`] }), TypeError);
    assert.throws(() => selectorFromAst({ kind: 'or', operands: [] }), TypeError);
  });

  test('isSelectorKey', () => {
    assert.equal(isSelectorKey('projectcalico.org/name'), true);
    assert.equal(isSelectorKey(''), false);
    assert.equal(isSelectorKey('a:b'), false);
  });
});

// ---------------------------------------------------------------------------
// Properties

const KEY_POOL = ['a', 'b', 'app', 'has', 'all', 'not', 'in', 'projectcalico.org/namespace'];
const VALUE_POOL = ['', 'x', 'y', 'web', 'we', 'eb', 'x"y', "it's", ' a b '];

const keyArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KEY_POOL) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_./-]{1,12}$/) },
);

const valueArb = fc
  .oneof(
    { weight: 4, arbitrary: fc.constantFrom(...VALUE_POOL) },
    { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 4, unit: 'binary' }) },
  )
  .filter((v) => !(v.includes('"') && v.includes("'")));

const leafArb: fc.Arbitrary<SelectorNode> = fc.oneof(
  fc.constant<SelectorNode>({ kind: 'all' }),
  fc.constant<SelectorNode>({ kind: 'global' }),
  keyArb.map((key): SelectorNode => ({ kind: 'has', key })),
  fc
    .record({
      kind: fc.constantFrom('eq', 'neq', 'contains', 'startsWith', 'endsWith' as const),
      key: keyArb,
      value: valueArb,
    })
    .map((n): SelectorNode => n),
  fc
    .record({
      kind: fc.constantFrom('in', 'notIn' as const),
      key: keyArb,
      values: fc.array(valueArb, { maxLength: 4 }),
    })
    .map((n): SelectorNode => n),
);

/** Arbitrary ASTs, not necessarily normalised (nested and-in-and, unsorted sets). */
const astArb: fc.Arbitrary<SelectorNode> = fc.letrec<{ node: SelectorNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    tie('node').map((operand): SelectorNode => ({ kind: 'not', operand })),
    fc
      .record({
        kind: fc.constantFrom('and', 'or' as const),
        operands: fc.array(tie('node'), { minLength: 2, maxLength: 4 }),
      })
      .map((n): SelectorNode => n),
  ),
})).node;

const labelsArb: fc.Arbitrary<Labels> = fc.dictionary(
  fc.constantFrom(...KEY_POOL),
  fc.constantFrom(...VALUE_POOL),
);

/** Straightforward reference semantics to check the compiled evaluator against. */
function evaluate(node: SelectorNode, labels: Labels): boolean {
  const value = (key: string) => (Object.hasOwn(labels, key) ? labels[key] : undefined);
  switch (node.kind) {
    case 'all':
    case 'global':
      return true;
    case 'has':
      return value(node.key) !== undefined;
    case 'eq':
      return value(node.key) === node.value;
    case 'neq':
      return value(node.key) !== node.value;
    case 'contains':
      return value(node.key)?.includes(node.value) ?? false;
    case 'startsWith':
      return value(node.key)?.startsWith(node.value) ?? false;
    case 'endsWith':
      return value(node.key)?.endsWith(node.value) ?? false;
    case 'in': {
      const v = value(node.key);
      return v !== undefined && node.values.includes(v);
    }
    case 'notIn': {
      const v = value(node.key);
      return v === undefined || !node.values.includes(v);
    }
    case 'not':
      return !evaluate(node.operand, labels);
    case 'and':
      return node.operands.every((o) => evaluate(o, labels));
    case 'or':
      return node.operands.some((o) => evaluate(o, labels));
  }
}

/** Prints an AST with random legal variations: spacing, quotes, redundant
 * parentheses, run-together operator spellings. */
function noisyPrint(node: SelectorNode, choices: readonly number[]): string {
  // Choices come from a plain array of numbers (cycled), which shrinks quickly
  // towards "always the first option"; fc.gen() shrinks far too slowly here.
  let next = 0;
  const pick = <T>(options: readonly T[]): T =>
    options[(choices[next++ % Math.max(choices.length, 1)] ?? 0) % options.length]!;
  const space = () => pick(['', ' ', '  ', '\t', '\n']);
  const someSpace = () => pick([' ', '  ', '\t', '\n ']);
  const quote = (v: string) => {
    const q = v.includes('"') ? "'" : v.includes("'") ? '"' : pick(['"', "'"]);
    return `${q}${v}${q}`;
  };
  const atom = (text: string) => (pick([false, true]) ? `(${space()}${text}${space()})` : text);
  const print = (n: SelectorNode): string => {
    switch (n.kind) {
      case 'all':
      case 'global':
        return atom(`${n.kind}${space()}(${space()})`);
      case 'has':
        return atom(`has${space()}(${space()}${n.key}${space()})`);
      case 'eq':
      case 'neq':
        return atom(
          `${n.key}${space()}${n.kind === 'eq' ? '==' : '!='}${space()}${quote(n.value)}`,
        );
      case 'contains':
        return atom(`${n.key}${someSpace()}contains${space()}${quote(n.value)}`);
      case 'startsWith':
      case 'endsWith': {
        const word = n.kind === 'startsWith' ? 'starts' : 'ends';
        return atom(
          `${n.key}${someSpace()}${word}${pick(['', ' '])}with${space()}${quote(n.value)}`,
        );
      }
      case 'in':
      case 'notIn': {
        const op = n.kind === 'in' ? 'in' : `not${pick(['', ' ', '\t'])}in`;
        const items = n.values.map((v) => `${space()}${quote(v)}${space()}`).join(',');
        const trailing = n.values.length > 0 && pick([false, true]) ? ',' : '';
        return atom(`${n.key}${someSpace()}${op}${space()}{${items}${trailing}${space()}}`);
      }
      case 'not':
        return atom(`!${space()}${print(n.operand)}`);
      case 'and':
      case 'or': {
        // Parenthesise every operand and the whole: correct whatever the context.
        const joiner = n.kind === 'and' ? '&&' : '||';
        const inner = n.operands
          .map((o) => `(${space()}${print(o)}${space()})`)
          .join(`${space()}${joiner}${space()}`);
        return `(${space()}${inner}${space()})`;
      }
    }
  };
  return `${space()}${print(node)}${space()}`;
}

describe('properties', () => {
  test('parse(print(ast)) is the same selector', () => {
    fc.assert(
      fc.property(astArb, (raw) => {
        const selector = selectorFromAst(raw);
        const reparsed = parseSelector(selector.toString());
        assert.deepEqual(reparsed.ast, selector.ast);
        assert.equal(reparsed.toString(), selector.toString());
        assert.deepEqual(reparsed.labelKeys, selector.labelKeys);
      }),
      { numRuns: 500 },
    );
  });

  test('printing an unnormalised AST reparses to its normal form', () => {
    fc.assert(
      fc.property(astArb, (raw) => {
        assert.deepEqual(parseSelector(formatSelectorNode(raw)).ast, selectorFromAst(raw).ast);
      }),
      { numRuns: 300 },
    );
  });

  test('evaluation agrees: AST, reparsed text and reference semantics', () => {
    fc.assert(
      fc.property(astArb, fc.array(labelsArb, { minLength: 1, maxLength: 8 }), (raw, labelMaps) => {
        const selector = selectorFromAst(raw);
        const reparsed = parseSelector(selector.toString());
        for (const labels of labelMaps) {
          const expected = evaluate(raw, labels);
          assert.equal(selector.matches(labels), expected);
          assert.equal(reparsed.matches(labels), expected);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('any legal spelling parses to the same AST', () => {
    fc.assert(
      fc.property(astArb, fc.array(fc.nat(9), { maxLength: 64 }), (raw, choices) => {
        const text = noisyPrint(raw, choices);
        assert.deepEqual(parseSelector(text).ast, selectorFromAst(raw).ast, text);
      }),
      { numRuns: 500 },
    );
  });

  test('random text either parses to a stable selector or fails with a SelectorError in range', () => {
    const fragment = fc.constantFrom(
      'a',
      'b',
      'app',
      ' ',
      '\t',
      '(',
      ')',
      '!',
      '=',
      '==',
      '!=',
      '&&',
      '||',
      '&',
      '|',
      '"x"',
      "'y'",
      '"',
      "'",
      '{',
      '}',
      ',',
      'in',
      'not',
      'contains',
      'starts',
      'ends',
      'with',
      'has(',
      'all()',
      'global()',
      '$',
      '.',
      '/',
    );
    fc.assert(
      fc.property(
        fc.array(fragment, { maxLength: 14 }).map((parts) => parts.join('')),
        (text) => {
          let selector;
          try {
            selector = parseSelector(text);
          } catch (e) {
            assert.ok(e instanceof SelectorError, String(e));
            assert.ok(e.column >= 1 && e.column <= text.length + 1, e.message);
            assert.equal(isValidSelector(text), e.message);
            return;
          }
          assert.equal(isValidSelector(text), undefined);
          const printed = selector.toString();
          assert.equal(parseSelector(printed).toString(), printed);
          assert.deepEqual(parseSelector(printed).ast, selector.ast);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
