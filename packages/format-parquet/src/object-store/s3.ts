/**
 * S3 and S3-compatible stores (GCS through its S3-interoperability API with HMAC keys, MinIO, R2, ...),
 * through the official `@aws-sdk/client-s3`, loaded on first use so only users of `s3://` and `gs://`
 * install it. DuckDB's httpfs reads and writes the segments; this class does what it cannot: conditional
 * create, list and delete, and the small log objects.
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

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  readonly duckdbWrites = true;

  private constructor(
    private readonly sdk: S3Sdk,
    private readonly client: S3Client,
    private readonly where: BucketLocation,
    private readonly conditionalCreate: 'if-none-match' | 'generation-match',
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
    return new S3ObjectStore(sdk, client, where, conditionalCreate);
  }

  url(key: string): string {
    return `${this.where.scheme}://${this.where.bucket}/${this.where.prefix}${key}`;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.where.bucket, Key: this.where.prefix + key }));
      return response.Body === undefined ? new Uint8Array() : await response.Body.transformToByteArray();
    } catch (error) {
      if (status(error) === 404 || name(error) === 'NoSuchKey') return undefined;
      throw this.error(`read ${key}`, error);
    }
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
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
