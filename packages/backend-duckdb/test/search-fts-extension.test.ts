// searchEngine: 'fts-extension': DuckDB's fts extension ranks, rebuilt when the live entries changed; selected
// in code or with `search_engine` in settings; a clear dependency_missing when the extension cannot be loaded.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLTMBackend, parseLtmSettings } from '@ltm/core';
import type { Filter, LTMBackend } from '@ltm/core';
import { provisionExtensions } from '../../../tooling/extensions/index.mjs';
import { DuckDBLTMBackend } from '../src/index.js';
import { ok, tempDir } from './helpers.js';

let extensionDirectory: string;
beforeAll(async () => {
  extensionDirectory = (await provisionExtensions({ only: ['fts'] })).dir;
});

const keys = async (backend: LTMBackend, query: string, filter?: Filter): Promise<string[]> =>
  ok(await backend.search(query, filter, 100)).results.map((r) => r.key);

describe("searchEngine: 'fts-extension'", () => {
  let backend: DuckDBLTMBackend;
  beforeAll(async () => {
    backend = await DuckDBLTMBackend.open({ searchEngine: 'fts-extension', extensionDirectory });
    ok(
      await backend.storeMany([
        { key: 'a', value: 'running shoes for the marathon', metadata: { type: 'gear' } },
        { key: 'b', value: { title: 'Marathon plan', weeks: 16, notes: ['run easy', 'order 4521'] }, metadata: { type: 'plan' } },
        { key: 'c', value: 'Café au lait', metadata: {} },
      ]),
    );
  });
  afterAll(async () => backend.close());

  it('ranks as fts does, with the same result shape', async () => {
    const result = ok(await backend.search('marathon running', undefined, 10));
    expect(result.results.map((r) => r.key)).toEqual(['a', 'b']);
    expect(result.results[0]).toMatchObject({ key: 'a', value: 'running shoes for the marathon', metadata: { type: 'gear' } });
    expect(result.results[0]?.score).toBeGreaterThan(result.results[1]?.score as number);
    expect(typeof result.results[0]?.updatedAt).toBe('string');
    expect(await keys(backend, 'cafe')).toEqual(['c']);
    expect(await keys(backend, 'marathon', { type: 'plan' })).toEqual(['b']);
    // What fts cannot find: numbers are not indexed by the extension.
    expect(await keys(backend, '4521')).toEqual([]);
  });

  it('rebuilds when entries change: new, updated, deleted and expired entries are seen at the next search', async () => {
    ok(await backend.store('d', 'marathon recovery week'));
    expect(await keys(backend, 'recovery')).toEqual(['d']);
    ok(await backend.store('d', 'taper week'));
    expect(await keys(backend, 'recovery')).toEqual([]);
    ok(await backend.delete('a'));
    expect(await keys(backend, 'shoes')).toEqual([]);
    ok(await backend.store('e', 'tempo intervals', {}, { expiresAt: Date.now() + 300 }));
    expect(await keys(backend, 'tempo')).toEqual(['e']);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await keys(backend, 'tempo')).toEqual([]);
  });

  it('pages with a cursor and answers hostile queries', async () => {
    const first = ok(await backend.search({ query: 'marathon week', limit: 1 }));
    expect(first.results).toHaveLength(1);
    const second = ok(await backend.search({ query: 'marathon week', limit: 1, cursor: first.nextCursor }));
    expect(second.results.map((r) => r.key)).not.toEqual(first.results.map((r) => r.key));
    for (const query of ["'; DROP TABLE ltm_store; --", '"unbalanced', '😀', 'x'.repeat(10_240), '!!!']) {
      expect((await backend.search(query)).success, query.slice(0, 20)).toBe(true);
    }
  });
});

describe('fts-extension on a read-only store', () => {
  it('builds its index outside the database file', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const uri = join(dir, 'memory.duckdb');
      const writer = await DuckDBLTMBackend.open({ uri });
      ok(await writer.store('k', 'quarterly planning notes'));
      await writer.close();
      const reader = await DuckDBLTMBackend.open({ uri, readOnly: true, searchEngine: 'fts-extension', extensionDirectory });
      expect(await keys(reader, 'planning')).toEqual(['k']);
      await reader.close();
    } finally {
      cleanup();
    }
  });
});

describe('choosing the engine', () => {
  it('accepts search_engine in settings', async () => {
    const yaml = `settings:\n  ltm:\n    backend: duckdb\n    search_engine: fts-extension\n    extension_directory: ${JSON.stringify(extensionDirectory)}\n`;
    const { backend: name, options } = parseLtmSettings(yaml, { env: {} });
    expect(options).toMatchObject({ searchEngine: 'fts-extension' });
    const backend = await createLTMBackend(name, options);
    ok(await backend.store('n', 'order 4521 shipped'));
    expect(await keys(backend, '4521')).toEqual([]); // the extension drops digits
    expect(await keys(backend, 'shipped')).toEqual(['n']);
    await backend.close();
    const bm25 = await createLTMBackend('duckdb', {});
    ok(await bm25.store('n', 'order 4521 shipped'));
    expect(await keys(bm25, '4521')).toEqual(['n']);
    await bm25.close();
  });

  it('rejects an unknown engine', async () => {
    await expect(DuckDBLTMBackend.open({ searchEngine: 'lucene' as never })).rejects.toMatchObject({ errorType: 'validation_error' });
  });

  it('answers dependency_missing, naming the fix, when the extension is not installed', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const backend = await DuckDBLTMBackend.open({ searchEngine: 'fts-extension', extensionDirectory: dir });
      ok(await backend.store('k', 'text'));
      const result = await backend.search('text');
      expect(result).toMatchObject({ success: false, errorType: 'dependency_missing' });
      if (!result.success) {
        expect(result.error).toContain('tooling/extensions/provision.mjs');
        expect(result.error).toContain('ltm extensions install');
      }
      expect(ok(await backend.search(undefined, { x: 1 })).results).toEqual([]); // listing needs no extension
      await backend.close();
    } finally {
      cleanup();
    }
  });
});
