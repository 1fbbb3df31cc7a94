import type { ErrorType, Failure } from '@ltm/core';

/** The command line itself is wrong (exit 2): a missing argument, JSON that does not parse, a bad number. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The backend refused or failed the operation (exit 1); printed with its errorType, never with a stack. */
export class OperationError extends Error {
  readonly errorType: ErrorType | 'not_found';
  readonly result: Failure | undefined;

  constructor(message: string, errorType: ErrorType | 'not_found', result?: Failure) {
    super(message);
    this.name = 'OperationError';
    this.errorType = errorType;
    this.result = result;
  }

  static from(result: Failure, context?: string): OperationError {
    return new OperationError(context === undefined ? result.error : `${context}: ${result.error}`, result.errorType, result);
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
