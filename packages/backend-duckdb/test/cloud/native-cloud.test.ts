// A native `.duckdb` store on S3, GCS (interop) and Azure, read in place through DuckDB's extensions:
// reads, searches, filters and listing give what the same store gives locally; writes are refused naming
// the format that can write there; open failures say what is wrong and how to fix it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreItem } from '@ltm/core';
import { DuckDBQueryEngine, type EngineEvent } from '@ltm/engine-duckdb';
import { createNativeFormat } from '@ltm/format-native';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBLTMBackend } from '../../src/index.js';
import { PROVIDERS, Transcript, cloudOptions, engineCredentials, rig, secretsOf, storeFile, upload, type Provider } from './helpers.js';

const transcript = new Transcript();
transcript.captureOutput();
const record = (label: string) => (event: EngineEvent) => transcript.record(label, event);

const ITEMS: StoreItem[] = [
  { key: 'note:alpha', value: { text: 'The quick brown fox jumps over the lazy dog' }, metadata: { kind: 'note', rank: 1 } },
  { key: 'note:beta', value: { text: 'Foxes are quick; dogs are lazy' }, metadata: { kind: 'note', rank: 2 } },
  { key: 'todo:gamma', value: ['buy milk', 'walk the dog'], metadata: { kind: 'todo', rank: 3 } },
  { key: 'été/東京', value: { text: '東京タワーの夜景', n: 42 }, metadata: { kind: 'travel' } },
  { key: 'null-value', value: null },
  { key: 'expired', value: 'gone soon', ttlSeconds: 1 },
];

let bytes: Buffer;
beforeAll(async () => {
  bytes = await storeFile(ITEMS);
  // The entry stored with a 1 s TTL must have expired before the reads below.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
});

describe.each(PROVIDERS)('a native store on %s', (provider) => {
  let uri: string;
  let backend: DuckDBLTMBackend;

  beforeAll(async () => {
    uri = await upload(provider, bytes);
    backend = transcript.recorded(await DuckDBLTMBackend.open({ uri, ...cloudOptions(provider) }), provider);
  });
  afterAll(() => backend.close());

  it('opens read-only and persistent, whatever readOnly says', () => {
    expect(backend.capabilities).toEqual({ persistent: true, writable: false, fullTextSearch: true, multiWriter: false });
  });

  it('retrieves what was stored, with metadata and UTC timestamps; expired entries are invisible', async () => {
    expect(await backend.retrieve('note:alpha')).toMatchObject({
      success: true,
      found: true,
      value: { text: 'The quick brown fox jumps over the lazy dog' },
      metadata: { kind: 'note', rank: 1 },
      createdAt: expect.stringMatching(/Z$/),
    });
    expect(await backend.retrieve('été/東京')).toMatchObject({ found: true, value: { text: '東京タワーの夜景', n: 42 } });
    expect(await backend.retrieve('null-value')).toMatchObject({ found: true, value: null, metadata: {} });
    expect(await backend.retrieve('expired', 'fallback')).toEqual({ success: true, found: false, value: 'fallback' });
    const many = await backend.retrieveMany(['todo:gamma', 'missing', 'note:beta']);
    expect(many.success && many.items.map((item) => [item.key, item.found])).toEqual([
      ['todo:gamma', true],
      ['missing', false],
      ['note:beta', true],
    ]);
  });

  it('searches with BM25 and filters, and lists by key', async () => {
    const found = await backend.search('lazy fox');
    expect(found.success && found.results.map((hit) => hit.key).sort()).toEqual(['note:alpha', 'note:beta']);
    const cjk = await backend.search('東京');
    expect(cjk.success && cjk.results.map((hit) => hit.key)).toEqual(['été/東京']);
    const filtered = await backend.search({ query: 'dog', filter: { kind: 'todo' } });
    expect(filtered.success && filtered.results.map((hit) => hit.key)).toEqual(['todo:gamma']);
    const ranked = await backend.search({ filter: { rank: { $gte: 2 } } });
    expect(ranked.success && ranked.results.map((hit) => hit.key).sort()).toEqual(['note:beta', 'todo:gamma']);
    const listed = await backend.list({ prefix: 'note:' });
    expect(listed.success && listed.items.map((item) => item.key)).toEqual(['note:alpha', 'note:beta']);
    expect(await backend.stats()).toMatchObject({ success: true, entries: 5 });
  });

  it("refuses every write with read_only, naming format: 'parquet'", async () => {
    for (const result of [
      await backend.store('new', 1),
      await backend.delete('note:alpha'),
      await backend.storeMany([{ key: 'a', value: 1 }]),
      await backend.cleanupExpired(),
    ]) {
      expect(result).toMatchObject({ success: false, errorType: 'read_only', retryable: false });
      if (!result.success) expect(result.error).toContain("format: 'parquet'");
    }
    expect(await backend.retrieve('note:alpha')).toMatchObject({ found: true });
  });
});

describe('opening fails clearly', () => {
  it('a missing object, bucket or container is a connection_error that says so', async () => {
    const r = rig();
    const cases: [Provider, string][] = [
      ['s3', `s3://${await r.s3.createBucket()}/nothing/here.duckdb`],
      ['s3', 's3://no-such-bucket-ltm/x.duckdb'],
      ['gcs', `gs://${await r.s3.createBucket()}/nothing.duckdb`],
      ['azure', `az://${await r.azure.createContainer()}/nothing.duckdb`],
    ];
    for (const [provider, uri] of cases) {
      const error = await DuckDBLTMBackend.open({ uri, ...cloudOptions(provider) }).then(
        () => expect.fail(`${uri} opened`),
        (e: unknown) => e as Error & { errorType: string; retryable: boolean },
      );
      transcript.record('missing', error);
      expect(error.errorType).toBe('connection_error');
      expect(error.retryable).toBe(false);
      expect(error.message).toContain(`cannot open ${uri}: there is no such object`);
    }
  });

  it('wrong credentials are auth_failed (S3 and GCS: signature checked by versitygw; Azure: shared key checked by Azurite)', async () => {
    const r = rig();
    const s3Uri = await upload('s3', bytes);
    const gcsUri = await upload('gcs', bytes);
    const azureUri = await upload('azure', bytes);
    const wrongKey = Buffer.from('not the account key').toString('base64');
    const attempts: [string, Parameters<typeof DuckDBLTMBackend.open>[0]][] = [
      [s3Uri, { ...cloudOptions('s3'), s3SecretAccessKey: 'not-the-secret-key' }],
      [gcsUri, { ...cloudOptions('gcs'), gcsSecretAccessKey: 'not-the-secret-key' }],
      [azureUri, { azureConnectionString: r.azure.connectionString.replace(r.azure.accountKey, wrongKey) }],
    ];
    for (const [uri, options] of attempts) {
      const error = await DuckDBLTMBackend.open({ uri, ...options }).then(
        () => expect.fail(`${uri} opened with a wrong key`),
        (e: unknown) => e as Error & { errorType: string },
      );
      transcript.record('wrong credentials', error);
      expect(error.errorType).toBe('auth_failed');
      expect(error.message).toContain(`cannot open ${uri}`);
      expect(error.message).toMatch(/check the credentials|Azure credentials/);
    }
  });

  it('no credentials for an Azure container is auth_failed naming the options and variables to set', async () => {
    const uri = await upload('azure', bytes);
    const engine = await DuckDBQueryEngine.open({ env: {} });
    const error = await engine.attachRemote(uri).then(
      () => expect.fail('attached without credentials'),
      (e: unknown) => e as Error & { errorType: string },
    );
    expect(error.errorType).toBe('auth_failed');
    expect(error.message).toContain('AZURE_STORAGE_CONNECTION_STRING');
    await engine.close();
  });

  it('an extension that cannot be loaded is dependency_missing naming it, the directory and the fix', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ltm-no-extensions-'));
    try {
      for (const provider of PROVIDERS) {
        const uri = await upload(provider, bytes);
        const error = await DuckDBLTMBackend.open({ uri, extensionDirectory: empty, ...cloudOptions(provider) }).then(
          () => expect.fail('opened without extensions'),
          (e: unknown) => e as Error & { errorType: string },
        );
        transcript.record('no extension', error);
        expect(error.errorType).toBe('dependency_missing');
        expect(error.message).toContain(`DuckDB's ${provider === 'azure' ? 'azure' : 'httpfs'} extension`);
        expect(error.message).toContain(empty);
        expect(error.message).toContain('ltm extensions install');
      }
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('credentials', () => {
  it('come from the environment (AWS_*, GCS_*, AZURE_STORAGE_CONNECTION_STRING) when not given, as secrets scoped to the bucket', async () => {
    const r = rig();
    const environments: [Provider, Record<string, string>][] = [
      ['s3', { AWS_ACCESS_KEY_ID: r.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: r.s3.secretAccessKey, AWS_REGION: r.s3.region, AWS_ENDPOINT_URL_S3: r.s3.endpoint }],
      ['azure', { AZURE_STORAGE_CONNECTION_STRING: r.azure.connectionString }],
    ];
    for (const [provider, env] of environments) {
      const uri = await upload(provider, bytes);
      const engine = await DuckDBQueryEngine.open({ env, onEvent: record(`env ${provider}`) });
      const backend = transcript.recorded(await DuckDBLTMBackend.open({ uri, queryEngine: engine }), `env ${provider}`);
      expect(await backend.retrieve('note:beta')).toMatchObject({ found: true });
      const [secret] = engine.stats().remote.secrets;
      const scope = uri.split('/').slice(0, 3).join('/');
      expect(secret).toMatchObject({ type: provider, scope, source: 'environment' });
      transcript.record('engine stats', engine.stats());
      await backend.close();
      await engine.close();
    }
    // GCS HMAC keys from the environment; the emulator's endpoint and region are settings, given explicitly.
    const uri = await upload('gcs', bytes);
    const engine = await DuckDBQueryEngine.open({
      env: { GCS_ACCESS_KEY_ID: r.s3.accessKeyId, GCS_SECRET_ACCESS_KEY: r.s3.secretAccessKey },
      credentials: { gcs: { endpoint: r.s3.endpoint, region: r.s3.region } },
    });
    const backend = await DuckDBLTMBackend.open({ uri, queryEngine: engine });
    expect(await backend.retrieve('note:alpha')).toMatchObject({ found: true });
    expect(engine.stats().remote.secrets).toEqual([
      { type: 'gcs', scope: uri.split('/').slice(0, 3).join('/'), source: 'environment', endpoint: r.s3.endpoint, region: r.s3.region },
    ]);
    await backend.close();
    await engine.close();
  });

  it('are scoped: a bucket with another secret is read with that one', async () => {
    const r = rig();
    const good = await upload('s3', bytes);
    const otherBucket = await r.s3.createBucket();
    await r.s3.putObject(otherBucket, 'ltm.duckdb', bytes);
    // One engine, explicit right credentials for s3://; the environment would give wrong ones, and must not be used.
    const engine = await DuckDBQueryEngine.open({
      credentials: engineCredentials('s3'),
      env: { AWS_ACCESS_KEY_ID: 'AKIAWRONGWRONGWRONG', AWS_SECRET_ACCESS_KEY: 'wrong-secret-from-env' },
    });
    const a = await DuckDBLTMBackend.open({ uri: good, queryEngine: engine });
    const b = await DuckDBLTMBackend.open({ uri: `s3://${otherBucket}/ltm.duckdb`, queryEngine: engine });
    expect(await a.retrieve('note:alpha')).toMatchObject({ found: true });
    expect(await b.retrieve('note:alpha')).toMatchObject({ found: true });
    expect(engine.stats().remote.secrets.map((s) => [s.scope, s.source]).sort()).toEqual(
      [[good.split('/').slice(0, 3).join('/'), 'options'], [`s3://${otherBucket}`, 'options']].sort(),
    );
    await a.close();
    await b.close();
    await engine.close();
  });
});

describe('one engine, one pool, several stores (AC-14)', () => {
  it('backends on S3 and Azure share the engine and its bounded pool', async () => {
    const r = rig();
    const engine = await DuckDBQueryEngine.open({
      poolSize: 2,
      credentials: { ...engineCredentials('s3', r), ...engineCredentials('azure', r) },
      onEvent: record('shared engine'),
    });
    const s3 = await DuckDBLTMBackend.open({ uri: await upload('s3', bytes), queryEngine: engine });
    const azure = await DuckDBLTMBackend.open({ uri: await upload('azure', bytes), queryEngine: engine });
    const reads = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? s3 : azure).retrieve(i % 3 === 0 ? 'note:alpha' : 'todo:gamma')),
    );
    expect(reads.every((read) => read.success && read.found)).toBe(true);
    const stats = engine.stats();
    transcript.record('shared engine stats', stats);
    expect(stats.pool.size).toBe(2);
    expect(stats.pool.open).toBeLessThanOrEqual(2);
    expect(stats.remote.attached).toHaveLength(2);
    await s3.close();
    // Closing one store leaves the engine (and the other store) working.
    expect(await azure.search('quick fox')).toMatchObject({ success: true, count: 2 });
    expect(engine.stats().remote.attached).toHaveLength(1);
    await azure.close();
    await engine.close();
  });
});

describe('a new upload', () => {
  // refresh() compares the object's size and modification time (what DuckDB's read_blob reports; it has
  // no ETag), so the new version here is also a different size: two uploads of equal size within one
  // second are not told apart (DuckDB's own ETag check then refuses reads of blocks not yet read).
  it('is picked up by refresh(); until then the open version is read', async () => {
    const r = rig();
    const bucket = await r.s3.createBucket();
    await r.s3.putObject(bucket, 'ltm.duckdb', bytes);
    const uri = `s3://${bucket}/ltm.duckdb`;
    const engine = await DuckDBQueryEngine.open({ credentials: engineCredentials('s3', r) });
    const format = createNativeFormat();
    await format.open({ engine, uri, tableName: 'ltm_store', readOnly: true });
    const keys = async () => (await engine.query<{ key: string }>(`SELECT key FROM ${format.relation('entries')} ORDER BY key`)).map((row) => row.key);
    expect(await format.refresh()).toBe(false);
    const before = await keys();
    const v2 = await storeFile([{ key: 'only-in-v2', value: 'x'.repeat(600_000) }]);
    expect(v2.length).not.toBe(bytes.length);
    await r.s3.putObject(bucket, 'ltm.duckdb', v2);
    expect(await format.refresh()).toBe(true);
    expect(await keys()).toEqual(['only-in-v2']);
    expect(before).toContain('note:alpha');
    expect(engine.stats().remote.attached).toHaveLength(1);
    await format.close();
    expect(engine.stats().remote.attached).toHaveLength(0);
    await engine.close();
  });
});

describe('a backend on a store that gets a new upload', () => {
  it('reads the new version within the refresh interval (5 s), through retrieve, search and stats', async () => {
    const r = rig();
    const bucket = await r.s3.createBucket();
    await r.s3.putObject(bucket, 'ltm.duckdb', bytes);
    const backend = transcript.recorded(await DuckDBLTMBackend.open({ uri: `s3://${bucket}/ltm.duckdb`, ...cloudOptions('s3') }), 'refresh');
    expect(await backend.retrieve('note:alpha')).toMatchObject({ found: true });
    expect(await backend.search('lazy')).toMatchObject({ success: true, count: 2 });
    await r.s3.putObject(bucket, 'ltm.duckdb', await storeFile([{ key: 'only-in-v2', value: 'lazy river '.repeat(50_000) }]));
    await new Promise((resolve) => setTimeout(resolve, 5_200));
    expect(await backend.retrieve('note:alpha')).toMatchObject({ found: false });
    expect(await backend.retrieve('only-in-v2')).toMatchObject({ found: true });
    const found = await backend.search('lazy');
    expect(found.success && found.results.map((hit) => hit.key)).toEqual(['only-in-v2']);
    expect(await backend.stats()).toMatchObject({ entries: 1 });
    await backend.close();
  });
});

describe('this file', () => {
  it('saw no secret in any result, error, stats output, event or output line', () => {
    expect(transcript.size).toBeGreaterThan(50);
    transcript.assertNoSecrets(secretsOf(rig()));
  });
});
