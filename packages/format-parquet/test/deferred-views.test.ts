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

/**
 * The key index the backend asks before it looks a write's keys up (`knownKeys`) holds every key `entries` holds,
 * once the reader has read the log: checked for the keys k0 to k11 of the random test, and a key never written.
 */
async function expectKnown(reader: Awaited<ReturnType<typeof open>>, model: Map<string, string>, when: string): Promise<void> {
  const asked = [...Array.from({ length: 12 }, (_, n) => `k${n}`), 'never-written'];
  await reader.format.refresh();
  await reader.format.prepareRead(asked);
  const known = await reader.format.knownKeys(asked);
  for (const key of model.keys()) expect(known.has(key), `${key} ${when}`).toBe(true);
  expect(known.has('never-written')).toBe(false);
}

function sorted(model: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...model].sort(([x], [y]) => (x < y ? -1 : 1)));
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

  test('the views catch up in the background once the log is quiet, in a process whose reads waited for them', async () => {
    const dir = store();
    const a = await open(dir);
    const updatesAfterOpen = a.format.stats().viewUpdates;
    await a.format.commit(batchOf([entry('first')]));
    // No read has waited yet: a process that only writes leaves the views lagging, however quiet the log.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(a.format.stats()).toMatchObject({ viewLagRecords: 1, viewUpdates: updatesAfterOpen });

    await a.format.prepareRead(['first']); // waits for the views
    await a.format.commit(batchOf([entry('quiet')]));
    await eventually(() => a.format.stats().viewLagRecords === 0, 'the background update');
    // Read without prepareRead: the background update wrote the views.
    expect(await a.entries()).toEqual({ first: '{"key":"first"}', quiet: '{"key":"quiet"}' });
    expect(a.changes).toEqual([['first'], ['quiet']]);
  });

  test("another writer's compaction reaches the views of a process that only writes within a quarter of the retention", async () => {
    const dir = store();
    const writer = await open(dir, { retentionMs: 400 });
    const other = await open(dir, { refreshIntervalMs: 20 });
    await other.format.commit(batchOf([entry('own')]));
    await writer.format.commit(batchOf([entry('x'), entry('y')]));
    await writer.format.commit(batchOf([entry('z')], ['x']));
    await writer.format.compact();
    // `other` never reads; its background refresh finds the commits and the compaction, and the compaction's
    // files-may-go deadline (400 / 4 ms) brings its views up to date.
    await eventually(() => other.format.stats().viewLagRecords === 0 && other.changes.length > 0, "the other writer's changes in the views");
    expect(await other.entries()).toEqual({ own: '{"key":"own"}', y: '{"key":"y"}', z: '{"key":"z"}' });
  });

  /** A process that never reads (`p`) after its views lagged past `viewLagMaxRows`: the rows were let go. */
  async function droppedViews() {
    const dir = store();
    const writer = await open(dir, { inlineMaxBytes: 1000 });
    const p = await open(dir, { viewLagMaxRows: 10 });
    const start = p.format.stats();
    await p.format.commit(batchOf([entry('p1')]));
    for (let i = 0; i < 3; i++) await writer.format.commit(batchOf([entry(`w${i}a`), entry(`w${i}b`)]));
    // p's commit applies the three records it missed and its own: 2 + 3 * 4 + 2 rows behind, more than 10.
    await p.format.commit(batchOf([entry('p2')]));
    expect(p.format.stats()).toMatchObject({ viewDrops: start.viewDrops + 1, viewUpdates: start.viewUpdates, viewLagRecords: 5 });
    // Another writer's segment (too big to go inline) after the drop: its keys are only in its file.
    await writer.format.commit(batchOf([entry('big', { value: JSON.stringify('x'.repeat(2000)) })]));
    await p.format.commit(batchOf([entry('p3')]));
    expect(p.format.stats()).toMatchObject({ viewDrops: start.viewDrops + 1, viewLagRecords: 7 });
    return { dir, p, start, keys: ['big', 'p1', 'p2', 'p3', 'w0a', 'w0b', 'w1a', 'w1b', 'w2a', 'w2b'] };
  }

  test('a process whose reads never wait lets lagging rows go; a read of a key they touched reads those records again', async () => {
    const { p, start, keys } = await droppedViews();
    // Keys no lagging change touched need nothing (the segment's keys are read from its file, not the views).
    await p.format.prepareRead(['unrelated']);
    expect(p.format.stats()).toMatchObject({ viewRebuilds: start.viewRebuilds, viewUpdates: start.viewUpdates, viewLagRecords: 7 });
    await p.format.prepareRead(['big']);
    // One ordinary update of the views, with the rows read again: no rebuild from a checkpoint.
    expect(p.format.stats()).toMatchObject({ viewRebuilds: start.viewRebuilds, viewUpdates: start.viewUpdates + 1, viewLagRecords: 0 });
    expect(Object.keys(await p.entries())).toEqual(keys);
    expect(p.changes).toEqual([keys]);
  });

  test('a process that compacts keeps its views up to date past viewLagMaxRows instead of letting the rows go', async () => {
    const dir = store();
    const writer = await open(dir);
    const p = await open(dir, { viewLagMaxRows: 10, autoCompact: true, compaction: { flushInlineRecords: 2 } });
    await p.format.commit(batchOf([entry('p1')]));
    await p.format.commit(batchOf([entry('p2')])); // passes the threshold: p compacts
    await eventually(() => p.format.stats().compactions === 1, 'the compaction');
    const start = p.format.stats();
    for (let i = 0; i < 3; i++) await writer.format.commit(batchOf([entry(`w${i}a`), entry(`w${i}b`)]));
    // 3 * 4 + 2 rows behind, more than 10: written to the views rather than let go, as droppedViews() does.
    await p.format.commit(batchOf([entry('p3')]));
    await eventually(() => p.format.stats().viewUpdates > start.viewUpdates, 'the view update');
    expect(p.format.stats()).toMatchObject({ viewDrops: start.viewDrops });
    expect(Object.keys(await p.entries())).toEqual(['p1', 'p2', 'p3', 'w0a', 'w0b', 'w1a', 'w1b', 'w2a', 'w2b']);
  });

  test('rows let go that vacuum deleted after another writer compacted them: the views are rebuilt from the log', async () => {
    const { dir, p, start, keys } = await droppedViews();
    const compactor = await open(dir, { deferViewUpdates: false });
    await compactor.format.compact();
    await compactor.format.vacuum({ retentionMs: 0 });
    await p.format.prepareRead(['p1']);
    expect(p.format.stats()).toMatchObject({ viewRebuilds: start.viewRebuilds + 1, viewLagRecords: 0 });
    expect(Object.keys(await p.entries())).toEqual(keys);
    expect(p.changes).toEqual([null]);
  });

  test('a compaction after the rows were let go merges every row (the views are rebuilt first)', async () => {
    const { dir, p, keys } = await droppedViews();
    await p.format.compact();
    expect(p.format.stats()).toMatchObject({ segments: 1, inlineCommits: 0 });
    const fresh = await open(dir, { deferViewUpdates: false });
    expect(Object.keys(await fresh.entries())).toEqual(keys);
  });

  test('random commits and compactions of two writers, one of which only writes and lets rows go, leave both views equal to the log', async () => {
    const dir = store();
    const a = await open(dir, { inlineMaxBytes: 600 });
    const b = await open(dir, { viewLagMaxRows: 6 });
    const c = await open(dir);
    const model = new Map<string, string>();
    let seed = 7;
    const random = (n: number) => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n | 0;
    };
    let compactionsAfterDrop = 0;
    for (let step = 0; step < 60; step++) {
      const writer = random(2) === 0 ? a : b;
      if (random(8) === 0) {
        if (writer === b && b.format.stats().viewDrops > 0) compactionsAfterDrop++;
        await writer.format.compact();
        // What the merge wrote is what a new reader sees.
        const fresh = await open(dir, { deferViewUpdates: false });
        expect(await fresh.entries(), `after the compaction of step ${step}`).toEqual(sorted(model));
        await fresh.close();
        continue;
      }
      const puts = new Map<string, string>();
      for (let n = random(3) + 1; n > 0; n--) puts.set(`k${random(12)}`, JSON.stringify(random(2) === 0 ? step : 'v'.repeat(step * 10)));
      const deletes = [`k${random(12)}`].filter((key) => !puts.has(key) && random(3) === 0);
      await writer.format.commit(batchOf([...puts].map(([key, value]) => entry(key, { value })), deletes));
      for (const [key, value] of puts) model.set(key, value);
      for (const key of deletes) model.delete(key);
      // The key index the backend asks before it looks a write's keys up: never without a key `entries` holds
      // (the other writer's commits once it has read the log).
      // b is left alone here: asking it would make it a reading process, which never lets rows go.
      for (const reader of [a, c]) await expectKnown(reader, model, `after step ${step}`);
    }
    expect(b.format.stats().viewDrops).toBeGreaterThan(0);
    expect(compactionsAfterDrop).toBeGreaterThan(0);
    const expected = sorted(model);
    for (const reader of [a, b]) {
      await reader.format.refresh();
      expect(await reader.entries()).toEqual(expected);
      await expectKnown(reader, model, 'at the end');
    }
    const fresh = await open(dir, { deferViewUpdates: false });
    expect(await fresh.entries()).toEqual(expected);
  });

  test("knownKeys: the keys the views hold among those asked, another writer's and compacted ones included", async () => {
    const dir = store();
    const a = await open(dir);
    const b = await open(dir);
    await a.format.commit(batchOf([entry('a1'), entry('a2')]));
    // Like `entries`, it shows another writer's commits once this process read them from the log.
    await b.format.prepareRead(['a1', 'b1']);
    expect(await b.format.knownKeys(['a1', 'a2', 'b1'])).toEqual(new Set());
    await b.format.refresh();
    await b.format.prepareRead(['a1', 'b1']);
    expect(await b.format.knownKeys(['a1', 'a2', 'b1'])).toEqual(new Set(['a1', 'a2']));
    await b.format.commit(batchOf([entry('b1')], ['a1']));
    await a.format.compact();
    for (const reader of [a, b]) {
      await reader.format.refresh();
      await reader.format.prepareRead(['a1', 'a2', 'b1', 'none']);
      const known = await reader.format.knownKeys(['a1', 'a2', 'b1', 'none']);
      // a1 was deleted: it may still be known; the live ones must be.
      expect([...known].filter((key) => key !== 'a1').sort()).toEqual(['a2', 'b1']);
      expect(await reader.entries()).toEqual({ a2: '{"key":"a2"}', b1: '{"key":"b1"}' });
    }
    expect(await a.format.knownKeys([])).toEqual(new Set());
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

  test("a process applies other writers' commits from their summaries and decodes their rows only when its views or a compaction need them", async () => {
    const dir = store();
    const writer = await open(dir);
    const p = await open(dir);
    await p.format.commit(batchOf([entry('own')]));
    for (let i = 0; i < 3; i++) await writer.format.commit(batchOf([entry(`w${i}`), entry(`shared`, { value: JSON.stringify(i) })]));
    // p's commit applies the three it missed: their keys and sizes come from their summaries.
    await p.format.commit(batchOf([entry('own-2')]));
    expect(p.format.stats()).toMatchObject({ seq: 5, inlineCommits: 5, viewLagRecords: 5, inlineRowsDecoded: 0 });
    // A read of keys they do not touch needs no rows; a read of one they touch decodes them all (log order).
    await p.format.prepareRead(['elsewhere']);
    expect(p.format.stats().inlineRowsDecoded).toBe(0);
    await p.format.prepareRead(['shared']);
    expect(p.format.stats()).toMatchObject({ viewLagRecords: 0, inlineRowsDecoded: 3 });
    expect(await p.entries()).toEqual({ own: '{"key":"own"}', 'own-2': '{"key":"own-2"}', shared: '2', w0: '{"key":"w0"}', w1: '{"key":"w1"}', w2: '{"key":"w2"}' });

    // A compaction of commits the views did not show decodes what it merges, once.
    await writer.format.commit(batchOf([entry('w3')]));
    await p.format.commit(batchOf([entry('own-3')]));
    expect(p.format.stats()).toMatchObject({ viewLagRecords: 2, inlineRowsDecoded: 3 });
    await p.format.compact();
    expect(p.format.stats()).toMatchObject({ inlineRowsDecoded: 4, segments: 1, inlineCommits: 0 });
    expect(Object.keys(await p.entries())).toEqual(['own', 'own-2', 'own-3', 'shared', 'w0', 'w1', 'w2', 'w3']);
  });
});
