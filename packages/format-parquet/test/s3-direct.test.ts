// The S3 store's direct requests (get and put-if-absent without the SDK's middleware stack) against a stand-in
// server that answers what a test tells it to: retries, errors, clock skew, and what is signed. The same calls
// against the S3 emulator are in cloud.test.ts.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { LTMError } from '@ltm/core';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { S3ObjectStore } from '../src/index.js';
import { directTarget } from '../src/object-store/s3.js';

interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const SECRET = 'stand-in-secret-never-shown';
let answers: Answer[] = [];
let seen: Seen[] = [];
let endpoint = '';
const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) });
    const answer = answers.shift() ?? { status: 500, body: '<Error><Code>NoAnswerPlanned</Code></Error>' };
    response.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '');
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.close();
});

beforeEach(() => {
  answers = [];
  seen = [];
});

const error = (code: string, message = `${code} happened`) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

async function withStore(body: (store: S3ObjectStore) => Promise<void>): Promise<void> {
  const store = await S3ObjectStore.open({ scheme: 's3', bucket: 'stand-in', prefix: 'p/' }, { endpoint, accessKeyId: 'AKIDSTANDIN', secretAccessKey: SECRET, maxAttempts: 3 });
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

async function failure(promise: Promise<unknown>): Promise<LTMError> {
  const thrown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(thrown).toBeInstanceOf(LTMError);
  return thrown as LTMError;
}

describe('S3 direct requests', () => {
  test('a put-if-absent is one signed PUT: path-style key, If-None-Match, the body hash signed', async () => {
    answers = [{ status: 200 }, { status: 412, body: error('PreconditionFailed') }];
    await withStore(async (store) => {
      const body = Buffer.from('{"n":1}');
      expect(await store.putIfAbsent('_log/1.json', body)).toBe(true);
      expect(await store.putIfAbsent('_log/1.json', body)).toBe(false);
    });
    expect(seen).toHaveLength(2);
    const [first] = seen;
    expect(first!.method).toBe('PUT');
    expect(first!.url).toBe('/stand-in/p/_log/1.json');
    expect(first!.body.toString()).toBe('{"n":1}');
    expect(first!.headers['if-none-match']).toBe('*');
    expect(first!.headers['content-type']).toBe('application/json');
    expect(first!.headers['x-amz-content-sha256']).toBe(createHash('sha256').update('{"n":1}').digest('hex'));
    expect(first!.headers['authorization']).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDSTANDIN\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=[^ ]*if-none-match[^ ]*, Signature=[0-9a-f]{64}$/);
    expect(first!.headers['authorization']).not.toContain(SECRET);
  });

  test('keys are percent-encoded per path segment, as S3 signs them', async () => {
    answers = [{ status: 200, body: 'x' }];
    await withStore(async (store) => {
      expect(Buffer.from((await store.get("a b/ü+(1)!*'.json"))!).toString()).toBe('x');
    });
    expect(seen[0]!.url).toBe('/stand-in/p/a%20b/%C3%BC%2B%281%29%21%2A%27.json');
  });

  test('get: 404 NoSuchKey is "absent"; throttling and server errors are retried; NoSuchBucket names the fix', async () => {
    await withStore(async (store) => {
      answers = [{ status: 404, body: error('NoSuchKey') }];
      expect(await store.get('missing')).toBeUndefined();

      answers = [{ status: 503, body: error('SlowDown') }, { status: 500, body: error('InternalError') }, { status: 200, body: 'third time' }];
      expect(Buffer.from((await store.get('busy'))!).toString()).toBe('third time');

      answers = [{ status: 500 }, { status: 500 }, { status: 500, body: error('InternalError', 'try later') }];
      const exhausted = await failure(store.get('down'));
      expect(exhausted.errorType).toBe('connection_error');
      expect(exhausted.message).toContain('HTTP 500');
      expect(exhausted.message).toContain('InternalError');
      expect(exhausted.message).toContain('try later');

      answers = [{ status: 404, body: error('NoSuchBucket') }];
      const noBucket = await failure(store.get('k'));
      expect(noBucket.errorType).toBe('validation_error');
      expect(noBucket.message).toContain('create the bucket first');
    });
    expect(seen.map((request) => request.method)).toEqual(Array(8).fill('GET'));
  });

  test('put-if-absent: 503 is retried; a 412 after a server error is not read as "taken by another", since it may be this write', async () => {
    await withStore(async (store) => {
      answers = [{ status: 503, body: error('SlowDown') }, { status: 200 }];
      expect(await store.putIfAbsent('_log/2.json', Buffer.from('{}'))).toBe(true);

      // 503 means not applied: a 412 after it is another writer's object.
      answers = [{ status: 503, body: error('SlowDown') }, { status: 412, body: error('PreconditionFailed') }];
      expect(await store.putIfAbsent('_log/3.json', Buffer.from('{}'))).toBe(false);

      answers = [{ status: 500, body: error('InternalError') }, { status: 412, body: error('PreconditionFailed') }];
      const unknown = await failure(store.putIfAbsent('_log/4.json', Buffer.from('{}')));
      expect(unknown.message).toContain('may have created it');

      // 409 ConditionalRequestConflict: another conditional write is in flight; asked again until it settles.
      answers = [{ status: 409, body: error('ConditionalRequestConflict') }, { status: 412, body: error('PreconditionFailed') }];
      expect(await store.putIfAbsent('_log/5.json', Buffer.from('{}'))).toBe(false);
    });
    expect(seen).toHaveLength(8);
  });

  test('a network error is retried for a get, and makes a later 412 of a put-if-absent an error', async () => {
    let drop = 0;
    const flaky = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        if (drop > 0) {
          drop--;
          request.socket.destroy();
          return;
        }
        if (request.method === 'GET') response.writeHead(200).end('after a reset');
        else response.writeHead(412).end(error('PreconditionFailed'));
      });
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    try {
      const store = await S3ObjectStore.open(
        { scheme: 's3', bucket: 'stand-in', prefix: 'p/' },
        { endpoint: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`, accessKeyId: 'AKIDSTANDIN', secretAccessKey: SECRET, maxAttempts: 3 },
      );
      try {
        drop = 1;
        expect(Buffer.from((await store.get('k'))!).toString()).toBe('after a reset');
        drop = 1;
        const unknown = await failure(store.putIfAbsent('_log/1.json', Buffer.from('{}')));
        expect(unknown.message).toContain('may have created it');
        expect(unknown.message).not.toContain(SECRET);
      } finally {
        await store.close();
      }
    } finally {
      flaky.close();
    }
  });

  test('refused credentials are auth_failed, without the secret in the message', async () => {
    answers = [{ status: 403, body: error('AccessDenied', 'Access Denied') }];
    await withStore(async (store) => {
      const denied = await failure(store.putIfAbsent('_log/1.json', Buffer.from('{}')));
      expect(denied.errorType).toBe('auth_failed');
      expect(denied.message).toContain('check the credentials');
      expect(denied.message).not.toContain(SECRET);
    });
    expect(seen).toHaveLength(1);
  });

  test('a clock the store calls skewed is corrected from its Date header and the request signed again', async () => {
    const storeClock = new Date(Date.now() + 3_600_000);
    answers = [{ status: 403, body: error('RequestTimeTooSkewed'), headers: { Date: storeClock.toUTCString() } }, { status: 200 }];
    await withStore(async (store) => {
      expect(await store.putIfAbsent('_log/1.json', Buffer.from('{}'))).toBe(true);
    });
    expect(seen).toHaveLength(2);
    const signedAt = (request: Seen) => {
      const stamp = String(request.headers['x-amz-date']);
      return Date.UTC(+stamp.slice(0, 4), +stamp.slice(4, 6) - 1, +stamp.slice(6, 8), +stamp.slice(9, 11), +stamp.slice(11, 13), +stamp.slice(13, 15));
    };
    expect(Math.abs(signedAt(seen[1]!) - storeClock.getTime())).toBeLessThan(60_000);
    expect(Math.abs(signedAt(seen[0]!) - Date.now())).toBeLessThan(60_000);
  });

  test("the SDK's endpoint decides the target; endpoints wanting another signature keep the SDK's commands", () => {
    const client = new S3Client({ region: 'us-west-2', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const resolve = (Bucket: string, extra: Record<string, unknown> = {}) =>
      client.config.endpointProvider({ Bucket, Region: 'us-west-2', ForcePathStyle: false, UseFIPS: false, UseDualStack: false, Accelerate: false, ...extra });
    expect(directTarget(resolve('plain'), 'us-west-2')).toEqual({
      protocol: 'https:',
      hostname: 'plain.s3.us-west-2.amazonaws.com',
      port: undefined,
      host: 'plain.s3.us-west-2.amazonaws.com',
      basePath: '',
      signingRegion: 'us-west-2',
      signingService: 's3',
    });
    expect(directTarget(resolve('plain', { Endpoint: 'http://127.0.0.1:7070', ForcePathStyle: true }), 'us-west-2')).toMatchObject({
      protocol: 'http:',
      host: '127.0.0.1:7070',
      port: 7070,
      basePath: '/plain',
    });
    // S3 Express One Zone signs with sigv4-s3express and a session token the SDK fetches.
    expect(directTarget(resolve('mybucket--usw2-az1--x-s3'), 'us-west-2')).toBeNull();
    client.destroy();
  });
});
