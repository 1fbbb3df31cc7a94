/**
 * SQL for full-text search over any format's `entries`, `terms` and `docs` relations: BM25 exactly as
 * DuckDB's fts `match_bm25` computes it over the parity field (field 0), plus the same formula over the
 * extra field (field 1: numbers, CJK bigrams) with that field's own statistics. Statistics count only the
 * entries live at `now`, as a fresh `create_fts_index` over the live rows would.
 *
 * What it avoids (measured on 100k bench memories, 2.3M postings): joining every posting and every
 * document with the live entries (190 ms). Only a few entries are expired but not yet removed at any
 * time, so they are found from `expires_at` alone and subtracted (anti-joins against that small set);
 * the postings table is read once, filtered on its `term` column with one list lookup per row, and its
 * document frequencies come from the same rows (45 ms). That scan is what remains, which is why
 * single-writer stores answer from the in-memory index (memory-index.ts) instead.
 *
 * On a Parquet store (@ltm/format-parquet) the postings are segments sorted by term, and a search must read
 * only the row groups that can hold its terms. `term = ANY($terms)` is what DuckDB turns into a semi join
 * whose `term IN (...)` dynamic filter reaches every terms scan and skips row groups by their min/max
 * statistics (`list_contains` is never pushed down). `postings` is MATERIALIZED: inlined into both of its
 * uses, one copy loses that filter and reads every row group (test/oracle/parquet-pruning.test.ts wrecks the
 * other row groups to prove it). The format serves `docs` from memory, and `expires_at <= now` is answered
 * from the entries files' footers unless some row group holds TTLs.
 */
import { BM25_B, BM25_K1 } from '@ltm/core';
import { liveCondition } from '../sql.js';

export interface ScoreSqlParts {
  entries: string;
  terms: string;
  docs: string;
  /** Placeholders: now (epoch ms), parity terms, extra terms, and both together (VARCHAR[] each). */
  now: string;
  parityTerms: string;
  extraTerms: string;
  allTerms: string;
}

/** A `WITH` clause ending in `scores(key, score)`: every live document with at least one query term. */
function scoresCte(p: ScoreSqlParts): string {
  // fts takes log() of its idf, and DuckDB's log() is base 10; k and b are fts's defaults.
  return `
WITH expired AS (
  SELECT key FROM ${p.entries} AS x WHERE NOT ${liveCondition('x', p.now)}
),
postings AS MATERIALIZED (
  SELECT t.key, t.field, t.term, t.tf FROM ${p.terms} AS t
  WHERE t.term = ANY(CAST(${p.allTerms} AS VARCHAR[]))
    AND CASE WHEN t.field = 0 THEN list_contains(CAST(${p.parityTerms} AS VARCHAR[]), t.term)
             ELSE list_contains(CAST(${p.extraTerms} AS VARCHAR[]), t.term) END
    AND t.key NOT IN (SELECT key FROM expired)
),
stats AS (
  SELECT count(*)::DOUBLE AS n, avg(length)::DOUBLE AS avgdl, avg(extra_length)::DOUBLE AS avgdl_extra
  FROM ${p.docs} AS d WHERE d.key NOT IN (SELECT key FROM expired)
),
df AS (
  SELECT field, term, count(*)::DOUBLE AS df FROM postings GROUP BY field, term
),
scores AS (
  SELECT p.key,
    sum(
      log((stats.n - df.df + 0.5) / (df.df + 0.5) + 1)
      * (p.tf * (${BM25_K1} + 1))
      / (p.tf + ${BM25_K1} * (1 - ${BM25_B} + ${BM25_B} * (
          CASE WHEN p.field = 0 THEN d.length / stats.avgdl ELSE d.extra_length / stats.avgdl_extra END)))
      -- A fixed order of addition: a parallel sum could round identical documents differently and break ties.
      ORDER BY p.field, p.term
    ) AS score
  FROM postings AS p
  JOIN df ON p.field = df.field AND p.term = df.term
  JOIN ${p.docs} AS d ON d.key = p.key
  CROSS JOIN stats
  GROUP BY p.key
)`;
}

/**
 * Keys and scores of one page, best first (ties by key). The caller reads the entries of those few keys
 * by primary key afterwards: joining here would scan every entry's key.
 */
export function rankedKeysSql(p: ScoreSqlParts & { limit: string; offset: string }): string {
  return `${scoresCte(p)}
SELECT key, score FROM scores ORDER BY score DESC, key LIMIT ${p.limit} OFFSET ${p.offset}`;
}

/** One page of entries that match the filter (on `e.metadata`), best first: the filter applies before the limit. */
export function filteredSearchSql(p: ScoreSqlParts & { filter: string; limit: string; offset: string }): string {
  return `${scoresCte(p)}
SELECT e.key, e.value, e.metadata, epoch_ms(e.updated_at) AS updated_at, scores.score
FROM scores JOIN ${p.entries} AS e ON e.key = scores.key
WHERE ${p.filter}
ORDER BY scores.score DESC, e.key
LIMIT ${p.limit} OFFSET ${p.offset}`;
}
