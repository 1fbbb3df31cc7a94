import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBQueryEngine, quoteStringLiteral } from '../src/index.js';

const HOSTILE = [
  '',
  "'",
  "''",
  "it's",
  "'); DROP TABLE t; --",
  "' OR '1'='1",
  '\\',
  "\\'",
  "\\''",
  'a\nb\r\nc\td',
  '$1 ? :name',
  '-- comment',
  '/* block */',
  ';',
  '"double"',
  'E\'\\x41\'',
  '東京 été 🦆 \u{1F600}',
  '\uFEFFbom',
  'x'.repeat(10_000),
];

describe('quoteStringLiteral', () => {
  const engine = DuckDBQueryEngine.open();
  afterAll(async () => (await engine).close());

  it('makes every hostile string round-trip exactly through DuckDB', async () => {
    const db = await engine;
    for (const value of HOSTILE) {
      const [row] = await db.query<{ v: string }>(`SELECT ${quoteStringLiteral(value)} AS v`);
      expect(row?.v).toBe(value);
    }
  });

  it('round-trips any well-formed string without NUL (property test)', async () => {
    const db = await engine;
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 64 }).filter((s) => !s.includes('\0')), async (value) => {
        const [row] = await db.query<{ v: string; n: number }>(`SELECT ${quoteStringLiteral(value)} AS v, 1 AS n`);
        expect(row).toEqual({ v: value, n: 1 });
      }),
      { numRuns: 300 },
    );
  });

  it('quotes the path ATTACH needs: a file whose name is hostile attaches and is named exactly', async () => {
    const db = await engine;
    const dir = mkdtempSync(join(tmpdir(), "ltm-literal-'; --"));
    try {
      const path = join(dir, "it's -- a '); DROP.duckdb");
      await db.run(`ATTACH ${quoteStringLiteral(path)} AS hostile`);
      const [row] = await db.query<{ path: string }>("SELECT path FROM duckdb_databases() WHERE database_name = 'hostile'");
      expect(row?.path).toBe(path);
      await db.run('DETACH hostile');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what cannot round-trip: NUL and lone surrogates', () => {
    expect(() => quoteStringLiteral('a\0b')).toThrow(/NUL/);
    expect(() => quoteStringLiteral('a\uD800b')).toThrow(/lone surrogate/);
    expect(() => quoteStringLiteral(42 as unknown as string)).toThrow(/expected a string/);
    expect(quoteStringLiteral('\u{1F600}')).toBe("'\u{1F600}'");
  });
});
