// Proof that ftsNormalize and ftsTokens do what fts's tokenize macro does: `lower(strip_accents(...))` for every
// Unicode code point, then whole texts through the macro that `create_fts_index` itself defines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ftsNormalize, ftsTokens } from '@ltm/core';
import { openWithFts, seededRandom, type FtsDatabase } from './duckdb-fts.js';

let db: FtsDatabase;
beforeAll(async () => {
  db = await openWithFts();
  // An index on a one-row table, only to get DuckDB's own `fts_main_sample.tokenize` macro.
  await db.connection.run("CREATE TABLE sample (id VARCHAR, body VARCHAR); INSERT INTO sample VALUES ('x', 'x')");
  await db.connection.run("PRAGMA create_fts_index('sample', 'id', 'body')");
});
afterAll(() => db?.close());

describe('ftsNormalize against lower(strip_accents(s))', () => {
  it('maps every code point as DuckDB does', async () => {
    const { connection } = db;
    await connection.run('CREATE TABLE code_points (cp INTEGER, ours VARCHAR)');
    const appender = await connection.createAppender('code_points');
    for (let cp = 1; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue; // surrogates are not characters
      appender.appendInteger(cp);
      appender.appendVarchar(ftsNormalize(String.fromCodePoint(cp)));
      appender.endRow();
    }
    appender.closeSync();
    const reader = await connection.runAndReadAll(
      `SELECT printf('U+%04X', cp) AS code_point, ours, lower(strip_accents(chr(cp))) AS duckdb
       FROM code_points WHERE ours IS DISTINCT FROM lower(strip_accents(chr(cp))) ORDER BY cp LIMIT 50`,
    );
    expect(reader.getRowObjectsJson()).toEqual([]);
  });
});

const SAMPLES = [
  '',
  '   ',
  'Hello, World! The QUICK brown fox jumps over 13 lazy dogs.',
  "don't can't it's O'Brien rock'n'roll l'été",
  'it’s “smart” quotes — dashes – and… ellipses «guillemets»',
  'well-known e-mail foo_bar a.b.c path/to/file C:\\dir x|y a+b=c {json} [array] <tag> ~tilde ?q #hash @at $5 %20 ^up &amp *star',
  'café naïve Ångström Zürich façade résumé coöperate São Paulo Øresund Łódź Dvořák İstanbul ıi',
  'ΣΟΦΟΣ σοφός Ἀθῆναι ΟΔΥΣΣΕΥΣ ΐ',
  'Москва ЁЛКА йогурт Україна ґанок',
  '東京タワーに行きました。ガギグゲゴ パピプペポ ｶﾞｷﾞｸﾞ 北京欢迎你 서울특별시 한국어',
  'emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷 keycap 1️⃣',
  'tabs\tand\nnewlines\r\nform\ffeed vertical\vtab no\u00a0break ideographic\u3000space zero\u200bwidth',
  'ﬁ ligature ﬀ ① ² ½ Ⅻ ＡＢＣ ｆｕｌｌ１２３',
  'Straße STRASSE ß ẞ',
  'हिन्दी தமிழ் ไทย العربية עברית',
  'a\u0301 e\u0308 combining o\u0302\u0323 q\u0307 \u1100\u1161\u11a8 (jamo)',
  'x'.repeat(10_000),
];

async function duckdbTokens(texts: readonly string[]): Promise<string[][]> {
  const { connection } = db;
  await connection.run('CREATE OR REPLACE TABLE texts (i INTEGER, s VARCHAR)');
  const appender = await connection.createAppender('texts');
  texts.forEach((text, i) => {
    appender.appendInteger(i);
    appender.appendVarchar(text);
    appender.endRow();
  });
  appender.closeSync();
  const reader = await connection.runAndReadAll(
    'SELECT list_filter(fts_main_sample.tokenize(s), t -> len(t) > 0) AS tokens FROM texts ORDER BY i',
  );
  return reader.getRowObjectsJson().map((row) => row.tokens as string[]);
}

describe('ftsTokens against fts tokenize', () => {
  it('splits hand-picked texts (punctuation, accents, scripts, emoji, whitespace kinds) as DuckDB does', async () => {
    const theirs = await duckdbTokens(SAMPLES);
    SAMPLES.forEach((text, i) => expect(ftsTokens(text), JSON.stringify(text.slice(0, 80))).toEqual(theirs[i]));
  });

  it('splits random mixtures of tricky characters as DuckDB does', async () => {
    const alphabet = Array.from(
      "aAeEiIyYsSzZ éÉñÑöÖåÅøØßẞıİσΣςжЖёЁ東京がガｶﾞ한국😀👍🏽\u0301\u0308\u200b\u00a0\u3000\t\n\r\f\v'’\"`-_.,;:!?()[]{}<>/\\|@#$%^&*+=~0123456789①²ﬁ",
    );
    const random = seededRandom(7);
    const texts = Array.from({ length: 5_000 }, () =>
      Array.from({ length: 1 + random(40) }, () => alphabet[random(alphabet.length)]).join(''),
    );
    const theirs = await duckdbTokens(texts);
    const differing = texts.filter((text, i) => JSON.stringify(ftsTokens(text)) !== JSON.stringify(theirs[i]));
    expect(differing.slice(0, 5)).toEqual([]);
  });
});
