// Validation of v3 resources, in layers:
//
//   1. the document is an object with a known apiVersion and kind;
//   2. the schema walk (schema.ts with each kind's field schema): unknown
//      fields at any depth, types, required fields, enums, and single-value
//      checks such as CIDRs and selectors;
//   3. metadata rules: the kind's name rule, namespace present only on
//      namespaced kinds, annotation size;
//   4. the kind's cross-field rules (kinds/*.ts), only when 1-3 found nothing.
//
// Issues name the field and its line: `pools.yaml:12: spec.cidr: ...`.

import { cidrsOverlap } from './cidr.js';
import type { ParsedDocument } from './documents.js';
import { checkName } from './formats.js';
import { poolCidr } from './kinds/ipam.js';
import { moduleFor } from './kinds/index.js';
import { ALL_KINDS, lookupKind, lookupKindFor, lookupKindOf } from './kinds.js';
import { IssueSink, show, type IssueLocation, type ValidationIssue } from './issues.js';
import { checkAnnotationsSize, metadataSchema } from './meta.js';
import type { IPPoolSpec, Resource } from './resource.js';
import { checkValue, closestName, isPlainObject, obj, str, withoutNulls } from './schema.js';

export { applyDefaults, DEFAULT_NAMESPACE } from './defaults.js';
export { formatIssue, type IssueLocation, type ValidationIssue } from './issues.js';

export interface ValidationResult {
  /** The resource (null fields dropped), present only when there are no issues. */
  resource?: Resource;
  issues: ValidationIssue[];
}

/** Validates one parsed document as a v3 resource. */
export function validateDocument(doc: ParsedDocument): ValidationResult {
  const sink = new IssueSink(doc);
  const object = doc.object;
  if (!isPlainObject(object)) {
    sink.report(
      [],
      `a resource must be an object with apiVersion, kind and metadata, not ${Array.isArray(object) ? 'a list' : show(object)}`,
    );
    return { issues: sink.issues };
  }
  const info = identifyKind(object, sink);
  if (!info) return { issues: sink.issues };
  const module = moduleFor(info);

  const topLevel = obj(
    {
      apiVersion: str(),
      kind: str(),
      metadata: metadataSchema,
      spec: module.spec,
      ...(module.status ? { status: module.status } : {}),
    },
    ['metadata'],
  );
  checkValue(object, topLevel, [], sink);
  if (object.spec === undefined || object.spec === null) {
    for (const field of module.spec.required ?? []) sink.report(['spec', field], 'is required');
  }

  const metadata = object.metadata;
  if (isPlainObject(metadata)) {
    if (typeof metadata.name === 'string' && metadata.name !== '') {
      const problem = (module.checkName ?? checkName)(metadata.name);
      if (problem) sink.report(['metadata', 'name'], problem);
    }
    if (
      !info.namespaced &&
      metadata.namespace !== undefined &&
      metadata.namespace !== null &&
      metadata.namespace !== ''
    ) {
      sink.report(['metadata', 'namespace'], `must not be set: ${info.kind} is not namespaced`);
    }
    if (isPlainObject(metadata.annotations) && sink.count === 0) {
      checkAnnotationsSize(
        metadata.annotations as Record<string, string>,
        ['metadata', 'annotations'],
        sink,
      );
    }
  }

  const resource = withoutNulls(object) as unknown as Resource;
  if (sink.count === 0) module.checkSemantics?.(resource, sink);
  return sink.count === 0 ? { resource, issues: [] } : { issues: sink.issues };
}

/** Validates a resource object that did not come from a file (no line numbers). */
export function validateResource(
  resource: unknown,
  where: IssueLocation = { source: '<resource>', line: 0 },
): ValidationResult {
  return validateDocument({
    source: where.source,
    line: where.line,
    object: resource,
    lineOf: (path) => where.lineOf?.(path) ?? where.line,
  });
}

function identifyKind(object: Record<string, unknown>, sink: IssueSink) {
  const { apiVersion, kind } = object;
  if (typeof kind !== 'string' || kind === '') {
    sink.report(
      ['kind'],
      kind === undefined || kind === null
        ? 'is required'
        : `must be a kind name, not ${show(kind)}`,
    );
  }
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    sink.report(
      ['apiVersion'],
      apiVersion === undefined || apiVersion === null
        ? 'is required'
        : `must be a string, not ${show(apiVersion)}`,
    );
  }
  if (typeof kind !== 'string' || typeof apiVersion !== 'string' || sink.count > 0)
    return undefined;
  const info = lookupKindFor(apiVersion, kind);
  if (info) return info;
  const sameKind = ALL_KINDS.filter((k) => k.kind === kind);
  if (sameKind.length > 0) {
    sink.report(
      ['apiVersion'],
      `${show(apiVersion)} is not an API version of ${kind}: use ${sameKind.map((k) => k.apiVersion).join(' or ')}`,
    );
    return undefined;
  }
  const guess =
    lookupKind(kind)?.kind ??
    closestName(
      kind,
      ALL_KINDS.map((k) => k.kind),
    );
  sink.report(['kind'], `unknown kind ${show(kind)}${guess ? ` (did you mean "${guess}"?)` : ''}`);
  return undefined;
}

/**
 * Checks an update of `previous` to `next`: the identity (kind, name,
 * namespace) is fixed, and so are the fields Calico makes immutable.
 */
export function validateReplace(
  previous: Resource,
  next: Resource,
  where: IssueLocation = { source: '<resource>', line: 0 },
): ValidationIssue[] {
  const sink = new IssueSink(where);
  const before = lookupKindOf(previous);
  const after = lookupKindOf(next);
  if (before !== after) {
    sink.report(['kind'], `cannot be changed from ${previous.apiVersion} ${previous.kind}`);
    return sink.issues;
  }
  if (previous.metadata.name !== next.metadata.name) {
    sink.report(['metadata', 'name'], `cannot be changed from ${show(previous.metadata.name)}`);
  }
  // An absent namespace is the default one.
  const namespaceOf = (r: Resource) => r.metadata.namespace || 'default';
  if (after?.namespaced && namespaceOf(previous) !== namespaceOf(next)) {
    sink.report(['metadata', 'namespace'], `cannot be changed from ${show(namespaceOf(previous))}`);
  }
  if (after) moduleFor(after).checkReplace?.(previous, next, sink);
  return sink.issues;
}

/**
 * An enabled IPPool may not overlap another enabled pool; `others` may include
 * the pool itself (matched by name), which is skipped.
 */
export function checkPoolOverlap(
  pool: Resource<IPPoolSpec>,
  others: readonly Resource<IPPoolSpec>[],
  where: IssueLocation,
): ValidationIssue[] {
  const sink = new IssueSink(where);
  const cidr = poolCidr(pool);
  if (!cidr || pool.spec?.disabled) return [];
  for (const other of others) {
    if (other.metadata.name === pool.metadata.name || other.spec?.disabled) continue;
    const otherCidr = poolCidr(other);
    if (otherCidr && cidrsOverlap(cidr, otherCidr)) {
      sink.report(
        ['spec', 'cidr'],
        `${show(pool.spec!.cidr)} overlaps IPPool ${show(other.metadata.name)} (${other.spec!.cidr}): disable one of them first`,
      );
    }
  }
  return sink.issues;
}
