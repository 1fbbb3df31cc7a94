// The in-memory index against core's scoreBm25 (proven equal to fts) through many rewrites of few keys, so that
// posting lists are compacted and document numbers renumbered many times, with expiries along the way.
import { describe, expect, it } from 'vitest';
import { analyzeDocument, analyzeQuery, scoreBm25 } from '@ltm/core';
import type { DocumentTerms } from '@ltm/core';
import { compareUtf8, MemoryIndex } from '../src/search/memory-index.js';
import { indexRowsOf } from '../src/search/searcher.js';
import { seededRandom } from './parity/duckdb-fts.js';

const random = seededRandom(7);
const words = ['alpha', 'beta', 'gamma', 'delta', 'running', 'runs', 'the', 'café', 'cafe', '東京タワー', '42', 'order', 'zeta'];
const text = (): string => Array.from({ length: 1 + random(8) }, () => words[random(words.length)]).join(' ');

function expected(live: Map<string, DocumentTerms>, query: string): [string, number][] {
  return [...scoreBm25(analyzeQuery(query), live.entries())].sort((a, b) => b[1] - a[1] || compareUtf8(a[0], b[0]));
}

describe('MemoryIndex', () => {
  it('scores as scoreBm25 after thousands of puts, deletes and expiries over few keys', () => {
    const index = new MemoryIndex();
    const live = new Map<string, DocumentTerms>();
    const expiring = new Map<string, number>();
    let now = 1_000_000;
    for (let step = 0; step < 6000; step++) {
      const key = `k${random(150)}`;
      const roll = random(10);
      if (roll === 0) {
        index.remove(key);
        live.delete(key);
        expiring.delete(key);
      } else {
        const value = roll === 1 ? { note: text(), n: random(100) } : text();
        const metadata = { tag: text() };
        const expiresAt = roll === 2 ? now + 1 + random(50) : null;
        const row = { key, value: JSON.stringify(value), metadata: JSON.stringify(metadata), createdAt: now, updatedAt: now, expiresAt };
        const { terms, doc } = indexRowsOf(row);
        index.apply({ puts: [row], deletes: [], terms, docs: [doc] });
        live.set(key, analyzeDocument(value, metadata));
        if (expiresAt === null) expiring.delete(key);
        else expiring.set(key, expiresAt);
      }
      now += 1;
      if (step % 500 === 499) {
        for (const [k, at] of expiring) if (at <= now) live.delete(k), expiring.delete(k);
        for (const query of ['alpha beta', 'running', 'cafe', 'the', '東京', '42 order', 'zeta gamma delta']) {
          const want = expected(live, query);
          const { ranked, matched } = index.search(analyzeQuery(query).terms, analyzeQuery(query).extraTerms, now, 1000);
          expect(matched, query).toBe(want.length);
          expect(ranked.map((r) => r.key), query).toEqual(want.map(([k]) => k));
          ranked.forEach((r, i) => expect(r.score).toBeCloseTo(want[i]?.[1] as number, 10));
          const top = index.search(analyzeQuery(query).terms, analyzeQuery(query).extraTerms, now, 3).ranked;
          expect(top.map((r) => r.key), query).toEqual(want.slice(0, 3).map(([k]) => k));
        }
        expect(index.documentCount).toBe(live.size);
      }
    }
  });

  it('orders keys as UTF-8 bytes, like DuckDB', () => {
    const keys = ['b', 'a', '\uffff', '😀', '\ue000', 'é', 'aa', ''];
    const sorted = [...keys].sort(compareUtf8);
    expect(sorted).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });
});
