import { LTMError } from '@ltm/core';

/** `value`, or `fallback` when undefined; a `validation_error` naming the option unless an integer >= `min`. */
export function positiveInteger(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new LTMError('validation_error', `${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** A plain object (not null, not an array) or undefined; else a `validation_error` naming it. */
export function optionalObject<T extends object>(name: string, value: T | undefined): T | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new LTMError('validation_error', `${name} must be an object`);
  }
  return value;
}
