// Acknowledged means durable: writes survive a SIGKILL of the writing process at any point, because
// they are journaled before they are acknowledged and replayed when the store is opened again.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LTMError } from '@ltm/core';
import type { CommitBatch, StorageFormat } from '@ltm/core';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { createNativeFormat } from '@ltm/format-native';
import { DuckDBLTMBackend } from '../src/index.js';
import { ok, tempDir, writeUntilKilled } from './helpers.js';

const writer = fileURLToPath(new URL('./fixtures/writer.mjs', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function fileUri(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return join(dir, 'ltm.duckdb');
}

/** Runs the writer until it has acknowledged `atLeast` keys plus a random extra delay, then SIGKILLs it. */
function writeAndKill(uri: string, prefix: string, atLeast: number, extraMs: number, durability = 'os'): Promise<string[]> {
  return writeUntilKilled(writer, [uri, prefix, durability], atLeast, extraMs);
}

describe('crash safety of the journal', () => {
  it('finds every acknowledged write after the writer is killed at random points', async () => {
    const uri = fileUri();
    const iterations = Number(process.env.LTM_CRASH_ITERATIONS ?? 4);
    const acknowledged: string[] = [];
    for (let i = 0; i < iterations; i++) {
      acknowledged.push(...(await writeAndKill(uri, `run${i}`, 20 + ((i * 37) % 50), (i * 13) % 40)));
    }
    const backend = await DuckDBLTMBackend.open({ uri });
    cleanups.push(() => backend.close());
    const found = ok(await backend.retrieveMany(acknowledged));
    expect(found.items.filter((item) => !item.found).map((item) => item.key)).toEqual([]);
    for (const item of found.items) {
      if (item.found && !item.key.endsWith(':b')) expect(item.value).toMatchObject({ i: Number(item.key.split(':')[1]) });
    }
    // A storeMany is all or nothing: its second key exists exactly when the first does.
    for (const key of acknowledged.filter((k) => Number(k.split(':')[1]) % 7 === 3)) {
      expect(ok(await backend.retrieve(`${key}:b`)).found).toBe(true);
    }
    expect(ok(await backend.search('paris', undefined, 10_000)).count).toBeGreaterThan(0);
  });

  it('with durability fsync too', async () => {
    const uri = fileUri();
    const acked = await writeAndKill(uri, 'sync', 10, 5, 'fsync');
    const backend = await DuckDBLTMBackend.open({ uri });
    cleanups.push(() => backend.close());
    expect(ok(await backend.retrieveMany(acked)).items.every((item) => item.found)).toBe(true);
  });

  it('leaves no journal file behind after a clean close', async () => {
    const uri = fileUri();
    const backend = await DuckDBLTMBackend.open({ uri });
    for (let i = 0; i < 50; i++) ok(await backend.store(`k${i}`, i));
    await backend.close();
    const dir = join(uri, '..');
    expect(readdirSync(dir).filter((name) => name.includes('ltm-journal'))).toEqual([]);
  });
});

/** The native format, failing its commits while `failing` is true (a full disk, say). */
function flakyFormat(state: { failing: boolean }): StorageFormat<DuckDBQueryEngine> {
  const inner = createNativeFormat();
  return {
    name: inner.name,
    get capabilities() {
      return inner.capabilities;
    },
    open: (context) => inner.open(context),
    relation: (name) => inner.relation(name),
    commit: (batch: CommitBatch) =>
      state.failing ? Promise.reject(new LTMError('connection_error', 'IO Error: No space left on device')) : inner.commit(batch),
    refresh: () => inner.refresh(),
    removeExpired: (now) => inner.removeExpired(now),
    close: () => inner.close(),
  };
}

describe('when DuckDB cannot take the writes', () => {
  it('keeps acknowledged writes durable and readable, reports the failure, and commits them once it can', async () => {
    const uri = fileUri();
    const state = { failing: true };
    const backend = await DuckDBLTMBackend.open({ uri, format: flakyFormat(state) });
    for (let i = 0; i < 20; i++) ok(await backend.store(`k${i}`, { i }));
    expect(ok(await backend.retrieve('k7')).value).toEqual({ i: 7 });
    // flush() makes them durable (the journal is synced) even though DuckDB refuses them...
    expect(ok(await backend.flush()).flushed).toBe(20);
    // ...and what must read DuckDB's tables says why it cannot.
    expect(await backend.list()).toMatchObject({ success: false, errorType: 'connection_error' });
    expect(ok(await backend.stats()).details).toMatchObject({ pendingWrites: 20, applyError: expect.stringContaining('No space left') });
    state.failing = false;
    expect(ok(await backend.list({ limit: 100 })).items).toHaveLength(20);
    expect(ok(await backend.stats()).details).toMatchObject({ pendingWrites: 0, applyError: null });
    await backend.close();
    const reopened = await DuckDBLTMBackend.open({ uri });
    cleanups.push(() => reopened.close());
    expect(ok(await reopened.retrieve('k19')).value).toEqual({ i: 19 });
  });

  it('replays the journal at the next open when the failure outlives the process', async () => {
    const uri = fileUri();
    const state = { failing: true };
    const backend = await DuckDBLTMBackend.open({ uri, format: flakyFormat(state) });
    ok(await backend.store('kept', 'through the failure'));
    await backend.close(); // cannot commit: the journal stays
    expect(readdirSync(join(uri, '..')).some((name) => name.includes('ltm-journal'))).toBe(true);
    const reopened = await DuckDBLTMBackend.open({ uri });
    cleanups.push(() => reopened.close());
    expect(ok(await reopened.retrieve('kept')).value).toBe('through the failure');
  });
});

describe('backends sharing a table in one process', () => {
  it('see each other’s writes at once, through one journal and cache', async () => {
    const uri = fileUri();
    const a = await DuckDBLTMBackend.open({ uri });
    const b = await DuckDBLTMBackend.open({ uri });
    ok(await b.retrieve('k')); // b may cache the absence
    ok(await a.store('k', 'from a'));
    expect(ok(await b.retrieve('k')).value).toBe('from a');
    ok(await b.store('k', 'from b'));
    expect(ok(await a.retrieve('k')).value).toBe('from b');
    await a.close();
    expect(ok(await b.retrieve('k')).value).toBe('from b');
    ok(await b.store('k2', 'after a closed'));
    await b.close();
    const c = await DuckDBLTMBackend.open({ uri, readOnly: true });
    cleanups.push(() => c.close());
    expect(ok(await c.retrieveMany(['k', 'k2'])).items.map((i) => i.value)).toEqual(['from b', 'after a closed']);
  });

  it('share one store when they share one in-memory engine', async () => {
    const engine = await DuckDBQueryEngine.open();
    const a = await DuckDBLTMBackend.open({ queryEngine: engine });
    const b = await DuckDBLTMBackend.open({ queryEngine: engine });
    ok(await b.retrieve('k'));
    ok(await a.store('k', 'paris, from a'));
    expect(ok(await b.retrieve('k')).value).toBe('paris, from a');
    expect(ok(await b.search('paris')).results.map((r) => r.key)).toEqual(['k']);
    await a.close();
    await b.close();
    await engine.close();
  });
});
