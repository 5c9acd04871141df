// What each kind's module provides to the validator and to applyDefaults.

import type { Check } from '../formats.js';
import type { IssueSink } from '../issues.js';
import type { KindInfo } from '../kinds.js';
import type { Resource } from '../resource.js';
import type { ObjectSchema, Schema } from '../schema.js';

// Methods (not function-typed properties) so that a KindModule<IPPoolSpec> is
// also a KindModule<unknown>, the type of the registry.
export interface KindModule<Spec = unknown> {
  info: KindInfo;
  /** The schema of `spec`; the walker checks types and unknown fields with it. */
  spec: ObjectSchema;
  /** The schema of `status`, for the kinds that have one. */
  status?: Schema;
  /** The rule for metadata.name, when it is not the usual DNS subdomain. */
  checkName?: Check<string>;
  /**
   * Cross-field rules, run only once the schema walk found nothing, on a
   * resource whose types are known to match the schema.
   */
  checkSemantics?(resource: Resource<Spec>, sink: IssueSink): void;
  /** Calico's defaults for absent fields: a new spec, the given one untouched. */
  defaults?(resource: Resource<Spec>): Resource<Spec>;
  /** Fields that may not change on update. */
  checkReplace?(previous: Resource<Spec>, next: Resource<Spec>, sink: IssueSink): void;
}
