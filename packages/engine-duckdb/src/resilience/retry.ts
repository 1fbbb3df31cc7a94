import { setTimeout as sleep } from 'node:timers/promises';
import { LTMError } from '@ltm/core';
import { isTransientFailure } from '../errors.js';
import { positiveInteger } from '../options.js';

export interface RetryOptions {
  /** Further attempts after the first (default 2; 0 turns retrying off; at most 10). */
  retries?: number;
  /** Backoff before the first retry (default 100 ms); it doubles on each later one. */
  baseDelayMs?: number;
  /** Cap on one backoff (default 2 000 ms). */
  maxDelayMs?: number;
}

export interface RetryEvent {
  /** The attempt that failed (1 for the first call). */
  attempt: number;
  /** The wait before the next attempt. */
  delayMs: number;
  errorType: string;
  /** The failure, as reported to a caller (already redacted). */
  message: string;
}

const MAX_RETRIES = 10;
const MAX_DELAY_MS = 60_000;

/**
 * Exponential backoff with "equal jitter" for transient failures only (`isTransientFailure`: network,
 * timeout, HTTP 5xx, throttling). Attempt n (n >= 1) waits between half and all of
 * `min(maxDelayMs, baseDelayMs * 2^(n-1))`, so waits grow while concurrent callers spread out. Anything
 * else (bad input, auth, missing objects, an open circuit) is thrown at once. The total is bounded:
 * at most `retries` extra attempts, each wait at most `maxDelayMs`.
 */
export class RetryPolicy {
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;

  constructor(
    options: RetryOptions = {},
    private readonly random: () => number = Math.random,
    private readonly wait: (ms: number) => Promise<unknown> = (ms) => sleep(ms),
  ) {
    this.retries = positiveInteger('retry.retries', options.retries, 2, 0);
    this.baseDelayMs = positiveInteger('retry.baseDelayMs', options.baseDelayMs, 100, 0);
    this.maxDelayMs = positiveInteger('retry.maxDelayMs', options.maxDelayMs, 2_000, 0);
    if (this.retries > MAX_RETRIES) {
      throw new LTMError('validation_error', `retry.retries must be at most ${MAX_RETRIES}, got ${this.retries}`);
    }
    if (this.maxDelayMs > MAX_DELAY_MS) {
      throw new LTMError('validation_error', `retry.maxDelayMs must be at most ${MAX_DELAY_MS}, got ${this.maxDelayMs}`);
    }
  }

  /** The wait after failed attempt `attempt` (1-based). */
  delayMs(attempt: number): number {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  async run<T>(fn: () => Promise<T>, onRetry?: (event: RetryEvent) => void): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt > this.retries || !isTransientFailure(error)) throw error;
        const delayMs = this.delayMs(attempt);
        const { errorType, message } = error as LTMError;
        onRetry?.({ attempt, delayMs, errorType, message });
        await this.wait(delayMs);
      }
    }
  }
}
