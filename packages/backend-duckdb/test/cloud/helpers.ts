// Shared pieces of the cloud tests: the rig the global setup started, backend options that reach each of
// its services, fixtures (a store written locally, then uploaded), and a transcript of everything the
// tests saw, which each file scans for the rig's secrets when it ends.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LTMBackend, StoreItem } from '@ltm/core';
import type { CloudCredentialOptions } from '@ltm/engine-duckdb';
import { rigFromEnv, type RigAzure, type RigS3 } from '@ltm/tooling/rig';
import { expect } from 'vitest';
import { DuckDBLTMBackend, type DuckDBLTMBackendOptions } from '../../src/index.js';

export type Provider = 's3' | 'gcs' | 'azure';
export const PROVIDERS: readonly Provider[] = ['s3', 'gcs', 'azure'];
const SCHEMES: Record<Provider, string> = { s3: 's3', gcs: 'gs', azure: 'az' };

export interface Rig {
  s3: RigS3;
  azure: RigAzure;
}

/** The rig of the global setup (from the LTM_RIG_* variables it exported). */
export function rig(): Rig {
  const { s3, azure } = rigFromEnv();
  if (!s3 || !azure) throw new Error('the cloud tests need the rig: run them through vitest (test/cloud/global-setup.ts starts it)');
  return { s3, azure };
}

/** Backend options that reach `provider` on the rig: GCS is the S3 emulator, spoken to as gs:// with a GCS secret. */
export function cloudOptions(provider: Provider, r: Rig = rig()): DuckDBLTMBackendOptions {
  switch (provider) {
    case 's3':
      return { s3AccessKeyId: r.s3.accessKeyId, s3SecretAccessKey: r.s3.secretAccessKey, s3Endpoint: r.s3.endpoint, s3Region: r.s3.region };
    case 'gcs':
      // DuckDB signs gcs requests with an empty region unless told one: versitygw insists on its own.
      return { gcsAccessKeyId: r.s3.accessKeyId, gcsSecretAccessKey: r.s3.secretAccessKey, gcsEndpoint: r.s3.endpoint, gcsRegion: r.s3.region };
    case 'azure':
      return { azureConnectionString: r.azure.connectionString };
  }
}

/** The same, as the credentials of a `DuckDBQueryEngine`. */
export function engineCredentials(provider: Provider, r: Rig = rig()): CloudCredentialOptions {
  switch (provider) {
    case 's3':
      return { s3: { accessKeyId: r.s3.accessKeyId, secretAccessKey: r.s3.secretAccessKey, endpoint: r.s3.endpoint, region: r.s3.region } };
    case 'gcs':
      return { gcs: { accessKeyId: r.s3.accessKeyId, secretAccessKey: r.s3.secretAccessKey, endpoint: r.s3.endpoint, region: r.s3.region } };
    case 'azure':
      return { azure: { connectionString: r.azure.connectionString } };
  }
}

/** Everything secret the rig hands out: none of it may appear in anything the tests saw. */
export function secretsOf(r: Rig): string[] {
  return [r.s3.secretAccessKey, r.azure.accountKey, r.azure.connectionString];
}

let places: Promise<{ bucket: string; container: string }> | undefined;
let uploads = 0;

/** Uploads `bytes` under a fresh name on `provider` and returns its URI. */
export async function upload(provider: Provider, bytes: Uint8Array, name = 'ltm.duckdb', r: Rig = rig()): Promise<string> {
  places ??= Promise.all([r.s3.createBucket(), r.azure.createContainer()]).then(([bucket, container]) => ({ bucket, container }));
  const { bucket, container } = await places;
  const key = `stores/${process.pid}-${++uploads}/${name}`;
  if (provider === 'azure') {
    await r.azure.putBlob(container, key, bytes);
    return `az://${container}/${key}`;
  }
  await r.s3.putObject(bucket, key, bytes);
  return `${SCHEMES[provider]}://${bucket}/${key}`;
}

/** Writes a store locally through the backend and returns the bytes of the closed `.duckdb` file. */
export async function storeFile(items: readonly StoreItem[], options: DuckDBLTMBackendOptions = {}): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'ltm-cloud-fixture-'));
  try {
    const path = join(dir, 'ltm.duckdb');
    const backend = await DuckDBLTMBackend.open({ ...options, uri: path });
    if (items.length > 0) expect(await backend.storeMany(items)).toMatchObject({ success: true });
    await backend.close();
    return readFileSync(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Everything the tests of one file saw: results, errors, stats, engine events and process output. It is
 * scanned for the rig's secrets when the file ends.
 */
export class Transcript {
  private readonly lines: string[] = [];
  private restore: (() => void) | undefined;

  record(label: string, value: unknown): void {
    this.lines.push(`${label}: ${stringify(value)}`);
  }

  /** A view of `backend` that records the outcome of every call made through it. */
  recorded<B extends LTMBackend>(backend: B, label: string): B {
    return new Proxy(backend, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (result instanceof Promise) {
            return result.then(
              (resolved) => {
                this.record(`${label}.${String(property)}`, resolved);
                return resolved;
              },
              (error: unknown) => {
                this.record(`${label}.${String(property)} threw`, error);
                throw error;
              },
            );
          }
          return result;
        };
      },
    });
  }

  /** Copies what the process writes to stdout and stderr into the transcript too. */
  captureOutput(): void {
    const streams = [process.stdout, process.stderr];
    const originals = streams.map((stream) => stream.write.bind(stream));
    streams.forEach((stream, i) => {
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        this.lines.push(`output: ${String(chunk)}`);
        return (originals[i] as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
    });
    this.restore = () => streams.forEach((stream, i) => (stream.write = originals[i] as typeof stream.write));
  }

  /** Fails naming the line (with the secret masked) where a secret shows. */
  assertNoSecrets(secrets: readonly string[]): void {
    this.restore?.();
    expect(this.lines.length).toBeGreaterThan(0);
    for (const line of this.lines) {
      for (const secret of secrets) {
        if (line.includes(secret)) expect.fail(`a secret appears in: ${line.split(secret).join('<SECRET>').slice(0, 500)}`);
      }
    }
  }

  get size(): number {
    return this.lines.length;
  }
}

/** Everything about a value, errors included (message, cause chain, own fields). */
function stringify(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner instanceof Error) {
      return { ...inner, name: inner.name, message: inner.message, stack: inner.stack, cause: inner.cause };
    }
    if (typeof inner === 'bigint') return inner.toString();
    if (inner !== null && typeof inner === 'object') {
      if (seen.has(inner)) return '[circular]';
      seen.add(inner);
    }
    return inner;
  });
}
