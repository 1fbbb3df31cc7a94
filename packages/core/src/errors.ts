/**
 * Error codes shared by every backend. A protocol method never throws for an expected failure:
 * it resolves to a `Failure`. Internally, code throws `LTMError` and the method boundary turns it
 * into a `Failure` with `toFailure()`.
 */
export type ErrorType =
  | 'validation_error'
  | 'serialization_error'
  | 'connection_error'
  | 'connection_timeout'
  | 'auth_failed'
  | 'rate_limited'
  | 'query_error'
  | 'circuit_open'
  | 'dependency_missing'
  | 'backend_closed'
  | 'read_only'
  | 'locked'
  | 'unsupported';

export const ERROR_TYPES: readonly ErrorType[] = [
  'validation_error',
  'serialization_error',
  'connection_error',
  'connection_timeout',
  'auth_failed',
  'rate_limited',
  'query_error',
  'circuit_open',
  'dependency_missing',
  'backend_closed',
  'read_only',
  'locked',
  'unsupported',
];

/** Failures a caller may sensibly retry unchanged. */
const RETRYABLE: ReadonlySet<ErrorType> = new Set<ErrorType>([
  'connection_error',
  'connection_timeout',
  'rate_limited',
  'circuit_open',
  'locked',
]);

export function isRetryable(errorType: ErrorType): boolean {
  return RETRYABLE.has(errorType);
}

export interface Failure {
  success: false;
  error: string;
  errorType: ErrorType;
  retryable: boolean;
}

export class LTMError extends Error {
  readonly errorType: ErrorType;
  readonly retryable: boolean;

  constructor(errorType: ErrorType, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LTMError';
    this.errorType = errorType;
    this.retryable = options?.retryable ?? isRetryable(errorType);
  }

  toFailure(): Failure {
    return { success: false, error: this.message, errorType: this.errorType, retryable: this.retryable };
  }
}

/**
 * Turns anything thrown into a `Failure`. Unknown errors become `query_error` (not retryable):
 * a backend that can classify its driver's errors better converts them to `LTMError` first.
 */
export function toFailure(error: unknown): Failure {
  if (error instanceof LTMError) return error.toFailure();
  const message = error instanceof Error ? error.message : String(error);
  return { success: false, error: message, errorType: 'query_error', retryable: false };
}

export function failure(errorType: ErrorType, message: string): Failure {
  return new LTMError(errorType, message).toFailure();
}
