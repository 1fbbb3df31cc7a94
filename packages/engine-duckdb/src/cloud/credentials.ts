import { createHash } from 'node:crypto';
import { LTMError } from '@ltm/core';
import { optionalObject } from '../options.js';
import type { CloudLocation } from './location.js';

/**
 * Cloud credentials from explicit options or the environment, turned into DuckDB secrets scoped to one
 * bucket or container. Secret values only ever travel as bound parameters of `CREATE SECRET` (which
 * DuckDB accepts), and are registered for scrubbing from messages; what is reported about a secret
 * (`SecretSummary`) never includes a value.
 */

export interface S3Credentials {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  region?: string;
  /** An S3-compatible endpoint (MinIO, R2, SeaweedFS, ...): `https://host[:port]`, `http://host:port` or `host[:port]`. */
  endpoint?: string;
  /** Default `path` with a custom endpoint (one host name), else DuckDB's default (`vhost`). */
  urlStyle?: 'path' | 'vhost';
  /** Default: false for an `http://` endpoint, else true. */
  useSsl?: boolean;
}

/** GCS through its S3-interoperable XML API with HMAC keys (the way DuckDB reads `gs://`). */
export interface GcsCredentials {
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Another endpoint speaking the interop API (an emulator); default GCS's own. */
  endpoint?: string;
  /** The region requests are signed for; real GCS accepts any, an S3 emulator may insist on its own. */
  region?: string;
  urlStyle?: 'path' | 'vhost';
  useSsl?: boolean;
}

export interface AzureCredentials {
  connectionString?: string;
  accountName?: string;
  /** With `accountName`: the account's shared key. */
  accountKey?: string;
}

export interface CloudCredentialOptions {
  s3?: S3Credentials;
  gcs?: GcsCredentials;
  azure?: AzureCredentials;
}

/** Where a secret's keys came from. `none`: no keys, only settings (public data, or anonymous access). */
export type CredentialSource = 'options' | 'environment' | 'none';

/** What may be said about a secret: never a value. */
export interface SecretSummary {
  type: 's3' | 'gcs' | 'azure';
  scope: string;
  source: CredentialSource;
  endpoint?: string;
  region?: string;
}

export interface SecretPlan {
  summary: SecretSummary;
  /** `CREATE OR REPLACE TEMPORARY SECRET` parameters in order: fixed option names, bound values. */
  parameters: readonly (readonly [option: string, value: string | boolean])[];
  /** The values to scrub from every message while the secret lives. */
  sensitive: string[];
  /** Compares two plans without keeping their values around in plain text. */
  fingerprint: string;
}

export type Environment = Readonly<Record<string, string | undefined>>;

/** Checks the shape of `CloudCredentialOptions` (types only: values are never echoed). */
export function validateCloudCredentials(options: CloudCredentialOptions | undefined): CloudCredentialOptions {
  const checked = optionalObject('credentials', options) ?? {};
  const allowed: Record<keyof CloudCredentialOptions, readonly string[]> = {
    s3: ['accessKeyId', 'secretAccessKey', 'sessionToken', 'region', 'endpoint', 'urlStyle', 'useSsl'],
    gcs: ['accessKeyId', 'secretAccessKey', 'endpoint', 'region', 'urlStyle', 'useSsl'],
    azure: ['connectionString', 'accountName', 'accountKey'],
  };
  for (const key of Object.keys(checked)) {
    if (!(key in allowed)) throw new LTMError('validation_error', `credentials.${key} is not a provider: use s3, gcs or azure`);
  }
  for (const [provider, fields] of Object.entries(allowed) as [keyof CloudCredentialOptions, readonly string[]][]) {
    const group = optionalObject(`credentials.${provider}`, checked[provider]) as Record<string, unknown> | undefined;
    if (group === undefined) continue;
    for (const [field, value] of Object.entries(group)) {
      const name = `credentials.${provider}.${field}`;
      if (!fields.includes(field)) throw new LTMError('validation_error', `${name} is not an option; valid: ${fields.join(', ')}`);
      if (value === undefined) continue;
      if (field === 'useSsl') {
        if (typeof value !== 'boolean') throw new LTMError('validation_error', `${name} must be true or false`);
      } else if (field === 'urlStyle') {
        if (value !== 'path' && value !== 'vhost') throw new LTMError('validation_error', `${name} must be path or vhost`);
      } else if (typeof value !== 'string' || value === '') {
        throw new LTMError('validation_error', `${name} must be a non-empty string`);
      }
    }
  }
  return checked;
}

interface Endpoint {
  host: string;
  useSsl: boolean | undefined;
}

/** `https://host:port` → host:port and SSL from the scheme; `host:port` as is. */
function parseEndpoint(name: string, endpoint: string): Endpoint {
  const withScheme = /^(https?):\/\/(.*)$/i.exec(endpoint);
  const rest = (withScheme ? withScheme[2]! : endpoint).replace(/\/+$/, '');
  if (rest === '' || rest.includes('/') || /\s/.test(rest)) {
    throw new LTMError('validation_error', `${name} must be https://host[:port], http://host[:port] or host[:port], without a path`);
  }
  return { host: rest, useSsl: withScheme ? withScheme[1]!.toLowerCase() === 'https' : undefined };
}

/** A key pair from options, else from the environment; both halves or neither (naming what is missing). */
function keyPair(
  explicit: { id?: string | undefined; secret?: string | undefined; token?: string | undefined },
  names: { id: string; secret: string; token?: string },
  optionNames: { id: string; secret: string },
  env: Environment,
): { id: string; secret: string; token?: string; source: CredentialSource } | { source: 'none' } {
  if (explicit.id !== undefined || explicit.secret !== undefined) {
    if (explicit.id === undefined || explicit.secret === undefined) {
      const missing = explicit.id === undefined ? optionNames.id : optionNames.secret;
      throw new LTMError('validation_error', `${missing} is missing: give both ${optionNames.id} and ${optionNames.secret}, or neither`);
    }
    return { id: explicit.id, secret: explicit.secret, ...(explicit.token === undefined ? {} : { token: explicit.token }), source: 'options' };
  }
  const id = nonEmpty(env[names.id]);
  const secret = nonEmpty(env[names.secret]);
  if (id === undefined && secret === undefined) return { source: 'none' };
  if (id === undefined || secret === undefined) {
    const missing = id === undefined ? names.id : names.secret;
    throw new LTMError('validation_error', `${missing} is not set but ${missing === names.id ? names.secret : names.id} is: set both, or neither`);
  }
  const token = names.token === undefined ? undefined : nonEmpty(env[names.token]);
  return { id, secret, ...(token === undefined ? {} : { token }), source: 'environment' };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The DuckDB secret a location needs, or undefined when there is nothing to say (an AWS bucket read
 * anonymously with DuckDB's defaults, or a plain `https://` URL).
 *
 * Environment variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`
 * (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`); `GCS_ACCESS_KEY_ID`,
 * `GCS_SECRET_ACCESS_KEY`; `AZURE_STORAGE_CONNECTION_STRING`, or `AZURE_STORAGE_ACCOUNT` +
 * `AZURE_STORAGE_KEY`. Explicit options win over the environment.
 */
export function planSecret(location: CloudLocation, options: CloudCredentialOptions, env: Environment): SecretPlan | undefined {
  switch (location.provider) {
    case 's3':
      return planS3Like('s3', location.scope, options.s3 ?? {}, env);
    case 'gcs':
      return planS3Like('gcs', location.scope, options.gcs ?? {}, env);
    case 'azure':
      return planAzure(location.scope, options.azure ?? {}, env);
    case 'http':
      return undefined;
  }
}

function planS3Like(type: 's3' | 'gcs', scope: string, options: S3Credentials, env: Environment): SecretPlan | undefined {
  const prefix = `credentials.${type}`;
  const keys =
    type === 's3'
      ? keyPair(
          { id: options.accessKeyId, secret: options.secretAccessKey, token: options.sessionToken },
          { id: 'AWS_ACCESS_KEY_ID', secret: 'AWS_SECRET_ACCESS_KEY', token: 'AWS_SESSION_TOKEN' },
          { id: `${prefix}.accessKeyId`, secret: `${prefix}.secretAccessKey` },
          env,
        )
      : keyPair(
          { id: options.accessKeyId, secret: options.secretAccessKey },
          { id: 'GCS_ACCESS_KEY_ID', secret: 'GCS_SECRET_ACCESS_KEY' },
          { id: `${prefix}.accessKeyId`, secret: `${prefix}.secretAccessKey` },
          env,
        );
  const region = options.region ?? (type === 's3' ? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) : undefined);
  const endpointText = options.endpoint ?? (type === 's3' ? nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL) : undefined);
  const endpoint = endpointText === undefined ? undefined : parseEndpoint(`${prefix}.endpoint`, endpointText);
  const useSsl = options.useSsl ?? endpoint?.useSsl;
  // A custom endpoint is one host name: bucket subdomains would not resolve.
  const urlStyle = options.urlStyle ?? (endpoint === undefined ? undefined : 'path');

  const parameters: [string, string | boolean][] = [];
  const sensitive: string[] = [];
  if (keys.source !== 'none') {
    parameters.push(['KEY_ID', keys.id], ['SECRET', keys.secret]);
    sensitive.push(keys.id, keys.secret);
    if (keys.token !== undefined) {
      parameters.push(['SESSION_TOKEN', keys.token]);
      sensitive.push(keys.token);
    }
  }
  if (region !== undefined) parameters.push(['REGION', region]);
  if (endpoint !== undefined) parameters.push(['ENDPOINT', endpoint.host]);
  if (urlStyle !== undefined) parameters.push(['URL_STYLE', urlStyle]);
  if (useSsl !== undefined) parameters.push(['USE_SSL', useSsl]);
  if (parameters.length === 0) return undefined;
  parameters.push(['SCOPE', scope]);
  return {
    summary: {
      type,
      scope,
      source: keys.source,
      ...(endpoint === undefined ? {} : { endpoint: `${useSsl === false ? 'http' : 'https'}://${endpoint.host}` }),
      ...(region === undefined ? {} : { region }),
    },
    parameters,
    sensitive,
    fingerprint: fingerprint(type, parameters),
  };
}

function planAzure(scope: string, options: AzureCredentials, env: Environment): SecretPlan | undefined {
  let connectionString: string | undefined;
  let source: CredentialSource = 'options';
  let accountName: string | undefined;
  if (options.connectionString !== undefined) {
    connectionString = options.connectionString;
  } else if (options.accountKey !== undefined) {
    if (options.accountName === undefined) {
      throw new LTMError('validation_error', 'credentials.azure.accountKey needs credentials.azure.accountName');
    }
    connectionString = accountKeyConnectionString(options.accountName, options.accountKey);
  } else if (nonEmpty(env.AZURE_STORAGE_CONNECTION_STRING) !== undefined) {
    connectionString = env.AZURE_STORAGE_CONNECTION_STRING;
    source = 'environment';
  } else if (nonEmpty(env.AZURE_STORAGE_KEY) !== undefined && options.accountName === undefined) {
    const account = nonEmpty(env.AZURE_STORAGE_ACCOUNT);
    if (account === undefined) throw new LTMError('validation_error', 'AZURE_STORAGE_KEY is set but AZURE_STORAGE_ACCOUNT is not: set both');
    connectionString = accountKeyConnectionString(account, env.AZURE_STORAGE_KEY!);
    source = 'environment';
  } else {
    accountName = options.accountName ?? nonEmpty(env.AZURE_STORAGE_ACCOUNT);
    source = options.accountName !== undefined ? 'options' : 'environment';
  }
  if (connectionString !== undefined) {
    const parameters: [string, string][] = [['CONNECTION_STRING', connectionString], ['SCOPE', scope]];
    const key = /(?:^|;)\s*AccountKey=([^;]*)/i.exec(connectionString)?.[1];
    const sas = /(?:^|;)\s*SharedAccessSignature=([^;]*)/i.exec(connectionString)?.[1];
    return {
      summary: { type: 'azure', scope, source },
      parameters,
      sensitive: [connectionString, ...(key ? [key] : []), ...(sas ? [sas] : [])],
      fingerprint: fingerprint('azure', parameters),
    };
  }
  if (accountName === undefined) return undefined;
  // An account name alone reads public containers anonymously.
  const parameters: [string, string][] = [['PROVIDER', 'config'], ['ACCOUNT_NAME', accountName], ['SCOPE', scope]];
  return { summary: { type: 'azure', scope, source: 'none' }, parameters, sensitive: [], fingerprint: fingerprint('azure', parameters) };
}

function accountKeyConnectionString(account: string, key: string): string {
  return `DefaultEndpointsProtocol=https;AccountName=${account};AccountKey=${key};EndpointSuffix=core.windows.net`;
}

function fingerprint(type: string, parameters: readonly (readonly [string, string | boolean])[]): string {
  return createHash('sha256').update(JSON.stringify([type, parameters])).digest('hex');
}

/** Option names of `CREATE SECRET`, the only text of it that is not a bound parameter. */
const SECRET_OPTIONS = new Set(['KEY_ID', 'SECRET', 'SESSION_TOKEN', 'REGION', 'ENDPOINT', 'URL_STYLE', 'USE_SSL', 'SCOPE', 'CONNECTION_STRING', 'PROVIDER', 'ACCOUNT_NAME']);

/** `CREATE OR REPLACE TEMPORARY SECRET "<name>" (TYPE <type>, OPTION $1, ...)` with its bound values. */
export function createSecretStatement(quotedName: string, plan: SecretPlan): { sql: string; params: (string | boolean)[] } {
  const options = plan.parameters.map(([option], index) => {
    if (!SECRET_OPTIONS.has(option)) throw new LTMError('validation_error', `unexpected secret option ${option}`);
    return `${option} $${index + 1}`;
  });
  return {
    sql: `CREATE OR REPLACE TEMPORARY SECRET ${quotedName} (TYPE ${plan.summary.type}, ${options.join(', ')})`,
    params: plan.parameters.map(([, value]) => value),
  };
}
