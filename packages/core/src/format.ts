/**
 * The format seam. A backend owns query semantics (expiry, search ranking, filters, ordering); a
 * `StorageFormat` owns where bytes live and how a batch becomes durable and visible. A third party can
 * implement one in a single file against `@ltm/core` and `@ltm/engine-duckdb`, and check it with
 * `describeStorageFormatContract` from `@ltm/core/testing`.
 *
 * `Engine` is the query engine the format reads through (for DuckDB formats, `DuckDBQueryEngine`).
 */

/** One stored entry, as the backend hands it to the format. JSON columns are JSON text. */
export interface EntryRow {
  key: string;
  /** JSON text of the value (never empty; `null` is the text `null`). */
  value: string;
  /** JSON text of the metadata object (`{}` when absent). */
  metadata: string;
  /** Epoch milliseconds, UTC. */
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
}

/**
 * Search index rows for one entry, written in the same commit as the entry. `field` 0 is the parity
 * field (what DuckDB's fts would index); field 1 holds extra tokens (numbers, CJK bigrams) whose length
 * does not enter the parity field's BM25.
 */
export interface TermRow {
  key: string;
  field: 0 | 1;
  term: string;
  tf: number;
}

export interface DocRow {
  key: string;
  /** Terms in the parity field (fts's document length). */
  length: number;
  /** Terms in the extra field. */
  extraLength: number;
}

/**
 * An atomic unit of change: all of it becomes visible, or none. `puts` and `deletes` name disjoint,
 * unique keys. `terms`/`docs` describe exactly the keys in `puts` (absent when the backend keeps no
 * index); a put or delete replaces whatever index rows the key had.
 */
export interface CommitBatch {
  puts: EntryRow[];
  deletes: string[];
  terms?: TermRow[];
  docs?: DocRow[];
}

export interface FormatCapabilities {
  /** Accepts commits (false for read-only opens such as a `.duckdb` file on object storage). */
  writable: boolean;
  /** Several processes may commit to the same location concurrently. */
  multiWriter: boolean;
  /** Data survives `close()`. */
  persistent: boolean;
  /** Implements `compact()` / `vacuum()`. */
  compaction: boolean;
}

export interface FormatContext<Engine> {
  engine: Engine;
  /** Where the store lives: a local path, `:memory:` or a cloud URI. */
  uri: string;
  /** A validated identifier (letters, digits, `_`). */
  tableName: string;
  /** Open for reading only, even where writing would be possible. */
  readOnly: boolean;
}

/**
 * Logical relations the backend queries. Each is SQL that may stand after `FROM`, built only from
 * validated identifiers (never from user data):
 * - `entries`: one row per live key (latest version; deleted keys absent; expired rows may remain):
 *   `key VARCHAR, value JSON/VARCHAR, metadata JSON/VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP,
 *   expires_at TIMESTAMP` (all UTC);
 * - `terms`: `key, field, term, tf` for the same keys;
 * - `docs`: `key, length, extra_length` for the same keys.
 */
export type RelationName = 'entries' | 'terms' | 'docs';

export interface StorageFormat<Engine = unknown> {
  /** Short name, e.g. `native` or `parquet`; recorded with the store's format version. */
  readonly name: string;
  /** Valid after `open()`. */
  readonly capabilities: FormatCapabilities;

  open(context: FormatContext<Engine>): Promise<void>;
  relation(name: RelationName): string;
  /** Makes the batch durable and visible atomically. Rejects with `LTMError` (`read_only`, ...). */
  commit(batch: CommitBatch): Promise<void>;
  /**
   * Optional: a commit is coming (its batch is being prepared). A format whose commit first has to find the end
   * of a shared log can start looking now, while the batch is built.
   */
  commitComing?(): void;
  /** Picks up other writers' commits; resolves `true` when something changed. */
  refresh(): Promise<boolean>;
  /**
   * For a format that updates its relations lazily: resolves once they show every commit and refresh so
   * far that can touch `keys` (every one when omitted). Call it before reading `relation()`. A format whose
   * relations are up to date when `commit`/`refresh` resolve leaves it out.
   */
  prepareRead?(keys?: readonly string[]): Promise<void>;
  /**
   * Optional: which of `keys` the `entries` relation may hold, as the relations stand (call `prepareRead(keys)`
   * first): every key `entries` holds among them, and possibly deleted ones. A backend asks before it reads
   * `entries` for the keys of a write, so a write of new keys skips that read: on object storage it can read
   * every segment's key column.
   */
  knownKeys?(keys: readonly string[]): Promise<Set<string>>;
  /** Physically removes rows expired before `now` (epoch ms); returns how many. */
  removeExpired(now: number): Promise<number>;
  compact?(): Promise<void>;
  vacuum?(): Promise<void>;
  /** Idempotent; afterwards the location is readable by any client of the format. */
  close(): Promise<void>;
}
