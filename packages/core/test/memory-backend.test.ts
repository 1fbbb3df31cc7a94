import { describe, expect, it } from 'vitest';
import { LTMError } from '../src/errors.js';
import { MemoryBackend } from '../src/memory-backend.js';
import { createLTMBackend } from '../src/registry.js';
import { analyzeDocument, analyzeQuery, scoreBm25 } from '../src/text/index.js';
import type { JsonObject, JsonValue } from '../src/json.js';
import type { LTMBackend, RetrieveFound, RetrieveResult, SearchSuccess, StatsSuccess } from '../src/types.js';

function ok<R extends { success: boolean }>(result: R): Extract<R, { success: true }> {
  if (!result.success) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result as Extract<R, { success: true }>;
}

function found(result: RetrieveResult): RetrieveFound {
  const success = ok(result);
  if (!success.found) throw new Error('expected the key to be found');
  return success;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('MemoryBackend', () => {
  it('opens with new, open() and the registry, and declares what it supports', async () => {
    const backends: LTMBackend[] = [new MemoryBackend(), await MemoryBackend.open(), await createLTMBackend('memory', { max_value_bytes: 100 })];
    for (const backend of backends) {
      expect(backend.name).toBe('memory');
      expect(backend.capabilities).toEqual({ persistent: false, writable: true, fullTextSearch: true, multiWriter: false });
      await backend.close();
    }
  });

  it('refuses a maxValueBytes that is not a positive integer', async () => {
    for (const maxValueBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new MemoryBackend({ maxValueBytes })).toThrow(LTMError);
      await expect(MemoryBackend.open({ maxValueBytes })).rejects.toMatchObject({ errorType: 'validation_error' });
    }
  });

  it('applies the configured maxValueBytes to values and metadata', async () => {
    const backend = new MemoryBackend({ maxValueBytes: 10 });
    expect(ok(await backend.store('k', '12345678'))).toMatchObject({ created: true }); // "12345678" is 10 bytes
    expect(await backend.store('k', '123456789')).toMatchObject({ success: false, errorType: 'validation_error' });
    expect(await backend.store('k', 1, { abcdefgh: 1 })).toMatchObject({ success: false, errorType: 'validation_error' });
  });

  it('keeps no reference to what callers pass in or get back', async () => {
    const backend = new MemoryBackend();
    const value = { list: [1, 2] };
    const metadata: JsonObject = { tag: 'a' };
    await backend.store('k', value, metadata);
    value.list.push(3);
    metadata.tag = 'changed';
    const first = found(await backend.retrieve('k'));
    expect([first.value, first.metadata]).toEqual([{ list: [1, 2] }, { tag: 'a' }]);
    (first.value as { list: number[] }).list.push(4);
    (first.metadata as JsonObject).tag = 'mutated';
    const second = found(await backend.retrieve('k'));
    expect([second.value, second.metadata]).toEqual([{ list: [1, 2] }, { tag: 'a' }]);
    expect(ok(await backend.search({ filter: { tag: 'a' } })).results.map((hit) => hit.key)).toEqual(['k']);
  });

  it('scores a query with BM25 over the live entries only, whatever the filter', async () => {
    const backend = new MemoryBackend();
    const docs: Array<[string, JsonValue, JsonObject]> = [
      ['a', 'walrus walrus on the ice', { kind: 'x' }],
      ['b', 'a walrus and a seal', { kind: 'y' }],
      ['c', 'seals and penguins', { kind: 'x', note: 'no walrus here? yes, walrus' }],
    ];
    for (const [key, value, metadata] of docs) await backend.store(key, value, metadata);
    await backend.store('expired', 'walrus walrus walrus', {}, { ttlSeconds: 0.05 });
    await sleep(80);

    const expected = scoreBm25(analyzeQuery('walrus'), docs.map(([key, value, metadata]) => [key, analyzeDocument(value, metadata)]));
    const hits = ok(await backend.search('walrus', undefined, 100)).results;
    expect(new Map(hits.map((hit) => [hit.key, hit.score]))).toEqual(expected);
    const filtered = ok(await backend.search('walrus', { kind: 'x' }, 100)).results;
    expect(filtered.map((hit) => [hit.key, hit.score])).toEqual(hits.filter((hit) => hit.key !== 'b').map((hit) => [hit.key, hit.score]));
  });

  it('refuses a cursor from another listing or another search order', async () => {
    const backend = new MemoryBackend();
    for (const key of ['a', 'b', 'c']) await backend.store(key, 'walrus');
    const listCursor = ok(await backend.list({ limit: 1 })).nextCursor;
    const recentCursor = ok(await backend.search({ limit: 1 })).nextCursor;
    const rankedCursor = ok(await backend.search({ query: 'walrus', limit: 1 })).nextCursor;
    expect([listCursor, recentCursor, rankedCursor].every((cursor) => typeof cursor === 'string')).toBe(true);
    const refused = { success: false, errorType: 'validation_error' };
    expect(await backend.search({ cursor: listCursor })).toMatchObject(refused);
    expect(await backend.search({ query: 'walrus', cursor: recentCursor })).toMatchObject(refused);
    expect(await backend.search({ cursor: rankedCursor })).toMatchObject(refused);
    expect(await backend.list({ cursor: recentCursor })).toMatchObject(refused);
    const next = ok(await backend.search({ query: 'walrus', limit: 1, cursor: rankedCursor })) as SearchSuccess;
    expect(next.results.map((hit) => hit.key)).toEqual(['b']);
  });

  it('reports live entries, live bytes and expired entries still held in stats().details', async () => {
    const backend = new MemoryBackend({ maxValueBytes: 1000 });
    await backend.store('keep', 'abc', { m: 1 });
    await backend.store('gone', 1, null, { ttlSeconds: 0.05 });
    await backend.store('also-gone', 2, null, { ttlSeconds: 0.05 });
    await sleep(80);
    const before = ok(await backend.stats()) as StatsSuccess;
    expect(before).toMatchObject({ backend: 'memory', entries: 1, details: { expiredPending: 2, maxValueBytes: 1000 } });
    expect(before.details.liveBytes).toBe(Buffer.byteLength('keep"abc"{"m":1}'));
    // Touching an expired key drops it at once; cleanupExpired removes the rest.
    expect(ok(await backend.retrieve('gone')).found).toBe(false);
    expect((ok(await backend.stats()) as StatsSuccess).details.expiredPending).toBe(1);
    expect(ok(await backend.cleanupExpired()).removed).toBe(1);
    expect((ok(await backend.stats()) as StatsSuccess).details.expiredPending).toBe(0);
  });

  it('has nothing to flush', async () => {
    const backend = new MemoryBackend();
    await backend.store('k', 1);
    expect(await backend.flush()).toEqual({ success: true, flushed: 0 });
  });

  it('names the failing item of a storeMany', async () => {
    const backend = new MemoryBackend();
    const result = await backend.storeMany([{ key: 'a', value: 1 }, { key: 'b', value: Number.NaN }]);
    expect(result).toMatchObject({ success: false, errorType: 'serialization_error' });
    expect(!result.success && result.error).toMatch(/^storeMany item 1: /);
  });

  it('lists from a cursor that sorts before the prefix and pages a prefix in byte order', async () => {
    const backend = new MemoryBackend();
    for (const key of ['a', 'p:1', 'p:2', 'p:😀', 'p:\uFF21', 'q']) await backend.store(key, 1);
    const first = ok(await backend.list({ limit: 1 }));
    expect(first.items.map((item) => item.key)).toEqual(['a']);
    // A cursor from an unprefixed listing that sorts before the prefix starts at the prefix.
    const prefixed = ok(await backend.list({ prefix: 'p:', cursor: first.nextCursor }));
    expect(prefixed.items.map((item) => item.key)).toEqual(['p:1', 'p:2', 'p:\uFF21', 'p:😀']);
  });
});
