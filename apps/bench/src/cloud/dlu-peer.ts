/**
 * The object-storage peer: the story's BlobSQLiteBackend pattern, download-lock-upload. A SQLite file
 * lives in the bucket; a writer takes a lock object, downloads the file, works on it locally with the
 * story's `SQLiteBackend`, uploads it and releases the lock. The lock is a put-if-absent object on the
 * same store (S3 `If-None-Match: *`), which is what a Firestore or Redis lock buys without another service:
 * one round trip to take it, one to release it, and a wait while another writer holds it.
 */
import { randomUUID } from 'node:crypto';
import { rm, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { SQLiteBackend } from '../peers/sqlite-backend.js';

export interface BlobLocation {
  bucket: string;
  /** The SQLite file's object key; the lock is `<key>.lock`. */
  key: string;
}

export interface LockBackoff {
  /** First wait after a refused attempt, in ms (doubles per attempt, with full jitter). */
  initialMs: number;
  maxMs: number;
}

/**
 * Waits of a writer that found the lock held: short, because a session of 50 stores holds the lock for only a
 * few round trips, and a longer wait leaves the lock free while every waiter sleeps (the peer would look slower
 * than the pattern is).
 */
export const DEFAULT_BACKOFF: LockBackoff = { initialMs: 10, maxMs: 100 };

export interface SessionCounters {
  sessions: number;
  /** Put-if-absent attempts on the lock, the successful ones included. */
  lockAttempts: number;
  /** Time spent waiting for the lock (refused attempts and backoff). */
  lockWaitMs: number;
  /** Bytes of the SQLite file downloaded and uploaded. */
  downloadedBytes: number;
  uploadedBytes: number;
}

export function emptyCounters(): SessionCounters {
  return { sessions: 0, lockAttempts: 0, lockWaitMs: 0, downloadedBytes: 0, uploadedBytes: 0 };
}

/** One open session: the downloaded file open locally, the lock held. `close()` uploads and releases. */
export interface BlobSession {
  backend: SQLiteBackend;
  close(): Promise<void>;
  /** Releases the lock without uploading: the session's writes are lost, as with a crashed writer. */
  abandon(): Promise<void>;
}

/**
 * Opens a download-lock-upload session on `location`, with the file at `localPath` (which it replaces).
 * `counters` accumulates what the session cost.
 */
export async function openBlobSession(
  client: S3Client,
  location: BlobLocation,
  localPath: string,
  counters: SessionCounters,
  backoff: LockBackoff = DEFAULT_BACKOFF,
): Promise<BlobSession> {
  const lockKey = `${location.key}.lock`;
  await takeLock(client, location.bucket, lockKey, counters, backoff);
  const release = () => client.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: lockKey }));
  let backend: SQLiteBackend;
  try {
    await removeLocal(localPath);
    const bytes = await download(client, location);
    if (bytes !== undefined) {
      await writeFile(localPath, bytes);
      counters.downloadedBytes += bytes.length;
    }
    backend = await SQLiteBackend.open({ path: localPath });
  } catch (error) {
    await release();
    throw error;
  }
  counters.sessions += 1;
  return {
    backend,
    async close() {
      try {
        // Closing the last connection checkpoints the WAL into the file and removes it: the file is complete.
        await backend.close();
        const body = await readFile(localPath);
        await client.send(new PutObjectCommand({ Bucket: location.bucket, Key: location.key, Body: body }));
        counters.uploadedBytes += body.length;
      } finally {
        await release();
      }
    },
    async abandon() {
      await backend.close();
      await release();
    },
  };
}

/** Downloads the file as it is now, without the lock (a reader's view), or `undefined` when there is none yet. */
export async function download(client: S3Client, location: BlobLocation): Promise<Uint8Array | undefined> {
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
    return await answer.Body?.transformToByteArray();
  } catch (error) {
    if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return undefined;
    throw error;
  }
}

async function takeLock(client: S3Client, bucket: string, lockKey: string, counters: SessionCounters, backoff: LockBackoff): Promise<void> {
  const started = performance.now();
  const body = JSON.stringify({ owner: `${process.pid}-${randomUUID()}`, takenAt: new Date().toISOString() });
  for (let attempt = 0; ; attempt += 1) {
    counters.lockAttempts += 1;
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: lockKey, Body: body, IfNoneMatch: '*' }));
      counters.lockWaitMs += performance.now() - started;
      return;
    } catch (error) {
      if (!isHeld(error)) throw error;
    }
    const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
    await sleep(Math.random() * ceiling);
  }
}

/** 412: the lock object exists; 409: S3's answer to a conditional write racing another one in flight. */
function isHeld(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  const status = error.$metadata.httpStatusCode;
  return status === 412 || status === 409;
}

async function removeLocal(path: string): Promise<void> {
  await Promise.all([path, `${path}-wal`, `${path}-shm`].map((p) => rm(p, { force: true })));
}
