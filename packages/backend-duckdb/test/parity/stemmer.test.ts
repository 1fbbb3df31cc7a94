// Proof that porterStem (snowball-stemmers' `porter`) gives the stems of DuckDB's `stem(word, 'porter')`
// (libstemmer inside the fts extension): every word of an English word list, plus tokens with the characters a
// real tokenizer lets through, compared in one query each.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { porterStem } from '@ltm/core';
import { openWithFts, seededRandom, type FtsDatabase } from './duckdb-fts.js';

const englishWords = createRequire(import.meta.url)('an-array-of-english-words') as string[];

let db: FtsDatabase;
beforeAll(async () => {
  db = await openWithFts();
});
afterAll(() => db?.close());

interface Mismatch {
  word: string;
  ours: string;
  duckdb: string;
}

/** Appends (word, our stem) rows, then lets DuckDB stem them all and return the rows that disagree. */
async function compareWithDuckDB(table: string, words: Iterable<string>): Promise<{ rows: number; changed: number; mismatches: Mismatch[] }> {
  const { connection } = db;
  await connection.run(`CREATE OR REPLACE TABLE ${table} (word VARCHAR, ours VARCHAR)`);
  const appender = await connection.createAppender(table);
  for (const word of words) {
    appender.appendVarchar(word);
    appender.appendVarchar(porterStem(word));
    appender.endRow();
  }
  appender.closeSync();
  const summary = await connection.runAndReadAll(
    `SELECT count(*)::INTEGER AS rows, count(*) FILTER (WHERE ours <> word)::INTEGER AS changed FROM ${table}`,
  );
  const [{ rows, changed }] = summary.getRowObjectsJson() as [{ rows: number; changed: number }];
  const reader = await connection.runAndReadAll(
    `SELECT word, ours, stem(word, 'porter') AS duckdb FROM ${table}
     WHERE ours IS DISTINCT FROM stem(word, 'porter') ORDER BY word LIMIT 50`,
  );
  return { rows, changed, mismatches: reader.getRowObjectsJson() as unknown as Mismatch[] };
}

describe('porterStem against DuckDB stem(word, porter)', () => {
  it('agrees on every word of an-array-of-english-words', async () => {
    const words = new Set(englishWords);
    expect(words.size).toBeGreaterThanOrEqual(100_000);
    const result = await compareWithDuckDB('english_words', words);
    expect(result.rows).toBe(words.size);
    // The stemmer really stems: most dictionary words lose a suffix.
    expect(result.changed).toBeGreaterThan(words.size / 3);
    expect(result.mismatches).toEqual([]);
  });

  it('agrees on tokens with accents, other scripts, capitals, apostrophes, astral characters', async () => {
    const inserts = ['é', 'ñ', 'ж', 'Ω', 'σ', '𝒜', '’', 'ー', '東', '😀', 'Y', 'y', 'I', 'ß', 'e', 's', 'i', 'ly', 'ing'];
    const random = seededRandom(20_260_512);
    const tokens = new Set(['', 'y', 'yy', 'ay', 'Yay', 'sky', 'skies', 'ies', 'ied', 'бегущий', 'τρέχω', '東京タワー', 'it’s']);
    while (tokens.size < 60_000) {
      const chars = Array.from(englishWords[random(englishWords.length)]!);
      for (let n = 1 + random(3); n > 0; n--) chars.splice(random(chars.length + 1), 0, inserts[random(inserts.length)]!);
      tokens.add(chars.join(''));
    }
    const result = await compareWithDuckDB('mixed_tokens', tokens);
    expect(result.rows).toBe(tokens.size);
    expect(result.mismatches).toEqual([]);
  });
});
