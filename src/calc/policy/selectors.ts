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
  const candidates: [string, string][] = [];
  const visit = (n: SelectorNode) => {
    if (n.kind === 'eq') candidates.push([n.key, n.value]);
    else if (n.kind === 'in' && n.values.length === 1) candidates.push([n.key, n.values[0]!]);
  };
  if (ast.kind === 'and') ast.operands.forEach(visit);
  else visit(ast);
  const broad = ([k]: [string, string]) =>
    BROAD_KEYS.has(k) || k.startsWith(NAMESPACE_LABEL_PREFIX);
  return [...candidates.filter((c) => !broad(c)), ...candidates.filter(broad)];
}

export interface SelectorIndexListener {
  onMatch(selectorId: string, itemId: string): void;
  onUnmatch(selectorId: string, itemId: string): void;
}

interface IndexedSelector {
  selector: Selector;
  /** The requirement it is indexed by (see setSelector). */
  key: [string, string] | undefined;
  /** The label keys it keeps indexed in the items (every requirement's). */
  keys: string[];
  members: Set<string>;
}

type LabelIndex<V> = Map<string, Map<string, Set<V>>>;

function indexAdd<V>(index: LabelIndex<V>, k: string, v: string, value: V): void {
  let byValue = index.get(k);
  if (!byValue) index.set(k, (byValue = new Map()));
  let set = byValue.get(v);
  if (!set) byValue.set(v, (set = new Set()));
  set.add(value);
}

function indexRemove<V>(index: LabelIndex<V>, k: string, v: string, value: V): void {
  const byValue = index.get(k);
  const set = byValue?.get(v);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) byValue!.delete(v);
}

export class SelectorIndex {
  private readonly items = new Map<string, Labels>();
  private readonly selectors = new Map<string, IndexedSelector>();
  /**
   * key -> value -> items with that label, kept only for the label keys some
   * selector is indexed by (so items' other labels cost nothing).
   */
  private readonly itemsByLabel: LabelIndex<string> = new Map();
  /** How many selectors are indexed by each key. */
  private readonly keyUse = new Map<string, number>();
  /** key -> value -> selectors requiring that label. */
  private readonly selectorsByLabel: LabelIndex<string> = new Map();
  private readonly unindexed = new Set<string>();
  /** item -> selectors matching it. */
  private readonly matchesOf = new Map<string, Set<string>>();
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
    return this.matchesOf.get(itemId) ?? EMPTY;
  }

  labelsOf(itemId: string): Labels | undefined {
    return this.items.get(itemId);
  }

  private match(id: string, s: IndexedSelector, item: string): void {
    if (s.members.has(item)) return;
    s.members.add(item);
    let set = this.matchesOf.get(item);
    if (!set) this.matchesOf.set(item, (set = new Set()));
    set.add(id);
    this.listener?.onMatch(id, item);
  }

  private unmatch(id: string, s: IndexedSelector, item: string): void {
    if (!s.members.delete(item)) return;
    this.matchesOf.get(item)?.delete(id);
    this.listener?.onUnmatch(id, item);
  }

  private useKey(key: string): void {
    const n = this.keyUse.get(key) ?? 0;
    this.keyUse.set(key, n + 1);
    if (n > 0) return;
    // First selector indexed by this key: index the items' values of it.
    for (const [item, labels] of this.items) {
      const v = labels[key];
      if (typeof v === 'string') indexAdd(this.itemsByLabel, key, v, item);
    }
  }

  private unuseKey(key: string): void {
    const n = (this.keyUse.get(key) ?? 1) - 1;
    if (n > 0) {
      this.keyUse.set(key, n);
      return;
    }
    this.keyUse.delete(key);
    this.itemsByLabel.delete(key);
  }

  /** Adds or replaces a selector, and brings its members up to date. */
  setSelector(id: string, selector: Selector): void {
    const old = this.selectors.get(id);
    if (old && old.selector.toString() === selector.toString()) return;
    if (old) {
      if (old.key) indexRemove(this.selectorsByLabel, old.key[0], old.key[1], id);
      else this.unindexed.delete(id);
      for (const k of old.keys) this.unuseKey(k);
    }
    // Indexed by whichever of its requirements the fewest items meet now (a
    // namespace's items rather than every "role == web" item of the cluster),
    // so both its first match and later item updates evaluate it on few items.
    const requirements = indexCandidates(selector.ast);
    const keys = [...new Set(requirements.map(([k]) => k))];
    for (const k of keys) this.useKey(k);
    let key: [string, string] | undefined;
    let fewest = Infinity;
    for (const c of requirements) {
      const n = this.itemsByLabel.get(c[0])?.get(c[1])?.size ?? 0;
      if (n < fewest) [key, fewest] = [c, n];
    }
    const entry: IndexedSelector = { selector, key, keys, members: old?.members ?? new Set() };
    this.selectors.set(id, entry);
    if (key) indexAdd(this.selectorsByLabel, key[0], key[1], id);
    else this.unindexed.add(id);
    const candidates = key
      ? (this.itemsByLabel.get(key[0])?.get(key[1]) ?? EMPTY)
      : this.items.keys();
    if (entry.members.size === 0) {
      // A new selector: nothing to take back.
      for (const item of candidates) {
        this.evaluations++;
        if (selector.matches(this.items.get(item)!)) this.match(id, entry, item);
      }
      return;
    }
    const matched = new Set<string>();
    for (const item of candidates) {
      this.evaluations++;
      if (selector.matches(this.items.get(item)!)) matched.add(item);
    }
    for (const item of [...entry.members]) if (!matched.has(item)) this.unmatch(id, entry, item);
    for (const item of matched) this.match(id, entry, item);
  }

  deleteSelector(id: string): void {
    const s = this.selectors.get(id);
    if (!s) return;
    for (const item of [...s.members]) this.unmatch(id, s, item);
    if (s.key) indexRemove(this.selectorsByLabel, s.key[0], s.key[1], id);
    else this.unindexed.delete(id);
    for (const k of s.keys) this.unuseKey(k);
    this.selectors.delete(id);
  }

  /** Adds or replaces an item's labels, and updates which selectors match it. */
  setItem(id: string, labels: Labels): void {
    const old = this.items.get(id);
    if (old) {
      for (const k of this.keyUse.keys()) {
        const v = old[k];
        if (typeof v === 'string') indexRemove(this.itemsByLabel, k, v, id);
      }
    }
    this.items.set(id, labels);
    for (const k of this.keyUse.keys()) {
      const v = labels[k];
      if (typeof v === 'string') indexAdd(this.itemsByLabel, k, v, id);
    }
    const candidates = new Set<string>(this.unindexed);
    for (const [k, byValue] of this.selectorsByLabel) {
      const v = labels[k];
      if (typeof v !== 'string') continue;
      for (const s of byValue.get(v) ?? EMPTY) candidates.add(s);
    }
    const current = this.matchesOf.get(id);
    if (current) {
      for (const sid of [...current]) {
        if (!candidates.has(sid)) this.unmatch(sid, this.selectors.get(sid)!, id);
      }
    }
    for (const sid of candidates) {
      const s = this.selectors.get(sid)!;
      this.evaluations++;
      if (s.selector.matches(labels)) this.match(sid, s, id);
      else this.unmatch(sid, s, id);
    }
  }

  deleteItem(id: string): void {
    const old = this.items.get(id);
    if (!old) return;
    for (const sid of [...(this.matchesOf.get(id) ?? [])]) {
      this.unmatch(sid, this.selectors.get(sid)!, id);
    }
    this.matchesOf.delete(id);
    for (const k of this.keyUse.keys()) {
      const v = old[k];
      if (typeof v === 'string') indexRemove(this.itemsByLabel, k, v, id);
    }
    this.items.delete(id);
  }
}

const EMPTY: ReadonlySet<string> = new Set();

// ---------------------------------------------------------------------------

/** A short stable hash of a string: 12 hex characters (two 32-bit FNV-1a variants). */
export function shortHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
    b = (b ^ (b >>> 15)) >>> 0;
  }
  return (a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0')).slice(0, 12);
}

/** The set id of a selector: the same selector text always gives the same id. */
export function selectorSetId(selector: Selector): string {
  let id = setIds.get(selector);
  if (id === undefined) setIds.set(selector, (id = `s${shortHash(selector.toString())}`));
  return id;
}

const setIds = new WeakMap<Selector, string>();
