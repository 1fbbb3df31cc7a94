// The format on object storage: the rig's S3 emulator (versitygw), GCS through the same S3 API, and Azurite,
// with DuckDB's signed httpfs and azure extensions from tooling/extensions. The rig is started here (not
// in a global setup) so the local-disk tests need no emulator.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeStorageFormatContract } from '@ltm/core/testing';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AzureObjectStore, ParquetFormat, S3ObjectStore, type ParquetFormatOptions } from '../src/index.js';
// @ts-expect-error: a plain-JS fixture module shared with scripts/crash-loop.mjs
import { crashLoop } from './fixtures/crash-loop.mjs';
// @ts-expect-error: a plain-JS fixture module shared with scripts/crash-loop.mjs and the bench
import { startCloud } from './fixtures/cloud-setup.mjs';
import { batchOf, entry } from './helpers.js';
import { checkConcurrentWriters } from './multi-writer.js';

const SETUP_TIMEOUT_MS = 20 * 60_000;
const CRASH_ITERATIONS = Number(process.env.LTM_CRASH_ITERATIONS_CLOUD ?? 3);

interface CloudSetup {
  extensionDir: string;
  extensions: string[];
  secrets: string[];
  formatOptions: ParquetFormatOptions;
}

let stop: (() => Promise<void>) | undefined;
let bucket = '';
let container = '';
let cloud: CloudSetup;

beforeAll(async () => {
  const started = (await startCloud()) as { cloud: CloudSetup; bucket: string; container: string; stop(): Promise<void> };
  ({ cloud, bucket, container, stop } = started);
  // Child processes (writers, crash loop) open their stores with the same setup.
  process.env.LTM_TEST_CLOUD = JSON.stringify(cloud);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  delete process.env.LTM_TEST_CLOUD;
  await stop?.();
});

async function cloudEngine(): Promise<DuckDBQueryEngine> {
  const engine = await DuckDBQueryEngine.open({ path: ':memory:', config: { extension_directory: cloud.extensionDir, autoinstall_known_extensions: 'false' } });
  for (const extension of cloud.extensions) await engine.run(`LOAD ${extension}`);
  for (const sql of cloud.secrets) await engine.run(sql);
  return engine;
}

function contract(name: string, location: () => string) {
  describeStorageFormatContract({
    name,
    persistent: true,
    newLocation: location,
    async instantiate(uri, { readOnly }) {
      const engine = await cloudEngine();
      return {
        format: new ParquetFormat({ ...cloud.formatOptions, refreshIntervalMs: 0 }),
        context: { engine, uri, tableName: 'ltm_store', readOnly },
        query: (sql: string) => engine.query(sql),
        dispose: () => engine.close(),
      };
    },
  });
}

contract('parquet (S3 emulator)', () => `s3://${bucket}/contract-${randomUUID()}`);
contract('parquet (gs:// through the S3 emulator)', () => `gs://${bucket}/contract-gs-${randomUUID()}`);
contract('parquet (Azurite)', () => `az://${container}/contract-${randomUUID()}`);

describe('object stores', () => {
  test('S3: of 20 concurrent put-if-absent calls on one key exactly one wins; list pages past 1,000 objects; delete ignores missing keys', async () => {
    const store = await S3ObjectStore.open({ scheme: 's3', bucket, prefix: `objects-${randomUUID()}/` }, cloud.formatOptions.s3);
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.putIfAbsent('_log/x.json', Buffer.from(JSON.stringify({ i })))));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = JSON.parse(Buffer.from((await store.get('_log/x.json'))!).toString('utf8')) as { i: number };
      expect(results[winner.i]).toBe(true);
      const names = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      for (let start = 0; start < names.length; start += 50) await Promise.all(names.slice(start, start + 50).map((name) => store.put(name, Buffer.from('x'))));
      expect((await store.list('many/')).map((object) => object.key)).toEqual(names);
      expect((await store.list('many/', 'many/01000')).map((object) => object.key)).toEqual(names.slice(1001));
      await store.delete([...names, 'never-there']);
      expect(await store.list('many/')).toEqual([]);
      expect(await store.get('missing')).toBeUndefined();
    } finally {
      await store.close();
    }
  }, 120_000);

  test("S3: keys with spaces, non-ASCII and reserved characters name the same objects for the direct requests and the SDK's commands", async () => {
    const store = await S3ObjectStore.open({ scheme: 's3', bucket, prefix: `odd prefix+(é)-${randomUUID()}/` }, cloud.formatOptions.s3);
    try {
      const names = ['a b.json', 'plus+sign', "bang!'()*", 'ünï/cødé.json', 'semi;colon=eq&amp', 'pct%20sign', 'tilde~dot.'];
      for (const name of names) expect(await store.putIfAbsent(name, Buffer.from(name))).toBe(true);
      // Listed by the SDK under the same names, and taken for the direct requests.
      expect((await store.list('')).map((object) => object.key)).toEqual([...names].sort((a, b) => (a < b ? -1 : 1)));
      for (const name of names) expect(await store.putIfAbsent(name, Buffer.from('again'))).toBe(false);
      // Written by the SDK, read directly.
      await store.put('sdk wrote (this)', Buffer.from('from the SDK'));
      for (const name of names) expect(Buffer.from((await store.get(name))!).toString()).toBe(name);
      expect(Buffer.from((await store.get('sdk wrote (this)'))!).toString()).toBe('from the SDK');
      await store.delete([...names, 'sdk wrote (this)']);
      for (const name of names) expect(await store.get(name)).toBeUndefined();
    } finally {
      await store.close();
    }
  }, 120_000);

  test('Azure: of 20 concurrent put-if-absent calls on one key exactly one wins', async () => {
    const store = await AzureObjectStore.open({ container, prefix: `objects-${randomUUID()}/` }, cloud.formatOptions.azure);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.putIfAbsent('_log/x.json', Buffer.from(JSON.stringify({ i })))));
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = JSON.parse(Buffer.from((await store.get('_log/x.json'))!).toString('utf8')) as { i: number };
    expect(results[winner.i]).toBe(true);
    expect((await store.list('_log/')).map((object) => object.key)).toEqual(['_log/x.json']);
    await store.delete(['_log/x.json', 'never-there']);
    expect(await store.get('_log/x.json')).toBeUndefined();
  });

  test('S3 and Azure: an empty object (a skip record) is created once, read back empty (not missing) and listed with size 0', async () => {
    const stores = [
      await S3ObjectStore.open({ scheme: 's3', bucket, prefix: `empty-${randomUUID()}/` }, cloud.formatOptions.s3),
      await AzureObjectStore.open({ container, prefix: `empty-${randomUUID()}/` }, cloud.formatOptions.azure),
    ];
    for (const store of stores) {
      try {
        expect(await store.putIfAbsent('_log/1.json', new Uint8Array(0))).toBe(true);
        expect(await store.putIfAbsent('_log/1.json', new Uint8Array(0))).toBe(false);
        expect(await store.putIfAbsent('_log/1.json', Buffer.from('{}'))).toBe(false);
        const body = await store.get('_log/1.json');
        expect(body).toBeInstanceOf(Uint8Array);
        expect(body!.byteLength).toBe(0);
        expect((await store.list('_log/')).map((object) => [object.key, object.size])).toEqual([['_log/1.json', 0]]);
        await store.delete(['_log/1.json']);
      } finally {
        await store.close();
      }
    }
  });

  test('gs:// asks for creation with x-goog-if-generation-match: 0 and reads 412 as "already exists"', async () => {
    const seen: (string | undefined)[] = [];
    const existing = new Set<string>();
    const server = createServer((request, response) => {
      seen.push(request.headers['x-goog-if-generation-match'] as string | undefined);
      request.resume();
      request.on('end', () => {
        const taken = existing.has(request.url ?? '');
        existing.add(request.url ?? '');
        response.writeHead(taken ? 412 : 200, { ETag: '"1"' }).end(taken ? '<Error><Code>PreconditionFailed</Code></Error>' : '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const store = await S3ObjectStore.open({ scheme: 'gs', bucket: 'stand-in', prefix: 'p/' }, { endpoint: `http://127.0.0.1:${port}`, accessKeyId: 'GOOG1EXAMPLE', secretAccessKey: 'secret', maxAttempts: 1 });
      expect(await store.putIfAbsent('_log/1.json', Buffer.from('{}'))).toBe(true);
      expect(await store.putIfAbsent('_log/1.json', Buffer.from('{}'))).toBe(false);
      expect(seen).toEqual(['0', '0']);
      expect(store.url('_log/1.json')).toBe('gs://stand-in/p/_log/1.json');
      await store.close();
    } finally {
      server.close();
    }
  });
});

describe('the format on S3', () => {
  test('data is written by DuckDB to s3:// and read back by a new instance; segments are plain Parquet there', async () => {
    const uri = `s3://${bucket}/roundtrip-${randomUUID()}`;
    const engine = await cloudEngine();
    try {
      const writer = new ParquetFormat({ ...cloud.formatOptions, refreshIntervalMs: 0, inlineMaxBytes: 0 });
      await writer.open({ engine, uri, tableName: 'ltm_store', readOnly: false });
      await writer.commit(batchOf([entry('a'), entry('b', { value: '{"n":2}' })]));
      await writer.close();
      const rows = await engine.query<{ key: string; operation: string }>(`SELECT key, operation FROM read_parquet('${uri}/ltm_store/data/*.entries.parquet') ORDER BY key`);
      expect(rows).toEqual([
        { key: 'a', operation: 'put' },
        { key: 'b', operation: 'put' },
      ]);
      const reader = new ParquetFormat({ ...cloud.formatOptions, refreshIntervalMs: 0 });
      await reader.open({ engine, uri, tableName: 'ltm_store', readOnly: true });
      expect(await engine.query(`SELECT key, value::VARCHAR AS value FROM ${reader.relation('entries')} ORDER BY key`)).toEqual([
        { key: 'a', value: '{"key":"a"}' },
        { key: 'b', value: '{"n":2}' },
      ]);
      // The live-state view for plain DuckDB reads the segments and inline records by their s3:// URLs.
      const second = new ParquetFormat({ ...cloud.formatOptions, refreshIntervalMs: 0 });
      await second.open({ engine, uri, tableName: 'ltm_store', readOnly: false });
      await second.commit(batchOf([entry('c', { value: '"inline"' })], ['a']));
      await engine.run(second.liveViewSql('live_s3'));
      expect(await engine.query('SELECT key, value::VARCHAR AS value FROM live_s3 ORDER BY key')).toEqual([
        { key: 'b', value: '{"n":2}' },
        { key: 'c', value: '"inline"' },
      ]);
      await second.close();
      await reader.close();
    } finally {
      await engine.close();
    }
  });

  test('4 processes committing concurrently on S3: every acknowledged write is visible and readers agree on the last in commit order', async () => {
    await checkConcurrentWriters(`s3://${bucket}/multi-${randomUUID()}`, 4, 15);
  }, 600_000);

  test(`a writer killed with SIGKILL at random points ${CRASH_ITERATIONS} times on S3 leaves every acknowledged batch and no half batch`, async () => {
    const summary = (await crashLoop({ dir: `s3://${bucket}/crash-${randomUUID()}`, iterations: CRASH_ITERATIONS, seed: 11 })) as { iterations: number };
    expect(summary.iterations).toBe(CRASH_ITERATIONS);
  }, 900_000);

  test(`three writers at once on S3, each killed with SIGKILL at its own random point, ${CRASH_ITERATIONS} times: every acknowledged batch of each, none half visible`, async () => {
    const summary = (await crashLoop({ dir: `s3://${bucket}/crash3-${randomUUID()}`, iterations: CRASH_ITERATIONS, seed: 19, writers: 3 })) as { iterations: number; lostRaces: number };
    expect(summary.iterations).toBe(CRASH_ITERATIONS);
    expect(summary.lostRaces).toBeGreaterThan(0);
  }, 900_000);
});

describe('the format on Azure (Azurite)', () => {
  test('4 processes committing concurrently on Azure: every acknowledged write is visible and readers agree on the last in commit order', async () => {
    await checkConcurrentWriters(`az://${container}/multi-${randomUUID()}`, 4, 10);
  }, 600_000);

  test(`a writer killed with SIGKILL at random points ${CRASH_ITERATIONS} times on Azure leaves every acknowledged batch and no half batch`, async () => {
    const summary = (await crashLoop({ dir: `az://${container}/crash-${randomUUID()}`, iterations: CRASH_ITERATIONS, seed: 13 })) as { iterations: number };
    expect(summary.iterations).toBe(CRASH_ITERATIONS);
  }, 900_000);

  test(`three writers at once on Azure, each killed with SIGKILL at its own random point, ${CRASH_ITERATIONS} times: every acknowledged batch of each, none half visible`, async () => {
    const summary = (await crashLoop({ dir: `az://${container}/crash3-${randomUUID()}`, iterations: CRASH_ITERATIONS, seed: 23, writers: 3 })) as { iterations: number; lostRaces: number };
    expect(summary.iterations).toBe(CRASH_ITERATIONS);
    expect(summary.lostRaces).toBeGreaterThan(0);
  }, 900_000);
});
