import { LTMError } from '@ltm/core';
import { describe, expect, it } from 'vitest';
import { displayUri, parseCloudUri, planSecret, type CloudCredentialOptions } from '../src/index.js';
import { createSecretStatement, validateCloudCredentials } from '../src/cloud/credentials.js';

const plan = (uri: string, options: CloudCredentialOptions = {}, env: Record<string, string> = {}) => planSecret(parseCloudUri(uri)!, options, env);
const values = (p: ReturnType<typeof plan>) => Object.fromEntries(p?.parameters ?? []);

describe('parseCloudUri', () => {
  it('splits provider, bucket or container, key and the secret scope', () => {
    expect(parseCloudUri('s3://bucket/a/b/ltm.duckdb')).toMatchObject({ provider: 's3', bucket: 'bucket', key: 'a/b/ltm.duckdb', scope: 's3://bucket', extension: 'httpfs' });
    expect(parseCloudUri('gs://b/x.duckdb')).toMatchObject({ provider: 'gcs', scope: 'gs://b', extension: 'httpfs' });
    expect(parseCloudUri('gcs://b/x.duckdb')).toMatchObject({ provider: 'gcs', scope: 'gcs://b' });
    expect(parseCloudUri('az://container/x.duckdb')).toMatchObject({ provider: 'azure', bucket: 'container', scope: 'az://container', extension: 'azure' });
    expect(parseCloudUri('az://acct.blob.core.windows.net/container/x.duckdb')).toMatchObject({
      bucket: 'container',
      key: 'x.duckdb',
      scope: 'az://acct.blob.core.windows.net/container',
    });
    expect(parseCloudUri('https://example.com/ltm.duckdb')).toMatchObject({ provider: 'http', bucket: 'example.com' });
    expect(parseCloudUri('./local.duckdb')).toBeUndefined();
    expect(parseCloudUri(':memory:')).toBeUndefined();
  });

  it('refuses schemes it does not set up, naming what to use, and URIs without a bucket', () => {
    expect(() => parseCloudUri('r2://b/x.duckdb')).toThrow(/s3Endpoint/);
    expect(() => parseCloudUri('abfss://c@a.dfs.core.windows.net/x')).toThrow(/az:\/\/<container>/);
    expect(() => parseCloudUri('ftp://h/x')).toThrow(/not a supported location/);
    expect(() => parseCloudUri('s3:///x.duckdb')).toThrow(/names no bucket/);
    // A URI shown in an error or in stats never carries user:password or a signature.
    expect(displayUri('https://user:hunter2@host/x.duckdb?X-Amz-Signature=abc&v=1')).toBe('https://host/x.duckdb?X-Amz-Signature=<redacted>&v=1');
  });
});

describe('planSecret', () => {
  it('S3: explicit options, scoped to the bucket; a custom endpoint means path style, SSL from its scheme', () => {
    const p = plan('s3://bucket/x.duckdb', {
      s3: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret/with+chars', region: 'eu-west-1', endpoint: 'http://127.0.0.1:9000' },
    });
    expect(values(p)).toEqual({
      KEY_ID: 'AKIAEXAMPLE',
      SECRET: 'secret/with+chars',
      REGION: 'eu-west-1',
      ENDPOINT: '127.0.0.1:9000',
      URL_STYLE: 'path',
      USE_SSL: false,
      SCOPE: 's3://bucket',
    });
    expect(p?.summary).toEqual({ type: 's3', scope: 's3://bucket', source: 'options', endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1' });
    expect(p?.sensitive).toEqual(['AKIAEXAMPLE', 'secret/with+chars']);
  });

  it('S3: the environment when no keys are given (session token, region, endpoint), explicit settings override it', () => {
    const env = {
      AWS_ACCESS_KEY_ID: 'AKIAENV',
      AWS_SECRET_ACCESS_KEY: 'env-secret',
      AWS_SESSION_TOKEN: 'env-token',
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_ENDPOINT_URL: 'https://minio.example.com',
    };
    const p = plan('s3://b/x', { s3: { urlStyle: 'vhost' } }, env);
    expect(values(p)).toEqual({
      KEY_ID: 'AKIAENV',
      SECRET: 'env-secret',
      SESSION_TOKEN: 'env-token',
      REGION: 'us-west-2',
      ENDPOINT: 'minio.example.com',
      URL_STYLE: 'vhost',
      USE_SSL: true,
      SCOPE: 's3://b',
    });
    expect(p?.summary.source).toBe('environment');
    expect(p?.sensitive).toContain('env-token');
    // Explicit keys win as a pair: the environment's token does not ride along with them.
    expect(values(plan('s3://b/x', { s3: { accessKeyId: 'A', secretAccessKey: 'B' } }, env))).not.toHaveProperty('SESSION_TOKEN');
    expect(values(plan('s3://b/x', {}, { ...env, AWS_REGION: 'ap-south-1', AWS_ENDPOINT_URL_S3: 'http://s3.local:9' }))).toMatchObject({
      REGION: 'ap-south-1',
      ENDPOINT: 's3.local:9',
    });
  });

  it('S3: nothing to say is no secret (DuckDB defaults, anonymous); half a key pair names what is missing, never a value', () => {
    expect(plan('s3://b/x')).toBeUndefined();
    expect(() => plan('s3://b/x', { s3: { accessKeyId: 'AKIA' } })).toThrow(/credentials\.s3\.secretAccessKey is missing/);
    const error = (() => {
      try {
        plan('s3://b/x', {}, { AWS_SECRET_ACCESS_KEY: 'do-not-echo-me' });
      } catch (e) {
        return e as LTMError;
      }
      return undefined;
    })();
    expect(error?.message).toBe('AWS_ACCESS_KEY_ID is not set but AWS_SECRET_ACCESS_KEY is: set both, or neither');
  });

  it('GCS: HMAC keys from options or GCS_* variables, with an endpoint and region for an interop emulator', () => {
    expect(values(plan('gs://b/x', {}, { GCS_ACCESS_KEY_ID: 'GOOG1', GCS_SECRET_ACCESS_KEY: 'hmac' }))).toEqual({
      KEY_ID: 'GOOG1',
      SECRET: 'hmac',
      SCOPE: 'gs://b',
    });
    expect(values(plan('gs://b/x', { gcs: { accessKeyId: 'G', secretAccessKey: 'S', endpoint: 'http://127.0.0.1:7', region: 'us-east-1' } }))).toEqual({
      KEY_ID: 'G',
      SECRET: 'S',
      REGION: 'us-east-1',
      ENDPOINT: '127.0.0.1:7',
      URL_STYLE: 'path',
      USE_SSL: false,
      SCOPE: 'gs://b',
    });
    // AWS variables are not GCS credentials.
    expect(plan('gs://b/x', {}, { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'B' })).toBeUndefined();
  });

  it('Azure: connection string, account + key, the environment, or an account name alone for public containers', () => {
    const cs = 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net';
    expect(values(plan('az://c/x', { azure: { connectionString: cs } }))).toEqual({ CONNECTION_STRING: cs, SCOPE: 'az://c' });
    const fromKey = plan('az://c/x', { azure: { accountName: 'acct', accountKey: 'a2V5' } });
    expect(values(fromKey)).toEqual({ CONNECTION_STRING: cs, SCOPE: 'az://c' });
    expect(fromKey?.sensitive).toEqual([cs, 'a2V5']);
    expect(plan('az://c/x', {}, { AZURE_STORAGE_CONNECTION_STRING: cs })?.summary).toEqual({ type: 'azure', scope: 'az://c', source: 'environment' });
    expect(values(plan('az://c/x', {}, { AZURE_STORAGE_ACCOUNT: 'acct', AZURE_STORAGE_KEY: 'a2V5' }))).toEqual({ CONNECTION_STRING: cs, SCOPE: 'az://c' });
    expect(values(plan('az://c/x', { azure: { accountName: 'public' } }))).toEqual({ PROVIDER: 'config', ACCOUNT_NAME: 'public', SCOPE: 'az://c' });
    expect(plan('az://c/x')).toBeUndefined();
    expect(() => plan('az://c/x', { azure: { accountKey: 'k' } })).toThrow(/needs credentials\.azure\.accountName/);
  });

  it('http(s) URLs need no secret', () => {
    expect(plan('https://example.com/x.duckdb', { s3: { accessKeyId: 'a', secretAccessKey: 'b' } })).toBeUndefined();
  });
});

describe('createSecretStatement', () => {
  it('puts only fixed option names in the SQL text and binds every value', () => {
    const p = plan('s3://b/x', { s3: { accessKeyId: "A'); DROP", secretAccessKey: "'--", useSsl: true } })!;
    const { sql, params } = createSecretStatement('"ltm_s3_x"', p);
    expect(sql).toBe('CREATE OR REPLACE TEMPORARY SECRET "ltm_s3_x" (TYPE s3, KEY_ID $1, SECRET $2, USE_SSL $3, SCOPE $4)');
    expect(params).toEqual(["A'); DROP", "'--", true, 's3://b']);
  });
});

describe('validateCloudCredentials', () => {
  it('checks shapes and names the option, never the value', () => {
    expect(() => validateCloudCredentials({ s3: { accessKeyId: 42 as unknown as string } })).toThrow('credentials.s3.accessKeyId must be a non-empty string');
    expect(() => validateCloudCredentials({ s3: { useSsl: 'yes' as unknown as boolean } })).toThrow('credentials.s3.useSsl must be true or false');
    expect(() => validateCloudCredentials({ s3: { urlStyle: 'virtual' as 'path' } })).toThrow('must be path or vhost');
    expect(() => validateCloudCredentials({ s3: { secret: 'x' } as never })).toThrow(/credentials\.s3\.secret is not an option/);
    expect(() => validateCloudCredentials({ r2: {} } as never)).toThrow(/not a provider/);
    expect(() => plan('s3://b/x', { s3: { endpoint: 'http://host:9/path' } })).toThrow(/without a path/);
  });
});
