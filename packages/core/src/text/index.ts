/**
 * Text analysis for search: what the BM25 index stores per entry and how a query is turned into terms.
 *
 * Two fields per entry. The **parity field** reproduces DuckDB's `fts` extension exactly (see `fts.ts`): our
 * scores equal `match_bm25` after `PRAGMA create_fts_index('t', 'key', 'value_text', 'metadata_text')` on a table
 * of the live entries' indexed texts. The **extra field** (see `extra.ts`) holds numbers and CJK character bigrams,
 * which fts drops or cannot split; its BM25 score is added to the parity score. The README section
 * "Search text analysis" of `@ltm/core` describes both with examples.
 */
export { indexedText, analyzeDocument, analyzeQuery } from './analyze.js';
export type { DocumentTerms, QueryTerms } from './analyze.js';
export { scoreBm25, BM25_K1, BM25_B } from './bm25.js';
export { ftsNormalize, ftsTokens, ftsDocumentTerms, ftsQueryTerms, porterStem } from './fts.js';
export { extraTerms } from './extra.js';
export { ENGLISH_STOPWORDS } from './stopwords.js';
