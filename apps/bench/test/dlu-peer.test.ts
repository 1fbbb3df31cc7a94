import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startRig } from '@ltm/tooling/rig';
import type { Rig } from '@ltm/tooling/rig';
import { SQLiteBackend } from '../src/peers/sqlite-backend.js';
import { download, emptyCounters, openBlobSession } from '../src/cloud/dlu-peer.js';
import { s3Client } from '../src/cloud/writers.js';

// The download-lock-upload peer against the rig's S3 emulator (no latency proxy: this checks the protocol).
describe('download-lock-upload sessions', () => {
  let rig: Rig;
  let client: S3Client;
  let bucket: string;
  let dir: string;

  beforeAll(async () => {
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    rig = await startRig({ s3: true, azure: false });
    const s3 = rig.s3;
    if (s3 === undefined) throw new Error('the rig has no S3 emulator');
    client = s3Client({ endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    bucket = await s3.createBucket();
    dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-bench-dlu-test-'));
  }, 300_000);

  afterAll(async () => {
    client?.destroy();
    await rig?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('starts from an empty file, uploads it on close and releases the lock', async () => {
    const location = { bucket, key: 'fresh/ltm.sqlite' };
    expect(await download(client, location)).toBeUndefined();
    const counters = emptyCounters();
    const session = await openBlobSession(client, location, path.join(dir, 'fresh.sqlite'), counters);
    await session.backend.store('k1', { text: 'first' });
    await session.close();
    expect(counters).toMatchObject({ sessions: 1, lockAttempts: 1, downloadedBytes: 0 });
    expect(counters.uploadedBytes).toBeGreaterThan(0);
    // The lock object is gone, and the uploaded file is the story's SQLite database with the write in it.
    await expect(client.send(new GetObjectCommand({ Bucket: bucket, Key: 'fresh/ltm.sqlite.lock' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    const reader = await readerOf(location, 'fresh-reader.sqlite');
    expect(await reader.retrieve('k1')).toMatchObject({ found: true, value: { text: 'first' } });
    await reader.close();
  });

  it('makes a second writer wait while the lock is held, then hands it the first writer\'s upload', async () => {
    const location = { bucket, key: 'shared/ltm.sqlite' };
    const first = await openBlobSession(client, location, path.join(dir, 'a.sqlite'), emptyCounters());
    await first.backend.store('from-a', 'written by a');
    const waiting = emptyCounters();
    let opened = false;
    const second = openBlobSession(client, location, path.join(dir, 'b.sqlite'), waiting, { initialMs: 5, maxMs: 20 }).then((session) => {
      opened = true;
      return session;
    });
    // Refused attempts, one after another, while the first session holds the lock.
    await expect.poll(() => waiting.lockAttempts, { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
    expect(opened).toBe(false);
    await first.close();
    const session = await second;
    expect(waiting.sessions).toBe(1);
    expect(waiting.downloadedBytes).toBeGreaterThan(0);
    expect(await session.backend.retrieve('from-a')).toMatchObject({ found: true, value: 'written by a' });
    await session.backend.store('from-b', 'written by b');
    await session.close();
    const reader = await readerOf(location, 'shared-reader.sqlite');
    expect(await reader.retrieveMany(['from-a', 'from-b'])).toMatchObject({ items: [{ found: true }, { found: true }] });
    await reader.close();
  });

  it('abandon releases the lock without uploading the session\'s writes', async () => {
    const location = { bucket, key: 'abandoned/ltm.sqlite' };
    const session = await openBlobSession(client, location, path.join(dir, 'c.sqlite'), emptyCounters());
    await session.backend.store('lost', 1);
    await session.abandon();
    expect(await download(client, location)).toBeUndefined();
    const counters = emptyCounters();
    const next = await openBlobSession(client, location, path.join(dir, 'd.sqlite'), counters);
    expect(counters.lockAttempts).toBe(1);
    await next.abandon();
  });

  async function readerOf(location: { bucket: string; key: string }, name: string): Promise<SQLiteBackend> {
    const bytes = await download(client, location);
    if (bytes === undefined) throw new Error(`${location.key} was not uploaded`);
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    return SQLiteBackend.open({ path: file });
  }
});
