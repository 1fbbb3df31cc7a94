/**
 * S3 and S3-compatible stores (GCS through its S3-interoperability API with HMAC keys, MinIO, R2, ...),
 * through the official `@aws-sdk/client-s3`, loaded on first use so only users of `s3://` and `gs://`
 * install it. DuckDB's httpfs reads and writes the segments; this class does what it cannot: conditional
 * create, list and delete, and the small log objects.
 *
 * The log's two hot calls, `get` and `putIfAbsent` (nearly every request a writer makes), are sent as direct
 * requests: the SDK's own endpoint resolution (once per store), SigV4 signer, credentials and HTTP handler, without
 * its per-request middleware stack (serializers, endpoint rules, flexible checksums, user agent, retry
 * bookkeeping): the SDK's code was about a third of a writer's CPU under 8 writers (`apps/bench`, `--cpu-prof`
 * of the writer processes), and without the middleware a writer spends about a third less CPU per write. They keep the SDK's retry rules and clock-skew correction; the signed `x-amz-content-sha256` still
 * lets the store check every body. Everything else goes through the SDK's commands, and so do these two for
 * endpoints that want another signature (S3 Express One Zone, multi-region access points).
 */
import { readFile } from 'node:fs/promises';
import { LTMError } from '@ltm/core';
import type { ObjectInfo, ObjectStore } from './types.js';

type S3Sdk = typeof import('@aws-sdk/client-s3');
type S3Client = import('@aws-sdk/client-s3').S3Client;

export interface S3ObjectStoreOptions {
  /** Default `us-east-1` for custom endpoints, else the SDK's own resolution (`AWS_REGION`, profile). */
  region?: string;
  /** For S3-compatible services and emulators, e.g. `http://127.0.0.1:9000`. GCS: `https://storage.googleapis.com` (default for `gs://`). */
  endpoint?: string;
  /** Without keys the SDK's default chain applies (environment, profile, instance role). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Path-style addressing (`endpoint/bucket/key`); default true with a custom endpoint. */
  forcePathStyle?: boolean;
  /**
   * How "create only if absent" is asked: S3's `If-None-Match: *` (default for `s3://`) or GCS's
   * `x-goog-if-generation-match: 0` (default for `gs://`).
   */
  conditionalCreate?: 'if-none-match' | 'generation-match';
  /** Retries of one request on throttling and network errors (the SDK's standard retry). Default 3. */
  maxAttempts?: number;
}

export interface BucketLocation {
  /** `s3` or `gs`: the scheme DuckDB reads with. */
  scheme: 's3' | 'gs';
  bucket: string;
  /** Key prefix of the store, ending in `/`. */
  prefix: string;
}

let sdkPromise: Promise<S3Sdk> | undefined;

async function loadSdk(): Promise<S3Sdk> {
  sdkPromise ??= import('@aws-sdk/client-s3').catch((error: unknown) => {
    sdkPromise = undefined;
    throw new LTMError(
      'dependency_missing',
      'the Parquet format needs @aws-sdk/client-s3 for s3:// and gs:// stores: npm install @aws-sdk/client-s3',
      { cause: error },
    );
  });
  return sdkPromise;
}

const CONDITIONAL_CONFLICT_RETRIES = 10;
/** The SDK corrects its clock when a request is refused and the store's clock is this far from it. */
const CLOCK_SKEW_MS = 5 * 60_000;

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly duckdbWrites = true;
  private direct: Promise<Direct | null> | undefined;

  private constructor(
    private readonly sdk: S3Sdk,
    private readonly client: S3Client,
    private readonly where: BucketLocation,
    private readonly conditionalCreate: 'if-none-match' | 'generation-match',
    private readonly endpoint: string | undefined,
    private readonly maxAttempts: number,
  ) {
    this.location = `${where.scheme}://${where.bucket}/${where.prefix}`;
  }

  static async open(where: BucketLocation, options: S3ObjectStoreOptions = {}): Promise<S3ObjectStore> {
    const sdk = await loadSdk();
    const endpoint = options.endpoint ?? (where.scheme === 'gs' ? 'https://storage.googleapis.com' : undefined);
    const credentials =
      options.accessKeyId !== undefined && options.secretAccessKey !== undefined
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, ...(options.sessionToken === undefined ? {} : { sessionToken: options.sessionToken }) }
        : undefined;
    const region = options.region ?? (endpoint !== undefined ? 'us-east-1' : undefined);
    const client = new sdk.S3Client({
      ...(region === undefined ? {} : { region }),
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(credentials === undefined ? {} : { credentials }),
      forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
      maxAttempts: options.maxAttempts ?? 3,
    });
    const conditionalCreate = options.conditionalCreate ?? (where.scheme === 'gs' ? 'generation-match' : 'if-none-match');
    return new S3ObjectStore(sdk, client, where, conditionalCreate, endpoint, options.maxAttempts ?? 3);
  }

  url(key: string): string {
    return `${this.where.scheme}://${this.where.bucket}/${this.where.prefix}${key}`;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const direct = await this.directRequests();
    if (direct === null) return this.getWithCommand(key);
    const { response } = await this.sendWithRetries(direct, `read ${key}`, 'GET', key);
    if (response.status === 200) return response.body;
    if (response.status === 404 && response.code !== 'NoSuchBucket') return undefined;
    throw this.error(`read ${key}`, responseError(response));
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
    const direct = await this.directRequests();
    if (direct === null) return this.putIfAbsentWithCommand(key, body);
    const condition: Record<string, string> = this.conditionalCreate === 'if-none-match' ? { 'if-none-match': '*' } : { 'x-goog-if-generation-match': '0' };
    let outcomeUnknown = false;
    for (let conflicts = 0; ; conflicts++) {
      const sent = await this.sendWithRetries(direct, `create ${key}`, 'PUT', key, body, { 'content-type': 'application/json', ...condition });
      outcomeUnknown ||= sent.mayHaveApplied;
      const { response } = sent;
      if (response.status === 200) return true;
      if (response.status === 412) {
        if (!outcomeUnknown) return false;
        // Possibly this very write, created by an attempt whose answer was lost: the caller reads it back to tell.
        throw this.error(`create ${key}`, responseError(response, 'an earlier attempt failed in a way that may have created it'));
      }
      // 409 ConditionalRequestConflict: as with the SDK's commands below.
      if (response.status === 409 && conflicts < CONDITIONAL_CONFLICT_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, 20 * (conflicts + 1)));
        continue;
      }
      throw this.error(`create ${key}`, responseError(response));
    }
  }

  /** The SDK's command path, for endpoints the direct requests do not sign for (see `directRequests`). */
  private async getWithCommand(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.where.bucket, Key: this.where.prefix + key }));
      return response.Body === undefined ? new Uint8Array() : await response.Body.transformToByteArray();
    } catch (error) {
      if (status(error) === 404 || name(error) === 'NoSuchKey') return undefined;
      throw this.error(`read ${key}`, error);
    }
  }

  private async putIfAbsentWithCommand(key: string, body: Uint8Array): Promise<boolean> {
    const command = new this.sdk.PutObjectCommand({
      Bucket: this.where.bucket,
      Key: this.where.prefix + key,
      Body: body,
      ContentType: 'application/json',
      ...(this.conditionalCreate === 'if-none-match' ? { IfNoneMatch: '*' } : {}),
    });
    if (this.conditionalCreate === 'generation-match') {
      command.middlewareStack.add(
        (next) => async (args) => {
          (args.request as { headers: Record<string, string> }).headers['x-goog-if-generation-match'] = '0';
          return next(args);
        },
        { step: 'build', name: 'ltmGenerationMatch' },
      );
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(command);
        return true;
      } catch (error) {
        if (status(error) === 412) return false;
        // 409 ConditionalRequestConflict: another conditional write of the key is in flight; its outcome decides.
        if (status(error) === 409 && attempt < CONDITIONAL_CONFLICT_RETRIES) {
          await new Promise((resolve) => setTimeout(resolve, 20 * (attempt + 1)));
          continue;
        }
        throw this.error(`create ${key}`, error);
      }
    }
  }

  /**
   * Where and how the direct requests go: the SDK's own endpoint resolution, signer and HTTP handler, resolved
   * once. `null` when the endpoint asks for a signature other than SigV4 (S3 Express, multi-region access
   * points): then the SDK's commands serve.
   */
  private async directRequests(): Promise<Direct | null> {
    this.direct ??= (async () => {
      const config = this.client.config;
      const region = await config.region();
      const endpoint = config.endpointProvider({
        Bucket: this.where.bucket,
        Region: region,
        ForcePathStyle: config.forcePathStyle,
        UseFIPS: await config.useFipsEndpoint(),
        UseDualStack: await config.useDualstackEndpoint(),
        Accelerate: config.useAccelerateEndpoint,
        ...(this.endpoint === undefined ? {} : { Endpoint: this.endpoint }),
      });
      const target = directTarget(endpoint, region);
      return target === null ? null : { ...target, signer: config.signer({ name: 'sigv4', signingProperties: {} } as never) as Promise<Signer> };
    })().catch((error: unknown) => {
      this.direct = undefined;
      throw this.error('resolve the endpoint', error);
    });
    return this.direct;
  }

  /**
   * A direct request with the SDK's standard retry rules: network errors, throttling and server errors are tried
   * again, up to `maxAttempts`, after a jittered backoff; a clock the store says is skewed is corrected from its
   * `Date` header and the request signed again (as the SDK does). `mayHaveApplied`: an attempt failed in a way
   * that does not say whether the store applied it (a network error or a 5xx other than 503).
   */
  private async sendWithRetries(
    direct: Direct,
    doing: string,
    method: 'GET' | 'PUT',
    key: string,
    body?: Uint8Array,
    headers?: Record<string, string>,
  ): Promise<{ response: DirectResponse; mayHaveApplied: boolean }> {
    let mayHaveApplied = false;
    for (let attempt = 1; ; attempt++) {
      let response: DirectResponse;
      try {
        response = await this.sendDirect(direct, method, key, body, headers);
      } catch (error) {
        if (attempt >= this.maxAttempts) throw this.error(doing, error);
        mayHaveApplied = true;
        await backoff(attempt);
        continue;
      }
      const last = attempt >= this.maxAttempts;
      if (!last && response.status === 403 && this.correctClock(response)) continue;
      if (!last && (response.status === 429 || response.status >= 500)) {
        if (response.status !== 503) mayHaveApplied = true;
        await backoff(attempt);
        continue;
      }
      return { response, mayHaveApplied };
    }
  }

  /** After a 403: true when the store's clock is more than 5 minutes from ours, the offset now corrected. */
  private correctClock(response: DirectResponse): boolean {
    const serverTime = response.date === undefined ? NaN : Date.parse(response.date);
    if (Number.isNaN(serverTime)) return false;
    const config = this.client.config;
    if (Math.abs(serverTime - (Date.now() + config.systemClockOffset)) < CLOCK_SKEW_MS) return false;
    config.systemClockOffset = serverTime - Date.now();
    return true;
  }

  /** One signed request through the SDK's HTTP handler (its keep-alive agent), the body read whole. */
  private async sendDirect(direct: Direct, method: 'GET' | 'PUT', key: string, body?: Uint8Array, headers: Record<string, string> = {}): Promise<DirectResponse> {
    const config = this.client.config;
    const request = {
      method,
      protocol: direct.protocol,
      hostname: direct.hostname,
      ...(direct.port === undefined ? {} : { port: direct.port }),
      path: `${direct.basePath}/${(this.where.prefix + key).split('/').map(escapeSegment).join('/')}`,
      query: {},
      headers: { host: direct.host, ...headers, ...(body === undefined ? {} : { 'content-length': String(body.byteLength) }) },
      ...(body === undefined ? {} : { body }),
    };
    const signer = await direct.signer;
    const signed = await signer.sign(request as never, {
      signingRegion: direct.signingRegion,
      signingService: direct.signingService,
      signingDate: new Date(Date.now() + config.systemClockOffset),
    });
    const { response } = await config.requestHandler.handle(signed as never, {});
    const bytes: Uint8Array = response.body === undefined ? new Uint8Array() : await config.streamCollector(response.body);
    const date = response.headers['date'] ?? response.headers['Date'];
    if (response.statusCode < 300) return { status: response.statusCode, body: bytes, date };
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    return { status: response.statusCode, body: bytes, date, code: xmlField(text, 'Code'), message: xmlField(text, 'Message') };
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    try {
      await this.client.send(new this.sdk.PutObjectCommand({ Bucket: this.where.bucket, Key: this.where.prefix + key, Body: body }));
    } catch (error) {
      throw this.error(`write ${key}`, error);
    }
  }

  async uploadFile(key: string, localPath: string): Promise<void> {
    await this.put(key, await readFile(localPath));
  }

  async list(prefix: string, startAfter?: string): Promise<ObjectInfo[]> {
    const found: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const response = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.where.bucket,
            Prefix: this.where.prefix + prefix,
            ...(token === undefined && startAfter !== undefined ? { StartAfter: this.where.prefix + startAfter } : {}),
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const object of response.Contents ?? []) {
          if (object.Key === undefined) continue;
          found.push({ key: object.Key.slice(this.where.prefix.length), size: object.Size ?? 0, lastModified: object.LastModified?.getTime() ?? 0 });
        }
        token = response.IsTruncated ? response.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw this.error(`list ${prefix}`, error);
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += 1000) {
      const chunk = keys.slice(start, start + 1000);
      try {
        const response = await this.client.send(
          new this.sdk.DeleteObjectsCommand({
            Bucket: this.where.bucket,
            Delete: { Objects: chunk.map((key) => ({ Key: this.where.prefix + key })), Quiet: true },
          }),
        );
        const failed = (response.Errors ?? []).filter((error) => error.Code !== 'NoSuchKey');
        if (failed.length > 0) {
          throw new LTMError('connection_error', `could not delete ${failed.length} object(s) under ${this.location}: ${failed[0]?.Code ?? ''} ${failed[0]?.Message ?? ''}`.trim());
        }
      } catch (error) {
        if (error instanceof LTMError) throw error;
        throw this.error('delete objects', error);
      }
    }
  }

  async preparePrefix(): Promise<void> {}

  async syncFile(): Promise<void> {}

  async close(): Promise<void> {
    this.client.destroy();
  }

  private error(doing: string, error: unknown): LTMError {
    const code = status(error);
    const errorName = name(error);
    const reason = `${errorName ?? 'error'}${code === undefined ? '' : ` (HTTP ${code})`}: ${error instanceof Error ? error.message : String(error)}`;
    const message = `cannot ${doing} in ${this.location}: ${reason}`;
    if (code === 401 || code === 403 || errorName === 'InvalidAccessKeyId' || errorName === 'SignatureDoesNotMatch' || errorName === 'AccessDenied') {
      return new LTMError('auth_failed', `${message} (check the credentials and the bucket's permissions)`, { cause: error });
    }
    if (code === 429 || code === 503 || errorName === 'SlowDown') return new LTMError('rate_limited', message, { cause: error });
    if (code === 404 && errorName === 'NoSuchBucket') return new LTMError('validation_error', `${message} (create the bucket first)`, { cause: error });
    if (errorName === 'TimeoutError' || errorName === 'RequestTimeout') return new LTMError('connection_timeout', message, { cause: error });
    return new LTMError('connection_error', message, { cause: error, retryable: code === undefined || code >= 500 });
  }
}

function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function name(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

type Signer = { sign(request: never, options: { signingRegion: string; signingService: string; signingDate: Date }): Promise<unknown> };

/** Where direct requests go and how they are signed. */
export interface DirectTarget {
  protocol: string;
  hostname: string;
  port: number | undefined;
  /** `host[:port]`, the signed Host header. */
  host: string;
  /** `/bucket` with path-style addressing, empty with virtual-hosted. */
  basePath: string;
  signingRegion: string;
  signingService: string;
}

interface Direct extends DirectTarget {
  signer: Promise<Signer>;
}

interface DirectResponse {
  status: number;
  body: Uint8Array;
  /** The `Date` header: the store's clock. */
  date?: string | undefined;
  /** From an error's XML body: `NoSuchKey`, `PreconditionFailed`, `SlowDown`, ... */
  code?: string | undefined;
  message?: string | undefined;
}

/**
 * The target of the SDK's resolved endpoint for the bucket, or `null` when it asks for a signature other than
 * plain SigV4 (S3 Express One Zone's `sigv4-s3express`, multi-region access points' `sigv4a`).
 */
export function directTarget(endpoint: { url: URL; properties?: Record<string, unknown> }, region: string): DirectTarget | null {
  const schemes = (endpoint.properties?.['authSchemes'] ?? []) as { name?: string; signingRegion?: string; signingName?: string }[];
  const scheme = schemes[0];
  if (scheme !== undefined && scheme.name !== 'sigv4') return null;
  const { url } = endpoint;
  return {
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    host: url.host,
    basePath: url.pathname.replace(/\/$/, ''),
    signingRegion: scheme?.signingRegion ?? region,
    signingService: scheme?.signingName ?? 's3',
  };
}

/** An error answer as the SDK would throw it (name = the S3 error code, `$metadata.httpStatusCode`), for `error()`. */
function responseError(response: DirectResponse, note?: string): Error {
  const text = [response.message ?? `HTTP ${response.status}`, note].filter((part) => part !== undefined).join(': ');
  return Object.assign(new Error(text), { name: response.code ?? `HTTP${response.status}`, $metadata: { httpStatusCode: response.status } });
}

/** The standard retry's delay: full jitter over 100 ms doubling per attempt, at most 20 s. */
function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(20_000, 100 * 2 ** attempt)));
}

/** One path segment as S3 signs it: RFC 3986 unreserved characters kept, everything else percent-encoded. */
function escapeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A top-level field of an S3 error body (`<Error><Code>...</Code>...`), unescaped. */
function xmlField(xml: string, field: string): string | undefined {
  const match = new RegExp(`<${field}>([^<]*)</${field}>`).exec(xml);
  if (match === null) return undefined;
  return match[1]!.replace(/&(lt|gt|quot|apos|amp);/g, (_, entity: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[entity]!);
}
