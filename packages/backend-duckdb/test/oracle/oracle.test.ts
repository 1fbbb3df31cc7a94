// The search oracle: on ~2,000 real mails (values as plain strings, nested objects and arrays, with metadata
// text), for over 200 queries (corpus words, several words, stop words, accents, punctuation), the top 10 of
// `search` equal DuckDB fts's `match_bm25` after a fresh `PRAGMA create_fts_index('t', 'key', 'value_text',
// 'metadata_text')` on the live entries' indexed texts: same scores (1e-6 relative) and keys fts scores the same,
// so ties may come in any order, at rank 10 too. Then again after a random mix of updates, inserts, deletes and
// expiries, and after cleanupExpired. Four backends take the same writes: the bm25 engine with its in-memory
// index, the same engine in SQL over the index tables, the fts-extension engine, and the bm25 SQL over a Parquet
// store in a local directory (segments, inline commits and their compactions: @ltm/format-parquet).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeQuery, ENGLISH_STOPWORDS, indexedText, matchesFilter, parseFilter } from '@ltm/core';
import type { Filter } from '@ltm/core';
import type { DuckDBPreparedStatement } from '@duckdb/node-api';
import { provisionExtensions } from '../../../../tooling/extensions/index.mjs';
import { DuckDBLTMBackend } from '../../src/index.js';
import type { DuckDBLTMBackendOptions } from '../../src/index.js';
import { ok, tempDir } from '../helpers.js';
import { openWithFts, seededRandom } from '../parity/duckdb-fts.js';
import type { FtsDatabase } from '../parity/duckdb-fts.js';
import { loadMails, memoryOf } from './corpus.js';
import type { Mail, Memory } from './corpus.js';

const random = seededRandom(20_241_126);
const pick = <T>(items: readonly T[]): T => items[random(items.length)] as T;

const mails = loadMails(3); // 2,016 mails
const spare = loadMails(1).filter((_, i) => i % 3 === 1).slice(0, 400); // text for updates and inserts

/** The live entries, as the test expects them: what fts indexes. */
const live = new Map<string, Memory>();
mails.forEach((mail, i) => live.set(mail.id, memoryOf(mail, mail.id, random(12) + i)));

const WORD = /\p{L}+/gu;
const hasExtraTerms = (query: string): boolean => analyzeQuery(query).extraTerms.length > 0;
const wordsOf = (mail: Mail): string[] => (`${mail.subject} ${mail.body}`.match(WORD) ?? []).filter((w) => w.length >= 3 && !hasExtraTerms(w));
const stopwords = [...ENGLISH_STOPWORDS].filter((word) => !word.includes("'"));
const ACCENTS: Record<string, string> = { a: 'á', e: 'é', i: 'ï', o: 'ô', u: 'ü', c: 'ç', n: 'ñ' };
const accented = (word: string): string => word.replace(/[aeioucn]/, (c) => ACCENTS[c] as string);

/** 240 queries without digits or CJK (those rank exactly as fts), drawn from the corpus. */
function makeQueries(): string[] {
  const queries = new Set<string>();
  const withWords = mails.map(wordsOf).filter((words) => words.length > 5);
  const words = (n: number): string[] => {
    const source = pick(withWords);
    const start = random(source.length - n);
    return source.slice(start, start + n);
  };
  const add = (query: string): void => {
    if (!hasExtraTerms(query)) queries.add(query);
  };
  // Each kind adds up to its count; attempts are bounded so a corpus without enough of a kind cannot hang.
  const fill = (size: number, make: () => string): void => {
    for (let attempt = 0; queries.size < size && attempt < size * 50; attempt++) add(make());
  };
  fill(70, () => words(1)[0] as string);
  fill(130, () => words(2 + random(3)).join(' '));
  fill(170, () => [...words(2), pick(stopwords), ...words(1)].join(' ')); // stop words inside
  fill(190, () => words(2).map(accented).join(' ')); // accents the text does not have
  const nonAscii = withWords.flat().filter((w) => /[^\x00-\x7f]/.test(w) && !hasExtraTerms(w));
  if (nonAscii.length > 0) fill(205, () => pick(nonAscii).normalize('NFD').replace(/\p{M}/gu, '')); // accents the text has, dropped
  fill(220, () => `${words(1)[0]?.toUpperCase()}, "${words(1)[0]}"! (${words(1)[0]}) -- ${pick(stopwords)}?`);
  add('the of and'); // stop words only
  add('which');
  add("don't e-mail re: fwd: [spam]");
  add('zzqxv nonexistentword');
  add('!!! ... ---'); // no terms at all
  fill(240, () => words(6).join(' '));
  return [...queries];
}
const queries = makeQueries();

interface Contender {
  name: string;
  options: DuckDBLTMBackendOptions;
  backend?: DuckDBLTMBackend;
}

const parquetDir = tempDir('ltm-oracle-parquet-');
const contenders: Contender[] = [
  { name: 'bm25 in memory', options: {} },
  { name: 'bm25 in SQL', options: { searchCacheMaxBytes: 0 } },
  { name: 'fts-extension', options: { searchEngine: 'fts-extension' } },
  { name: 'bm25 in SQL on Parquet', options: { uri: parquetDir.dir } },
];

let fts: FtsDatabase;
let matchBm25: DuckDBPreparedStatement;

/** A fresh fts index over the live entries, as the parity definition says. */
async function rebuildFts(): Promise<void> {
  const { connection } = fts;
  await connection.run('CREATE OR REPLACE TABLE t (key VARCHAR, value_text VARCHAR, metadata_text VARCHAR)');
  const appender = await connection.createAppender('t');
  for (const memory of live.values()) {
    appender.appendVarchar(memory.key);
    appender.appendVarchar(indexedText(memory.value));
    appender.appendVarchar(indexedText(memory.metadata));
    appender.endRow();
  }
  appender.closeSync();
  await connection.run("PRAGMA create_fts_index('t', 'key', 'value_text', 'metadata_text', overwrite = 1)");
  matchBm25 = await connection.prepare(
    'SELECT key, score FROM (SELECT key, fts_main_t.match_bm25(key, $1) AS score FROM t) WHERE score IS NOT NULL',
  );
}

async function ftsScores(query: string): Promise<Map<string, number>> {
  matchBm25.bindVarchar(1, query);
  const reader = await matchBm25.runAndReadAll();
  return new Map(reader.getRows().map(([key, score]) => [String(key), Number(score)]));
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b));

/** Checks every contender on every query; returns how many queries matched something. */
async function compareAll(label: string, subset = queries, filter?: Filter): Promise<number> {
  let matched = 0;
  const conditions = filter === undefined ? [] : parseFilter(filter);
  for (const query of subset) {
    const theirs = await ftsScores(query);
    // With a filter, fts's ranking of the entries that pass it.
    for (const key of theirs.keys()) if (!matchesFilter(live.get(key)?.metadata ?? {}, conditions)) theirs.delete(key);
    const best = [...theirs.values()].sort((a, b) => b - a).slice(0, 10);
    if (theirs.size > 0) matched += 1;
    for (const contender of contenders) {
      const where = `${label} / ${contender.name} / ${JSON.stringify(query)}`;
      const result = ok(await (contender.backend as DuckDBLTMBackend).search(query, filter, 10));
      expect(result.results.length, where).toBe(best.length);
      result.results.forEach((hit, rank) => {
        const score = theirs.get(hit.key);
        expect(score, `${where}: ${hit.key} at rank ${rank + 1} is not an fts match`).toBeDefined();
        expect(close(hit.score, score as number), `${where}: ${hit.key} scores ${hit.score}, fts ${score}`).toBe(true);
        expect(close(hit.score, best[rank] as number), `${where}: rank ${rank + 1} scores ${hit.score}, fts ${best[rank]}`).toBe(true);
        expect(hit.value, `${where}: ${hit.key}`).toEqual(live.get(hit.key)?.value);
      });
    }
  }
  return matched;
}

async function storeEverywhere(items: Memory[]): Promise<void> {
  for (const contender of contenders) {
    for (let i = 0; i < items.length; i += 500) ok(await (contender.backend as DuckDBLTMBackend).storeMany(items.slice(i, i + 500)));
  }
}

beforeAll(async () => {
  const { dir } = await provisionExtensions({ only: ['fts'] });
  for (const contender of contenders) contender.backend = await DuckDBLTMBackend.open({ ...contender.options, extensionDirectory: dir });
  await storeEverywhere([...live.values()]);
  fts = await openWithFts();
  await rebuildFts();
});

afterAll(async () => {
  for (const contender of contenders) await contender.backend?.close();
  fts?.close();
  parquetDir.cleanup();
});

describe('search against DuckDB fts on real mail', () => {
  it('uses a real corpus and over 200 queries', () => {
    expect(live.size).toBeGreaterThanOrEqual(2000);
    expect(queries.length).toBeGreaterThanOrEqual(200);
    const shapes = [...live.values()].map((m) => (typeof m.value === 'string' ? 'string' : Array.isArray(m.value) ? 'array' : 'object'));
    expect(new Set(shapes)).toEqual(new Set(['string', 'array', 'object']));
  });

  it('gives the top 10 and scores of match_bm25 for every query', async () => {
    expect(await compareAll('fresh')).toBeGreaterThan(queries.length * 0.8);
  });

  it('applies a metadata filter before the limit', async () => {
    // One group of mails in 25: most candidates fail the filter, so it takes several rounds of candidates.
    expect(await compareAll('filtered', queries.slice(0, 60), { group: 'hard-ham-1' })).toBeGreaterThan(10);
    expect(await compareAll('filtered', queries.slice(60, 90), { tags: { $in: [['mail', 'archive']] }, size: { $gte: 2000 } })).toBeGreaterThan(10);
  });

  it('still does after updates, inserts, deletes and expiries', async () => {
    const keys = [...live.keys()];
    const expiresAt = Date.now() + 1500;
    type Op = { kind: 'delete'; key: string } | { kind: 'put'; memory: Memory; expiresAt?: number };
    const ops: Op[] = [];
    for (let i = 0; i < 700; i++) {
      const roll = random(10);
      const key = roll < 8 ? pick(keys) : `new/${i}`;
      if (roll < 2) ops.push({ kind: 'delete', key });
      // Expires while it is still in the tables: search must leave it out without cleanupExpired.
      else if (roll < 3) ops.push({ kind: 'put', memory: memoryOf(pick(spare), key, random(12)), expiresAt });
      else ops.push({ kind: 'put', memory: memoryOf(pick(spare), key, random(12)) });
    }
    // Runs of ops on distinct keys go concurrently (group commits on every backend); runs follow each other in order.
    const runs: Op[][] = [[]];
    for (const op of ops) {
      const key = op.kind === 'delete' ? op.key : op.memory.key;
      const run = runs.at(-1) as Op[];
      if (run.length === 32 || run.some((other) => (other.kind === 'delete' ? other.key : other.memory.key) === key)) runs.push([op]);
      else run.push(op);
    }
    for (const contender of contenders) {
      const backend = contender.backend as DuckDBLTMBackend;
      for (const run of runs) {
        await Promise.all(
          run.map(async (op) => {
            if (op.kind === 'delete') ok(await backend.delete(op.key));
            else ok(await backend.store(op.memory.key, op.memory.value, op.memory.metadata, op.expiresAt === undefined ? undefined : { expiresAt: op.expiresAt }));
          }),
        );
      }
    }
    for (const op of ops) {
      if (op.kind === 'delete') live.delete(op.key);
      else if (op.expiresAt !== undefined) live.delete(op.memory.key);
      else live.set(op.memory.key, op.memory);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt + 100 - Date.now())));
    expect(live.size).toBeGreaterThan(1500);
    await rebuildFts();
    const after = queries.slice(queries.length - 200);
    expect(await compareAll('after writes', after)).toBeGreaterThan(after.length * 0.8);

    for (const contender of contenders) ok(await (contender.backend as DuckDBLTMBackend).cleanupExpired());
    expect(await compareAll('after cleanupExpired', queries.slice(0, 40))).toBeGreaterThan(25);
  });
});
