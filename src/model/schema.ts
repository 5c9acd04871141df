// A small declarative schema for resource fields, and the walker that checks a
// value against it: every field known (unknown ones are errors, at any depth,
// with a "did you mean" when one is close), every value of its type, required
// fields present, enums and single-value checks (formats.ts) applied.
//
// Cross-field rules ("ports need a protocol") are not here: each kind's module
// runs those after the walk, and only when the walk found nothing, so they can
// trust the types.
//
// `null` means "not set", as it does when Go decodes JSON into Calico's structs,
// and so does "" for a string field.

import type { Check } from './formats.js';
import { show, type FieldPath, type IssueSink } from './issues.js';

export type Schema =
  | StringSchema
  | BooleanSchema
  | IntegerSchema
  | NumberSchema
  | IntOrStringSchema
  | ObjectSchema
  | ArraySchema
  | MapSchema
  | AnySchema
  | ForbiddenSchema;

export interface StringSchema {
  type: 'string';
  enum?: readonly string[];
  check?: Check<string>;
}
export interface BooleanSchema {
  type: 'boolean';
}
export interface IntegerSchema {
  type: 'integer';
  min?: number;
  max?: number;
  oneOf?: readonly number[];
}
export interface NumberSchema {
  type: 'number';
}
/** Ports, protocols and AS numbers: a number or a string, checked together. */
export interface IntOrStringSchema {
  type: 'intOrString';
  check?: Check<number | string>;
}
export interface ObjectSchema {
  type: 'object';
  fields: Readonly<Record<string, Schema>>;
  required?: readonly string[];
}
export interface ArraySchema {
  type: 'array';
  items: Schema;
  maxItems?: number;
  unique?: boolean;
}
/** An object with free-form keys (labels, annotations): keys and values checked. */
export interface MapSchema {
  type: 'map';
  values: Schema;
  keyCheck?: Check<string>;
}
/** Opaque Kubernetes bookkeeping (managedFields, ownerReferences): accepted as is. */
export interface AnySchema {
  type: 'any';
}
/** A field Calico knows but refuses (APIv1 leftovers): present is an error. */
export interface ForbiddenSchema {
  type: 'forbidden';
  message: string;
}

// ---------------------------------------------------------------------------
// Builders, so kind modules read like a field list.

export const str = (options: Omit<StringSchema, 'type'> = {}): StringSchema => ({
  type: 'string',
  ...options,
});
export const strEnum = (values: readonly string[]): StringSchema => ({
  type: 'string',
  enum: values,
});
export const strCheck = (check: Check<string>): StringSchema => ({ type: 'string', check });
export const bool: BooleanSchema = { type: 'boolean' };
export const int = (min?: number, max?: number): IntegerSchema => ({ type: 'integer', min, max });
export const intEnum = (values: readonly number[]): IntegerSchema => ({
  type: 'integer',
  oneOf: values,
});
export const num: NumberSchema = { type: 'number' };
export const intOrString = (check?: Check<number | string>): IntOrStringSchema => ({
  type: 'intOrString',
  check,
});
export const obj = (
  fields: Readonly<Record<string, Schema>>,
  required: readonly string[] = [],
): ObjectSchema => ({ type: 'object', fields, required });
export const arr = (
  items: Schema,
  options: Omit<ArraySchema, 'type' | 'items'> = {},
): ArraySchema => ({
  type: 'array',
  items,
  ...options,
});
export const map = (values: Schema, keyCheck?: Check<string>): MapSchema => ({
  type: 'map',
  values,
  keyCheck,
});
export const any: AnySchema = { type: 'any' };
export const forbidden = (message: string): ForbiddenSchema => ({ type: 'forbidden', message });

// ---------------------------------------------------------------------------
// The walker

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return `the string ${show(value)}`;
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return `${value}`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

const TYPE_NAMES: Record<Schema['type'], string> = {
  string: 'a string',
  boolean: 'true or false',
  integer: 'an integer',
  number: 'a number',
  intOrString: 'a number or a string',
  object: 'an object',
  array: 'a list',
  map: 'an object',
  any: 'anything',
  forbidden: 'absent',
};

/** Checks `value` against `schema`, reporting each problem at its path. */
export function checkValue(value: unknown, schema: Schema, path: FieldPath, sink: IssueSink): void {
  const wrongType = () =>
    sink.report(path, `must be ${TYPE_NAMES[schema.type]}, not ${describe(value)}`);
  switch (schema.type) {
    case 'any':
      return;
    case 'forbidden':
      sink.report(path, schema.message);
      return;
    case 'string':
      if (typeof value !== 'string') return wrongType();
      // "" is Go's zero value: Calico's `omitempty` checks skip it, and
      // exported resources carry it (`bpfLogLevel: ""`). Required fields
      // treat it as missing.
      if (value === '') return;
      if (schema.enum && !schema.enum.includes(value)) {
        sink.report(path, `${show(value)} is not one of ${schema.enum.join(', ')}`);
        return;
      }
      reportCheck(schema.check?.(value), path, sink);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') wrongType();
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) wrongType();
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return wrongType();
      if (schema.oneOf && !schema.oneOf.includes(value)) {
        sink.report(path, `${value} is not one of ${schema.oneOf.join(', ')}`);
      } else if (
        (schema.min !== undefined && value < schema.min) ||
        (schema.max !== undefined && value > schema.max)
      ) {
        sink.report(path, `${value} is out of range: must be ${rangeText(schema.min, schema.max)}`);
      }
      return;
    case 'intOrString':
      if (typeof value !== 'string' && (typeof value !== 'number' || !Number.isFinite(value))) {
        return wrongType();
      }
      reportCheck(schema.check?.(value), path, sink);
      return;
    case 'array':
      if (!Array.isArray(value)) return wrongType();
      if (schema.maxItems !== undefined && value.length > schema.maxItems) {
        sink.report(path, `has ${value.length} items: at most ${schema.maxItems} are allowed`);
      }
      value.forEach((item, i) => {
        if (item === null)
          sink.report([...path, i], `must be ${TYPE_NAMES[schema.items.type]}, not null`);
        else checkValue(item, schema.items, [...path, i], sink);
      });
      if (schema.unique) reportDuplicates(value, path, sink);
      return;
    case 'map':
      if (!isPlainObject(value)) return wrongType();
      for (const [key, item] of Object.entries(value)) {
        reportCheck(schema.keyCheck?.(key), [...path, key], sink);
        if (item === null)
          sink.report([...path, key], `must be ${TYPE_NAMES[schema.values.type]}, not null`);
        else checkValue(item, schema.values, [...path, key], sink);
      }
      return;
    case 'object':
      if (!isPlainObject(value)) return wrongType();
      checkObject(value, schema, path, sink);
      return;
  }
}

function checkObject(
  value: Record<string, unknown>,
  schema: ObjectSchema,
  path: FieldPath,
  sink: IssueSink,
): void {
  for (const [key, item] of Object.entries(value)) {
    const fieldSchema = Object.hasOwn(schema.fields, key) ? schema.fields[key] : undefined;
    if (!fieldSchema) {
      const guess = closestName(key, Object.keys(schema.fields));
      sink.report(
        [...path, key],
        guess ? `unknown field (did you mean "${guess}"?)` : 'unknown field',
      );
      continue;
    }
    if (item === null || item === undefined) continue;
    checkValue(item, fieldSchema, [...path, key], sink);
  }
  for (const key of schema.required ?? []) {
    const present = value[key];
    if (present === undefined || present === null || present === '')
      sink.report([...path, key], 'is required');
  }
}

function rangeText(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `${min}-${max}`;
  if (min !== undefined) return `at least ${min}`;
  return `at most ${max}`;
}

function reportCheck(message: string | undefined, path: FieldPath, sink: IssueSink): void {
  if (message !== undefined) sink.report(path, message);
}

function reportDuplicates(values: unknown[], path: FieldPath, sink: IssueSink): void {
  const seen = new Set<string>();
  values.forEach((item, i) => {
    const key = JSON.stringify(item);
    if (seen.has(key)) sink.report([...path, i], `${show(item)} is listed more than once`);
    seen.add(key);
  });
}

/** A known name within edit distance 2 (or differing only in case), for "did you mean". */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance =
      candidate.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= (name.length >= 4 ? 2 : 1) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** A copy with every null-valued object field removed (null means unset), deeply. */
export function withoutNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutNulls) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== null && item !== undefined) out[key] = withoutNulls(item);
    }
    return out as T;
  }
  return value;
}
