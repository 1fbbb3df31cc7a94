/**
 * Writing segments with DuckDB: a commit's rows (staged with the appender, then `COPY ... TO`), and the
 * merge of a run of sources (compaction). Entries files are sorted by key, so each row group's min/max
 * statistics cover a narrow key range and a point lookup reads one row group per file; terms files are
 * sorted by term, for the same reason on search.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LTMError } from '@ltm/core';
import type { DuckDBQueryEngine, EngineConnection } from '@ltm/engine-duckdb';
import type { InlineEntry, InlineTerms, SegmentInfo } from './log.js';
import { DATA_PREFIX } from './log.js';
import type { ObjectStore } from './object-store/types.js';
import { sqlString } from './sql.js';

const STAGE_ENTRIES = 'ltm_parquet_stage_entries';
const STAGE_TERMS = 'ltm_parquet_stage_terms';
const RUN = 'ltm_parquet_run';
const MERGED = 'ltm_parquet_merged';
const stagedConnections = new WeakSet<object>();

export interface SegmentWriteOptions {
  /** Rows per Parquet row group of entries files: smaller groups mean fewer bytes per point lookup. */
  rowGroupRows: number;
}

/** Terms rows are small; larger row groups keep the footer small. */
const TERMS_ROW_GROUP_ROWS = 16_384;

function newSegmentKeys(): { id: string; entries: string; terms: string } {
  const id = randomUUID();
  return { id, entries: `${DATA_PREFIX}${id}.entries.parquet`, terms: `${DATA_PREFIX}${id}.terms.parquet` };
}

/**
 * Runs `copy` with the SQL literal of where DuckDB should write `key`: the object itself, or a local
 * temporary file uploaded afterwards for stores DuckDB cannot write.
 */
async function writeObject(store: ObjectStore, key: string, copy: (target: string) => Promise<void>): Promise<void> {
  if (store.duckdbWrites) {
    await copy(sqlString(store.url(key)));
    await store.syncFile(key);
    return;
  }
  const local = join(tmpdir(), `ltm-parquet-${randomUUID()}.parquet`);
  try {
    await copy(sqlString(local));
    await store.uploadFile(key, local);
  } finally {
    await rm(local, { force: true });
  }
}

async function ensureStaging(connection: EngineConnection): Promise<void> {
  if (stagedConnections.has(connection.raw)) return;
  await connection.run(
    `CREATE TEMP TABLE IF NOT EXISTS ${STAGE_ENTRIES}(key VARCHAR, operation VARCHAR, value VARCHAR, metadata VARCHAR, ` +
      'created_at BIGINT, updated_at BIGINT, expires_at BIGINT, doc_length INTEGER, doc_extra_length INTEGER)',
  );
  await connection.run(`CREATE TEMP TABLE IF NOT EXISTS ${STAGE_TERMS}(key VARCHAR, field TINYINT, term VARCHAR, tf INTEGER)`);
  stagedConnections.add(connection.raw);
}

export function decodeKey(bytes: unknown): string {
  // node-api decodes VARCHAR with a TextDecoder that drops a leading U+FEFF: keys come back as bytes.
  const view = bytes as Uint8Array;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('utf8');
}

/** The keys of a segment's entries file (`entries`: its SQL string literal), through the engine or a connection. */
export async function segmentKeys(db: Pick<EngineConnection, 'query'>, entries: string): Promise<string[]> {
  const rows = await db.query<{ key: Uint8Array }>(`SELECT encode(key) AS key FROM read_parquet(${entries})`);
  return rows.map((row) => decodeKey(row.key));
}

interface StatsRow {
  rows: number;
  tombstones: number;
  oldest_tombstone_at: number | null;
  min_key: Uint8Array | null;
  max_key: Uint8Array | null;
  min_expires_at: number | null;
}

function segmentInfo(keys: { id: string; entries: string; terms: string }, stats: StatsRow, hasTerms: boolean, versioned: boolean): SegmentInfo {
  return {
    id: keys.id,
    entries: keys.entries,
    terms: hasTerms ? keys.terms : null,
    rows: Number(stats.rows),
    tombstones: Number(stats.tombstones),
    minKey: stats.min_key === null ? '' : decodeKey(stats.min_key),
    maxKey: stats.max_key === null ? '' : decodeKey(stats.max_key),
    minExpiresAt: stats.min_expires_at === null ? null : Number(stats.min_expires_at),
    oldestTombstoneAt: stats.oldest_tombstone_at === null ? null : Number(stats.oldest_tombstone_at),
    versioned,
  };
}

const STATS_SQL = (table: string) =>
  `SELECT count(*) AS rows, count(*) FILTER (WHERE operation = 'delete') AS tombstones, ` +
  `epoch_ms(min(coalesce(updated_at, TIMESTAMP '1970-01-01')) FILTER (WHERE operation = 'delete')) AS oldest_tombstone_at, encode(min(key)) AS min_key, ` +
  `encode(max(key)) AS max_key, epoch_ms(min(expires_at) FILTER (WHERE operation = 'put')) AS min_expires_at FROM ${table}`;

/**
 * Writes a commit's rows as a new segment (version column NULL: the record that adds it gives the
 * version). Rejects with `validation_error` when a value or metadata is not JSON; nothing is left behind.
 */
export async function writeCommitSegment(
  engine: DuckDBQueryEngine,
  store: ObjectStore,
  entries: readonly InlineEntry[],
  terms: InlineTerms,
  options: SegmentWriteOptions,
): Promise<SegmentInfo> {
  const keys = newSegmentKeys();
  try {
    return await engine.withConnection(async (connection) => {
      await ensureStaging(connection);
      try {
        await connection.appendRows(
          `temp.${STAGE_ENTRIES}`,
          entries.map((row) => [row.key, row.operation, row.value, row.metadata, row.created_at, row.updated_at, row.expires_at, row.doc_length, row.doc_extra_length]),
        );
        if (terms.term.length > 0) {
          await connection.appendRows(
            `temp.${STAGE_TERMS}`,
            terms.term.map((term, index) => [entries[terms.entry[index]!]!.key, terms.field[index]!, term, terms.tf[index]!]),
          );
        }
        await writeObject(store, keys.entries, (target) =>
          connection.run(
            `COPY (SELECT key, NULL::BIGINT AS version, operation, value::JSON AS value, metadata::JSON AS metadata, ` +
              'make_timestamp(created_at * 1000) AS created_at, make_timestamp(updated_at * 1000) AS updated_at, ' +
              'make_timestamp(expires_at * 1000) AS expires_at, doc_length, doc_extra_length ' +
              `FROM temp.${STAGE_ENTRIES} ORDER BY key) TO ${target} (FORMAT parquet, ROW_GROUP_SIZE ${options.rowGroupRows})`,
          ),
        );
        if (terms.term.length > 0) {
          await writeObject(store, keys.terms, (target) =>
            connection.run(
              `COPY (SELECT key, NULL::BIGINT AS version, field, term, tf FROM temp.${STAGE_TERMS} ORDER BY term, key) ` +
                `TO ${target} (FORMAT parquet, ROW_GROUP_SIZE ${TERMS_ROW_GROUP_ROWS})`,
            ),
          );
        }
        const [stats] = await connection.query<StatsRow>(
          STATS_SQL(`(SELECT key, operation, make_timestamp(expires_at * 1000) AS expires_at, make_timestamp(updated_at * 1000) AS updated_at FROM temp.${STAGE_ENTRIES})`),
        );
        return segmentInfo(keys, stats!, terms.term.length > 0, false);
      } finally {
        await connection.run(`DELETE FROM temp.${STAGE_ENTRIES}`);
        await connection.run(`DELETE FROM temp.${STAGE_TERMS}`);
      }
    });
  } catch (error) {
    await store.delete([keys.entries, keys.terms]).catch(() => undefined);
    if (error instanceof LTMError && /JSON/i.test(error.message) && /conversion|malformed/i.test(error.message)) {
      throw new LTMError('validation_error', `the batch holds a value or metadata that is not valid JSON: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

export interface MergeResult {
  segment: SegmentInfo | null;
  /** Keys whose newest row in the run was a put expired at `now`. */
  expired: number;
  /** Those keys, or `null` when there are more than `MAX_LISTED_KEYS`. */
  expiredKeys: string[] | null;
}

/** Beyond this many keys a change notification says "anything may have changed" instead of listing them. */
export const MAX_LISTED_KEYS = 10_000;

/**
 * Merges a run of sources (newest first; the run is contiguous in version order) into one segment holding
 * each key's newest row. Expired puts become tombstones deleted at their `expires_at`, which still hide
 * older rows of the key. A tombstone's `updated_at` is when it was deleted. Only a `bottom` run (nothing
 * older exists, so nothing can come back) drops tombstones, and only those deleted at or before
 * `dropTombstonesBefore` (the retention window: a tombstone younger than it stays, for processes that
 * read the log to learn what was deleted).
 */
export async function writeMergedSegment(
  engine: DuckDBQueryEngine,
  store: ObjectStore,
  latestRowsSql: string,
  termsSql: string | null,
  { bottom, now, dropTombstonesBefore, rowGroupRows }: { bottom: boolean; now: number; dropTombstonesBefore: number; rowGroupRows: number },
): Promise<MergeResult> {
  const keys = newSegmentKeys();
  try {
    return await engine.withConnection(async (connection) => {
      try {
        // One table, so the entries and terms written agree on which rows survived.
        await connection.run(
          `CREATE OR REPLACE TEMP TABLE ${RUN} AS SELECT e.*, ` +
            `${bottom ? 'true' : 'false'} AND (e.expired OR e.operation = 'delete') AND e.deleted_at <= make_timestamp(CAST($2 AS BIGINT) * 1000) AS dropped ` +
            'FROM (SELECT m.*, ' +
            "coalesce(m.operation = 'put' AND m.expires_at <= make_timestamp(CAST($1 AS BIGINT) * 1000), false) AS expired, " +
            // A tombstone's time of deletion; tombstones of writers that did not record it count as old.
            "CASE WHEN m.operation = 'put' THEN m.expires_at ELSE coalesce(m.updated_at, TIMESTAMP '1970-01-01') END AS deleted_at " +
            `FROM (${latestRowsSql}) AS m) AS e`,
          [now, dropTombstonesBefore],
        );
        const [counted] = await connection.query<{ expired: number; kept: number; puts: number }>(
          `SELECT count(*) FILTER (WHERE expired) AS expired, count(*) FILTER (WHERE NOT dropped) AS kept, ` +
            `count(*) FILTER (WHERE operation = 'put' AND NOT expired) AS puts FROM temp.${RUN}`,
        );
        const expired = Number(counted?.expired ?? 0);
        let expiredKeys: string[] | null = null;
        if (expired <= MAX_LISTED_KEYS) {
          const rows = await connection.query<{ key: Uint8Array }>(`SELECT encode(key) AS key FROM temp.${RUN} WHERE expired`);
          expiredKeys = rows.map((row) => decodeKey(row.key));
        }
        if (Number(counted?.kept ?? 0) === 0) return { segment: null, expired, expiredKeys };
        await connection.run(
          `CREATE OR REPLACE TEMP TABLE ${MERGED} AS SELECT key, version, ` +
            "CASE WHEN expired THEN 'delete' ELSE operation END AS operation, " +
            'CASE WHEN expired THEN NULL ELSE value END AS value, CASE WHEN expired THEN NULL ELSE metadata END AS metadata, ' +
            'CASE WHEN expired THEN NULL ELSE created_at END AS created_at, CASE WHEN expired THEN expires_at ELSE updated_at END AS updated_at, ' +
            'CASE WHEN expired THEN NULL ELSE expires_at END AS expires_at, CASE WHEN expired THEN NULL ELSE doc_length END AS doc_length, ' +
            'CASE WHEN expired THEN NULL ELSE doc_extra_length END AS doc_extra_length, src ' +
            `FROM temp.${RUN} WHERE NOT dropped`,
        );
        await writeObject(store, keys.entries, (target) =>
          connection.run(
            `COPY (SELECT key, version, operation, value, metadata, created_at, updated_at, expires_at, doc_length, doc_extra_length ` +
              `FROM temp.${MERGED} ORDER BY key) TO ${target} (FORMAT parquet, ROW_GROUP_SIZE ${rowGroupRows})`,
          ),
        );
        let hasTerms = false;
        if (termsSql !== null && Number(counted?.puts ?? 0) > 0) {
          const [termCount] = await connection.query<{ n: number }>(
            `SELECT count(*) AS n FROM (${termsSql}) AS t SEMI JOIN temp.${MERGED} AS k ON t.key = k.key AND t.src = k.src AND k.operation = 'put'`,
          );
          hasTerms = Number(termCount?.n ?? 0) > 0;
          if (hasTerms) {
            await writeObject(store, keys.terms, (target) =>
              connection.run(
                `COPY (SELECT t.key, k.version, t.field, t.term, t.tf FROM (${termsSql}) AS t JOIN temp.${MERGED} AS k ` +
                  `ON t.key = k.key AND t.src = k.src AND k.operation = 'put' ORDER BY t.term, t.key) ` +
                  `TO ${target} (FORMAT parquet, ROW_GROUP_SIZE ${TERMS_ROW_GROUP_ROWS})`,
              ),
            );
          }
        }
        const [stats] = await connection.query<StatsRow>(STATS_SQL(`temp.${MERGED}`));
        return { segment: segmentInfo(keys, stats!, hasTerms, true), expired, expiredKeys };
      } finally {
        await connection.run(`DROP TABLE IF EXISTS temp.${RUN}`);
        await connection.run(`DROP TABLE IF EXISTS temp.${MERGED}`);
      }
    });
  } catch (error) {
    await store.delete([keys.entries, keys.terms]).catch(() => undefined);
    throw error;
  }
}
