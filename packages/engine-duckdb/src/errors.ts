import { LTMError, type ErrorType } from '@ltm/core';
import { redactCredentials } from './redaction.js';

/**
 * The one place that turns what DuckDB (and its httpfs and azure extensions) throw into protocol error
 * codes. `@duckdb/node-api` errors carry only a message, so this module parses the shapes those messages
 * are built from in DuckDB's sources: the `<Type> Error: ` prefix, the HTTP status that httpfs prints as
 * `(HTTP 403 ...)`, httpfs's `<request error> error for HTTP GET to '<url>'` when no answer came back, and
 * the azure extension's `failed with code '<AzureErrorCode>'` / `Original error message: '<transport error>'`.
 * Nothing is guessed from loose keywords: a message in none of these shapes is a `query_error`.
 *
 * Besides the protocol `errorType`, each error records its `origin`, which the retry policy and the
 * circuit breaker read: only `network`, `timeout` and `server` failures are the infrastructure's fault.
 */

export type FailureOrigin =
  /** The request got no HTTP answer: connection refused or reset, name resolution, TLS handshake. */
  | 'network'
  /** A request (or a statement given a deadline) timed out. */
  | 'timeout'
  /** The service answered with a server error (HTTP 5xx, Azure `InternalError`/`ServerBusy`). */
  | 'server'
  /** The service asked us to slow down (HTTP 429). */
  | 'throttled'
  /** Credentials missing, wrong, or without permission (HTTP 401/403). */
  | 'auth'
  /** The object, bucket or container does not exist (HTTP 404). */
  | 'not_found'
  /** An extension DuckDB needs is not installed or not loadable. */
  | 'dependency'
  /** The statement, its parameters or the data are wrong: running it again will not help. */
  | 'statement'
  /** This process or machine: a file lock, a read-only database, a setting. */
  | 'local';

const INFRASTRUCTURE: ReadonlySet<FailureOrigin> = new Set(['network', 'timeout', 'server']);

/** An `LTMError` that also says where the failure came from. */
export class EngineError extends LTMError {
  readonly origin: FailureOrigin;
  /** The HTTP status the storage service answered with, when there was one. */
  readonly httpStatus: number | undefined;

  constructor(
    errorType: ErrorType,
    message: string,
    options: { origin: FailureOrigin; httpStatus?: number; cause?: unknown; retryable?: boolean },
  ) {
    super(errorType, message, { cause: options.cause, ...(options.retryable === undefined ? {} : { retryable: options.retryable }) });
    this.name = 'EngineError';
    this.origin = options.origin;
    this.httpStatus = options.httpStatus;
  }
}

/** Where a failure came from, when this package classified it. */
export function failureOrigin(error: unknown): FailureOrigin | undefined {
  return error instanceof EngineError ? error.origin : undefined;
}

/** Network, timeout and server failures: the ones a circuit breaker counts. Bad input never is one. */
export function isInfrastructureFailure(error: unknown): boolean {
  const origin = failureOrigin(error);
  return origin !== undefined && INFRASTRUCTURE.has(origin);
}

/** Failures that may pass if the same call is simply made again a little later. */
export function isTransientFailure(error: unknown): boolean {
  return isInfrastructureFailure(error) || failureOrigin(error) === 'throttled';
}

/** Where the error happened, for a message that names the right fix. */
export interface ErrorContext {
  /** The database path, when the error came from opening it. */
  opening?: string;
}

// node-api wraps some errors once more ("Failed to extract statements: Parser Error: ...").
const TYPE_PREFIX = /^(?:Failed to [a-z ]+: )?([A-Za-z][A-Za-z ]*?) Error: /;

/** The DuckDB exception type of a message (`Catalog`, `IO`, `HTTP`, ...), or undefined. */
export function duckDBErrorType(message: string): string | undefined {
  return TYPE_PREFIX.exec(message)?.[1];
}

export { redactCredentials };

const LOCK = /Could not set lock on file "([^"]*)": Conflicting lock is held in (.*?) \(PID (\d+)\)/;

// httpfs: `throw IOException("%s error for HTTP %s to '%s'", request_error, method, url)` when the request
// got no response. The request error is curl's `curl_easy_strerror()` or httplib's `to_string(Error)`.
const HTTP_TRANSPORT = /^IO Error: (.+?) error for HTTP (?:HEAD|GET|PUT|POST|DELETE) to '/;
const TRANSPORT_TIMEOUTS: ReadonlySet<string> = new Set(['Timeout was reached', 'Connection timed out', 'Read timeout', 'Write timeout']);
// httpfs: `(HTTP 403 Forbidden)`, `(HTTP 404)`, `(HTTP code 500)`, `Request returned HTTP 503 for HTTP GET to`.
const HTTP_STATUS = /\(HTTP (?:code )?(\d{3})\b|\bRequest returned HTTP (\d{3})\b/;
const ETAG_CHANGED = /^HTTP Error: ETag on reading file "([^"]*)" was initially/;

// azure: `AzureStorageFileSystem open file '%s' failed with code '%s', Reason Phrase: '%s', Message: '%s'`
// and `AzureBlobStorageFileSystem Read to '%s' failed with %s Reason Phrase: %s` (StorageException).
const AZURE_STORAGE = /Azure\w*FileSystem .*? failed with (?:code )?'?([A-Za-z]*)'?,? Reason Phrase: '?([^'\n]*)/;
// azure: any other exception while opening: `... could not open file: '%s', unknown error occurred, this
// could mean the credentials used were wrong. Original error message: '%s'`; elsewhere DuckDB reports a
// foreign exception as `Invalid Error: <what()>`.
const AZURE_WRAPPED = /AzureStorageFileSystem could not open file: '.*?', unknown error occurred, .*? Original error message: '([\s\S]*)'/;
// Messages of the Azure SDK's curl transport (azure-core `TransportException`).
const AZURE_TRANSPORT_NETWORK = [
  'Fail to get a new connection for:',
  'Error while sending request.',
  'Connection was closed by the server',
  'Connection closed before getting full response',
];
const AZURE_TRANSPORT_TIMEOUT = ['Timeout waiting for socket'];

/** Azure Storage error codes (x-ms-error-code), as documented for the Blob service. */
const AZURE_CODES: Readonly<Record<string, FailureOrigin>> = {
  AuthenticationFailed: 'auth',
  AuthorizationFailure: 'auth',
  AuthorizationPermissionMismatch: 'auth',
  AuthorizationProtocolMismatch: 'auth',
  AuthorizationResourceTypeMismatch: 'auth',
  AuthorizationServiceMismatch: 'auth',
  AuthorizationSourceIPMismatch: 'auth',
  InsufficientAccountPermissions: 'auth',
  InvalidAuthenticationInfo: 'auth',
  NoAuthenticationInformation: 'auth',
  AccountIsDisabled: 'auth',
  BlobNotFound: 'not_found',
  ContainerNotFound: 'not_found',
  ResourceNotFound: 'not_found',
  PathNotFound: 'not_found',
  FilesystemNotFound: 'not_found',
  InternalError: 'server',
  ServerBusy: 'server',
  OperationTimedOut: 'timeout',
};
/** Standard HTTP reason phrases, for Azure answers without an error code (HEAD responses have no body). */
const REASON_PHRASES: Readonly<Record<string, FailureOrigin>> = {
  Unauthorized: 'auth',
  Forbidden: 'auth',
  'Not Found': 'not_found',
  'Request Timeout': 'timeout',
  'Too Many Requests': 'throttled',
  'Internal Server Error': 'server',
  'Bad Gateway': 'server',
  'Service Unavailable': 'server',
  'Gateway Timeout': 'timeout',
};

const EXTENSION_NOT_FOUND = /^IO Error: Extension "([^"]*)" not found/;
const EXTENSION_SIGNATURE = /signature is either missing or invalid|doesn't have a valid signature/;
// A binary for another platform or DuckDB version: `Failed to load 'fts', The file was built for the platform ...`.
const EXTENSION_MISMATCH = /^Invalid Input Error: Failed to load '\w+', The file was built for/;
const EXISTS_IN_EXTENSION = /is not in the catalog, but it exists in the (\w+) extension/;

const HINTS: Readonly<Partial<Record<FailureOrigin, string>>> = {
  network: 'the storage service could not be reached: check the endpoint, the network and that the service is up',
  timeout: 'the storage service did not answer in time: check the network, or raise httpTimeoutMs',
  server: 'the storage service failed: retry later',
  throttled: 'the service is throttling: retry later',
  auth: 'check the credentials and their permissions for this location',
  dependency:
    'a DuckDB extension is missing: run `ltm extensions install` (or `ltm extensions install --from DIR` offline) ' +
    'and point extensionDirectory (or LTM_EXTENSION_DIR) at its directory',
};

const ERROR_TYPES: Readonly<Record<FailureOrigin, ErrorType>> = {
  network: 'connection_error',
  timeout: 'connection_timeout',
  server: 'connection_error',
  throttled: 'rate_limited',
  auth: 'auth_failed',
  not_found: 'query_error',
  dependency: 'dependency_missing',
  statement: 'query_error',
  local: 'query_error',
};

interface Made {
  errorType?: ErrorType;
  origin: FailureOrigin;
  httpStatus?: number;
  retryable?: boolean;
  /** Replaces the message; default: DuckDB's message with the origin's hint appended. */
  message?: string;
}

function make(original: string, cause: unknown, made: Made): EngineError {
  const hint = HINTS[made.origin];
  const message = redactCredentials(made.message ?? (hint === undefined ? original : `${original} (${hint})`));
  // The original error keeps DuckDB's unredacted text: pass it on only when it holds nothing to hide.
  const safeCause = redactCredentials(original) === original ? cause : new Error(redactCredentials(original));
  return new EngineError(made.errorType ?? ERROR_TYPES[made.origin], message, {
    origin: made.origin,
    cause: safeCause,
    ...(made.httpStatus === undefined ? {} : { httpStatus: made.httpStatus }),
    ...(made.retryable === undefined ? {} : { retryable: made.retryable }),
  });
}

function httpOrigin(status: number): FailureOrigin {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 408) return 'timeout';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'server';
  return 'statement';
}

function startsWithAny(text: string, prefixes: readonly string[]): boolean {
  return prefixes.some((prefix) => text.startsWith(prefix));
}

/** The origin of an Azure SDK transport message, or undefined when it is not one. */
function azureTransportOrigin(text: string): FailureOrigin | undefined {
  if (startsWithAny(text, AZURE_TRANSPORT_TIMEOUT)) return 'timeout';
  if (startsWithAny(text, AZURE_TRANSPORT_NETWORK)) return 'network';
  return undefined;
}

function classifyRemote(message: string, type: string | undefined, cause: unknown): EngineError | undefined {
  const transport = HTTP_TRANSPORT.exec(message);
  if (transport) {
    return make(message, cause, { origin: TRANSPORT_TIMEOUTS.has(transport[1]!) ? 'timeout' : 'network' });
  }
  if (type === 'http') {
    const etag = ETAG_CHANGED.exec(message);
    if (etag) {
      return make(message, cause, {
        origin: 'statement',
        message: `the remote file "${etag[1]}" changed while it was open (another version was uploaded): reopen the store to read the new version`,
      });
    }
    const match = HTTP_STATUS.exec(message);
    const status = match ? Number(match[1] ?? match[2]) : undefined;
    if (status === undefined) return make(message, cause, { origin: 'statement' });
    return make(message, cause, { origin: httpOrigin(status), httpStatus: status });
  }
  const storage = AZURE_STORAGE.exec(message);
  if (storage) {
    const origin = AZURE_CODES[storage[1]!] ?? REASON_PHRASES[storage[2]!.trim()] ?? 'statement';
    return make(message, cause, { origin });
  }
  const wrapped = AZURE_WRAPPED.exec(message);
  if (wrapped) return make(message, cause, { origin: azureTransportOrigin(wrapped[1]!) ?? 'statement' });
  if (type === 'invalid') {
    const origin = azureTransportOrigin(message.slice('Invalid Error: '.length));
    if (origin !== undefined) return make(message, cause, { origin });
  }
  if (type === 'invalid input' && /^Invalid Input Error: No valid Azure credentials found/.test(message)) {
    return make(message, cause, {
      origin: 'auth',
      message:
        'no Azure credentials apply to this container: give azureConnectionString (or AZURE_STORAGE_CONNECTION_STRING), ' +
        'or azureAccountName + azureAccountKey (AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY)',
    });
  }
  if (type === 'network') return make(message, cause, { origin: 'network' });
  return undefined;
}

/**
 * Turns anything a DuckDB call threw into an `LTMError` (an `EngineError`, with its origin).
 * `LTMError`s pass through unchanged; an unrecognised message becomes `query_error`.
 */
export function classifyDuckDBError(error: unknown, context: ErrorContext = {}): LTMError {
  if (error instanceof LTMError) return error;
  const message = (error instanceof Error ? error.message : String(error)).trimEnd();
  const type = duckDBErrorType(message)?.toLowerCase();

  const lock = LOCK.exec(message);
  if (lock) {
    return make(message, error, {
      errorType: 'locked',
      origin: 'local',
      message:
        `database file "${lock[1]}" is locked by another process: ${lock[2]} (PID ${lock[3]}). ` +
        'DuckDB lets one process at a time open a file for writing: stop that process (or close its database), ' +
        'or, if every process only reads, open them all with readOnly: true',
    });
  }
  if (/Could not set lock on file/.test(message)) {
    return make(message, error, {
      errorType: 'locked',
      origin: 'local',
      message: `${message} (another process holds the database: stop it, or open read-only)`,
    });
  }
  if (/read-only mode/i.test(message) && /Cannot execute statement/i.test(message)) {
    return make(message, error, {
      errorType: 'read_only',
      origin: 'local',
      message: `${message} (this database was opened read-only: open it without readOnly to write)`,
    });
  }
  if (
    type === 'extension autoloading' ||
    type === 'missing extension' ||
    EXTENSION_NOT_FOUND.test(message) ||
    EXTENSION_SIGNATURE.test(message) ||
    EXTENSION_MISMATCH.test(message) ||
    (type === 'catalog' && EXISTS_IN_EXTENSION.test(message))
  ) {
    return make(message, error, { origin: 'dependency' });
  }
  const remote = classifyRemote(message, type, error);
  if (remote) return remote;
  if (type === 'invalid configuration' || type === 'settings' || message === 'Failed to set config') {
    return make(message, error, { errorType: 'validation_error', origin: 'local', message: `invalid DuckDB configuration: ${message}` });
  }
  if (context.opening !== undefined) return classifyOpenError(message, context.opening, type, error);
  if (type === 'transactioncontext' || type === 'transaction') {
    // Write-write conflicts between concurrent transactions succeed when simply run again.
    return make(message, error, { origin: 'statement', retryable: /conflict/i.test(message) });
  }
  if (type === 'connection') return make(message, error, { errorType: 'connection_error', origin: 'local' });
  if (/Cannot create values of type ANY/.test(message)) {
    return make(message, error, { errorType: 'validation_error', origin: 'statement', message: `cannot bind parameter: ${message}` });
  }
  // Parser, Binder, Catalog, Conversion, Constraint, Invalid Input, Out of Range, ...: the statement or
  // its data is wrong, and running it again will not help.
  return make(message, error, { origin: 'statement' });
}

function classifyOpenError(message: string, path: string, type: string | undefined, cause: unknown): LTMError {
  if (type === 'invalid input' && /options were not recognized/.test(message)) {
    return make(message, cause, { errorType: 'validation_error', origin: 'local', message: `invalid DuckDB configuration: ${message}` });
  }
  if (/database does not exist/.test(message)) {
    return make(message, cause, {
      errorType: 'connection_error',
      origin: 'local',
      retryable: false,
      message: `cannot open "${path}" read-only: the database file does not exist (create it with a read-write open first)`,
    });
  }
  if (/not a valid DuckDB database file/.test(message)) {
    return make(message, cause, {
      errorType: 'validation_error',
      origin: 'local',
      message: `cannot open "${path}": the file exists but is not a DuckDB database`,
    });
  }
  return make(message, cause, {
    errorType: 'connection_error',
    origin: 'local',
    retryable: false,
    message: `cannot open DuckDB database "${path}": ${message}`,
  });
}
