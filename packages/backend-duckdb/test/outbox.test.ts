// fallback: 'local-outbox' on a local Parquet store whose commits fail as an unreachable object store's
// would: writes are acknowledged as queued once fsynced in the outbox, this process reads them back,
// they are replayed in call order once the store answers, and a backlog left by a killed process is
// claimed and replayed by the next open. Bad input never goes to the outbox.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { LTMError } from '@ltm/core';
import type { CommitBatch } from '@ltm/core';
import { ParquetFormat } from '@ltm/format-parquet';
import { DuckDBLTMBackend, type DuckDBLTMBackendOptions } from '../src/index.js';
import { outboxDirectoryFor } from '../src/store/outbox.js';
import { ok, tempDir, writeUntilKilled } from './helpers.js';

const writer = fileURLToPath(new URL('./fixtures/outbox-writer.mjs', import.meta.url));
const claimer = fileURLToPath(new URL('./fixtures/outbox-claimer.mjs', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A Parquet format whose commits fail the way the S3 client reports an unreachable endpoint, on demand. */
class FlakyParquet extends ParquetFormat {
  failure: LTMError | null = null;
  /** While set, a commit waits for it before it fails or goes through. */
  gate: Promise<void> | null = null;
  commitsStarted = 0;
  failNext = 0;
  /** A batch holding this key is refused as bad data. */
  refuseKey: string | null = null;

  override async commit(batch: CommitBatch): Promise<void> {
    this.commitsStarted += 1;
    if (this.gate) await this.gate;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw unreachable();
    }
    if (this.failure) throw this.failure;
    if (batch.puts.some((row) => row.key === this.refuseKey)) throw new LTMError('validation_error', 'a value of the batch is not valid JSON; nothing was stored');
    return super.commit(batch);
  }
}

const unreachable = () => new LTMError('connection_error', 'cannot reach s3://bucket/agents: connect ECONNREFUSED 127.0.0.1:9', { retryable: true });

function place(): { uri: string; outboxDirectory: string } {
  const { dir, cleanup } = tempDir('ltm-outbox-');
  cleanups.push(cleanup);
  return { uri: join(dir, 'store'), outboxDirectory: join(dir, 'outbox') };
}

async function open(options: DuckDBLTMBackendOptions): Promise<DuckDBLTMBackend> {
  const backend = await DuckDBLTMBackend.open({ fallback: 'local-outbox', ...options });
  cleanups.push(() => backend.close());
  return backend;
}

async function outboxOf(backend: DuckDBLTMBackend): Promise<Record<string, unknown>> {
  return ok(await backend.stats()).details.outbox as Record<string, unknown>;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('while the store cannot be reached', () => {
  it('acknowledges writes as queued, reads them back, and replays them in order once the store answers', async () => {
    const at = place();
    const format = new FlakyParquet({ refreshIntervalMs: 0 });
    const backend = await open({ ...at, format });
    ok(await backend.store('before', 'stored directly'));
    expect(await backend.store('before', 'stored directly')).not.toHaveProperty('queued');

    format.failure = unreachable();
    expect(await backend.store('k1', { v: 1 }, { tag: 'a' })).toEqual({ success: true, stored: true, key: 'k1', created: true, queued: true });
    expect(ok(await backend.store('k1', { v: 2 }))).toMatchObject({ queued: true, created: false });
    expect(ok(await backend.storeMany([{ key: 'k2', value: 2 }, { key: 'k3', value: 3 }]))).toEqual({ success: true, stored: 2, created: 2, queued: true });
    expect(ok(await backend.delete('before'))).toEqual({ success: true, deleted: true, key: 'before', queued: true });
    ok(await backend.store('k3', 'kiwi orchard', undefined, { ttlSeconds: 3600 }));

    // This process reads its queued writes without the store.
    expect(ok(await backend.retrieve('k1')).value).toEqual({ v: 2 });
    expect(ok(await backend.retrieve('before')).found).toBe(false);
    expect(ok(await backend.retrieveMany(['k3', 'k2', 'nope'])).items.map((item) => item.value)).toEqual(['kiwi orchard', 2, null]);
    // Search and list read the store: queued writes show there once replayed.
    expect(ok(await backend.list()).items.map((item) => item.key)).toEqual(['before']);

    const backlog = await outboxOf(backend);
    expect(backlog).toMatchObject({ queuedWrites: 5, queuedOperations: 6, queued: 5, replayed: 0 });
    expect(backlog.bytes).toBeGreaterThan(0);
    expect(backlog.directory).toContain(at.outboxDirectory);
    expect(readdirSync(String(backlog.directory)).filter((name) => name.endsWith('.outbox'))).toHaveLength(1);

    // flush() cannot reach the store: it says so and how many writes wait, and keeps them.
    const flushed = await backend.flush();
    expect(flushed).toMatchObject({ success: false, errorType: 'connection_error', retryable: true });
    if (!flushed.success) expect(flushed.error).toMatch(/6 queued write\(s\) wait in the local outbox .*ECONNREFUSED.*call flush\(\) again later/);
    expect(await outboxOf(backend)).toMatchObject({ queuedWrites: 5, lastReplayError: expect.stringContaining('ECONNREFUSED') });

    format.failure = null;
    expect(ok(await backend.flush()).flushed).toBe(6);
    expect(await outboxOf(backend)).toMatchObject({ queuedWrites: 0, bytes: 0, replayed: 5 });
    expect(readdirSync(String(backlog.directory)).filter((name) => name.endsWith('.outbox'))).toEqual([]);
    expect(ok(await backend.list()).items.map((item) => item.key)).toEqual(['k1', 'k2', 'k3']);
    expect(ok(await backend.search('kiwi')).results.map((hit) => hit.key)).toEqual(['k3']);

    await backend.close();
    const fresh = await open({ uri: at.uri, outboxDirectory: at.outboxDirectory });
    const items = ok(await fresh.retrieveMany(['k1', 'k2', 'k3', 'before'])).items;
    expect(items.map((item) => item.value)).toEqual([{ v: 2 }, 2, 'kiwi orchard', null]);
    expect(items[0]).toMatchObject({ metadata: {} });
    expect(ok(await fresh.retrieve('k3'))).toHaveProperty('expiresAt');
  });

  it('replays by itself in the background once the store answers', async () => {
    const at = place();
    const format = new FlakyParquet({ refreshIntervalMs: 0 });
    const backend = await open({ ...at, format });
    format.failure = unreachable();
    for (let i = 0; i < 10; i++) ok(await backend.store(`k${i}`, i));
    format.failure = null;
    while (((await outboxOf(backend)).queuedWrites as number) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ok(await backend.list()).items).toHaveLength(10);
  });

  it('keeps call order when a later call reached the store while an earlier one was queued', async () => {
    const at = place();
    const format = new FlakyParquet({ refreshIntervalMs: 0 });
    const backend = await open({ ...at, format });
    let release!: () => void;
    format.gate = new Promise<void>((resolve) => (release = resolve));
    format.failNext = 1;
    const first = backend.store('k', 'first');
    while (format.commitsStarted === 0) await tick();
    // The first commit is in flight: the second call waits for the next commit, which goes through.
    const second = backend.store('k', 'second');
    format.gate = null;
    release();
    expect(ok(await first)).toMatchObject({ queued: true });
    expect(ok(await second)).not.toHaveProperty('queued');
    expect(ok(await backend.retrieve('k')).value).toBe('second');
    expect(ok(await backend.flush()).flushed).toBeGreaterThan(0);
    // The first call was replayed, then the second again after it: the second still wins.
    expect(ok(await backend.retrieve('k')).value).toBe('second');
    await backend.close();
    const fresh = await open({ uri: at.uri, outboxDirectory: at.outboxDirectory });
    expect(ok(await fresh.retrieve('k')).value).toBe('second');
  });

  it('does not queue bad input: a validation error fails the write and nothing is queued', async () => {
    const at = place();
    const format = new FlakyParquet({ refreshIntervalMs: 0 });
    const backend = await open({ ...at, format });
    format.failure = new LTMError('validation_error', 'a value of the batch is not valid JSON; nothing was stored');
    expect(await backend.store('k', 'v')).toMatchObject({ success: false, errorType: 'validation_error' });
    expect(await backend.store('', 'v')).toMatchObject({ success: false, errorType: 'validation_error' });
    expect(await outboxOf(backend)).toMatchObject({ queuedWrites: 0, queued: 0 });
    format.failure = null;
    expect(ok(await backend.retrieve('k')).found).toBe(false);
  });

  it('on replay, an auth failure keeps the backlog and says so; a write the store refuses for good is set aside', async () => {
    const at = place();
    const format = new FlakyParquet({ refreshIntervalMs: 0 });
    const backend = await open({ ...at, format });
    format.failure = unreachable();
    ok(await backend.store('refused', 1));
    ok(await backend.store('fine', 2));
    format.failure = new LTMError('auth_failed', 'cannot create _log/7.json: access denied (check the credentials)');
    const flushed = await backend.flush();
    expect(flushed).toMatchObject({ success: false, errorType: 'auth_failed' });
    expect(await outboxOf(backend)).toMatchObject({ queuedWrites: 2, lastReplayError: expect.stringContaining('auth_failed: cannot create') });

    // One queued write is refused as bad data: it goes to rejected.jsonl, the other one goes through.
    format.failure = null;
    format.refuseKey = 'refused';
    expect(ok(await backend.flush()).flushed).toBe(2);
    expect(await outboxOf(backend)).toMatchObject({ queuedWrites: 0, rejected: 1, replayed: 1 });
    const rejected = readFileSync(join(String((await outboxOf(backend)).directory), 'rejected.jsonl'), 'utf8').trim().split('\n');
    expect(rejected).toHaveLength(1);
    expect(JSON.parse(rejected[0]!)).toMatchObject({ error: expect.stringContaining('validation_error'), ops: [['refused', '1', '{}', null]] });
    expect(ok(await backend.retrieveMany(['refused', 'fine'])).items.map((item) => item.found)).toEqual([false, true]);
  });

  it('without the fallback, writes fail cleanly and earlier data is intact', async () => {
    const at = place();
    const format = new FlakyParquet({ refreshIntervalMs: 0 });
    const backend = await DuckDBLTMBackend.open({ uri: at.uri, format });
    cleanups.push(() => backend.close());
    ok(await backend.store('kept', 1));
    format.failure = unreachable();
    expect(await backend.store('kept', 2)).toMatchObject({ success: false, errorType: 'connection_error', retryable: true });
    expect(await backend.storeMany([{ key: 'a', value: 1 }])).toMatchObject({ success: false, errorType: 'connection_error' });
    expect(ok(await backend.stats()).details).toMatchObject({ fallback: 'none', outbox: null });
    format.failure = null;
    expect(ok(await backend.retrieve('kept')).value).toBe(1);
    expect(ok(await backend.retrieve('a')).found).toBe(false);
  });

  it('close() leaves a backlog it cannot replay durable, and the next open replays it', async () => {
    const at = place();
    const format = new FlakyParquet({ refreshIntervalMs: 0 });
    const backend = await DuckDBLTMBackend.open({ ...at, fallback: 'local-outbox', format });
    format.failure = unreachable();
    ok(await backend.store('late', 'queued at close'));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      await backend.close();
      await tick();
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.some((w) => w.includes('1 queued write(s)') && w.includes('next open'))).toBe(true);
    const reopened = await open({ uri: at.uri, outboxDirectory: at.outboxDirectory });
    expect(await outboxOf(reopened)).toMatchObject({ claimedFiles: 1 });
    ok(await reopened.flush());
    expect(ok(await reopened.list()).items.map((item) => item.key)).toEqual(['late']);
    expect(await outboxOf(reopened)).toMatchObject({ queuedWrites: 0, replayed: 1 });
  });
});

describe('outbox files left by a process that is gone', () => {
  /** The pid of a process that has exited. */
  async function deadPid(): Promise<number> {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((resolve) => child.on('exit', resolve));
    return child.pid!;
  }

  const line = (content: object) => {
    const json = JSON.stringify(content);
    return `${crc32(json).toString(16)} ${json}\n`;
  };
  const put = (key: string, value: unknown) => [key, JSON.stringify(value), '{}', null];

  async function orphan(at: { uri: string; outboxDirectory: string }, text: string): Promise<string> {
    const dir = outboxDirectoryFor(at.uri, 'ltm_store', at.outboxDirectory, {});
    mkdirSync(dir, { recursive: true });
    const name = `${hostname().replace(/[^A-Za-z0-9-]/g, '_')}.${await deadPid()}.${Date.now()}.0badc0de.outbox`;
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  }

  it('are claimed and replayed by the next open; a torn final line (never acknowledged) is dropped', async () => {
    const at = place();
    const whole = line({ w: [put('a', 1), put('b', 2)] }) + line({ w: [put('a', 3)] }) + line({ d: 1 }) + line({ w: [put('c', 4)] });
    const path = await orphan(at, `${whole}${line({ w: [put('torn', 5)] }).slice(0, 20)}`);
    const backend = await open(at);
    expect(existsSync(path)).toBe(false); // claimed (renamed to this process)
    expect(await outboxOf(backend)).toMatchObject({ claimedFiles: 1, queuedWrites: 2, corruptFiles: 0 });
    ok(await backend.flush());
    // The first write was marked replayed by its process: only `a: 3` and `c: 4` are replayed.
    const items = ok(await backend.retrieveMany(['a', 'b', 'c', 'torn'])).items;
    expect(items.map((item) => item.value)).toEqual([3, null, 4, null]);
    expect(readdirSync(outboxDirectoryFor(at.uri, 'ltm_store', at.outboxDirectory, {})).filter((n) => /\.(outbox|claimed)$/.test(n))).toEqual([]);
  });

  it('a corrupt line before the end is detected: the intact writes before it are replayed and a copy is kept', async () => {
    const at = place();
    const bad = line({ w: [put('b', 2)] }).replace('"b"', '"x"');
    await orphan(at, line({ w: [put('a', 1)] }) + bad + line({ w: [put('c', 3)] }));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    let backend: DuckDBLTMBackend;
    try {
      backend = await open(at);
      await tick();
    } finally {
      process.off('warning', onWarning);
    }
    expect(await outboxOf(backend)).toMatchObject({ claimedFiles: 1, queuedWrites: 1, corruptFiles: 1 });
    expect(warnings.some((w) => w.includes('corrupt line after 1 intact write(s)'))).toBe(true);
    ok(await backend.flush());
    expect(ok(await backend.retrieveMany(['a', 'c'])).items.map((item) => item.found)).toEqual([true, false]);
    const dir = outboxDirectoryFor(at.uri, 'ltm_store', at.outboxDirectory, {});
    expect(readdirSync(dir).filter((name) => name.endsWith('.corrupt'))).toHaveLength(1);
  });

  it('only one of two opens claims a file', async () => {
    const at = place();
    await orphan(at, line({ w: [put('a', 1)] }));
    const [one, two] = await Promise.all([open(at), open(at)]);
    const claimed = [await outboxOf(one), await outboxOf(two)].map((stats) => stats.claimedFiles);
    expect(claimed.sort()).toEqual([0, 1]);
  });

  it('two processes opening at once: exactly one claims the file, and its writes are replayed once', async () => {
    const at = place();
    await orphan(at, line({ w: [put('a', 1)] }) + line({ w: [put('b', 2), put('c', 3)] }));
    const runClaimer = () =>
      new Promise<{ flushed: { success: boolean }; outbox: { claimedFiles: number; replayed: number } }>((resolve, reject) => {
        const child = spawn(process.execPath, [claimer, at.uri, at.outboxDirectory], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`claimer exited ${code}: ${stderr}`))));
      });
    const results = await Promise.all([runClaimer(), runClaimer()]);
    for (const result of results) expect(result.flushed.success).toBe(true);
    expect(results.map((r) => r.outbox.claimedFiles).sort()).toEqual([0, 1]);
    expect(results.map((r) => r.outbox.replayed).sort()).toEqual([0, 2]);
    const reader = await DuckDBLTMBackend.open({ uri: at.uri, readOnly: true });
    cleanups.push(() => reader.close());
    expect(ok(await reader.retrieveMany(['a', 'b', 'c'])).items.map((item) => item.value)).toEqual([1, 2, 3]);
  });

  it('a writer killed with SIGKILL while its writes are queued loses none of the acknowledged ones', async () => {
    const at = place();
    const acked = await writeUntilKilled(writer, [at.uri, at.outboxDirectory], 40, 7);
    expect(acked.length).toBeGreaterThanOrEqual(40);
    const backend = await open(at);
    expect(await outboxOf(backend)).toMatchObject({ claimedFiles: 1 });
    ok(await backend.flush());
    const found = ok(await backend.retrieveMany(acked)).items;
    expect(found.filter((item) => !item.found).map((item) => item.key)).toEqual([]);
    for (const item of found) if (item.found && !item.key.endsWith(':b')) expect(item.value).toMatchObject({ i: Number(item.key.split(':')[1]) });
    // A fresh reader of the store (no outbox) finds them too.
    const reader = await DuckDBLTMBackend.open({ uri: at.uri, readOnly: true });
    cleanups.push(() => reader.close());
    expect(ok(await reader.retrieveMany(acked)).items.every((item) => item.found)).toBe(true);
  });
});

describe('options', () => {
  it('durability and fallback are checked against the format', async () => {
    const at = place();
    await expect(DuckDBLTMBackend.open({ uri: at.uri, durability: 'os' })).rejects.toThrow(/durability "os" does not apply to the parquet format: use sync or batched/);
    await expect(DuckDBLTMBackend.open({ uri: ':memory:', durability: 'batched' })).rejects.toThrow(/does not apply to the native format: use os or fsync/);
    await expect(DuckDBLTMBackend.open({ uri: ':memory:', fallback: 'local-outbox' })).rejects.toMatchObject({ errorType: 'validation_error' });
    await expect(DuckDBLTMBackend.open({ uri: at.uri, maxBatchDelayMs: 5 })).rejects.toThrow(/apply only with durability: 'batched'/);
    await expect(DuckDBLTMBackend.open({ uri: at.uri, outboxDirectory: at.outboxDirectory })).rejects.toThrow(/only with fallback/);
    await expect(DuckDBLTMBackend.open({ uri: at.uri, fallback: 'queue' as never })).rejects.toThrow(/none or local-outbox/);
    const batched = await DuckDBLTMBackend.open({ uri: at.uri, durability: 'batched', maxBatchDelayMs: 1 });
    cleanups.push(() => batched.close());
    expect(ok(await batched.stats()).details).toMatchObject({ durability: 'batched', maxBatchDelayMs: 1, maxBatchOps: 1024, fallback: 'none' });
    ok(await batched.store('k', 1));
    expect(ok(await batched.retrieve('k')).value).toBe(1);
  });

  it('the default outbox directory is per user and per store, never a temp directory', () => {
    const env = { HOME: '/home/someone', XDG_CACHE_HOME: '/home/someone/.cache' };
    const a = outboxDirectoryFor('s3://bucket/agents', 'ltm_store', undefined, env);
    expect(a.startsWith('/home/someone/.cache/ltm/outbox/')).toBe(true);
    expect(outboxDirectoryFor('s3://bucket/agents', 'other', undefined, env)).not.toBe(a);
    expect(outboxDirectoryFor('s3://bucket/agents', 'ltm_store', undefined, { ...env, LTM_OUTBOX_DIR: '/var/ltm' }).startsWith('/var/ltm/')).toBe(true);
  });
});
