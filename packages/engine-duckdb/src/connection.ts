import type { DuckDBConnection, DuckDBMaterializedResult, DuckDBPreparedStatement } from '@duckdb/node-api';
import { LTMError } from '@ltm/core';
import { classifyDuckDBError } from './errors.js';
import { parseQualifiedName } from './identifiers.js';
import { bindParameters, cellWriter, rowValueConverter, type SqlValue } from './values.js';

export interface QueryResult {
  rows: Record<string, unknown>[];
  columns: string[];
}

/** What a caller holding a connection can do with it. */
export interface EngineConnection {
  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  run(sql: string, params?: readonly SqlValue[]): Promise<void>;
  /**
   * Bulk insert through DuckDB's appender; `table` is a validated identifier (optionally
   * schema-qualified; `temp.staging` is the connection's temporary table), each row lists every column in table order. Rows the
   * appender has flushed stay written if a later row fails: call it inside `transaction()` for all or none.
   */
  appendRows(table: string, rows: readonly (readonly SqlValue[])[]): Promise<void>;
  /** The node-api connection, for formats that need what this interface lacks. */
  readonly raw: DuckDBConnection;
}

export interface ConnectionCounters {
  queries: number;
  errors: number;
}

/**
 * One DuckDB connection with an LRU cache of prepared statements keyed by SQL text. Calls on one
 * connection run one at a time: a prepared statement's bindings are shared state, and DuckDB runs one
 * statement per connection anyway.
 */
/** Rows `appendRows` loads between two yields to the event loop. */
const APPEND_SLICE_ROWS = 16_384;

export class PooledConnection {
  private readonly statements = new Map<string, DuckDBPreparedStatement>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly raw: DuckDBConnection,
    private readonly statementCacheSize: number,
    private readonly counters: ConnectionCounters,
  ) {}

  execute(sql: string, params: readonly SqlValue[] = []): Promise<QueryResult> {
    return this.serialize(async () => {
      const result = await this.runStatement(sql, params);
      const rows = (await result.convertRowObjects(rowValueConverter)) as Record<string, unknown>[];
      return { rows, columns: result.deduplicatedColumnNames() };
    });
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<void> {
    return this.serialize(async () => {
      await this.runStatement(sql, params);
    });
  }

  appendRows(table: string, rows: readonly (readonly SqlValue[])[]): Promise<void> {
    return this.serialize(async () => {
      const { schema, table: name } = parseQualifiedName(table);
      this.counters.queries++;
      try {
        // `temp` names the catalog of the connection's temporary tables, not a schema.
        const appender =
          schema === 'temp'
            ? await this.raw.createAppender(name, null, 'temp')
            : await this.raw.createAppender(name, schema);
        try {
          const writers = Array.from({ length: appender.columnCount }, (_, i) =>
            cellWriter(table, i, appender.columnType(i)),
          );
          for (let r = 0; r < rows.length; r++) {
            // The appender is synchronous: a large load lets other work (reads served from memory, timers)
            // run between slices instead of holding the event loop for seconds.
            if (r > 0 && r % APPEND_SLICE_ROWS === 0) await new Promise<void>((resolve) => setImmediate(resolve));
            const row = rows[r]!;
            if (row.length !== writers.length) {
              throw new LTMError(
                'validation_error',
                `appendRows(${table}): row ${r} has ${row.length} value(s) but the table has ${writers.length} column(s)`,
              );
            }
            for (let c = 0; c < writers.length; c++) writers[c]!(appender, row[c] as SqlValue, r);
            appender.endRow();
          }
          appender.flushSync();
        } catch (error) {
          // Drop the rows not yet flushed so closing the appender does not write a partial tail.
          appender.clear();
          throw error;
        } finally {
          appender.closeSync();
        }
      } catch (error) {
        this.counters.errors++;
        throw classifyDuckDBError(error);
      }
    });
  }

  /** Best effort: leaves no transaction open on a connection going back to the pool after a failure. */
  async rollbackQuietly(): Promise<void> {
    await this.serialize(() => this.raw.run('ROLLBACK')).catch(() => undefined);
  }

  /** Frees cached statements and the connection. */
  dispose(): void {
    for (const statement of this.statements.values()) statement.destroySync();
    this.statements.clear();
    this.raw.disconnectSync();
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async runStatement(sql: string, params: readonly SqlValue[]): Promise<DuckDBMaterializedResult> {
    this.counters.queries++;
    try {
      // Text with a `;` may hold several statements, which only node-api's direct run accepts (uncached).
      if (params.length === 0 && sql.trimEnd().replace(/;$/, '').includes(';')) return await this.raw.run(sql);
      const statement = await this.prepared(sql);
      bindParameters(statement, params);
      return await statement.run();
    } catch (error) {
      this.counters.errors++;
      throw classifyDuckDBError(error);
    }
  }

  private async prepared(sql: string): Promise<DuckDBPreparedStatement> {
    const cached = this.statements.get(sql);
    if (cached !== undefined) {
      this.statements.delete(sql);
      this.statements.set(sql, cached);
      return cached;
    }
    const statement = await this.raw.prepare(sql);
    // DuckDB 1.5.5 keeps the plan of a statement without parameters, made for the table statistics of the
    // moment; once the data outgrows them it fails ("Perfect hash aggregate: ... exceeded total groups").
    // A statement with parameters is planned at each execution, so only those are worth caching.
    if (this.statementCacheSize === 0 || statement.parameterCount === 0) {
      // Uncached statements are freed by node-api's weak-reference collection.
      return statement;
    }
    this.statements.set(sql, statement);
    if (this.statements.size > this.statementCacheSize) {
      const [oldestSql, oldest] = this.statements.entries().next().value as [string, DuckDBPreparedStatement];
      this.statements.delete(oldestSql);
      oldest.destroySync();
    }
    return statement;
  }
}

/**
 * The view of a pooled connection handed to one `withConnection` call. It stops working when that
 * call returns, so a leaked reference cannot interleave with the connection's next borrower.
 */
export class ConnectionLease implements EngineConnection {
  private active = true;

  constructor(private readonly connection: PooledConnection) {}

  get raw(): DuckDBConnection {
    this.check();
    return this.connection.raw;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    this.check();
    return (await this.connection.execute(sql, params)).rows as T[];
  }

  async execute(sql: string, params?: readonly SqlValue[]): Promise<QueryResult> {
    this.check();
    return this.connection.execute(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<void> {
    this.check();
    return this.connection.run(sql, params);
  }

  async appendRows(table: string, rows: readonly (readonly SqlValue[])[]): Promise<void> {
    this.check();
    return this.connection.appendRows(table, rows);
  }

  end(): void {
    this.active = false;
  }

  private check(): void {
    if (!this.active) {
      throw new LTMError(
        'backend_closed',
        'this connection was used after its withConnection()/transaction() callback returned: use it only inside the callback',
      );
    }
  }
}
