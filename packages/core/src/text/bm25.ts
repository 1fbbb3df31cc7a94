import type { DocumentTerms, QueryTerms } from './analyze.js';

/** fts's `match_bm25` defaults. */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/** Collection statistics and per-document frequencies of the query terms, for one field. */
class FieldScorer {
  private documentCount = 0;
  private totalLength = 0;
  private readonly documentFrequency = new Map<string, number>();
  /** document key -> (query term -> tf), only for documents with at least one query term */
  readonly matches = new Map<string, { length: number; tf: Map<string, number> }>();

  private readonly queryTerms: ReadonlySet<string>;

  constructor(queryTerms: readonly string[]) {
    this.queryTerms = new Set(queryTerms);
  }

  add(key: string, terms: Map<string, number>, length: number): void {
    this.documentCount++;
    this.totalLength += length;
    let tf: Map<string, number> | undefined;
    for (const term of this.queryTerms) {
      const count = terms.get(term);
      if (count === undefined) continue;
      tf ??= new Map();
      tf.set(term, count);
      this.documentFrequency.set(term, (this.documentFrequency.get(term) ?? 0) + 1);
    }
    if (tf !== undefined) this.matches.set(key, { length, tf });
  }

  /**
   * `match_bm25`'s formula, term by term:
   * `log10((N - df + 0.5) / (df + 0.5) + 1) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avgdl))`
   * with DuckDB's `log`, which is base 10, and `avgdl = sum(len) / N` over every document, empty ones included.
   */
  score(key: string): number {
    const match = this.matches.get(key);
    if (match === undefined) return 0;
    const n = this.documentCount;
    const averageLength = this.totalLength / n;
    let score = 0;
    for (const [term, tf] of match.tf) {
      const df = this.documentFrequency.get(term)!;
      const idf = Math.log10((n - df + 0.5) / (df + 0.5) + 1);
      // Same grouping as the SQL, so rounding matches too.
      score += idf * ((tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * (match.length / averageLength))));
    }
    return score;
  }
}

/**
 * BM25 scores of the documents that contain at least one query term, keyed like the input. `documents` must be
 * every live document, those without any term included, because they count in N and in the average length; pass
 * only live ones (expired or deleted entries would change both).
 *
 * The parity field reproduces `match_bm25` of DuckDB's fts extension (query terms distinct, tf and length counted
 * over value and metadata together, disjunctive matching). The extra field is scored by the same formula with its
 * own df, lengths and average length, and its score is added; a query without extra terms therefore gets exactly
 * the fts score.
 */
export function scoreBm25(
  query: QueryTerms,
  documents: Iterable<[key: string, doc: DocumentTerms]>,
): Map<string, number> {
  const scores = new Map<string, number>();
  if (query.terms.length === 0 && query.extraTerms.length === 0) return scores;
  const parity = new FieldScorer(query.terms);
  const extra = new FieldScorer(query.extraTerms);
  for (const [key, doc] of documents) {
    parity.add(key, doc.terms, doc.length);
    extra.add(key, doc.extraTerms, doc.extraLength);
  }
  for (const key of new Set([...parity.matches.keys(), ...extra.matches.keys()])) {
    scores.set(key, parity.score(key) + extra.score(key));
  }
  return scores;
}
