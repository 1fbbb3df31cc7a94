/**
 * Assertions for the contract checks. They use `node:assert` rather than vitest's `expect`, so the checks
 * run the same under any runner (or none), and every message says which call broke which rule.
 */
import assert from 'node:assert/strict';
import { ERROR_TYPES } from '../errors.js';
import type { ErrorType, Failure } from '../errors.js';
import type { LTMBackend } from '../types.js';
import { compareKeys } from '../validation.js';
import type { BackendHarness } from './harness.js';

interface AnyResult {
  success: boolean;
}

type Success<R> = Extract<R, { success: true }>;

export function fail(message: string): never {
  throw new assert.AssertionError({ message });
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

/** Deep strict equality (`-0` ≠ `0`, prototypes compared) with the diff kept under a line of context. */
export function same(actual: unknown, expected: unknown, doing: string): void {
  try {
    assert.deepStrictEqual(actual, expected);
  } catch (error) {
    if (error instanceof assert.AssertionError) error.message = `${doing}\n${error.message}`;
    throw error;
  }
}

/** Awaits a protocol call that must succeed; checks it resolved (not rejected) a JSON-safe result. */
export async function succeeded<R extends AnyResult>(call: Promise<R> | R, doing: string): Promise<Success<R>> {
  const result = await settle(call, doing);
  if (result.success !== true) fail(`${doing}: expected success, got ${describeFailure(result)}`);
  return result as Success<R>;
}

/** Awaits a protocol call that must fail with one of `expected`; checks the failure's shape. */
export async function failedWith(
  call: Promise<AnyResult> | AnyResult,
  expected: ErrorType | readonly ErrorType[],
  doing: string,
): Promise<Failure> {
  const allowed: readonly ErrorType[] = typeof expected === 'string' ? [expected] : expected;
  const result = await settle(call, doing);
  if (result.success !== false) fail(`${doing}: expected ${allowed.join(' or ')}, but it succeeded: ${preview(result)}`);
  checkFailureShape(result, doing);
  const failure = result as unknown as Failure;
  if (!allowed.includes(failure.errorType)) {
    fail(`${doing}: expected ${allowed.join(' or ')}, got ${describeFailure(failure)}`);
  }
  return failure;
}

async function settle<R extends AnyResult>(call: Promise<R> | R, doing: string): Promise<R> {
  let result: unknown;
  try {
    result = await call;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    fail(`${doing} rejected (${message}); protocol methods resolve { success: false, ... } instead of throwing`);
  }
  if (result === null || typeof result !== 'object' || typeof (result as AnyResult).success !== 'boolean') {
    fail(`${doing} resolved ${preview(result)}, not a result object with a boolean success`);
  }
  assertJsonSafe(result, doing);
  return result as R;
}

/** Every protocol result must survive `JSON.parse(JSON.stringify(r))` unchanged. */
export function assertJsonSafe(value: unknown, doing: string): void {
  let copy: unknown;
  try {
    copy = JSON.parse(JSON.stringify(value));
  } catch (error) {
    fail(`${doing}: the result is not JSON-serializable (${error instanceof Error ? error.message : String(error)})`);
  }
  try {
    assert.deepStrictEqual(value, copy);
  } catch {
    fail(`${doing}: the result changes through JSON.stringify/JSON.parse (undefined members, Dates, NaN or class instances?): ${preview(value)}`);
  }
}

function checkFailureShape(result: object, doing: string): void {
  const keys = Object.keys(result).sort();
  same(keys, ['error', 'errorType', 'retryable', 'success'], `${doing}: a Failure has exactly success, error, errorType and retryable`);
  const { error, errorType, retryable } = result as Failure;
  check(typeof error === 'string' && error.length > 0, `${doing}: Failure.error must be a non-empty message`);
  check(ERROR_TYPES.includes(errorType), `${doing}: Failure.errorType ${JSON.stringify(errorType)} is not a protocol error code`);
  check(typeof retryable === 'boolean', `${doing}: Failure.retryable must be a boolean`);
}

function describeFailure(result: AnyResult): string {
  const { errorType, error } = result as Partial<Failure>;
  return `${String(errorType)}: ${String(error)}`;
}

export function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** `2024-05-01T12:00:00.000Z`: ISO-8601 in UTC, fractional seconds optional. */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

export function assertIsoUtc(value: unknown, doing: string): number {
  check(typeof value === 'string' && ISO_UTC.test(value), `${doing}: expected an ISO-8601 UTC timestamp like 2024-05-01T12:00:00.000Z, got ${preview(value)}`);
  return Date.parse(value);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Waits until the wall clock has moved past `epochMs`. */
export async function sleepPast(epochMs: number): Promise<void> {
  while (Date.now() <= epochMs) await sleep(epochMs - Date.now() + 1);
}

/** Waits a few milliseconds so the next write gets a later `updatedAt` than the previous one. */
export function tick(): Promise<void> {
  return sleepPast(Date.now() + 3);
}

let timeZoneQueue: Promise<unknown> = Promise.resolve();

/**
 * Runs `body` with `process.env.TZ` set to `zone`, then restores it. The zone is process-wide, so these
 * sections run one at a time even when several suites run concurrently in one process.
 */
export function withTimeZone<T>(zone: string, body: () => Promise<T>): Promise<T> {
  const run = timeZoneQueue.then(async () => {
    const original = process.env.TZ;
    process.env.TZ = zone;
    try {
      return await body();
    } finally {
      if (original === undefined) delete process.env.TZ;
      else process.env.TZ = original;
    }
  });
  timeZoneQueue = run.catch(() => undefined);
  return run;
}

/** Opens a fresh store, runs `body`, then closes and destroys it whatever happened. */
export async function withBackend<T>(harness: BackendHarness, body: (backend: LTMBackend) => Promise<T>): Promise<T> {
  const backend = await harness.create();
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await body(backend) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  try {
    await backend.close();
    await harness.destroy?.(backend);
  } catch (error) {
    // The body's failure says more than a failing cleanup after it.
    if (outcome.ok) throw error;
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/** Keys in the protocol's order (UTF-8 bytes). */
export function sortedKeys(keys: Iterable<string>): string[] {
  return [...keys].sort(compareKeys);
}
