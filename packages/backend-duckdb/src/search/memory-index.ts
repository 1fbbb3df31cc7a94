/**
 * The BM25 index of one table held in process memory: the same postings and document lengths as the
 * format's `terms` and `docs` relations, kept in step with every commit, so a search reads a few posting
 * lists instead of scanning the postings table. Scores are those of the SQL in bm25-sql.ts (fts's
 * `match_bm25` on the parity field, plus the extra field), over the entries live at the search's `now`.
 *
 * Layout: documents get increasing numbers (never reused, so a stale posting can never point at another
 * document); each term has a posting list of (document, tf) in typed arrays; each document keeps the ids of
 * its terms, so deleting it decrements the document frequencies it contributed. Deleted documents leave
 * their postings behind until a list is mostly dead, when it is compacted; when most document numbers are
 * dead, everything is renumbered.
 */
import { BM25_B, BM25_K1 } from '@ltm/core';
import type { CommitBatch, DocRow, TermRow } from '@ltm/core';

export interface RankedKey {
  key: string;
  score: number;
}

/** A ranked document with its metadata (JSON text, `null` for none), so filters need no query. */
export interface RankedDocument extends RankedKey {
  metadata: string | null;
}

interface Postings {
  docs: Int32Array;
  tfs: Int32Array;
  /** Entries used in `docs`/`tfs`, dead documents included. */
  size: number;
  /** Live documents in the list: the term's document frequency. */
  df: number;
}

/**
 * Bytes per posting (two int32s with growth slack, plus the document's term id), per document (key, arrays,
 * map entry) and per term; with the metadata text this matched the 105 MB measured for 100k bench memories.
 */
const BYTES_PER_POSTING = 20;
const BYTES_PER_DOCUMENT = 300;
const BYTES_PER_TERM = 150;

export class MemoryIndex {
  /** Bumped by every change, so a caller can tell whether the index moved while it awaited something. */
  version = 0;

  private keys: (string | undefined)[] = [];
  private metadata: (string | null | undefined)[] = [];
  private metadataChars = 0;
  private lengths = new Int32Array(1024);
  private extraLengths = new Int32Array(1024);
  private expires = new Float64Array(1024);
  private alive = new Uint8Array(1024);
  private termsOfDoc: (Int32Array | undefined)[] = [];
  private nextDoc = 0;
  private readonly docOfKey = new Map<string, number>();

  private readonly termIds: [Map<string, number>, Map<string, number>] = [new Map(), new Map()];
  private postings: Postings[] = [];
  private physicalPostings = 0;

  private live = 0;
  private sumLength = 0;
  private sumExtraLength = 0;
  private readonly expiry = new ExpiryHeap();
  private scores = new Float64Array(0);

  /** An estimate of the memory held, for the configured bound. */
  get approximateBytes(): number {
    return (
      this.physicalPostings * BYTES_PER_POSTING +
      this.nextDoc * BYTES_PER_DOCUMENT +
      this.postings.length * BYTES_PER_TERM +
      this.metadataChars * 2
    );
  }

  get documentCount(): number {
    return this.live;
  }

  /** Adds one document (replacing the key's previous one). `terms` are the rows of this key only. */
  put(doc: DocRow, expiresAt: number | null, metadata: string | null, terms: readonly TermRow[]): void {
    this.remove(doc.key);
    const id = this.nextDoc++;
    this.ensureDocCapacity(id + 1);
    this.keys[id] = doc.key;
    this.metadata[id] = metadata;
    this.metadataChars += metadata?.length ?? 0;
    this.lengths[id] = doc.length;
    this.extraLengths[id] = doc.extraLength;
    this.expires[id] = expiresAt ?? Number.POSITIVE_INFINITY;
    this.alive[id] = 1;
    const ids = new Int32Array(terms.length);
    terms.forEach((row, i) => {
      const termId = this.termId(row.field, row.term);
      ids[i] = termId;
      this.appendPosting(termId, id, row.tf);
    });
    this.termsOfDoc[id] = ids;
    this.docOfKey.set(doc.key, id);
    this.live += 1;
    this.sumLength += doc.length;
    this.sumExtraLength += doc.extraLength;
    if (expiresAt !== null) this.expiry.push(expiresAt, id);
    this.version += 1;
  }

  remove(key: string): void {
    const id = this.docOfKey.get(key);
    if (id !== undefined) this.kill(id);
  }

  /** Applies a committed batch: the puts' index rows replace their keys' documents; deletes remove. */
  apply(batch: CommitBatch): void {
    for (const key of batch.deletes) this.remove(key);
    const termsByKey = new Map<string, TermRow[]>();
    for (const row of batch.terms ?? []) {
      const rows = termsByKey.get(row.key);
      if (rows) rows.push(row);
      else termsByKey.set(row.key, [row]);
    }
    const docByKey = new Map((batch.docs ?? []).map((doc) => [doc.key, doc]));
    for (const put of batch.puts) {
      const doc = docByKey.get(put.key);
      // A put without index rows leaves the key out of the index, as it is out of the docs relation.
      if (doc === undefined) this.remove(put.key);
      else this.put(doc, put.expiresAt, put.metadata, termsByKey.get(put.key) ?? []);
    }
    this.version += 1;
    this.maybeRenumber();
  }

  // Loading from the relations: every document first, then each term's postings, then finishLoad().
  private loading: number[][] = [];

  /** Adds a document while loading; returns its number. */
  loadDocument(doc: DocRow, expiresAt: number | null, metadata: string | null): number {
    this.put(doc, expiresAt, metadata, []);
    return this.nextDoc - 1;
  }

  /** Adds a term's posting list while loading (documents by the numbers loadDocument returned). */
  loadPostings(field: 0 | 1, term: string, docs: readonly number[], tfs: readonly number[]): void {
    const termId = this.termId(field, term);
    const list = this.postings[termId] as Postings;
    if (list.docs.length - list.size < docs.length) {
      // Exactly the room needed: a list loaded whole does not grow by doubling.
      const grown = new Int32Array(list.size + docs.length);
      const tfsGrown = new Int32Array(grown.length);
      grown.set(list.docs.subarray(0, list.size));
      tfsGrown.set(list.tfs.subarray(0, list.size));
      list.docs = grown;
      list.tfs = tfsGrown;
    }
    for (let i = 0; i < docs.length; i++) {
      const doc = docs[i] as number;
      this.appendPosting(termId, doc, tfs[i] as number);
      (this.loading[doc] ??= []).push(termId);
    }
  }

  finishLoad(): void {
    this.loading.forEach((termIds, doc) => {
      this.termsOfDoc[doc] = Int32Array.from(termIds);
    });
    this.loading = [];
    this.version += 1;
  }

  /**
   * The best `count` live documents for the query terms at `now`, best first (score descending, then key
   * in UTF-8 byte order, as `ORDER BY score DESC, key` sorts), and how many documents matched.
   */
  search(parityTerms: readonly string[], extraTerms: readonly string[], now: number, count: number): { ranked: RankedDocument[]; matched: number } {
    this.expireUntil(now);
    if (this.live === 0 || count <= 0) return { ranked: [], matched: 0 };
    this.maybeRenumber();
    if (this.scores.length < this.nextDoc) this.scores = new Float64Array(this.lengths.length);
    const scores = this.scores;
    const touched: number[] = [];
    const n = this.live;
    const fields: [readonly string[], number, Int32Array][] = [
      [parityTerms, this.sumLength / n, this.lengths],
      [extraTerms, this.sumExtraLength / n, this.extraLengths],
    ];
    fields.forEach(([terms, averageLength, lengths], field) => {
      for (const term of new Set(terms)) {
        const termId = this.termIds[field as 0 | 1].get(term);
        if (termId === undefined) continue;
        const list = this.compacted(termId);
        if (list.df === 0) continue;
        // fts's idf, with DuckDB's log(), which is base 10.
        const idf = Math.log10((n - list.df + 0.5) / (list.df + 0.5) + 1);
        for (let i = 0; i < list.size; i++) {
          const doc = list.docs[i] as number;
          if (this.alive[doc] === 0) continue;
          const tf = list.tfs[i] as number;
          const normalized = (lengths[doc] as number) / averageLength;
          const add = idf * ((tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * normalized)));
          // Every term adds a positive amount, so 0 means "not seen yet".
          if (scores[doc] === 0) touched.push(doc);
          scores[doc] = (scores[doc] as number) + add;
        }
      }
    });
    const better = (a: number, b: number): boolean => {
      const sa = scores[a] as number;
      const sb = scores[b] as number;
      return sa > sb || (sa === sb && compareUtf8(this.keys[a] as string, this.keys[b] as string) < 0);
    };
    const best = selectBest(touched, count, better);
    const ranked = best.map((doc) => ({ key: this.keys[doc] as string, score: scores[doc] as number, metadata: this.metadata[doc] ?? null }));
    for (const doc of touched) scores[doc] = 0;
    return { ranked, matched: touched.length };
  }

  /** Documents whose expiry has passed leave the index: they are not live for this or any later search. */
  private expireUntil(now: number): void {
    for (;;) {
      const top = this.expiry.peek();
      if (top === undefined || top.at > now) return;
      this.expiry.pop();
      if (this.alive[top.doc] === 1 && this.expires[top.doc] === top.at) this.kill(top.doc);
    }
  }

  private kill(id: number): void {
    if (this.alive[id] === 0) return;
    this.alive[id] = 0;
    const key = this.keys[id] as string;
    if (this.docOfKey.get(key) === id) this.docOfKey.delete(key);
    this.keys[id] = undefined;
    this.metadataChars -= this.metadata[id]?.length ?? 0;
    this.metadata[id] = undefined;
    this.live -= 1;
    this.sumLength -= this.lengths[id] as number;
    this.sumExtraLength -= this.extraLengths[id] as number;
    for (const termId of this.termsOfDoc[id] ?? []) (this.postings[termId] as Postings).df -= 1;
    this.termsOfDoc[id] = undefined;
    this.version += 1;
  }

  private appendPosting(termId: number, doc: number, tf: number): void {
    const list = this.postings[termId] as Postings;
    if (list.size === list.docs.length) {
      const docs = new Int32Array(Math.max(4, list.size * 2));
      const tfs = new Int32Array(docs.length);
      docs.set(list.docs);
      tfs.set(list.tfs);
      list.docs = docs;
      list.tfs = tfs;
    }
    list.docs[list.size] = doc;
    list.tfs[list.size] = tf;
    list.size += 1;
    list.df += 1;
    this.physicalPostings += 1;
  }

  private termId(field: 0 | 1, term: string): number {
    const ids = this.termIds[field];
    let id = ids.get(term);
    if (id === undefined) {
      id = this.postings.length;
      this.postings.push({ docs: new Int32Array(4), tfs: new Int32Array(4), size: 0, df: 0 });
      ids.set(term, id);
    }
    return id;
  }

  /** The term's list, with dead documents dropped first when they are the majority. */
  private compacted(termId: number): Postings {
    const list = this.postings[termId] as Postings;
    if (list.size < 16 || list.df * 2 > list.size) return list;
    let kept = 0;
    for (let i = 0; i < list.size; i++) {
      const doc = list.docs[i] as number;
      if (this.alive[doc] === 0) continue;
      list.docs[kept] = doc;
      list.tfs[kept] = list.tfs[i] as number;
      kept += 1;
    }
    this.physicalPostings -= list.size - kept;
    list.size = kept;
    return list;
  }

  /** Renumbers the documents once most numbers are dead, so the per-document arrays stay proportional. */
  private maybeRenumber(): void {
    if (this.nextDoc < 1024 || this.live * 2 > this.nextDoc) return;
    const renumber = new Int32Array(this.nextDoc).fill(-1);
    let next = 0;
    for (let id = 0; id < this.nextDoc; id++) if (this.alive[id] === 1) renumber[id] = next++;
    const keys: (string | undefined)[] = new Array<string | undefined>(next);
    const metadata: (string | null | undefined)[] = new Array<string | null | undefined>(next);
    const termsOfDoc: (Int32Array | undefined)[] = new Array<Int32Array | undefined>(next);
    const capacity = Math.max(1024, next * 2);
    const lengths = new Int32Array(capacity);
    const extraLengths = new Int32Array(capacity);
    const expires = new Float64Array(capacity);
    const alive = new Uint8Array(capacity);
    for (let id = 0; id < this.nextDoc; id++) {
      const to = renumber[id] as number;
      if (to < 0) continue;
      keys[to] = this.keys[id];
      metadata[to] = this.metadata[id];
      termsOfDoc[to] = this.termsOfDoc[id];
      lengths[to] = this.lengths[id] as number;
      extraLengths[to] = this.extraLengths[id] as number;
      expires[to] = this.expires[id] as number;
      alive[to] = 1;
      this.docOfKey.set(this.keys[id] as string, to);
    }
    this.physicalPostings = 0;
    for (const list of this.postings) {
      let kept = 0;
      for (let i = 0; i < list.size; i++) {
        const to = renumber[list.docs[i] as number] as number;
        if (to < 0) continue;
        list.docs[kept] = to;
        list.tfs[kept] = list.tfs[i] as number;
        kept += 1;
      }
      list.size = kept;
      this.physicalPostings += kept;
    }
    this.expiry.renumber(renumber);
    Object.assign(this, { keys, metadata, termsOfDoc, lengths, extraLengths, expires, alive, nextDoc: next });
    this.scores = new Float64Array(0);
  }

  private ensureDocCapacity(size: number): void {
    if (size <= this.lengths.length) return;
    const capacity = Math.max(size, this.lengths.length * 2);
    const grow = <T extends Int32Array | Float64Array | Uint8Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.lengths = grow(this.lengths, (c) => new Int32Array(c));
    this.extraLengths = grow(this.extraLengths, (c) => new Int32Array(c));
    this.expires = grow(this.expires, (c) => new Float64Array(c));
    this.alive = grow(this.alive, (c) => new Uint8Array(c));
  }
}

/** Keys of documents with an expiry, smallest expiry first. */
class ExpiryHeap {
  private at: number[] = [];
  private doc: number[] = [];

  push(at: number, doc: number): void {
    this.at.push(at);
    this.doc.push(doc);
    let i = this.at.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.at[parent] as number) <= at) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  peek(): { at: number; doc: number } | undefined {
    return this.at.length === 0 ? undefined : { at: this.at[0] as number, doc: this.doc[0] as number };
  }

  pop(): void {
    const last = this.at.length - 1;
    this.swap(0, last);
    this.at.pop();
    this.doc.pop();
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < this.at.length && (this.at[left] as number) < (this.at[smallest] as number)) smallest = left;
      if (right < this.at.length && (this.at[right] as number) < (this.at[smallest] as number)) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  /** Maps document numbers after a renumbering, dropping entries of dead documents (order is kept). */
  renumber(map: Int32Array): void {
    const at: number[] = [];
    const doc: number[] = [];
    this.at.forEach((value, i) => {
      const to = map[this.doc[i] as number] as number;
      if (to >= 0) {
        at.push(value);
        doc.push(to);
      }
    });
    this.at = [];
    this.doc = [];
    at.forEach((value, i) => this.push(value, doc[i] as number));
  }

  private swap(a: number, b: number): void {
    [this.at[a], this.at[b]] = [this.at[b] as number, this.at[a] as number];
    [this.doc[a], this.doc[b]] = [this.doc[b] as number, this.doc[a] as number];
  }
}

/**
 * Compares two strings in UTF-8 byte order (DuckDB's order for VARCHAR), which differs from JavaScript's
 * UTF-16 order only between a surrogate pair (a code point above U+FFFF) and a code unit U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** The `count` best of `items` (by `better`), best first: a bounded heap, then a sort of what it kept. */
function selectBest(items: number[], count: number, better: (a: number, b: number) => boolean): number[] {
  const order = (a: number, b: number): number => (better(a, b) ? -1 : better(b, a) ? 1 : 0);
  if (items.length <= count * 4) return items.sort(order).slice(0, count);
  // A heap whose root is the worst item kept.
  const heap: number[] = [];
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let worst = i;
      if (left < heap.length && better(heap[worst] as number, heap[left] as number)) worst = left;
      if (right < heap.length && better(heap[worst] as number, heap[right] as number)) worst = right;
      if (worst === i) return;
      [heap[i], heap[worst]] = [heap[worst] as number, heap[i] as number];
      i = worst;
    }
  };
  for (const item of items) {
    if (heap.length < count) {
      heap.push(item);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!better(heap[parent] as number, heap[i] as number)) break;
        [heap[i], heap[parent]] = [heap[parent] as number, heap[i] as number];
        i = parent;
      }
    } else if (better(item, heap[0] as number)) {
      heap[0] = item;
      siftDown(0);
    }
  }
  return heap.sort(order);
}
