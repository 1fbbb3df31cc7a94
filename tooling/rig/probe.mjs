// Conformance probe: proves, against the running emulators, the object-store behaviour that the parquet
// format's correctness rests on. An emulator that silently accepts a second put-if-absent, ignores If-Match
// or skips signature checks would let the cloud suite pass while the real code is wrong, so every check here
// is a hard failure, and the report says what was observed rather than what was hoped.
//
// Use: `await runProbe(rig)` (throws ProbeFailure listing every failed check) or
// `node tooling/rig/probe.mjs [--s3-only|--azure-only]`, which starts a rig, probes it and stops it.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

const RACE_WRITERS = 20;
const RACE_ROUNDS = 3;
const LIST_OBJECTS = 25;
const LIST_PAGE = 10;
// S3 refuses a non-final multipart part under 5 MiB; use the real minimum so a lenient emulator cannot hide it.
const PART_BYTES = 5 * 1024 * 1024;

export class ProbeFailure extends Error {
  constructor(report) {
    const failed = report.checks.filter((c) => !c.ok);
    super(
      `object-store emulator conformance probe failed (${failed.length} of ${report.checks.length} checks); ` +
        `the cloud tests would not prove anything against this emulator:\n` +
        failed.map((c) => `  - ${c.service} ${c.name}: ${c.detail}`).join('\n'),
    );
    this.name = 'ProbeFailure';
    this.report = report;
  }
}

/**
 * Runs every check against the services the rig started (`rig.s3`, `rig.azure`; absent ones are skipped).
 * Resolves to `{ checks: [{ service, name, ok, detail }] }` when all pass; rejects with ProbeFailure otherwise.
 */
export async function runProbe(rig) {
  const checks = [];
  if (rig.s3) await probeS3(rig.s3, checks);
  if (rig.azure) await probeAzure(rig.azure, checks);
  const report = { checks };
  if (checks.some((c) => !c.ok)) throw new ProbeFailure(report);
  return report;
}

// Each check records a failure instead of throwing, so one run reports every lie at once.
async function check(checks, service, name, fn) {
  try {
    const detail = await fn();
    checks.push({ service, name, ok: true, detail: detail ?? 'ok' });
  } catch (err) {
    checks.push({ service, name, ok: false, detail: describe(err) });
  }
}

function describe(err) {
  if (err instanceof Expectation) return err.message;
  const status = err?.$metadata?.httpStatusCode ?? err?.statusCode;
  return `unexpected error ${err?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err?.message ?? err}`;
}

class Expectation extends Error {}

function expect(condition, message) {
  if (!condition) throw new Expectation(message);
}

function s3Status(err) {
  return err?.$metadata?.httpStatusCode;
}

async function bodyBytes(body) {
  return Buffer.from(await body.transformToByteArray());
}

function md5(buf) {
  return createHash('md5').update(buf).digest('hex');
}

// --- S3 -----------------------------------------------------------------------------------------------

function s3Client(s3, credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }) {
  // maxAttempts 1: a retry could turn a refused conditional write into an apparent success or hide a 5xx.
  return new S3Client({ ...s3.clientConfig, credentials, maxAttempts: 1 });
}

async function probeS3(s3, checks) {
  const client = s3Client(s3);
  const bucket = `ltm-probe-${randomUUID().slice(0, 8)}`;
  const add = (name, fn) => check(checks, 's3', name, fn);
  try {
    await add('create bucket', async () => {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    });
    if (!checks.at(-1).ok) return;

    await add(`${RACE_WRITERS}-way put-if-absent race (If-None-Match: *)`, async () => {
      for (let round = 0; round < RACE_ROUNDS; round++) {
        const key = `race/${round}`;
        const bodies = Array.from({ length: RACE_WRITERS }, (_, i) => `writer ${i} ${randomUUID()}`);
        const outcomes = await Promise.allSettled(
          bodies.map((body) =>
            client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, IfNoneMatch: '*' })),
          ),
        );
        const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
        // AWS answers a lost race with 412, or 409 ConditionalRequestConflict while the winner is in flight.
        const odd = outcomes.filter((o) => o.status === 'rejected' && ![409, 412].includes(s3Status(o.reason)));
        expect(odd.length === 0, `losers must get 412/409, got: ${odd.map((o) => describe(o.reason)).join('; ')}`);
        expect(winners.length === 1, `round ${round}: ${winners.length} writers succeeded, exactly 1 must`);
        const stored = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const text = (await bodyBytes(stored.Body)).toString();
        expect(text === bodies[winners[0]], `round ${round}: stored body is not the winner's (lost update)`);
      }
      return `${RACE_ROUNDS} rounds, one winner each, stored body is the winner's`;
    });

    await add('If-Match mismatch refused, match accepted', async () => {
      const key = 'if-match/object';
      const first = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'v1' }));
      const refused = await client
        .send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'v2', IfMatch: '"00000000000000000000000000000000"' }))
        .then(() => null, (err) => err);
      expect(refused !== null, 'PUT with a wrong If-Match etag succeeded');
      expect(s3Status(refused) === 412, `wrong If-Match gave ${describe(refused)}, expected 412`);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'v3', IfMatch: first.ETag }));
      const now = await bodyBytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body);
      expect(now.toString() === 'v3', `after a matching If-Match the object reads "${now}", expected "v3"`);
      return '412 on mismatch, 200 on match';
    });

    await add('wrong secret key rejected (SigV4 checked)', async () => {
      const forged = s3Client(s3, { accessKeyId: s3.accessKeyId, secretAccessKey: `${s3.secretAccessKey}-wrong` });
      const err = await forged
        .send(new PutObjectCommand({ Bucket: bucket, Key: 'forged', Body: 'x' }))
        .then(() => null, (e) => e);
      expect(err !== null, 'a PUT signed with the wrong secret key succeeded: signatures are not checked');
      expect(s3Status(err) === 403, `wrong secret gave ${describe(err)}, expected 403`);
      const exists = await client
        .send(new HeadObjectCommand({ Bucket: bucket, Key: 'forged' }))
        .then(() => true, () => false);
      expect(!exists, 'the forged PUT was refused but its object exists');
      return `403 ${err.name}`;
    });

    await add('unknown access key rejected', async () => {
      const stranger = s3Client(s3, { accessKeyId: 'LTMPROBEUNKNOWNKEY', secretAccessKey: s3.secretAccessKey });
      const err = await stranger.send(new ListObjectsV2Command({ Bucket: bucket })).then(() => null, (e) => e);
      expect(err !== null, 'a LIST with an unknown access key succeeded');
      const status = s3Status(err);
      expect(status >= 400 && status < 500, `unknown key gave ${describe(err)}, expected a 4xx refusal`);
      // AWS answers 403 InvalidAccessKeyId; versitygw 1.8 answers 404 XAdminUserNotFound. Both refuse, but code
      // that maps statuses to errors must not be tested for auth_failed with this case: use a wrong secret.
      return status === 403 ? `403 ${err.name}` : `refused with ${status} ${err.name} (AWS says 403 InvalidAccessKeyId)`;
    });

    const listed = Array.from({ length: LIST_OBJECTS }, (_, i) => `list/${String(i).padStart(3, '0')}`);
    await add(`paginated listing (${LIST_OBJECTS} objects, pages of ${LIST_PAGE})`, async () => {
      await Promise.all(listed.map((Key) => client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }))));
      const seen = [];
      let token;
      let pages = 0;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/', MaxKeys: LIST_PAGE, ContinuationToken: token }),
        );
        pages++;
        expect((page.Contents ?? []).length <= LIST_PAGE, `a page held ${page.Contents.length} keys, MaxKeys was ${LIST_PAGE}`);
        seen.push(...(page.Contents ?? []).map((o) => o.Key));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        expect(pages <= LIST_OBJECTS, 'listing never ends');
      } while (token);
      expect(pages === Math.ceil(LIST_OBJECTS / LIST_PAGE), `${pages} pages, expected ${Math.ceil(LIST_OBJECTS / LIST_PAGE)}`);
      expect(JSON.stringify(seen) === JSON.stringify(listed), `pages gave ${JSON.stringify(seen)}`);
      return `${pages} pages, keys complete and in order`;
    });

    await add('range reads', async () => {
      const data = randomBytes(1000);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'range', Body: data }));
      const mid = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'range', Range: 'bytes=100-199' }));
      expect(mid.$metadata.httpStatusCode === 206, `ranged GET answered ${mid.$metadata.httpStatusCode}, expected 206`);
      expect((await bodyBytes(mid.Body)).equals(data.subarray(100, 200)), 'bytes=100-199 returned the wrong bytes');
      const tail = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'range', Range: 'bytes=-10' }));
      expect((await bodyBytes(tail.Body)).equals(data.subarray(990)), 'suffix range bytes=-10 returned the wrong bytes');
      return 'middle and suffix ranges exact';
    });

    await add('multipart upload', async () => {
      const key = 'multipart';
      const parts = [randomBytes(PART_BYTES), randomBytes(1234)];
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      const done = [];
      for (const [i, Body] of parts.entries()) {
        const { ETag } = await client.send(
          new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body }),
        );
        done.push({ ETag, PartNumber: i + 1 });
      }
      await client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: done } }),
      );
      const whole = await bodyBytes((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body);
      expect(md5(whole) === md5(Buffer.concat(parts)), 'the assembled object differs from its parts');
      return `${parts.length} parts, ${whole.length} bytes assembled exactly`;
    });

    await add('batch delete (DeleteObjects)', async () => {
      const keys = [...listed, 'list/never-existed'];
      const out = await client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
      );
      expect((out.Errors ?? []).length === 0, `DeleteObjects reported errors: ${JSON.stringify(out.Errors)}`);
      const left = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'list/' }));
      expect((left.Contents ?? []).length === 0, `${left.Contents?.length} objects survived the batch delete`);
      return `${keys.length} keys deleted in one request`;
    });
  } finally {
    client.destroy();
  }
}

// --- Azure Blob ----------------------------------------------------------------------------------------

function azureStatus(err) {
  return err?.statusCode;
}

async function probeAzure(azure, checks) {
  const service = BlobServiceClient.fromConnectionString(azure.connectionString);
  const container = service.getContainerClient(`ltm-probe-${randomUUID().slice(0, 8)}`);
  const add = (name, fn) => check(checks, 'azure', name, fn);

  await add('create container', async () => {
    await container.create();
  });
  if (!checks.at(-1).ok) return;

  await add(`${RACE_WRITERS}-way put-if-absent race (If-None-Match: *)`, async () => {
    for (let round = 0; round < RACE_ROUNDS; round++) {
      const blob = container.getBlockBlobClient(`race/${round}`);
      const bodies = Array.from({ length: RACE_WRITERS }, (_, i) => `writer ${i} ${randomUUID()}`);
      const outcomes = await Promise.allSettled(
        bodies.map((body) => blob.upload(body, Buffer.byteLength(body), { conditions: { ifNoneMatch: '*' } })),
      );
      const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
      // Azure answers an existing blob with 409 BlobAlreadyExists; 412 is the generic condition failure.
      const odd = outcomes.filter((o) => o.status === 'rejected' && ![409, 412].includes(azureStatus(o.reason)));
      expect(odd.length === 0, `losers must get 409/412, got: ${odd.map((o) => describe(o.reason)).join('; ')}`);
      expect(winners.length === 1, `round ${round}: ${winners.length} writers succeeded, exactly 1 must`);
      const text = (await blob.downloadToBuffer()).toString();
      expect(text === bodies[winners[0]], `round ${round}: stored body is not the winner's (lost update)`);
    }
    return `${RACE_ROUNDS} rounds, one winner each, stored body is the winner's`;
  });

  await add('If-Match mismatch refused, match accepted', async () => {
    const blob = container.getBlockBlobClient('if-match/blob');
    const first = await blob.upload('v1', 2);
    const refused = await blob
      .upload('v2', 2, { conditions: { ifMatch: '"0x8D000000000000"' } })
      .then(() => null, (err) => err);
    expect(refused !== null, 'PUT with a wrong If-Match etag succeeded');
    expect(azureStatus(refused) === 412, `wrong If-Match gave ${describe(refused)}, expected 412`);
    await blob.upload('v3', 2, { conditions: { ifMatch: first.etag } });
    const now = (await blob.downloadToBuffer()).toString();
    expect(now === 'v3', `after a matching If-Match the blob reads "${now}", expected "v3"`);
    return '412 on mismatch, 201 on match';
  });

  await add('wrong account key rejected (SharedKey checked)', async () => {
    const wrongKey = Buffer.from(`not-the-key-${randomUUID()}`).toString('base64');
    const forged = new BlobServiceClient(
      azure.blobEndpoint,
      new StorageSharedKeyCredential(azure.accountName, wrongKey),
      { retryOptions: { maxTries: 1 } },
    );
    const blob = forged.getContainerClient(container.containerName).getBlockBlobClient('forged');
    const err = await blob.upload('x', 1).then(() => null, (e) => e);
    expect(err !== null, 'a PUT signed with the wrong account key succeeded: signatures are not checked');
    expect(azureStatus(err) === 403, `wrong key gave ${describe(err)}, expected 403`);
    expect(!(await container.getBlockBlobClient('forged').exists()), 'the forged PUT was refused but its blob exists');
    return `403 ${err.code ?? err.name}`;
  });

  const listed = Array.from({ length: LIST_OBJECTS }, (_, i) => `list/${String(i).padStart(3, '0')}`);
  await add(`paginated listing (${LIST_OBJECTS} blobs, pages of ${LIST_PAGE})`, async () => {
    await Promise.all(listed.map((name) => container.getBlockBlobClient(name).upload(name, name.length)));
    const seen = [];
    let pages = 0;
    for await (const page of container.listBlobsFlat({ prefix: 'list/' }).byPage({ maxPageSize: LIST_PAGE })) {
      pages++;
      const names = page.segment.blobItems.map((b) => b.name);
      expect(names.length <= LIST_PAGE, `a page held ${names.length} blobs, maxPageSize was ${LIST_PAGE}`);
      seen.push(...names);
    }
    expect(pages === Math.ceil(LIST_OBJECTS / LIST_PAGE), `${pages} pages, expected ${Math.ceil(LIST_OBJECTS / LIST_PAGE)}`);
    expect(JSON.stringify(seen) === JSON.stringify(listed), `pages gave ${JSON.stringify(seen)}`);
    return `${pages} pages, names complete and in order`;
  });

  await add('range reads', async () => {
    const data = randomBytes(1000);
    const blob = container.getBlockBlobClient('range');
    await blob.upload(data, data.length);
    expect((await blob.downloadToBuffer(100, 100)).equals(data.subarray(100, 200)), 'offset 100 count 100 returned the wrong bytes');
    const tail = await blob.download(990);
    expect(tail._response.status === 206, `ranged GET answered ${tail._response.status}, expected 206`);
    expect((await blob.downloadToBuffer(990)).equals(data.subarray(990)), 'the open-ended range returned the wrong bytes');
    return 'middle and open-ended ranges exact';
  });

  await add('block upload (stage + commit block list)', async () => {
    const blob = container.getBlockBlobClient('blocks');
    const parts = [randomBytes(PART_BYTES), randomBytes(1234)];
    const ids = parts.map((_, i) => Buffer.from(`block-${String(i).padStart(6, '0')}`).toString('base64'));
    for (const [i, part] of parts.entries()) await blob.stageBlock(ids[i], part, part.length);
    await blob.commitBlockList(ids);
    const whole = await blob.downloadToBuffer();
    expect(md5(whole) === md5(Buffer.concat(parts)), 'the committed blob differs from its blocks');
    return `${parts.length} blocks, ${whole.length} bytes committed exactly`;
  });

  await add('batch delete (Blob Batch)', async () => {
    const urls = listed.map((name) => container.getBlockBlobClient(name).url);
    const out = await container.getBlobBatchClient().deleteBlobs(
      urls,
      new StorageSharedKeyCredential(azure.accountName, azure.accountKey),
    );
    expect(out.subResponsesFailedCount === 0, `${out.subResponsesFailedCount} sub-requests of the batch failed`);
    const left = [];
    for await (const b of container.listBlobsFlat({ prefix: 'list/' })) left.push(b.name);
    expect(left.length === 0, `${left.length} blobs survived the batch delete`);
    return `${urls.length} blobs deleted in one batch request`;
  });

  await container.deleteIfExists();
}

// --- CLI -----------------------------------------------------------------------------------------------

async function main(argv) {
  const { startRig } = await import('./index.mjs');
  const only = argv.includes('--s3-only') ? 's3' : argv.includes('--azure-only') ? 'azure' : null;
  const rig = await startRig({ s3: only !== 'azure', azure: only !== 's3' });
  try {
    const report = await runProbe(rig).catch((err) => {
      if (err instanceof ProbeFailure) printReport(err.report);
      throw err;
    });
    printReport(report);
  } finally {
    await rig.stop();
  }
}

function printReport(report) {
  for (const c of report.checks) console.log(`${c.ok ? 'pass' : 'FAIL'}  ${c.service.padEnd(5)} ${c.name}: ${c.detail}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err.message);
    process.exitCode = 1;
  });
}
