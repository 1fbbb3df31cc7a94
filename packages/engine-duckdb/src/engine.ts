import type { Failure } from '@ltm/core';
import { LTMError } from '@ltm/core';
import { ConnectionLease, PooledConnection, type ConnectionCounters, type EngineConnection } from './connection.js';
import type { CloudCredentialOptions, Environment, SecretSummary } from './cloud/credentials.js';
import { validateCloudCredentials } from './cloud/credentials.js';
import type { ExtensionName } from './cloud/extension-directory.js';
import { ExtensionManager, type ExtensionEvent, type ExtensionReport } from './cloud/extensions.js';
import type { CloudLocation } from './cloud/location.js';
import { RemoteAccess, type RemoteAttachment, type RemoteEvent, type RemoteFile } from './cloud/remote.js';
import { classifyDuckDBError } from './errors.js';
import { acquireInstance, type InstanceHandle } from './instances.js';
import { positiveInteger } from './options.js';
import { ConnectionPool, type PoolStats } from './pool.js';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitStats, type CircuitTransition } from './resilience/circuit-breaker.js';
import { RetryPolicy, type RetryEvent, type RetryOptions } from './resilience/retry.js';
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

  // ---- remote storage ----
  /** Cloud credentials; what is not given here is read from the environment (see `planSecret`). */
  credentials?: CloudCredentialOptions;
  /** Where environment credentials are read from (default `process.env`). */
  env?: Environment;
  /**
   * DuckDB extension directory; default `config.extension_directory` if given, else `defaultExtensionDirectory()`
   * (`$LTM_EXTENSION_DIR`, else a per-user cache).
   */
  extensionDirectory?: string;
  /** Let the engine download a missing extension from DuckDB's repository (default false). */
  allowExtensionInstall?: boolean;
  /** Extension repository (a mirror) for those downloads; default DuckDB's own. */
  extensionRepository?: string;
  /** Bound on one such download (default 30 000 ms); it runs in a child process killed after it. */
  extensionInstallTimeoutMs?: number;
  /** Bound on one HTTP request of DuckDB's httpfs (S3, GCS, HTTP), in whole seconds (default 30 000 ms). */
  httpTimeoutMs?: number;

  // ---- resilience ----
  /** Retries of transient failures for single statements (`query`, `run`, `execute`); `false` turns them off. */
  retry?: RetryOptions | false;
  /** The circuit breaker every call passes through; `false` turns it off. */
  circuitBreaker?: CircuitBreakerOptions | false;
  /** Receives every event (also available through `on()`). */
  onEvent?: (event: EngineEvent) => void;
}

/** What the engine reports as it works; no event ever carries a credential. */
export type EngineEvent = ({ type: 'circuit' } & CircuitTransition) | ({ type: 'retry' } & RetryEvent) | ExtensionEvent | RemoteEvent;

export interface EngineStats {
  path: string;
  readOnly: boolean;
  pool: PoolStats;
  /** Statements run (each `appendRows` counts once). */
  queries: number;
  errors: number;
  /** Null when the circuit breaker is turned off. */
  circuit: CircuitStats | null;
  retries: { retried: number; gaveUp: number };
  extensions: ExtensionReport;
  remote: { secrets: SecretSummary[]; attached: { alias: string; uri: string; readOnly: true }[] };
}

export type ExecuteResult = { success: true; rows: Record<string, unknown>[]; columns: string[] } | Failure;

const DEFAULT_POOL_SIZE = 4;
const DEFAULT_ACQUIRE_TIMEOUT_MS = 30_000;
const DEFAULT_STATEMENT_CACHE_SIZE = 64;

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
 * Extensions are loaded explicitly by the extension manager, with the fix named when one is missing;
 * DuckDB's own auto-install would instead try the network in the middle of a query.
 */
const EXTENSION_DEFAULTS: Readonly<Record<string, string>> = {
  autoinstall_known_extensions: 'false',
  autoload_known_extensions: 'false',
};

function optionalFlag(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new LTMError('validation_error', `${name} must be true or false`);
  return value;
}

function optionalText(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new LTMError('validation_error', `${name} must be a non-empty string`);
  return value;
}

interface Resilience {
  retry: RetryPolicy | undefined;
  breaker: CircuitBreaker | undefined;
}

interface RemoteSettings {
  credentials: CloudCredentialOptions;
  env: Environment;
  httpTimeoutMs: number;
  extensions: { directory?: string; allowInstall: boolean; repository?: string; installTimeoutMs: number };
}

/**
 * The query engine every DuckDB format reads and writes through: one shared DuckDB instance per
 * database, a bounded pool of connections, bound parameters, plain-JS rows and classified errors; a
 * circuit breaker and retries for storage that can fail; extensions and scoped secrets for object storage.
 */
export class DuckDBQueryEngine {
  readonly path: string;
  readonly readOnly: boolean;
  private readonly counters: ConnectionCounters = { queries: 0, errors: 0 };
  private readonly retryCounters = { retried: 0, gaveUp: 0 };
  private readonly pool: ConnectionPool<PooledConnection>;
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly extensionManager: ExtensionManager;
  private readonly remote: RemoteAccess;
  private readonly identity: { credentials: CloudCredentialOptions; env: Environment };
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly handle: InstanceHandle,
    readOnly: boolean,
    poolSize: number,
    acquireTimeoutMs: number,
    statementCacheSize: number,
    private readonly resilience: Resilience,
    settings: RemoteSettings,
    onEvent: ((event: EngineEvent) => void) | undefined,
  ) {
    this.path = handle.path;
    this.readOnly = readOnly;
    if (onEvent !== undefined) this.listeners.add(onEvent);
    resilience.breaker?.onTransition((transition) => this.emit({ type: 'circuit', ...transition }));
    const emit = (event: EngineEvent) => this.emit(event);
    this.extensionManager = new ExtensionManager(
      {
        allowInstall: settings.extensions.allowInstall,
        installTimeoutMs: settings.extensions.installTimeoutMs,
        ...(settings.extensions.directory === undefined ? {} : { directory: settings.extensions.directory }),
        ...(settings.extensions.repository === undefined ? {} : { repository: settings.extensions.repository }),
      },
      (sql, params) => this.run(sql, params),
      emit,
    );
    this.identity = { credentials: settings.credentials, env: settings.env };
    this.remote = new RemoteAccess(
      handle.instance,
      settings.credentials,
      settings.env,
      settings.httpTimeoutMs,
      this.extensionManager,
      { run: (sql, params) => this.run(sql, params), query: (sql, params) => this.query(sql, params) },
      emit,
    );
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
    const config = { ...EXTENSION_DEFAULTS, ...validateConfig(options.config) };
    const allowInstall = optionalFlag('allowExtensionInstall', options.allowExtensionInstall);
    // A directory given as DuckDB configuration is the one to load from, unless extensionDirectory says otherwise.
    const directory = optionalText('extensionDirectory', options.extensionDirectory) ?? config.extension_directory;
    const repository = optionalText('extensionRepository', options.extensionRepository);
    const settings: RemoteSettings = {
      credentials: validateCloudCredentials(options.credentials),
      env: options.env ?? process.env,
      httpTimeoutMs: positiveInteger('httpTimeoutMs', options.httpTimeoutMs, 30_000, 1),
      extensions: {
        allowInstall,
        installTimeoutMs: positiveInteger('extensionInstallTimeoutMs', options.extensionInstallTimeoutMs, 30_000, 1),
        ...(directory === undefined ? {} : { directory }),
        ...(repository === undefined ? {} : { repository }),
      },
    };
    const resilience: Resilience = {
      retry: options.retry === false ? undefined : new RetryPolicy(options.retry ?? {}),
      breaker: options.circuitBreaker === false ? undefined : new CircuitBreaker(options.circuitBreaker ?? {}),
    };
    if (options.onEvent !== undefined && typeof options.onEvent !== 'function') {
      throw new LTMError('validation_error', 'onEvent must be a function');
    }
    const handle = await acquireInstance({ path, readOnly, config });
    return new DuckDBQueryEngine(handle, readOnly, poolSize, acquireTimeoutMs, statementCacheSize, resilience, settings, options.onEvent);
  }

  /** Never rejects: `{ success: true, rows, columns }` or a `Failure`. Retried like `query`. */
  async execute(sql: string, params?: readonly SqlValue[]): Promise<ExecuteResult> {
    try {
      const result = await this.statement((connection) => connection.execute(sql, params));
      return { success: true, rows: result.rows, columns: result.columns };
    } catch (error) {
      return classifyDuckDBError(error).toFailure();
    }
  }

  /**
   * One statement on a pooled connection. A transient failure (network, timeout, HTTP 5xx, throttling) is
   * retried with backoff; every attempt passes the circuit breaker. A single statement that failed left
   * nothing behind (DuckDB rolled it back), so running it again is safe.
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.statement(async (connection) => (await connection.execute(sql, params)).rows as T[]);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<void> {
    return this.statement((connection) => connection.run(sql, params));
  }

  /**
   * Lends one connection exclusively to `fn`; it goes back to the pool when `fn` settles. Passes the
   * circuit breaker (failing fast with `circuit_open` while it is open) but is never retried: `fn` may
   * have done things that must not happen twice.
   */
  withConnection<T>(fn: (connection: EngineConnection) => Promise<T>): Promise<T> {
    return this.guarded(() => this.borrow(fn));
  }

  /**
   * Runs `fn` (for example an object-store SDK call a format makes itself) under this engine's circuit
   * breaker and, with `retry` (default true), its retry policy. Only errors classified as infrastructure
   * failures (an `EngineError` with origin `network`, `timeout` or `server`) count and are retried.
   */
  resilient<T>(fn: () => Promise<T>, options: { retry?: boolean } = {}): Promise<T> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    return options.retry === false ? this.guarded(fn) : this.retried(() => this.guarded(fn));
  }

  /** Subscribes to the engine's events; returns a function that unsubscribes. */
  on(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Loads a DuckDB extension (once) from the extension directory; `dependency_missing` names the fix. */
  loadExtension(name: ExtensionName): Promise<void> {
    return this.extensionManager.require(name, `the ${name} extension`);
  }

  /**
   * The cloud credentials this engine was opened with, and the environment it reads the missing ones from:
   * for clients that must reach the same stores as this engine with the same identity (a format's
   * object-store SDK, which lists, creates and deletes what DuckDB reads). Hand it to such a client only;
   * never log or print it.
   */
  cloudIdentity(): { credentials: CloudCredentialOptions; env: Environment } {
    return this.identity;
  }

  /**
   * Makes a remote location usable by DuckDB statements: loads httpfs (`s3://`, `gs://`, `http(s)://`) or
   * azure (`az://`), and creates the secret scoped to its bucket or container from the engine's credentials.
   * Formats that read and write objects themselves (`read_parquet`, `COPY ... TO`) call this first.
   */
  prepareRemote(uri: string): Promise<CloudLocation> {
    return this.remote.prepare(uri);
  }

  /** Size and modification time of a remote object, or undefined when it does not exist. */
  statRemote(uri: string): Promise<RemoteFile | undefined> {
    return this.remote.stat(uri);
  }

  /**
   * Attaches the DuckDB database file at `uri` (`s3://`, `gs://`, `az://`, `https://`) read-only under a
   * fresh alias: DuckDB reads it in place, block by block, and cannot write database files on object
   * storage. The object is checked first, so a missing object, wrong credentials or an unreachable
   * service are reported as such (DuckDB's ATTACH calls them all "database does not exist").
   */
  attachRemote(uri: string): Promise<RemoteAttachment> {
    return this.remote.attachReadOnly(uri);
  }

  /** Detaches what `attachRemote` attached. */
  detachRemote(alias: string): Promise<void> {
    return this.remote.detach(alias);
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
      circuit: this.resilience.breaker?.stats() ?? null,
      retries: { ...this.retryCounters },
      extensions: this.extensionManager.report(),
      remote: this.remote.report(),
    };
  }

  /**
   * Idempotent. New calls fail with `backend_closed` at once, callers waiting for a connection are
   * failed, calls already running finish; then the connections close and, with the last engine on this
   * database, the DuckDB instance (which checkpoints a file database).
   */
  close(): Promise<void> {
    this.closing ??= this.pool.close().then(() => {
      this.handle.release();
      this.remote.release();
      this.listeners.clear();
    });
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private statement<T>(work: (connection: ConnectionLease) => Promise<T>): Promise<T> {
    return this.retried(() => this.guarded(() => this.borrow((connection) => work(connection as ConnectionLease))));
  }

  private guarded<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    const breaker = this.resilience.breaker;
    return breaker === undefined ? fn() : breaker.execute(fn);
  }

  private async retried<T>(fn: () => Promise<T>): Promise<T> {
    const retry = this.resilience.retry;
    if (retry === undefined) return fn();
    let retried = false;
    try {
      return await retry.run(fn, (event) => {
        retried = true;
        this.retryCounters.retried++;
        this.emit({ type: 'retry', ...event });
      });
    } catch (error) {
      if (retried) this.retryCounters.gaveUp++;
      throw error;
    }
  }

  private emit(event: EngineEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's bug must not break the call that reported the event.
      }
    }
  }

  private async borrow<T>(fn: (connection: EngineConnection) => Promise<T>): Promise<T> {
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

  private closedError(): LTMError {
    return new LTMError('backend_closed', `the DuckDB engine on "${this.path}" is closed: open a new one`);
  }
}
