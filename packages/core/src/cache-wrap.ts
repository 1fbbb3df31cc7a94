/**
 * `cacheWrap`: The Edge Agent's `cache.wrap` action. Runs an action once per distinct arguments and
 * serves later calls from the LTM until the entry expires. The cache is an optimization, so an LTM
 * that fails never fails the call: the action runs and the problem is reported in the result.
 */
import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { LTMError, toFailure } from './errors.js';
import type { ErrorType } from './errors.js';
import type { JsonObject, JsonValue } from './json.js';
import type { LTMBackend } from './types.js';
import { serializeValue } from './validation.js';

// The package is CommonJS whose module.exports is the function; its typings declare an ES default
// export, which NodeNext resolution reads as `exports.default`. At run time the default import is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

export const DEFAULT_CACHE_TTL_SECONDS = 60 * 24 * 60 * 60;
export const DEFAULT_CACHE_AGENT_NAME = 'default';

export interface CacheWrapLogger {
  warn(message: string): void;
}

export interface CacheWrapOptions<A> {
  /** Passed to the action; its RFC 8785 canonical JSON, hashed, is the key unless `key` is given. */
  args: A;
  /** Use this LTM key instead of the derived `cache:{agent}:{action}:{sha256}`. */
  key?: string;
  /** First key component; default `default`. Must not contain `:`. */
  agentName?: string;
  /** Second key component; default the action function's `name`. Required for anonymous functions. */
  actionName?: string;
  /** At most one of the three TTL options; default 60 days. */
  ttlSeconds?: number;
  ttlHours?: number;
  ttlDays?: number;
  /** Run the action even if a cached result exists, and store its result. */
  skipCache?: boolean;
  /** Receives the one-time warning about a read-only backend; default `console`. */
  logger?: CacheWrapLogger;
}

/** A cache problem the call worked around. */
export interface CacheWrapError {
  /** `key`: args could not be canonicalized; `result`: the result is not JSON; else the LTM call that failed. */
  stage: 'key' | 'retrieve' | 'store' | 'result';
  error: string;
  errorType: ErrorType;
  retryable: boolean;
}

export interface CacheWrapResult<R> {
  success: true;
  /**
   * The action's result in JSON form (`JSON.parse(JSON.stringify(result))`), identical on a hit and
   * on the miss that cached it. A result JSON cannot represent is returned as the action gave it.
   */
  result: R;
  cacheHit: boolean;
  /** `null` when no key could be derived (args not JSON-representable and no `key` given). */
  cacheKey: string | null;
  /** This call wrote the result to the LTM. */
  stored: boolean;
  /** On a hit: when the cached entry expires, ISO-8601 UTC. */
  expiresAt?: string;
  /** The backend refused the write as read-only (warned once per backend through `logger`). */
  readOnly?: true;
  /** The first cache problem the call worked around. */
  cacheError?: CacheWrapError;
}

const readOnlyWarned = new WeakSet<LTMBackend>();

export async function cacheWrap<A, R>(
  backend: LTMBackend,
  action: (args: A) => R | Promise<R>,
  options: CacheWrapOptions<A>,
): Promise<CacheWrapResult<Awaited<R>>> {
  const plan = planCall(backend, action, options);
  let cacheError: CacheWrapError | undefined;
  const report = (problem: CacheWrapError): void => {
    cacheError ??= problem;
  };

  const cacheKey = plan.key ?? deriveKey(plan, options.args, report);
  if (cacheKey !== null && options.skipCache !== true) {
    const hit = await lookUp(backend, cacheKey, report);
    if (hit !== undefined) {
      const result: CacheWrapResult<Awaited<R>> = {
        success: true,
        result: hit.result as Awaited<R>,
        cacheHit: true,
        cacheKey,
        stored: false,
      };
      if (hit.expiresAt !== undefined) result.expiresAt = hit.expiresAt;
      return result;
    }
  }

  // The action's own failure is the caller's business: it propagates and nothing is cached.
  const produced = await action(options.args);

  let json: JsonValue | undefined;
  try {
    json = JSON.parse(serializeValue(produced, Number.POSITIVE_INFINITY, 'the action result')) as JsonValue;
  } catch (error) {
    report(problem('result', error));
  }
  const result: CacheWrapResult<Awaited<R>> = {
    success: true,
    result: (json === undefined ? produced : json) as Awaited<R>,
    cacheHit: false,
    cacheKey,
    stored: false,
  };
  if (cacheKey !== null && json !== undefined) {
    const outcome = await save(backend, cacheKey, json, plan, options.logger ?? console, report);
    if (outcome === 'stored') result.stored = true;
    if (outcome === 'read_only') result.readOnly = true;
  }
  if (cacheError !== undefined) result.cacheError = cacheError;
  return result;
}

interface Plan {
  key: string | undefined;
  agentName: string;
  actionName: string;
  ttlSeconds: number;
}

/** Mistakes in the call itself are the caller's bug: they reject before the action runs. */
function planCall<A, R>(backend: LTMBackend, action: (args: A) => R | Promise<R>, options: CacheWrapOptions<A>): Plan {
  if (backend === null || typeof backend !== 'object' || typeof backend.retrieve !== 'function') {
    throw new LTMError('validation_error', 'cacheWrap needs an LTMBackend as its first argument');
  }
  if (typeof action !== 'function') throw new LTMError('validation_error', 'cacheWrap needs the action function as its second argument');
  if (options === null || typeof options !== 'object') {
    throw new LTMError('validation_error', 'cacheWrap needs options: { args, ... }');
  }
  const { key, skipCache } = options;
  if (key !== undefined && typeof key !== 'string') throw new LTMError('validation_error', 'cacheWrap key must be a string');
  if (skipCache !== undefined && typeof skipCache !== 'boolean') {
    throw new LTMError('validation_error', 'cacheWrap skipCache must be true or false');
  }
  const agentName = nameOption(options.agentName, 'agentName') ?? DEFAULT_CACHE_AGENT_NAME;
  const actionName = nameOption(options.actionName, 'actionName') ?? nameOption(action.name || undefined, 'the action function name');
  if (actionName === undefined) {
    throw new LTMError(
      'validation_error',
      'cacheWrap: the action is an anonymous function; give actionName (or key) so that different actions never share cache entries',
    );
  }
  return { key, agentName, actionName, ttlSeconds: ttlSeconds(options) };
}

function nameOption(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new LTMError('validation_error', `cacheWrap ${what} must be a non-empty string`);
  // A colon inside a component would let two different (agent, action) pairs build the same key.
  if (value.includes(':')) throw new LTMError('validation_error', `cacheWrap ${what} must not contain ":" (it separates key components)`);
  return value;
}

function ttlSeconds(options: CacheWrapOptions<unknown>): number {
  const given = (
    [
      ['ttlSeconds', options.ttlSeconds, 1],
      ['ttlHours', options.ttlHours, 3600],
      ['ttlDays', options.ttlDays, 86_400],
    ] as const
  ).filter(([, value]) => value !== undefined);
  if (given.length > 1) {
    throw new LTMError('validation_error', `cacheWrap takes at most one of ttlSeconds, ttlHours, ttlDays; got ${given.map(([name]) => name).join(' and ')}`);
  }
  const [choice] = given;
  if (choice === undefined) return DEFAULT_CACHE_TTL_SECONDS;
  const [name, value, unit] = choice;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new LTMError('validation_error', `cacheWrap ${name} must be a positive finite number`);
  }
  return value * unit;
}

/**
 * `cache:{agent}:{action}:{sha256 hex}` of the args' RFC 8785 canonical JSON, so that equal args in any
 * member order share one entry. Args JSON cannot represent make the call uncached (`null`). Absent
 * args hash as `null`.
 */
function deriveKey(plan: Plan, args: unknown, report: (problem: CacheWrapError) => void): string | null {
  let canonical: string | undefined;
  try {
    const json = args === undefined ? null : (JSON.parse(serializeValue(args, Number.POSITIVE_INFINITY, 'args')) as unknown);
    canonical = canonicalize(json);
  } catch (error) {
    report(problem('key', error));
    return null;
  }
  const digest = createHash('sha256').update(canonical ?? 'null', 'utf8').digest('hex');
  return `cache:${plan.agentName}:${plan.actionName}:${digest}`;
}

interface Hit {
  result: JsonValue;
  expiresAt: string | undefined;
}

/**
 * Cached entries are `{ result }`, so a cached `null` or `false` is told apart from a miss; an entry of
 * any other shape (written by something else) is treated as a miss and overwritten.
 */
async function lookUp(backend: LTMBackend, key: string, report: (problem: CacheWrapError) => void): Promise<Hit | undefined> {
  try {
    const found = await backend.retrieve(key);
    if (!found.success) {
      report({ stage: 'retrieve', error: found.error, errorType: found.errorType, retryable: found.retryable });
      return undefined;
    }
    if (!found.found) return undefined;
    const entry = found.value;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || !Object.hasOwn(entry, 'result')) return undefined;
    return { result: (entry as JsonObject).result as JsonValue, expiresAt: found.expiresAt };
  } catch (error) {
    report(problem('retrieve', error));
    return undefined;
  }
}

async function save(
  backend: LTMBackend,
  key: string,
  result: JsonValue,
  plan: Plan,
  logger: CacheWrapLogger,
  report: (problem: CacheWrapError) => void,
): Promise<'stored' | 'read_only' | 'failed'> {
  try {
    const metadata = { type: 'cache', agent: plan.agentName, action: plan.actionName };
    const stored = await backend.store(key, { result }, metadata, { ttlSeconds: plan.ttlSeconds });
    if (stored.success) return 'stored';
    report({ stage: 'store', error: stored.error, errorType: stored.errorType, retryable: stored.retryable });
    if (stored.errorType !== 'read_only') return 'failed';
    if (!readOnlyWarned.has(backend)) {
      readOnlyWarned.add(backend);
      logger.warn(
        `cacheWrap: LTM backend "${backend.name}" is read-only, so results are not cached (${stored.error}). ` +
          'Cached entries are still served; this warning is shown once per backend.',
      );
    }
    return 'read_only';
  } catch (error) {
    report(problem('store', error));
    return 'failed';
  }
}

function problem(stage: CacheWrapError['stage'], error: unknown): CacheWrapError {
  const { error: message, errorType, retryable } = toFailure(error);
  return { stage, error: message, errorType, retryable };
}
