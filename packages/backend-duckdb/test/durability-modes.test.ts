// durability: 'sync' | 'batched' on a Parquet store, through the backend, counted in commits (never timed).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DuckDBLTMBackend } from '../src/index.js';
import { ok, tempDir } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function open(options: Parameters<typeof DuckDBLTMBackend.open>[0]): Promise<DuckDBLTMBackend> {
  const { dir, cleanup } = tempDir('ltm-durability-modes-');
  cleanups.push(cleanup);
  const backend = await DuckDBLTMBackend.open({ uri: join(dir, 'store'), ...options });
  cleanups.unshift(() => backend.close());
  return backend;
}

const commits = async (backend: DuckDBLTMBackend) => ok(await backend.stats()).details.applies as number;
const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('durability on a Parquet store', () => {
  it('sync (the default) commits each awaited write on its own', async () => {
    const backend = await open({});
    expect(ok(await backend.stats()).details).toMatchObject({ durability: 'sync' });
    for (let i = 0; i < 3; i++) ok(await backend.store(`k${i}`, i));
    expect(await commits(backend)).toBe(3);
  });

  it('batched gathers writes made in separate turns into one commit; flush() commits them at once and they are durable', async () => {
    const backend = await open({ durability: 'batched', maxBatchDelayMs: 600_000 });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 4; i++) {
      writes.push(backend.store(`k${i}`, i));
      await nextTick();
    }
    writes.push(backend.storeMany([{ key: 'a', value: 1 }, { key: 'b', value: 2 }]));
    await nextTick();
    expect(await commits(backend)).toBe(0);
    expect(ok(await backend.flush()).flushed).toBe(6);
    for (const result of await Promise.all(writes)) expect(result).toMatchObject({ success: true });
    expect(await commits(backend)).toBe(1);
    expect(ok(await backend.list()).items.map((item) => item.key)).toEqual(['a', 'b', 'k0', 'k1', 'k2', 'k3']);
  });

  it('batched commits by itself once maxBatchOps operations wait', async () => {
    const backend = await open({ durability: 'batched', maxBatchDelayMs: 600_000, maxBatchOps: 3 });
    const results = await Promise.all([backend.store('a', 1), backend.storeMany([{ key: 'b', value: 2 }, { key: 'c', value: 3 }])]);
    for (const result of results) expect(result).toMatchObject({ success: true });
    expect(await commits(backend)).toBe(1);
  });
});
