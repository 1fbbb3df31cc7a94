// DuckDB itself against the rig: httpfs over S3 (and GCS through its S3-interop API) and the azure extension,
// with the official signed extension binaries that tooling/extensions provisions. This is the path the
// formats take for data (COPY ... TO, read_parquet, glob), so the rig must serve it, not only the SDKs.

import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionExtensions } from '../extensions/index.mjs';
import { startRig } from './index.mjs';

const SETUP_TIMEOUT_MS = 20 * 60_000;

// The DuckDB that the engine pins, so the provisioned extension binaries match it.
async function loadDuckDB() {
  const anchor = fileURLToPath(new URL('../../packages/engine-duckdb/package.json', import.meta.url));
  return import(pathToFileURL(createRequire(anchor).resolve('@duckdb/node-api')).href);
}

// CREATE SECRET takes no bind parameters; the values are the rig's own generated ones, quoted all the same.
const sqlString = (value) => `'${String(value).replaceAll("'", "''")}'`;

describe('DuckDB against the rig', () => {
  let rig;
  let instance;
  let db;
  let bucket;
  let container;

  const rows = async (sql) => (await db.runAndReadAll(sql)).getRowObjectsJson();

  beforeAll(async () => {
    const [{ DuckDBInstance }, extensions, started] = await Promise.all([
      loadDuckDB(),
      provisionExtensions({ only: ['httpfs', 'azure'] }),
      startRig(),
    ]);
    rig = started;
    instance = await DuckDBInstance.create(':memory:', {
      extension_directory: extensions.dir,
      allow_unsigned_extensions: 'false',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    db = await instance.connect();
    await db.run('LOAD httpfs');
    await db.run('LOAD azure');
    bucket = await rig.s3.createBucket();
    container = await rig.azure.createContainer();
    const endpoint = new URL(rig.s3.endpoint).host;
    await db.run(
      `CREATE SECRET rig_s3 (TYPE s3, KEY_ID ${sqlString(rig.s3.accessKeyId)}, SECRET ${sqlString(rig.s3.secretAccessKey)}, ` +
        `REGION ${sqlString(rig.s3.region)}, ENDPOINT ${sqlString(endpoint)}, URL_STYLE 'path', USE_SSL false, ` +
        `SCOPE ${sqlString(`s3://${bucket}`)})`,
    );
    // DuckDB's gcs secret signs with an empty region unless told one; real GCS ignores the region, versitygw
    // insists on its own, so the rig's region is given explicitly.
    await db.run(
      `CREATE SECRET rig_gcs (TYPE gcs, KEY_ID ${sqlString(rig.s3.accessKeyId)}, SECRET ${sqlString(rig.s3.secretAccessKey)}, ` +
        `REGION ${sqlString(rig.s3.region)}, ENDPOINT ${sqlString(endpoint)}, URL_STYLE 'path', USE_SSL false)`,
    );
    await db.run(`CREATE SECRET rig_azure (TYPE azure, CONNECTION_STRING ${sqlString(rig.azure.connectionString)})`);
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    db?.closeSync();
    instance?.closeSync();
    await rig?.stop();
  });

  it('writes Parquet to S3, lists it with glob and reads it back; the SDK sees the same object', async () => {
    await db.run(`COPY (SELECT range AS n, 'v' || range AS s FROM range(1000)) TO 's3://${bucket}/seg/a.parquet' (FORMAT parquet)`);
    expect(await rows(`SELECT count(*)::INTEGER AS c, sum(n)::INTEGER AS total FROM read_parquet('s3://${bucket}/seg/*.parquet')`)).toEqual([
      { c: 1000, total: 499500 },
    ]);
    expect(await rows(`SELECT file FROM glob('s3://${bucket}/seg/*')`)).toEqual([{ file: `s3://${bucket}/seg/a.parquet` }]);
    const client = new S3Client(rig.s3.clientConfig);
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'seg/a.parquet', Range: 'bytes=0-3' }));
    expect(Buffer.from(await object.Body.transformToByteArray()).toString()).toBe('PAR1');
    client.destroy();
  });

  it('reads an object the SDK wrote', async () => {
    const client = new S3Client(rig.s3.clientConfig);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'sdk/rows.json', Body: '{"k":"a","v":1}\n{"k":"b","v":2}\n' }));
    client.destroy();
    expect(await rows(`SELECT k, v::INTEGER AS v FROM read_json('s3://${bucket}/sdk/rows.json') ORDER BY k`)).toEqual([
      { k: 'a', v: 1 },
      { k: 'b', v: 2 },
    ]);
  });

  it('a wrong secret is refused with 403 SignatureDoesNotMatch, which DuckDB reports', async () => {
    const endpoint = new URL(rig.s3.endpoint).host;
    await db.run(
      `CREATE SECRET rig_s3_wrong (TYPE s3, KEY_ID ${sqlString(rig.s3.accessKeyId)}, SECRET 'not-the-secret', ` +
        `REGION ${sqlString(rig.s3.region)}, ENDPOINT ${sqlString(endpoint)}, URL_STYLE 'path', USE_SSL false, ` +
        `SCOPE ${sqlString(`s3://${bucket}/wrong`)})`,
    );
    await expect(rows(`SELECT * FROM read_parquet('s3://${bucket}/wrong/x.parquet')`)).rejects.toThrow(
      /403[\s\S]*SignatureDoesNotMatch/,
    );
  });

  it('GCS through the S3-interop API: gs:// writes and reads against the same server', async () => {
    await db.run(`COPY (SELECT 7 AS n) TO 'gs://${bucket}/gcs/b.parquet' (FORMAT parquet)`);
    expect(await rows(`SELECT n FROM read_parquet('gs://${bucket}/gcs/b.parquet')`)).toEqual([{ n: 7 }]);
    expect(await rows(`SELECT count(*)::INTEGER AS c FROM read_parquet('gs://${bucket}/seg/a.parquet')`)).toEqual([{ c: 1000 }]);
  });

  it('Azure: writes Parquet to az://, lists and reads it, and reads a blob the SDK wrote', async () => {
    await db.run(`COPY (SELECT range AS n FROM range(10)) TO 'az://${container}/seg/a.parquet' (FORMAT parquet)`);
    expect(await rows(`SELECT sum(n)::INTEGER AS total FROM read_parquet('az://${container}/seg/a.parquet')`)).toEqual([{ total: 45 }]);
    const blobs = BlobServiceClient.fromConnectionString(rig.azure.connectionString).getContainerClient(container);
    const body = 'k,v\na,1\n';
    await blobs.getBlockBlobClient('sdk/rows.csv').upload(body, body.length);
    expect(await rows(`SELECT file FROM glob('az://${container}/*/*') ORDER BY file`)).toEqual([
      { file: `az://${container}/sdk/rows.csv` },
      { file: `az://${container}/seg/a.parquet` },
    ]);
    expect(await rows(`SELECT k, v::INTEGER AS v FROM read_csv('az://${container}/sdk/rows.csv')`)).toEqual([{ k: 'a', v: 1 }]);
  });
});
