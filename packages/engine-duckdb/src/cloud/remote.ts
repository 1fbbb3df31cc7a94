import { createHash } from 'node:crypto';
import { LTMError } from '@ltm/core';
import { EngineError, classifyDuckDBError } from '../errors.js';
import { quoteIdentifier } from '../identifiers.js';
import { displayUri, registerSensitiveValues } from '../redaction.js';
import { quoteStringLiteral } from '../sql-literal.js';
import { createSecretStatement, planSecret, type CloudCredentialOptions, type Environment, type SecretSummary } from './credentials.js';
import type { ExtensionManager } from './extensions.js';
import { parseCloudUri, type CloudLocation } from './location.js';

export interface RemoteFile {
  size: number;
  /** Epoch milliseconds, when the service reports it. */
  lastModified: number | null;
}

export interface RemoteAttachment {
  /** The catalog name the database is attached under (already a valid identifier; quote it with `quoteIdentifier`). */
  alias: string;
  location: CloudLocation;
  readOnly: true;
  /** The object as it was when attached (compare with `statRemote()` to notice a new upload). */
  file: RemoteFile;
}

export type RemoteEvent =
  | { type: 'secret'; secret: SecretSummary }
  | { type: 'attach'; uri: string; alias: string; readOnly: true }
  | { type: 'detach'; alias: string };

interface Statements {
  run(sql: string, params?: readonly (string | boolean | number)[]): Promise<void>;
  query<T>(sql: string, params?: readonly (string | boolean | number)[]): Promise<T[]>;
}

/** Secrets live in the DuckDB instance, which engines on one file share: remember them per instance. */
const secretsByInstance = new WeakMap<object, Map<string, string>>();
let attachments = 0;

// read_blob() expands globs; ATTACH does not. A database URI with glob characters would mean two different things.
const GLOB = /[*?[\]{}]/;

/**
 * What the engine does for locations on object storage: loads the extension a URI needs, creates the
 * DuckDB secret scoped to its bucket or container (values bound, never in SQL text), tells DuckDB's
 * httpfs not to retry on its own (the engine's retry policy does, once, observably), checks that the
 * object is there before attaching it (DuckDB's ATTACH reports every failure as "database does not
 * exist"), and attaches `.duckdb` files read-only.
 */
export class RemoteAccess {
  private readonly attached = new Map<string, RemoteAttachment>();
  private readonly secrets = new Map<string, SecretSummary>();
  private readonly releases: (() => void)[] = [];
  private httpConfigured: Promise<void> | undefined;

  constructor(
    private readonly instance: object,
    private readonly credentials: CloudCredentialOptions,
    private readonly env: Environment,
    private readonly httpTimeoutMs: number,
    private readonly extensions: ExtensionManager,
    private readonly statements: Statements,
    private readonly emit: (event: RemoteEvent) => void,
  ) {}

  /** Makes `uri` readable (and, where the service allows, writable) by DuckDB: extension, settings, secret. */
  async prepare(uri: string): Promise<CloudLocation> {
    const location = parseCloudUri(uri);
    if (location === undefined) {
      throw new LTMError('validation_error', `${JSON.stringify(uri)} is not a remote URI (s3://, gs://, az://, http(s)://)`);
    }
    await this.extensions.require(location.extension, `${location.scheme}:// locations`);
    if (location.extension === 'httpfs') await this.configureHttp();
    await this.ensureSecret(location);
    return location;
  }

  /** Size and modification time of the object, or undefined when it does not exist. */
  async stat(uri: string): Promise<RemoteFile | undefined> {
    const location = await this.prepare(uri);
    if (GLOB.test(location.key)) {
      throw new LTMError('validation_error', `${displayUri(uri)}: a database path must not contain glob characters (* ? [ ] { })`);
    }
    let rows: { size: number | bigint; modified: number | null }[];
    try {
      rows = await this.statements.query('SELECT size, epoch_ms(last_modified) AS modified FROM read_blob($1)', [uri]);
    } catch (error) {
      if (error instanceof EngineError && error.origin === 'not_found') return undefined;
      throw error;
    }
    const row = rows[0];
    if (row === undefined) return undefined;
    return { size: Number(row.size), lastModified: row.modified === null ? null : Number(row.modified) };
  }

  /** Attaches the DuckDB database file at `uri` read-only under a fresh alias. */
  async attachReadOnly(uri: string): Promise<RemoteAttachment> {
    const shown = displayUri(uri);
    let file: RemoteFile | undefined;
    try {
      file = await this.stat(uri);
    } catch (error) {
      throw explain(error, `cannot open ${shown}`);
    }
    if (file === undefined) {
      throw new EngineError(
        'connection_error',
        `cannot open ${shown}: there is no such object (check the bucket and path). A .duckdb file on object storage is ` +
          "read-only: upload one, or use format: 'parquet' to create a store there",
        { origin: 'not_found', retryable: false },
      );
    }
    const location = parseCloudUri(uri)!;
    const alias = `ltm_remote_${process.pid}_${++attachments}`;
    try {
      await this.statements.run(`ATTACH ${quoteStringLiteral(uri)} AS ${quoteIdentifier(alias)} (READ_ONLY)`);
    } catch (error) {
      throw explain(classifyDuckDBError(error, { opening: shown }), `cannot attach ${shown}`);
    }
    const attachment: RemoteAttachment = { alias, location, readOnly: true, file };
    this.attached.set(alias, attachment);
    this.emit({ type: 'attach', uri: shown, alias, readOnly: true });
    return attachment;
  }

  async detach(alias: string): Promise<void> {
    if (!this.attached.delete(alias)) return;
    await this.statements.run(`DETACH DATABASE IF EXISTS ${quoteIdentifier(alias)}`);
    this.emit({ type: 'detach', alias });
  }

  report(): { secrets: SecretSummary[]; attached: { alias: string; uri: string; readOnly: true }[] } {
    return {
      secrets: [...this.secrets.values()].map((secret) => ({ ...secret })),
      attached: [...this.attached.values()].map((a) => ({ alias: a.alias, uri: displayUri(a.location.uri), readOnly: a.readOnly })),
    };
  }

  /** Stops scrubbing this engine's secret values (the engine is closing, its instance's secrets go with it). */
  release(): void {
    for (const release of this.releases.splice(0)) release();
  }

  private configureHttp(): Promise<void> {
    // Retries are the engine's (with backoff and jitter, counted by the circuit breaker); httpfs retrying
    // underneath would multiply them. DuckDB's http_timeout is in whole seconds.
    this.httpConfigured ??= (async () => {
      await this.statements.run('SET GLOBAL http_retries = 0');
      await this.statements.run('SET GLOBAL http_timeout = $1', [Math.max(1, Math.ceil(this.httpTimeoutMs / 1000))]);
    })();
    this.httpConfigured.catch(() => (this.httpConfigured = undefined));
    return this.httpConfigured;
  }

  private async ensureSecret(location: CloudLocation): Promise<void> {
    const plan = planSecret(location, this.credentials, this.env);
    if (plan === undefined) return;
    const name = `ltm_${plan.summary.type}_${createHash('sha256').update(location.scope).digest('hex').slice(0, 16)}`;
    let known = secretsByInstance.get(this.instance);
    if (known === undefined) {
      known = new Map();
      secretsByInstance.set(this.instance, known);
    }
    const existing = known.get(name);
    if (existing !== undefined && existing !== plan.fingerprint) {
      throw new LTMError(
        'validation_error',
        `this DuckDB database already holds different credentials for ${location.scope}: open stores with other credentials for the same ` +
          'bucket or container on their own engine',
      );
    }
    if (this.secrets.has(name)) return;
    // Registered per engine (the registry counts), so values stay scrubbed while any engine still uses them.
    this.releases.push(registerSensitiveValues(plan.sensitive));
    if (existing === undefined) {
      const { sql, params } = createSecretStatement(quoteIdentifier(name), plan);
      await this.statements.run(sql, params);
      known.set(name, plan.fingerprint);
    }
    this.secrets.set(name, plan.summary);
    this.emit({ type: 'secret', secret: { ...plan.summary } });
  }
}

/** Prefixes what was being done, keeping the classification (and so the retry and breaker policy). */
function explain(error: unknown, doing: string): LTMError {
  if (!(error instanceof LTMError)) return classifyDuckDBError(error);
  if (error instanceof EngineError) {
    return new EngineError(error.errorType, `${doing}: ${error.message}`, {
      origin: error.origin,
      retryable: error.retryable,
      cause: error,
      ...(error.httpStatus === undefined ? {} : { httpStatus: error.httpStatus }),
    });
  }
  return new LTMError(error.errorType, `${doing}: ${error.message}`, { retryable: error.retryable, cause: error });
}
