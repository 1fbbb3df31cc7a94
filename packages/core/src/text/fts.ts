/**
 * The parity field: the tokenizer of DuckDB's `fts` extension (duckdb-fts `fts_indexing.cpp`, the build DuckDB
 * v1.5.x loads) with the defaults of `PRAGMA create_fts_index`, rebuilt step by step so our terms are the terms
 * fts would put in its `terms` table:
 *
 * 1. `strip_accents(s)`: utf8proc with `COMPOSE | STRIPMARK`, i.e. canonical decomposition, removal of every
 *    combining mark (general categories Mn, Mc, Me), canonical composition. ASCII text is returned as is.
 * 2. `lower(...)`: utf8proc's simple, per-code-point lower-case mapping (no context, no language rules).
 * 3. `regexp_replace(..., '[0-9!@#$%^&*()_+={}\[\]:;<>,.?~\\/\|'"`-]+', ' ', 'g')`: ASCII digits and that ASCII
 *    punctuation become spaces; every other character (including non-ASCII punctuation, emoji, `’`) stays.
 * 4. `string_split_regex(..., '\s+')`: RE2's `\s` is `[\t\n\f\r ]` only, so no-break and ideographic spaces
 *    do not split.
 * 5. Empty tokens are dropped; when indexing, so are tokens in the SMART English stop-word list (compared before
 *    stemming).
 * 6. `stem(token, 'porter')`: Snowball's `porter` algorithm.
 */
import { createRequire } from 'node:module';
import { ENGLISH_STOPWORDS } from './stopwords.js';

/** The default `ignore` pattern of `create_fts_index`, as a JavaScript regular expression with the same set. */
const IGNORE = /[0-9!@#$%^&*()_+={}[\]:;<>,.?~\\\/|'"`-]+/g;
/** RE2's `\s`. */
const RE2_WHITESPACE = /[\t\n\f\r ]+/;
const NON_ASCII = /[^\x00-\x7f]/;
const COMBINING_MARKS = /\p{M}+/gu;
const CAPITAL_SIGMA = /\u03a3/g;
const CAPITAL_I_WITH_DOT = /\u0130/g;
/**
 * Characters that DuckDB leaves as they are but JavaScript would change: marks and cased letters added in
 * Unicode 16.0 and 17.0, which DuckDB's utf8proc 2.9 (Unicode 15.1) does not know, so it neither strips nor
 * lower-cases them. None is in common use. The parity test compares every code point with DuckDB, so a Node.js
 * whose ICU brings a newer Unicode shows here what to add.
 */
const UNKNOWN_TO_DUCKDB =
  /([\u{897}\u{1acf}-\u{1add}\u{1ae0}-\u{1aeb}\u{1c89}\u{a7cb}-\u{a7cc}\u{a7ce}\u{a7d2}\u{a7d4}\u{a7da}\u{a7dc}\u{105c9}\u{105e4}\u{10d50}-\u{10d65}\u{10d69}-\u{10d6d}\u{10efa}-\u{10efc}\u{11383}\u{11385}\u{1138e}\u{11391}\u{113b8}-\u{113c0}\u{113c2}\u{113c5}\u{113c7}-\u{113ca}\u{113cc}-\u{113d0}\u{113d2}\u{113e1}-\u{113e2}\u{11b60}-\u{11b67}\u{11f5a}\u{1611e}-\u{1612f}\u{16ea0}-\u{16eb8}\u{1e5ee}-\u{1e5ef}\u{1e6e3}\u{1e6e6}\u{1e6ee}-\u{1e6ef}\u{1e6f5}])/u;

/** `lower(strip_accents(text))` exactly as DuckDB computes it. */
export function ftsNormalize(text: string): string {
  if (!NON_ASCII.test(text)) return text.toLowerCase();
  if (!UNKNOWN_TO_DUCKDB.test(text)) return normalizeKnown(text);
  // Odd parts are the captured unknown characters. utf8proc treats them as starters that nothing composes with,
  // so normalizing the parts between them separately gives the same result.
  return text
    .split(UNKNOWN_TO_DUCKDB)
    .map((part, index) => (index % 2 === 1 ? part : normalizeKnown(part)))
    .join('');
}

function normalizeKnown(text: string): string {
  const stripped = text.normalize('NFD').replace(COMBINING_MARKS, '').normalize('NFC');
  // String.prototype.toLowerCase applies two rules utf8proc's per-code-point mapping does not: a capital sigma at
  // the end of a word becomes a final sigma, and U+0130 becomes two code points. Mapping those two first leaves
  // exactly the simple mappings.
  return stripped.replace(CAPITAL_SIGMA, '\u03c3').replace(CAPITAL_I_WITH_DOT, 'i').toLowerCase();
}

/** fts's `tokenize` macro: the normalized text split into tokens, empty tokens removed. */
export function ftsTokens(text: string): string[] {
  return ftsNormalize(text)
    .replace(IGNORE, ' ')
    .split(RE2_WHITESPACE)
    .filter((token) => token.length > 0);
}

interface SnowballStemmer {
  stem(word: string): string;
}

let porter: SnowballStemmer | undefined;
// Text repeats its words, and stemming one costs a few microseconds; the cache is cleared when full so that
// arbitrary text cannot grow it without bound.
const STEM_CACHE_LIMIT = 65_536;
const stemCache = new Map<string, string>();

/**
 * DuckDB's `stem(word, 'porter')`. The `snowball-stemmers` package is generated from the same Snowball source
 * (`porter.sbl`) as the libstemmer DuckDB links; `packages/backend-duckdb/test/parity/stemmer.test.ts` checks the
 * two agree. It is loaded on first use, so importing `@ltm/core` does not pay for its 24 stemmers.
 */
export function porterStem(word: string): string {
  let stem = stemCache.get(word);
  if (stem === undefined) {
    porter ??= (createRequire(import.meta.url)('snowball-stemmers') as { newStemmer(name: string): SnowballStemmer })
      .newStemmer('porter');
    stem = porter.stem(word);
    if (stemCache.size >= STEM_CACHE_LIMIT) stemCache.clear();
    stemCache.set(word, stem);
  }
  return stem;
}

/** The terms fts indexes for a text: tokens, minus stop words, stemmed. */
export function ftsDocumentTerms(text: string): string[] {
  const terms: string[] = [];
  for (const token of ftsTokens(text)) {
    if (!ENGLISH_STOPWORDS.has(token)) terms.push(porterStem(token));
  }
  return terms;
}

/**
 * The distinct terms `match_bm25` looks up for a query: tokens stemmed, without stop-word filtering (fts does not
 * filter queries). A stop word's stem rarely matches anything, since documents never index stop words, but it can:
 * the query `the` finds a document with the word `thes`, which also stems to `the`. Parity keeps that.
 */
export function ftsQueryTerms(query: string): string[] {
  return [...new Set(ftsTokens(query).map(porterStem))];
}
