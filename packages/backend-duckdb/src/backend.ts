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
  Failure,
  EntryRow,
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
import type { CloudCredentialOptions, GcsCredentials, S3Credentials } from '@ltm/engine-duckdb';
import { createNativeFormat } from '@ltm/format-native';
import { ParquetFormat, createParquetFormat } from '@ltm/format-parquet';
import type { CompactResult, ParquetFormatOptions, VacuumResult } from '@ltm/format-parquet';
import { SqlParams } from './filter-sql.js';
import type { DuckDBLTMBackendOptions, ResolvedOptions, WriteMode } from './options.js';
import { cloudEngineOptions, isCloudUri, resolveOptions, selectFormatName, writeModeFor } from './options.js';
import { Searcher } from './search/searcher.js';
import { liveCondition } from './sql.js';
import type { Store, WriteOp } from './store/types.js';
import { DirectStore } from './store/direct-store.js';
import { OutboxStore, outboxDirectoryFor } from './store/outbox.js';
import { TableStore } from './store/table-store.js';

type Engine = DuckDBQueryEngine;

/** `compact()`: the store's segments after merging (Parquet). */
export type CompactOutcome = { success: true; segments: number } | Failure;
/** `vacuum()`: files deleted (Parquet). */
export type VacuumOutcome = ({ success: true } & VacuumResult) | Failure;
/** `purge()`: a full compaction then a vacuum with no retention (Parquet). */
export type PurgeOutcome = ({ success: true } & CompactResult & VacuumResult) | Failure;
/** `exportSnapshot()`: live rows written to `target`. */
export type ExportOutcome = { success: true; rows: number; target: string } | Failure;

/** Table stores of this process by database and table: backends on the same table share one. */
const openTables = new Map<string, Promise<Store>>();

/** Engines on `:memory:` are separate databases; one shared between backends (`queryEngine`) is one. */
const engineIds = new WeakMap<DuckDBQueryEngine, number>();
let engineCount = 0;
function engineId(engine: DuckDBQueryEngine): number {
  let id = engineIds.get(engine);
  if (id === undefined) engineIds.set(engine, (id = ++engineCount));
  return id;
}

/**
 * Long-term memory on DuckDB. Open with `await DuckDBLTMBackend.open(options)` or
 * `await createLTMBackend('duckdb', options)`. A write is acknowledged once it is in the journal and
 * reaches DuckDB in batches (see store/table-store.ts); reads see every acknowledged write; every query
 * binds its parameters; search is an incremental BM25 index committed with the entries.
 */
export class DuckDBLTMBackend implements LTMBackend {
  readonly name = 'duckdb';
  readonly capabilities: BackendCapabilities;

  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly searcher: Searcher;

  private constructor(
    private readonly table: Store,
    private readonly tableKey: string,
    private readonly options: ResolvedOptions,
    private readonly writeMode: WriteMode,
  ) {
    const formatCaps = table.format.capabilities;
    this.capabilities = {
      persistent: formatCaps.persistent,
      writable: formatCaps.writable && !options.readOnly,
      fullTextSearch: options.enableFts,
      multiWriter: formatCaps.multiWriter,
    };
    this.searcher = new Searcher({
      engine: table.engine,
      relation: (name) => table.format.relation(name),
      fullText: options.enableFts,
      searchEngine: options.searchEngine,
      readEntries: (keys, now) => table.readMany(keys, now),
      // Searches that read the format's relations bring them up to date first; the in-memory index need not.
      catchUp: () => table.catchUp(),
      // This process makes every commit of a single-writer table, so the index can live in memory too.
      ...(table instanceof TableStore ? { commits: table } : {}),
      memoryMaxBytes: options.searchCacheMaxBytes,
      extensionDirectory: options.extensionDirectory,
    });
  }

  /** Opens (and creates, when missing) the store. Rejects with `LTMError` when it cannot. */
  static async open(options: DuckDBLTMBackendOptions = {}): Promise<DuckDBLTMBackend> {
    const resolved = resolveOptions(options);
    // Reject a durability of the other format before anything is opened (a format object is checked once open).
    if (typeof resolved.format === 'string') {
      const name = selectFormatName(resolved.uri, resolved.format);
      writeModeFor(resolved, name === 'parquet', name);
    }
    const shared = options.queryEngine;
    const cloud = cloudEngineOptions(options, shared !== undefined);
    // The Parquet format's SDK clients reach the store with the identity of the engine that reads it.
    const format = await loadFormat(resolved, shared?.cloudIdentity() ?? { credentials: cloud.credentials ?? {}, env: process.env });
    const local = !isCloudUri(resolved.uri);
    // The native format is a DuckDB database file: the engine opens it. Other formats keep their data
    // elsewhere (Parquet files) and read it through a private in-memory DuckDB.
    const databaseFile = local && format.name === 'native' ? resolved.uri : ':memory:';
    const engine =
      shared ??
      (await DuckDBQueryEngine.open({
        path: databaseFile,
        // DuckDB cannot open a private in-memory database read-only; the format enforces it instead.
        readOnly: resolved.readOnly && databaseFile !== ':memory:',
        ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
        ...(options.acquireTimeoutMs === undefined ? {} : { acquireTimeoutMs: options.acquireTimeoutMs }),
        ...(resolved.extensionDirectory === undefined ? {} : { extensionDirectory: resolved.extensionDirectory }),
        ...cloud,
      }));
    // A database file is one database whichever engine opened it; anything else is what this engine reads
    // at this URI (an in-memory database, a bucket, a directory of Parquet files).
    const database = databaseFile === ':memory:' ? `engine#${engineId(engine)}\u0000${resolved.uri}` : engine.path;
    const key = `${database}\u0000${resolved.tableName}`;
    const existing = openTables.get(key);
    if (existing) {
      // Another backend of this process has the table open: share its store (and its engine).
      if (!shared) await engine.close();
      const table = await existing;
      table.refs += 1;
      return new DuckDBLTMBackend(table, key, resolved, writeModeFor(resolved, table.format.capabilities.multiWriter, table.format.name));
    }
    let writeMode: WriteMode | undefined;
    const opening = (async () => {
      try {
        // Formats that read remote files (Parquet on a bucket) need the extension and a secret for it.
        if (!local && format.name !== 'native') await engine.prepareRemote(resolved.uri);
        await format.open({ engine, uri: resolved.uri, tableName: resolved.tableName, readOnly: resolved.readOnly });
        const mode = writeModeFor(resolved, format.capabilities.multiWriter, format.name);
        writeMode = mode;
        if (mode.multiWriter) {
          const direct = new DirectStore({
            engine,
            ownsEngine: shared === undefined,
            format,
            pipeline: mode.pipeline,
            cacheBytes: resolved.cacheMaxBytes,
          });
          if (mode.fallback !== 'local-outbox' || !format.capabilities.writable) return direct;
          const label = redactUri(resolved.uri);
          return OutboxStore.open(direct, {
            directory: outboxDirectoryFor(label, resolved.tableName, resolved.outboxDirectory, process.env),
            label,
            tableName: resolved.tableName,
          });
        }
        return await TableStore.open({
          engine,
          ownsEngine: shared === undefined,
          format,
          journalPath: databaseFile === ':memory:' ? null : engine.path,
          tableName: resolved.tableName,
          writable: format.capabilities.writable && !resolved.readOnly,
          durability: mode.durability,
          cacheBytes: resolved.cacheMaxBytes,
          applyDelayMs: 20,
          applyBatch: 4096,
          refreshIntervalMs: 5000,
        });
      } catch (error) {
        openTables.delete(key);
        if (!shared) await engine.close().catch(() => undefined);
        throw error;
      }
    })();
    openTables.set(key, opening);
    const table = await opening;
    return new DuckDBLTMBackend(table, key, resolved, writeMode ?? writeModeFor(resolved, table.format.capabilities.multiWriter, table.format.name));
  }

  // ---- protocol -------------------------------------------------------------------------------

  async store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions): Promise<StoreResult> {
    return this.guard(async () => {
      this.assertWritable();
      const op = this.putOp({ key, value, metadata, ...options });
      const [outcome] = await this.table.write([op]);
      return { success: true, stored: true, key: op.key, created: !outcome?.existed, ...(outcome?.queued ? { queued: true as const } : {}) };
    });
  }

  async retrieve<D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> {
    return this.guard(async () => {
      validateKey(key);
      const [row] = await this.table.readMany([key], Date.now());
      if (!row) return { success: true, found: false, value: (defaultValue ?? null) as D };
      return { success: true, found: true, ...entryFields(row) };
    });
  }

  async delete(key: string): Promise<DeleteResult> {
    return this.guard(async () => {
      this.assertWritable();
      validateKey(key);
      const [outcome] = await this.table.write([{ kind: 'delete', key }]);
      return { success: true, deleted: outcome?.existed ?? false, key, ...(outcome?.queued ? { queued: true as const } : {}) };
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
      // Validate everything before anything is written: one bad item stores nothing.
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
      const outcomes = await this.table.write(ops);
      return {
        success: true,
        stored: ops.length,
        created: outcomes.filter((o) => !o.existed).length,
        ...(outcomes.some((o) => o.queued) ? { queued: true as const } : {}),
      };
    });
  }

  async retrieveMany(keys: readonly string[]): Promise<RetrieveManyResult> {
    return this.guard(async () => {
      const valid = validateKeys(keys);
      const rows = await this.table.readMany([...new Set(valid)], Date.now());
      const byKey = new Map<string, EntryRow>();
      for (const row of rows) if (row) byKey.set(row.key, row);
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
      await this.table.catchUp();
      const params = new SqlParams();
      const conditions = [liveCondition('e', params.add(Date.now()))];
      if (args.prefix !== undefined) conditions.push(`starts_with(e.key, ${params.add(args.prefix)})`);
      if (after !== undefined) conditions.push(`e.key > ${params.add(after)}`);
      const rows = await this.table.engine.query<{ key: string; metadata: string | null; updated_at: number }>(
        `SELECT key, metadata, epoch_ms(updated_at) AS updated_at FROM ${this.table.format.relation('entries')} AS e
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
    return this.guard(async () => ({ success: true, flushed: await this.table.sync() }));
  }

  async cleanupExpired(): Promise<CleanupResult> {
    return this.guard(async () => {
      this.assertWritable();
      return { success: true, removed: await this.table.removeExpired(Date.now()) };
    });
  }

  // ---- maintenance (the Parquet format; the native format answers `unsupported`) ---------------------

  /**
   * Merges every segment into one now, dropping superseded versions (so deleted values), expired rows and
   * tombstones (keys only) older than the retention window (the format also compacts by itself past a threshold). Safe with concurrent readers and writers.
   */
  async compact(): Promise<CompactOutcome> {
    return this.guard(async () => {
      const format = this.parquet('compact()');
      this.assertWritable();
      await this.table.catchUp();
      await format.compact();
      return { success: true, segments: format.stats().segments };
    });
  }

  /**
   * Deletes files no snapshot within the retention window references (segments merged away, old log
   * records, orphans of crashed writers). `retentionMs` overrides the store's window for this run.
   */
  async vacuum(options: { retentionMs?: number } = {}): Promise<VacuumOutcome> {
    return this.guard(async () => {
      const format = this.parquet('vacuum()');
      this.assertWritable();
      if (options === null || typeof options !== 'object') throw new LTMError('validation_error', 'vacuum takes { retentionMs? }');
      const { retentionMs } = options;
      if (retentionMs !== undefined && (!Number.isSafeInteger(retentionMs) || retentionMs < 0)) {
        throw new LTMError('validation_error', `retentionMs must be an integer >= 0, got ${String(retentionMs)}`);
      }
      await format.vacuum(retentionMs === undefined ? {} : { retentionMs });
      const last = format.stats().lastVacuum;
      return { success: true, ...(last ?? { deletedSegmentFiles: 0, deletedRecords: 0, deletedCheckpoints: 0, deletedTemporaries: 0 }) };
    });
  }

  /**
   * Physically removes deleted and expired data now (privacy requests): queued writes are replayed first,
   * then a full compaction and a vacuum with no retention. Readers of older snapshots in other processes
   * may fail until they refresh.
   */
  async purge(): Promise<PurgeOutcome> {
    return this.guard(async () => {
      const format = this.parquet('purge()');
      this.assertWritable();
      await this.table.sync();
      return { success: true, ...(await format.purge()) };
    });
  }

  /**
   * Writes the live state (one row per key, expired rows left out, sorted by key) as one Parquet file: a
   * local path or an `s3://`, `gs://` or `az://` URI this backend's credentials reach.
   */
  async exportSnapshot(target: string): Promise<ExportOutcome> {
    return this.guard(async () => {
      const format = this.parquet('exportSnapshot()');
      if (typeof target !== 'string' || target.trim() === '') throw new LTMError('validation_error', 'exportSnapshot takes a target path or URI');
      await this.table.catchUp();
      const { rows } = await format.exportSnapshot(target);
      return { success: true, rows, target: redactUri(target) };
    });
  }

  async stats(): Promise<StatsResult> {
    return this.guard(async () => {
      const counts = await this.table.counts(Date.now());
      const { pool, circuit, retries, extensions } = this.table.engine.stats();
      return {
        success: true,
        backend: this.name,
        entries: counts.live,
        capabilities: this.capabilities,
        details: {
          format: this.table.format.name,
          uri: redactUri(this.options.uri),
          tableName: this.options.tableName,
          expiredPending: counts.expired,
          durability: this.writeMode.durability,
          ...(this.writeMode.multiWriter
            ? {
                ...(this.writeMode.durability === 'batched'
                  ? { maxBatchDelayMs: this.writeMode.pipeline.maxBatchDelayMs, maxBatchOps: this.writeMode.pipeline.maxBatchOps }
                  : {}),
                fallback: this.writeMode.fallback,
                outbox: this.table instanceof OutboxStore ? (JSON.parse(JSON.stringify(this.table.outboxStats())) as JsonValue) : null,
              }
            : {}),
          ...this.table.stats(),
          ...(this.table.format instanceof ParquetFormat ? { log: logStats(this.table.format) } : {}),
          pool: { size: pool.size, open: pool.open, inUse: pool.inUse, waiting: pool.waiting },
          // Plain JSON copies: the engine's objects are typed interfaces, not JsonValue.
          circuit: circuit === null ? null : (JSON.parse(JSON.stringify(circuit)) as JsonValue),
          retries: { retried: retries.retried, gaveUp: retries.gaveUp },
          extensions: JSON.parse(JSON.stringify(extensions)) as JsonValue,
        },
      };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      await this.searcher.close();
      this.table.refs -= 1;
      if (this.table.refs > 0) return;
      openTables.delete(this.tableKey);
      await this.table.close();
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

  private parquet(method: string): ParquetFormat {
    const format = this.table.format;
    if (format instanceof ParquetFormat) return format;
    throw new LTMError(
      'unsupported',
      `${method} needs format: 'parquet' (segments on a directory or bucket); this store uses the ${format.name} format` +
        (format.name === 'native' ? ', where cleanupExpired() removes expired rows and DuckDB reclaims space itself' : ''),
    );
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
}

function entryFields(row: EntryRow): { value: JsonValue; metadata: JsonObject; createdAt: string; updatedAt: string; expiresAt?: string } {
  return {
    value: JSON.parse(row.value) as JsonValue,
    metadata: parseMetadata(row.metadata),
    createdAt: toIso(row.createdAt),
    updatedAt: toIso(row.updatedAt),
    ...(row.expiresAt === null ? {} : { expiresAt: toIso(row.expiresAt) }),
  };
}

function decodeOffset(position: unknown): number {
  if (typeof position !== 'number' || !Number.isInteger(position) || position < 0) {
    throw new LTMError('validation_error', 'search cursor is malformed; pass nextCursor unchanged');
  }
  return position;
}

/**
 * The Parquet format's log counters for `stats().details.log`: where this process is in the commit log and what
 * its commits met (lost races, `skip` records written, compactions, view updates). Its location is left out:
 * `details.uri` already says it, redacted.
 */
function logStats(format: ParquetFormat): JsonValue {
  const { location: _location, ...stats } = format.stats();
  return JSON.parse(JSON.stringify(stats)) as JsonValue;
}

/** Strips anything that looks like credentials from a URI before it is shown in stats or errors. */
function redactUri(uri: string): string {
  return uri.replace(/\?.*$/, '').replace(/\/\/[^@/]*@/, '//');
}

async function loadFormat(
  options: ResolvedOptions,
  identity: { credentials: CloudCredentialOptions; env: NodeJS.ProcessEnv },
): Promise<StorageFormat<Engine>> {
  if (typeof options.format === 'object') return options.format;
  if (selectFormatName(options.uri, options.format) === 'native') return createNativeFormat();
  // The store reads through prepareRead() (DirectStore), so a process that mostly writes need not mirror
  // every other writer's commits into its views as they arrive.
  return createParquetFormat({ ...parquetClients(identity.credentials, identity.env), deferViewUpdates: true });
}

/**
 * The Parquet format reads through DuckDB with the engine's secrets, and lists, creates and deletes objects
 * through the cloud SDKs: they get the same credentials the engine got, with the same environment fallbacks
 * for what the SDKs would not find themselves (GCS HMAC keys, Azure's connection string; the AWS SDK reads
 * `AWS_*` on its own).
 */
function parquetClients({ s3, gcs, azure }: CloudCredentialOptions, env: NodeJS.ProcessEnv): ParquetFormatOptions {
  const endpoint = (host: string | undefined, ssl: boolean | undefined): string | undefined =>
    host === undefined || /^https?:\/\//.test(host) ? host : `${ssl === false ? 'http' : 'https'}://${host}`;
  const sdk = (c: S3Credentials | GcsCredentials | undefined, fallback: { accessKeyId?: string; secretAccessKey?: string } = {}) =>
    dropUndefined({
      region: c?.region,
      endpoint: endpoint(c?.endpoint, c?.useSsl),
      accessKeyId: c?.accessKeyId ?? fallback.accessKeyId,
      secretAccessKey: c?.secretAccessKey ?? fallback.secretAccessKey,
      sessionToken: c !== undefined && 'sessionToken' in c ? c.sessionToken : undefined,
      ...(c?.urlStyle === undefined ? {} : { forcePathStyle: c.urlStyle === 'path' }),
    });
  return {
    s3: sdk(s3),
    gcs: sdk(gcs, { accessKeyId: env.GCS_ACCESS_KEY_ID, secretAccessKey: env.GCS_SECRET_ACCESS_KEY }),
    azure: dropUndefined({ connectionString: env.AZURE_STORAGE_CONNECTION_STRING, ...azure }),
  };
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
