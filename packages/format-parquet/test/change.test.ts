import { describe, expect, test } from 'vitest';
import type { ParquetFormatChange } from '../src/index.js';
import { T0, batchOf, entry, scratch } from './helpers.js';

const { store, open: openStore } = scratch('ltm-parquet-change-');

async function open(dir: string, options: Parameters<typeof openStore>[1] = {}) {
  const opened = await openStore(dir, { autoCompact: false, ...options });
  const changes: (string[] | null)[] = [];
  const unsubscribe = opened.format.onChange((change: ParquetFormatChange) => changes.push(change.keys === null ? null : [...change.keys].sort()));
  return { ...opened, changes, unsubscribe };
}

describe('change notifications (onChange)', () => {
  test("this process's commits, inline or as a segment, name their keys once the views show them and before commit() resolves", async () => {
    const dir = store();
    const a = await open(dir, { inlineMaxBytes: 1000 });
    await a.format.commit(batchOf([entry('k1'), entry('k2')]));
    expect(a.changes).toEqual([['k1', 'k2']]);

    // Inside the listener the views already show the change.
    const seen: Promise<string[]>[] = [];
    const stop = a.format.onChange(() => {
      seen.push(a.entries().then((rows) => Object.keys(rows)));
    });
    const big = 'x'.repeat(2000);
    await a.format.commit(batchOf([entry('k3', { value: JSON.stringify(big) })], ['k1']));
    expect(a.format.stats().segmentCommitsWritten).toBe(1);
    expect(a.changes.at(-1)).toEqual(['k1', 'k3']);
    expect(await Promise.all(seen)).toEqual([['k2', 'k3']]);
    stop();
    a.unsubscribe();
    await a.format.commit(batchOf([entry('k4')]));
    expect(a.changes).toHaveLength(2);
    expect(seen).toHaveLength(1);
  });

  test("a refresh names the keys of other writers' inline commits and segments; a plain compaction calls nothing", async () => {
    const dir = store();
    const writer = await open(dir, { inlineMaxBytes: 1000 });
    const reader = await open(dir);
    await writer.format.commit(batchOf([entry('a')]));
    await writer.format.commit(batchOf([entry('b'), entry('c', { value: JSON.stringify('y'.repeat(2000)) })], ['a']));
    expect(await reader.format.refresh()).toBe(true);
    expect(reader.changes).toEqual([['a', 'b', 'c']]);

    await writer.format.commit(batchOf([entry('b', { value: '"v2"' })]));
    await writer.format.compact();
    const before = writer.changes.length;
    expect(await reader.format.refresh()).toBe(true);
    // The commit changed b; the compaction (superseded versions and a tombstone) changed nothing visible.
    expect(reader.changes.slice(1)).toEqual([['b']]);
    expect(writer.changes.length).toBe(before);
  });

  test('removing expired rows names them to the compactor; other processes hear "anything may have changed"', async () => {
    const dir = store();
    const writer = await open(dir);
    const reader = await open(dir);
    await writer.format.commit(batchOf([entry('lasting'), entry('short', { expiresAt: T0 + 1000 })]));
    await reader.format.refresh();
    reader.changes.length = 0;
    writer.changes.length = 0;
    expect(await writer.format.removeExpired(T0 + 2000)).toBe(1);
    expect(writer.changes).toEqual([['short']]);
    await reader.format.refresh();
    expect(reader.changes).toEqual([null]);
    expect(Object.keys(await reader.entries())).toEqual(['lasting']);
  });

  test('a reload (here: a reader that fell behind a purge) says anything may have changed; a throwing listener is reported, not fatal', async () => {
    const dir = store();
    const writer = await open(dir);
    const errors: Error[] = [];
    const reader = await open(dir, { onBackgroundError: (error) => errors.push(error) });
    reader.format.onChange(() => {
      throw new Error('listener failed');
    });
    await writer.format.commit(batchOf([entry('a')]));
    await writer.format.commit(batchOf([entry('b')]));
    await writer.format.commit(batchOf([entry('c')], ['a']));
    await writer.format.purge();
    expect(await reader.format.refresh()).toBe(true);
    expect(reader.changes).toEqual([null]);
    expect(Object.keys(await reader.entries())).toEqual(['b', 'c']);
    expect(errors.map((error) => error.message)).toEqual(['listener failed']);
  });
});
