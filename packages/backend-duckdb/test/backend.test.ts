import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { createLTMBackend } from '@ltm/core';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { DuckDBLTMBackend, selectFormatName } from '../src/index.js';
import { ok, tempDir } from './helpers.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function fileUri(name = 'ltm.duckdb'): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return join(dir, name);
}

describe('DuckDBLTMBackend on a local file', () => {
  it('leaves the story table readable by plain DuckDB after close', async () => {
    const uri = fileUri();
    const backend = await DuckDBLTMBackend.open({ uri });
    ok(await backend.store('user:1', { name: 'Ada', langs: ['en', 'fr'] }, { type: 'profile' }));
    ok(await backend.store('note:1', 'remember the milk'));
    ok(await backend.store('gone', 1));
    ok(await backend.delete('gone'));
    await backend.close();

    const instance = await DuckDBInstance.create(uri, { access_mode: 'READ_ONLY' });
    const connection = await instance.connect();
    const reader = await connection.runAndReadAll(
      'SELECT key, value, metadata, created_at, updated_at FROM ltm_store ORDER BY key',
    );
    const rows = reader.getRowObjectsJson();
    connection.closeSync();
    instance.closeSync();
    expect(rows.map((r) => r.key)).toEqual(['note:1', 'user:1']);
    expect(JSON.parse(String(rows[1]?.value))).toEqual({ name: 'Ada', langs: ['en', 'fr'] });
    expect(JSON.parse(String(rows[1]?.metadata))).toEqual({ type: 'profile' });
    expect(rows[0]?.created_at).toBeTruthy();
  });

  it('keeps data across close and reopen, with createdAt preserved on update', async () => {
    const uri = fileUri();
    const first = await DuckDBLTMBackend.open({ uri });
    ok(await first.store('k', 1));
    const before = ok(await first.retrieve('k'));
    await first.close();
    await new Promise((r) => setTimeout(r, 5));
    const second = await DuckDBLTMBackend.open({ uri });
    cleanups.push(() => second.close());
    const updated = ok(await second.store('k', 2));
    expect(updated.created).toBe(false);
    const after = ok(await second.retrieve('k'));
    expect(after).toMatchObject({ found: true, value: 2, createdAt: before.found ? before.createdAt : '' });
    expect(after.found && before.found && after.updatedAt > before.updatedAt).toBe(true);
  });

  it('is readable by a DuckDB client in another process after close', async () => {
    const uri = fileUri();
    const backend = await DuckDBLTMBackend.open({ uri });
    ok(await backend.storeMany([{ key: 'a', value: 'x' }, { key: 'b', value: 'y' }]));
    await backend.close();
    const script = `
      import { DuckDBInstance } from '@duckdb/node-api';
      const i = await DuckDBInstance.create(process.argv[1], { access_mode: 'READ_ONLY' });
      const c = await i.connect();
      const r = await c.runAndReadAll('SELECT count(*)::INTEGER AS n FROM ltm_store');
      console.log(JSON.stringify(r.getRowObjectsJson()));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, uri], { cwd: here, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([{ n: 2 }]);
  });

  it('stores timestamps in UTC whatever the time zone of the process', async () => {
    const uri = fileUri();
    const script = `
      import { DuckDBLTMBackend } from '../dist/index.js';
      const b = await DuckDBLTMBackend.open({ uri: process.argv[1] });
      const before = Date.now();
      await b.store('k', 1, {}, { expiresAt: before + 3_600_000 });
      const r = await b.retrieve('k');
      await b.close();
      console.log(JSON.stringify({ before, r }));`;
    for (const tz of ['America/Los_Angeles', 'Asia/Tokyo']) {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, uri], {
        cwd: here,
        encoding: 'utf8',
        env: { ...process.env, TZ: tz },
      });
      const { before, r } = JSON.parse(out) as { before: number; r: { updatedAt: string; expiresAt: string } };
      expect(Math.abs(Date.parse(r.updatedAt) - before)).toBeLessThan(60_000);
      expect(r.updatedAt.endsWith('Z')).toBe(true);
      expect(Math.abs(Date.parse(r.expiresAt) - (before + 3_600_000))).toBeLessThan(60_000);
    }
  });
});

describe('DuckDBLTMBackend writes', () => {
  it('batches concurrent stores: 100 calls reach DuckDB in far fewer commits', async () => {
    const backend = await DuckDBLTMBackend.open();
    cleanups.push(() => backend.close());
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => backend.store(`k${i}`, i)));
    expect(results.every((r) => r.success && r.created)).toBe(true);
    expect(ok(await backend.flush()).flushed).toBe(100);
    const stats = ok(await backend.stats());
    expect(stats.details).toMatchObject({ pendingWrites: 0, appliedWrites: 100 });
    expect(stats.details.applies).toBeLessThan(100);
    expect(stats.entries).toBe(100);
  });

  it('reports created per call in call order when one batch holds the same key twice', async () => {
    const backend = await DuckDBLTMBackend.open();
    cleanups.push(() => backend.close());
    const [a, b, c] = await Promise.all([backend.store('k', 1), backend.store('k', 2), backend.delete('k')]);
    expect(a).toMatchObject({ success: true, created: true });
    expect(b).toMatchObject({ success: true, created: false });
    expect(c).toMatchObject({ success: true, deleted: true });
    expect(ok(await backend.retrieve('k')).found).toBe(false);
    const many = ok(await backend.storeMany([{ key: 'x', value: 1 }, { key: 'x', value: 2 }, { key: 'y', value: 3 }]));
    expect(many).toMatchObject({ stored: 3, created: 2 });
    expect(ok(await backend.retrieve('x')).value).toBe(2);
  });

  it('a store over an expired entry is a create with a fresh createdAt', async () => {
    const backend = await DuckDBLTMBackend.open();
    cleanups.push(() => backend.close());
    ok(await backend.store('k', 1, {}, { expiresAt: Date.now() - 1000 }));
    expect(ok(await backend.store('k', 2)).created).toBe(true);
  });

  it('a failed storeMany leaves earlier data intact', async () => {
    const backend = await DuckDBLTMBackend.open();
    cleanups.push(() => backend.close());
    ok(await backend.store('keep', 'me'));
    const bad = await backend.storeMany([{ key: 'keep', value: 'overwritten?' }, { key: 'nan', value: Number.NaN }]);
    expect(bad).toMatchObject({ success: false, errorType: 'serialization_error' });
    expect(ok(await backend.retrieve('keep')).value).toBe('me');
    expect(ok(await backend.retrieve('nan')).found).toBe(false);
  });

  it('refuses writes on a read-only open with read_only, and still reads', async () => {
    const uri = fileUri();
    const writer = await DuckDBLTMBackend.open({ uri });
    ok(await writer.store('k', 'v'));
    await writer.close();
    const reader = await DuckDBLTMBackend.open({ uri, readOnly: true });
    cleanups.push(() => reader.close());
    expect(reader.capabilities.writable).toBe(false);
    expect(await reader.store('k2', 'v')).toMatchObject({ success: false, errorType: 'read_only' });
    expect(ok(await reader.retrieve('k')).value).toBe('v');
  });
});

describe('DuckDBLTMBackend options', () => {
  it('registers as duckdb (case-insensitive) for createLTMBackend', async () => {
    const backend = await createLTMBackend('DuckDB', { uri: ':memory:', tableName: 'agent_cache' });
    cleanups.push(() => backend.close());
    ok(await backend.store('k', 'v'));
    expect(ok(await backend.retrieve('k')).value).toBe('v');
  });

  it('selects the format from the URI, an explicit format winning', () => {
    expect(selectFormatName(':memory:', 'auto')).toBe('native');
    expect(selectFormatName('./ltm.duckdb', 'auto')).toBe('native');
    expect(selectFormatName('s3://b/agents/cache.DB', 'auto')).toBe('native');
    expect(selectFormatName('s3://b/agents/', 'auto')).toBe('parquet');
    expect(selectFormatName('./memories', 'auto')).toBe('parquet');
    expect(selectFormatName('./ltm.duckdb', 'parquet')).toBe('parquet');
  });

  it('opens a directory as a Parquet store, shared by processes', async () => {
    const uri = fileUri('memories');
    const backend = await DuckDBLTMBackend.open({ uri });
    expect(backend.capabilities).toEqual({ persistent: true, writable: true, fullTextSearch: true, multiWriter: true });
    ok(await backend.store('k', { text: 'parquet memory' }));
    const { details } = ok(await backend.stats());
    expect(details.format).toBe('parquet');
    // The log's counters: this process's commit is record 1, and it raced nobody.
    expect(details.log).toMatchObject({ seq: 1, lastCommitSeq: 1, commits: 1, lostRaces: 0, skipsWritten: 0 });
    expect(details.log).not.toHaveProperty('location');
    await backend.close();
    const reopened = await DuckDBLTMBackend.open({ uri, format: 'parquet' });
    cleanups.push(() => reopened.close());
    expect(ok(await reopened.retrieve('k')).value).toEqual({ text: 'parquet memory' });
    expect(ok(await reopened.search('parquet')).results.map((r) => r.key)).toEqual(['k']);
  });

  it('names the fix when a cloud store needs an extension that is not installed', async () => {
    // A .duckdb file on S3 opens read-only through DuckDB's httpfs (test/cloud/); without the extension, the error names the fix.
    const { dir, cleanup } = tempDir();
    await expect(DuckDBLTMBackend.open({ uri: 's3://bucket/agents/cache.duckdb', extensionDirectory: dir })).rejects.toMatchObject({
      errorType: 'dependency_missing',
      message: expect.stringContaining('ltm extensions install'),
    });
    cleanup();
  });

  it('rejects bad options with validation_error naming the fix', async () => {
    await expect(DuckDBLTMBackend.open({ tableName: 'x; DROP TABLE y' })).rejects.toMatchObject({ errorType: 'validation_error' });
    await expect(DuckDBLTMBackend.open({ tabelName: 'x' } as never)).rejects.toThrow(/tableName/);
    await expect(DuckDBLTMBackend.open({ format: 'csv' as never })).rejects.toThrow(/auto, native or parquet/);
  });

  it('shares one engine between backends without closing it', async () => {
    const engine = await DuckDBQueryEngine.open();
    const a = await DuckDBLTMBackend.open({ queryEngine: engine, tableName: 'a' });
    const b = await DuckDBLTMBackend.open({ queryEngine: engine, tableName: 'b' });
    ok(await a.store('k', 'from a'));
    ok(await b.store('k', 'from b'));
    await a.close();
    expect(ok(await b.retrieve('k')).value).toBe('from b');
    await b.close();
    const rows = await engine.query<{ n: number }>('SELECT count(*)::INTEGER AS n FROM a');
    expect(rows[0]?.n).toBe(1);
    await engine.close();
  });
});
