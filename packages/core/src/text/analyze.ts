import type { JsonObject, JsonValue } from '../json.js';
import { extraTerms } from './extra.js';
import { ftsDocumentTerms, ftsQueryTerms } from './fts.js';

/** What the search index keeps for one entry: term frequencies and lengths of both fields. */
export interface DocumentTerms {
  /** Parity field: stemmed fts term -> occurrences in value and metadata together. */
  terms: Map<string, number>;
  /** Number of parity terms (with repetitions), over value and metadata: fts's document `len`. */
  length: number;
  /** Extra field: number or CJK bigram -> occurrences. */
  extraTerms: Map<string, number>;
  extraLength: number;
}

/** The distinct terms of a query, per field. */
export interface QueryTerms {
  terms: string[];
  extraTerms: string[];
}

type Leaf = string | number;

/** String and number leaves in document order, without recursion so any nesting depth is safe. */
function leaves(root: JsonValue): Leaf[] {
  const found: Leaf[] = [];
  const pending: JsonValue[] = [root];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (typeof node === 'string' || typeof node === 'number') found.push(node);
    else if (Array.isArray(node)) for (let i = node.length - 1; i >= 0; i--) pending.push(node[i]!);
    else if (node !== null && typeof node === 'object') {
      const children = Object.values(node);
      for (let i = children.length - 1; i >= 0; i--) pending.push(children[i]!);
    }
  }
  return found;
}

/**
 * The indexed text of a value or of metadata: its string leaves (not object keys, not JSON syntax or escapes), in
 * document order, joined by spaces. Numbers, booleans and null are not part of it; numbers go to the extra field.
 * This is the `value_text` / `metadata_text` column of the parity definition.
 */
export function indexedText(value: JsonValue): string {
  return leaves(value)
    .filter((leaf): leaf is string => typeof leaf === 'string')
    .join(' ');
}

function countInto(counts: Map<string, number>, terms: readonly string[]): void {
  for (const term of terms) counts.set(term, (counts.get(term) ?? 0) + 1);
}

/**
 * The terms of one entry. Parity field: fts terms of `indexedText(value)` and `indexedText(metadata)`, counted
 * together (fts counts a term's frequency and a document's length over all indexed columns). Extra field: numbers
 * and CJK bigrams of every string leaf, and the numbers of every number leaf written as JSON (`3.5` gives `3` and
 * `5`, `1e21` is written `1e+21` and gives `1` and `21`).
 */
export function analyzeDocument(value: JsonValue, metadata: JsonObject): DocumentTerms {
  const terms = new Map<string, number>();
  const extra = new Map<string, number>();
  let length = 0;
  let extraLength = 0;
  for (const leaf of [...leaves(value), ...leaves(metadata)]) {
    if (typeof leaf === 'string') {
      const parity = ftsDocumentTerms(leaf);
      countInto(terms, parity);
      length += parity.length;
    }
    const numbersAndBigrams = extraTerms(typeof leaf === 'string' ? leaf : JSON.stringify(leaf));
    countInto(extra, numbersAndBigrams);
    extraLength += numbersAndBigrams.length;
  }
  return { terms, length, extraTerms: extra, extraLength };
}

/**
 * The terms of a search query: distinct stemmed fts tokens (not stop-word filtered, as in fts) and distinct extra
 * terms. A query made only of whitespace and ASCII punctuation has no terms and matches nothing; a stop word stays
 * a term, which matches only documents where another word has the same stem (see `ftsQueryTerms`).
 */
export function analyzeQuery(query: string): QueryTerms {
  return { terms: ftsQueryTerms(query), extraTerms: [...new Set(extraTerms(query))] };
}
