import type { Failure } from './errors.js';
import type { Filter } from './filter.js';
import type { JsonObject, JsonValue } from './json.js';

/** When an entry stops being visible. Give at most one of the two. */
export interface ExpiryOptions {
  /** Seconds from now; a positive finite number. */
  ttlSeconds?: number;
  /** An absolute instant: a `Date`, an ISO-8601 string or epoch milliseconds. */
  expiresAt?: Date | string | number;
}

export interface StoreItem extends ExpiryOptions {
  key: string;
  value: unknown;
  metadata?: JsonObject | null;
}

export interface StoreSuccess {
  success: true;
  stored: true;
  key: string;
  /** `false` when the key already held a live entry (an update). */
  created: boolean;
  /** Set when the write was accepted into a durable local outbox and will reach the store later. */
  queued?: true;
}

export interface RetrieveFound {
  success: true;
  found: true;
  value: JsonValue;
  metadata: JsonObject;
  /** ISO-8601 UTC. */
  createdAt: string;
  updatedAt: string;
  expiresAt?: string;
}

export interface RetrieveMissing<D> {
  success: true;
  found: false;
  value: D;
}

export interface DeleteSuccess {
  success: true;
  /** `false` when there was no live entry under the key. */
  deleted: boolean;
  key: string;
  /** Set when the delete was accepted into a durable local outbox and will reach the store later. */
  queued?: true;
}

export interface SearchOptions {
  /** Full-text query; absent or empty lists entries by `updatedAt`, newest first. */
  query?: string;
  filter?: Filter;
  /** 1 to `MAX_LIMIT`; default 10. */
  limit?: number;
  /** `nextCursor` from a previous page of the same search. */
  cursor?: string;
}

export interface SearchHit {
  key: string;
  value: JsonValue;
  metadata: JsonObject;
  /** Higher is better; 0 when there is no query. */
  score: number;
  updatedAt: string;
}

export interface SearchSuccess {
  success: true;
  results: SearchHit[];
  /** Number of results returned in this page. */
  count: number;
  nextCursor?: string;
}

export interface StoreManySuccess {
  success: true;
  stored: number;
  created: number;
  queued?: true;
}

export type RetrieveManyItem =
  | { key: string; found: true; value: JsonValue; metadata: JsonObject; createdAt: string; updatedAt: string; expiresAt?: string }
  | { key: string; found: false; value: null; metadata: null };

export interface RetrieveManySuccess {
  success: true;
  items: RetrieveManyItem[];
}

export interface ListOptions {
  prefix?: string;
  /** 1 to `MAX_LIMIT`; default 100. */
  limit?: number;
  cursor?: string;
}

export interface ListItem {
  key: string;
  metadata: JsonObject;
  updatedAt: string;
}

export interface ListSuccess {
  success: true;
  items: ListItem[];
  nextCursor?: string;
}

export interface FlushSuccess {
  success: true;
  /** Writes made durable by this call (0 when nothing was pending). */
  flushed: number;
}

export interface CleanupSuccess {
  success: true;
  /** Expired entries physically removed. */
  removed: number;
}

/**
 * `stats()` result. The fields below are common to every backend; a backend adds its own
 * documented fields (engine pool, cache, format details) under `details`.
 */
export interface StatsSuccess {
  success: true;
  backend: string;
  /** Live (unexpired) entries. */
  entries: number;
  capabilities: BackendCapabilities;
  details: { [key: string]: JsonValue };
}

export type StoreResult = StoreSuccess | Failure;
export type RetrieveResult<D = null> = RetrieveFound | RetrieveMissing<D> | Failure;
export type DeleteResult = DeleteSuccess | Failure;
export type SearchResult = SearchSuccess | Failure;
export type StoreManyResult = StoreManySuccess | Failure;
export type RetrieveManyResult = RetrieveManySuccess | Failure;
export type ListResult = ListSuccess | Failure;
export type FlushResult = FlushSuccess | Failure;
export type CleanupResult = CleanupSuccess | Failure;
export type StatsResult = StatsSuccess | Failure;

/**
 * What a backend really supports. Anything not declared answers `unsupported`, never a silent no-op.
 */
export interface BackendCapabilities {
  /** Data survives `close()` and a new `open` of the same location. */
  persistent: boolean;
  /** `store`/`delete`/`storeMany` are accepted (false for a read-only open). */
  writable: boolean;
  /** Full-text `search` with a query (without a query, search always works). */
  fullTextSearch: boolean;
  /** Several processes may write the same store at once. */
  multiWriter: boolean;
}

/**
 * The long-term memory protocol. Every method resolves to a result discriminated on `success`;
 * none rejects for an expected failure (bad input, closed backend, network).
 */
export interface LTMBackend extends AsyncDisposable {
  /** Registered backend name, e.g. `memory` or `duckdb`. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;

  store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult>;
  retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>>;
  delete(key: string): Promise<DeleteResult>;
  search(query?: string | SearchOptions, metadataFilter?: Filter, limit?: number): Promise<SearchResult>;
  /** Atomic: every item is validated first, then all are stored or none. */
  storeMany(items: readonly StoreItem[]): Promise<StoreManyResult>;
  /** Items in the order asked; a repeated key is answered at each position. */
  retrieveMany(keys: readonly string[]): Promise<RetrieveManyResult>;
  /** Live keys in UTF-8 byte order. */
  list(options?: ListOptions): Promise<ListResult>;
  /** Makes every acknowledged write durable where the backend buffers; reports how many. */
  flush(): Promise<FlushResult>;
  cleanupExpired(): Promise<CleanupResult>;
  stats(): Promise<StatsResult>;
  /** Idempotent. Later calls to any other method resolve to `backend_closed`. */
  close(): Promise<void>;
}

export const DEFAULT_SEARCH_LIMIT = 10;
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIMIT = 10_000;
export const MAX_KEY_BYTES = 1024;
export const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024;
