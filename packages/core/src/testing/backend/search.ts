import type { Filter } from '../../filter.js';
import { compareKeys } from '../../validation.js';
import type { LTMBackend, SearchHit, SearchOptions, SearchSuccess } from '../../types.js';
import { DEFAULT_SEARCH_LIMIT, MAX_LIMIT } from '../../types.js';
import { assertIsoUtc, check, failedWith, same, sortedKeys, succeeded, tick, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { searchAll, searchable, storeAll, writable } from './common.js';

async function keysFor(backend: LTMBackend, query: string): Promise<string[]> {
  const hits = await searchAll(backend, { query, limit: 100 }, `search(${JSON.stringify(query)})`);
  return hits.map((hit) => hit.key);
}

/** Best first: scores never increase; equal scores come in key order. */
function assertRanked(hits: readonly SearchHit[], doing: string): void {
  for (const [index, hit] of hits.entries()) {
    check(typeof hit.score === 'number' && Number.isFinite(hit.score), `${doing}: score of ${hit.key} must be a finite number, got ${String(hit.score)}`);
    const previous = hits[index - 1];
    if (previous === undefined) continue;
    check(previous.score >= hit.score, `${doing}: ${previous.key} (score ${previous.score}) comes before ${hit.key} (score ${hit.score}); best must come first`);
    if (previous.score === hit.score) {
      check(compareKeys(previous.key, hit.key) < 0, `${doing}: equal scores must come in key order, got ${previous.key} before ${hit.key}`);
    }
  }
}

/** Without a query: score 0, newest updatedAt first, equal updatedAt in key order. */
function assertRecentFirst(hits: readonly SearchHit[], doing: string): void {
  for (const [index, hit] of hits.entries()) {
    same(hit.score, 0, `${doing}: score of ${hit.key} without a query`);
    const previous = hits[index - 1];
    if (previous === undefined) continue;
    const [before, after] = [assertIsoUtc(previous.updatedAt, doing), assertIsoUtc(hit.updatedAt, doing)];
    check(before >= after, `${doing}: ${previous.key} (updated ${previous.updatedAt}) comes before the newer ${hit.key} (${hit.updatedAt})`);
    if (previous.updatedAt === hit.updatedAt) {
      check(compareKeys(previous.key, hit.key) < 0, `${doing}: equal updatedAt must come in key order, got ${previous.key} before ${hit.key}`);
    }
  }
}

/** Query strings that break code which splices them into SQL or a query syntax. */
const HOSTILE_QUERIES: readonly string[] = [
  '"',
  "'",
  "it's",
  '"unterminated',
  '(a OR b',
  'a AND NOT b',
  'NEAR(a b)',
  "'; DROP TABLE ltm_store; --",
  '"); DELETE FROM ltm_store; --',
  '%',
  '_',
  '*',
  '?',
  '\\',
  '\\\\"',
  '-',
  '--',
  'col:val',
  '{}',
  '[]',
  '{"$gt": 1}',
  'null',
  'true',
  '$1',
  '?1',
  ':name',
  '@p',
  '\u0000',
  'a\u0000b',
  '🦆🦆 😀',
  '😀'.repeat(100),
  '日本語',
  '\t\n\r',
  'the',
  'lorem ipsum dolor sit amet '.repeat(400).slice(0, 10_240),
  'x'.repeat(10_240),
];

export const searchChecks: BackendCheck[] = [
  {
    name: 'search: without a query, score 0 and newest updatedAt first, ties by key',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        for (const key of ['c', 'a', 'b']) {
          await succeeded(backend.store(key, key), `store ${key}`);
          await tick();
        }
        const order = async (doing: string): Promise<string[]> => {
          const hits = await searchAll(backend, {}, doing);
          assertRecentFirst(hits, doing);
          return hits.map((hit) => hit.key);
        };
        same(await order('search()'), ['b', 'a', 'c'], 'newest first');
        await succeeded(backend.store('c', 'updated'), 'update c');
        same(await order('search() after an update'), ['c', 'b', 'a'], 'an update makes an entry the newest');
        await tick();
        await storeAll(backend, ['z', 'y', 'x'].map((key) => ({ key, value: key })), 'storeMany z, y, x');
        const afterBatch = await order('search() after a batch');
        same(sortedKeys(afterBatch.slice(0, 3)), ['x', 'y', 'z'], 'the batch is newest');
        same(afterBatch.slice(3), ['c', 'b', 'a'], 'older entries follow');
        same(await searchAll(backend, { limit: 2 }, 'search() in pages of 2'), await searchAll(backend, { limit: 100 }, 'search() in one page'), 'pages follow the same order');
      });
    },
  },
  {
    name: 'search: a stored word is found at once; an update replaces the old text; a delete removes it',
    appliesTo: searchable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('doc', 'the quick brown fox jumps'), 'store doc');
        const hits = await searchAll(backend, { query: 'fox' }, 'search("fox")');
        same(hits.map((hit) => hit.key), ['doc'], 'a word is found right after store');
        check((hits[0]?.score ?? 0) > 0, 'a match scores above 0');
        same(hits[0]?.value, 'the quick brown fox jumps', 'a hit carries the value');
        same(await keysFor(backend, 'FOX'), ['doc'], 'search ignores case');
        same(await keysFor(backend, 'jumping'), ['doc'], 'search stems words (jumping finds jumps)');

        await succeeded(backend.store('doc', 'a lazy sleeping dog'), 'update doc');
        same(await keysFor(backend, 'fox'), [], 'the old text is gone after an update');
        same(await keysFor(backend, 'dog'), ['doc'], 'the new text is found after an update');

        await succeeded(backend.store('meta', 'plain words', { note: 'zebra crossing' }), 'store with metadata text');
        same(await keysFor(backend, 'zebra'), ['meta'], 'metadata text is searchable');
        await succeeded(backend.store('meta', 'plain words', {}), 'update without that metadata');
        same(await keysFor(backend, 'zebra'), [], 'old metadata text is gone after an update');

        await succeeded(backend.store('nested', { title: 'harbor', tags: ['lighthouse'], pineapple: 'x' }), 'store a nested value');
        same(await keysFor(backend, 'lighthouse'), ['nested'], 'strings nested in a value are searchable');
        same(await keysFor(backend, 'pineapple'), [], 'object member names are not indexed');

        await succeeded(backend.delete('doc'), 'delete doc');
        same(await keysFor(backend, 'dog'), [], 'a deleted entry is not found');
        await succeeded(backend.storeMany([{ key: 'batched', value: 'an albatross overhead' }]), 'storeMany');
        same(await keysFor(backend, 'albatross'), ['batched'], 'a word stored by storeMany is found at once');
      });
    },
  },
  {
    name: 'search: any query string is safe (quotes, parentheses, SQL, emoji, NUL, 10 KB)',
    appliesTo: searchable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('doc', 'the quick brown fox'), 'store doc');
        for (const query of HOSTILE_QUERIES) {
          const label = JSON.stringify(query.length > 40 ? `${query.slice(0, 40)}…` : query);
          const page = await succeeded(backend.search(query), `search(${label})`);
          check(Array.isArray(page.results) && page.count === page.results.length, `search(${label}) answers a results array and its count`);
          await succeeded(backend.search({ query, filter: { "it's": "x'y" }, limit: 5 }), `search({ query: ${label}, filter })`);
        }
        for (const query of ['"fox"', '(fox)', 'fox!!!', "fox's", 'FOX?']) {
          same(await keysFor(backend, query), ['doc'], `punctuation around a word does not hide it: ${query}`);
        }
        same((await succeeded(backend.retrieve('doc'), 'retrieve afterwards')).found, true, 'the data is intact after hostile queries');
      });
    },
  },
  {
    name: 'search: accented and non-Latin words are found',
    appliesTo: searchable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await storeAll(backend, [
          { key: 'cafe', value: 'Le café crème et la brûlée' },
          { key: 'zurich', value: 'Zürich liegt an der Limmat' },
          { key: 'russian', value: 'привет мир' },
          { key: 'greek', value: 'Καλημέρα κόσμε' },
          { key: 'naive', value: 'a naïve façade' },
        ], 'storeMany');
        const cases: Array<[string, string]> = [
          ['café', 'cafe'],
          ['cafe', 'cafe'],
          ['CAFÉ', 'cafe'],
          ['brulee', 'cafe'],
          ['zurich', 'zurich'],
          ['ZÜRICH', 'zurich'],
          ['привет', 'russian'],
          ['ПРИВЕТ', 'russian'],
          ['Καλημέρα', 'greek'],
          ['καλημερα', 'greek'],
          ['facade', 'naive'],
          ['naïve', 'naive'],
        ];
        for (const [query, key] of cases) same(await keysFor(backend, query), [key], `search(${JSON.stringify(query)})`);
      });
    },
  },
  {
    name: 'search: best match first (BM25), higher score better, ties by key, any query word matches',
    appliesTo: searchable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await storeAll(backend, [
          { key: 'dense', value: 'walrus walrus walrus' },
          { key: 'sparse', value: `walrus ${'ocean tide reef kelp shell sand dune cliff wave foam '.repeat(3)}` },
          { key: 'tie-b', value: 'walrus iceberg' },
          { key: 'tie-a', value: 'walrus iceberg' },
          { key: 'none', value: 'penguin' },
          { key: 'both', value: 'alpha beta' },
          { key: 'only-alpha', value: 'alpha gamma' },
          { key: 'only-beta', value: 'beta delta' },
        ], 'storeMany');
        const walrus = await searchAll(backend, { query: 'walrus' }, 'search("walrus")');
        assertRanked(walrus, 'search("walrus")');
        same(walrus.map((hit) => hit.key), ['dense', 'tie-a', 'tie-b', 'sparse'], 'denser matches rank higher; equal documents tie in key order');
        check(walrus.every((hit) => hit.score > 0), 'every match scores above 0');
        same(walrus[1]?.score, walrus[2]?.score, 'identical documents score the same');
        const either = await searchAll(backend, { query: 'alpha beta' }, 'search("alpha beta")');
        assertRanked(either, 'search("alpha beta")');
        same(either[0]?.key, 'both', 'a document with every query word ranks first');
        same(sortedKeys(either.map((hit) => hit.key)), ['both', 'only-alpha', 'only-beta'], 'a document with any query word matches');
      });
    },
  },
  {
    name: 'search: limit is honoured and nextCursor pages without overlap',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const filler = 'river stone moss fern'.split(' ');
        await storeAll(
          backend,
          Array.from({ length: 25 }, (_, index) => ({
            key: `doc-${String(index).padStart(2, '0')}`,
            value: `${'lantern '.repeat((index % 5) + 1)}${filler.slice(0, index % 4).join(' ')}`,
            metadata: { index },
          })),
          'storeMany of 25 documents',
        );
        const variants: Array<[string, SearchOptions]> = [['search()', {}]];
        if (harness.capabilities.fullTextSearch) variants.push(['search("lantern")', { query: 'lantern' }]);
        for (const [label, options] of variants) {
          const whole = await succeeded(backend.search({ ...options, limit: 100 }), `${label} with limit 100`);
          same(whole.results.length, 25, `${label} finds all 25`);
          same(whole.nextCursor, undefined, `${label}: no nextCursor when everything fits`);
          const defaultPage = await succeeded(backend.search({ ...options }), `${label} without limit`);
          same(defaultPage.results.length, DEFAULT_SEARCH_LIMIT, `${label} defaults to ${DEFAULT_SEARCH_LIMIT} results`);
          check(defaultPage.nextCursor !== undefined, `${label}: a full default page has a nextCursor`);
          const sizes: number[] = [];
          const paged: SearchHit[] = [];
          let cursor: string | undefined;
          do {
            const page: SearchSuccess = await succeeded(backend.search({ ...options, limit: 10, cursor }), `${label} page ${sizes.length + 1}`);
            sizes.push(page.results.length);
            paged.push(...page.results);
            cursor = page.nextCursor;
          } while (cursor !== undefined && sizes.length < 10);
          same(sizes, [10, 10, 5], `${label}: pages of 10 out of 25`);
          same(paged, whole.results, `${label}: pages hold every result once, in the order of one big page`);
          const onePerPage = await searchAll(backend, { ...options, limit: 1 }, `${label} in pages of 1`);
          same(onePerPage.map((hit) => hit.key), whole.results.map((hit) => hit.key), `${label}: pages of 1`);
        }
        const listed = await succeeded(backend.list({ limit: 1 }), 'list with limit 1');
        if (listed.nextCursor !== undefined) {
          await failedWith(backend.search({ cursor: listed.nextCursor }), 'validation_error', 'search with a cursor from list');
        }
      });
    },
  },
  {
    name: 'search: both call shapes agree, and a blank query lists by recency',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await storeAll(backend, Array.from({ length: 8 }, (_, index) => ({
          key: `k${index}`,
          value: `walrus number ${index}`,
          metadata: { kind: index % 2 === 0 ? 'even' : 'odd' },
        })), 'storeMany');
        const filter: Filter = { kind: 'even' };
        same(
          await succeeded(backend.search(undefined, filter, 3), 'search(undefined, filter, 3)'),
          await succeeded(backend.search({ filter, limit: 3 }), 'search({ filter, limit: 3 })'),
          'positional and object forms without a query',
        );
        if (harness.capabilities.fullTextSearch) {
          same(
            await succeeded(backend.search('walrus', filter, 3), 'search("walrus", filter, 3)'),
            await succeeded(backend.search({ query: 'walrus', filter, limit: 3 }), 'search({ query: "walrus", filter, limit: 3 })'),
            'positional and object forms with a query',
          );
        }
        const recent = await succeeded(backend.search({ limit: 100 }), 'search()');
        for (const blank of ['', '   ', '\n\t']) {
          same(await succeeded(backend.search({ query: blank, limit: 100 }), `search(${JSON.stringify(blank)})`), recent, `a blank query ${JSON.stringify(blank)} is no query`);
        }
      });
    },
  },
  {
    name: 'search: invalid arguments are a validation_error',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const invalid: Array<[string, () => ReturnType<LTMBackend['search']>]> = [
          ['limit 0', () => backend.search({ limit: 0 })],
          ['limit 0 (positional)', () => backend.search(undefined, undefined, 0)],
          [`limit ${MAX_LIMIT + 1}`, () => backend.search({ limit: MAX_LIMIT + 1 })],
          ['a fractional limit', () => backend.search({ limit: 2.5 })],
          ['a made-up cursor', () => backend.search({ cursor: 'not-a-cursor' })],
          ['cursor as a number', () => backend.search({ cursor: 5 as never })],
          ['the object form with more arguments', () => backend.search({ limit: 5 }, { a: 1 })],
        ];
        if (harness.capabilities.fullTextSearch) {
          invalid.push(
            ['a number as query', () => backend.search(42 as never)],
            ['query as a number', () => backend.search({ query: 5 as never })],
            ['a query with a lone surrogate', () => backend.search('a\uD800')],
            ['a query with limit 0', () => backend.search('x', undefined, 0)],
          );
        }
        for (const [label, call] of invalid) await failedWith(call(), 'validation_error', `search with ${label}`);
      });
    },
  },
];
