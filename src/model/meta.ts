// Object metadata: the schema of `metadata`, and Calico's rules for labels and
// annotations (Kubernetes' rules: qualified-name keys, short label values,
// annotations at most 256 KiB in all).

import { checkLabelName, checkLabelValue, checkQualifiedName } from './formats.js';
import type { FieldPath, IssueSink } from './issues.js';
import { any, arr, int, map, obj, str, strCheck, type ObjectSchema } from './schema.js';

const ANNOTATIONS_MAX_BYTES = 256 * 1024;
const UTF8 = new TextEncoder();

export const labelsSchema = map(strCheck(checkLabelValue), checkQualifiedName);
export const annotationsSchema = map(str(), (key) => checkQualifiedName(key.toLowerCase()));

/**
 * Everything Kubernetes' ObjectMeta may carry, so that `kubectl get -o yaml`
 * output applies; the bookkeeping fields are accepted and otherwise ignored.
 */
export const metadataSchema: ObjectSchema = obj(
  {
    name: str(),
    namespace: strCheck(checkLabelName),
    labels: labelsSchema,
    annotations: annotationsSchema,
    resourceVersion: str(),
    uid: str(),
    creationTimestamp: str(),
    generation: int(0),
    generateName: str(),
    deletionTimestamp: str(),
    deletionGracePeriodSeconds: int(0),
    finalizers: arr(str()),
    ownerReferences: arr(any),
    managedFields: arr(any),
    selfLink: str(),
  },
  ['name'],
);

/** The total size limit on annotations, which no single field check can see. */
export function checkAnnotationsSize(
  annotations: Record<string, string> | undefined,
  path: FieldPath,
  sink: IssueSink,
): void {
  if (!annotations) return;
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) {
    total += UTF8.encode(key).length + UTF8.encode(value).length;
  }
  if (total > ANNOTATIONS_MAX_BYTES) {
    sink.report(path, `total size ${total} bytes is over the ${ANNOTATIONS_MAX_BYTES}-byte limit`);
  }
}
