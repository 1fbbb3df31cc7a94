import { LTMError, type ErrorType } from '@ltm/core';

/**
 * DuckDB prefixes every error message with its exception type (`Catalog Error: ...`). This module is the
 * one place that turns those messages into protocol error codes; the cloud work extends it (retry
 * policy, circuit breaker) without callers changing.
 */

/** Where the error happened, for a message that names the right fix. */
export interface ErrorContext {
  /** The database path, when the error came from opening it. */
  opening?: string;
}

const TYPE_PREFIX = /^([A-Za-z][A-Za-z ]*?) Error: /;

/** The DuckDB exception type of a message (`Catalog`, `IO`, `HTTP`, ...), or undefined. */
export function duckDBErrorType(message: string): string | undefined {
  return TYPE_PREFIX.exec(message)?.[1];
}

// Credentials can ride in URLs (pre-signed query strings, SAS tokens); DuckDB echoes URLs in messages.
const CREDENTIAL_PARAMS =
  /([?&](?:X-Amz-Credential|X-Amz-Signature|X-Amz-Security-Token|X-Goog-Credential|X-Goog-Signature|sig|se|sp|sv|st|skoid|sktid|token|access_token|key)=)[^&\s'"]*/gi;

/** Removes credential-bearing URL parameters from a message. */
export function redactCredentials(message: string): string {
  return message.replace(CREDENTIAL_PARAMS, '$1<redacted>');
}

const LOCK = /Could not set lock on file "([^"]*)": Conflicting lock is held in (.*?) \(PID (\d+)\)/;
const NETWORK =
  /could not establish connection|connection refused|connection reset|timed out|timeout|could not resolve host|network is unreachable|name or service not known|broken pipe/i;
const HTTP_STATUS = /\b(?:HTTP|status(?: code)?)[ :]*([1-5]\d\d)\b/i;

function make(errorType: ErrorType, message: string, cause: unknown, retryable?: boolean): LTMError {
  return new LTMError(errorType, redactCredentials(message), retryable === undefined ? { cause } : { cause, retryable });
}

function classifyHttp(message: string, cause: unknown): LTMError {
  const status = Number(HTTP_STATUS.exec(message)?.[1] ?? NaN);
  if (status === 401 || status === 403) {
    return make('auth_failed', `${message} (check the credentials and their permissions for this location)`, cause);
  }
  if (status === 429) return make('rate_limited', `${message} (the service is throttling: retry later)`, cause);
  if (status >= 500) return make('connection_error', message, cause);
  if (Number.isNaN(status) && NETWORK.test(message)) return make('connection_error', message, cause);
  return make('query_error', message, cause);
}

/**
 * Turns anything a DuckDB call threw into an `LTMError`. `LTMError`s pass through unchanged; an
 * unrecognised message becomes `query_error`.
 */
export function classifyDuckDBError(error: unknown, context: ErrorContext = {}): LTMError {
  if (error instanceof LTMError) return error;
  const message = (error instanceof Error ? error.message : String(error)).trimEnd();
  const type = duckDBErrorType(message)?.toLowerCase();

  const lock = LOCK.exec(message);
  if (lock) {
    return make(
      'locked',
      `database file "${lock[1]}" is locked by another process: ${lock[2]} (PID ${lock[3]}). ` +
        'DuckDB lets one process at a time open a file for writing: stop that process (or close its database), ' +
        'or, if every process only reads, open them all with readOnly: true',
      error,
    );
  }
  if (/Could not set lock on file/.test(message)) {
    return make('locked', `${message} (another process holds the database: stop it, or open read-only)`, error);
  }
  if (/read-only mode/i.test(message) && /Cannot execute statement/i.test(message)) {
    return make('read_only', `${message} (this database was opened read-only: open it without readOnly to write)`, error);
  }
  if (type === 'http') return classifyHttp(message, error);
  if (type === 'extension autoloading' || type === 'missing extension') {
    return make(
      'dependency_missing',
      `${message} (the DuckDB extension is not installed for this DuckDB version: provision it into the extension directory)`,
      error,
    );
  }
  if (type === 'invalid configuration' || type === 'settings' || message === 'Failed to set config') {
    return make('validation_error', `invalid DuckDB configuration: ${message}`, error);
  }
  if (context.opening !== undefined) return classifyOpenError(message, context.opening, type, error);
  if (type === 'transactioncontext' || type === 'transaction') {
    // Write-write conflicts between concurrent transactions succeed when simply run again.
    return make('query_error', message, error, /conflict/i.test(message));
  }
  if (type === 'connection' || type === 'network') return make('connection_error', message, error);
  if (type === 'io' && NETWORK.test(message)) return make('connection_error', message, error);
  if (/Cannot create values of type ANY/.test(message)) {
    return make('validation_error', `cannot bind parameter: ${message}`, error);
  }
  // Parser, Binder, Catalog, Conversion, Constraint, Invalid Input, Out of Range, ...: the statement or
  // its data is wrong, and running it again will not help.
  return make('query_error', message, error);
}

function classifyOpenError(message: string, path: string, type: string | undefined, cause: unknown): LTMError {
  if (type === 'invalid input' && /options were not recognized/.test(message)) {
    return make('validation_error', `invalid DuckDB configuration: ${message}`, cause);
  }
  if (/database does not exist/.test(message)) {
    return make(
      'connection_error',
      `cannot open "${path}" read-only: the database file does not exist (create it with a read-write open first)`,
      cause,
      false,
    );
  }
  if (/not a valid DuckDB database file/.test(message)) {
    return make('validation_error', `cannot open "${path}": the file exists but is not a DuckDB database`, cause);
  }
  return make('connection_error', `cannot open DuckDB database "${path}": ${message}`, cause, false);
}
