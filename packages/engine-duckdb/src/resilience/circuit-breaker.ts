import { LTMError } from '@ltm/core';
import { failureOrigin, isInfrastructureFailure, type FailureOrigin } from '../errors.js';
import { positiveInteger } from '../options.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Infrastructure failures within `windowMs` that open the circuit (default 5). */
  failureThreshold?: number;
  /** The sliding window failures are counted in (default 30 000 ms). */
  windowMs?: number;
  /** How long the circuit stays open before one probe call may pass (default 10 000 ms). */
  recoveryTimeoutMs?: number;
}

export interface CircuitTransition {
  from: CircuitState;
  to: CircuitState;
  /** Why, in words (failure counts, the probe's outcome); never a credential. */
  reason: string;
}

export interface CircuitStats {
  state: CircuitState;
  /** Infrastructure failures inside the current window. */
  failuresInWindow: number;
  failureThreshold: number;
  windowMs: number;
  recoveryTimeoutMs: number;
  /** While open: milliseconds until a probe call may pass. */
  probeInMs?: number;
  /** How many times the circuit has opened. */
  opened: number;
  /** Calls refused with `circuit_open`. */
  rejected: number;
  /** The failure that last counted, as reported to the caller (already redacted). */
  lastFailure?: { errorType: string; message: string };
}

const DEFAULTS = { failureThreshold: 5, windowMs: 30_000, recoveryTimeoutMs: 10_000 };

/** Origins that prove the service answered: a probe that meets one shows the infrastructure is back. */
const ANSWERED: ReadonlySet<FailureOrigin> = new Set(['auth', 'not_found', 'throttled']);

/**
 * A circuit breaker over calls that reach remote storage.
 *
 * - **closed**: calls pass; each infrastructure failure (network, timeout, HTTP 5xx: see
 *   `isInfrastructureFailure`) is recorded with its time, and `failureThreshold` of them within the sliding
 *   `windowMs` open the circuit. Bad input, missing objects, auth and throttling never count.
 * - **open**: calls fail at once with `circuit_open` (retryable) instead of waiting on timeouts, until
 *   `recoveryTimeoutMs` has passed.
 * - **half_open**: exactly one call (the probe) passes; the others fail fast as if open. A probe that
 *   succeeds, or that the service answered (auth, not found, throttled), closes the circuit; an
 *   infrastructure failure opens it again for another `recoveryTimeoutMs`; a probe that failed before reaching
 *   the service (a statement error) proves nothing, and the next call probes instead.
 *
 * Time is measured with a monotonic clock, so wall-clock jumps neither open nor close the circuit.
 */
export class CircuitBreaker {
  private current: CircuitState = 'closed';
  private failures: number[] = [];
  private openedAt = 0;
  private probing = false;
  private opens = 0;
  private rejections = 0;
  private last: { errorType: string; message: string } | undefined;
  private readonly listeners = new Set<(transition: CircuitTransition) => void>();
  private readonly failureThreshold: number;
  private readonly windowMs: number;
  private readonly recoveryTimeoutMs: number;

  constructor(
    options: CircuitBreakerOptions = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.failureThreshold = positiveInteger('circuitBreaker.failureThreshold', options.failureThreshold, DEFAULTS.failureThreshold, 1);
    this.windowMs = positiveInteger('circuitBreaker.windowMs', options.windowMs, DEFAULTS.windowMs, 1);
    this.recoveryTimeoutMs = positiveInteger('circuitBreaker.recoveryTimeoutMs', options.recoveryTimeoutMs, DEFAULTS.recoveryTimeoutMs, 0);
  }

  get state(): CircuitState {
    return this.current;
  }

  /** Calls `listener` on every state change; returns a function that unsubscribes it. */
  onTransition(listener: (transition: CircuitTransition) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs `fn` if the circuit lets it, recording its outcome; otherwise rejects with `circuit_open`. */
  async execute<T>(fn: () => Promise<T>): Promise<T> {
    const probe = this.admit();
    try {
      const result = await fn();
      if (probe) this.transition('closed', 'the probe call succeeded');
      return result;
    } catch (error) {
      this.record(error, probe);
      throw error;
    } finally {
      if (probe) this.probing = false;
    }
  }

  stats(): CircuitStats {
    this.prune();
    return {
      state: this.current,
      failuresInWindow: this.failures.length,
      failureThreshold: this.failureThreshold,
      windowMs: this.windowMs,
      recoveryTimeoutMs: this.recoveryTimeoutMs,
      ...(this.current === 'open' ? { probeInMs: Math.max(0, Math.ceil(this.openedAt + this.recoveryTimeoutMs - this.now())) } : {}),
      opened: this.opens,
      rejected: this.rejections,
      ...(this.last === undefined ? {} : { lastFailure: { ...this.last } }),
    };
  }

  /** Lets a call through (true when it is the half-open probe) or throws `circuit_open`. */
  private admit(): boolean {
    if (this.current === 'open' && this.now() - this.openedAt >= this.recoveryTimeoutMs) {
      this.transition('half_open', `${this.recoveryTimeoutMs} ms passed since the circuit opened: one probe call may pass`);
    }
    if (this.current === 'closed') return false;
    if (this.current === 'half_open' && !this.probing) {
      this.probing = true;
      return true;
    }
    this.rejections++;
    throw this.openError();
  }

  private record(error: unknown, probe: boolean): void {
    if (isInfrastructureFailure(error)) {
      const at = this.now();
      this.last = describe(error);
      if (probe) {
        this.open(`the probe call failed: ${this.last.message}`);
        return;
      }
      this.failures.push(at);
      this.prune();
      if (this.current === 'closed' && this.failures.length >= this.failureThreshold) {
        this.open(`${this.failures.length} infrastructure failures within ${this.windowMs} ms (last: ${this.last.message})`);
      }
      return;
    }
    const origin = failureOrigin(error);
    if (probe && origin !== undefined && ANSWERED.has(origin)) {
      this.transition('closed', `the probe call reached the service (${origin})`);
    }
  }

  private open(reason: string): void {
    this.openedAt = this.now();
    this.opens++;
    this.transition('open', reason);
  }

  private transition(to: CircuitState, reason: string): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    if (to === 'closed') this.failures = [];
    for (const listener of this.listeners) listener({ from, to, reason });
  }

  private prune(): void {
    const oldest = this.now() - this.windowMs;
    while (this.failures.length > 0 && this.failures[0]! <= oldest) this.failures.shift();
  }

  private openError(): LTMError {
    const wait = Math.max(0, Math.ceil(this.openedAt + this.recoveryTimeoutMs - this.now()));
    const next = this.current === 'half_open' ? 'a probe call is in flight' : `the next probe may pass in ${wait} ms`;
    return new LTMError(
      'circuit_open',
      `the storage service is failing, so calls fail fast without trying it (circuit breaker open${
        this.last === undefined ? '' : `; last failure: ${this.last.message}`
      }); ${next}: retry later`,
      { retryable: true },
    );
  }
}

function describe(error: unknown): { errorType: string; message: string } {
  if (error instanceof LTMError) return { errorType: error.errorType, message: error.message };
  return { errorType: 'query_error', message: String(error) };
}
