// What the bm25 engine finds beyond DuckDB's fts, end to end through the backend (in memory and in SQL):
// numbers, words inside CJK text, text with or without accents; while a query without digits or CJK still
// scores exactly as fts. And any query string is answered, with defined results for queries that have no term.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexedText } from '@ltm/core';
import type { JsonObject, JsonValue } from '@ltm/core';
import { provisionExtensions } from '../../../tooling/extensions/index.mjs';
import { DuckDBLTMBackend } from '../src/index.js';
import type { DuckDBLTMBackendOptions } from '../src/index.js';
import { ok } from './helpers.js';
import { openWithFts } from './parity/duckdb-fts.js';
import type { FtsDatabase } from './parity/duckdb-fts.js';

const memories: { key: string; value: JsonValue; metadata: JsonObject }[] = [
  { key: 'order:4521', value: 'Customer order 4521 shipped to Lisbon', metadata: { type: 'order' } },
  { key: 'order:4522', value: { text: 'Customer order 4522 is pending', total: 99.5 }, metadata: { type: 'order' } },
  { key: 'order:none', value: 'An order without a number', metadata: { type: 'order' } },
  { key: 'invoice', value: { lines: ['invoice for order', 4521] }, metadata: { type: 'invoice' } },
  { key: 'tokyo', value: '東京タワーに行きました', metadata: { type: 'travel' } },
  { key: 'beijing', value: { note: '我们明天在北京开会' }, metadata: { type: 'meeting' } },
  { key: 'seoul', value: '서울에서 만나요', metadata: { type: 'meeting' } },
  { key: 'cafe', value: 'Café crème and a brûlée at the Zürich café', metadata: { place: 'Zürich' } },
  { key: 'resume', value: 'Updated resume with naive Bayes skills', metadata: {} },
  { key: 'thesis', value: 'The thes of the thesis', metadata: {} },
  { key: 'plain', value: 'A plain memory about coffee and tea', metadata: { topic: 'coffee' } },
];

const engines: [string, DuckDBLTMBackendOptions][] = [
  ['bm25 in memory', {}],
  ['bm25 in SQL', { searchCacheMaxBytes: 0 }],
];

describe.each(engines)('beyond fts: %s', (_name, options) => {
  let backend: DuckDBLTMBackend;
  let fts: FtsDatabase;

  beforeAll(async () => {
    backend = await DuckDBLTMBackend.open(options);
    ok(await backend.storeMany(memories));
    fts = await openWithFts();
    await fts.connection.run('CREATE TABLE t (key VARCHAR, value_text VARCHAR, metadata_text VARCHAR)');
    for (const m of memories) {
      const statement = await fts.connection.prepare('INSERT INTO t VALUES ($1, $2, $3)');
      statement.bindVarchar(1, m.key);
      statement.bindVarchar(2, indexedText(m.value));
      statement.bindVarchar(3, indexedText(m.metadata));
      await statement.run();
    }
    await fts.connection.run("PRAGMA create_fts_index('t', 'key', 'value_text', 'metadata_text')");
  });
  afterAll(async () => {
    await backend.close();
    fts.close();
  });

  const keys = async (query: string): Promise<string[]> => ok(await backend.search(query, undefined, 100)).results.map((r) => r.key);
  const ftsScores = async (query: string): Promise<Map<string, number>> => {
    const statement = await fts.connection.prepare(
      'SELECT key, score FROM (SELECT key, fts_main_t.match_bm25(key, $1) AS score FROM t) WHERE score IS NOT NULL',
    );
    statement.bindVarchar(1, query);
    return new Map((await statement.runAndReadAll()).getRows().map(([k, s]) => [String(k), Number(s)]));
  };

  it('finds numbers, which fts drops', async () => {
    expect(await ftsScores('4521')).toEqual(new Map());
    expect(await keys('4521')).toEqual(expect.arrayContaining(['order:4521', 'invoice']));
    expect(await keys('4521')).toHaveLength(2);
    const ranked = await keys('order 4521');
    expect(ranked[0]).toBe('order:4521'); // both words
    expect(ranked).toEqual(expect.arrayContaining(['order:4522', 'order:none'])); // "order" alone still matches
    expect(await keys('99')).toEqual(['order:4522']); // a number leaf: 99.5 gives 99 and 5
  });

  it('finds words inside CJK text by character bigrams, which fts keeps as one token per run', async () => {
    expect(await ftsScores('東京')).toEqual(new Map());
    expect(await keys('東京')).toEqual(['tokyo']);
    expect(await keys('タワー')).toEqual(['tokyo']);
    expect(await keys('北京')).toEqual(['beijing']);
    expect(await keys('明天开会')).toEqual(['beijing']); // bigrams 明天 天开 开会: 明天 and 开会 are in the text
    expect(await keys('서울')).toEqual(['seoul']);
    expect(await keys('大阪')).toEqual([]);
  });

  it('matches accented text with or without accents, with the same scores', async () => {
    for (const [plain, accented] of [
      ['cafe creme brulee', 'café crème brûlée'],
      ['zurich', 'ZÜRICH'],
      ['resume naive', 'résumé naïve'],
    ] as const) {
      const a = ok(await backend.search(plain));
      const b = ok(await backend.search(accented));
      expect(a.results.length).toBeGreaterThan(0);
      expect(b.results.map((r) => [r.key, r.score])).toEqual(a.results.map((r) => [r.key, r.score]));
    }
    expect(await keys('cafe')).toEqual(['cafe']);
    expect(await keys('résumé')).toEqual(['resume']);
  });

  it('scores a query without digits or CJK exactly as fts, also where documents hold numbers and CJK', async () => {
    for (const query of ['customer order', 'order invoice shipped', 'cafe coffee', 'the thesis', 'meeting']) {
      const theirs = await ftsScores(query);
      const ours = ok(await backend.search(query, undefined, 100)).results;
      expect(ours.map((r) => r.key).sort()).toEqual([...theirs.keys()].sort());
      for (const hit of ours) expect(Math.abs(hit.score - (theirs.get(hit.key) as number))).toBeLessThanOrEqual(1e-9 * hit.score);
    }
  });

  it('defines queries without terms: punctuation matches nothing; a stop word matches only words with its stem', async () => {
    for (const query of ['!!! ... ---', '"()"', '[]{}<>', '--', '@#$%^&*', '\t.\n']) {
      expect(ok(await backend.search(query)).results, JSON.stringify(query)).toEqual([]);
    }
    // A blank query is no query (core's rule): the newest entries, score 0.
    const blank = ok(await backend.search('   ', undefined, 100)).results;
    expect(blank).toHaveLength(memories.length);
    expect(blank.every((r) => r.score === 0)).toBe(true);
    // fts does not drop stop words from a query, but never indexes them: "the" finds only "thes" (stem "the").
    expect(await keys('the')).toEqual(['thesis']);
    expect(await keys('of and which')).toEqual([]);
    expect(await ftsScores('the')).toEqual(new Map([['thesis', expect.any(Number)]]));
  });

  it('answers any query string without an error, with sensible results', async () => {
    const hostile = [
      '"unbalanced',
      "it's (a) test",
      'coffee AND tea OR NOT milk',
      "'; DROP TABLE ltm_store; --",
      'coffee\u0000tea',
      '😀🎉 coffee',
      '\\',
      '%_*? coffee',
      'x'.repeat(10_240),
      'coffee '.repeat(2000),
      'SELECT * FROM ltm_store__terms',
    ];
    for (const query of hostile) expect((await backend.search(query)).success, query.slice(0, 40)).toBe(true);
    // Not well-formed Unicode: refused as input, like a key with a lone surrogate.
    expect(await backend.search('\ud800 lone surrogate coffee')).toMatchObject({ success: false, errorType: 'validation_error' });
    expect(await keys('coffee AND tea OR NOT milk')).toEqual(['plain']);
    expect(await keys('"coffee"')).toEqual(['plain']);
    expect(await keys('😀🎉 coffee')).toEqual(['plain']);
    expect(await keys("'; DROP TABLE ltm_store; --")).toEqual([]);
    expect(ok(await backend.retrieve('plain')).found).toBe(true);
  });
});
