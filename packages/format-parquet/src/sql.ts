/**
 * SQL over the snapshot's sources. Every source holds at most one row per key (a segment by
 * construction, a group of inline commits after picking each key's latest commit), so the live version
 * of a key is its row in the newest source that has it: each source contributes the rows whose key no
 * newer source holds (an anti-join on keys), and tombstones then drop out. Unlike a window over all
 * versions this streams the large old segments instead of sorting them, and a `key = $1` filter still
 * reaches every Parquet scan, where row-group min/max statistics skip most of the file.
 */
import { LTMError } from '@ltm/core';
import type { SourceInfo } from './log.js';

/** What a source looks like to SQL: a segment's files (as SQL literals) or a range of inline commits. */
export type SqlSource =
  | { kind: 'file'; entries: string; terms: string | null; version: number | null }
  | { kind: 'tail'; after: number; before: number | null };

export const ENTRY_COLUMNS = 'key, version, operation, value, metadata, created_at, updated_at, expires_at, doc_length, doc_extra_length';

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
 * Turns sources (oldest first) into SQL sources, newest first; consecutive inline commits become one
 * range of the tail table. With `openTail` (the views) the newest range is open-ended and always present,
 * so a new inline commit needs no change of view; without it (a compaction's run) ranges are exact.
 */
export function sqlSources(sources: readonly SourceInfo[], url: (key: string) => string, openTail: boolean): SqlSource[] {
  const result: SqlSource[] = [];
  let group: { min: number; max: number } | undefined;
  const flushGroup = () => {
    if (group !== undefined) result.push({ kind: 'tail', after: group.min - 1, before: group.max + 1 });
    group = undefined;
  };
  if (openTail) {
    let newestSegment = 0;
    for (const source of sources) if (source.kind === 'segment') newestSegment = Math.max(newestSegment, source.hi);
    result.push({ kind: 'tail', after: newestSegment, before: null });
  }
  for (let index = sources.length - 1; index >= 0; index--) {
    const source = sources[index]!;
    if (source.kind === 'inline') {
      // With an open tail, the inline commits after the newest segment are already in its range.
      if (openTail && !sources.slice(index + 1).some((later) => later.kind === 'segment')) continue;
      group = group === undefined ? { min: source.seq, max: source.seq } : { min: source.seq, max: group.max };
      continue;
    }
    flushGroup();
    const { segment } = source;
    result.push({
      kind: 'file',
      entries: sqlString(url(segment.entries)),
      terms: segment.terms === null ? null : sqlString(url(segment.terms)),
      version: segment.versioned ? null : source.lo,
    });
  }
  flushGroup();
  return result;
}

export interface ViewNames {
  /** Quoted catalog of the format's in-memory database. */
  catalog: string;
}

function tailRange(source: { after: number; before: number | null }, column = 'seq'): string {
  return source.before === null ? `${column} > ${source.after}` : `${column} > ${source.after} AND ${column} < ${source.before}`;
}

function entriesOf(source: SqlSource, names: ViewNames): string {
  if (source.kind === 'file') {
    const version = source.version === null ? 'version' : `CAST(${source.version} AS BIGINT) AS version`;
    return `SELECT key, ${version}, operation, value, metadata, created_at, updated_at, expires_at, doc_length, doc_extra_length FROM read_parquet(${source.entries})`;
  }
  return (
    `SELECT key, seq AS version, operation, value, metadata, created_at, updated_at, expires_at, doc_length, doc_extra_length ` +
    `FROM ${names.catalog}.main.tail_entries WHERE ${tailRange(source)} QUALIFY row_number() OVER (PARTITION BY key ORDER BY seq DESC) = 1`
  );
}

function keysOf(source: SqlSource, names: ViewNames): string {
  return source.kind === 'file'
    ? `SELECT key FROM read_parquet(${source.entries})`
    : `SELECT key FROM ${names.catalog}.main.tail_entries WHERE ${tailRange(source)}`;
}

function termsOf(source: SqlSource, names: ViewNames): string | null {
  if (source.kind === 'file') return source.terms === null ? null : `SELECT key, field, term, tf FROM read_parquet(${source.terms})`;
  return (
    `SELECT t.key, t.field, t.term, t.tf FROM ${names.catalog}.main.tail_terms AS t SEMI JOIN ` +
    `(SELECT key, max(seq) AS seq FROM ${names.catalog}.main.tail_entries WHERE ${tailRange(source)} GROUP BY key) AS l ` +
    'ON t.key = l.key AND t.seq = l.seq'
  );
}

/**
 * Each source's rows (from `select`) whose key no newer source holds. `tagged` adds `src`, the source's
 * position, so a merge can match terms to the entry rows that survived.
 */
function layered(sources: readonly SqlSource[], names: ViewNames, tagged: boolean, select: (source: SqlSource) => string | null): string | null {
  const parts: string[] = [];
  sources.forEach((source, index) => {
    const rows = select(source);
    if (rows === null) return;
    const tag = tagged ? `, ${index} AS src` : '';
    if (index === 0) {
      parts.push(`SELECT *${tag} FROM (${rows})`);
      return;
    }
    const newer = sources.slice(0, index).map((other) => keysOf(other, names)).join(' UNION ALL ');
    parts.push(`SELECT s.*${tag} FROM (${rows}) AS s ANTI JOIN (${newer}) AS n ON s.key = n.key`);
  });
  return parts.length === 0 ? null : parts.join('\nUNION ALL\n');
}

/** Every column of each key's newest row, tombstones included (`sources` must not be empty). */
export function latestRowsSql(sources: readonly SqlSource[], names: ViewNames, tagged = false): string {
  const rows = layered(sources, names, tagged, (source) => entriesOf(source, names));
  if (rows === null) throw new LTMError('query_error', 'internal: latestRowsSql needs at least one source');
  return rows;
}

/** Each live key's terms rows, from the source that holds its newest row. */
export function latestTermsSql(sources: readonly SqlSource[], names: ViewNames, tagged = false): string | null {
  return layered(sources, names, tagged, (source) => termsOf(source, names));
}

export function entriesViewSql(sources: readonly SqlSource[], names: ViewNames): string {
  return `SELECT key, value, metadata, created_at, updated_at, expires_at FROM (${latestRowsSql(sources, names)}) WHERE operation = 'put'`;
}

export function docsViewSql(sources: readonly SqlSource[], names: ViewNames): string {
  return (
    `SELECT key, doc_length AS length, doc_extra_length AS extra_length FROM (${latestRowsSql(sources, names)}) ` +
    "WHERE operation = 'put' AND doc_length IS NOT NULL"
  );
}

export function termsViewSql(sources: readonly SqlSource[], names: ViewNames): string {
  const rows = latestTermsSql(sources, names);
  return rows === null
    ? 'SELECT NULL::VARCHAR AS key, NULL::TINYINT AS field, NULL::VARCHAR AS term, NULL::INTEGER AS tf WHERE false'
    : `SELECT key, field, term, tf FROM (${rows})`;
}

/** The tables inline commits live in until a compaction folds them into a segment. */
export function tailTablesSql(names: ViewNames): string[] {
  return [
    `CREATE TABLE ${names.catalog}.main.tail_entries(seq BIGINT, key VARCHAR, operation VARCHAR, value JSON, metadata JSON, ` +
      'created_at TIMESTAMP, updated_at TIMESTAMP, expires_at TIMESTAMP, doc_length INTEGER, doc_extra_length INTEGER)',
    `CREATE TABLE ${names.catalog}.main.tail_terms(seq BIGINT, key VARCHAR, field TINYINT, term VARCHAR, tf INTEGER)`,
  ];
}

/** JSON rows of inline commits (with their `seq`) → tail rows; the JSON casts validate values. */
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
const TERM_JSON_SHAPE = JSON.stringify([{ seq: 'BIGINT', key: 'VARCHAR', field: 'TINYINT', term: 'VARCHAR', tf: 'INTEGER' }]);

export function insertTailEntriesSql(names: ViewNames): string {
  return (
    `INSERT INTO ${names.catalog}.main.tail_entries SELECT r.seq, r.key, r.operation, r.value::JSON, r.metadata::JSON, ` +
    'make_timestamp(r.created_at * 1000), make_timestamp(r.updated_at * 1000), make_timestamp(r.expires_at * 1000), ' +
    `r.doc_length, r.doc_extra_length FROM (SELECT unnest(from_json($1::JSON, '${ENTRY_JSON_SHAPE}'), recursive := true)) AS r`
  );
}

export function insertTailTermsSql(names: ViewNames): string {
  return (
    `INSERT INTO ${names.catalog}.main.tail_terms SELECT r.seq, r.key, r.field, r.term, r.tf ` +
    `FROM (SELECT unnest(from_json($1::JSON, '${TERM_JSON_SHAPE}'), recursive := true)) AS r`
  );
}

/** Counts the values and metadata of JSON rows that are not valid JSON (checked before a commit is written). */
export function invalidJsonCountSql(): string {
  return (
    'SELECT count(*) FILTER (WHERE (r.value IS NOT NULL AND NOT json_valid(r.value)) OR (r.metadata IS NOT NULL AND NOT json_valid(r.metadata))) AS invalid ' +
    `FROM (SELECT unnest(from_json($1::JSON, '${ENTRY_JSON_SHAPE}'), recursive := true)) AS r`
  );
}
