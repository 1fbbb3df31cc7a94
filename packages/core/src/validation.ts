/**
 * Input rules shared by every backend (DESIGN.md, "Rules every backend shares"). Each function throws
 * `LTMError` with the code the protocol prescribes; backends call these before touching storage, so a
 * rejected input never reaches a database.
 */
import { LTMError } from './errors.js';
import type { JsonObject } from './json.js';
import type { ExpiryOptions, ListOptions, SearchOptions } from './types.js';
import { DEFAULT_LIST_LIMIT, DEFAULT_SEARCH_LIMIT, MAX_KEY_BYTES, MAX_LIMIT } from './types.js';
import type { Filter } from './filter.js';
import { validateFilter } from './filter.js';

const LONE_SURROGATE = /\p{Surrogate}/u;

export function hasLoneSurrogate(text: string): boolean {
  // With the `u` flag a well-formed pair is one code point and never matches \p{Surrogate}.
  return LONE_SURROGATE.test(text);
}

export function validateKey(key: unknown): string {
  if (typeof key !== 'string') {
    throw new LTMError('validation_error', `key must be a string, got ${describeType(key)}`);
  }
  if (key.length === 0) throw new LTMError('validation_error', 'key must not be empty');
  if (key.includes('\u0000')) throw new LTMError('validation_error', 'key must not contain NUL (\\u0000)');
  if (hasLoneSurrogate(key)) {
    throw new LTMError('validation_error', 'key must be well-formed Unicode (it contains a lone surrogate)');
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new LTMError('validation_error', `key is ${bytes} UTF-8 bytes; the limit is ${MAX_KEY_BYTES}`);
  }
  return key;
}

export function validateKeys(keys: unknown): string[] {
  if (!Array.isArray(keys)) throw new LTMError('validation_error', `keys must be an array, got ${describeType(keys)}`);
  return keys.map((key) => validateKey(key));
}

/**
 * Serializes a value to JSON text, refusing what JSON cannot represent exactly. The round trip of the
 * result equals `JSON.parse(JSON.stringify(value))`: `toJSON` is honoured (a `Date` becomes its ISO
 * string) and `undefined` object members vanish, as `JSON.stringify` does.
 */
export function serializeValue(value: unknown, maxBytes: number, what = 'value'): string {
  if (value === undefined) {
    throw new LTMError('serialization_error', `${what} is undefined; store null to record an empty value`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value, function replacer(this: unknown, member: string, v: unknown) {
      if (hasLoneSurrogate(member)) throw unrepresentable(what, 'an object key with a lone surrogate');
      switch (typeof v) {
        case 'number':
          if (!Number.isFinite(v)) throw unrepresentable(what, String(v));
          return v;
        case 'bigint':
          throw unrepresentable(what, 'a BigInt (convert it to a string or number)');
        case 'function':
          throw unrepresentable(what, 'a function');
        case 'symbol':
          throw unrepresentable(what, 'a symbol');
        case 'string':
          if (hasLoneSurrogate(v)) throw unrepresentable(what, 'a string with a lone surrogate');
          return v;
        default:
          return v;
      }
    });
  } catch (error) {
    if (error instanceof LTMError) throw error;
    // JSON.stringify's own TypeError: a cycle (BigInt is caught above).
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new LTMError('serialization_error', `${what} cannot be serialized to JSON: ${reason}`);
  }
  if (text === undefined) {
    // e.g. an object whose toJSON returns undefined
    throw new LTMError('serialization_error', `${what} serializes to nothing (undefined)`);
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw new LTMError(
      'validation_error',
      `${what} is ${bytes} bytes as JSON; the limit is ${maxBytes} (raise maxValueBytes to allow more)`,
    );
  }
  return text;
}

function unrepresentable(what: string, thing: string): LTMError {
  return new LTMError('serialization_error', `${what} contains ${thing}, which JSON cannot represent exactly`);
}

/** Metadata is a JSON object or absent (`undefined`/`null` read back as `{}`). Returns JSON text. */
export function serializeMetadata(metadata: unknown, maxBytes: number): string {
  if (metadata === undefined || metadata === null) return '{}';
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new LTMError('validation_error', `metadata must be a JSON object, got ${describeType(metadata)}`);
  }
  const text = serializeValue(metadata, maxBytes, 'metadata');
  // toJSON can turn an object into something else (a Date becomes a string): judge what will be stored.
  if (!text.startsWith('{')) {
    throw new LTMError('validation_error', `metadata must be a JSON object; this one serializes to ${text.slice(0, 40)}`);
  }
  return text;
}

/** Epoch milliseconds at which an entry expires, or `null` for never. */
export function resolveExpiry(options: ExpiryOptions | undefined, now: number): number | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object') {
    throw new LTMError('validation_error', `store options must be an object, got ${describeType(options)}`);
  }
  const { ttlSeconds, expiresAt } = options;
  if (ttlSeconds !== undefined && expiresAt !== undefined) {
    throw new LTMError('validation_error', 'give ttlSeconds or expiresAt, not both');
  }
  if (ttlSeconds !== undefined) {
    if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new LTMError('validation_error', `ttlSeconds must be a positive finite number, got ${String(ttlSeconds)}`);
    }
    return checkRepresentable(now + Math.round(ttlSeconds * 1000), `ttlSeconds ${ttlSeconds}`);
  }
  if (expiresAt !== undefined) return checkRepresentable(parseInstant(expiresAt, 'expiresAt'), 'expiresAt');
  return null;
}

/** ±8.64e15 ms is the range of a JavaScript Date; an instant outside it could never be read back. */
const MAX_INSTANT_MS = 8.64e15;

function checkRepresentable(ms: number, what: string): number {
  if (Math.abs(ms) > MAX_INSTANT_MS) {
    throw new LTMError('validation_error', `${what} lies outside the range of dates (year -271821 to 275760)`);
  }
  return ms;
}

/** A `Date`, ISO-8601 string or epoch milliseconds, as epoch milliseconds. */
export function parseInstant(input: unknown, what: string): number {
  let ms: number;
  if (input instanceof Date) ms = input.getTime();
  else if (typeof input === 'number') ms = input;
  else if (typeof input === 'string') ms = Date.parse(input);
  else throw new LTMError('validation_error', `${what} must be a Date, ISO-8601 string or epoch milliseconds`);
  if (!Number.isFinite(ms)) throw new LTMError('validation_error', `${what} is not a valid instant: ${String(input)}`);
  return Math.trunc(ms);
}

export function validateLimit(limit: unknown, fallback: number): number {
  if (limit === undefined || limit === null) return fallback;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new LTMError('validation_error', `limit must be an integer from 1 to ${MAX_LIMIT}, got ${String(limit)}`);
  }
  return limit;
}

export interface NormalizedSearch {
  /** Trimmed query; `undefined` when absent or blank. */
  query: string | undefined;
  filter: Filter | undefined;
  limit: number;
  cursor: string | undefined;
}

/** Accepts both call shapes of `search` and validates every argument. */
export function normalizeSearchArgs(
  queryOrOptions: string | SearchOptions | undefined | null,
  metadataFilter?: Filter | null,
  limit?: number,
): NormalizedSearch {
  let options: SearchOptions;
  if (queryOrOptions !== null && typeof queryOrOptions === 'object') {
    if (metadataFilter !== undefined || limit !== undefined) {
      throw new LTMError('validation_error', 'search({ query, filter, limit, cursor }) takes no further arguments');
    }
    options = queryOrOptions;
  } else {
    options = { filter: metadataFilter ?? undefined, limit };
    if (queryOrOptions !== undefined && queryOrOptions !== null) options.query = queryOrOptions;
  }
  const { query, filter, cursor } = options;
  if (query !== undefined && query !== null && typeof query !== 'string') {
    throw new LTMError('validation_error', `query must be a string, got ${describeType(query)}`);
  }
  if (typeof query === 'string' && hasLoneSurrogate(query)) {
    throw new LTMError('validation_error', 'query must be well-formed Unicode (it contains a lone surrogate)');
  }
  if (cursor !== undefined && typeof cursor !== 'string') {
    throw new LTMError('validation_error', 'cursor must be the string a previous page returned as nextCursor');
  }
  const trimmed = typeof query === 'string' ? query.trim() : '';
  return {
    query: trimmed === '' ? undefined : trimmed,
    filter: filter === undefined || filter === null ? undefined : validateFilter(filter),
    limit: validateLimit(options.limit, DEFAULT_SEARCH_LIMIT),
    cursor,
  };
}

export interface NormalizedList {
  prefix: string | undefined;
  limit: number;
  cursor: string | undefined;
}

export function normalizeListArgs(options: ListOptions | undefined | null): NormalizedList {
  const { prefix, limit, cursor } = options ?? {};
  if (prefix !== undefined && prefix !== null) {
    if (typeof prefix !== 'string') throw new LTMError('validation_error', 'prefix must be a string');
    if (hasLoneSurrogate(prefix) || prefix.includes('\u0000')) {
      throw new LTMError('validation_error', 'prefix must be well-formed Unicode without NUL');
    }
  }
  if (cursor !== undefined && typeof cursor !== 'string') {
    throw new LTMError('validation_error', 'cursor must be the string a previous page returned as nextCursor');
  }
  return { prefix: prefix || undefined, limit: validateLimit(limit, DEFAULT_LIST_LIMIT), cursor };
}

/** Parses stored metadata JSON text back into an object (`{}` for absent). */
export function parseMetadata(text: string | null | undefined): JsonObject {
  if (text === null || text === undefined || text === '') return {};
  return JSON.parse(text) as JsonObject;
}

/** Orders strings by UTF-8 bytes (= Unicode code points), which is how DuckDB orders VARCHAR. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function toIso(ms: number): string {
  return new Date(ms).toISOString();
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
