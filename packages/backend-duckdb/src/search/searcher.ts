/**
 * Search over the format's relations. With a query, the `bm25` engine (default) ranks by our incremental
 * index: from its in-memory copy (memory-index.ts) when the table has a single writer, else, or while
 * that copy is being built, by SQL over the `terms`/`docs` relations (bm25-sql.ts); both give fts's
 * `match_bm25` on the parity field plus the extra field's score. The `fts-extension` engine asks DuckDB's
 * fts extension itself (fts-extension.ts). Without a query, live entries newest first. Filters are
 * compiled to bound SQL and apply before the limit. The index rows a put needs are made here too
 * (`indexRowsOf`), so everything about search lives in this folder.
 */
import { LTMError, analyzeDocument, analyzeQuery, matchesFilter, parseMetadata } from '@ltm/core';
import type { DocRow, EntryRow, FilterCondition, JsonObject, JsonValue, RelationName, TermRow } from '@ltm/core';
import type { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { SqlParams, filterSql } from '../filter-sql.js';
import { liveCondition } from '../sql.js';
import { filteredSearchSql, rankedKeysSql } from './bm25-sql.js';
import { FtsExtensionEngine } from './fts-extension.js';
import { compareUtf8 } from './memory-index.js';
import type { MemoryIndex, RankedKey } from './memory-index.js';
import { MemorySource } from './memory-source.js';
import type { ChangeSource } from './memory-source.js';

export type { ChangeListener, ChangeSource } from './memory-source.js';

export type SearchEngineName = 'bm25' | 'fts-extension';

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

export interface SearcherOptions {
  engine: DuckDBQueryEngine;
  relation: (name: RelationName) => string;
  /** Searches with a query are allowed (`enableFts`). */
  fullText: boolean;
  searchEngine: SearchEngineName;
  /** Live entries of `keys`, `null` where there is none: the backend's read path (memtable, cache, DuckDB). */
  readEntries(keys: readonly string[], now: number): Promise<(EntryRow | null)[]>;
  /**
   * The table's acknowledged writes, when this process makes all of them (a single-writer format): the
   * index is then also kept in memory, up to date with every acknowledged write. Absent, every search
   * runs SQL over the index tables.
   */
  commits?: ChangeSource;
  /**
   * Brings the format's relations up to date with every acknowledged write. Called before every search
   * that reads them (SQL); a search answered from the in-memory index does not wait for it. Absent, the
   * caller keeps the relations up to date before searching.
   */
  catchUp?: () => Promise<unknown>;
  /** Bound of the in-memory index; past it the index is dropped and searches run SQL. 0 turns it off. */
  memoryMaxBytes: number;
  /** Where DuckDB finds the fts extension, for `fts-extension`. */
  extensionDirectory?: string | undefined;
}

/** Candidates checked against a filter at first; each further round takes four times more. */
const FIRST_FILTER_ROUND = 256;
/** A search retries when a write changed the index while it read entries; after this many, it uses SQL. */
const MEMORY_ATTEMPTS = 3;
/** Up to this many uncommitted writes, a search without a query merges them in rather than commit them. */
const MAX_MERGED_UNCOMMITTED = 1024;

export class Searcher {
  private readonly memory: MemorySource | null;
  private readonly fts: FtsExtensionEngine | null;

  constructor(private readonly options: SearcherOptions) {
    const useMemory = options.fullText && options.searchEngine === 'bm25' && options.commits !== undefined && options.memoryMaxBytes > 0;
    this.memory = useMemory
      ? MemorySource.for(options.commits as ChangeSource, options.engine, options.relation, options.memoryMaxBytes)
      : null;
    this.fts =
      options.fullText && options.searchEngine === 'fts-extension'
        ? new FtsExtensionEngine(options.engine, options.relation, options.extensionDirectory)
        : null;
  }

  /** Rows of the page at `offset`, plus one more when a next page exists. */
  async search(request: SearchRequest): Promise<SearchRow[]> {
    if (request.query === undefined) return this.listRecent(request);
    if (!this.options.fullText) {
      throw new LTMError('unsupported', 'full-text search is disabled (enableFts: false); search without a query, or open with enableFts: true');
    }
    if (this.fts) {
      await this.options.catchUp?.();
      return this.fts.search(request, (keys) => this.options.readEntries(keys, request.now));
    }
    const analyzed = analyzeQuery(request.query);
    // Only whitespace and ASCII punctuation: no term, so no document matches (fts agrees).
    if (analyzed.terms.length === 0 && analyzed.extraTerms.length === 0) return [];
    const index = (await this.memory?.ready()) ?? null;
    if (index) {
      const rows = await this.searchInMemory(index, analyzed.terms, analyzed.extraTerms, request);
      if (rows) return rows;
    }
    await this.options.catchUp?.();
    return this.searchSql(analyzed.terms, analyzed.extraTerms, request);
  }

  async close(): Promise<void> {
    await this.memory?.stop();
    await this.fts?.close();
  }

  // ---- bm25: in memory ------------------------------------------------------------------------

  /** `null` when commits kept changing the index under it: the caller falls back to SQL. */
  private async searchInMemory(
    index: MemoryIndex,
    parityTerms: string[],
    extraTerms: string[],
    request: SearchRequest,
  ): Promise<SearchRow[] | null> {
    const wanted = request.offset + request.limit + 1;
    for (let attempt = 0; attempt < MEMORY_ATTEMPTS; attempt++) {
      const rows =
        request.conditions.length === 0
          ? await this.pageInMemory(index, parityTerms, extraTerms, request, wanted)
          : await this.filteredInMemory(index, parityTerms, extraTerms, request, wanted);
      if (rows) return rows.slice(request.offset);
    }
    return null;
  }

  /**
   * The best `wanted` entries. Entries are read after ranking: when a commit changed the index meanwhile,
   * `null` (rank again). An entry deleted by a write not yet committed is left out, as SQL would too.
   */
  private async pageInMemory(
    index: MemoryIndex,
    parityTerms: string[],
    extraTerms: string[],
    request: SearchRequest,
    wanted: number,
  ): Promise<SearchRow[] | null> {
    const { ranked } = index.search(parityTerms, extraTerms, request.now, wanted);
    const version = index.version;
    const rows = await this.entriesOf(ranked, request.now);
    return index.version === version ? rows : null;
  }

  /**
   * Candidates best first, checked against the filter with core's `matchesFilter` on the metadata the
   * index holds (the reference the SQL filter compiler is tested against), a round at a time, until the
   * page is full or no candidate is left; then their entries are read like a page without filter.
   */
  private async filteredInMemory(
    index: MemoryIndex,
    parityTerms: string[],
    extraTerms: string[],
    request: SearchRequest,
    wanted: number,
  ): Promise<SearchRow[] | null> {
    const passing: RankedKey[] = [];
    let checked = 0;
    let round = Math.max(FIRST_FILTER_ROUND, wanted * 8);
    for (;;) {
      const { ranked, matched } = index.search(parityTerms, extraTerms, request.now, checked + round);
      for (const candidate of ranked.slice(checked)) {
        if (passing.length < wanted && matchesFilter(parseMetadata(candidate.metadata), request.conditions)) passing.push(candidate);
      }
      checked = ranked.length;
      if (passing.length >= wanted || checked >= matched) break;
      round *= 4;
    }
    const version = index.version;
    // A write acknowledged after the search began may have changed an entry's metadata since: check again.
    const rows = (await this.entriesOf(passing, request.now)).filter((row) => matchesFilter(parseMetadata(row.metadata), request.conditions));
    return index.version === version ? rows : null;
  }

  // ---- bm25: SQL ------------------------------------------------------------------------------

  private async searchSql(parityTerms: string[], extraTerms: string[], request: SearchRequest): Promise<SearchRow[]> {
    const { engine, relation } = this.options;
    const params = new SqlParams();
    const parts = {
      entries: relation('entries'),
      terms: relation('terms'),
      docs: relation('docs'),
      now: params.add(request.now),
      parityTerms: params.add(parityTerms),
      extraTerms: params.add(extraTerms),
      allTerms: params.add([...new Set([...parityTerms, ...extraTerms])]),
    };
    if (request.conditions.length > 0) {
      const filter = filterSql('e.metadata', request.conditions, params);
      const limit = params.add(request.limit + 1);
      const offset = params.add(request.offset);
      return engine.query<SearchRow>(filteredSearchSql({ ...parts, filter, limit, offset }), params.values);
    }
    const limit = params.add(request.limit + 1);
    const offset = params.add(request.offset);
    const ranked = await engine.query<RankedKey>(rankedKeysSql({ ...parts, limit, offset }), params.values);
    return this.entriesOf(ranked.map((r) => ({ key: r.key, score: Number(r.score) })), request.now);
  }

  /** The entries of ranked keys, in rank order; keys no longer live are left out. */
  private async entriesOf(ranked: readonly RankedKey[], now: number): Promise<SearchRow[]> {
    if (ranked.length === 0) return [];
    const entries = await this.options.readEntries(
      ranked.map((r) => r.key),
      now,
    );
    const rows: SearchRow[] = [];
    ranked.forEach((r, i) => {
      const entry = entries[i];
      if (entry) rows.push({ key: entry.key, value: entry.value, metadata: entry.metadata, updated_at: entry.updatedAt, score: r.score });
    });
    return rows;
  }

  // ---- no query -------------------------------------------------------------------------------

  /**
   * Live entries newest first. With the table's uncommitted writes at hand (a single-writer table), the
   * committed entries come from SQL without waiting for the applier, and the uncommitted ones are merged
   * in: they replace their keys' committed rows and pass the filter by core's `matchesFilter`, the
   * reference the SQL filter compiler is tested against.
   */
  private async listRecent(request: SearchRequest): Promise<SearchRow[]> {
    // Taken before the query starts: a key committed meanwhile is still in it, so it is never missed.
    const uncommitted = await this.options.commits?.uncommittedEntries();
    if (uncommitted === undefined || uncommitted.size > MAX_MERGED_UNCOMMITTED) {
      await this.options.catchUp?.();
      return this.recentSql(request, request.limit + 1, request.offset);
    }
    const wanted = request.offset + request.limit + 1;
    // Committed rows of uncommitted keys are dropped: fetch as many more.
    const rows = (await this.recentSql(request, wanted + uncommitted.size, 0)).filter((row) => !uncommitted.has(row.key));
    for (const entry of uncommitted.values()) {
      if (entry === null || (entry.expiresAt !== null && entry.expiresAt <= request.now)) continue;
      if (!matchesFilter(parseMetadata(entry.metadata), request.conditions)) continue;
      rows.push({ key: entry.key, value: entry.value, metadata: entry.metadata, updated_at: entry.updatedAt, score: 0 });
    }
    rows.sort((a, b) => Number(b.updated_at) - Number(a.updated_at) || compareUtf8(a.key, b.key));
    return rows.slice(request.offset, wanted);
  }

  private recentSql(request: SearchRequest, limit: number, offset: number): Promise<SearchRow[]> {
    const params = new SqlParams();
    const now = params.add(request.now);
    const sql = `SELECT key, value, metadata, epoch_ms(updated_at) AS updated_at, 0 AS score
      FROM ${this.options.relation('entries')} AS e
      WHERE ${liveCondition('e', now)} AND ${filterSql('e.metadata', request.conditions, params)}
      ORDER BY e.updated_at DESC, e.key
      LIMIT ${params.add(limit)} OFFSET ${params.add(offset)}`;
    return this.options.engine.query<SearchRow>(sql, params.values);
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
