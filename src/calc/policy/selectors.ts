// Selectors as the dataplane sees them, and their members, kept up to date.
//
// Scoping (Calico's rule conversion): a namespaced policy's selector only
// selects endpoints of its namespace; a rule's selector fields in a
// namespaced policy only match its namespace unless a namespaceSelector says
// which namespaces; namespaceSelector keys are the namespace's labels, which
// endpoints carry under "pcns."; `all()` there means every namespaced entity
// and `global()` every non-namespaced one. The result is one selector over an
// entity's effective labels (model.ts: effectiveLabels).
//
// SelectorIndex: which items each selector matches, updated incrementally as
// items (label maps) and selectors come and go. Selectors that require a
// label `k == v` are indexed by it, so an item's update is matched only
// against selectors that could match it, and a new selector only against
// items that carry the label.

import {
  ALL,
  parseSelector,
  selectorFromAst,
  type Labels,
  type Selector,
  type SelectorNode,
} from '../../model/selector.js';
import type { EntityRule } from '../../model/resource.js';
import { LABEL_NAMESPACE, LABEL_SERVICE_ACCOUNT, NAMESPACE_LABEL_PREFIX } from './model.js';

export const SERVICE_ACCOUNT_LABEL_PREFIX = 'pcsa.';

function prefixKeys(node: SelectorNode, prefix: string): SelectorNode {
  switch (node.kind) {
    case 'all':
      return { kind: 'has', key: LABEL_NAMESPACE };
    case 'global':
      return { kind: 'not', operand: { kind: 'has', key: LABEL_NAMESPACE } };
    case 'not':
      return { kind: 'not', operand: prefixKeys(node.operand, prefix) };
    case 'and':
    case 'or':
      return { kind: node.kind, operands: node.operands.map((o) => prefixKeys(o, prefix)) };
    default:
      return { ...node, key: `${prefix}${node.key}` };
  }
}

/** A namespaceSelector as a selector over endpoint labels ("pcns." keys). */
export function namespaceSelectorAst(text: string): SelectorNode {
  return prefixKeys(parseSelector(text).ast, NAMESPACE_LABEL_PREFIX);
}

function serviceAccountAst(text: string): SelectorNode {
  const ast = parseSelector(text).ast;
  // all() of service accounts: every endpoint that has one.
  if (ast.kind === 'all') return { kind: 'has', key: LABEL_SERVICE_ACCOUNT };
  return prefixKeys(ast, SERVICE_ACCOUNT_LABEL_PREFIX);
}

function and(nodes: SelectorNode[]): Selector {
  const useful = nodes.filter((n) => n.kind !== 'all');
  if (useful.length === 0) return ALL;
  if (useful.length === 1) return selectorFromAst(useful[0]!);
  return selectorFromAst({ kind: 'and', operands: useful });
}

/** The endpoints a policy applies to, as one selector. */
export function policySelector(policy: {
  namespace: string | undefined;
  selector: string;
  namespaceSelector: string | undefined;
  serviceAccountSelector?: string | undefined;
}): Selector {
  const parts: SelectorNode[] = [];
  if (policy.namespace !== undefined) {
    parts.push({ kind: 'eq', key: LABEL_NAMESPACE, value: policy.namespace });
  } else if (policy.namespaceSelector) {
    parts.push(namespaceSelectorAst(policy.namespaceSelector));
  }
  parts.push(parseSelector(policy.selector).ast);
  if (policy.serviceAccountSelector) parts.push(serviceAccountAst(policy.serviceAccountSelector));
  return and(parts);
}

/**
 * The selector an entity rule's selector fields add up to (Calico's
 * GetEntityRuleSelector), or undefined when they select nothing in
 * particular (any address matches). notSelector stays separate.
 */
export function entityRuleSelector(
  entity: EntityRule | undefined,
  policyNamespace: string | undefined,
): Selector | undefined {
  if (!entity) return undefined;
  // Policies repeat the same rule selectors; selectors are immutable, so share them.
  const sa = entity.serviceAccounts;
  const key = `${policyNamespace ?? ''}\0${entity.selector ?? ''}\0${entity.notSelector ?? ''}\0${entity.namespaceSelector ?? ''}\0${sa ? JSON.stringify(sa) : ''}`;
  if (ruleSelectorCache.has(key)) return ruleSelectorCache.get(key);
  const made = makeEntityRuleSelector(entity, policyNamespace);
  if (ruleSelectorCache.size >= 10_000) ruleSelectorCache.clear();
  ruleSelectorCache.set(key, made);
  return made;
}

const ruleSelectorCache = new Map<string, Selector | undefined>();

function makeEntityRuleSelector(
  entity: EntityRule,
  policyNamespace: string | undefined,
): Selector | undefined {
  const parts: SelectorNode[] = [];
  const sa = entity.serviceAccounts;
  if (sa?.selector) parts.push(serviceAccountAst(sa.selector));
  if (sa?.names?.length) {
    parts.push({ kind: 'in', key: LABEL_SERVICE_ACCOUNT, values: [...new Set(sa.names)].sort() });
  }
  if (entity.selector) parts.push(parseSelector(entity.selector).ast);
  const selectorGiven = parts.length > 0;
  let scope: SelectorNode | undefined;
  if (entity.namespaceSelector) scope = namespaceSelectorAst(entity.namespaceSelector);
  else if (policyNamespace !== undefined) {
    scope = { kind: 'eq', key: LABEL_NAMESPACE, value: policyNamespace };
  }
  if (scope && (selectorGiven || entity.notSelector || entity.namespaceSelector)) {
    return and([scope, ...parts]);
  }
  if (!selectorGiven) return undefined;
  return and(parts);
}

// ---------------------------------------------------------------------------

/** Label keys usually too common to index a selector by (when nothing else tells). */
const BROAD_KEYS = new Set([LABEL_NAMESPACE, 'projectcalico.org/orchestrator']);

/** The `key == value` requirements of a selector, the narrower-looking first. */
function indexCandidates(ast: SelectorNode): [string, string][] {
  const narrow: [string, string][] = [];
  const broad: [string, string][] = [];
  const visit = (n: SelectorNode) => {
    let c: [string, string];
    if (n.kind === 'eq') c = [n.key, n.value];
    else if (n.kind === 'in' && n.values.length === 1) c = [n.key, n.values[0]!];
    else return;
    if (BROAD_KEYS.has(c[0]) || c[0].startsWith(NAMESPACE_LABEL_PREFIX)) broad.push(c);
    else narrow.push(c);
  };
  if (ast.kind === 'and') for (const o of ast.operands) visit(o);
  else visit(ast);
  for (const c of broad) narrow.push(c);
  return narrow;
}

export interface SelectorIndexListener {
  onMatch(selectorId: string, itemId: string): void;
  onUnmatch(selectorId: string, itemId: string): void;
}

interface IndexedItem {
  readonly id: string;
  labels: Labels;
  /** The selectors matching it (created at its first match). */
  matches: Set<string> | undefined;
}

interface IndexedSelector {
  readonly id: string;
  selector: Selector;
  /** The requirement it is indexed by (see setSelector). */
  key: [string, string] | undefined;
  /** The label keys it keeps indexed in the items (every requirement's). */
  keys: string[];
  readonly members: Set<string>;
}

/** The items' values of one label key, kept while some selector uses the key. */
interface KeyIndex {
  /** How many selectors use the key. */
  uses: number;
  /** value -> items with that value. */
  readonly byValue: Map<string, Set<IndexedItem>>;
}

function addTo<V>(byValue: Map<string, Set<V>>, v: string, value: V): void {
  let set = byValue.get(v);
  if (!set) byValue.set(v, (set = new Set()));
  set.add(value);
}

function removeFrom<V>(byValue: Map<string, Set<V>> | undefined, v: string, value: V): void {
  const set = byValue?.get(v);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) byValue!.delete(v);
}

export class SelectorIndex {
  private readonly items = new Map<string, IndexedItem>();
  private readonly selectors = new Map<string, IndexedSelector>();
  /**
   * key -> value -> items with that label, kept only for the label keys some
   * selector uses (so items' other labels cost nothing).
   */
  private readonly itemKeys = new Map<string, KeyIndex>();
  /** key -> value -> selectors indexed by that label (keys are never removed). */
  private readonly selectorsByLabel = new Map<string, Map<string, Set<IndexedSelector>>>();
  private readonly unindexed = new Set<IndexedSelector>();
  /** Selector evaluations done (for tests and benchmarks). */
  evaluations = 0;

  constructor(private readonly listener?: SelectorIndexListener) {}

  get selectorCount(): number {
    return this.selectors.size;
  }

  get itemCount(): number {
    return this.items.size;
  }

  hasSelector(id: string): boolean {
    return this.selectors.has(id);
  }

  members(selectorId: string): ReadonlySet<string> {
    return this.selectors.get(selectorId)?.members ?? EMPTY;
  }

  selectorsMatching(itemId: string): ReadonlySet<string> {
    return this.items.get(itemId)?.matches ?? EMPTY;
  }

  labelsOf(itemId: string): Labels | undefined {
    return this.items.get(itemId)?.labels;
  }

  private match(s: IndexedSelector, item: IndexedItem): void {
    const members = s.members;
    const before = members.size;
    members.add(item.id);
    if (members.size === before) return;
    let matches = item.matches;
    if (!matches) item.matches = matches = new Set();
    matches.add(s.id);
    this.listener?.onMatch(s.id, item.id);
  }

  private unmatch(s: IndexedSelector, item: IndexedItem): void {
    if (!s.members.delete(item.id)) return;
    item.matches?.delete(s.id);
    this.listener?.onUnmatch(s.id, item.id);
  }

  private useKey(key: string): void {
    const known = this.itemKeys.get(key);
    if (known) {
      known.uses++;
      return;
    }
    // First selector using this key: index the items' values of it.
    const byValue = new Map<string, Set<IndexedItem>>();
    this.itemKeys.set(key, { uses: 1, byValue });
    let lastValue: string | undefined;
    let lastSet: Set<IndexedItem> | undefined;
    for (const item of this.items.values()) {
      const v = item.labels[key];
      if (typeof v !== 'string') continue;
      // Items of the same value tend to come together (a namespace's).
      if (v !== lastValue) {
        lastValue = v;
        lastSet = byValue.get(v);
        if (!lastSet) byValue.set(v, (lastSet = new Set()));
      }
      lastSet!.add(item);
    }
  }

  private unuseKey(key: string): void {
    const known = this.itemKeys.get(key);
    if (!known) return;
    if (--known.uses > 0) return;
    this.itemKeys.delete(key);
  }

  private unindex(s: IndexedSelector): void {
    if (s.key) {
      const byValue = this.selectorsByLabel.get(s.key[0]);
      const set = byValue?.get(s.key[1]);
      if (set) {
        set.delete(s);
        if (set.size === 0) byValue!.delete(s.key[1]);
      }
    } else this.unindexed.delete(s);
    for (const k of s.keys) this.unuseKey(k);
  }

  /** Adds or replaces a selector, and brings its members up to date. */
  setSelector(id: string, selector: Selector): void {
    let entry = this.selectors.get(id);
    if (entry) {
      if (entry.selector.toString() === selector.toString()) return;
      this.unindex(entry);
    }
    // Indexed by whichever of its requirements the fewest items meet now (a
    // namespace's items rather than every "role == web" item of the cluster),
    // so both its first match and later item updates evaluate it on few items.
    const requirements = indexCandidates(selector.ast);
    const keys: string[] = [];
    for (const [k] of requirements) if (!keys.includes(k)) keys.push(k);
    for (const k of keys) this.useKey(k);
    let key: [string, string] | undefined;
    let fewest = Infinity;
    let candidates: Iterable<IndexedItem> | undefined;
    for (const c of requirements) {
      const set = this.itemKeys.get(c[0])!.byValue.get(c[1]);
      const n = set?.size ?? 0;
      if (n < fewest) {
        key = c;
        fewest = n;
        candidates = set;
      }
    }
    if (entry) {
      entry.selector = selector;
      entry.key = key;
      entry.keys = keys;
    } else {
      entry = { id, selector, key, keys, members: new Set() };
      this.selectors.set(id, entry);
    }
    if (key) {
      let byValue = this.selectorsByLabel.get(key[0]);
      if (!byValue) this.selectorsByLabel.set(key[0], (byValue = new Map()));
      addTo(byValue, key[1], entry);
    } else {
      this.unindexed.add(entry);
      candidates = this.items.values();
    }
    if (!candidates) candidates = NO_ITEMS;
    if (entry.members.size === 0) {
      // A new selector: nothing to take back.
      let n = 0;
      for (const item of candidates) {
        n++;
        if (selector.matches(item.labels)) this.match(entry, item);
      }
      this.evaluations += n;
      return;
    }
    const matched: IndexedItem[] = [];
    const matchedIds = new Set<string>();
    for (const item of candidates) {
      this.evaluations++;
      if (selector.matches(item.labels)) {
        matched.push(item);
        matchedIds.add(item.id);
      }
    }
    for (const itemId of entry.members) {
      if (!matchedIds.has(itemId)) this.unmatch(entry, this.items.get(itemId)!);
    }
    for (const item of matched) this.match(entry, item);
  }

  deleteSelector(id: string): void {
    const s = this.selectors.get(id);
    if (!s) return;
    for (const itemId of s.members) this.unmatch(s, this.items.get(itemId)!);
    this.unindex(s);
    this.selectors.delete(id);
  }

  /** Adds or replaces an item's labels, and updates which selectors match it. */
  setItem(id: string, labels: Labels): void {
    let item = this.items.get(id);
    if (item) {
      const old = item.labels;
      for (const [k, { byValue }] of this.itemKeys) {
        const v = old[k];
        if (typeof v === 'string') removeFrom(byValue, v, item);
      }
      item.labels = labels;
    } else {
      item = { id, labels, matches: undefined };
      this.items.set(id, item);
    }
    if (this.itemKeys.size !== 0) {
      for (const [k, { byValue }] of this.itemKeys) {
        const v = labels[k];
        if (typeof v === 'string') addTo(byValue, v, item);
      }
    }
    // The candidates: the unindexed selectors and those indexed by one of its labels.
    const current = item.matches;
    if (current && current.size !== 0) {
      for (const sid of current) {
        const s = this.selectors.get(sid)!;
        if (s.key && labels[s.key[0]] !== s.key[1]) this.unmatch(s, item);
      }
    }
    for (const s of this.unindexed) this.evaluate(s, item, labels);
    if (this.selectorsByLabel.size !== 0) {
      for (const [k, byValue] of this.selectorsByLabel) {
        const v = labels[k];
        if (typeof v !== 'string') continue;
        const set = byValue.get(v);
        if (set) for (const s of set) this.evaluate(s, item, labels);
      }
    }
  }

  private evaluate(s: IndexedSelector, item: IndexedItem, labels: Labels): void {
    this.evaluations++;
    if (s.selector.matches(labels)) this.match(s, item);
    else this.unmatch(s, item);
  }

  deleteItem(id: string): void {
    const item = this.items.get(id);
    if (!item) return;
    if (item.matches) {
      for (const sid of item.matches) this.unmatch(this.selectors.get(sid)!, item);
    }
    for (const [k, { byValue }] of this.itemKeys) {
      const v = item.labels[k];
      if (typeof v === 'string') removeFrom(byValue, v, item);
    }
    this.items.delete(id);
  }
}

const NO_ITEMS: readonly IndexedItem[] = [];
const EMPTY: ReadonlySet<string> = new Set();

// ---------------------------------------------------------------------------

/** A short stable hash of a string: 12 hex characters (two 32-bit FNV-1a variants). */
export function shortHash(text: string): string {
  // Kept as int32 in the loop (the same bits as the uint32 arithmetic).
  let a = 0x811c9dc5 | 0;
  let b = (0x01000193 ^ 0x5bd1e995) | 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return ((a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0')).slice(
    0,
    12,
  );
}

/** The set id of a selector: the same selector text always gives the same id. */
export function selectorSetId(selector: Selector): string {
  let id = setIds.get(selector);
  if (id === undefined) setIds.set(selector, (id = `s${shortHash(selector.toString())}`));
  return id;
}

const setIds = new WeakMap<Selector, string>();
