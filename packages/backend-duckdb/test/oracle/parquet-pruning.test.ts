// Search on a Parquet store reads only what it needs: the BM25 SQL (bm25-sql.ts) over @ltm/format-parquet's
// relations reads the terms row groups that can hold the query's terms and no entries row group (document
// statistics come from the format's in-memory key index; the expiry check is answered by the footers' statistics).
// The proof wrecks the pages of every other row group, with DuckDB's cache of file contents off, as
// format-parquet's point-read pruning test does, and searches again.
import { closeSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { ParquetFormat } from '@ltm/format-parquet';
import { rankedKeysSql } from '../../src/search/bm25-sql.js';
import { tempDir } from '../helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openFormat(dir: string, readOnly: boolean) {
  const engine = await DuckDBQueryEngine.open({ path: ':memory:', config: { enable_external_file_cache: 'false' } });
  const format = new ParquetFormat({ refreshIntervalMs: 0, autoCompact: false, inlineMaxBytes: 0 });
  await format.open({ engine, uri: dir, tableName: 'ltm_store', readOnly });
  cleanups.push(async () => {
    await format.close();
    await engine.close();
  });
  return { engine, format };
}

interface RowGroup {
  id: number;
  min: string;
  max: string;
  first: number;
  last: number;
}

async function rowGroups(engine: DuckDBQueryEngine, file: string, column: 'key' | 'term'): Promise<RowGroup[]> {
  const rows = await engine.query<RowGroup>(
    `SELECT row_group_id AS id, min(stats_min) FILTER (WHERE path_in_schema = '${column}') AS min, max(stats_max) FILTER (WHERE path_in_schema = '${column}') AS max,
            min(coalesce(dictionary_page_offset, data_page_offset)) AS first, max(coalesce(dictionary_page_offset, data_page_offset) + total_compressed_size) AS last
       FROM parquet_metadata('${file.replaceAll("'", "''")}') GROUP BY row_group_id ORDER BY row_group_id`,
  );
  return rows.map((row) => ({ ...row, first: Number(row.first), last: Number(row.last) }));
}

function wreck(file: string, group: RowGroup): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(group.last - group.first, 0xff), 0, group.last - group.first, group.first);
  closeSync(fd);
}

describe('search on a Parquet store', () => {
  it('reads the terms row groups of the query terms and no entries row group', async () => {
    const { dir, cleanup } = tempDir('ltm-parquet-search-');
    cleanups.push(cleanup);
    // 6,000 documents of 12 terms each (72,000 postings, 5 row groups of terms); "rare" is in 7 of them.
    const writer = await openFormat(dir, false);
    const docs = Array.from({ length: 6000 }, (_, i) => {
      const key = `doc-${String(i).padStart(5, '0')}`;
      const words = Array.from({ length: 12 }, (_, j) => `w${String((i * 7 + j * 131) % 997).padStart(3, '0')}`);
      if (i % 857 === 0) words[0] = 'rare';
      return { key, words };
    });
    await writer.format.commit({
      puts: docs.map(({ key, words }) => ({ key, value: JSON.stringify(words.join(' ')), metadata: '{}', createdAt: 0, updatedAt: 0, expiresAt: null })),
      deletes: [],
      terms: docs.flatMap(({ key, words }) => [...new Set(words)].map((term) => ({ key, field: 0 as const, term, tf: words.filter((w) => w === term).length }))),
      docs: docs.map(({ key, words }) => ({ key, length: words.length, extraLength: 0 })),
    });

    const reader = await openFormat(dir, true);
    const search = (term: string) =>
      reader.engine.query<{ key: string; score: number }>(
        rankedKeysSql({
          entries: reader.format.relation('entries'),
          terms: reader.format.relation('terms'),
          docs: reader.format.relation('docs'),
          now: '$1',
          parityTerms: '$2',
          extraTerms: '$3',
          allTerms: '$4',
          limit: '$5',
          offset: '$6',
        }),
        [Date.now(), [term], [], [term], 10, 0],
      );
    const before = await search('rare');
    expect(before.map((row) => row.key)).toEqual(docs.filter((doc) => doc.words[0] === 'rare').map((doc) => doc.key));

    const files = readdirSync(join(dir, 'ltm_store', 'data')).map((name) => join(dir, 'ltm_store', 'data', name));
    const termsFile = files.find((file) => file.endsWith('.terms.parquet'))!;
    const entriesFile = files.find((file) => file.endsWith('.entries.parquet'))!;
    const termGroups = await rowGroups(reader.engine, termsFile, 'term');
    expect(termGroups.length).toBeGreaterThanOrEqual(4);
    const holding = termGroups.filter((group) => group.min <= 'rare' && group.max >= 'rare');
    expect(holding.length).toBeLessThan(termGroups.length);
    for (const group of termGroups) if (!holding.includes(group)) wreck(termsFile, group);
    for (const group of await rowGroups(reader.engine, entriesFile, 'key')) wreck(entriesFile, group);

    expect(await search('rare')).toEqual(before);
    // The wreck is real: a search for a term in a wrecked row group fails.
    const elsewhere = termGroups.find((group) => !holding.includes(group))!;
    await expect(search(elsewhere.min)).rejects.toThrow();
  });
});
