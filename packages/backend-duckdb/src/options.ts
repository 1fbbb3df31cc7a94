import { LTMError, DEFAULT_MAX_VALUE_BYTES, validateCommonOptions } from '@ltm/core';
import type { StorageFormat } from '@ltm/core';
import type { CloudCredentialOptions, DuckDBQueryEngine, DuckDBQueryEngineOptions } from '@ltm/engine-duckdb';
import type { SearchEngineName } from './search/searcher.js';
import type { Durability as JournalDurability } from './store/journal.js';
import type { Fallback } from './store/outbox.js';
import { DEFAULT_PIPELINE_OPTIONS } from './store/write-pipeline.js';
import type { PipelineMode, PipelineOptions } from './store/write-pipeline.js';

/** `os`/`fsync` for the native format (its journal), `sync`/`batched` for multi-writer formats (Parquet). */
export type Durability = JournalDurability | PipelineMode;
export type { Fallback };

export type FormatName = 'auto' | 'native' | 'parquet';

export interface DuckDBLTMBackendOptions {
  /** `:memory:` (default), a local file path, or a cloud URI (`s3://`, `gs://`, `az://`). */
  uri?: string;
  /** Table name (letters, digits, `_`); default `ltm_store`, the story's table. */
  tableName?: string;
  /** Share an engine (and its connection pool) between backends; the backend does not close it. */
  queryEngine?: DuckDBQueryEngine;
  /** Full-text search with a query (default true). Without it, `search` lists and filters only. */
  enableFts?: boolean;
  /**
   * Storage format: `auto` (default) picks native for `:memory:` and URIs ending in `.duckdb`/`.db`,
   * parquet for anything else; or a `StorageFormat` instance of your own.
   */
  format?: FormatName | StorageFormat<DuckDBQueryEngine>;
  /** JSON size limit of a value or metadata, in bytes (default 16 MiB). */
  maxValueBytes?: number;
  /** Connections in the engine's pool (default 4; ignored with `queryEngine`). */
  poolSize?: number;
  /** How long a call waits for a free connection (default 30 s; ignored with `queryEngine`). */
  acquireTimeoutMs?: number;
  /** Open for reading only. */
  readOnly?: boolean;
  /**
   * When a write is acknowledged. Native format: `os` (default) once the journal append reached the
   * operating system, which survives a crash of the process (like SQLite's WAL with synchronous=NORMAL);
   * `fsync` once it is synced to disk, which also survives a power cut, at the cost of a sync per write.
   * Multi-writer formats (Parquet) acknowledge a write once its commit is durable on the store, either way:
   * `sync` (default) starts a commit as soon as the previous one finished (calls made meanwhile share
   * it); `batched` also waits up to `maxBatchDelayMs` (or until `maxBatchOps` operations wait) to gather
   * more calls into one commit: fewer, larger commits for a little latency. `flush()` commits a waiting
   * batch at once. A value of the other format is a `validation_error`.
   */
  durability?: Durability;
  /** `durability: 'batched'`: the longest a write waits for others to join its commit (default 25 ms). */
  maxBatchDelayMs?: number;
  /** `durability: 'batched'`: a commit starts without waiting once this many operations wait (default 1024). */
  maxBatchOps?: number;
  /**
   * Multi-writer formats, while the store cannot be reached (breaker open, network, timeout, 5xx):
   * `none` (default) fails the write cleanly (`connection_error`/`circuit_open`, retryable, nothing
   * stored); `local-outbox` makes it durable in a local outbox file (fsynced), acknowledges it as
   * `{ success: true, stored: true, queued: true }` and replays it in order once the store answers.
   * `stats().details.outbox` shows the backlog; see the README for what reads see meanwhile.
   */
  fallback?: Fallback;
  /**
   * `fallback: 'local-outbox'`: where outbox files live (a directory per store is made inside). Default
   * `LTM_OUTBOX_DIR`, else `$XDG_CACHE_HOME/ltm/outbox` (`~/.cache/ltm/outbox`); never a temp directory.
   */
  outboxDirectory?: string;
  /** Bytes of entries kept in the in-process read cache (default 64 MiB). */
  cacheMaxBytes?: number;
  /**
   * How a query is ranked: `bm25` (default), our incremental index, always fresh; `fts-extension`, DuckDB's
   * fts extension itself, rebuilt when the entries changed since its last build (needs the extension).
   */
  searchEngine?: SearchEngineName;
  /**
   * Bytes the `bm25` index may take in process memory when this process makes all writes of the table
   * (default 256 MiB; about 20 bytes per posting and 300 per entry plus its metadata: 105 MB for 100k
   * memories of 23 terms each). Past it, or with 0, searches run SQL over the index tables.
   */
  searchCacheMaxBytes?: number;
  // Cloud settings: credentials not given here are read from the environment (AWS_*, GCS_*, AZURE_STORAGE_*);
  // they go to the engine the backend opens (with queryEngine, give them to DuckDBQueryEngine.open instead).
  s3Region?: string;
  s3Endpoint?: string;
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  s3SessionToken?: string;
  s3UrlStyle?: 'path' | 'vhost';
  s3UseSsl?: boolean;
  gcsAccessKeyId?: string;
  gcsSecretAccessKey?: string;
  /** Another endpoint speaking GCS's S3-interop API (an emulator): `http://host:port`. */
  gcsEndpoint?: string;
  /** The region GCS requests are signed for (real GCS ignores it; an S3 emulator may insist on its own). */
  gcsRegion?: string;
  azureConnectionString?: string;
  azureAccountName?: string;
  azureAccountKey?: string;
  extensionDirectory?: string;
  /** Let the engine download a missing DuckDB extension (default false: run `ltm extensions install` instead). */
  allowExtensionInstall?: boolean;
}

/** Cloud settings: they go to the engine the backend opens (and to the Parquet format's SDK clients). */
const CLOUD_KEYS = [
  's3Region',
  's3Endpoint',
  's3AccessKeyId',
  's3SecretAccessKey',
  's3SessionToken',
  's3UrlStyle',
  's3UseSsl',
  'gcsAccessKeyId',
  'gcsSecretAccessKey',
  'gcsEndpoint',
  'gcsRegion',
  'azureConnectionString',
  'azureAccountName',
  'azureAccountKey',
  'allowExtensionInstall',
] as const satisfies readonly (keyof DuckDBLTMBackendOptions)[];

/** Every option `createLTMBackend('duckdb', options)` and `settings.ltm` accept (camelCase). */
export const DUCKDB_OPTION_KEYS = [
  'uri',
  'tableName',
  'queryEngine',
  'enableFts',
  'format',
  'maxValueBytes',
  'poolSize',
  'acquireTimeoutMs',
  'readOnly',
  'durability',
  'maxBatchDelayMs',
  'maxBatchOps',
  'fallback',
  'outboxDirectory',
  'cacheMaxBytes',
  'searchEngine',
  'searchCacheMaxBytes',
  'extensionDirectory',
  ...CLOUD_KEYS,
] as const satisfies readonly (keyof DuckDBLTMBackendOptions)[];

export interface ResolvedOptions {
  uri: string;
  tableName: string;
  enableFts: boolean;
  format: FormatName | StorageFormat<DuckDBQueryEngine>;
  maxValueBytes: number;
  readOnly: boolean;
  /** As given: its default and validity depend on the format (see `writeModeFor`). */
  durability: Durability | undefined;
  maxBatchDelayMs: number | undefined;
  maxBatchOps: number | undefined;
  fallback: Fallback;
  outboxDirectory: string | undefined;
  cacheMaxBytes: number;
  searchEngine: SearchEngineName;
  searchCacheMaxBytes: number;
  extensionDirectory: string | undefined;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CLOUD_URI = /^(s3|gs|gcs|az|azure|abfss|r2|https?):\/\//i;

export function isCloudUri(uri: string): boolean {
  return CLOUD_URI.test(uri);
}

export function resolveOptions(options: DuckDBLTMBackendOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new LTMError('validation_error', 'DuckDBLTMBackend options must be an object');
  }
  const known = new Set<string>(DUCKDB_OPTION_KEYS);
  const unknown = Object.keys(options).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new LTMError('validation_error', `unknown option(s) ${unknown.join(', ')}; valid options: ${DUCKDB_OPTION_KEYS.join(', ')}`);
  }
  const uri = options.uri ?? ':memory:';
  if (typeof uri !== 'string' || uri.trim() === '') throw new LTMError('validation_error', 'uri must be a non-empty string');
  const tableName = options.tableName ?? 'ltm_store';
  if (typeof tableName !== 'string' || !IDENTIFIER.test(tableName)) {
    throw new LTMError('validation_error', `tableName must be letters, digits and _ (not starting with a digit), got ${JSON.stringify(tableName)}`);
  }
  const format = options.format ?? 'auto';
  if (typeof format === 'string' && !['auto', 'native', 'parquet'].includes(format)) {
    throw new LTMError('validation_error', `format must be auto, native or parquet, got ${JSON.stringify(format)}`);
  }
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  if (!Number.isInteger(maxValueBytes) || maxValueBytes < 1) {
    throw new LTMError('validation_error', `maxValueBytes must be a positive integer, got ${String(maxValueBytes)}`);
  }
  for (const flag of ['enableFts', 'readOnly'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      throw new LTMError('validation_error', `${flag} must be true or false`);
    }
  }
  const durability = options.durability;
  if (durability !== undefined && !['os', 'fsync', 'sync', 'batched'].includes(durability)) {
    throw new LTMError('validation_error', `durability must be os or fsync (native format), sync or batched (parquet), got ${JSON.stringify(durability)}`);
  }
  if (options.maxBatchDelayMs !== undefined && (!Number.isSafeInteger(options.maxBatchDelayMs) || options.maxBatchDelayMs < 0)) {
    throw new LTMError('validation_error', `maxBatchDelayMs must be an integer >= 0, got ${String(options.maxBatchDelayMs)}`);
  }
  if (options.maxBatchOps !== undefined && (!Number.isSafeInteger(options.maxBatchOps) || options.maxBatchOps < 1)) {
    throw new LTMError('validation_error', `maxBatchOps must be a positive integer, got ${String(options.maxBatchOps)}`);
  }
  const fallback = options.fallback ?? 'none';
  if (fallback !== 'none' && fallback !== 'local-outbox') {
    throw new LTMError('validation_error', `fallback must be none or local-outbox, got ${JSON.stringify(fallback)}`);
  }
  if (options.outboxDirectory !== undefined) {
    if (typeof options.outboxDirectory !== 'string' || options.outboxDirectory === '') throw new LTMError('validation_error', 'outboxDirectory must be a non-empty path');
    if (fallback !== 'local-outbox') throw new LTMError('validation_error', "outboxDirectory applies only with fallback: 'local-outbox'");
  }
  const cacheMaxBytes = options.cacheMaxBytes ?? 64 * 1024 * 1024;
  if (!Number.isInteger(cacheMaxBytes) || cacheMaxBytes < 0) {
    throw new LTMError('validation_error', `cacheMaxBytes must be a non-negative integer, got ${String(cacheMaxBytes)}`);
  }
  const searchEngine = options.searchEngine ?? 'bm25';
  if (searchEngine !== 'bm25' && searchEngine !== 'fts-extension') {
    throw new LTMError('validation_error', `searchEngine must be bm25 or fts-extension, got ${JSON.stringify(searchEngine)}`);
  }
  const searchCacheMaxBytes = options.searchCacheMaxBytes ?? 256 * 1024 * 1024;
  if (!Number.isInteger(searchCacheMaxBytes) || searchCacheMaxBytes < 0) {
    throw new LTMError('validation_error', `searchCacheMaxBytes must be a non-negative integer, got ${String(searchCacheMaxBytes)}`);
  }
  if (options.extensionDirectory !== undefined && (typeof options.extensionDirectory !== 'string' || options.extensionDirectory === '')) {
    throw new LTMError('validation_error', 'extensionDirectory must be a non-empty path');
  }
  return {
    uri,
    tableName,
    enableFts: options.enableFts ?? true,
    format,
    maxValueBytes,
    readOnly: options.readOnly ?? false,
    durability,
    maxBatchDelayMs: options.maxBatchDelayMs,
    maxBatchOps: options.maxBatchOps,
    fallback,
    outboxDirectory: options.outboxDirectory,
    cacheMaxBytes,
    searchEngine,
    searchCacheMaxBytes,
    extensionDirectory: options.extensionDirectory ?? (process.env.LTM_EXTENSION_DIR || undefined),
  };
}

/** How writes are acknowledged, for a format that does (multi-writer) or does not take many writers. */
export type WriteMode =
  | { multiWriter: false; durability: JournalDurability }
  | { multiWriter: true; durability: PipelineMode; pipeline: PipelineOptions; fallback: Fallback };

/**
 * Resolves `durability` (and the options that go with it) for the chosen format: `os`/`fsync` for the
 * native format's journal, `sync`/`batched` for multi-writer formats. Anything that does not apply to the
 * format is a `validation_error` naming what does, rather than a setting that silently does nothing.
 */
export function writeModeFor(options: ResolvedOptions, multiWriter: boolean, formatName: string): WriteMode {
  const valid: Durability[] = multiWriter ? ['sync', 'batched'] : ['os', 'fsync'];
  const durability = options.durability ?? (multiWriter ? 'sync' : 'os');
  if (!valid.includes(durability)) {
    throw new LTMError(
      'validation_error',
      `durability ${JSON.stringify(durability)} does not apply to the ${formatName} format: use ${valid.join(' or ')} (default ${multiWriter ? 'sync' : 'os'})`,
    );
  }
  const batchOptions = (['maxBatchDelayMs', 'maxBatchOps'] as const).filter((key) => options[key] !== undefined);
  if (batchOptions.length > 0 && durability !== 'batched') {
    throw new LTMError('validation_error', `${batchOptions.join(' and ')} apply only with durability: 'batched' (a multi-writer format such as parquet)`);
  }
  if (!multiWriter) {
    if (options.fallback !== 'none') {
      throw new LTMError(
        'validation_error',
        `fallback ${JSON.stringify(options.fallback)} applies to multi-writer formats (parquet): the ${formatName} format does not write through a network`,
      );
    }
    return { multiWriter, durability: durability as JournalDurability };
  }
  if (options.fallback !== 'none' && options.readOnly) {
    throw new LTMError('validation_error', `fallback ${JSON.stringify(options.fallback)} queues writes: it cannot be combined with readOnly`);
  }
  return {
    multiWriter,
    durability: durability as PipelineMode,
    pipeline: {
      mode: durability as PipelineMode,
      maxBatchDelayMs: options.maxBatchDelayMs ?? DEFAULT_PIPELINE_OPTIONS.maxBatchDelayMs,
      maxBatchOps: options.maxBatchOps ?? DEFAULT_PIPELINE_OPTIONS.maxBatchOps,
    },
    fallback: options.fallback,
  };
}

/** DESIGN.md "format selection": native for `:memory:` and `.duckdb`/`.db` files, parquet otherwise. */
export function selectFormatName(uri: string, requested: FormatName): 'native' | 'parquet' {
  if (requested !== 'auto') return requested;
  if (uri === ':memory:' || /\.(duckdb|db)$/i.test(uri)) return 'native';
  return 'parquet';
}



type CloudEngineOptions = Pick<DuckDBQueryEngineOptions, 'credentials' | 'allowExtensionInstall'>;

/**
 * The cloud settings of `options` as engine options (credentials, extension install), for the engine the
 * backend opens. A shared `queryEngine` already has its own: giving them here too is a `validation_error`
 * rather than settings that silently do nothing.
 */
export function cloudEngineOptions(options: DuckDBLTMBackendOptions, sharedEngine: boolean): CloudEngineOptions {
  const given = CLOUD_KEYS.filter((key) => options[key] !== undefined);
  if (given.length === 0) return {};
  if (sharedEngine) {
    throw new LTMError(
      'validation_error',
      `${given.join(', ')} cannot be combined with queryEngine: pass credentials (and allowExtensionInstall) to DuckDBQueryEngine.open()`,
    );
  }
  validateCommonOptions(Object.fromEntries(given.map((key) => [key, options[key]])));
  for (const key of ['gcsEndpoint', 'gcsRegion'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) throw new LTMError('validation_error', `${key} must be a non-empty string`);
  }
  if (options.allowExtensionInstall !== undefined && typeof options.allowExtensionInstall !== 'boolean') {
    throw new LTMError('validation_error', 'allowExtensionInstall must be true or false');
  }
  const pick = <T extends object>(entries: [keyof T, unknown][]): T | undefined => {
    const present = entries.filter(([, value]) => value !== undefined);
    return present.length === 0 ? undefined : (Object.fromEntries(present) as T);
  };
  const credentials: CloudCredentialOptions = {};
  const s3 = pick<NonNullable<CloudCredentialOptions['s3']>>([
    ['accessKeyId', options.s3AccessKeyId],
    ['secretAccessKey', options.s3SecretAccessKey],
    ['sessionToken', options.s3SessionToken],
    ['region', options.s3Region],
    ['endpoint', options.s3Endpoint],
    ['urlStyle', options.s3UrlStyle],
    ['useSsl', options.s3UseSsl],
  ]);
  const gcs = pick<NonNullable<CloudCredentialOptions['gcs']>>([
    ['accessKeyId', options.gcsAccessKeyId],
    ['secretAccessKey', options.gcsSecretAccessKey],
    ['endpoint', options.gcsEndpoint],
    ['region', options.gcsRegion],
  ]);
  const azure = pick<NonNullable<CloudCredentialOptions['azure']>>([
    ['connectionString', options.azureConnectionString],
    ['accountName', options.azureAccountName],
    ['accountKey', options.azureAccountKey],
  ]);
  if (s3) credentials.s3 = s3;
  if (gcs) credentials.gcs = gcs;
  if (azure) credentials.azure = azure;
  return {
    ...(s3 || gcs || azure ? { credentials } : {}),
    ...(options.allowExtensionInstall === undefined ? {} : { allowExtensionInstall: options.allowExtensionInstall }),
  };
}
