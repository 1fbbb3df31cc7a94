/**
 * The benchmark peer: the story's `SQLiteBackend` (the backend DuckDB LTM replaces), as an `LTMBackend`
 * on better-sqlite3. Its schema is the story's, exactly: `ltm_store` plus an external-content FTS5 table
 * kept in sync by triggers, WAL with `synchronous=NORMAL`. It is built to be measured fairly, so it is
 * correct for what the workload does (store, retrieve, delete, search with BM25 and metadata filters,
 * atomic storeMany) and plainly refuses what the story's schema cannot hold (expiry), rather than
 * implementing the whole contract.
 */
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import {
  DEFAULT_MAX_VALUE_BYTES,
  LTMError,
  decodeCursor,
  encodeCursor,
  normalizeListArgs,
  normalizeSearchArgs,
  parseFilter,
  parseMetadata,
  serializeMetadata,
  serializeValue,
  toFailure,
  validateKey,
  validateKeys,
} from '@ltm/core';
import type {
  BackendCapabilities,
  CleanupResult,
  DeleteResult,
  ExpiryOptions,
  Failure,
  Filter,
  FilterCondition,
  FlushResult,
  JsonObject,
  JsonValue,
  ListOptions,
  ListResult,
  LTMBackend,
  RetrieveManyResult,
  RetrieveResult,
  SearchOptions,
  SearchResult,
  StatsResult,
  StoreItem,
  StoreManyResult,
  StoreResult,
} from '@ltm/core';

export interface SQLiteBackendOptions {
  /** A file path, or `:memory:`. */
  path: string;
}

interface Row {
  key: string;
  value: string;
  metadata: string | null;
  created_at: string;
  updated_at: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ltm_store (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  metadata TEXT,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE VIRTUAL TABLE IF NOT EXISTS ltm_fts USING fts5(key, value, metadata, content='ltm_store', content_rowid='rowid');
CREATE TRIGGER IF NOT EXISTS ltm_store_ai AFTER INSERT ON ltm_store BEGIN
  INSERT INTO ltm_fts(rowid, key, value, metadata) VALUES (new.rowid, new.key, new.value, new.metadata);
END;
CREATE TRIGGER IF NOT EXISTS ltm_store_ad AFTER DELETE ON ltm_store BEGIN
  INSERT INTO ltm_fts(ltm_fts, rowid, key, value, metadata) VALUES ('delete', old.rowid, old.key, old.value, old.metadata);
END;
CREATE TRIGGER IF NOT EXISTS ltm_store_au AFTER UPDATE ON ltm_store BEGIN
  INSERT INTO ltm_fts(ltm_fts, rowid, key, value, metadata) VALUES ('delete', old.rowid, old.key, old.value, old.metadata);
  INSERT INTO ltm_fts(rowid, key, value, metadata) VALUES (new.rowid, new.key, new.value, new.metadata);
END;
`;

const CAPABILITIES: BackendCapabilities = { persistent: true, writable: true, fullTextSearch: true, multiWriter: false };

export class SQLiteBackend implements LTMBackend {
  readonly name = 'sqlite';
  readonly capabilities = CAPABILITIES;

  readonly #db: SqliteDatabase;
  readonly #exists: Statement<[string], number>;
  // An upsert, not INSERT OR REPLACE: REPLACE deletes the old row without firing the delete trigger
  // (unless recursive_triggers is on), which would leave stale postings in the external-content index.
  readonly #upsert: Statement<[string, string, string]>;
  readonly #select: Statement<[string], Row>;
  readonly #delete: Statement<[string]>;
  readonly #count: Statement<[], number>;
  readonly #storeAll: (items: readonly [string, string, string][]) => number;
  #closed = false;

  private constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#exists = db.prepare<[string], number>('SELECT 1 FROM ltm_store WHERE key = ?').pluck();
    this.#upsert = db.prepare(
      `INSERT INTO ltm_store (key, value, metadata) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, metadata = excluded.metadata, updated_at = CURRENT_TIMESTAMP`,
    );
    this.#select = db.prepare<[string], Row>('SELECT key, value, metadata, created_at, updated_at FROM ltm_store WHERE key = ?');
    this.#delete = db.prepare('DELETE FROM ltm_store WHERE key = ?');
    this.#count = db.prepare<[], number>('SELECT count(*) FROM ltm_store').pluck();
    this.#storeAll = db.transaction((items: readonly [string, string, string][]) => {
      let created = 0;
      for (const [key, value, metadata] of items) {
        if (this.#exists.get(key) === undefined) created += 1;
        this.#upsert.run(key, value, metadata);
      }
      return created;
    });
  }

  static async open(options: SQLiteBackendOptions): Promise<SQLiteBackend> {
    const db = new Database(options.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
    return new SQLiteBackend(db);
  }

  async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    return this.#run(() => {
      const item = this.#prepare({ key, value, metadata, ...options });
      const created = this.#storeAll([item]) === 1;
      return { success: true, stored: true, key, created };
    });
  }

  async retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> {
    return this.#run(() => {
      const row = this.#select.get(validateKey(key));
      if (row === undefined) return { success: true, found: false, value: (defaultValue ?? null) as D };
      return {
        success: true,
        found: true,
        value: JSON.parse(row.value) as JsonValue,
        metadata: parseMetadata(row.metadata),
        createdAt: sqliteTimeToIso(row.created_at),
        updatedAt: sqliteTimeToIso(row.updated_at),
      };
    });
  }

  async delete(key: string): Promise<DeleteResult> {
    return this.#run(() => {
      const { changes } = this.#delete.run(validateKey(key));
      return { success: true, deleted: changes > 0, key };
    });
  }

  async search(query?: string | SearchOptions, metadataFilter?: Filter, limit?: number): Promise<SearchResult> {
    return this.#run(() => {
      const args = normalizeSearchArgs(query, metadataFilter, limit);
      if (args.cursor !== undefined) throw new LTMError('unsupported', 'the SQLite peer does not page search results');
      const where: string[] = [];
      const params: (string | number)[] = [];
      for (const condition of args.filter === undefined ? [] : parseFilter(args.filter)) {
        const compiled = compileCondition(condition);
        where.push(compiled.sql);
        params.push(...compiled.params);
      }
      if (args.query === undefined) {
        const sql = `SELECT key, value, metadata, updated_at, 0 AS score FROM ltm_store s
          ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY updated_at DESC, key LIMIT ?`;
        return hits(this.#db.prepare<unknown[], Row & { score: number }>(sql).all(...params, args.limit));
      }
      const match = toMatchExpression(args.query);
      if (match === undefined) return { success: true, results: [], count: 0 };
      const sql = `SELECT s.key, s.value, s.metadata, s.updated_at, -bm25(ltm_fts) AS score
        FROM ltm_fts JOIN ltm_store s ON s.rowid = ltm_fts.rowid
        WHERE ltm_fts MATCH ? ${where.map((w) => `AND ${w}`).join(' ')}
        ORDER BY bm25(ltm_fts) LIMIT ?`;
      return hits(this.#db.prepare<unknown[], Row & { score: number }>(sql).all(match, ...params, args.limit));
    });
  }

  async storeMany(items: readonly StoreItem[]): Promise<StoreManyResult> {
    return this.#run(() => {
      if (!Array.isArray(items)) throw new LTMError('validation_error', 'storeMany takes an array of { key, value, metadata? }');
      const prepared = items.map((item) => this.#prepare(item));
      const created = this.#storeAll(prepared);
      return { success: true, stored: prepared.length, created };
    });
  }

  async retrieveMany(keys: readonly string[]): Promise<RetrieveManyResult> {
    return this.#run(() => ({
      success: true,
      items: validateKeys(keys).map((key) => {
        const row = this.#select.get(key);
        if (row === undefined) return { key, found: false, value: null, metadata: null };
        return {
          key,
          found: true,
          value: JSON.parse(row.value) as JsonValue,
          metadata: parseMetadata(row.metadata),
          createdAt: sqliteTimeToIso(row.created_at),
          updatedAt: sqliteTimeToIso(row.updated_at),
        };
      }),
    }));
  }

  async list(options?: ListOptions): Promise<ListResult> {
    return this.#run(() => {
      const { prefix, limit, cursor } = normalizeListArgs(options);
      const after = cursor === undefined ? undefined : decodeCursor('sqlite-list', cursor);
      if (after !== undefined && typeof after !== 'string') throw new LTMError('validation_error', 'cursor is not a list cursor');
      // BINARY collation compares UTF-8 bytes, which is the protocol's key order.
      const rows = this.#db
        .prepare<unknown[], Row>(
          `SELECT key, metadata, updated_at FROM ltm_store
           WHERE (? IS NULL OR substr(key, 1, length(?)) = ?) AND (? IS NULL OR key > ?)
           ORDER BY key LIMIT ?`,
        )
        .all(prefix ?? null, prefix ?? null, prefix ?? null, after ?? null, after ?? null, limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        success: true,
        items: page.map((row) => ({ key: row.key, metadata: parseMetadata(row.metadata), updatedAt: sqliteTimeToIso(row.updated_at) })),
        ...(rows.length > limit && last !== undefined ? { nextCursor: encodeCursor('sqlite-list', last.key) } : {}),
      };
    });
  }

  /** Every statement commits on its own (WAL, synchronous=NORMAL), so there is never anything pending. */
  async flush(): Promise<FlushResult> {
    return this.#run(() => ({ success: true, flushed: 0 }));
  }

  /** The story's schema has no expiry column, so nothing ever expires. */
  async cleanupExpired(): Promise<CleanupResult> {
    return this.#run(() => ({ success: true, removed: 0 }));
  }

  async stats(): Promise<StatsResult> {
    return this.#run(() => ({
      success: true,
      backend: this.name,
      entries: this.#count.get() ?? 0,
      capabilities: CAPABILITIES,
      details: { sqliteVersion: sqliteVersion(this.#db), journalMode: String(this.#db.pragma('journal_mode', { simple: true })) },
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #prepare(item: StoreItem): [string, string, string] {
    if (item === null || typeof item !== 'object') throw new LTMError('validation_error', 'each item must be { key, value, metadata? }');
    if (item.ttlSeconds !== undefined || item.expiresAt !== undefined) {
      throw new LTMError('unsupported', "the SQLite peer keeps the story's schema, which has no expiry column");
    }
    return [validateKey(item.key), serializeValue(item.value, DEFAULT_MAX_VALUE_BYTES), serializeMetadata(item.metadata, DEFAULT_MAX_VALUE_BYTES)];
  }

  #run<T>(body: () => T): T | Failure {
    if (this.#closed) return new LTMError('backend_closed', 'the SQLite peer is closed').toFailure();
    try {
      return body();
    } catch (error) {
      return toFailure(error);
    }
  }
}

function hits(rows: (Row & { score: number })[]): SearchResult {
  const results = rows.map((row) => ({
    key: row.key,
    value: JSON.parse(row.value) as JsonValue,
    metadata: parseMetadata(row.metadata),
    score: row.score,
    updatedAt: sqliteTimeToIso(row.updated_at),
  }));
  return { success: true, results, count: results.length };
}

/**
 * Each term quoted as an FTS5 string (so no query text is ever FTS5 syntax) and joined with OR, the
 * disjunctive semantics our search has. Terms are split where FTS5's unicode61 tokenizer splits.
 */
export function toMatchExpression(query: string): string | undefined {
  const terms = query.split(/[^\p{L}\p{N}\p{M}]+/u).filter((term) => term !== '');
  if (terms.length === 0) return undefined;
  return terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(' OR ');
}

/** A JSON path for `json_extract`, each segment quoted so dots and spaces inside names stay literal. */
function jsonPath(path: readonly string[]): string {
  for (const segment of path) {
    if (segment.includes('"')) throw new LTMError('unsupported', 'the SQLite peer cannot filter on field names containing a double quote');
  }
  return `$${path.map((segment) => `."${segment}"`).join('')}`;
}

interface CompiledCondition {
  sql: string;
  params: (string | number)[];
}

/**
 * Strict JSON equality in SQL: `json_type` tells `1` from `"1"` and `true` from `1`, which
 * `json_extract` alone (it returns SQL values) would confuse. A missing field makes these NULL, so
 * negations coalesce it to false first (a missing field is "not equal").
 */
function compileCondition({ path, op, operand }: FilterCondition): CompiledCondition {
  const p = jsonPath(path);
  const eq = (value: JsonValue): CompiledCondition => {
    if (value === null) return { sql: `json_type(s.metadata, ?) = 'null'`, params: [p] };
    if (typeof value === 'boolean') return { sql: `json_type(s.metadata, ?) = ?`, params: [p, value ? 'true' : 'false'] };
    if (typeof value === 'number') {
      return { sql: `(json_type(s.metadata, ?) IN ('integer', 'real') AND json_extract(s.metadata, ?) = ?)`, params: [p, p, value] };
    }
    if (typeof value === 'string') return { sql: `(json_type(s.metadata, ?) = 'text' AND json_extract(s.metadata, ?) = ?)`, params: [p, p, value] };
    throw new LTMError('unsupported', 'the SQLite peer filters on strings, numbers, booleans and null only');
  };
  const anyOf = (values: JsonValue[]): CompiledCondition => {
    if (values.length === 0) return { sql: '0', params: [] };
    const parts = values.map(eq);
    return { sql: `(${parts.map((part) => part.sql).join(' OR ')})`, params: parts.flatMap((part) => part.params) };
  };
  switch (op) {
    case '$eq':
      return eq(operand);
    case '$ne': {
      const inner = eq(operand);
      return { sql: `NOT coalesce(${inner.sql}, 0)`, params: inner.params };
    }
    case '$in':
      return anyOf(operand as JsonValue[]);
    case '$nin': {
      const inner = anyOf(operand as JsonValue[]);
      return { sql: `NOT coalesce(${inner.sql}, 0)`, params: inner.params };
    }
    case '$exists':
      return { sql: `json_type(s.metadata, ?) IS ${operand === true ? 'NOT NULL' : 'NULL'}`, params: [p] };
    default: {
      const sqlOp = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' }[op];
      const types = typeof operand === 'number' ? `('integer', 'real')` : `('text')`;
      return {
        sql: `(json_type(s.metadata, ?) IN ${types} AND json_extract(s.metadata, ?) ${sqlOp} ?)`,
        params: [p, p, operand as string | number],
      };
    }
  }
}

/** `CURRENT_TIMESTAMP` text is UTC `YYYY-MM-DD HH:MM:SS`. */
function sqliteTimeToIso(text: string): string {
  return new Date(`${text.replace(' ', 'T')}Z`).toISOString();
}

function sqliteVersion(db: SqliteDatabase): string {
  return String(db.prepare('SELECT sqlite_version()').pluck().get());
}

/** The SQLite library better-sqlite3 was built with. */
export function sqliteLibraryVersion(): string {
  const db = new Database(':memory:');
  try {
    return sqliteVersion(db);
  } finally {
    db.close();
  }
}

/** The better-sqlite3 package itself, read from its package.json (it exports no version). */
export function betterSqliteVersion(): string {
  const manifest = createRequire(import.meta.url)('better-sqlite3/package.json') as { version: string };
  return manifest.version;
}
