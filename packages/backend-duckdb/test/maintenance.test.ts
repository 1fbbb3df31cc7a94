// compact, vacuum, purge and exportSnapshot on the backend: the Parquet format's maintenance, and a clear
// `unsupported` naming format: 'parquet' on the native format.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { createParquetFormat } from '@ltm/format-parquet';
import { afterEach, describe, expect, it } from 'vitest';
import { DuckDBLTMBackend } from '../src/index.js';
import { ok, tempDir } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function place(): string {
  const { dir, cleanup } = tempDir('ltm-maintenance-');
  cleanups.push(cleanup);
  return dir;
}

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

describe('on a Parquet store', () => {
  it('compact merges segments, purge removes deleted data physically, exportSnapshot writes the live state', async () => {
    const dir = place();
    const uri = join(dir, 'store');
    // Every commit its own segment (no inline records), no background compaction: the test decides.
    const format = createParquetFormat({ inlineMaxBytes: 0, autoCompact: false, refreshIntervalMs: 0 });
    const backend = await DuckDBLTMBackend.open({ uri, format });
    cleanups.push(() => backend.close());
    for (let i = 0; i < 6; i++) ok(await backend.store(`k${i}`, { text: `secret number ${i}` }));
    ok(await backend.delete('k2'));
    expect(format.stats().segments).toBeGreaterThan(1);

    expect(ok(await backend.compact())).toEqual({ success: true, segments: 1 });
    expect(ok(await backend.retrieveMany(['k1', 'k2', 'k5'])).items.map((item) => item.found)).toEqual([true, false, true]);

    ok(await backend.store('k3', 'replaced'));
    ok(await backend.delete('k4'));
    const purged = ok(await backend.purge());
    expect(purged).toMatchObject({ success: true, compacted: true });
    expect(purged.deletedSegmentFiles).toBeGreaterThan(0);
    // No file of the store still holds the deleted key or the replaced value.
    const connection = await (await DuckDBInstance.create(':memory:')).connect();
    const parquetFiles = files(uri).filter((path) => path.endsWith('.entries.parquet'));
    expect(parquetFiles.length).toBeGreaterThan(0);
    const reader = await connection.runAndReadAll(`SELECT key, value FROM read_parquet(${JSON.stringify(parquetFiles).replaceAll('"', "'")})`);
    const rows = reader.getRowObjectsJson() as { key: string; value: string }[];
    expect(rows.map((row) => row.key).sort()).toEqual(['k0', 'k1', 'k3', 'k5']);
    expect(rows.find((row) => row.key === 'k3')?.value).toBe('"replaced"');

    const target = join(dir, 'export', 'snapshot.parquet');
    expect(ok(await backend.exportSnapshot(target))).toEqual({ success: true, rows: 4, target });
    const exported = (await connection.runAndReadAll(`SELECT key FROM read_parquet('${target}') ORDER BY key`)).getRowObjectsJson();
    expect(exported.map((row) => row.key)).toEqual(['k0', 'k1', 'k3', 'k5']);
    connection.closeSync();

    const vacuumed = ok(await backend.vacuum({ retentionMs: 0 }));
    expect(vacuumed).toMatchObject({ success: true, deletedSegmentFiles: expect.any(Number), deletedRecords: expect.any(Number) });
    expect(await backend.vacuum({ retentionMs: -1 })).toMatchObject({ success: false, errorType: 'validation_error' });
    expect(await backend.exportSnapshot('')).toMatchObject({ success: false, errorType: 'validation_error' });
  });

  it('a read-only store exports but does not compact', async () => {
    const uri = join(place(), 'store');
    const writer = await DuckDBLTMBackend.open({ uri });
    ok(await writer.store('k', 1));
    await writer.close();
    const reader = await DuckDBLTMBackend.open({ uri, readOnly: true });
    cleanups.push(() => reader.close());
    expect(await reader.compact()).toMatchObject({ success: false, errorType: 'read_only' });
    expect(ok(await reader.exportSnapshot(join(uri, '..', 'out.parquet'))).rows).toBe(1);
  });
});

describe('on the native format', () => {
  it('every maintenance call is unsupported and names the Parquet format', async () => {
    const backend = await DuckDBLTMBackend.open({ uri: ':memory:' });
    cleanups.push(() => backend.close());
    for (const result of [await backend.compact(), await backend.vacuum(), await backend.purge(), await backend.exportSnapshot('x.parquet')]) {
      expect(result).toMatchObject({ success: false, errorType: 'unsupported', retryable: false });
      if (!result.success) expect(result.error).toMatch(/needs format: 'parquet'.*native format.*cleanupExpired\(\)/);
    }
  });

  it('a closed backend answers backend_closed', async () => {
    const backend = await DuckDBLTMBackend.open({ uri: ':memory:' });
    await backend.close();
    expect(await backend.compact()).toMatchObject({ success: false, errorType: 'backend_closed' });
  });
});
