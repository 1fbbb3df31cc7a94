// Proof of the parity definition: on a table of the entries' indexed texts, `PRAGMA create_fts_index('t', 'key',
// 'value_text', 'metadata_text')` indexes exactly the terms analyzeDocument finds, and `match_bm25` gives exactly
// the scores of scoreBm25 for queries without digits or CJK. Queries with them score the same in the parity field
// and find more through the extra field.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeDocument,
  analyzeQuery,
  ENGLISH_STOPWORDS,
  indexedText,
  scoreBm25,
  type DocumentTerms,
  type JsonObject,
  type JsonValue,
} from '@ltm/core';
import { DuckDBPreparedStatement } from '@duckdb/node-api';
import { openWithFts, seededRandom, type FtsDatabase } from './duckdb-fts.js';

const englishWords = createRequire(import.meta.url)('an-array-of-english-words') as string[];
const random = seededRandom(1_234_567);
const pick = <T>(items: readonly T[]): T => items[random(items.length)]!;

// A small vocabulary so documents share terms; inflected forms of the same stems come from the word list itself.
const vocabulary = Array.from({ length: 400 }, () => pick(englishWords));
for (const word of vocabulary.slice(0, 60)) vocabulary.push(`${word}s`, `${word}ing`, `${word}ed`);
const stopwords = [...ENGLISH_STOPWORDS].filter((word) => !word.includes("'"));
const decorations = ['café', 'Naïve', 'ÜBER', 'σοφός', 'Москва', 'don’t', "O'Brien", 'e-mail', 'C++', '😀', '東京タワー', 'thes'];

function sentence(length: number): string {
  const words: string[] = [];
  for (let i = 0; i < length; i++) {
    const roll = random(100);
    let word = roll < 25 ? pick(stopwords) : roll < 30 ? pick(decorations) : roll < 35 ? String(random(3000)) : pick(vocabulary);
    if (random(10) === 0) word = word.toUpperCase();
    words.push(word + (random(8) === 0 ? pick([',', '.', '!', '?', ';', ' -']) : ''));
  }
  return words.join(' ');
}

function value(): JsonValue {
  switch (random(6)) {
    case 0:
      return sentence(random(25));
    case 1:
      return { title: sentence(1 + random(5)), body: sentence(random(30)), stars: random(6), done: random(2) === 0 };
    case 2:
      return [sentence(random(8)), random(1000) / 10, null, [sentence(random(4))]];
    case 3:
      return { nested: { deeper: { text: sentence(random(12)) } }, list: [sentence(2), 'line\nbreak "quoted"'] };
    case 4:
      return random(100_000);
    default:
      return {};
  }
}

function metadata(): JsonObject {
  return random(3) === 0 ? {} : { tag: sentence(1 + random(3)), source: pick(['chat', 'tool', 'user notes']) };
}

interface Entry {
  key: string;
  value: JsonValue;
  metadata: JsonObject;
}

const entries: Entry[] = Array.from({ length: 300 }, (_, i) => ({ key: `doc-${i}`, value: value(), metadata: metadata() }));
entries.push({ key: 'empty', value: '', metadata: {} });
entries.push({ key: 'only-stopwords', value: 'the of and which would', metadata: {} });
const analyzed = new Map<string, DocumentTerms>(entries.map((e) => [e.key, analyzeDocument(e.value, e.metadata)]));

let db: FtsDatabase;
let matchBm25: DuckDBPreparedStatement;
beforeAll(async () => {
  db = await openWithFts();
  const { connection } = db;
  await connection.run('CREATE TABLE t (key VARCHAR, value_text VARCHAR, metadata_text VARCHAR)');
  const appender = await connection.createAppender('t');
  for (const entry of entries) {
    appender.appendVarchar(entry.key);
    appender.appendVarchar(indexedText(entry.value));
    appender.appendVarchar(indexedText(entry.metadata));
    appender.endRow();
  }
  appender.closeSync();
  await connection.run("PRAGMA create_fts_index('t', 'key', 'value_text', 'metadata_text')");
  matchBm25 = await connection.prepare(
    'SELECT key, score FROM (SELECT key, fts_main_t.match_bm25(key, $1) AS score FROM t) WHERE score IS NOT NULL',
  );
});
afterAll(() => db?.close());

async function ftsScores(query: string): Promise<Map<string, number>> {
  matchBm25.bindVarchar(1, query);
  const reader = await matchBm25.runAndReadAll();
  return new Map(reader.getRows().map(([key, score]) => [String(key), Number(score)]));
}

function expectSameScores(ours: Map<string, number>, theirs: Map<string, number>, query: string): void {
  expect([...ours.keys()].sort(), query).toEqual([...theirs.keys()].sort());
  for (const [key, score] of theirs) {
    const difference = Math.abs(ours.get(key)! - score);
    expect(difference, `${query} / ${key}: ours ${ours.get(key)}, fts ${score}`).toBeLessThanOrEqual(1e-12 * Math.max(1, score));
  }
}

const parityOnly = (query: string) => ({ ...analyzeQuery(query), extraTerms: [] });

describe('analyzeDocument against the terms fts indexes', () => {
  it('finds the same terms, frequencies and document lengths', async () => {
    const reader = await db.connection.runAndReadAll(`
      SELECT docs.name AS key, docs.len::INTEGER AS len,
             coalesce(list(dict.term ORDER BY dict.term) FILTER (WHERE dict.term IS NOT NULL), []) AS terms
      FROM fts_main_t.docs AS docs
      LEFT JOIN fts_main_t.terms AS terms ON terms.docid = docs.docid
      LEFT JOIN fts_main_t.dict AS dict ON dict.termid = terms.termid
      GROUP BY docs.name, docs.len`);
    const rows = reader.getRowObjectsJson() as { key: string; len: number; terms: string[] }[];
    expect(rows).toHaveLength(entries.length);
    let indexedTerms = 0;
    for (const row of rows) {
      const ours = analyzed.get(row.key)!;
      const expanded = [...ours.terms].flatMap(([term, count]) => Array<string>(count).fill(term));
      expanded.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      expect(expanded, row.key).toEqual([...row.terms].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(ours.length, row.key).toBe(row.len);
      indexedTerms += row.len;
    }
    expect(indexedTerms).toBeGreaterThan(1000);
  });
});

describe('scoreBm25 against match_bm25', () => {
  const queries: string[] = [];
  for (let i = 0; i < 150; i++) {
    const words = Array.from({ length: 1 + random(4) }, () => (random(6) === 0 ? pick(stopwords) : pick(vocabulary)));
    queries.push(words.join(random(4) === 0 ? ', ' : ' '));
  }
  queries.push(
    'RUNNING Runs ran', // case and stemming
    `${vocabulary[0]} ${vocabulary[0]} ${vocabulary[0]}`, // repeated terms count once
    'cafe naive uber', // accents stripped on both sides
    'the', // a stop word: fts still looks up its stem, which `thes` produces
    'which would of', // stop words only
    'don’t o brien e mail', // apostrophes and hyphens
    'σοφος москва',
    '!!! ... ---', // no tokens at all
    'zzzzqx unknownword',
  );

  it('gives the same documents and scores for queries without digits or CJK', async () => {
    let matched = 0;
    for (const query of queries) {
      const theirs = await ftsScores(query);
      const ours = scoreBm25(analyzeQuery(query), analyzed);
      expect(analyzeQuery(query).extraTerms, query).toEqual([]);
      expectSameScores(ours, theirs, query);
      if (theirs.size > 0) matched++;
    }
    expect(matched).toBeGreaterThan(queries.length / 2);
  });

  it('ranks the documents in the same order', async () => {
    for (const query of queries.slice(0, 40)) {
      const theirs = [...(await ftsScores(query))].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k);
      const ours = [...scoreBm25(analyzeQuery(query), analyzed)]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .map(([k]) => k);
      expect(ours, query).toEqual(theirs);
    }
  });

  it('keeps the parity score for queries with digits or CJK, and adds what only the extra field finds', async () => {
    const numbered = entries.find((e) => /\d/.test(JSON.stringify(e.value)))!;
    const number = JSON.stringify(numbered.value).match(/\d+/)![0];
    for (const query of [`${vocabulary[1]} ${number}`, `東京 ${vocabulary[2]}`, `タワー ${number}`]) {
      const theirs = await ftsScores(query);
      expectSameScores(scoreBm25(parityOnly(query), analyzed), theirs, query);
      const full = scoreBm25(analyzeQuery(query), analyzed);
      for (const [key, score] of theirs) expect(full.get(key)!, `${query} / ${key}`).toBeGreaterThanOrEqual(score);
      expect(full.size, query).toBeGreaterThan(theirs.size);
    }
    // fts drops digits, so a number alone finds nothing there; the extra field finds the entry.
    expect((await ftsScores(number)).size).toBe(0);
    expect(scoreBm25(analyzeQuery(number), analyzed).has(numbered.key)).toBe(true);
  });
});
