import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SQLiteBackend, toMatchExpression } from '../src/peers/sqlite-backend.js';

describe('SQLiteBackend (the bench peer)', () => {
  let dir: string;
  let file: string;
  let backend: SQLiteBackend;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-peer-test-'));
    file = path.join(dir, 'peer.sqlite');
    backend = await SQLiteBackend.open({ path: file });
  });
  afterEach(async () => {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  const keysOf = async (query: string, filter?: Record<string, unknown>): Promise<string[]> => {
    const result = await backend.search({ query, filter: filter as never, limit: 50 });
    if (!result.success) throw new Error(result.error);
    return result.results.map((hit) => hit.key);
  };

  it("keeps the story's schema, WAL and synchronous=NORMAL", async () => {
    await backend.close();
    const db = new Database(file);
    try {
      const columns = db.prepare("SELECT name, type, pk FROM pragma_table_info('ltm_store')").all();
      expect(columns).toEqual([
        { name: 'key', type: 'TEXT', pk: 1 },
        { name: 'value', type: 'TEXT', pk: 0 },
        { name: 'metadata', type: 'TEXT', pk: 0 },
        { name: 'created_at', type: 'TIMESTAMP', pk: 0 },
        { name: 'updated_at', type: 'TIMESTAMP', pk: 0 },
      ]);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").pluck().all();
      expect(triggers).toEqual(['ltm_store_ad', 'ltm_store_ai', 'ltm_store_au']);
    } finally {
      db.close();
    }
    backend = await SQLiteBackend.open({ path: file });
  });

  it('round-trips values and metadata and reports created vs updated', async () => {
    const value = { text: 'Zoë prefers oat milk', n: [1, 2.5, null], nested: { ok: true } };
    expect(await backend.store('user:zoe', value, { type: 'preference' })).toMatchObject({ success: true, created: true });
    expect(await backend.store('user:zoe', value, { type: 'preference' })).toMatchObject({ success: true, created: false });
    const found = await backend.retrieve('user:zoe');
    expect(found).toMatchObject({ success: true, found: true, value, metadata: { type: 'preference' } });
    if (found.success && found.found) expect(found.updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    expect(await backend.retrieve('missing', 'fallback')).toEqual({ success: true, found: false, value: 'fallback' });
    expect(await backend.delete('user:zoe')).toEqual({ success: true, deleted: true, key: 'user:zoe' });
    expect(await backend.delete('user:zoe')).toEqual({ success: true, deleted: false, key: 'user:zoe' });
  });

  it('keeps the full-text index in step with updates and deletes', async () => {
    await backend.store('a', 'the flight to Lisbon is on Monday');
    await backend.store('b', 'coffee with oat milk');
    expect(await keysOf('lisbon')).toEqual(['a']);
    await backend.store('a', 'the train to Porto is on Tuesday');
    expect(await keysOf('lisbon')).toEqual([]);
    expect(await keysOf('porto')).toEqual(['a']);
    await backend.delete('a');
    expect(await keysOf('porto')).toEqual([]);
    expect(await keysOf('porto coffee')).toEqual(['b']);
  });

  it('ranks with bm25, best first, and treats any query text as plain words', async () => {
    await backend.store('strong', 'lisbon lisbon lisbon trip');
    await backend.store('weak', 'a trip somewhere, maybe lisbon, with a long description of many other things to do');
    const result = await backend.search('lisbon');
    expect(result.success && result.results.map((hit) => hit.key)).toEqual(['strong', 'weak']);
    if (result.success) expect(result.results[0]!.score).toBeGreaterThan(result.results[1]!.score);
    for (const query of ['"', 'NEAR(lisbon trip)', 'lisbon AND', '*', 'col:lisbon', "it's ^lisbon-trip"]) {
      expect((await backend.search(query)).success).toBe(true);
    }
    expect(toMatchExpression('say "hi" NEAR(x)')).toBe('"say" OR "hi" OR "NEAR" OR "x"');
    expect(toMatchExpression('?!')).toBeUndefined();
  });

  it('filters metadata with strict JSON equality and the comparison operators', async () => {
    await backend.store('n1', 'note', { level: 1, tag: 'x', on: true });
    await backend.store('s1', 'note', { level: '1', tag: 'y', on: 1 });
    await backend.store('n5', 'note', { level: 5, user: { id: 7 } });
    await backend.store('none', 'note', {});
    expect((await keysOf('note', { level: 1 })).sort()).toEqual(['n1']);
    expect((await keysOf('note', { level: '1' })).sort()).toEqual(['s1']);
    expect((await keysOf('note', { on: true })).sort()).toEqual(['n1']);
    expect((await keysOf('note', { level: { $gte: 1 } })).sort()).toEqual(['n1', 'n5']);
    expect((await keysOf('note', { tag: { $ne: 'x' } })).sort()).toEqual(['n5', 'none', 's1']);
    expect((await keysOf('note', { tag: { $in: ['x', 'y'] } })).sort()).toEqual(['n1', 's1']);
    expect((await keysOf('note', { tag: { $nin: ['x'] } })).sort()).toEqual(['n5', 'none', 's1']);
    expect((await keysOf('note', { level: { $exists: false } })).sort()).toEqual(['none']);
    expect((await keysOf('note', { 'user.id': 7 })).sort()).toEqual(['n5']);
    const noQuery = await backend.search({ filter: { level: { $lt: 3 } } });
    expect(noQuery.success && noQuery.results.map((hit) => [hit.key, hit.score])).toEqual([['n1', 0]]);
  });

  it('stores a batch atomically: one bad item and nothing is stored', async () => {
    const bad = await backend.storeMany([
      { key: 'ok-1', value: 1 },
      { key: '', value: 2 },
    ]);
    expect(bad).toMatchObject({ success: false, errorType: 'validation_error' });
    expect(await backend.retrieve('ok-1')).toMatchObject({ found: false });
    expect(await backend.storeMany([{ key: 'ok-1', value: 1 }, { key: 'ok-2', value: 2 }])).toEqual({ success: true, stored: 2, created: 2 });
    expect(await backend.stats()).toMatchObject({ success: true, backend: 'sqlite', entries: 2 });
  });

  it('refuses expiry, which the story schema cannot hold, instead of ignoring it', async () => {
    expect(await backend.store('k', 1, null, { ttlSeconds: 60 })).toMatchObject({ success: false, errorType: 'unsupported' });
    expect(await backend.retrieve('k')).toMatchObject({ found: false });
  });

  it('lists keys in order by prefix, page by page', async () => {
    await backend.storeMany(['ana:3', 'ana:1', 'ben:1', 'ana:2'].map((key) => ({ key, value: key })));
    const first = await backend.list({ prefix: 'ana:', limit: 2 });
    expect(first.success && first.items.map((item) => item.key)).toEqual(['ana:1', 'ana:2']);
    const second = first.success ? await backend.list({ prefix: 'ana:', limit: 2, cursor: first.nextCursor }) : first;
    expect(second.success && second.items.map((item) => item.key)).toEqual(['ana:3']);
    expect(second.success && second.nextCursor).toBeUndefined();
  });

  it('answers backend_closed after close', async () => {
    await backend.close();
    expect(await backend.retrieve('k')).toMatchObject({ success: false, errorType: 'backend_closed' });
  });
});
