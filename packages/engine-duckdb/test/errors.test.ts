import { LTMError } from '@ltm/core';
import { describe, expect, it } from 'vitest';
import { classifyDuckDBError, duckDBErrorType, redactCredentials } from '../src/index.js';

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
    ['IO Error: Could not establish connection to host', 'connection_error', true],
    ['HTTP Error: HTTP GET error on \'https://b.s3.amazonaws.com/x\' (HTTP 403)', 'auth_failed', false],
    ['HTTP Error: HTTP GET error on \'https://b.s3.amazonaws.com/x\' (HTTP 401)', 'auth_failed', false],
    ['HTTP Error: HTTP GET error on \'https://b.s3.amazonaws.com/x\' (HTTP 429)', 'rate_limited', true],
    ['HTTP Error: HTTP GET error on \'https://b.s3.amazonaws.com/x\' (HTTP 503)', 'connection_error', true],
    ['HTTP Error: HTTP GET error on \'https://b.s3.amazonaws.com/x\' (HTTP 404)', 'query_error', false],
    ['HTTP Error: Unable to connect: Connection refused', 'connection_error', true],
    ['Extension Autoloading Error: An error occurred while trying to automatically install the required extension \'httpfs\'', 'dependency_missing', false],
    ['Missing Extension Error: fts is not loaded', 'dependency_missing', false],
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
});
