import { LTMError, DEFAULT_MAX_VALUE_BYTES } from '@ltm/core';
import type { StorageFormat } from '@ltm/core';
import type { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import type { SearchEngineName } from './search/searcher.js';
import type { Durability } from './store/journal.js';

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
   * When a write is acknowledged: `os` (default) once the journal append reached the operating system,
   * which survives a crash of the process (like SQLite's WAL with synchronous=NORMAL); `fsync` once it
   * is synced to disk, which also survives a power cut, at the cost of a sync per write.
   */
  durability?: Durability;
  /** Bytes of entries kept in the in-process read cache (default 64 MiB). */
  cacheMaxBytes?: number;
  /**
   * How a query is ranked: `bm25` (default), our incremental index, always fresh; `fts-extension`, DuckDB's
   * fts extension itself, rebuilt when the entries changed since its last build (needs the extension).
   */
  searchEngine?: SearchEngineName;
  /**
   * Bytes the `bm25` index may take in process memory when this process makes all writes of the table
   * (default 256 MiB; about 14 bytes per posting). Past it, or with 0, searches run SQL over the index tables.
   */
  searchCacheMaxBytes?: number;
  // Cloud settings, accepted from `settings.ltm` now and used by the cloud support (see the README).
  s3Region?: string;
  s3Endpoint?: string;
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  s3SessionToken?: string;
  s3UrlStyle?: 'path' | 'vhost';
  s3UseSsl?: boolean;
  gcsAccessKeyId?: string;
  gcsSecretAccessKey?: string;
  azureConnectionString?: string;
  azureAccountName?: string;
  azureAccountKey?: string;
  extensionDirectory?: string;
}

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
  'cacheMaxBytes',
  'searchEngine',
  'searchCacheMaxBytes',
  's3Region',
  's3Endpoint',
  's3AccessKeyId',
  's3SecretAccessKey',
  's3SessionToken',
  's3UrlStyle',
  's3UseSsl',
  'gcsAccessKeyId',
  'gcsSecretAccessKey',
  'azureConnectionString',
  'azureAccountName',
  'azureAccountKey',
  'extensionDirectory',
] as const satisfies readonly (keyof DuckDBLTMBackendOptions)[];

export interface ResolvedOptions {
  uri: string;
  tableName: string;
  enableFts: boolean;
  format: FormatName | StorageFormat<DuckDBQueryEngine>;
  maxValueBytes: number;
  readOnly: boolean;
  durability: Durability;
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
  const durability = options.durability ?? 'os';
  if (durability !== 'os' && durability !== 'fsync') {
    throw new LTMError('validation_error', `durability must be os or fsync, got ${JSON.stringify(durability)}`);
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
    cacheMaxBytes,
    searchEngine,
    searchCacheMaxBytes,
    extensionDirectory: options.extensionDirectory ?? (process.env.LTM_EXTENSION_DIR || undefined),
  };
}

/** DESIGN.md "format selection": native for `:memory:` and `.duckdb`/`.db` files, parquet otherwise. */
export function selectFormatName(uri: string, requested: FormatName): 'native' | 'parquet' {
  if (requested !== 'auto') return requested;
  if (uri === ':memory:' || /\.(duckdb|db)$/i.test(uri)) return 'native';
  return 'parquet';
}
