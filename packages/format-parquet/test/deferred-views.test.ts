import { describe, expect, test } from 'vitest';
import type { ParquetFormatChange } from '../src/index.js';
import { batchOf, entry, scratch } from './helpers.js';

const { store, open: openStore } = scratch('ltm-parquet-deferred-');

async function open(dir: string, options: Parameters<typeof openStore>[1] = {}) {
  const opened = await openStore(dir, { autoCompact: false, deferViewUpdates: true, ...options });
  const changes: (string[] | null)[] = [];
  opened.format.onChange((change: ParquetFormatChange) => changes.push(change.keys === null ? null : [...change.keys].sort()));
  return { ...opened, changes };
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('deferViewUpdates: the views catch up when a read asks, or in the background', () => {
  test('commit() resolves before the views show the batch; prepareRead(keys) brings them up only for keys a lagging change touches', async () => {
    const dir = store();
    const a = await open(dir);
    const updatesAfterOpen = a.format.stats().viewUpdates;
    await a.format.commit(batchOf([entry('k1'), entry('k2')]));
    // Nothing between commit()'s resolution and this line can run a timer.
    expect(a.format.stats()).toMatchObject({ viewLagRecords: 1, viewUpdates: updatesAfterOpen });
    expect(a.changes).toEqual([]);

    await a.format.prepareRead(['unrelated']);
    expect(a.format.stats().viewUpdates).toBe(updatesAfterOpen);

    await a.format.prepareRead(['k2', 'unrelated']);
    expect(a.format.stats()).toMatchObject({ viewLagRecords: 0, viewUpdates: updatesAfterOpen + 1 });
    // The change is reported once the views show it.
    expect(a.changes).toEqual([['k1', 'k2']]);
    expect(await a.entries()).toEqual({ k1: '{"key":"k1"}', k2: '{"key":"k2"}' });
  });

  test('lagging commits, inline and segments, reach the views in log order (the last write of a key wins)', async () => {
    const dir = store();
    const a = await open(dir, { inlineMaxBytes: 1000 });
    await a.format.commit(batchOf([entry('a', { value: '"1"' }), entry('b')]));
    // Too big to go inline: a segment commit between inline ones.
    await a.format.commit(batchOf([entry('a', { value: JSON.stringify('2'.repeat(2000)) }), entry('c')], ['b']));
    await a.format.commit(batchOf([entry('a', { value: '"3"' })]));
    await a.format.prepareRead(['a']);
    expect(a.format.stats().viewLagRecords).toBe(0);
    expect(await a.entries()).toEqual({ a: '"3"', c: '{"key":"c"}' });
  });

  test("without any read, the views catch up in the background once the log is quiet", async () => {
    const dir = store();
    const a = await open(dir);
    await a.format.commit(batchOf([entry('quiet')]));
    await eventually(() => a.format.stats().viewLagRecords === 0, 'the background update');
    // Read without prepareRead: the background update wrote the views.
    expect(await a.entries()).toEqual({ quiet: '{"key":"quiet"}' });
    expect(a.changes).toEqual([['quiet']]);
  });

  test("refresh() resolves with another writer's commits in the views", async () => {
    const dir = store();
    const writer = await open(dir);
    const reader = await open(dir);
    await writer.format.commit(batchOf([entry('x'), entry('y')]));
    await writer.format.commit(batchOf([entry('z')], ['x']));
    expect(await reader.format.refresh()).toBe(true);
    expect(reader.format.stats().viewLagRecords).toBe(0);
    expect(await reader.entries()).toEqual({ y: '{"key":"y"}', z: '{"key":"z"}' });
  });

  test('a compaction merges inline commits the views had not shown yet', async () => {
    const dir = store();
    const a = await open(dir);
    for (let i = 0; i < 40; i++) await a.format.commit(batchOf([entry(`k${i % 25}`, { value: JSON.stringify(i) })], i % 7 === 6 ? [`k${i - 3}`] : []));
    await a.format.compact();
    expect(a.format.stats()).toMatchObject({ segments: 1, inlineCommits: 0 });
    await a.format.prepareRead();
    const expected: Record<string, string> = {};
    for (let i = 0; i < 40; i++) {
      expected[`k${i % 25}`] = JSON.stringify(i);
      if (i % 7 === 6) delete expected[`k${i - 3}`];
    }
    expect(await a.entries()).toEqual(expected);
    // A fresh reader of the compacted store agrees.
    const fresh = await open(dir, { deferViewUpdates: false });
    expect(await fresh.entries()).toEqual(expected);
  });
});
