/**
 * What the Parquet format needs from where its files live, and nothing more. DuckDB reads (and, where it
 * can, writes) the Parquet segments itself through `url(key)`; an `ObjectStore` does only what DuckDB
 * cannot: create an object only if it is absent (the commit log), list, delete, and small reads and
 * writes of the log records. Keys are `/`-separated paths relative to the store's root.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Epoch milliseconds, as the storage reports it. */
  lastModified: number;
}

export interface ObjectStore {
  /** The root shown to people (no credentials). */
  readonly location: string;
  /**
   * Whether DuckDB can `COPY ... TO url(key)` on this store. When false, segments are written to a local
   * temporary file and handed to `uploadFile`.
   */
  readonly duckdbWrites: boolean;
  /** The path or URI DuckDB reads `key` at. */
  url(key: string): string;
  /** The object's bytes, or `undefined` when it does not exist. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Creates `key` holding `body` only if no object has that key; resolves `false` when one exists. Atomic:
   * a reader sees the whole body or no object, and of concurrent callers exactly one gets `true`.
   */
  putIfAbsent(key: string, body: Uint8Array): Promise<boolean>;
  /** Creates or replaces `key` (for hints whose loss is harmless). */
  put(key: string, body: Uint8Array): Promise<void>;
  /** Uploads a local file to `key` (used when `duckdbWrites` is false). */
  uploadFile(key: string, localPath: string): Promise<void>;
  /** Objects whose key starts with `prefix` and sorts after `startAfter`, in key order. */
  list(prefix: string, startAfter?: string): Promise<ObjectInfo[]>;
  /** Deletes the keys; keys that do not exist are ignored. */
  delete(keys: readonly string[]): Promise<void>;
  /** Makes `url(prefix + name)` writable by DuckDB's `COPY ... TO` (local disk: creates the directory). */
  preparePrefix(prefix: string): Promise<void>;
  /** Makes what DuckDB wrote at `key` durable (local disk: fsync); a no-op where a finished write already is. */
  syncFile(key: string): Promise<void>;
  close(): Promise<void>;
}
