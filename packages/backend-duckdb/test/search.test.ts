// The backend's SQL BM25 over its incremental index must give the scores of core's `scoreBm25` (which
// test/parity proves equal to DuckDB fts's match_bm25) on the live entries, after any mix of stores,
// updates, deletes and expiries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeDocument, analyzeQuery, scoreBm25 } from '@ltm/core';
import type { DocumentTerms, JsonObject, JsonValue } from '@ltm/core';
import { DuckDBLTMBackend } from '../src/index.js';
import { seededRandom } from './parity/duckdb-fts.js';
import { ok } from './helpers.js';

const words = ['memory', 'agent', 'paris', 'tower', 'travel', 'prefers', 'dark', 'theme', 'meeting', 'tuesday', 'café', 'naïve', 'order', 'invoice', 'the', 'and', 'running', 'runs', '東京タワー', '4521', 'Москва', 'budget', 'flight', 'hotel'];

// The in-memory index (default) and the SQL over the index tables (searchCacheMaxBytes: 0) must agree.
describe.each([
  ['in memory', {}],
  ['in SQL', { searchCacheMaxBytes: 0 }],
  // The index outgrows its bound while it is built: searches fall back to SQL.
  ['past the memory bound', { searchCacheMaxBytes: 20_000 }],
])('BM25 search %s', (_path, options) => {
  const random = seededRandom(99);
  const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;
  const sentence = (n: number): string => Array.from({ length: n }, () => pick(words)).join(random(3) === 0 ? ', ' : ' ');
  function value(): JsonValue {
    switch (random(3)) {
      case 0:
        return sentence(1 + random(12));
      case 1:
        return { title: sentence(1 + random(4)), body: sentence(random(15)), stars: random(6) };
      default:
        return [sentence(random(5)), random(10_000), { note: sentence(random(6)) }];
    }
  }
  const metadata = (): JsonObject => ({ type: pick(['fact', 'preference', 'task']), tag: sentence(1) });
  let backend: DuckDBLTMBackend;
  const live = new Map<string, DocumentTerms>();
  const expired = new Set<string>();
  const types = new Map<string, unknown>();

  beforeAll(async () => {
    backend = await DuckDBLTMBackend.open(options);
    const items = Array.from({ length: 300 }, (_, i) => ({ key: `doc:${i}`, value: value(), metadata: metadata() }));
    ok(await backend.storeMany(items));
    for (const item of items) {
      live.set(item.key, analyzeDocument(item.value, item.metadata));
      types.set(item.key, item.metadata.type);
    }
    // Updates, deletes and expiries change document statistics: the index must follow.
    for (let i = 0; i < 120; i++) {
      const key = `doc:${random(300)}`;
      const roll = random(4);
      if (roll === 0) {
        ok(await backend.delete(key));
        live.delete(key);
      } else if (roll === 1) {
        ok(await backend.store(key, value(), metadata(), { expiresAt: Date.now() - 1 }));
        live.delete(key);
        expired.add(key);
      } else {
        const v = value();
        const m = metadata();
        ok(await backend.store(key, v, m));
        live.set(key, analyzeDocument(v, m));
        types.set(key, m.type);
        expired.delete(key);
      }
    }
  });
  afterAll(async () => backend.close());

  const queries = ['memory agent', 'paris tower', 'the', 'running', 'cafe', 'NAIVE hotel', 'order 4521', '東京', 'タワー', 'moskva москва', 'flight budget hotel travel', 'x'];

  it.each(queries)('scores %j exactly as scoreBm25 over the live entries', async (query) => {
    const expected = [...scoreBm25(analyzeQuery(query), live.entries())].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const result = ok(await backend.search(query, undefined, 10_000));
    expect(result.results.map((r) => r.key)).toEqual(expected.map(([key]) => key));
    result.results.forEach((hit, i) => expect(hit.score).toBeCloseTo(expected[i]?.[1] as number, 9));
    for (const hit of result.results) expect(expired.has(hit.key)).toBe(false);
  });

  it('applies a metadata filter before the limit and pages with a cursor', async () => {
    const all = ok(await backend.search('memory agent travel', { type: 'fact' }, 10_000));
    const expected = [...scoreBm25(analyzeQuery('memory agent travel'), live.entries())]
      .filter(([key]) => types.get(key) === 'fact')
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    expect(all.results.map((r) => r.key)).toEqual(expected.map(([key]) => key));
    expect(all.results.every((r) => r.metadata.type === 'fact')).toBe(true);
    const top = ok(await backend.search('memory agent travel', { type: 'fact' }, 3));
    expect(top.results.map((r) => r.key)).toEqual(expected.slice(0, 3).map(([key]) => key));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = ok(await backend.search({ query: 'memory agent travel', filter: { type: 'fact' }, limit: 7, cursor }));
      seen.push(...page.results.map((r) => r.key));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.results.map((r) => r.key));
  });

  it('answers any query string without an error', async () => {
    for (const query of ['"unbalanced', "it's (a) test", 'a AND b OR NOT c', "'; DROP TABLE ltm_store; --", '😀🎉', '\\', '%_*?', 'x'.repeat(10_240), '   ', '---']) {
      expect((await backend.search(query)).success).toBe(true);
    }
  });
});

describe('search while writes land', () => {
  it('answers every search during concurrent writes, and sees all of them afterwards', async () => {
    const backend = await DuckDBLTMBackend.open();
    const live = new Map<string, DocumentTerms>();
    const random = seededRandom(5);
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 400; i++) {
      const key = `k${random(60)}`;
      if (i % 4 === 3) {
        calls.push(backend.search('alpha beta', i % 8 === 3 ? { n: { $gte: 1 } } : undefined, 5).then((r) => expect(r.success).toBe(true)));
      } else if (i % 10 === 0) {
        calls.push(backend.delete(key).then(ok));
        live.delete(key);
      } else {
        const value = `${['alpha', 'beta', 'gamma'][random(3)]} ${['beta', 'delta'][random(2)]} ${i}`;
        const metadata = { n: random(3) };
        calls.push(backend.store(key, value, metadata).then(ok));
        live.set(key, analyzeDocument(value, metadata));
      }
      if (i % 50 === 49) await Promise.all(calls.splice(0));
    }
    await Promise.all(calls);
    const expected = [...scoreBm25(analyzeQuery('alpha beta'), live.entries())].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const result = ok(await backend.search('alpha beta', undefined, 1000));
    expect(result.results.map((r) => r.key)).toEqual(expected.map(([key]) => key));
    await backend.close();
  });
});

describe('search without full-text search enabled', () => {
  it('lists and filters, and answers a query with unsupported', async () => {
    const backend = await DuckDBLTMBackend.open({ enableFts: false });
    ok(await backend.store('a', 'hello', { n: 1 }));
    expect(backend.capabilities.fullTextSearch).toBe(false);
    expect(await backend.search('hello')).toMatchObject({ success: false, errorType: 'unsupported' });
    expect(ok(await backend.search(undefined, { n: 1 })).count).toBe(1);
    await backend.close();
  });
});
