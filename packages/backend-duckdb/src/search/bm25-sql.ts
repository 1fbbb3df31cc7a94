/**
 * SQL for full-text search over the format's `terms` and `docs` relations: BM25 exactly as DuckDB's fts
 * `match_bm25` computes it over the parity field (field 0), plus the same formula over the extra field
 * (field 1: numbers, CJK bigrams) with that field's own statistics. Statistics count only live
 * entries, as a fresh `create_fts_index` over the live rows would.
 */
import { BM25_B, BM25_K1 } from '@ltm/core';
import { liveCondition } from '../sql.js';

export interface SearchSqlParts {
  entries: string;
  terms: string;
  docs: string;
  /** Placeholders, in order: now (epoch ms), parity terms (VARCHAR[]), extra terms (VARCHAR[]). */
  now: string;
  parityTerms: string;
  extraTerms: string;
  /** SQL condition on `e.metadata` (already parameterised). */
  filter: string;
  limit: string;
  offset: string;
}

export function bm25SearchSql(p: SearchSqlParts): string {
  // fts takes log() of its idf, and DuckDB's log() is base 10; k and b are fts's defaults.
  return `
WITH live AS (
  SELECT key FROM ${p.entries} AS e WHERE ${liveCondition('e', p.now)}
),
query_terms AS (
  SELECT DISTINCT 0 AS field, unnest(CAST(${p.parityTerms} AS VARCHAR[])) AS term
  UNION
  SELECT DISTINCT 1 AS field, unnest(CAST(${p.extraTerms} AS VARCHAR[])) AS term
),
docs AS (
  SELECT d.key, d.length, d.extra_length FROM ${p.docs} AS d SEMI JOIN live ON d.key = live.key
),
stats AS (
  SELECT count(*)::DOUBLE AS n, avg(length)::DOUBLE AS avgdl, avg(extra_length)::DOUBLE AS avgdl_extra FROM docs
),
postings AS (
  SELECT t.key, t.field, t.term, t.tf
  FROM ${p.terms} AS t
  SEMI JOIN query_terms AS q ON t.field = q.field AND t.term = q.term
  SEMI JOIN live ON t.key = live.key
),
df AS (
  SELECT field, term, count(*)::DOUBLE AS df FROM postings GROUP BY field, term
),
scores AS (
  SELECT postings.key,
    sum(
      log((stats.n - df.df + 0.5) / (df.df + 0.5) + 1)
      * (postings.tf * (${BM25_K1} + 1))
      / (postings.tf + ${BM25_K1} * (1 - ${BM25_B} + ${BM25_B} * (
          CASE WHEN postings.field = 0 THEN docs.length / stats.avgdl ELSE docs.extra_length / stats.avgdl_extra END)))
    ) AS score
  FROM postings
  JOIN df ON postings.field = df.field AND postings.term = df.term
  JOIN docs ON postings.key = docs.key
  CROSS JOIN stats
  GROUP BY postings.key
)
SELECT e.key, e.value, e.metadata, epoch_ms(e.updated_at) AS updated_at, scores.score
FROM scores JOIN ${p.entries} AS e ON e.key = scores.key
WHERE ${p.filter}
ORDER BY scores.score DESC, e.key
LIMIT ${p.limit} OFFSET ${p.offset}`;
}
