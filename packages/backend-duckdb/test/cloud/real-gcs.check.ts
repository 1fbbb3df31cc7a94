// A native store on real GCS, through DuckDB's gcs secret with HMAC keys and no endpoint or region
// override (the emulator tests need both). Run with test/cloud/real-gcs.config.ts; see there.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBLTMBackend } from '../../src/index.js';
import { Transcript, storeFile } from './helpers.js';

const REQUIRED = ['LTM_REAL_GCS_BUCKET', 'GCS_ACCESS_KEY_ID', 'GCS_SECRET_ACCESS_KEY'] as const;
const missing = REQUIRED.filter((name) => !process.env[name]);
if (missing.length > 0) throw new Error(`the real-GCS check needs ${missing.join(', ')} (an HMAC key of a service account that may write the bucket)`);
const bucket = process.env.LTM_REAL_GCS_BUCKET!;
const credentials = { accessKeyId: process.env.GCS_ACCESS_KEY_ID!, secretAccessKey: process.env.GCS_SECRET_ACCESS_KEY! };

// The upload goes through GCS's S3-interoperable XML API with the AWS SDK that @ltm/tooling carries (this
// package does not depend on it).
interface S3Sdk {
  S3Client: new (config: object) => { send(command: object): Promise<unknown>; destroy(): void };
  PutObjectCommand: new (input: object) => object;
  DeleteObjectCommand: new (input: object) => object;
}
const toolingRequire = createRequire(fileURLToPath(import.meta.resolve('@ltm/tooling/rig')));
const { S3Client, PutObjectCommand, DeleteObjectCommand } = (await import(toolingRequire.resolve('@aws-sdk/client-s3'))) as S3Sdk;
const client = new S3Client({
  endpoint: 'https://storage.googleapis.com',
  region: 'auto',
  forcePathStyle: true,
  credentials,
  requestChecksumCalculation: 'WHEN_REQUIRED',
});
const key = `ltm-real-gcs-check/${randomUUID()}/ltm.duckdb`;
const uri = `gs://${bucket}/${key}`;
const transcript = new Transcript();

beforeAll(async () => {
  const bytes = await storeFile([
    { key: 'alpha', value: { text: 'the quick brown fox' }, metadata: { kind: 'note' } },
    { key: 'beta', value: { text: 'lazy dogs' }, metadata: { kind: 'todo' } },
  ]);
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
});
afterAll(async () => {
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  client.destroy();
});

describe('a native store on real GCS', () => {
  it('opens read-only with HMAC keys from the environment; reads and searches work; writes are refused', async () => {
    const backend = transcript.recorded(await DuckDBLTMBackend.open({ uri }), 'gcs');
    expect(backend.capabilities.writable).toBe(false);
    expect(await backend.retrieve('alpha')).toMatchObject({ found: true, value: { text: 'the quick brown fox' } });
    expect(await backend.search('fox')).toMatchObject({ success: true, count: 1 });
    expect(await backend.store('x', 1)).toMatchObject({ success: false, errorType: 'read_only' });
    await backend.close();
  });

  it('a wrong HMAC secret is auth_failed', async () => {
    const error = await DuckDBLTMBackend.open({ uri, gcsAccessKeyId: credentials.accessKeyId, gcsSecretAccessKey: 'wrong' }).then(
      () => expect.fail('opened with a wrong secret'),
      (e: unknown) => e as Error & { errorType: string },
    );
    transcript.record('wrong secret', error);
    expect(error.errorType).toBe('auth_failed');
  });

  it('showed no secret', () => {
    transcript.assertNoSecrets([credentials.secretAccessKey]);
  });
});
