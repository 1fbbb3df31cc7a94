/**
 * One bug per variant, each a mistake real adapters make, with the contract check that must catch it.
 */
import { compareKeys, normalizeSearchArgs } from '../../src/validation.js';
import { failure, toFailure } from '../../src/errors.js';
import type { FilterCondition } from '../../src/filter.js';
import { jsonEquals, matchesCondition, matchesFilter, parseFilter, resolvePath } from '../../src/filter.js';
import type { JsonObject } from '../../src/json.js';
import { MemoryBackend } from '../../src/memory-backend.js';
import type {
  CleanupResult,
  DeleteResult,
  ExpiryOptions,
  ListOptions,
  ListResult,
  RetrieveManyResult,
  RetrieveResult,
  SearchOptions,
  SearchResult,
  StoreItem,
  StoreManyResult,
  StoreResult,
} from '../../src/types.js';
import { MAX_LIMIT } from '../../src/types.js';
import type { Filter } from '../../src/filter.js';
import type { BrokenVariant } from './delegate.js';
import { brokenVariant, DelegatingBackend, LIMIT_BYTES, listBy, MEMORY_CAPABILITIES } from './delegate.js';

/** Pages first, filters the page afterwards: a filtered search returns fewer than `limit`, or nothing. */
class FilterAfterLimit extends DelegatingBackend {
  override async search(query?: string | SearchOptions, metadataFilter?: Filter, limit?: number): Promise<SearchResult> {
    try {
      const args = normalizeSearchArgs(query, metadataFilter, limit);
      const page = await this.inner.search({ query: args.query, limit: args.limit, cursor: args.cursor });
      if (!page.success || args.filter === undefined) return page;
      const conditions = parseFilter(args.filter);
      const results = page.results.filter((hit) => matchesFilter(hit.metadata, conditions));
      return { ...page, results, count: results.length };
    } catch (error) {
      return toFailure(error);
    }
  }
}

/** Lets JSON.stringify turn NaN and ±Infinity into null instead of refusing them. */
class NaNBecomesNull extends DelegatingBackend {
  override store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    let sanitized = value;
    try {
      const text = JSON.stringify(value, (_, member: unknown) => (typeof member === 'number' && !Number.isFinite(member) ? null : member));
      if (text !== undefined) sanitized = JSON.parse(text);
    } catch {
      // not our bug to simulate: leave BigInt and cycles to the real backend
    }
    return this.inner.store(key, sanitized, metadata, options);
  }
}

/** A read cache in front of the store that forgets entries expire. */
class CacheIgnoresExpiry extends DelegatingBackend {
  readonly #cache = new Map<string, RetrieveResult<unknown>>();

  override async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    const result = await this.inner.store(key, value, metadata, options);
    if (result.success) this.#cache.set(key, await this.inner.retrieve(key));
    return result;
  }

  override async retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> {
    const cached = this.#cache.get(key);
    if (cached?.success && cached.found) return cached;
    return this.inner.retrieve(key, defaultValue);
  }

  override async delete(key: string): Promise<DeleteResult> {
    this.#cache.delete(key);
    return this.inner.delete(key);
  }
}

/** Reads SQL NULL and JSON null alike: a stored null comes back as "not found". */
class NullReadsAsMissing extends DelegatingBackend {
  override async retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> {
    const result = await this.inner.retrieve(key, defaultValue);
    if (result.success && result.found && result.value === null) return { success: true, found: false, value: (defaultValue ?? null) as D };
    return result;
  }
}

/** Compares filter values with JavaScript's ==: 1 matches "1", true matches 1, a missing field matches null. */
class LooseFilterEquality extends DelegatingBackend {
  override async search(query?: string | SearchOptions, metadataFilter?: Filter, limit?: number): Promise<SearchResult> {
    try {
      const args = normalizeSearchArgs(query, metadataFilter, limit);
      const all = await this.inner.search({ query: args.query, limit: MAX_LIMIT });
      if (!all.success) return all;
      const conditions = args.filter === undefined ? [] : parseFilter(args.filter);
      const results = all.results.filter((hit) => conditions.every((condition) => looseMatch(hit.metadata, condition))).slice(0, args.limit);
      return { success: true, results, count: results.length };
    } catch (error) {
      return toFailure(error);
    }
  }
}

function looseMatch(metadata: JsonObject, condition: FilterCondition): boolean {
  if (condition.op !== '$eq') return matchesCondition(metadata, condition);
  const actual = resolvePath(metadata, condition.path);
  // eslint-disable-next-line eqeqeq -- the bug being simulated
  return actual == condition.operand || (actual !== undefined && jsonEquals(actual, condition.operand));
}

/** Reports every store as a create (INSERT OR REPLACE without looking first). */
class CreatedAlwaysTrue extends DelegatingBackend {
  override async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    const result = await this.inner.store(key, value, metadata, options);
    return result.success ? { ...result, created: true } : result;
  }

  override async storeMany(items: readonly StoreItem[]): Promise<StoreManyResult> {
    const result = await this.inner.storeMany(items);
    return result.success ? { ...result, created: result.stored } : result;
  }
}

/** Stores a batch item by item and stops at the first bad one, leaving the items before it stored. */
class StoreManyNotAtomic extends DelegatingBackend {
  override async storeMany(items: readonly StoreItem[]): Promise<StoreManyResult> {
    if (!Array.isArray(items)) return this.inner.storeMany(items);
    let created = 0;
    for (const item of items) {
      const result = await this.inner.store(item?.key, item?.value, item?.metadata, { ttlSeconds: item?.ttlSeconds, expiresAt: item?.expiresAt });
      if (!result.success) return result;
      if (result.created) created += 1;
    }
    return { success: true, stored: items.length, created };
  }
}

/** Declares itself read-only (e.g. a cloud .duckdb file) but lets writes through. */
class ReadOnlyThatWrites extends DelegatingBackend {
  override get capabilities() {
    return { ...MEMORY_CAPABILITIES, writable: false };
  }
}

/** Declares no full-text search but answers queries anyway, instead of `unsupported`. */
class SearchWithoutCapability extends DelegatingBackend {
  override get capabilities() {
    return { ...MEMORY_CAPABILITIES, fullTextSearch: false };
  }
}

/** Renders timestamps as local wall-clock time labelled Z (TIMESTAMP read through the machine's zone). */
class LocalTimeLabelledUtc extends DelegatingBackend {
  override async retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> {
    const result = await this.inner.retrieve(key, defaultValue);
    if (!result.success || !result.found) return result;
    const shifted = { ...result, createdAt: asLocal(result.createdAt), updatedAt: asLocal(result.updatedAt) };
    return result.expiresAt === undefined ? shifted : { ...shifted, expiresAt: asLocal(result.expiresAt) };
  }
}

function asLocal(iso: string): string {
  const instant = Date.parse(iso);
  return new Date(instant - new Date(instant).getTimezoneOffset() * 60_000).toISOString();
}

/** Lists keys in JavaScript's default (UTF-16) order instead of UTF-8 byte order. */
class ListInUtf16Order extends DelegatingBackend {
  override list(options?: ListOptions): Promise<ListResult> {
    return listBy(this.inner, options, (key, prefix) => prefix === undefined || key.startsWith(prefix), (a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

/** Turns the prefix into `LIKE prefix || '%'` without escaping, so % and _ in it are wildcards. */
class PrefixAsLikePattern extends DelegatingBackend {
  override list(options?: ListOptions): Promise<ListResult> {
    const like = (key: string, prefix: string | undefined): boolean => {
      if (prefix === undefined) return true;
      const pattern = [...prefix].map((char) => (char === '%' ? '.*' : char === '_' ? '.' : char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
      return new RegExp(`^${pattern}`, 'su').test(key);
    };
    return listBy(this.inner, options, like, compareKeys);
  }
}

/** Throws on a second close (a pool closed twice). */
class CloseTwiceThrows extends DelegatingBackend {
  #closed = false;

  override async close(): Promise<void> {
    if (this.#closed) throw new Error('pool already closed');
    this.#closed = true;
    await this.inner.close();
  }
}

/** Checks the size limit on the string length (UTF-16 units) instead of UTF-8 bytes. */
class SizeLimitInCharacters extends DelegatingBackend {
  constructor() {
    super(new MemoryBackend({ maxValueBytes: 4 * LIMIT_BYTES }));
  }

  override async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    if (jsonLength(value) > LIMIT_BYTES) return failure('validation_error', `value is over ${LIMIT_BYTES} characters`);
    return this.inner.store(key, value, metadata, options);
  }

  override async storeMany(items: readonly StoreItem[]): Promise<StoreManyResult> {
    for (const item of Array.isArray(items) ? items : []) {
      if (jsonLength(item?.value) > LIMIT_BYTES) return failure('validation_error', `value is over ${LIMIT_BYTES} characters`);
    }
    return this.inner.storeMany(items);
  }
}

/** UTF-16 length of the JSON text; 0 for what JSON.stringify refuses (the real backend answers that). */
function jsonLength(value: unknown): number {
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    return 0;
  }
}

/** Merges new metadata into the old (an UPDATE ... SET metadata = json_merge_patch(...)). */
class MetadataMergedOnUpdate extends DelegatingBackend {
  override async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    const previous = await this.inner.retrieve(key);
    const merged = previous.success && previous.found && metadata !== null && typeof metadata === 'object' ? { ...previous.metadata, ...metadata } : metadata;
    return this.inner.store(key, value, merged, options);
  }
}

/** Sorts the no-query listing oldest first (ORDER BY updated_at without DESC). */
class OldestFirst extends DelegatingBackend {
  override async search(query?: string | SearchOptions, metadataFilter?: Filter, limit?: number): Promise<SearchResult> {
    const result = await this.inner.search(query, metadataFilter, limit);
    const hasQuery = typeof query === 'string' ? query.trim() !== '' : typeof query?.query === 'string' && query.query.trim() !== '';
    if (!result.success || hasQuery) return result;
    return { ...result, results: [...result.results].reverse() };
  }
}

/** Counts nothing: cleanupExpired deletes but reports 0 (rowcount not read back). */
class CleanupReportsZero extends DelegatingBackend {
  override async cleanupExpired(): Promise<CleanupResult> {
    const result = await this.inner.cleanupExpired();
    return result.success ? { ...result, removed: 0 } : result;
  }
}

/** Answers retrieveMany in key order (WHERE key IN (...) without re-ordering). */
class RetrieveManyInKeyOrder extends DelegatingBackend {
  override async retrieveMany(keys: readonly string[]): Promise<RetrieveManyResult> {
    const result = await this.inner.retrieveMany(keys);
    return result.success ? { ...result, items: [...result.items].sort((a, b) => compareKeys(a.key, b.key)) } : result;
  }
}

/** Rejects on invalid input instead of resolving a Failure. */
class ThrowsOnInvalidInput extends DelegatingBackend {
  override async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    const result = await this.inner.store(key, value, metadata, options);
    if (!result.success) throw new Error(result.error);
    return result;
  }
}

/** Leaves `expiresAt: undefined` in results without expiry: not what JSON gives back. */
class UndefinedMemberInResults extends DelegatingBackend {
  override async retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> {
    const result = await this.inner.retrieve(key, defaultValue);
    return result.success && result.found ? { ...result, expiresAt: result.expiresAt } : result;
  }
}

export const brokenVariants: readonly BrokenVariant[] = [
  brokenVariant('filter applied after limit', 'filters apply before limit', () => new FilterAfterLimit()),
  brokenVariant('NaN accepted as null', 'values: what JSON cannot represent exactly is a serialization_error and nothing is stored', () => new NaNBecomesNull()),
  brokenVariant('read cache ignores expiry', 'expiry: expired entries are invisible to retrieve, retrieveMany, search and list at once', () => new CacheIgnoresExpiry()),
  brokenVariant('stored null reads as missing', 'values: null is a value, stored and found as null', () => new NullReadsAsMissing()),
  brokenVariant('loose filter equality', 'filters: { field: value } is strict JSON equality (1 ≠ "1", true ≠ 1, missing ≠ null)', () => new LooseFilterEquality()),
  brokenVariant('created always true', 'writes: last writer wins, created is false on update, and a backend reads its own writes', () => new CreatedAlwaysTrue()),
  brokenVariant('storeMany not atomic', 'storeMany: one invalid item stores nothing of the batch', () => new StoreManyNotAtomic()),
  brokenVariant('read-only that writes', 'read-only: writes answer read_only (or unsupported) and change nothing', () => new ReadOnlyThatWrites(), { ...MEMORY_CAPABILITIES, writable: false }),
  brokenVariant('search without the capability', 'full-text search off: a query answers unsupported; search without a query still works', () => new SearchWithoutCapability(), { ...MEMORY_CAPABILITIES, fullTextSearch: false }),
  brokenVariant('local time labelled UTC', 'timestamps: ISO-8601 UTC strings whatever process.env.TZ', () => new LocalTimeLabelledUtc()),
  brokenVariant('list in UTF-16 order', 'list: keys come in UTF-8 byte order, non-ASCII and astral characters included', () => new ListInUtf16Order()),
  brokenVariant('prefix as LIKE pattern', 'list: a prefix selects exactly the keys that start with it, wildcards taken literally', () => new PrefixAsLikePattern()),
  brokenVariant('close twice throws', 'lifecycle: close is idempotent and every method then answers backend_closed', () => new CloseTwiceThrows()),
  brokenVariant('size limit in characters', 'values: above the size limit is a validation_error; at the limit is accepted', () => new SizeLimitInCharacters()),
  brokenVariant('metadata merged on update', 'metadata: absent or null reads back as {}; anything but a JSON object is a validation_error', () => new MetadataMergedOnUpdate()),
  brokenVariant('oldest first without a query', 'search: without a query, score 0 and newest updatedAt first, ties by key', () => new OldestFirst()),
  brokenVariant('cleanupExpired reports 0', 'expiry: cleanupExpired removes expired entries and reports how many', () => new CleanupReportsZero()),
  brokenVariant('retrieveMany in key order', 'retrieveMany: answers in the order asked; missing keys are { key, found: false, value: null, metadata: null }', () => new RetrieveManyInKeyOrder()),
  brokenVariant('throws on invalid input', 'keys: invalid keys are a validation_error on writes and store nothing', () => new ThrowsOnInvalidInput()),
  brokenVariant('undefined member in results', 'results: every method resolves the documented members and nothing else', () => new UndefinedMemberInResults()),
];
