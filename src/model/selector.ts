// Calico's label selector language: parser, canonical printer and evaluator.
//
//   selector   := <empty> | or
//   or         := and ("||" and)*
//   and        := unary ("&&" unary)*
//   unary      := "!" unary | primary
//   primary    := "(" or ")" | "all()" | "global()" | "has(" key ")"
//               | key ("==" | "!=" | "contains" | "starts with" | "ends with") string
//               | key ("in" | "not in") "{" [string ("," string)* [","]] "}"
//   key        := [A-Za-z0-9_./-]+
//   string     := '"' [^"]* '"' | "'" [^']* "'"     (no escapes)
//
// Semantics follow Calico: `!=` and `not in` match when the label is absent;
// `==`, `in`, `contains`, `starts with` and `ends with` need the label present.
// `global()` is true for any label map here; the policy layer gives it its
// meaning (non-namespaced endpoints) when it appears in a namespaceSelector.
//
// Small differences from Calico, all on the lenient side: whitespace may also
// be newlines; `has (k)` may have a space before the parenthesis.

export type Labels = Readonly<Record<string, string>>;

export type ValueOperator = 'eq' | 'neq' | 'contains' | 'startsWith' | 'endsWith';
export type SetOperator = 'in' | 'notIn';

export interface AllNode {
  readonly kind: 'all';
}
export interface GlobalNode {
  readonly kind: 'global';
}
export interface HasNode {
  readonly kind: 'has';
  readonly key: string;
}
export interface ValueNode {
  readonly kind: ValueOperator;
  readonly key: string;
  readonly value: string;
}
export interface SetNode {
  readonly kind: SetOperator;
  readonly key: string;
  /** Sorted and without duplicates. */
  readonly values: readonly string[];
}
export interface NotNode {
  readonly kind: 'not';
  readonly operand: SelectorNode;
}
export interface AndNode {
  readonly kind: 'and';
  /** At least two; none is itself an `and`. */
  readonly operands: readonly SelectorNode[];
}
export interface OrNode {
  readonly kind: 'or';
  /** At least two; none is itself an `or`. */
  readonly operands: readonly SelectorNode[];
}

export type SelectorNode =
  AllNode | GlobalNode | HasNode | ValueNode | SetNode | NotNode | AndNode | OrNode;

export interface Selector {
  /** The text given (for selectorFromAst: the canonical text). */
  readonly source: string;
  readonly ast: SelectorNode;
  matches(labels: Labels): boolean;
  /** Canonical printed form. */
  toString(): string;
  /** Label keys referenced. */
  readonly labelKeys: ReadonlySet<string>;
  /** True when the selector is exactly `global()`. */
  readonly isGlobal: boolean;
  /** True when `global()` appears anywhere in the selector. */
  readonly usesGlobal: boolean;
}

export class SelectorError extends Error {
  override name = 'SelectorError';
  readonly selector: string;
  /** 1-based, in UTF-16 code units. */
  readonly column: number;
  readonly reason: string;

  constructor(selector: string, column: number, reason: string) {
    super(`selector ${JSON.stringify(selector)} column ${column}: ${reason}`);
    this.selector = selector;
    this.column = column;
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------
// Characters

function isKeyChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x5f || // _
    code === 0x2e || // .
    code === 0x2f || // /
    code === 0x2d // -
  );
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/** Characters that start operators or delimit tokens; when one directly follows
 * a key it is a syntax problem, not a bad character inside the key. */
const PUNCTUATION = new Set('=!<>~&|(){},"\''.split(''));

/** True if the string is a valid label key in the selector language. */
export function isSelectorKey(key: string): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) if (!isKeyChar(key.charCodeAt(i))) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Parser: recursive descent directly over the text, so that every error knows
// its column without a separate token list.

const OPERATOR_LIST = '==, !=, in, not in, contains, starts with, ends with';

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parseSelector(): SelectorNode {
    this.skipSpace();
    if (this.atEnd()) return ALL_NODE;
    const node = this.parseOr();
    this.skipSpace();
    if (!this.atEnd()) {
      if (this.peek() === ')') this.fail('unmatched )');
      this.fail('expected &&, || or the end of the selector');
    }
    return node;
  }

  private parseOr(): SelectorNode {
    const operands = [this.parseAnd()];
    while ((this.skipSpace(), this.text.startsWith('||', this.pos))) {
      this.pos += 2;
      operands.push(this.parseAnd());
    }
    return joinOperands('or', operands);
  }

  private parseAnd(): SelectorNode {
    const operands = [this.parseUnary()];
    while ((this.skipSpace(), this.text.startsWith('&&', this.pos))) {
      this.pos += 2;
      operands.push(this.parseUnary());
    }
    return joinOperands('and', operands);
  }

  private parseUnary(): SelectorNode {
    this.skipSpace();
    if (this.peek() === '!') {
      this.pos++;
      return { kind: 'not', operand: this.parseUnary() };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): SelectorNode {
    const start = this.pos;
    if (this.atEnd()) this.fail('expected an expression');
    const char = this.peek();
    if (char === '(') {
      this.pos++;
      const inner = this.parseOr();
      this.skipSpace();
      if (this.peek() !== ')') {
        if (this.atEnd()) this.fail(`expected ) to close the ( at column ${start + 1}`);
        this.fail('expected ), && or ||');
      }
      this.pos++;
      return inner;
    }
    if (!isKeyChar(this.text.charCodeAt(this.pos))) {
      if (PUNCTUATION.has(char)) this.fail('expected an expression');
      this.fail(`unexpected character ${JSON.stringify(char)}`);
    }
    const key = this.readKey();
    const keyEnd = this.pos;
    this.skipSpace();
    if (this.peek() === '(' && (key === 'has' || key === 'all' || key === 'global')) {
      this.pos++;
      return this.parseFunctionCall(key);
    }
    return this.parseComparison(key, keyEnd);
  }

  /** The rest of `has(k)`, `all()` or `global()`, after the "(". */
  private parseFunctionCall(name: 'has' | 'all' | 'global'): SelectorNode {
    this.skipSpace();
    let node: SelectorNode;
    if (name === 'has') {
      if (!isKeyChar(this.text.charCodeAt(this.pos))) this.fail('expected a label key in has()');
      node = { kind: 'has', key: this.readKey() };
      const keyEnd = this.pos;
      this.skipSpace();
      if (this.pos === keyEnd && !this.atEnd() && !PUNCTUATION.has(this.peek())) {
        this.fail(`invalid character ${JSON.stringify(this.peek())} in label key`);
      }
    } else {
      node = name === 'all' ? ALL_NODE : GLOBAL_NODE;
    }
    if (this.peek() !== ')') {
      this.fail(`expected ) after ${name}(`);
    }
    this.pos++;
    return node;
  }

  private parseComparison(key: string, keyEnd: number): SelectorNode {
    if (this.text.startsWith('==', this.pos)) {
      this.pos += 2;
      return { kind: 'eq', key, value: this.parseString() };
    }
    if (this.text.startsWith('!=', this.pos)) {
      this.pos += 2;
      return { kind: 'neq', key, value: this.parseString() };
    }
    if (isKeyChar(this.text.charCodeAt(this.pos))) {
      const kind = this.parseOperatorWord();
      if (kind === 'in' || kind === 'notIn') return { kind, key, values: this.parseSet() };
      return { kind, key, value: this.parseString() };
    }
    if (this.pos === keyEnd && !this.atEnd() && !PUNCTUATION.has(this.peek())) {
      this.fail(`invalid character ${JSON.stringify(this.peek())} in label key`);
    }
    this.fail(`expected an operator (${OPERATOR_LIST})`);
  }

  /** in, not in, contains, starts with, ends with (also Calico's run-together
   * spellings notin, startswith, endswith). */
  private parseOperatorWord(): ValueOperator | SetOperator {
    const start = this.pos;
    const word = this.readKey();
    switch (word) {
      case 'in':
        return 'in';
      case 'contains':
        return 'contains';
      case 'notin':
        return 'notIn';
      case 'startswith':
        return 'startsWith';
      case 'endswith':
        return 'endsWith';
      case 'not':
        this.expectWord('in', word);
        return 'notIn';
      case 'starts':
        this.expectWord('with', word);
        return 'startsWith';
      case 'ends':
        this.expectWord('with', word);
        return 'endsWith';
      default:
        this.fail(
          `unknown operator ${JSON.stringify(word)}, expected one of ${OPERATOR_LIST}`,
          start,
        );
    }
  }

  private expectWord(expected: string, after: string): void {
    this.skipSpace();
    const start = this.pos;
    const word = isKeyChar(this.text.charCodeAt(this.pos)) ? this.readKey() : '';
    if (word !== expected) this.fail(`expected "${expected}" after "${after}"`, start);
  }

  /** `{ "a", 'b' }` after in / not in: sorted, duplicates dropped. */
  private parseSet(): string[] {
    this.skipSpace();
    if (this.peek() !== '{') this.fail('expected { to start a set of quoted strings');
    this.pos++;
    const values: string[] = [];
    for (;;) {
      this.skipSpace();
      if (this.peek() === '}') break;
      if (this.peek() !== '"' && this.peek() !== "'") this.fail('expected a quoted string or }');
      values.push(this.parseString());
      this.skipSpace();
      if (this.peek() === ',') {
        this.pos++;
      } else if (this.peek() !== '}') {
        this.fail('expected , or } in set');
      }
    }
    this.pos++;
    return sortedUnique(values);
  }

  private parseString(): string {
    this.skipSpace();
    const quote = this.peek();
    if (quote !== '"' && quote !== "'") this.fail('expected a quoted string');
    const close = this.text.indexOf(quote, this.pos + 1);
    if (close === -1) this.fail('unterminated string');
    const value = this.text.slice(this.pos + 1, close);
    this.pos = close + 1;
    return value;
  }

  private readKey(): string {
    const start = this.pos;
    while (this.pos < this.text.length && isKeyChar(this.text.charCodeAt(this.pos))) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && isSpace(this.text.charCodeAt(this.pos))) this.pos++;
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  /** The current character, or '' at the end. */
  private peek(): string {
    return this.text.charAt(this.pos);
  }

  private fail(reason: string, at = this.pos): never {
    throw new SelectorError(this.text, at + 1, reason);
  }
}

const ALL_NODE: AllNode = Object.freeze({ kind: 'all' });
const GLOBAL_NODE: GlobalNode = Object.freeze({ kind: 'global' });

/** One operand stays as it is; nested nodes of the same kind are flattened, so
 * `(a && b) && c` and `a && b && c` have the same AST. */
function joinOperands(kind: 'and' | 'or', operands: readonly SelectorNode[]): SelectorNode {
  if (operands.length === 1) return operands[0]!;
  const flat: SelectorNode[] = [];
  for (const operand of operands) {
    if (operand.kind === kind) flat.push(...operand.operands);
    else flat.push(operand);
  }
  return { kind, operands: flat };
}

function sortedUnique(values: readonly string[]): string[] {
  const sorted = [...new Set(values)];
  sorted.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted;
}

// ---------------------------------------------------------------------------
// Printer

const PRECEDENCE_OR = 1;
const PRECEDENCE_AND = 2;
const PRECEDENCE_UNARY = 3;

const VALUE_OPERATOR_TEXT: Record<ValueOperator, string> = {
  eq: '==',
  neq: '!=',
  contains: 'contains',
  startsWith: 'starts with',
  endsWith: 'ends with',
};

/** Double quotes unless the value holds one; the grammar has no escapes. */
function quote(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

function precedenceOf(node: SelectorNode): number {
  if (node.kind === 'or') return PRECEDENCE_OR;
  if (node.kind === 'and') return PRECEDENCE_AND;
  return PRECEDENCE_UNARY;
}

/** Prints `node`, parenthesised if it binds more loosely than its context needs. */
function printAt(node: SelectorNode, minPrecedence: number): string {
  const text = printNode(node);
  return precedenceOf(node) < minPrecedence ? `(${text})` : text;
}

function printNode(node: SelectorNode): string {
  switch (node.kind) {
    case 'all':
    case 'global':
      return `${node.kind}()`;
    case 'has':
      return `has(${node.key})`;
    case 'eq':
    case 'neq':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return `${node.key} ${VALUE_OPERATOR_TEXT[node.kind]} ${quote(node.value)}`;
    case 'in':
    case 'notIn':
      return `${node.key} ${node.kind === 'in' ? 'in' : 'not in'} {${node.values.map(quote).join(', ')}}`;
    case 'not':
      return `!${printAt(node.operand, PRECEDENCE_UNARY)}`;
    // Same-kind children are wrapped too, so an unflattened tree still reparses to itself.
    case 'and':
      return node.operands.map((o) => printAt(o, PRECEDENCE_UNARY)).join(' && ');
    case 'or':
      return node.operands.map((o) => printAt(o, PRECEDENCE_AND)).join(' || ');
  }
}

/** Canonical text of an AST: minimal parentheses, double quotes where possible. */
export function formatSelectorNode(node: SelectorNode): string {
  return printNode(node);
}

// ---------------------------------------------------------------------------
// Evaluator: the AST is compiled once into nested closures.

type Predicate = (labels: Labels) => boolean;

const always: Predicate = () => true;

// Indexing a plain object can reach Object.prototype ("constructor",
// "toString"), so presence is "the value is a string", never `!== undefined`.
function compile(node: SelectorNode): Predicate {
  switch (node.kind) {
    case 'all':
    case 'global':
      return always;
    case 'has': {
      const { key } = node;
      return (labels) => typeof labels[key] === 'string';
    }
    case 'eq': {
      const { key, value } = node;
      return (labels) => labels[key] === value;
    }
    case 'neq': {
      const { key, value } = node;
      return (labels) => labels[key] !== value;
    }
    case 'contains': {
      const { key, value } = node;
      return (labels) => {
        const actual = labels[key];
        return typeof actual === 'string' && actual.includes(value);
      };
    }
    case 'startsWith': {
      const { key, value } = node;
      return (labels) => {
        const actual = labels[key];
        return typeof actual === 'string' && actual.startsWith(value);
      };
    }
    case 'endsWith': {
      const { key, value } = node;
      return (labels) => {
        const actual = labels[key];
        return typeof actual === 'string' && actual.endsWith(value);
      };
    }
    case 'in': {
      const { key } = node;
      const set = new Set(node.values);
      return (labels) => {
        const actual = labels[key];
        return typeof actual === 'string' && set.has(actual);
      };
    }
    case 'notIn': {
      const { key } = node;
      const set = new Set(node.values);
      return (labels) => {
        const actual = labels[key];
        return typeof actual !== 'string' || !set.has(actual);
      };
    }
    case 'not': {
      const operand = compile(node.operand);
      return (labels) => !operand(labels);
    }
    case 'and':
      return compileAnd(node.operands.map(compile));
    case 'or':
      return compileOr(node.operands.map(compile));
  }
}

function compileAnd(predicates: readonly Predicate[]): Predicate {
  if (predicates.length === 2) {
    const [first, second] = predicates as [Predicate, Predicate];
    return (labels) => first(labels) && second(labels);
  }
  return (labels) => {
    for (const predicate of predicates) if (!predicate(labels)) return false;
    return true;
  };
}

function compileOr(predicates: readonly Predicate[]): Predicate {
  if (predicates.length === 2) {
    const [first, second] = predicates as [Predicate, Predicate];
    return (labels) => first(labels) || second(labels);
  }
  return (labels) => {
    for (const predicate of predicates) if (predicate(labels)) return true;
    return false;
  };
}

// ---------------------------------------------------------------------------
// Selector objects

function collectKeys(node: SelectorNode, keys: Set<string>): boolean {
  switch (node.kind) {
    case 'all':
      return false;
    case 'global':
      return true;
    case 'not':
      return collectKeys(node.operand, keys);
    case 'and':
    case 'or': {
      let usesGlobal = false;
      for (const operand of node.operands) usesGlobal = collectKeys(operand, keys) || usesGlobal;
      return usesGlobal;
    }
    default:
      keys.add(node.key);
      return false;
  }
}

class CompiledSelector implements Selector {
  readonly matches: (labels: Labels) => boolean;
  readonly labelKeys: ReadonlySet<string>;
  readonly isGlobal: boolean;
  readonly usesGlobal: boolean;
  private readonly canonical: string;

  constructor(
    readonly source: string,
    readonly ast: SelectorNode,
    canonical?: string,
  ) {
    this.matches = compile(ast);
    const keys = new Set<string>();
    this.usesGlobal = collectKeys(ast, keys);
    this.labelKeys = keys;
    this.isGlobal = ast.kind === 'global';
    this.canonical = canonical ?? printNode(ast);
  }

  toString(): string {
    return this.canonical;
  }
}

/** Parses Calico selector text; the empty or all-blank selector is all(). */
export function parseSelector(text: string): Selector {
  return new CompiledSelector(text, new Parser(text).parseSelector());
}

/** undefined if the text is a valid selector, else the error message. */
export function isValidSelector(text: string): string | undefined {
  try {
    new Parser(text).parseSelector();
    return undefined;
  } catch (error) {
    if (error instanceof SelectorError) return error.message;
    throw error;
  }
}

/**
 * A selector from an AST built in code. The AST is normalised the way the
 * parser would produce it (nested and/or flattened, sets sorted), and checked:
 * keys must be valid, a value cannot contain both quote characters, and/or
 * need at least one operand. Throws TypeError.
 */
export function selectorFromAst(ast: SelectorNode): Selector {
  const normal = normalize(ast);
  const text = printNode(normal);
  return new CompiledSelector(text, normal, text);
}

function normalize(node: SelectorNode): SelectorNode {
  switch (node.kind) {
    case 'all':
      return ALL_NODE;
    case 'global':
      return GLOBAL_NODE;
    case 'has':
      return { kind: 'has', key: checkedKey(node.key) };
    case 'eq':
    case 'neq':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return { kind: node.kind, key: checkedKey(node.key), value: checkedValue(node.value) };
    case 'in':
    case 'notIn':
      return {
        kind: node.kind,
        key: checkedKey(node.key),
        values: sortedUnique(node.values.map(checkedValue)),
      };
    case 'not':
      return { kind: 'not', operand: normalize(node.operand) };
    case 'and':
    case 'or':
      if (node.operands.length === 0) throw new TypeError(`selector ${node.kind} has no operands`);
      return joinOperands(node.kind, node.operands.map(normalize));
  }
}

function checkedKey(key: string): string {
  if (!isSelectorKey(key)) throw new TypeError(`${JSON.stringify(key)} is not a valid label key`);
  return key;
}

function checkedValue(value: string): string {
  if (value.includes('"') && value.includes("'")) {
    throw new TypeError(`${JSON.stringify(value)} contains both quote characters`);
  }
  return value;
}

/** Matches every label map: the selector `all()`. */
export const ALL: Selector = new CompiledSelector('all()', ALL_NODE);
