/**
 * Search over the format's relations: with a query, the incremental BM25 index (fts parity, see
 * bm25-sql.ts); without one, live entries newest first. Filters are compiled to bound SQL and apply
 * before the limit. The index rows a put needs are made here too (`indexRowsOf`), so everything about
 * search lives in this folder.
 */
import { LTMError, analyzeDocument, analyzeQuery } from '@ltm/core';
import type { DocRow, EntryRow, FilterCondition, JsonObject, JsonValue, RelationName, TermRow } from '@ltm/core';
import type { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { SqlParams, filterSql } from '../filter-sql.js';
import { liveCondition } from '../sql.js';
import { bm25SearchSql } from './bm25-sql.js';

export interface SearchRequest {
  query: string | undefined;
  conditions: readonly FilterCondition[];
  limit: number;
  offset: number;
  now: number;
}

/** Search index rows for one entry, written in the same commit as the entry. */
export interface IndexRows {
  terms: TermRow[];
  doc: DocRow;
}

export interface SearchRow {
  key: string;
  value: string;
  metadata: string | null;
  updated_at: number;
  score: number;
}

export class Searcher {
  constructor(
    private readonly engine: DuckDBQueryEngine,
    private readonly relation: (name: RelationName) => string,
    private readonly fullText: boolean,
  ) {}

  /** Rows of the page at `offset`, plus one more when a next page exists. */
  async search(request: SearchRequest): Promise<SearchRow[]> {
    const params = new SqlParams();
    let sql: string;
    if (request.query !== undefined) {
      if (!this.fullText) {
        throw new LTMError('unsupported', 'full-text search is disabled (enableFts: false); search without a query, or open with enableFts: true');
      }
      const analyzed = analyzeQuery(request.query);
      if (analyzed.terms.length === 0 && analyzed.extraTerms.length === 0) return [];
      sql = bm25SearchSql({
        entries: this.relation('entries'),
        terms: this.relation('terms'),
        docs: this.relation('docs'),
        now: params.add(request.now),
        parityTerms: params.add(analyzed.terms),
        extraTerms: params.add(analyzed.extraTerms),
        filter: filterSql('e.metadata', request.conditions, params),
        limit: params.add(request.limit + 1),
        offset: params.add(request.offset),
      });
    } else {
      const now = params.add(request.now);
      sql = `SELECT key, value, metadata, epoch_ms(updated_at) AS updated_at, 0 AS score
        FROM ${this.relation('entries')} AS e
        WHERE ${liveCondition('e', now)} AND ${filterSql('e.metadata', request.conditions, params)}
        ORDER BY e.updated_at DESC, e.key
        LIMIT ${params.add(request.limit + 1)} OFFSET ${params.add(request.offset)}`;
    }
    return this.engine.query<SearchRow>(sql, params.values);
  }
}

/**
 * The index rows of a put. The index is kept whether or not this backend searches with a query
 * (`enableFts`), so that any later opener of the table finds it complete.
 */
export function indexRowsOf(row: EntryRow): IndexRows {
  const analyzed = analyzeDocument(JSON.parse(row.value) as JsonValue, JSON.parse(row.metadata) as JsonObject);
  const terms: TermRow[] = [];
  for (const [term, tf] of analyzed.terms) terms.push({ key: row.key, field: 0, term, tf });
  for (const [term, tf] of analyzed.extraTerms) terms.push({ key: row.key, field: 1, term, tf });
  return { terms, doc: { key: row.key, length: analyzed.length, extraLength: analyzed.extraLength } };
}
