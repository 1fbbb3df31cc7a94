/**
 * The reference backend: every rule of the protocol, kept in process memory. Other backends are compared
 * with it (the contract suite at `@ltm/core/testing` passes against it), and it is a real backend for
 * tests and short-lived agents. Values live as JSON text and are parsed on every read, so callers never
 * share objects with the store and the round trip is exactly `JSON.parse(JSON.stringify(v))`.
 */
import type { Failure } from './errors.js';
import { failure, LTMError, toFailure } from './errors.js';
import type { Filter, FilterCondition } from './filter.js';
import { matchesFilter, parseFilter } from './filter.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import type { JsonObject, JsonValue } from './json.js';
import type { DocumentTerms } from './text/index.js';
import { analyzeDocument, analyzeQuery, scoreBm25 } from './text/index.js';
import type {
  BackendCapabilities,
  CleanupResult,
  DeleteResult,
  ExpiryOptions,
  FlushResult,
  ListItem,
  ListOptions,
  ListResult,
  LTMBackend,
  RetrieveManyItem,
  RetrieveManyResult,
  RetrieveResult,
  SearchHit,
  SearchOptions,
  SearchResult,
  StatsResult,
  StoreItem,
  StoreManyResult,
  StoreResult,
} from './types.js';
import { DEFAULT_MAX_VALUE_BYTES } from './types.js';
import {
  compareKeys,
  describeType,
  normalizeListArgs,
  normalizeSearchArgs,
  resolveExpiry,
  serializeMetadata,
  serializeValue,
  toIso,
  validateKey,
  validateKeys,
} from './validation.js';

export interface MemoryBackendOptions {
  /** Largest accepted value (and metadata) as UTF-8 JSON text; default 16 MiB. */
  maxValueBytes?: number;
}

interface Entry {
  readonly valueText: string;
  readonly metadataText: string;
  /** Parsed once for filtering and indexing; never handed to a caller (they get a fresh parse). */
  readonly metadata: JsonObject;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly expiresAt: number | null;
  /** Analyzed on the first search that needs it; an entry is replaced, never mutated, so this stays valid. */
  terms?: DocumentTerms;
}

/** A validated write, ready to apply. */
interface PreparedWrite {
  key: string;
  valueText: string;
  metadataText: string;
  expiresAt: number | null;
}

const CAPABILITIES: BackendCapabilities = Object.freeze({
  persistent: false,
  writable: true,
  fullTextSearch: true,
  multiWriter: false,
});

const LIST_CURSOR = 'memory-list';
// Two search orders, two cursor kinds: a cursor from one order handed to the other is refused.
const RECENT_CURSOR = 'memory-search-recent';
const RANKED_CURSOR = 'memory-search-ranked';

export class MemoryBackend implements LTMBackend {
  readonly name = 'memory';
  readonly capabilities: BackendCapabilities = CAPABILITIES;

  readonly #maxValueBytes: number;
  readonly #entries = new Map<string, Entry>();
  /** Keys in UTF-8 byte order; rebuilt lazily after a key is added or removed (not on update). */
  #sortedKeys: string[] | null = null;
  #closed = false;

  static async open(options?: MemoryBackendOptions): Promise<MemoryBackend> {
    return new MemoryBackend(options);
  }

  constructor(options: MemoryBackendOptions = {}) {
    const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    if (!Number.isSafeInteger(maxValueBytes) || maxValueBytes < 1) {
      throw new LTMError('validation_error', `maxValueBytes must be a positive integer, got ${String(maxValueBytes)}`);
    }
    this.#maxValueBytes = maxValueBytes;
  }

  async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    return this.#run(() => {
      const now = Date.now();
      const write = this.#prepare(key, value, metadata, resolveExpiry(options, now));
      const created = this.#apply(write, now);
      return { success: true, stored: true, key: write.key, created };
    });
  }

  async retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> {
    return this.#run(() => {
      const entry = this.#live(validateKey(key), Date.now());
      if (entry === undefined) return { success: true, found: false, value: (defaultValue ?? null) as D };
      return { success: true, found: true, value: JSON.parse(entry.valueText) as JsonValue, ...entryDetails(entry) };
    });
  }

  async delete(key: string): Promise<DeleteResult> {
    return this.#run(() => {
      const validKey = validateKey(key);
      const deleted = this.#live(validKey, Date.now()) !== undefined;
      if (deleted) this.#remove(validKey);
      return { success: true, deleted, key: validKey };
    });
  }

  async search(query?: string | SearchOptions, metadataFilter?: Filter, limit?: number): Promise<SearchResult> {
    return this.#run(() => {
      const args = normalizeSearchArgs(query, metadataFilter, limit);
      const conditions = args.filter === undefined ? [] : parseFilter(args.filter);
      const now = Date.now();
      return args.query === undefined
        ? this.#recent(conditions, args.limit, args.cursor, now)
        : this.#ranked(args.query, conditions, args.limit, args.cursor, now);
    });
  }

  async storeMany(items: readonly StoreItem[]): Promise<StoreManyResult> {
    return this.#run(() => {
      if (!Array.isArray(items)) {
        throw new LTMError('validation_error', `storeMany takes an array of { key, value, metadata? }, got ${describeType(items)}`);
      }
      const now = Date.now();
      // Everything is validated before anything is written: one bad item stores nothing.
      const writes = items.map((item, index) => {
        try {
          if (item === null || typeof item !== 'object') {
            throw new LTMError('validation_error', `expected { key, value, metadata? }, got ${describeType(item)}`);
          }
          const expiry: ExpiryOptions = { ttlSeconds: item.ttlSeconds, expiresAt: item.expiresAt };
          return this.#prepare(item.key, item.value, item.metadata, resolveExpiry(expiry, now));
        } catch (error) {
          if (error instanceof LTMError) throw new LTMError(error.errorType, `storeMany item ${index}: ${error.message}`);
          throw error;
        }
      });
      let created = 0;
      // Applied in order, so a key repeated in one batch behaves like consecutive stores: the last wins.
      for (const write of writes) if (this.#apply(write, now)) created += 1;
      return { success: true, stored: writes.length, created };
    });
  }

  async retrieveMany(keys: readonly string[]): Promise<RetrieveManyResult> {
    return this.#run(() => {
      const now = Date.now();
      const items = validateKeys(keys).map((key): RetrieveManyItem => {
        const entry = this.#live(key, now);
        if (entry === undefined) return { key, found: false, value: null, metadata: null };
        return { key, found: true, value: JSON.parse(entry.valueText) as JsonValue, ...entryDetails(entry) };
      });
      return { success: true, items };
    });
  }

  async list(options?: ListOptions): Promise<ListResult> {
    return this.#run(() => {
      const { prefix, limit, cursor } = normalizeListArgs(options);
      const after = cursor === undefined ? undefined : decodeString(LIST_CURSOR, cursor);
      const keys = this.#keysInOrder();
      const startAt = after !== undefined && (prefix === undefined || compareKeys(after, prefix) >= 0) ? after : prefix;
      let index = startAt === undefined ? 0 : lowerBound(keys, startAt);
      const now = Date.now();
      const items: ListItem[] = [];
      let more = false;
      for (; index < keys.length; index += 1) {
        const key = keys[index] as string;
        if (prefix !== undefined && !key.startsWith(prefix)) break;
        if (key === after) continue;
        const entry = this.#entries.get(key) as Entry;
        if (!isLive(entry, now)) continue;
        if (items.length === limit) {
          more = true;
          break;
        }
        items.push({ key, metadata: JSON.parse(entry.metadataText) as JsonObject, updatedAt: toIso(entry.updatedAt) });
      }
      const last = items[items.length - 1];
      return more && last !== undefined
        ? { success: true, items, nextCursor: encodeCursor(LIST_CURSOR, last.key) }
        : { success: true, items };
    });
  }

  async flush(): Promise<FlushResult> {
    // Nothing is buffered: every acknowledged write is already as durable as this backend gets.
    return this.#run(() => ({ success: true, flushed: 0 }));
  }

  async cleanupExpired(): Promise<CleanupResult> {
    return this.#run(() => {
      const now = Date.now();
      let removed = 0;
      for (const [key, entry] of this.#entries) {
        if (!isLive(entry, now)) {
          this.#remove(key);
          removed += 1;
        }
      }
      return { success: true, removed };
    });
  }

  async stats(): Promise<StatsResult> {
    return this.#run(() => {
      const now = Date.now();
      let entries = 0;
      let bytes = 0;
      for (const [key, entry] of this.#entries) {
        if (!isLive(entry, now)) continue;
        entries += 1;
        bytes += Buffer.byteLength(key) + Buffer.byteLength(entry.valueText) + Buffer.byteLength(entry.metadataText);
      }
      return {
        success: true,
        backend: this.name,
        entries,
        capabilities: { ...this.capabilities },
        details: {
          /** Expired entries still held until `cleanupExpired()` (or until their key is touched). */
          expiredPending: this.#entries.size - entries,
          /** UTF-8 bytes of the live keys, values and metadata as JSON text. */
          liveBytes: bytes,
          maxValueBytes: this.#maxValueBytes,
        },
      };
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
    this.#sortedKeys = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The method boundary: closed → `backend_closed`; anything thrown → a `Failure`. */
  #run<T>(operation: () => T): T | Failure {
    if (this.#closed) return failure('backend_closed', 'this memory backend is closed; open a new one');
    try {
      return operation();
    } catch (error) {
      return toFailure(error);
    }
  }

  #prepare(key: unknown, value: unknown, metadata: unknown, expiresAt: number | null): PreparedWrite {
    return {
      key: validateKey(key),
      valueText: serializeValue(value, this.#maxValueBytes),
      metadataText: serializeMetadata(metadata, this.#maxValueBytes),
      expiresAt,
    };
  }

  /** Stores a validated write; returns whether it created the key (no live entry held it). */
  #apply(write: PreparedWrite, now: number): boolean {
    const previous = this.#live(write.key, now);
    if (!this.#entries.has(write.key)) this.#sortedKeys = null;
    const createdAt = previous?.createdAt ?? now;
    this.#entries.set(write.key, {
      valueText: write.valueText,
      metadataText: write.metadataText,
      metadata: JSON.parse(write.metadataText) as JsonObject,
      createdAt,
      // A wall clock stepped backwards must not make an entry updated before it was created.
      updatedAt: Math.max(now, createdAt),
      expiresAt: write.expiresAt,
    });
    return previous === undefined;
  }

  /** The live entry under a key; an expired one is dropped on the way, as nothing can see it again. */
  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (isLive(entry, now)) return entry;
    this.#remove(key);
    return undefined;
  }

  #remove(key: string): void {
    if (this.#entries.delete(key)) this.#sortedKeys = null;
  }

  #keysInOrder(): string[] {
    if (this.#sortedKeys === null) {
      // Encode each key once instead of twice per comparison.
      this.#sortedKeys = [...this.#entries.keys()]
        .map((key) => [Buffer.from(key, 'utf8'), key] as const)
        .sort((a, b) => Buffer.compare(a[0], b[0]))
        .map(([, key]) => key);
    }
    return this.#sortedKeys;
  }

  /** No query: every matching live entry, newest `updatedAt` first, ties by key. */
  #recent(conditions: FilterCondition[], limit: number, cursor: string | undefined, now: number): SearchResult {
    const after = cursor === undefined ? undefined : decodePosition(RECENT_CURSOR, cursor);
    const hits: Array<[string, Entry]> = [];
    for (const [key, entry] of this.#entries) {
      if (!isLive(entry, now) || !matchesFilter(entry.metadata, conditions)) continue;
      if (after !== undefined && !(entry.updatedAt < after[0] || (entry.updatedAt === after[0] && compareKeys(key, after[1]) > 0))) continue;
      hits.push([key, entry]);
    }
    hits.sort(([ka, a], [kb, b]) => b.updatedAt - a.updatedAt || compareKeys(ka, kb));
    return page(hits, limit, () => 0, RECENT_CURSOR, (key, entry) => [entry.updatedAt, key]);
  }

  /** A query: BM25 over every live entry (filters do not change the scores), best first, ties by key. */
  #ranked(query: string, conditions: FilterCondition[], limit: number, cursor: string | undefined, now: number): SearchResult {
    const after = cursor === undefined ? undefined : decodePosition(RANKED_CURSOR, cursor);
    const documents: Array<[string, DocumentTerms]> = [];
    for (const [key, entry] of this.#entries) {
      if (!isLive(entry, now)) continue;
      entry.terms ??= analyzeDocument(JSON.parse(entry.valueText) as JsonValue, entry.metadata);
      documents.push([key, entry.terms]);
    }
    const scores = scoreBm25(analyzeQuery(query), documents);
    const hits: Array<[string, Entry]> = [];
    for (const [key, score] of scores) {
      const entry = this.#entries.get(key) as Entry;
      if (!matchesFilter(entry.metadata, conditions)) continue;
      if (after !== undefined && !(score < after[0] || (score === after[0] && compareKeys(key, after[1]) > 0))) continue;
      hits.push([key, entry]);
    }
    const scoreOf = (key: string) => scores.get(key) as number;
    hits.sort(([ka], [kb]) => scoreOf(kb) - scoreOf(ka) || compareKeys(ka, kb));
    return page(hits, limit, scoreOf, RANKED_CURSOR, (key) => [scoreOf(key), key]);
  }
}

function isLive(entry: Entry, now: number): boolean {
  return entry.expiresAt === null || entry.expiresAt > now;
}

function entryDetails(entry: Entry): { metadata: JsonObject; createdAt: string; updatedAt: string; expiresAt?: string } {
  const details = {
    metadata: JSON.parse(entry.metadataText) as JsonObject,
    createdAt: toIso(entry.createdAt),
    updatedAt: toIso(entry.updatedAt),
  };
  return entry.expiresAt === null ? details : { ...details, expiresAt: toIso(entry.expiresAt) };
}

/** Cuts sorted hits to one page; the cursor is the sort position of its last hit. */
function page(
  hits: Array<[string, Entry]>,
  limit: number,
  scoreOf: (key: string) => number,
  cursorKind: string,
  positionOf: (key: string, entry: Entry) => [number, string],
): SearchResult {
  const results: SearchHit[] = hits.slice(0, limit).map(([key, entry]) => ({
    key,
    value: JSON.parse(entry.valueText) as JsonValue,
    metadata: JSON.parse(entry.metadataText) as JsonObject,
    score: scoreOf(key),
    updatedAt: toIso(entry.updatedAt),
  }));
  const last = hits[limit - 1];
  if (hits.length > limit && last !== undefined) {
    return { success: true, results, count: results.length, nextCursor: encodeCursor(cursorKind, positionOf(...last)) };
  }
  return { success: true, results, count: results.length };
}

/** Index of the first key not below `target` in byte order. */
function lowerBound(keys: readonly string[], target: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareKeys(keys[middle] as string, target) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

function decodeString(kind: string, cursor: string): string {
  const position = decodeCursor(kind, cursor);
  if (typeof position !== 'string') throw badCursor(kind);
  return position;
}

function decodePosition(kind: string, cursor: string): [number, string] {
  const position = decodeCursor(kind, cursor);
  if (!Array.isArray(position) || typeof position[0] !== 'number' || typeof position[1] !== 'string' || position.length !== 2) {
    throw badCursor(kind);
  }
  return [position[0], position[1]];
}

function badCursor(kind: string): LTMError {
  return new LTMError('validation_error', `cursor is not a ${kind} cursor from this backend; pass nextCursor unchanged`);
}
