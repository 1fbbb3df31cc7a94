/**
 * Metadata filters: `{ field: value }` is strict JSON equality; `{ field: { $op: operand } }` applies
 * operators. Several fields, and several operators on one field, must all hold. Dotted paths
 * (`user.id`) reach nested objects. Backends compile `FilterCondition`s to their query language with
 * field names and values bound as parameters; `matchesFilter` is the reference semantics they share.
 */
import { LTMError } from './errors.js';
import type { JsonObject, JsonValue } from './json.js';
import { compareKeys, describeType, hasLoneSurrogate } from './validation.js';

export type ComparisonOperator = '$gt' | '$gte' | '$lt' | '$lte';
export type FilterOperator = '$eq' | '$ne' | '$in' | '$nin' | '$exists' | ComparisonOperator;

export type OperatorObject = { [op in FilterOperator]?: JsonValue };
/** `{ "user.id": 7, "score": { "$gte": 0.5 } }` */
export type Filter = { [path: string]: JsonValue | OperatorObject };

export interface FilterCondition {
  /** Path segments: `user.id` → `['user', 'id']`. */
  path: string[];
  op: FilterOperator;
  /** `$in`/`$nin`: an array; `$exists`: a boolean; comparisons: a number or string. */
  operand: JsonValue;
}

const OPERATORS: ReadonlySet<string> = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists']);
const COMPARISONS: ReadonlySet<string> = new Set(['$gt', '$gte', '$lt', '$lte']);

/** Validates a filter and returns it unchanged (so callers may keep the user's object). */
export function validateFilter(filter: unknown): Filter {
  parseFilter(filter);
  return filter as Filter;
}

export function parseFilter(filter: unknown): FilterCondition[] {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) {
    throw new LTMError('validation_error', `filter must be an object of { field: value }, got ${describeType(filter)}`);
  }
  const conditions: FilterCondition[] = [];
  for (const [field, spec] of Object.entries(filter as Record<string, unknown>)) {
    const path = parsePath(field);
    if (isOperatorObject(spec)) {
      for (const [op, operand] of Object.entries(spec)) conditions.push(parseCondition(field, path, op, operand));
    } else {
      conditions.push({ path, op: '$eq', operand: checkJson(field, spec) });
    }
  }
  return conditions;
}

function isOperatorObject(spec: unknown): spec is Record<string, unknown> {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return false;
  const keys = Object.keys(spec);
  const operatorKeys = keys.filter((k) => k.startsWith('$'));
  if (operatorKeys.length === 0) return false; // a plain object: equality with that object
  if (operatorKeys.length !== keys.length) {
    throw new LTMError('validation_error', `filter object mixes operators and fields: ${JSON.stringify(keys)}`);
  }
  return true;
}

function parsePath(field: string): string[] {
  if (field === '') throw new LTMError('validation_error', 'filter field names must not be empty');
  if (field.startsWith('$')) {
    throw new LTMError('validation_error', `unknown top-level filter operator ${JSON.stringify(field)}; operators go inside a field: { field: { $gt: 1 } }`);
  }
  if (hasLoneSurrogate(field) || field.includes('\u0000')) {
    throw new LTMError('validation_error', 'filter field names must be well-formed Unicode without NUL');
  }
  const path = field.split('.');
  if (path.some((segment) => segment === '')) {
    throw new LTMError('validation_error', `filter field ${JSON.stringify(field)} has an empty path segment`);
  }
  return path;
}

function parseCondition(field: string, path: string[], op: string, operand: unknown): FilterCondition {
  if (!OPERATORS.has(op)) {
    throw new LTMError('validation_error', `unknown filter operator ${JSON.stringify(op)} on ${JSON.stringify(field)}; valid: ${[...OPERATORS].join(' ')}`);
  }
  const value = checkJson(field, operand);
  if (COMPARISONS.has(op) && typeof value !== 'number' && typeof value !== 'string') {
    throw new LTMError('validation_error', `${op} on ${JSON.stringify(field)} takes a number or a string, got ${describeType(value)}`);
  }
  if ((op === '$in' || op === '$nin') && !Array.isArray(value)) {
    throw new LTMError('validation_error', `${op} on ${JSON.stringify(field)} takes an array, got ${describeType(value)}`);
  }
  if (op === '$exists' && typeof value !== 'boolean') {
    throw new LTMError('validation_error', `$exists on ${JSON.stringify(field)} takes true or false, got ${describeType(value)}`);
  }
  return { path, op: op as FilterOperator, operand: value };
}

/** Filter operands must be JSON values that round-trip exactly (no NaN, undefined, functions...). */
function checkJson(field: string, value: unknown): JsonValue {
  const ok = (v: unknown): boolean => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return typeof v !== 'string' || !hasLoneSurrogate(v);
    if (typeof v === 'number') return Number.isFinite(v);
    if (Array.isArray(v)) return v.every(ok);
    if (typeof v === 'object') {
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) return Object.values(v as object).every(ok);
    }
    return false;
  };
  if (!ok(value)) {
    throw new LTMError('validation_error', `filter value for ${JSON.stringify(field)} must be plain JSON (no undefined, NaN, Infinity, Date, BigInt or functions)`);
  }
  return value as JsonValue;
}

/** Resolves a path through nested objects; `undefined` when any step is missing or not an object. */
export function resolvePath(metadata: JsonObject, path: readonly string[]): JsonValue | undefined {
  let current: JsonValue | undefined = metadata;
  for (const segment of path) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, segment)) return undefined;
    current = (current as JsonObject)[segment];
  }
  return current;
}

/** Strict JSON equality: same type and value; object member order does not matter. */
export function jsonEquals(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEquals(x, b[i] as JsonValue));
  }
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  return ak.length === bk.length && ak.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEquals(a[k] as JsonValue, b[k] as JsonValue));
}

export function matchesCondition(metadata: JsonObject, condition: FilterCondition): boolean {
  const actual = resolvePath(metadata, condition.path);
  const present = actual !== undefined;
  const { op, operand } = condition;
  switch (op) {
    case '$eq':
      return present && jsonEquals(actual, operand);
    case '$ne':
      return !(present && jsonEquals(actual, operand));
    case '$in':
      return present && (operand as JsonValue[]).some((candidate) => jsonEquals(actual, candidate));
    case '$nin':
      return !(present && (operand as JsonValue[]).some((candidate) => jsonEquals(actual, candidate)));
    case '$exists':
      return present === operand;
    default: {
      // Comparisons only between two numbers or two strings; anything else matches nothing.
      let order: number;
      if (typeof actual === 'number' && typeof operand === 'number') order = actual - operand;
      else if (typeof actual === 'string' && typeof operand === 'string') order = compareKeys(actual, operand);
      else return false;
      if (op === '$gt') return order > 0;
      if (op === '$gte') return order >= 0;
      if (op === '$lt') return order < 0;
      return order <= 0;
    }
  }
}

export function matchesFilter(metadata: JsonObject, conditions: readonly FilterCondition[]): boolean {
  return conditions.every((condition) => matchesCondition(metadata, condition));
}
