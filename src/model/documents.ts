// Manifests to documents: YAML (one or many, split by `---`) or JSON (an
// object, an array of objects, or a `kind: XxxList` with `items`), each
// document remembering its file and the line of every field in it.
//
// JSON goes through the YAML parser too (JSON is YAML), so it gets the same
// line numbers.

import {
  LineCounter,
  parseAllDocuments,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import type { FieldPath } from './issues.js';

export interface ParsedDocument {
  source: string;
  /** 1-based line where the document (or list item) starts. */
  line: number;
  /** The plain JavaScript value of the document. */
  object: unknown;
  /** 1-based line of the field at `path`, or of its nearest ancestor present. */
  lineOf(path: FieldPath): number;
}

/** A manifest that cannot be read at all: `pools.yaml:3: <what is wrong>`. */
export class ModelError extends Error {
  override name = 'ModelError';

  constructor(
    readonly source: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${source}:${line}: ${reason}`);
  }
}

const PARSE_OPTIONS = {
  prettyErrors: false,
  // `<<` merge keys, as Kubernetes' YAML reader (YAML 1.1) supports them.
  merge: true,
  uniqueKeys: true,
} as const;

/** Parses a manifest into its documents, skipping empty ones. Throws ModelError. */
export function parseDocuments(text: string, source: string): ParsedDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { ...PARSE_OPTIONS, lineCounter });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  const parsed: ParsedDocument[] = [];
  for (const doc of docs) {
    const error = doc.errors[0];
    if (error) throw new ModelError(source, lineAt(error.pos[0]), firstLine(error.message));
    const root = doc.contents as YamlNode | null;
    if (root === null) continue;
    let object: unknown;
    try {
      object = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      throw new ModelError(source, lineAt(root.range?.[0] ?? 0), (err as Error).message);
    }
    if (object === null || object === undefined) continue;
    parsed.push(...expand(object, root, doc, source, lineAt));
  }
  return parsed;
}

/** A document for an object that did not come from a file (the datastore, a test). */
export function documentFromObject(object: unknown, source = '<object>', line = 0): ParsedDocument {
  return { source, line, object, lineOf: () => line };
}

function firstLine(message: string): string {
  const newline = message.indexOf('\n');
  return (newline === -1 ? message : message.slice(0, newline)).replace(
    / at line \d+, column \d+:?$/,
    '',
  );
}

/** One document, or the items of a list (a JSON array or a `kind: XxxList`). */
function expand(
  object: unknown,
  root: YamlNode,
  doc: Document,
  source: string,
  lineAt: (offset: number) => number,
): ParsedDocument[] {
  const make = (value: unknown, node: YamlNode): ParsedDocument => {
    const line = nodeLine(node, lineAt);
    return {
      source,
      line,
      object: value,
      lineOf: (path) => lineOfPath(node, path, doc, lineAt) ?? line,
    };
  };
  if (Array.isArray(object)) {
    return object.flatMap((item, i) => {
      const node = childNode(root, i, doc);
      return item === null || item === undefined ? [] : [make(item, node ?? root)];
    });
  }
  if (isListObject(object)) {
    const itemsNode = childNode(root, 'items', doc);
    return object.items.flatMap((item, i) => {
      const node = itemsNode && childNode(itemsNode, i, doc);
      return item === null || item === undefined ? [] : [make(item, node ?? root)];
    });
  }
  return [make(object, root)];
}

/** `kind: IPPoolList` (or Kubernetes' generic `kind: List`) with an `items` array. */
function isListObject(object: unknown): object is { items: unknown[] } {
  if (typeof object !== 'object' || object === null) return false;
  const { kind, items } = object as { kind?: unknown; items?: unknown };
  return typeof kind === 'string' && kind.endsWith('List') && Array.isArray(items);
}

function nodeLine(node: YamlNode, lineAt: (offset: number) => number): number {
  return lineAt(node.range?.[0] ?? 0);
}

function resolve(node: unknown, doc: Document): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/** The value node under a map key or sequence index, or undefined. */
function childNode(node: YamlNode, segment: string | number, doc: Document): YamlNode | undefined {
  return findChild(resolve(node, doc), segment, doc)?.value;
}

function findChild(
  node: unknown,
  segment: string | number,
  doc: Document,
): { keyNode: YamlNode; value: YamlNode | undefined } | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = pair.key;
      const keyValue = isScalar(key) ? key.value : key;
      if (String(keyValue) === String(segment) && key !== null && typeof key === 'object') {
        const value = resolve(pair.value, doc) as YamlNode | null;
        return { keyNode: key as YamlNode, value: value ?? undefined };
      }
    }
    return undefined;
  }
  if (isSeq(node) && typeof segment === 'number') {
    const item = resolve(node.items[segment], doc) as YamlNode | undefined;
    return item ? { keyNode: item, value: item } : undefined;
  }
  return undefined;
}

/**
 * The line of the deepest node along `path`: for a map key, the key's own line
 * (so `spec.cidr` points at `cidr:` even when its value is null).
 */
function lineOfPath(
  root: YamlNode,
  path: FieldPath,
  doc: Document,
  lineAt: (offset: number) => number,
): number | undefined {
  let node: unknown = resolve(root, doc);
  let line: number | undefined;
  for (const segment of path) {
    const child = findChild(node, segment, doc);
    if (!child) break;
    line = nodeLine(child.keyNode, lineAt);
    node = child.value;
    if (node === undefined) break;
  }
  return line;
}
