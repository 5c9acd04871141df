// Calico's defaults: what an absent field means, written out.
//
// applyDefaults is what the datastore stores and the rest of Tortie reads, so
// consumers never have to know a default. It is idempotent, and a valid
// resource stays valid.

import { moduleFor } from './kinds/index.js';
import { lookupKindOf } from './kinds.js';
import type { Resource } from './resource.js';

/** The namespace a namespaced resource without one lands in, as with calicoctl. */
export const DEFAULT_NAMESPACE = 'default';

/** A new resource with Calico's defaults filled in; unknown kinds come back as copies. */
export function applyDefaults<S = Record<string, unknown>>(resource: Resource<S>): Resource<S> {
  const copy = structuredClone(resource);
  const info = lookupKindOf(copy);
  if (!info) return copy;
  const withNamespace: Resource<S> =
    info.namespaced && !copy.metadata.namespace
      ? { ...copy, metadata: { ...copy.metadata, namespace: DEFAULT_NAMESPACE } }
      : copy;
  const defaults = moduleFor(info).defaults;
  return defaults ? (defaults(withNamespace as Resource<unknown>) as Resource<S>) : withNamespace;
}
