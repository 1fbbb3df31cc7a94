/**
 * SQL over the snapshot's sources (segments and the tail table of inline commits).
 *
 * The format keeps one in-memory table, the key index `keys(key, src, seq, length, extra_length)`: for
 * every key, the source holding its newest row (`src` = the segment's number in this process, or 0 for the
 * tail, where `seq` says which inline commit) and that row's document lengths (NULL for a tombstone or an
 * unindexed put). The `docs` relation is the index itself, so search statistics (document count, average
 * lengths) and each document's length cost no read of a segment. Each source then contributes exactly the rows the index points at, so a
 * relation is a UNION ALL with one Parquet scan per segment: a full scan streams every file once, and a
 * `key = $1` filter reaches each scan, where row-group min/max statistics skip most of the file, while the
 * index lookup finds the one source that has the key (a hash join with an empty build side does not
 * read its probe side). The index is updated in the same DuckDB transaction as the tail and the views.
 */
import { LTMError } from '@ltm/core';
import type { SourceInfo } from './log.js';

/** What a source looks like to SQL: a segment's files (as SQL literals), or inline commits in a range. */
export type SqlSource =
  | { kind: 'file'; number: number; entries: string; terms: string | null; version: number | null }
  | { kind: 'tail'; after: number; before: number | null };

export interface ViewNames {
  /** Quoted catalog of the format's in-memory database. */
  catalog: string;
}

/** The key index's source number of the tail table. */
export const TAIL_SOURCE = 0;

/**
 * A SQL string literal. File paths cannot be bound: DuckDB takes no parameters in a view's
 * `read_parquet(...)` or in `COPY ... TO`. The paths are the store's root, refused at open when it holds
 * control or glob characters (see `checkLocation`), plus names this package generates; quotes are doubled,
 * which is the whole of DuckDB's escaping for standard string literals.
 */
export function sqlString(text: string): string {
  if (/[\u0000-\u001f]/.test(text)) throw new LTMError('validation_error', `a path with control characters cannot be used: ${JSON.stringify(text)}`);
  return `'${text.replace(/'/g, "''")}'`;
}

/** Characters DuckDB treats as glob syntax in a `read_parquet` path, and control characters. */
const UNSAFE_LOCATION = /[*?[\]{}\u0000-\u001f]/;

export function checkLocation(location: string): void {
  if (UNSAFE_LOCATION.test(location)) {
    throw new LTMError(
      'validation_error',
      `the Parquet store location ${JSON.stringify(location)} contains * ? [ ] { } or control characters, which DuckDB reads as glob patterns: choose a path without them`,
    );
  }
}

/**
 * SQL sources for `sources` (oldest first): one per segment, and the tail table. For the views the tail
 * is every inline commit; for a compaction's run it is the run's range of versions (a run is contiguous,
 * so exactly its inline commits).
 */
export function sqlSources(sources: readonly SourceInfo[], url: (key: string) => string, numberOf: (segmentId: string) => number, wholeTail: boolean): SqlSource[] {
  const result: SqlSource[] = [];
  let lo = Infinity;
  let hi = -Infinity;
  let inline = false;
  for (const source of sources) {
    if (source.kind === 'inline') {
      inline = true;
      lo = Math.min(lo, source.seq);
      hi = Math.max(hi, source.seq);
      continue;
    }
    lo = Math.min(lo, source.lo);
    hi = Math.max(hi, source.hi);
    const { segment } = source;
    result.push({
      kind: 'file',
      number: numberOf(segment.id),
      entries: sqlString(url(segment.entries)),
      terms: segment.terms === null ? null : sqlString(url(segment.terms)),
      version: segment.versioned ? null : source.lo,
    });
  }
  if (wholeTail) result.push({ kind: 'tail', after: 0, before: null });
  else if (inline) result.push({ kind: 'tail', after: lo - 1, before: hi + 1 });
  return result;
}

function tailRange(source: { after: number; before: number | null }): string {
  return source.before === null ? `t.seq > ${source.after}` : `t.seq > ${source.after} AND t.seq < ${source.before}`;
}

function keysOf(names: ViewNames, number: number): string {
  return `(SELECT key FROM ${names.catalog}.main.keys WHERE src = ${number})`;
}

function tailKeys(names: ViewNames): string {
  return `(SELECT key, seq FROM ${names.catalog}.main.keys WHERE src = ${TAIL_SOURCE})`;
}

function entriesOf(source: SqlSource, names: ViewNames, tag: string): string {
  if (source.kind === 'file') {
    const version = source.version === null ? 's.version' : `CAST(${source.version} AS BIGINT) AS version`;
    return (
      `SELECT s.key, ${version}, s.operation, s.value, s.metadata, s.created_at, s.updated_at, s.expires_at, s.doc_length, s.doc_extra_length${tag} ` +
      `FROM read_parquet(${source.entries}) AS s SEMI JOIN ${keysOf(names, source.number)} AS k ON s.key = k.key`
    );
  }
  return (
    'SELECT t.key, t.seq AS version, t.operation, t.value, t.metadata, make_timestamp(t.created_at * 1000) AS created_at, ' +
    'make_timestamp(t.updated_at * 1000) AS updated_at, make_timestamp(t.expires_at * 1000) AS expires_at, ' +
    `t.doc_length, t.doc_extra_length${tag} ` +
    `FROM ${names.catalog}.main.tail_entries AS t SEMI JOIN ${tailKeys(names)} AS k ON t.key = k.key AND t.seq = k.seq WHERE ${tailRange(source)}`
  );
}

function termsOf(source: SqlSource, names: ViewNames, tag: string): string | null {
  if (source.kind === 'file') {
    if (source.terms === null) return null;
    return `SELECT s.key, s.field, s.term, s.tf${tag} FROM read_parquet(${source.terms}) AS s SEMI JOIN ${keysOf(names, source.number)} AS k ON s.key = k.key`;
  }
  return (
    `SELECT t.key, t.field, t.term, t.tf${tag} FROM ${names.catalog}.main.tail_terms AS t ` +
    `SEMI JOIN ${tailKeys(names)} AS k ON t.key = k.key AND t.seq = k.seq WHERE ${tailRange(source)}`
  );
}

/** `tagged` adds `src`, the source's position, so a merge can match terms to the entry rows it keeps. */
function unionOf(sources: readonly SqlSource[], select: (source: SqlSource, tag: string) => string | null, tagged: boolean): string | null {
  const parts = sources.flatMap((source, index) => {
    const sql = select(source, tagged ? `, ${index} AS src` : '');
    return sql === null ? [] : [sql];
  });
  return parts.length === 0 ? null : parts.join('\nUNION ALL\n');
}

/** Each key's newest row among `sources` (tombstones included), if the key index points into them. */
export function latestRowsSql(sources: readonly SqlSource[], names: ViewNames, tagged = false): string {
  const rows = unionOf(sources, (source, tag) => entriesOf(source, names, tag), tagged);
  if (rows === null) throw new LTMError('query_error', 'internal: latestRowsSql needs at least one source');
  return rows;
}

/** The terms rows of the keys whose newest row is in `sources`. */
export function latestTermsSql(sources: readonly SqlSource[], names: ViewNames, tagged = false): string | null {
  return unionOf(sources, (source, tag) => termsOf(source, names, tag), tagged);
}

export function entriesViewSql(sources: readonly SqlSource[], names: ViewNames): string {
  return `SELECT key, value, metadata, created_at, updated_at, expires_at FROM (${latestRowsSql(sources, names)}) WHERE operation = 'put'`;
}

export function docsViewSql(names: ViewNames): string {
  return `SELECT key, length, extra_length FROM ${names.catalog}.main.keys WHERE length IS NOT NULL`;
}

export function termsViewSql(sources: readonly SqlSource[], names: ViewNames): string {
  const rows = latestTermsSql(sources, names);
  return rows === null
    ? 'SELECT NULL::VARCHAR AS key, NULL::TINYINT AS field, NULL::VARCHAR AS term, NULL::INTEGER AS tf WHERE false'
    : `SELECT key, field, term, tf FROM (${rows})`;
}

/**
 * The tail (inline commits until a compaction folds them into a segment) and the key index. The tail
 * keeps times as epoch ms, as the log records do, so rows go in through the appender as they are.
 */
export function tablesSql(names: ViewNames): string[] {
  return [
    `CREATE TABLE ${names.catalog}.main.tail_entries(seq BIGINT, key VARCHAR, operation VARCHAR, value JSON, metadata JSON, ` +
      'created_at BIGINT, updated_at BIGINT, expires_at BIGINT, doc_length INTEGER, doc_extra_length INTEGER)',
    `CREATE TABLE ${names.catalog}.main.tail_terms(seq BIGINT, key VARCHAR, field TINYINT, term VARCHAR, tf INTEGER)`,
    `CREATE TABLE ${names.catalog}.main.keys(key VARCHAR PRIMARY KEY, src INTEGER NOT NULL, seq BIGINT, length INTEGER, extra_length INTEGER)`,
  ];
}

/**
 * Statements that rebuild the key index from every source: each key's row in the newest source (version
 * ranges never overlap, so the source's newest version orders them).
 */
export function rebuildKeysSql(sources: readonly SqlSource[], ranks: ReadonlyMap<number, number>, names: ViewNames): string[] {
  const parts = sources.map((source) =>
    source.kind === 'file'
      ? `SELECT key, ${source.number} AS src, NULL::BIGINT AS seq, doc_length, doc_extra_length, ${ranks.get(source.number) ?? 0} AS rank FROM read_parquet(${source.entries})`
      : `SELECT t.key, ${TAIL_SOURCE} AS src, t.seq, t.doc_length, t.doc_extra_length, t.seq AS rank FROM ${names.catalog}.main.tail_entries AS t WHERE ${tailRange(source)}`,
  );
  return [
    `DELETE FROM ${names.catalog}.main.keys`,
    `INSERT INTO ${names.catalog}.main.keys SELECT key, newest.src, newest.seq, newest.length, newest.extra_length FROM ` +
      `(SELECT key, arg_max({'src': src, 'seq': seq, 'length': doc_length, 'extra_length': doc_extra_length}, rank) AS newest ` +
      `FROM (${parts.join(' UNION ALL ')}) GROUP BY key)`,
  ];
}

/** Points the keys of inline commits ($1 keys, $2 their commit numbers, $3 and $4 their lengths as JSON arrays) at the tail. */
export function pointKeysAtTailSql(names: ViewNames): [string, string] {
  return [
    `DELETE FROM ${names.catalog}.main.keys WHERE key IN (SELECT unnest(CAST($1 AS VARCHAR[])))`,
    `INSERT INTO ${names.catalog}.main.keys SELECT unnest(CAST($1 AS VARCHAR[])), ${TAIL_SOURCE}, unnest(CAST($2 AS BIGINT[])), ` +
      'unnest(CAST(CAST($3 AS JSON) AS INTEGER[])), unnest(CAST(CAST($4 AS JSON) AS INTEGER[]))',
  ];
}

/** Points every key of a new segment at it. */
export function pointKeysAtSegmentSql(names: ViewNames, number: number, entries: string): string[] {
  return [
    `DELETE FROM ${names.catalog}.main.keys WHERE key IN (SELECT key FROM read_parquet(${entries}))`,
    `INSERT INTO ${names.catalog}.main.keys SELECT key, ${number}, NULL, doc_length, doc_extra_length FROM read_parquet(${entries})`,
  ];
}

/**
 * After a merge: keys that pointed into the run point at the merged segment, with its rows' lengths (an
 * expired put became a tombstone), except those the merge dropped (tombstones and expired rows of a bottom
 * run), which leave the index.
 */
export function pointKeysAtMergeSql(names: ViewNames, run: { numbers: number[]; inline: number[] }, merged: { number: number; entries: string } | null): string[] {
  const inRun = [
    ...(run.numbers.length > 0 ? [`src IN (${run.numbers.join(', ')})`] : []),
    ...(run.inline.length > 0 ? [`(src = ${TAIL_SOURCE} AND seq IN (${run.inline.join(', ')}))`] : []),
  ].join(' OR ');
  if (merged === null) return [`DELETE FROM ${names.catalog}.main.keys WHERE ${inRun}`];
  return [
    `UPDATE ${names.catalog}.main.keys SET src = ${merged.number}, seq = NULL, length = m.doc_length, extra_length = m.doc_extra_length ` +
      `FROM read_parquet(${merged.entries}) AS m WHERE keys.key = m.key AND (${inRun})`,
    `DELETE FROM ${names.catalog}.main.keys WHERE ${inRun}`,
  ];
}

/**
 * A self-contained `CREATE VIEW` of the live state (one row per live key, expired rows left out) that
 * plain DuckDB runs with no ltm code: the snapshot's segment files by URL (`read_parquet`) and its inline
 * commits read from their log records (`read_text` + JSON). Pinned to this snapshot; its files stay for
 * the retention window. `files` are SQL literals of segment entries files with the version of rows whose
 * version column is NULL; `records` are SQL literals of inline records with their log numbers.
 */
export function liveViewSql(view: string, files: readonly { entries: string; version: number | null }[], records: readonly { url: string; seq: number }[]): string {
  const parts = files.map(
    (file) =>
      `SELECT key, ${file.version === null ? 'version' : `coalesce(version, ${file.version})`} AS version, operation, value, metadata, created_at, updated_at, expires_at ` +
      `FROM read_parquet(${file.entries})`,
  );
  if (records.length > 0) {
    const shape = JSON.stringify({
      inline: { entries: [{ key: 'VARCHAR', operation: 'VARCHAR', value: 'VARCHAR', metadata: 'VARCHAR', created_at: 'BIGINT', updated_at: 'BIGINT', expires_at: 'BIGINT' }] },
    });
    const seqOf = `CASE filename ${records.map((record) => `WHEN ${record.url} THEN ${record.seq}`).join(' ')} END`;
    parts.push(
      `SELECT e.key, r.version, e.operation, e.value::JSON AS value, e.metadata::JSON AS metadata, make_timestamp(e.created_at * 1000) AS created_at, ` +
        'make_timestamp(e.updated_at * 1000) AS updated_at, make_timestamp(e.expires_at * 1000) AS expires_at ' +
        // A version 4 record's rows follow its summary line (older records are one line: the whole text).
        `FROM (SELECT ${seqOf} AS version, unnest(json_transform(content[position(chr(10) IN content) + 1:], '${shape}').inline.entries) AS e ` +
        `FROM read_text([${records.map((record) => record.url).join(', ')}])) AS r`,
    );
  }
  if (parts.length === 0) {
    parts.push(
      'SELECT NULL::VARCHAR AS key, NULL::BIGINT AS version, NULL::VARCHAR AS operation, NULL::JSON AS value, NULL::JSON AS metadata, ' +
        'NULL::TIMESTAMP AS created_at, NULL::TIMESTAMP AS updated_at, NULL::TIMESTAMP AS expires_at WHERE false',
    );
  }
  // Timestamps are UTC without a zone: compare with the current UTC time, whatever the session's TimeZone.
  return (
    `CREATE OR REPLACE VIEW ${view} AS\nSELECT key, value, metadata, created_at, updated_at, expires_at FROM (\n` +
    `SELECT * FROM (\n${parts.join('\nUNION ALL\n')}\n) QUALIFY row_number() OVER (PARTITION BY key ORDER BY version DESC) = 1\n) ` +
    "WHERE operation = 'put' AND (expires_at IS NULL OR expires_at > make_timestamp(epoch_us(now())))"
  );
}

/** The shape of a batch's entry rows as JSON, for checking their values and metadata before a commit. */
const ENTRY_JSON_SHAPE = JSON.stringify([
  {
    seq: 'BIGINT',
    key: 'VARCHAR',
    operation: 'VARCHAR',
    value: 'VARCHAR',
    metadata: 'VARCHAR',
    created_at: 'BIGINT',
    updated_at: 'BIGINT',
    expires_at: 'BIGINT',
    doc_length: 'INTEGER',
    doc_extra_length: 'INTEGER',
  },
]);

/** Counts the values and metadata of JSON rows that are not valid JSON (checked before a commit is written). */
export function invalidJsonCountSql(): string {
  return (
    'SELECT count(*) FILTER (WHERE (r.value IS NOT NULL AND NOT json_valid(r.value)) OR (r.metadata IS NOT NULL AND NOT json_valid(r.metadata))) AS invalid ' +
    `FROM (SELECT unnest(from_json($1::JSON, '${ENTRY_JSON_SHAPE}'), recursive := true)) AS r`
  );
}
