import type { Failure } from '@ltm/core';
import { LTMError } from '@ltm/core';
import { ConnectionLease, PooledConnection, type ConnectionCounters, type EngineConnection } from './connection.js';
import { classifyDuckDBError } from './errors.js';
import { acquireInstance, type InstanceHandle } from './instances.js';
import { ConnectionPool, type PoolStats } from './pool.js';
import type { SqlValue } from './values.js';

export interface DuckDBQueryEngineOptions {
  /** `:memory:` (default: a private in-memory database) or a local file path. */
  path?: string;
  readOnly?: boolean;
  /** Most connections handed out at once (default 4). */
  poolSize?: number;
  /** How long a caller waits for a free connection before `connection_timeout` (default 30 000 ms). */
  acquireTimeoutMs?: number;
  /** Prepared statements cached per connection, by SQL text (default 64; 0 disables the cache). */
  statementCacheSize?: number;
  /** DuckDB configuration (`threads`, `memory_limit`, ...), applied when the instance is created. */
  config?: Record<string, string>;
}

export interface EngineStats {
  path: string;
  readOnly: boolean;
  pool: PoolStats;
  /** Statements run (each `appendRows` counts once). */
  queries: number;
  errors: number;
}

export type ExecuteResult = { success: true; rows: Record<string, unknown>[]; columns: string[] } | Failure;

const DEFAULT_POOL_SIZE = 4;
const DEFAULT_ACQUIRE_TIMEOUT_MS = 30_000;
const DEFAULT_STATEMENT_CACHE_SIZE = 64;

function positiveInteger(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new LTMError('validation_error', `${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

function validateConfig(config: unknown): Record<string, string> {
  if (config === undefined) return {};
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new LTMError('validation_error', 'config must be an object of DuckDB setting names to string values');
  }
  for (const [key, value] of Object.entries(config)) {
    if (typeof value !== 'string') {
      throw new LTMError('validation_error', `config.${key} must be a string (DuckDB takes settings as text), got ${typeof value}`);
    }
    if (key === 'access_mode') {
      throw new LTMError('validation_error', 'set readOnly instead of config.access_mode');
    }
  }
  return config as Record<string, string>;
}

/**
 * The query engine every DuckDB format reads and writes through: one shared DuckDB instance per
 * database, a bounded pool of connections, bound parameters, plain-JS rows and classified errors.
 *
 * `open()` is where extension loading and cloud secrets hook in once formats need them.
 */
export class DuckDBQueryEngine {
  readonly path: string;
  readonly readOnly: boolean;
  private readonly counters: ConnectionCounters = { queries: 0, errors: 0 };
  private readonly pool: ConnectionPool<PooledConnection>;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly handle: InstanceHandle,
    readOnly: boolean,
    poolSize: number,
    acquireTimeoutMs: number,
    statementCacheSize: number,
  ) {
    this.path = handle.path;
    this.readOnly = readOnly;
    this.pool = new ConnectionPool<PooledConnection>(
      poolSize,
      acquireTimeoutMs,
      async () => {
        try {
          return new PooledConnection(await handle.instance.connect(), statementCacheSize, this.counters);
        } catch (error) {
          throw classifyDuckDBError(error);
        }
      },
      (connection) => connection.dispose(),
      () => this.closedError(),
    );
  }

  /** Opens (or joins) the database. Rejects with `LTMError`: `locked`, `validation_error`, `connection_error`, ... */
  static async open(options: DuckDBQueryEngineOptions = {}): Promise<DuckDBQueryEngine> {
    const path = options.path ?? ':memory:';
    if (typeof path !== 'string' || path === '') {
      throw new LTMError('validation_error', "path must be ':memory:' or a local database file path");
    }
    const readOnly = options.readOnly ?? false;
    const poolSize = positiveInteger('poolSize', options.poolSize, DEFAULT_POOL_SIZE, 1);
    const acquireTimeoutMs = positiveInteger('acquireTimeoutMs', options.acquireTimeoutMs, DEFAULT_ACQUIRE_TIMEOUT_MS, 0);
    const statementCacheSize = positiveInteger(
      'statementCacheSize',
      options.statementCacheSize,
      DEFAULT_STATEMENT_CACHE_SIZE,
      0,
    );
    const config = validateConfig(options.config);
    const handle = await acquireInstance({ path, readOnly, config });
    return new DuckDBQueryEngine(handle, readOnly, poolSize, acquireTimeoutMs, statementCacheSize);
  }

  /** Never rejects: `{ success: true, rows, columns }` or a `Failure`. */
  async execute(sql: string, params?: readonly SqlValue[]): Promise<ExecuteResult> {
    try {
      const result = await this.withConnection((connection) => (connection as ConnectionLease).execute(sql, params));
      return { success: true, rows: result.rows, columns: result.columns };
    } catch (error) {
      return classifyDuckDBError(error).toFailure();
    }
  }

  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.withConnection((connection) => connection.query<T>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<void> {
    return this.withConnection((connection) => connection.run(sql, params));
  }

  /** Lends one connection exclusively to `fn`; it goes back to the pool when `fn` settles. */
  async withConnection<T>(fn: (connection: EngineConnection) => Promise<T>): Promise<T> {
    if (this.closing !== undefined) throw this.closedError();
    const connection = await this.pool.acquire();
    const lease = new ConnectionLease(connection);
    try {
      return await fn(lease);
    } catch (error) {
      await connection.rollbackQuietly();
      throw error;
    } finally {
      lease.end();
      this.pool.release(connection);
    }
  }

  /** `BEGIN`; `fn`; `COMMIT` — or `ROLLBACK` and rethrow what failed. */
  transaction<T>(fn: (connection: EngineConnection) => Promise<T>): Promise<T> {
    return this.withConnection(async (connection) => {
      await connection.run('BEGIN TRANSACTION');
      const result = await fn(connection);
      await connection.run('COMMIT');
      return result;
    });
  }

  stats(): EngineStats {
    return {
      path: this.path,
      readOnly: this.readOnly,
      pool: this.pool.stats(),
      queries: this.counters.queries,
      errors: this.counters.errors,
    };
  }

  /**
   * Idempotent. New calls fail with `backend_closed` at once, callers waiting for a connection are
   * failed, calls already running finish; then the connections close and, with the last engine on this
   * database, the DuckDB instance (which checkpoints a file database).
   */
  close(): Promise<void> {
    this.closing ??= this.pool.close().then(() => this.handle.release());
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private closedError(): LTMError {
    return new LTMError('backend_closed', `the DuckDB engine on "${this.path}" is closed: open a new one`);
  }
}
