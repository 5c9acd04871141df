// Helpers for the model's tests: validate manifests and objects, get issues as text.

import { parseDocuments } from './documents.js';
import { CALICO_API_VERSION, type Resource } from './resource.js';
import { formatIssue, validateDocument, validateResource } from './validate.js';

/** Every issue in a manifest, formatted as `file:line: path: message`. */
export function manifestIssues(text: string, source = 'test.yaml'): string[] {
  return parseDocuments(text, source).flatMap((doc) =>
    validateDocument(doc).issues.map(formatIssue),
  );
}

/** The issues of one resource object, as `path: message`. */
export function objectIssues(object: unknown): string[] {
  return validateResource(object).issues.map((i) =>
    i.path ? `${i.path}: ${i.message}` : i.message,
  );
}

/** A Calico v3 resource, for tests. */
export function calico<S>(kind: string, name: string, spec: S, namespace?: string): Resource<S> {
  return {
    apiVersion: CALICO_API_VERSION,
    kind,
    metadata: namespace === undefined ? { name } : { name, namespace },
    spec,
  };
}
