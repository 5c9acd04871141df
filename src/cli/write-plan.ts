import { isDeepStrictEqual } from 'node:util';
import { kindOfResource, type ResourceStore } from '../datastore/resources.js';
import type { ParsedDocument } from '../model/documents.js';
import { lookupKind, lookupKindFor } from '../model/kinds.js';
import type { IPPoolSpec, Resource } from '../model/resource.js';
import {
  applyDefaults,
  checkPoolOverlap,
  formatIssue,
  validateDocument,
  validateReplace,
  type ValidationIssue,
} from '../model/validate.js';
import { CliError } from './context.js';

export type WriteMode = 'apply' | 'create' | 'replace';

/** A validated, defaulted resource and where it was written. */
export interface PreparedResource {
  resource: Resource;
  source: string;
  line: number;
}

export interface WriteStep {
  action: 'create' | 'update' | 'unchanged' | 'skip';
  resource: Resource;
}

/**
 * Validates every document and fills in Calico's defaults. Any issue in any
 * document refuses the whole batch: the error lists every issue found.
 */
export function prepareManifests(docs: ParsedDocument[], namespace?: string): PreparedResource[] {
  const issues: ValidationIssue[] = [];
  const prepared: PreparedResource[] = [];
  const seen = new Map<string, PreparedResource>();
  for (const doc of docs) {
    fillNamespace(doc, namespace, issues);
    const result = validateDocument(doc);
    issues.push(...result.issues);
    if (!result.resource || result.issues.length > 0) continue;
    const resource = applyDefaults(result.resource);
    const item = { resource, source: doc.source, line: doc.line };
    const id = identity(resource);
    const earlier = seen.get(id);
    if (earlier) {
      issues.push({
        source: doc.source,
        line: doc.line,
        path: 'metadata.name',
        message: `${id} is also defined at ${earlier.source}:${earlier.line}`,
      });
      continue;
    }
    seen.set(id, item);
    prepared.push(item);
  }
  refuseIfAny(issues);
  return prepared;
}

/**
 * Decides, against what is stored now, what each resource needs, and checks
 * the rules that involve other resources (immutable fields, pool overlap).
 * Nothing is written here.
 */
export async function planWrites(
  store: ResourceStore,
  mode: WriteMode,
  prepared: PreparedResource[],
  opts: { skipExists: boolean },
): Promise<WriteStep[]> {
  const issues: ValidationIssue[] = [];
  const steps: WriteStep[] = [];
  const storedPools = prepared.some((p) => p.resource.kind === 'IPPool')
    ? await store.list<IPPoolSpec>('IPPool')
    : [];
  const batchPools = prepared
    .filter((p) => p.resource.kind === 'IPPool')
    .map((p) => p.resource as Resource<IPPoolSpec>);

  for (const item of prepared) {
    const { resource } = item;
    const at = { source: item.source, line: item.line };
    const existing = await store.get(
      kindOfResource(resource),
      resource.metadata.name,
      resource.metadata.namespace,
    );
    if (resource.kind === 'IPPool') {
      const others = [
        ...storedPools.filter((p) => !batchPools.some((b) => b.metadata.name === p.metadata.name)),
        ...batchPools,
      ].filter((p) => p.metadata.name !== resource.metadata.name);
      issues.push(...checkPoolOverlap(resource as Resource<IPPoolSpec>, others, at));
    }
    if (!existing) {
      if (mode === 'replace') {
        issues.push({
          ...at,
          path: 'metadata.name',
          message: `${identity(resource)} does not exist`,
        });
      } else {
        steps.push({ action: 'create', resource });
      }
      continue;
    }
    if (mode === 'create') {
      if (opts.skipExists) steps.push({ action: 'skip', resource });
      else
        issues.push({
          ...at,
          path: 'metadata.name',
          message: `${identity(resource)} already exists`,
        });
      continue;
    }
    issues.push(
      ...validateReplace(existing, resource).map((i) => ({
        ...i,
        source: at.source,
        line: i.line || at.line,
      })),
    );
    steps.push({ action: sameContent(existing, resource) ? 'unchanged' : 'update', resource });
  }
  refuseIfAny(issues);
  return steps;
}

function fillNamespace(
  doc: ParsedDocument,
  namespace: string | undefined,
  issues: ValidationIssue[],
): void {
  const object = doc.object as {
    apiVersion?: unknown;
    kind?: unknown;
    metadata?: { namespace?: unknown };
  } | null;
  if (!object || typeof object !== 'object' || typeof object.kind !== 'string') return;
  const info =
    typeof object.apiVersion === 'string'
      ? lookupKindFor(object.apiVersion, object.kind)
      : lookupKind(object.kind);
  if (!info?.namespaced || !object.metadata || typeof object.metadata !== 'object') return;
  const given = object.metadata.namespace;
  if (given === undefined) {
    object.metadata.namespace = namespace ?? 'default';
  } else if (namespace !== undefined && given !== namespace) {
    issues.push({
      source: doc.source,
      line: doc.lineOf(['metadata', 'namespace']),
      path: 'metadata.namespace',
      message: `"${String(given)}" does not match --namespace "${namespace}"`,
    });
  }
}

function identity(resource: Resource): string {
  const ns = resource.metadata.namespace ? `${resource.metadata.namespace}/` : '';
  return `${resource.kind}(${ns}${resource.metadata.name})`;
}

function sameContent(stored: Resource, next: Resource): boolean {
  const content = (r: Resource) => ({
    labels: r.metadata.labels ?? {},
    annotations: r.metadata.annotations ?? {},
    spec: r.spec ?? {},
  });
  return isDeepStrictEqual(content(stored), content(next));
}

function refuseIfAny(issues: ValidationIssue[]): void {
  if (issues.length === 0) return;
  const lines = issues.map(formatIssue);
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  throw new CliError(`${lines.join('\n')}\n${count} found; nothing was changed`);
}
