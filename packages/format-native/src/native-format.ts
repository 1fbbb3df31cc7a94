import {
  LTMError,
  type CommitBatch,
  type EntryRow,
  type FormatCapabilities,
  type FormatContext,
  type RelationName,
  type StorageFormat,
} from '@ltm/core';
import {
  displayUri,
  isRemoteUri,
  quoteIdentifier,
  resolveDatabasePath,
  type DuckDBQueryEngine,
  type EngineConnection,
  type RemoteFile,
  type SqlValue,
} from '@ltm/engine-duckdb';

/** Recorded in `ltm_format`; a store written by a newer version is refused rather than misread. */
export const NATIVE_FORMAT_VERSION = 1;

const FORMAT_NAME = 'native';

/**
 * Deletes by key bind IN lists of up to 32 keys: DuckDB answers a short IN list from the ART indexes
 * (key lookups), while a join against a key table scans the whole table (measured: 64 keys from 2 M
 * postings, 2.6 ms as an IN list, 61 ms as a join). A list is padded (repeating its last key) to one of
 * these lengths, so each table has three statement shapes, prepared once per connection; padding a
 * single key to 32 would cost ~0.6 ms per table.
 */
const DELETE_LIST_SIZES = [1, 8, 32] as const;
const DELETE_CHUNK = 32;
/** Above this many keys, one hash join with the bound key list beats that many index lookups. */
const JOINED_DELETE_KEYS = 256;

/** Puts per commit up to which entries go in one parameterized INSERT rather than through staging. */
const INLINE_PUTS = 8;

// The staging table is per connection (TEMP), shared by every store on the engine: appended entries
// land here, and SQL moves them into the store, where the JSON cast validates every value.
const STAGE_ENTRIES = 'ltm_native_stage_entries';
const STAGING_DDL = `CREATE TEMP TABLE IF NOT EXISTS ${STAGE_ENTRIES}(key VARCHAR, value VARCHAR, metadata VARCHAR, created_at BIGINT, updated_at BIGINT, expires_at BIGINT)`;
const stagedConnections = new WeakSet<object>();

/** Epoch milliseconds (a bound BIGINT or a staged column) → TIMESTAMP holding that UTC instant. */
const timestamp = (sql: string) => `make_timestamp(${sql} * 1000)`;

/** Table names: `*Name` plain (for the appender), the others quoted (and catalog-qualified when remote) for SQL. */
interface Tables {
  entries: string;
  terms: string;
  docs: string;
  termsName: string;
  docsName: string;
}

/** What exists in the database for this store (read-only opens cannot create what is missing). */
interface Layout {
  entries: boolean;
  expiresAt: boolean;
  terms: boolean;
  docs: boolean;
}

const EMPTY_RELATIONS: Record<RelationName, string> = {
  entries:
    '(SELECT NULL::VARCHAR AS key, NULL::JSON AS value, NULL::JSON AS metadata, NULL::TIMESTAMP AS created_at, ' +
    'NULL::TIMESTAMP AS updated_at, NULL::TIMESTAMP AS expires_at WHERE false)',
  terms: '(SELECT NULL::VARCHAR AS key, NULL::TINYINT AS field, NULL::VARCHAR AS term, NULL::INTEGER AS tf WHERE false)',
  docs: '(SELECT NULL::VARCHAR AS key, NULL::INTEGER AS length, NULL::INTEGER AS extra_length WHERE false)',
};

/**
 * The store as tables in a DuckDB database file (or `:memory:`): the story's `"<tableName>"` (plus
 * `expires_at`), its search postings `"<tableName>__terms"` and lengths `"<tableName>__docs"`, and the
 * `ltm_format` version record. Any DuckDB client can read the file once no writer holds it.
 */
export class NativeFormat implements StorageFormat<DuckDBQueryEngine> {
  readonly name = FORMAT_NAME;
  private context: FormatContext<DuckDBQueryEngine> | undefined;
  private tables: Tables | undefined;
  private relations: Record<RelationName, string> | undefined;
  private writable = false;
  private persistent = false;
  /** A database file on object storage, attached read-only under `alias`. */
  private remote: { alias: string; file: RemoteFile } | undefined;
  private closed = false;
  private opening = false;
  /** Commits and expiry sweeps run one at a time, so they land in call order and never conflict. */
  private writes: Promise<unknown> = Promise.resolve();

  get capabilities(): FormatCapabilities {
    return { writable: this.writable, multiWriter: false, persistent: this.persistent, compaction: false };
  }

  async open(context: FormatContext<DuckDBQueryEngine>): Promise<void> {
    if (this.context !== undefined || this.opening) {
      throw new LTMError('validation_error', 'this NativeFormat is already open: create a new one per store');
    }
    this.opening = true;
    try {
      await this.openTables(context);
    } finally {
      this.opening = false;
    }
  }

  private async openTables(context: FormatContext<DuckDBQueryEngine>): Promise<void> {
    const { engine, uri, tableName } = context;
    if (isRemoteUri(uri)) {
      await this.openRemote(context);
      return;
    }
    if (resolveDatabasePath(uri) !== engine.path) {
      throw new LTMError(
        'validation_error',
        `the native format stores data in the engine's own database: open the engine on "${uri}" (it is open on "${engine.path}")`,
      );
    }
    const tables = tableNames(tableName, null);
    const readOnly = context.readOnly || engine.readOnly;
    if (readOnly) {
      this.relations = await readOnlyRelations(engine, tableName, tables, null);
    } else {
      await engine.transaction((connection) => createOrUpgrade(connection, tableName, tables));
      this.relations = { entries: tables.entries, terms: tables.terms, docs: tables.docs };
    }
    this.context = context;
    this.tables = tables;
    this.writable = !readOnly;
    this.persistent = uri !== ':memory:';
  }

  /**
   * DuckDB reads a database file on object storage in place (block by block, through httpfs or azure) but
   * cannot write one: the store opens read-only whatever `readOnly` says, and writes answer `read_only`.
   */
  private async openRemote(context: FormatContext<DuckDBQueryEngine>): Promise<void> {
    await this.attachVersion(context);
    this.context = context;
    this.writable = false;
    this.persistent = true;
  }
  /** Attaches the current version of the remote file and points the relations at it. */
  private async attachVersion({ engine, uri, tableName }: FormatContext<DuckDBQueryEngine>): Promise<void> {
    const attachment = await engine.attachRemote(uri);
    try {
      const tables = tableNames(tableName, attachment.alias);
      this.relations = await readOnlyRelations(engine, tableName, tables, attachment.alias);
      this.tables = tables;
    } catch (error) {
      await engine.detachRemote(attachment.alias).catch(() => undefined);
      throw error;
    }
    this.remote = { alias: attachment.alias, file: attachment.file };
  }

  relation(name: RelationName): string {
    const relation = this.opened().relations[name];
    if (relation === undefined) throw new LTMError('validation_error', `unknown relation ${JSON.stringify(name)}`);
    return relation;
  }

  commit(batch: CommitBatch): Promise<void> {
    return this.write(async (engine, tables) => {
      const keys = [...batch.puts.map((put) => put.key), ...batch.deletes];
      if (keys.length === 0) return;
      for (const put of batch.puts) checkTimestamps(put);
      await engine.transaction(async (connection) => {
        await removeKeys(connection, tables, keys);
        if (batch.puts.length > 0) await insertEntries(connection, tables, batch.puts);
        if (batch.terms !== undefined && batch.terms.length > 0) {
          await connection.appendRows(
            tables.termsName,
            batch.terms.map((row) => [row.key, row.field, row.term, row.tf]),
          );
        }
        if (batch.docs !== undefined && batch.docs.length > 0) {
          await connection.appendRows(
            tables.docsName,
            batch.docs.map((row) => [row.key, row.length, row.extraLength]),
          );
        }
      });
    });
  }

  /**
   * A local file has one writer (this process): there is never anything new to see. A file on object
   * storage may be replaced by a new upload: when its size or modification time changed, the new
   * version is attached and the old one detached, and this resolves `true`.
   */
  async refresh(): Promise<boolean> {
    const { context } = this.opened();
    const remote = this.remote;
    if (remote === undefined) return false;
    const { engine, uri } = context;
    const now = await engine.statRemote(uri);
    if (now === undefined) {
      throw new LTMError('connection_error', `${displayUri(uri)} no longer exists: it was deleted while the store was open`, { retryable: false });
    }
    if (now.size === remote.file.size && now.lastModified === remote.file.lastModified) return false;
    await this.attachVersion(context);
    // A statement still reading the old version keeps it until it finishes; detaching is best effort.
    await engine.detachRemote(remote.alias).catch(() => undefined);
    return true;
  }

  removeExpired(now: number): Promise<number> {
    return this.write(async (engine, tables) => {
      if (!Number.isSafeInteger(now)) {
        throw new LTMError('validation_error', `removeExpired(now): now must be epoch milliseconds, got ${String(now)}`);
      }
      // Expired at `now` means expires_at <= now: an entry is live while now < expires_at.
      const isExpired = `expires_at <= ${timestamp('$1')}`;
      return engine.transaction(async (connection) => {
        for (const table of [tables.terms, tables.docs]) {
          await connection.run(`DELETE FROM ${table} WHERE key IN (SELECT key FROM ${tables.entries} WHERE ${isExpired})`, [now]);
        }
        // DuckDB answers a DELETE with its row count.
        const [row] = await connection.query<{ Count: number }>(`DELETE FROM ${tables.entries} WHERE ${isExpired}`, [now]);
        return row?.Count ?? 0;
      });
    });
  }

  /**
   * Idempotent. Waits for running writes, then checkpoints so the file holds everything without its
   * write-ahead log (any DuckDB client opening it sees the data). The engine stays open: its owner closes it.
   */
  async close(): Promise<void> {
    if (this.closed || this.context === undefined) {
      this.closed = true;
      return;
    }
    this.closed = true;
    await this.writes;
    if (this.remote !== undefined) await this.context.engine.detachRemote(this.remote.alias).catch(() => undefined);
    if (this.writable && this.persistent) await this.context.engine.run('CHECKPOINT');
  }

  private opened(): { context: FormatContext<DuckDBQueryEngine>; tables: Tables; relations: Record<RelationName, string> } {
    if (this.closed) throw new LTMError('backend_closed', 'the native format is closed: open a new one');
    const { context, tables, relations } = this;
    if (context === undefined || tables === undefined || relations === undefined) {
      throw new LTMError('validation_error', 'the native format is not open yet: call open(context) first');
    }
    return { context, tables, relations };
  }

  private write<T>(work: (engine: DuckDBQueryEngine, tables: Tables) => Promise<T>): Promise<T> {
    const run = async () => {
      const { context, tables } = this.opened();
      if (!this.writable) {
        throw new LTMError(
          'read_only',
          this.remote !== undefined
            ? `the store "${context.tableName}" in ${displayUri(context.uri)} is read-only: DuckDB cannot write a database file on ` +
                "object storage. To write there, use format: 'parquet' with a directory URI (e.g. s3://bucket/memory/)"
            : `the store "${context.tableName}" in "${context.uri}" is open read-only: open it without readOnly to write`,
        );
      }
      return work(context.engine, tables);
    };
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => undefined);
    return result;
  }
}

export function createNativeFormat(): NativeFormat {
  return new NativeFormat();
}

/** The store's tables, qualified with `catalog` (an attached remote database) when given. */
function tableNames(tableName: string, catalog: string | null): Tables {
  const prefix = catalog === null ? '' : `${quoteIdentifier(catalog)}.main.`;
  return {
    entries: prefix + quoteIdentifier(tableName),
    terms: prefix + quoteIdentifier(`${tableName}__terms`),
    docs: prefix + quoteIdentifier(`${tableName}__docs`),
    termsName: `${tableName}__terms`,
    docsName: `${tableName}__docs`,
  };
}

function checkTimestamps(put: EntryRow): void {
  for (const [name, ms] of [['createdAt', put.createdAt], ['updatedAt', put.updatedAt], ['expiresAt', put.expiresAt]] as const) {
    if (ms !== null && !Number.isSafeInteger(ms)) {
      throw new LTMError('validation_error', `entry ${JSON.stringify(put.key)}: ${name} must be integer epoch milliseconds, got ${String(ms)}`);
    }
  }
}

async function ensureStaging(connection: EngineConnection): Promise<void> {
  if (stagedConnections.has(connection.raw)) return;
  await connection.run(STAGING_DDL);
  stagedConnections.add(connection.raw);
}

const ENTRY_COLUMNS = 'key, value, metadata, created_at, updated_at, expires_at';

/**
 * Inserts the puts; the `::JSON` casts reject text that is not JSON, failing the commit. A few rows go
 * in one parameterized INSERT (measured: 4.6 ms vs 5.4 ms for a one-entry commit, since staging costs an
 * appender, an INSERT and a clean-up); more go through the appender into the staging table.
 */
async function insertEntries(connection: EngineConnection, tables: Tables, puts: readonly EntryRow[]): Promise<void> {
  if (puts.length <= INLINE_PUTS) {
    const rows = puts.map((_, r) => {
      const p = (column: number) => `$${r * 6 + column}`;
      return `(${p(1)}, ${p(2)}::JSON, ${p(3)}::JSON, ${timestamp(p(4))}, ${timestamp(p(5))}, ${timestamp(p(6))})`;
    });
    await connection.run(
      `INSERT INTO ${tables.entries} (${ENTRY_COLUMNS}) VALUES ${rows.join(', ')}`,
      puts.flatMap((put) => [put.key, put.value, put.metadata, put.createdAt, put.updatedAt, put.expiresAt]),
    );
    return;
  }
  await ensureStaging(connection);
  await connection.appendRows(
    `temp.${STAGE_ENTRIES}`,
    puts.map((put) => [put.key, put.value, put.metadata, put.createdAt, put.updatedAt, put.expiresAt]),
  );
  await connection.run(
    `INSERT INTO ${tables.entries} (${ENTRY_COLUMNS}) SELECT key, value::JSON, metadata::JSON, ` +
      `${timestamp('created_at')}, ${timestamp('updated_at')}, ${timestamp('expires_at')} FROM temp.${STAGE_ENTRIES}`,
  );
  await connection.run(`DELETE FROM temp.${STAGE_ENTRIES}`);
}

/** Deletes every row of `keys` from the three tables. */
async function removeKeys(connection: EngineConnection, tables: Tables, keys: readonly string[]): Promise<void> {
  const targets = [tables.entries, tables.terms, tables.docs];
  if (keys.length > JOINED_DELETE_KEYS) {
    for (const table of targets) await connection.run(`DELETE FROM ${table} WHERE key IN (SELECT unnest($1))`, [keys]);
    return;
  }
  for (let start = 0; start < keys.length; start += DELETE_CHUNK) {
    const chunk: SqlValue[] = keys.slice(start, start + DELETE_CHUNK);
    const size = DELETE_LIST_SIZES.find((n) => n >= chunk.length) ?? DELETE_CHUNK;
    while (chunk.length < size) chunk.push(chunk[chunk.length - 1] as string);
    const list = chunk.map((_, i) => `$${i + 1}`).join(', ');
    for (const table of targets) await connection.run(`DELETE FROM ${table} WHERE key IN (${list})`, chunk);
  }
}

interface ColumnRow {
  table_name: string;
  column_name: string;
}

/** `null`: the engine's own database. */
type Catalog = string | null;

async function inspect(connection: EngineConnection | DuckDBQueryEngine, tableName: string, catalog: Catalog = null): Promise<Layout> {
  const rows = await connection.query<ColumnRow>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_catalog = coalesce($4, current_database()) AND table_schema = 'main' AND table_name IN ($1, $2, $3)`,
    [tableName, `${tableName}__terms`, `${tableName}__docs`, catalog],
  );
  const columns = (table: string) => rows.filter((row) => row.table_name === table).map((row) => row.column_name);
  const entryColumns = columns(tableName);
  return {
    entries: entryColumns.length > 0,
    expiresAt: entryColumns.includes('expires_at'),
    terms: columns(`${tableName}__terms`).length > 0,
    docs: columns(`${tableName}__docs`).length > 0,
  };
}

interface VersionRow {
  format: string;
  version: number;
}

async function recordedVersion(
  connection: EngineConnection | DuckDBQueryEngine,
  tableName: string,
  catalog: Catalog = null,
): Promise<VersionRow | undefined> {
  const [exists] = await connection.query<{ n: number }>(
    `SELECT count(*) AS n FROM information_schema.tables
      WHERE table_catalog = coalesce($1, current_database()) AND table_schema = 'main' AND table_name = 'ltm_format'`,
    [catalog],
  );
  if (exists?.n === 0) return undefined;
  const versions = catalog === null ? 'ltm_format' : `${quoteIdentifier(catalog)}.main.ltm_format`;
  const [row] = await connection.query<VersionRow>(`SELECT format, version FROM ${versions} WHERE table_name = $1`, [tableName]);
  return row;
}

function checkVersion(tableName: string, recorded: VersionRow | undefined): void {
  if (recorded === undefined) return;
  if (recorded.format !== FORMAT_NAME) {
    throw new LTMError(
      'unsupported',
      `the store "${tableName}" is recorded as format "${recorded.format}", not "${FORMAT_NAME}": open it with format: '${recorded.format}'`,
    );
  }
  if (recorded.version > NATIVE_FORMAT_VERSION) {
    throw new LTMError(
      'unsupported',
      `the store "${tableName}" was written by native format version ${recorded.version}, newer than this ` +
        `@ltm/format-native (version ${NATIVE_FORMAT_VERSION}): upgrade @ltm/format-native to open it`,
    );
  }
  if (recorded.version < 1) {
    throw new LTMError('unsupported', `the store "${tableName}" records an unknown native format version ${recorded.version}`);
  }
}

/**
 * Creates what is missing, in the caller's transaction. An existing story-schema table (e.g. migrated
 * from the SQLite backend) is adopted: `expires_at` is added, and its rows have no search postings until
 * the backend indexes them (keys in entries without a row in docs).
 */
async function createOrUpgrade(connection: EngineConnection, tableName: string, tables: Tables): Promise<void> {
  await connection.run(
    'CREATE TABLE IF NOT EXISTS ltm_format(table_name VARCHAR PRIMARY KEY, format VARCHAR, version INTEGER, created_at TIMESTAMP)',
  );
  checkVersion(tableName, await recordedVersion(connection, tableName));
  const layout = await inspect(connection, tableName);
  if (!layout.entries) {
    await connection.run(
      `CREATE TABLE ${tables.entries}(key VARCHAR PRIMARY KEY, value JSON NOT NULL, metadata JSON, ` +
        'created_at TIMESTAMP, updated_at TIMESTAMP, expires_at TIMESTAMP)',
    );
  } else if (!layout.expiresAt) {
    await connection.run(`ALTER TABLE ${tables.entries} ADD COLUMN expires_at TIMESTAMP`);
  }
  await connection.run(`CREATE TABLE IF NOT EXISTS ${tables.terms}(key VARCHAR, field TINYINT, term VARCHAR, tf INTEGER)`);
  await connection.run(`CREATE TABLE IF NOT EXISTS ${tables.docs}(key VARCHAR PRIMARY KEY, length INTEGER, extra_length INTEGER)`);
  await connection.run(`CREATE INDEX IF NOT EXISTS ${quoteIdentifier(`${tableName}__terms_key`)} ON ${tables.terms}(key)`);
  // No index on `term`: search reads postings with one scan (or from its in-memory index), and an ART
  // index there only made every commit slower. Stores created before this drop it.
  await connection.run(`DROP INDEX IF EXISTS ${quoteIdentifier(`${tableName}__terms_term`)}`);
  await connection.run(
    `INSERT INTO ltm_format VALUES ($1, $2, $3, ${timestamp('$4')}) ON CONFLICT (table_name) DO NOTHING`,
    [tableName, FORMAT_NAME, NATIVE_FORMAT_VERSION, Date.now()],
  );
}

/** Relations for a read-only open: what exists, with empty stand-ins for what a writer has not created. */
async function readOnlyRelations(
  engine: DuckDBQueryEngine,
  tableName: string,
  tables: Tables,
  catalog: Catalog,
): Promise<Record<RelationName, string>> {
  checkVersion(tableName, await recordedVersion(engine, tableName, catalog));
  const layout = await inspect(engine, tableName, catalog);
  let entries = EMPTY_RELATIONS.entries;
  if (layout.entries) {
    entries = layout.expiresAt
      ? tables.entries
      : `(SELECT key, value, metadata, created_at, updated_at, NULL::TIMESTAMP AS expires_at FROM ${tables.entries})`;
  }
  return {
    entries,
    terms: layout.terms ? tables.terms : EMPTY_RELATIONS.terms,
    docs: layout.docs ? tables.docs : EMPTY_RELATIONS.docs,
  };
}
