/** Picks the object store a URI needs; the cloud SDKs load only when their scheme is used. */
import { join, resolve } from 'node:path';
import { LTMError } from '@ltm/core';
import type { AzureObjectStoreOptions } from './azure.js';
import { LocalObjectStore } from './local.js';
import type { S3ObjectStoreOptions } from './s3.js';
import type { ObjectStore } from './types.js';

export interface ObjectStoreOptions {
  /** Local disk only: fsync before a write resolves. */
  fsync?: boolean;
  /** `s3://` (and other S3-compatible services). */
  s3?: S3ObjectStoreOptions;
  /** `gs://`: GCS's S3-interoperability API with HMAC keys. */
  gcs?: S3ObjectStoreOptions;
  /** `az://` */
  azure?: AzureObjectStoreOptions;
}

/** `s3`, `gs`, `az` or `local`: where a URI points, and which DuckDB extension reads it. */
export type StoreKind = 'local' | 's3' | 'gs' | 'az';

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)\/?(.*)$/i;
const BUCKET = /^[a-z0-9][a-z0-9.\-_]{1,221}[a-z0-9]$/;

export function storeKind(uri: string): StoreKind {
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) return 'local';
  if (scheme === 's3' || scheme === 's3a') return 's3';
  if (scheme === 'gs' || scheme === 'gcs') return 'gs';
  if (scheme === 'az' || scheme === 'azure') return 'az';
  throw new LTMError('unsupported', `the Parquet format stores data on local disk, s3://, gs:// or az://, not ${scheme}://`);
}

function bucketAndPrefix(uri: string, tableName: string): { bucket: string; prefix: string } {
  const [, , bucket = '', path = ''] = SCHEME.exec(uri) ?? [];
  if (!BUCKET.test(bucket)) {
    throw new LTMError('validation_error', `${JSON.stringify(uri)} does not name a valid bucket or container (lowercase letters, digits, dots, hyphens)`);
  }
  const parts = path.split('/').filter((part) => part !== '');
  if (parts.some((part) => part === '.' || part === '..')) throw new LTMError('validation_error', `${JSON.stringify(uri)}: . and .. are not allowed in a store prefix`);
  return { bucket, prefix: [...parts, tableName].join('/') + '/' };
}

/** The store for `<uri>/<tableName>/`. */
export async function openObjectStore(uri: string, tableName: string, options: ObjectStoreOptions = {}): Promise<ObjectStore> {
  const kind = storeKind(uri);
  if (kind === 'local') {
    if (uri === ':memory:' || uri.trim() === '') {
      throw new LTMError('validation_error', "the Parquet format stores files in a directory: give a directory path or a cloud URI, not ':memory:'");
    }
    return new LocalObjectStore(join(resolve(uri), tableName), { fsync: options.fsync ?? false });
  }
  const { bucket, prefix } = bucketAndPrefix(uri, tableName);
  if (kind === 'az') {
    const { AzureObjectStore } = await import('./azure.js');
    return AzureObjectStore.open({ container: bucket, prefix }, options.azure);
  }
  const { S3ObjectStore } = await import('./s3.js');
  return S3ObjectStore.open({ scheme: kind, bucket, prefix }, kind === 's3' ? options.s3 : options.gcs);
}
