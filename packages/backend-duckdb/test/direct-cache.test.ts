/**
 * The point-read cache of multi-writer stores (store/direct-store.ts): warm reads come from memory, and
 * every change the format reports (own commits, other writers' commits picked up by refresh, anything
 * the format cannot name) reaches the cache before a read can see it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createParquetFormat } from '@ltm/format-parquet';
import type { ParquetFormat } from '@ltm/format-parquet';
import { DuckDBLTMBackend } from '../src/index.js';
import { ok, tempDir } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openOn(dir: string, extra: { cacheMaxBytes?: number } = {}): Promise<{ backend: DuckDBLTMBackend; format: ParquetFormat }> {
  // Refreshes only when asked, so the test decides when the other writer's commits become visible.
  const format = createParquetFormat({ refreshIntervalMs: 0, autoCompact: false });
  const backend = await DuckDBLTMBackend.open({ uri: dir, format, ...extra });
  cleanups.push(() => backend.close());
  return { backend, format };
}

async function details(backend: DuckDBLTMBackend): Promise<Record<string, unknown>> {
  return ok(await backend.stats()).details as Record<string, unknown>;
}

describe('the keys of a write', () => {
  it("are looked up in entries only when the format knows them; another writer's key keeps its creation time", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    // Without the cache, every write of a known key must ask entries.
    const writer = await openOn(dir, { cacheMaxBytes: 0 });
    const other = await openOn(dir, { cacheMaxBytes: 0 });
    const entriesLookups = vi.spyOn(writer.format, 'relation');
    const lookups = () => entriesLookups.mock.calls.filter(([name]) => name === 'entries').length;

    expect(ok(await writer.backend.store('new', { v: 1 })).created).toBe(true);
    expect(lookups()).toBe(0);
    expect(ok(await writer.backend.store('new', { v: 2 })).created).toBe(false);
    expect(lookups()).toBe(1);

    ok(await other.backend.store('theirs', 'first'));
    const first = ok(await other.backend.retrieve('theirs'));
    await writer.format.refresh();
    expect(ok(await writer.backend.store('theirs', 'second')).created).toBe(false);
    const read = ok(await writer.backend.retrieve('theirs'));
    expect(read).toMatchObject({ found: true, value: 'second' });
    expect(first.found && read.found && read.createdAt === first.createdAt).toBe(true);
  });
});

describe('multi-writer point-read cache', () => {
  it('answers a warm read from memory and sees its own writes at once', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { backend } = await openOn(dir);
    ok(await backend.store('k', { v: 1 }));
    expect(ok(await backend.retrieve('k')).value).toEqual({ v: 1 });
    const hitsBefore = Number((await details(backend)).cacheHits);
    expect(ok(await backend.retrieve('k')).value).toEqual({ v: 1 });
    expect(Number((await details(backend)).cacheHits)).toBe(hitsBefore + 1);

    ok(await backend.store('k', { v: 2 }));
    expect(ok(await backend.retrieve('k')).value).toEqual({ v: 2 });
    ok(await backend.delete('k'));
    expect(ok(await backend.retrieve('k')).found).toBe(false);
    const many = ok(await backend.retrieveMany(['k', 'k']));
    expect(many.items.map((r) => r.found)).toEqual([false, false]);
  });

  it("drops a cached key when a refresh brings another writer's commit of it", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const reader = await openOn(dir);
    const writer = await openOn(dir);
    ok(await writer.backend.storeMany([
      { key: 'a', value: 'a1' },
      { key: 'b', value: 'b1' },
    ]));
    await reader.format.refresh();
    expect(ok(await reader.backend.retrieve('a')).value).toBe('a1');
    expect(ok(await reader.backend.retrieve('b')).value).toBe('b1');

    ok(await writer.backend.store('a', 'a2'));
    ok(await writer.backend.delete('b'));
    // Until the reader refreshes, its snapshot (and so its cache) still shows the old rows.
    expect(ok(await reader.backend.retrieve('a')).value).toBe('a1');
    await reader.format.refresh();
    expect(ok(await reader.backend.retrieve('a')).value).toBe('a2');
    expect(ok(await reader.backend.retrieve('b')).found).toBe(false);
    await writer.format.refresh();
    expect(ok(await writer.backend.retrieve('a')).value).toBe('a2');
  });

  it('stays exact across a compaction that merges the segments it read from', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const reader = await openOn(dir);
    const writer = await openOn(dir);
    for (let round = 0; round < 3; round++) {
      ok(await writer.backend.storeMany(Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `r${round}` }))));
    }
    await reader.format.refresh();
    expect(ok(await reader.backend.retrieve('k3')).value).toBe('r2');
    ok(await writer.backend.store('k3', 'after'));
    await writer.format.compact();
    await reader.format.refresh();
    expect(ok(await reader.backend.retrieve('k3')).value).toBe('after');
    expect(ok(await reader.backend.retrieve('k4')).value).toBe('r2');
  });

  it('does not serve an entry past its expiry from the cache', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { backend } = await openOn(dir);
    const expiresAt = new Date(Date.now() + 300).toISOString();
    ok(await backend.store('short', 'lived', null, { expiresAt }));
    expect(ok(await backend.retrieve('short')).found).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(ok(await backend.retrieve('short')).found).toBe(false);
  });

  it('is off with cacheMaxBytes: 0', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const { backend } = await openOn(dir, { cacheMaxBytes: 0 });
    ok(await backend.store('k', 1));
    ok(await backend.retrieve('k'));
    ok(await backend.retrieve('k'));
    expect((await details(backend)).cacheHits).toBe(0);
  });
});
