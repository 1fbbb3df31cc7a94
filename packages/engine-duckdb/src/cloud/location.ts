import { LTMError } from '@ltm/core';
import { displayUri } from '../redaction.js';

/** Which service a URI lives on, and so which extension and which kind of secret DuckDB needs. */
export type CloudProvider = 's3' | 'gcs' | 'azure' | 'http';

export interface CloudLocation {
  /** The URI as given. */
  uri: string;
  provider: CloudProvider;
  /** The URI scheme, lower case (`s3`, `gs`, `az`, `https`, ...). */
  scheme: string;
  /** Bucket (S3, GCS), container (Azure) or host (HTTP). */
  bucket: string;
  /** The object's path inside the bucket, without a leading `/`. */
  key: string;
  /**
   * What a DuckDB secret for this location is scoped to: `s3://bucket`, `gs://bucket`, `az://container`
   * (or `az://<account host>/container` for a fully qualified Azure URI).
   */
  scope: string;
  /** The DuckDB extension that reads it. */
  extension: 'httpfs' | 'azure';
}

const PROVIDERS: Readonly<Record<string, CloudProvider>> = {
  s3: 's3',
  s3a: 's3',
  s3n: 's3',
  gs: 'gcs',
  gcs: 'gcs',
  az: 'azure',
  azure: 'azure',
  http: 'http',
  https: 'http',
};

/** Schemes DuckDB reads that need more than this package sets up, with what to use instead. */
const REFUSED: Readonly<Record<string, string>> = {
  r2: 'use s3://<bucket>/... with s3Endpoint set to your R2 endpoint (https://<account id>.r2.cloudflarestorage.com)',
  abfss: 'use az://<container>/<path> with the storage account in the credentials',
  hf: 'Hugging Face datasets are not a supported store location',
};

const URI = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;

/** True for `scheme://...` (anything but a local path or `:memory:`). */
export function isRemoteUri(uri: string): boolean {
  return URI.test(uri);
}

/**
 * Splits a remote URI into what the engine needs. Undefined for local paths and `:memory:`; a
 * `validation_error` (or `unsupported` for schemes DuckDB reads but this package does not set up) when
 * it cannot be used.
 */
export function parseCloudUri(uri: string): CloudLocation | undefined {
  const match = URI.exec(uri);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  const rest = match[2]!;
  const provider = PROVIDERS[scheme];
  if (provider === undefined) {
    const advice = REFUSED[scheme];
    throw new LTMError(
      'unsupported',
      `${scheme}:// is not a supported location${advice === undefined ? '' : `: ${advice}`} ` +
        '(supported: s3://, gs://, az://, http(s):// read-only, or a local path)',
    );
  }
  const segments = rest.split('/');
  let bucket = segments.shift() ?? '';
  let scopePath = bucket;
  // az://<account>.blob.core.windows.net/<container>/<path>: the container is the next segment.
  if (provider === 'azure' && bucket.includes('.')) {
    const container = segments.shift() ?? '';
    if (container === '') throw invalid(uri, 'a fully qualified az:// URI needs a container after the account host');
    scopePath = `${bucket}/${container}`;
    bucket = container;
  }
  if (bucket === '') throw invalid(uri, `it names no ${provider === 'azure' ? 'container' : provider === 'http' ? 'host' : 'bucket'}`);
  const key = segments.join('/');
  return {
    uri,
    provider,
    scheme,
    bucket,
    key,
    scope: `${scheme}://${scopePath}`,
    extension: provider === 'azure' ? 'azure' : 'httpfs',
  };
}

function invalid(uri: string, why: string): LTMError {
  return new LTMError('validation_error', `cannot use ${JSON.stringify(displayUri(uri))}: ${why}`);
}
