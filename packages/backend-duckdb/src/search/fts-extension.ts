/**
 * `searchEngine: 'fts-extension'`: ranking by DuckDB's fts extension itself, for those who want exactly
 * the extension. Its index cannot be updated, so it is rebuilt, on demand: each search first computes a
 * fingerprint of the live entries (count and hash of key and update time, one scan of three columns), and
 * rebuilds when it differs from the last build's. The index lives in a private in-memory database attached
 * to the engine, so read-only stores work and the user's database file gains no tables.
 *
 * The extension's macros name their tables without a database, so they run on a connection whose default
 * database is switched (`USE`) to the private one for that one statement. Each rebuild makes a new
 * generation (table `docs_<n>`, fts schema `fts_main_docs_<n>`): searches still reading the previous one
 * finish undisturbed, and the last of them drops it.
 */
import { LTMError, indexedText } from '@ltm/core';
import type { EntryRow, JsonValue, RelationName } from '@ltm/core';
import type { DuckDBQueryEngine, EngineConnection } from '@ltm/engine-duckdb';
import { quoteIdentifier } from '@ltm/engine-duckdb';
import { SqlParams, filterSql } from '../filter-sql.js';
import { liveCondition } from '../sql.js';
import type { SearchRequest, SearchRow } from './searcher.js';

interface Generation {
  id: number;
  fingerprint: string;
  readers: number;
  retired: boolean;
}

let attachments = 0;

export class FtsExtensionEngine {
  private prepared: Promise<{ database: string; main: string }> | null = null;
  private current: Generation | null = null;
  private rebuilding: Promise<Generation> | null = null;
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly engine: DuckDBQueryEngine,
    private readonly relation: (name: RelationName) => string,
    private readonly extensionDirectory: string | undefined,
  ) {}

  async search(request: SearchRequest, readEntries: (keys: readonly string[]) => Promise<(EntryRow | null)[]>): Promise<SearchRow[]> {
    const { database, main } = await this.prepare();
    const generation = await this.generationFor(request.now, database, main);
    generation.readers += 1;
    let ranked: { key: string; score: number }[];
    try {
      ranked = await this.rank(generation, request, database, main);
    } finally {
      generation.readers -= 1;
      if (generation.retired && generation.readers === 0) await this.drop(generation, database);
    }
    if (ranked.length === 0) return [];
    const entries = await readEntries(ranked.map((r) => r.key));
    const rows: SearchRow[] = [];
    ranked.forEach((r, i) => {
      const entry = entries[i];
      if (entry) rows.push({ key: entry.key, value: entry.value, metadata: entry.metadata, updated_at: entry.updatedAt, score: r.score });
    });
    return rows;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const prepared = await this.prepared?.catch(() => null);
    await this.rebuilding?.catch(() => null);
    if (prepared) await this.engine.run(`DETACH DATABASE IF EXISTS ${quoteIdentifier(prepared.database)}`).catch(() => undefined);
  }

  /** Loads the extension (once) and attaches the private database. */
  private prepare(): Promise<{ database: string; main: string }> {
    this.prepared ??= (async () => {
      await this.engine.withConnection(async (connection) => {
        try {
          if (this.extensionDirectory !== undefined) await connection.run('SET extension_directory = $1', [this.extensionDirectory]);
          await connection.run('LOAD fts');
        } catch (error) {
          const where = this.extensionDirectory === undefined ? "DuckDB's default extension directory" : JSON.stringify(this.extensionDirectory);
          throw new LTMError(
            'dependency_missing',
            `searchEngine 'fts-extension' needs DuckDB's fts extension, which could not be loaded from ${where} ` +
              `(${error instanceof Error ? error.message : String(error)}). Install it with \`ltm extensions install\` or ` +
              '`node tooling/extensions/provision.mjs --only fts`, and pass its directory as extensionDirectory (or LTM_EXTENSION_DIR); ' +
              "or use searchEngine: 'bm25', which needs no extension",
            { cause: error },
          );
        }
      });
      const [{ main } = { main: 'memory' }] = await this.engine.query<{ main: string }>('SELECT current_database() AS main');
      attachments += 1;
      const database = `ltm_fts_${process.pid}_${attachments}`;
      // READ_WRITE: on a read-only database, DuckDB would otherwise refuse to create the in-memory one.
      await this.engine.run(`ATTACH ':memory:' AS ${quoteIdentifier(database)} (READ_WRITE)`);
      return { database, main };
    })();
    // A failure is not remembered: installing the extension and searching again works.
    this.prepared.catch(() => {
      this.prepared = null;
    });
    return this.prepared;
  }

  /** The generation built from the live entries at `now`, building it when they changed since the last. */
  private async generationFor(now: number, database: string, main: string): Promise<Generation> {
    for (;;) {
      if (this.rebuilding) {
        await this.rebuilding.catch(() => undefined);
        continue;
      }
      const [row] = await this.engine.query<{ fingerprint: string }>(
        `SELECT concat(count(*), ':', coalesce(bit_xor(hash(e.key, e.updated_at)), 0)) AS fingerprint
         FROM ${this.relation('entries')} AS e WHERE ${liveCondition('e', '$1')}`,
        [now],
      );
      const fingerprint = row?.fingerprint ?? '';
      if (this.current && this.current.fingerprint === fingerprint) return this.current;
      if (this.rebuilding) continue;
      this.rebuilding = this.rebuild(now, fingerprint, database, main).finally(() => {
        this.rebuilding = null;
      });
      return this.rebuilding;
    }
  }

  private async rebuild(now: number, fingerprint: string, database: string, main: string): Promise<Generation> {
    const id = this.nextId++;
    // The texts are core's indexedText of each live entry, computed here rather than in SQL (json_tree
    // per entry took 12 s of a 23 s rebuild at 100k memories).
    await this.engine.withConnection(async (connection) => {
      await connection.run(
        `CREATE TABLE ${quoteIdentifier(database)}.${quoteIdentifier(`docs_${id}`)}(key VARCHAR, value_text VARCHAR, metadata_text VARCHAR, metadata JSON)`,
      );
      const appender = await connection.raw.createAppender(`docs_${id}`, 'main', database);
      try {
        const result = await connection.raw.stream(
          `SELECT e.key, e.value::VARCHAR, e.metadata::VARCHAR FROM ${this.relation('entries')} AS e WHERE ${liveCondition('e', '$1')}`,
          [now],
        );
        for (;;) {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) break;
          const [keys, values, metadata] = chunk.getColumns() as [string[], string[], (string | null)[]];
          for (let r = 0; r < chunk.rowCount; r++) {
            const meta = metadata[r] ?? '{}';
            appender.appendVarchar(keys[r] as string);
            appender.appendVarchar(indexedText(JSON.parse(values[r] as string) as JsonValue));
            appender.appendVarchar(indexedText(JSON.parse(meta) as JsonValue));
            appender.appendVarchar(meta);
            appender.endRow();
          }
        }
      } finally {
        appender.closeSync();
      }
    });
    // The pragma expands to several statements, which a prepared statement cannot hold.
    await this.inDatabase(database, main, async (connection) => {
      await connection.raw.run(`PRAGMA create_fts_index('docs_${id}', 'key', 'value_text', 'metadata_text')`);
    });
    const generation: Generation = { id, fingerprint, readers: 0, retired: false };
    const previous = this.current;
    this.current = generation;
    if (previous) {
      previous.retired = true;
      if (previous.readers === 0) await this.drop(previous, database);
    }
    return generation;
  }

  private async rank(generation: Generation, request: SearchRequest, database: string, main: string): Promise<{ key: string; score: number }[]> {
    const params = new SqlParams();
    const query = params.add(request.query ?? '');
    const filter = filterSql('d.metadata', request.conditions, params);
    const sql = `SELECT key, score FROM (
        SELECT d.key, ${quoteIdentifier(`fts_main_docs_${generation.id}`)}.match_bm25(d.key, ${query}) AS score
        FROM ${quoteIdentifier(`docs_${generation.id}`)} AS d WHERE ${filter}
      ) WHERE score IS NOT NULL
      ORDER BY score DESC, key
      LIMIT ${params.add(request.limit + 1)} OFFSET ${params.add(request.offset)}`;
    const rows = await this.inDatabase(database, main, (connection) => connection.query<{ key: string; score: number }>(sql, params.values));
    return rows.map((row) => ({ key: row.key, score: Number(row.score) }));
  }

  private async drop(generation: Generation, database: string): Promise<void> {
    await this.engine.run(`DROP SCHEMA IF EXISTS ${quoteIdentifier(database)}.${quoteIdentifier(`fts_main_docs_${generation.id}`)} CASCADE`).catch(() => undefined);
    await this.engine.run(`DROP TABLE IF EXISTS ${quoteIdentifier(database)}.${quoteIdentifier(`docs_${generation.id}`)}`).catch(() => undefined);
  }

  /** Runs `work` with the private database as the connection's default, and switches back whatever happens. */
  private inDatabase<T>(database: string, main: string, work: (connection: EngineConnection) => Promise<T>): Promise<T> {
    return this.engine.withConnection(async (connection) => {
      await connection.run(`USE ${quoteIdentifier(database)}`);
      try {
        return await work(connection);
      } finally {
        await connection.run(`USE ${quoteIdentifier(main)}`);
      }
    });
  }
}
