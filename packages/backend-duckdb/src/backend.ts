import {
  LTMError,
  decodeCursor,
  encodeCursor,
  failure,
  normalizeListArgs,
  normalizeSearchArgs,
  parseFilter,
  parseMetadata,
  resolveExpiry,
  serializeMetadata,
  serializeValue,
  toFailure,
  toIso,
  validateKey,
  validateKeys,
} from '@ltm/core';
import type {
  BackendCapabilities,
  CleanupResult,
  DeleteResult,
  ExpiryOptions,
  Filter,
  FlushResult,
  JsonObject,
  JsonValue,
  ListResult,
  LTMBackend,
  RetrieveManyItem,
  RetrieveManyResult,
  RetrieveResult,
  SearchOptions,
  SearchResult,
  StatsResult,
  StorageFormat,
  StoreItem,
  StoreManyResult,
  StoreResult,
} from '@ltm/core';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { createNativeFormat } from '@ltm/format-native';
import { SqlParams } from './filter-sql.js';
import type { DuckDBLTMBackendOptions, ResolvedOptions } from './options.js';
import { isCloudUri, resolveOptions, selectFormatName } from './options.js';
import { Searcher } from './search/searcher.js';
import { liveCondition } from './sql.js';
import type { WriteOp } from './write-pipeline.js';
import { WritePipeline } from './write-pipeline.js';

type Engine = DuckDBQueryEngine;

interface EntryColumns {
  key: string;
  value: string;
  metadata: string | null;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
}

const ENTRY_COLUMNS = `key, value, metadata, epoch_ms(created_at) AS created_at, epoch_ms(updated_at) AS updated_at, epoch_ms(expires_at) AS expires_at`;

/**
 * Long-term memory on DuckDB. Open with `await DuckDBLTMBackend.open(options)` or
 * `await createLTMBackend('duckdb', options)`. Writes go through a group-commit pipeline; every
 * query binds its parameters; search is an incremental BM25 index kept in the same commit as the entry.
 */
export class DuckDBLTMBackend implements LTMBackend {
  readonly name = 'duckdb';
  readonly capabilities: BackendCapabilities;

  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly pipeline: WritePipeline;
  private readonly searcher: Searcher;

  private constructor(
    private readonly engine: Engine,
    private readonly ownsEngine: boolean,
    private readonly format: StorageFormat<Engine>,
    private readonly options: ResolvedOptions,
  ) {
    const formatCaps = format.capabilities;
    this.capabilities = {
      persistent: formatCaps.persistent,
      writable: formatCaps.writable && !options.readOnly,
      fullTextSearch: options.enableFts,
      multiWriter: formatCaps.multiWriter,
    };
    this.searcher = new Searcher(engine, (name) => format.relation(name), options.enableFts);
    this.pipeline = new WritePipeline({
      readLive: (keys, now) => this.readLiveCreatedAt(keys, now),
      commit: (batch) => this.format.commit(batch),
      indexRows: (row) => this.searcher.indexRows(row),
    });
  }

  /** Opens (and creates, when missing) the store. Rejects with `LTMError` when it cannot. */
  static async open(options: DuckDBLTMBackendOptions = {}): Promise<DuckDBLTMBackend> {
    const resolved = resolveOptions(options);
    const format = await loadFormat(resolved);
    const shared = options.queryEngine;
    const engine =
      shared ??
      (await DuckDBQueryEngine.open({
        path: isCloudUri(resolved.uri) ? ':memory:' : resolved.uri,
        readOnly: resolved.readOnly,
        ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
        ...(options.acquireTimeoutMs === undefined ? {} : { acquireTimeoutMs: options.acquireTimeoutMs }),
      }));
    try {
      await format.open({ engine, uri: resolved.uri, tableName: resolved.tableName, readOnly: resolved.readOnly });
    } catch (error) {
      if (!shared) await engine.close().catch(() => undefined);
      throw error;
    }
    return new DuckDBLTMBackend(engine, shared === undefined, format, resolved);
  }

  // ---- protocol -------------------------------------------------------------------------------

  async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    return this.guard(async () => {
      this.assertWritable();
      const op = this.putOp({ key, value, metadata, ...options });
      const [outcome] = await this.pipeline.submit([op]);
      return { success: true, stored: true, key: op.key, created: !outcome?.existed };
    });
  }

  async retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> {
    return this.guard(async () => {
      validateKey(key);
      const now = Date.now();
      const rows = await this.engine.query<EntryColumns>(
        `SELECT ${ENTRY_COLUMNS} FROM ${this.rel('entries')} WHERE key = $1`,
        [key],
      );
      const row = rows[0];
      if (!row || !isLive(row, now)) return { success: true, found: false, value: (defaultValue ?? null) as D };
      return { success: true, found: true, ...entryFields(row) };
    });
  }

  async delete(key: string): Promise<DeleteResult> {
    return this.guard(async () => {
      this.assertWritable();
      validateKey(key);
      const [outcome] = await this.pipeline.submit([{ kind: 'delete', key }]);
      return { success: true, deleted: outcome?.existed ?? false, key };
    });
  }

  async search(query?: string | SearchOptions, metadataFilter?: Filter, limit?: number): Promise<SearchResult> {
    return this.guard(async () => {
      const args = normalizeSearchArgs(query, metadataFilter, limit);
      const offset = args.cursor === undefined ? 0 : decodeOffset(decodeCursor('search', args.cursor));
      const rows = await this.searcher.search({
        query: args.query,
        conditions: args.filter ? parseFilter(args.filter) : [],
        limit: args.limit,
        offset,
        now: Date.now(),
      });
      const results = rows.slice(0, args.limit).map((row) => ({
        key: row.key,
        value: JSON.parse(row.value) as JsonValue,
        metadata: parseMetadata(row.metadata),
        score: Number(row.score),
        updatedAt: toIso(Number(row.updated_at)),
      }));
      return {
        success: true,
        results,
        count: results.length,
        ...(rows.length > args.limit ? { nextCursor: encodeCursor('search', offset + args.limit) } : {}),
      };
    });
  }

  async storeMany(items: readonly StoreItem[]): Promise<StoreManyResult> {
    return this.guard(async () => {
      this.assertWritable();
      if (!Array.isArray(items)) throw new LTMError('validation_error', 'storeMany takes an array of { key, value, metadata?, ttlSeconds?, expiresAt? }');
      // Validate everything before anything is queued: one bad item stores nothing.
      const ops = items.map((item, index) => {
        try {
          if (item === null || typeof item !== 'object') throw new LTMError('validation_error', 'each item must be an object');
          return this.putOp(item);
        } catch (error) {
          if (error instanceof LTMError) throw new LTMError(error.errorType, `item ${index}: ${error.message}`);
          throw error;
        }
      });
      if (ops.length === 0) return { success: true, stored: 0, created: 0 };
      const outcomes = await this.pipeline.submit(ops);
      return { success: true, stored: ops.length, created: outcomes.filter((o) => !o.existed).length };
    });
  }

  async retrieveMany(keys: readonly string[]): Promise<RetrieveManyResult> {
    return this.guard(async () => {
      const valid = validateKeys(keys);
      const now = Date.now();
      const unique = [...new Set(valid)];
      const rows =
        unique.length === 0
          ? []
          : await this.engine.query<EntryColumns>(
              `SELECT ${ENTRY_COLUMNS} FROM ${this.rel('entries')} WHERE key IN (SELECT unnest(CAST($1 AS VARCHAR[])))`,
              [unique],
            );
      const byKey = new Map(rows.filter((row) => isLive(row, now)).map((row) => [row.key, row]));
      const items = valid.map((key): RetrieveManyItem => {
        const row = byKey.get(key);
        return row ? { key, found: true, ...entryFields(row) } : { key, found: false, value: null, metadata: null };
      });
      return { success: true, items };
    });
  }

  async list(options?: Parameters<LTMBackend['list']>[0]): Promise<ListResult> {
    return this.guard(async () => {
      const args = normalizeListArgs(options);
      const after = args.cursor === undefined ? undefined : decodeCursor('list', args.cursor);
      if (after !== undefined && typeof after !== 'string') throw new LTMError('validation_error', 'list cursor is malformed');
      const params = new SqlParams();
      const conditions = [liveCondition('e', params.add(Date.now()))];
      if (args.prefix !== undefined) conditions.push(`starts_with(e.key, ${params.add(args.prefix)})`);
      if (after !== undefined) conditions.push(`e.key > ${params.add(after)}`);
      const rows = await this.engine.query<{ key: string; metadata: string | null; updated_at: number }>(
        `SELECT key, metadata, epoch_ms(updated_at) AS updated_at FROM ${this.rel('entries')} AS e
         WHERE ${conditions.join(' AND ')} ORDER BY e.key LIMIT ${params.add(args.limit + 1)}`,
        params.values,
      );
      const page = rows.slice(0, args.limit);
      const items = page.map((row) => ({ key: row.key, metadata: parseMetadata(row.metadata), updatedAt: toIso(Number(row.updated_at)) }));
      const last = page[page.length - 1];
      return {
        success: true,
        items,
        ...(rows.length > args.limit && last ? { nextCursor: encodeCursor('list', last.key) } : {}),
      };
    });
  }

  async flush(): Promise<FlushResult> {
    return this.guard(async () => ({ success: true, flushed: await this.pipeline.flush() }));
  }

  async cleanupExpired(): Promise<CleanupResult> {
    return this.guard(async () => {
      this.assertWritable();
      await this.pipeline.flush();
      return { success: true, removed: await this.format.removeExpired(Date.now()) };
    });
  }

  async stats(): Promise<StatsResult> {
    return this.guard(async () => {
      const now = Date.now();
      const [counts] = await this.engine.query<{ live: number; expired: number }>(
        `SELECT count(*) FILTER (WHERE ${liveCondition('e', '$1')}) AS live,
                count(*) FILTER (WHERE NOT ${liveCondition('e', '$1')}) AS expired
         FROM ${this.rel('entries')} AS e`,
        [now],
      );
      const { pool } = this.engine.stats();
      return {
        success: true,
        backend: this.name,
        entries: Number(counts?.live ?? 0),
        capabilities: this.capabilities,
        details: {
          format: this.format.name,
          uri: redactUri(this.options.uri),
          tableName: this.options.tableName,
          expiredPending: Number(counts?.expired ?? 0),
          writes: { ...this.pipeline.stats() },
          pool: { size: pool.size, open: pool.open, inUse: pool.inUse, waiting: pool.waiting },
        },
      };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      await this.pipeline.flush().catch(() => undefined);
      await this.format.close();
      if (this.ownsEngine) await this.engine.close();
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  private async guard<R>(work: () => Promise<R>): Promise<R | ReturnType<typeof failure>> {
    if (this.closed) return failure('backend_closed', 'this DuckDBLTMBackend is closed; open a new one');
    try {
      return await work();
    } catch (error) {
      return toFailure(error);
    }
  }

  private assertWritable(): void {
    if (this.capabilities.writable) return;
    const hint = isCloudUri(this.options.uri)
      ? `a .duckdb file on object storage is read-only in DuckDB; use format: 'parquet' to write to ${this.options.uri.split('://')[0]}://`
      : 'this store was opened read-only';
    throw new LTMError('read_only', `cannot write: ${hint}`);
  }

  private putOp(item: StoreItem): WriteOp {
    const key = validateKey(item.key);
    const value = serializeValue(item.value, this.options.maxValueBytes);
    const metadata = serializeMetadata(item.metadata, this.options.maxValueBytes);
    const expiresAt = resolveExpiry({ ttlSeconds: item.ttlSeconds, expiresAt: item.expiresAt }, Date.now());
    return { kind: 'put', key, value, metadata, expiresAt };
  }

  private async readLiveCreatedAt(keys: string[], now: number): Promise<Map<string, number>> {
    const rows = await this.engine.query<{ key: string; created_at: number }>(
      `SELECT key, epoch_ms(created_at) AS created_at FROM ${this.rel('entries')} AS e
       WHERE key IN (SELECT unnest(CAST($1 AS VARCHAR[]))) AND ${liveCondition('e', '$2')}`,
      [keys, now],
    );
    return new Map(rows.map((row) => [row.key, Number(row.created_at)]));
  }

  private rel(name: 'entries' | 'terms' | 'docs'): string {
    return this.format.relation(name);
  }
}

function isLive(row: { expires_at: number | null }, now: number): boolean {
  return row.expires_at === null || Number(row.expires_at) > now;
}

function entryFields(row: EntryColumns): { value: JsonValue; metadata: JsonObject; createdAt: string; updatedAt: string; expiresAt?: string } {
  return {
    value: JSON.parse(row.value) as JsonValue,
    metadata: parseMetadata(row.metadata),
    createdAt: toIso(Number(row.created_at)),
    updatedAt: toIso(Number(row.updated_at)),
    ...(row.expires_at === null ? {} : { expiresAt: toIso(Number(row.expires_at)) }),
  };
}

function decodeOffset(position: unknown): number {
  if (typeof position !== 'number' || !Number.isInteger(position) || position < 0) {
    throw new LTMError('validation_error', 'search cursor is malformed; pass nextCursor unchanged');
  }
  return position;
}

/** Strips anything that looks like credentials from a URI before it is shown in stats or errors. */
function redactUri(uri: string): string {
  return uri.replace(/\?.*$/, '').replace(/\/\/[^@/]*@/, '//');
}

async function loadFormat(options: ResolvedOptions): Promise<StorageFormat<Engine>> {
  if (typeof options.format === 'object') return options.format;
  const name = selectFormatName(options.uri, options.format);
  if (name === 'native') return createNativeFormat();
  throw new LTMError(
    'unsupported',
    `format 'parquet' (chosen for ${JSON.stringify(redactUri(options.uri))}${options.format === 'auto' ? ' because it does not end in .duckdb or .db' : ''}) is not available yet; ` +
      'use a path ending in .duckdb for a native DuckDB file, or :memory:',
  );
}
