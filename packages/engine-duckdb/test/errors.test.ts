import { LTMError } from '@ltm/core';
import { describe, expect, it } from 'vitest';
import { EngineError, classifyDuckDBError, duckDBErrorType, failureOrigin, isInfrastructureFailure, isTransientFailure, redactCredentials } from '../src/index.js';
import { registerSensitiveValues } from '../src/redaction.js';

const classify = (message: string, context?: { opening?: string }) => classifyDuckDBError(new Error(message), context);

describe('classifyDuckDBError', () => {
  it('reads the DuckDB exception type from the message prefix', () => {
    expect(duckDBErrorType('Catalog Error: Table with name x does not exist!')).toBe('Catalog');
    expect(duckDBErrorType('Invalid Input Error: boom')).toBe('Invalid Input');
    expect(duckDBErrorType('TransactionContext Error: Current transaction is aborted')).toBe('TransactionContext');
    expect(duckDBErrorType('no prefix here')).toBeUndefined();
  });

  it.each([
    ['Parser Error: syntax error at or near "selec"', 'query_error', false],
    ['Binder Error: Referenced column "x" not found in FROM clause!', 'query_error', false],
    ['Catalog Error: Table with name nope does not exist!', 'query_error', false],
    ['Constraint Error: PRIMARY KEY or UNIQUE constraint violation: duplicate key "k"', 'query_error', false],
    ['Conversion Error: Malformed JSON at byte 1 of input', 'query_error', false],
    ['Invalid Input Error: boom', 'query_error', false],
    ['Out of Range Error: value out of range', 'query_error', false],
    ['TransactionContext Error: Catalog write-write conflict on create with "t"', 'query_error', true],
    ['TransactionContext Error: Current transaction is aborted (please ROLLBACK)', 'query_error', false],
    ['IO Error: No files found that match the pattern "/x.parquet"', 'query_error', false],
    // httpfs, no HTTP answer: curl's strerror (or httplib's) in "<error> error for HTTP <method> to '<url>'".
    ["IO Error: Could not connect to server error for HTTP HEAD to 'http://127.0.0.1:9/b/t.duckdb'", 'connection_error', true],
    ["IO Error: Could not resolve hostname error for HTTP HEAD to 'https://b.s3.amazonaws.com/t.duckdb'", 'connection_error', true],
    ["IO Error: Could not establish connection error for HTTP GET to 'http://127.0.0.1:9/b/t.duckdb'", 'connection_error', true],
    ["IO Error: Timeout was reached error for HTTP HEAD to 'http://127.0.0.1:9/b/t.duckdb'", 'connection_timeout', true],
    ["IO Error: Connection timed out error for HTTP GET to 'http://127.0.0.1:9/b/t.duckdb'", 'connection_timeout', true],
    // httpfs, an HTTP answer: the status in "(HTTP nnn ...)".
    ["HTTP Error: HTTP GET error on 'https://b.s3.amazonaws.com/x' (HTTP 403)", 'auth_failed', false],
    ["HTTP Error: HTTP GET error reading 'http://127.0.0.1:1/b/x' in region 'us-east-1' (HTTP 403 Forbidden)\n\nSignatureDoesNotMatch: ...", 'auth_failed', false],
    ["HTTP Error: HTTP GET error on 'https://b.s3.amazonaws.com/x' (HTTP 401)", 'auth_failed', false],
    ["HTTP Error: HTTP GET error on 'https://b.s3.amazonaws.com/x' (HTTP 429)", 'rate_limited', true],
    ["HTTP Error: HTTP GET error on 'https://b.s3.amazonaws.com/x' (HTTP 503)", 'connection_error', true],
    ["HTTP Error: Request returned HTTP 500 for HTTP GET to 'https://b.s3.amazonaws.com/x'", 'connection_error', true],
    ["HTTP Error: Unable to connect to URL s3://b/x: Internal Server Error (HTTP code 502)", 'connection_error', true],
    ["HTTP Error: HTTP GET error reading 's3://b/missing.duckdb' in region 'us-east-1' (HTTP 404 Not Found)", 'query_error', false],
    ["HTTP Error: HTTP GET error on 'https://b.s3.amazonaws.com/x' (HTTP 408)", 'connection_timeout', true],
    ['HTTP Error: Full download failed: something without a status', 'query_error', false],
    // azure: a storage error code, or the Azure SDK's transport message.
    ["IO Error: AzureStorageFileSystem open file 'az://c/t.duckdb' failed with code 'AuthorizationFailure', Reason Phrase: 'Server failed to authenticate the request.', Message: ''", 'auth_failed', false],
    ["IO Error: AzureBlobStorageFileSystem Read to 'az://c/t.duckdb' failed with ServerBusy Reason Phrase: Ingress is over the account limit.", 'connection_error', true],
    ["IO Error: AzureBlobStorageFileSystem Read to az://c/x failed with OperationTimedOut Reason Phrase: Operation could not be completed within the specified time.", 'connection_timeout', true],
    ["IO Error: AzureStorageFileSystem open file 'az://c/t.duckdb' failed with code '', Reason Phrase: 'Service Unavailable', Message: ''", 'connection_error', true],
    ["IO Error: AzureStorageFileSystem open file 'az://c/t.duckdb' failed with code 'ContainerNotFound', Reason Phrase: 'The specified container does not exist.', Message: ''", 'query_error', false],
    ["IO Error: AzureStorageFileSystem could not open file: 'az://c/t.duckdb', unknown error occurred, this could mean the credentials used were wrong. Original error message: 'Fail to get a new connection for: http://127.0.0.1:9. Could not connect to server' ", 'connection_error', true],
    ["IO Error: AzureStorageFileSystem could not open file: 'az://c/t.duckdb', unknown error occurred, this could mean the credentials used were wrong. Original error message: 'Timeout waiting for socket to read.' ", 'connection_timeout', true],
    ["IO Error: AzureStorageFileSystem could not open file: 'az://bad/x', unknown error occurred, this could mean the credentials used were wrong. Original error message: 'Unexpected end of Base64 encoded string.' ", 'query_error', false],
    ['Invalid Error: Fail to get a new connection for: https://acct.blob.core.windows.net. Could not connect to server', 'connection_error', true],
    ['Invalid Input Error: No valid Azure credentials found!', 'auth_failed', false],
    // Messages that merely mention a network word are not network failures.
    ['Invalid Input Error: value "connection refused" is not a number', 'query_error', false],
    ['Binder Error: column timeout not found', 'query_error', false],
    ['Extension Autoloading Error: An error occurred while trying to automatically install the required extension \'httpfs\'', 'dependency_missing', false],
    ['Missing Extension Error: File s3://b/t.duckdb requires the extension httpfs to be loaded', 'dependency_missing', false],
    ['IO Error: Extension "/x/v1.5.5/linux_amd64/httpfs.duckdb_extension" not found.\nExtension "httpfs" is an existing extension.', 'dependency_missing', false],
    ['Catalog Error: Setting with name "http_timeout" is not in the catalog, but it exists in the httpfs extension.', 'dependency_missing', false],
    ["IO Error: Attempting to install an extension file that doesn't have a valid signature, see https://duckdb.org/docs", 'dependency_missing', false],
    ['IO Error: Extension "/x/fts.duckdb_extension" could not be loaded because its signature is either missing or invalid and unsigned extensions are disabled by configuration (allow_unsigned_extensions)', 'dependency_missing', false],
    ["Invalid Input Error: Failed to load 'fts', The file was built for the platform 'osx_arm64', but we can only load extensions built for platform 'linux_amd64'.", 'dependency_missing', false],
    ['Invalid Configuration Error: bad setting', 'validation_error', false],
    ['Cannot create values of type ANY. Specify a specific type.', 'validation_error', false],
    ['Invalid Input Error: Cannot execute statement of type "INSERT" on database "a" which is attached in read-only mode!', 'read_only', false],
    ['something nobody anticipated', 'query_error', false],
  ] as const)('%s → %s', (message, errorType, retryable) => {
    const error = classify(message);
    expect(error).toBeInstanceOf(LTMError);
    expect(error.errorType).toBe(errorType);
    expect(error.retryable).toBe(retryable);
    expect((error.cause as Error).message).toBe(message);
  });

  it('turns a lock conflict into locked, naming the file, holder and fix', () => {
    const error = classify(
      'IO Error: Could not set lock on file "/data/ltm.duckdb": Conflicting lock is held in /usr/bin/python3 (PID 4242). See also https://duckdb.org/docs/stable/connect/concurrency',
    );
    expect(error.errorType).toBe('locked');
    expect(error.message).toBe(
      'database file "/data/ltm.duckdb" is locked by another process: /usr/bin/python3 (PID 4242). DuckDB lets one process ' +
        'at a time open a file for writing: stop that process (or close its database), or, if every process only reads, ' +
        'open them all with readOnly: true',
    );
  });

  it('explains open failures with the path', () => {
    expect(classify('IO Error: Cannot open database "/x.duckdb" in read-only mode: database does not exist', { opening: '/x.duckdb' }))
      .toMatchObject({ errorType: 'connection_error', retryable: false });
    expect(classify('IO Error: The file "/x.duckdb" exists, but it is not a valid DuckDB database file!', { opening: '/x.duckdb' }))
      .toMatchObject({ errorType: 'validation_error', message: 'cannot open "/x.duckdb": the file exists but is not a DuckDB database' });
    expect(classify('Invalid Input Error: The following options were not recognized: bogus', { opening: ':memory:' }).errorType)
      .toBe('validation_error');
    expect(classify('Failed to set config', { opening: ':memory:' }).errorType).toBe('validation_error');
    expect(classify('IO Error: Cannot open file "/nope/x.duckdb": Permission denied', { opening: '/nope/x.duckdb' }))
      .toMatchObject({ errorType: 'connection_error', retryable: false, message: expect.stringContaining('cannot open DuckDB database "/nope/x.duckdb"') });
  });

  it('passes LTMErrors through and accepts non-Error throwables', () => {
    const original = new LTMError('backend_closed', 'closed');
    expect(classifyDuckDBError(original)).toBe(original);
    expect(classifyDuckDBError('Parser Error: x').errorType).toBe('query_error');
  });

  it('never echoes credentials carried in URLs', () => {
    const error = classify(
      "HTTP Error: HTTP GET error on 'https://b.s3.amazonaws.com/x?X-Amz-Credential=AKIAEXAMPLE%2F2024&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok' (HTTP 403)",
    );
    expect(error.message).not.toMatch(/AKIAEXAMPLE|deadbeef|=tok/);
    expect(error.message).toContain('X-Amz-Signature=<redacted>');
    expect(redactCredentials('https://acct.blob.core.windows.net/c/x?sv=2022&sig=abc%2Bdef&se=2030')).toBe(
      'https://acct.blob.core.windows.net/c/x?sv=<redacted>&sig=<redacted>&se=<redacted>',
    );
  });

  it('records where a failure came from; only network, timeout and server failures are infrastructure', () => {
    const cases: [string, string | undefined, boolean, boolean][] = [
      ["IO Error: Could not connect to server error for HTTP HEAD to 'http://127.0.0.1:9/b/x'", 'network', true, true],
      ["IO Error: Timeout was reached error for HTTP HEAD to 'http://127.0.0.1:9/b/x'", 'timeout', true, true],
      ["HTTP Error: HTTP GET error on 'https://b/x' (HTTP 502)", 'server', true, true],
      ["HTTP Error: HTTP GET error on 'https://b/x' (HTTP 429)", 'throttled', false, true],
      ["HTTP Error: HTTP GET error on 'https://b/x' (HTTP 403)", 'auth', false, false],
      ["HTTP Error: HTTP GET error on 'https://b/x' (HTTP 404)", 'not_found', false, false],
      ['Parser Error: syntax error at or near "selec"', 'statement', false, false],
      ['Missing Extension Error: httpfs', 'dependency', false, false],
    ];
    for (const [message, origin, infrastructure, transient] of cases) {
      const error = classify(message);
      expect(error).toBeInstanceOf(EngineError);
      expect(failureOrigin(error)).toBe(origin);
      expect(isInfrastructureFailure(error)).toBe(infrastructure);
      expect(isTransientFailure(error)).toBe(transient);
    }
    expect((classify("HTTP Error: HTTP GET error on 'https://b/x' (HTTP 503 Slow Down)") as EngineError).httpStatus).toBe(503);
    // Errors this module did not classify (pool timeouts, closed engines) are nobody's infrastructure.
    expect(isInfrastructureFailure(new LTMError('connection_timeout', 'no connection became free'))).toBe(false);
  });

  it('says that a remote file changed under an open database', () => {
    const error = classify('HTTP Error: ETag on reading file "s3://b/t.duckdb" was initially "a" and now it returned "b", this likely means the remote file has changed.');
    expect(error.errorType).toBe('query_error');
    expect(error.message).toContain('reopen the store');
  });

  it('scrubs registered secret values from messages and from the cause, until released', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
    const release = registerSensitiveValues([secret]);
    const error = classify(`Invalid Input Error: bad value '${secret}' and ${encodeURIComponent(secret)}`);
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain(encodeURIComponent(secret));
    expect((error.cause as Error).message).not.toContain(secret);
    release();
    expect(redactCredentials(`x ${secret}`)).toBe(`x ${secret}`);
    expect(redactCredentials('DefaultEndpointsProtocol=http;AccountName=a;AccountKey=c2VjcmV0;BlobEndpoint=x')).toBe(
      'DefaultEndpointsProtocol=http;AccountName=a;AccountKey=<redacted>;BlobEndpoint=x',
    );
  });
});
