import { LTMError } from '@ltm/core';
import { describe, expect, it } from 'vitest';
import { classifyDuckDBError } from '../src/index.js';
import { CircuitBreaker, type CircuitTransition } from '../src/resilience/circuit-breaker.js';
import { RetryPolicy, type RetryEvent } from '../src/resilience/retry.js';

// Real DuckDB message shapes, classified the way the engine classifies them.
const refused = () => classifyDuckDBError(new Error("IO Error: Could not connect to server error for HTTP HEAD to 'http://127.0.0.1:9/b/x'"));
const timedOut = () => classifyDuckDBError(new Error("IO Error: Timeout was reached error for HTTP GET to 'http://127.0.0.1:9/b/x'"));
const serverError = () => classifyDuckDBError(new Error("HTTP Error: HTTP GET error on 'http://127.0.0.1:9/b/x' (HTTP 503)"));
const throttled = () => classifyDuckDBError(new Error("HTTP Error: HTTP GET error on 'http://127.0.0.1:9/b/x' (HTTP 429)"));
const forbidden = () => classifyDuckDBError(new Error("HTTP Error: HTTP GET error on 'http://127.0.0.1:9/b/x' (HTTP 403)"));
const badInput = () => classifyDuckDBError(new Error('Binder Error: Referenced column "x" not found'));

/** A breaker on a clock the test moves by hand. */
function breakerAt(options: ConstructorParameters<typeof CircuitBreaker>[0]) {
  const clock = { now: 0 };
  const breaker = new CircuitBreaker(options, () => clock.now);
  const transitions: CircuitTransition[] = [];
  breaker.onTransition((t) => transitions.push(t));
  const fail = (error: () => LTMError) => breaker.execute(() => Promise.reject(error())).catch((e: unknown) => e as LTMError);
  const succeed = () => breaker.execute(() => Promise.resolve('ok'));
  return { breaker, clock, transitions, fail, succeed };
}

describe('CircuitBreaker', () => {
  it('opens after the threshold of infrastructure failures within the window, then fails fast without calling', async () => {
    const { breaker, clock, transitions, fail } = breakerAt({ failureThreshold: 3, windowMs: 1_000, recoveryTimeoutMs: 500 });
    await fail(refused);
    clock.now = 100;
    await fail(timedOut);
    expect(breaker.state).toBe('closed');
    clock.now = 200;
    expect((await fail(serverError)).errorType).toBe('connection_error');
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual([{ from: 'closed', to: 'open', reason: expect.stringContaining('3 infrastructure failures within 1000 ms') }]);

    let called = false;
    const rejected = (await breaker.execute(async () => (called = true)).catch((e: unknown) => e)) as LTMError;
    expect(called).toBe(false);
    expect(rejected).toMatchObject({ errorType: 'circuit_open', retryable: true });
    expect(rejected.message).toContain('the next probe may pass in 500 ms');
    expect(breaker.stats()).toMatchObject({ state: 'open', failuresInWindow: 3, opened: 1, rejected: 1, probeInMs: 500 });
  });

  it('counts failures in a sliding window: old failures drop out', async () => {
    const { breaker, clock, fail } = breakerAt({ failureThreshold: 3, windowMs: 1_000 });
    await fail(refused);
    clock.now = 600;
    await fail(refused);
    clock.now = 1_100; // the first failure is now outside the window
    await fail(refused);
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().failuresInWindow).toBe(2);
    clock.now = 1_200;
    await fail(refused);
    expect(breaker.state).toBe('open');
  });

  it('never counts bad input, auth failures or throttling', async () => {
    const { breaker, fail } = breakerAt({ failureThreshold: 2 });
    for (let i = 0; i < 10; i++) {
      await fail(badInput);
      await fail(forbidden);
      await fail(throttled);
      await fail(() => new LTMError('validation_error', 'bad key'));
    }
    expect(breaker.state).toBe('closed');
    expect(breaker.stats().failuresInWindow).toBe(0);
  });

  it('half-open lets exactly one probe through; the others fail fast while it runs; success closes', async () => {
    const { breaker, clock, transitions, fail } = breakerAt({ failureThreshold: 1, recoveryTimeoutMs: 500 });
    await fail(refused);
    clock.now = 499;
    expect((await fail(refused)).errorType).toBe('circuit_open');
    clock.now = 500;
    let release!: () => void;
    const probe = breaker.execute(() => new Promise<string>((resolve) => (release = () => resolve('probed'))));
    expect(breaker.state).toBe('half_open');
    const others = await Promise.all([1, 2, 3].map(() => breaker.execute(async () => 'not run').catch((e: unknown) => e as LTMError)));
    expect(others.map((e) => (e as LTMError).errorType)).toEqual(['circuit_open', 'circuit_open', 'circuit_open']);
    expect((others[0] as LTMError).message).toContain('a probe call is in flight');
    release();
    expect(await probe).toBe('probed');
    expect(breaker.state).toBe('closed');
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['closed->open', 'open->half_open', 'half_open->closed']);
    expect(await breaker.execute(async () => 1)).toBe(1);
  });

  it('a failed probe opens the circuit again for another recovery timeout', async () => {
    const { breaker, clock, transitions, fail } = breakerAt({ failureThreshold: 1, recoveryTimeoutMs: 500 });
    await fail(refused);
    clock.now = 600;
    await fail(timedOut); // the probe
    expect(breaker.state).toBe('open');
    expect(transitions.at(-1)).toEqual({ from: 'half_open', to: 'open', reason: expect.stringContaining('the probe call failed') });
    clock.now = 1_000;
    expect((await fail(refused)).errorType).toBe('circuit_open');
    clock.now = 1_100;
    expect(await breaker.execute(async () => 'back')).toBe('back');
    expect(breaker.stats()).toMatchObject({ state: 'closed', opened: 2, failuresInWindow: 0 });
  });

  it('a probe the service answered (403) closes; a probe that never reached it (bad SQL) leaves the next call to probe', async () => {
    const { breaker, clock, fail } = breakerAt({ failureThreshold: 1, recoveryTimeoutMs: 10 });
    await fail(refused);
    clock.now = 10;
    await fail(badInput);
    expect(breaker.state).toBe('half_open');
    await fail(forbidden);
    expect(breaker.state).toBe('closed');
  });

  it('validates its options', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold must be an integer >= 1/);
    expect(() => new CircuitBreaker({ windowMs: 1.5 })).toThrow(/windowMs/);
  });
});

describe('RetryPolicy', () => {
  const noWait = () => Promise.resolve();

  it('retries transient failures with growing, jittered waits, then gives up with the last error', async () => {
    const waits: number[] = [];
    const policy = new RetryPolicy({ retries: 3, baseDelayMs: 100, maxDelayMs: 300 }, () => 0.5, async (ms) => waits.push(ms));
    const events: RetryEvent[] = [];
    let calls = 0;
    const error = await policy
      .run(async () => {
        calls++;
        throw calls % 2 ? refused() : serverError();
      }, (e) => events.push(e))
      .catch((e: unknown) => e as LTMError);
    expect(calls).toBe(4);
    expect(error.errorType).toBe('connection_error');
    // half of the ceiling plus half of it times random(): 100, 200, then capped at 300.
    expect(waits).toEqual([75, 150, 225]);
    expect(events.map((e) => [e.attempt, e.delayMs, e.errorType])).toEqual([
      [1, 75, 'connection_error'],
      [2, 150, 'connection_error'],
      [3, 225, 'connection_error'],
    ]);
  });

  it('jitter spreads waits between half and all of the ceiling', () => {
    expect(new RetryPolicy({ baseDelayMs: 1_000 }, () => 0).delayMs(1)).toBe(500);
    expect(new RetryPolicy({ baseDelayMs: 1_000 }, () => 0.999_999).delayMs(1)).toBe(1_000);
    expect(new RetryPolicy({ baseDelayMs: 1_000, maxDelayMs: 2_000 }, () => 0).delayMs(5)).toBe(1_000);
  });

  it('succeeds on a later attempt', async () => {
    const policy = new RetryPolicy({ retries: 2 }, Math.random, noWait);
    let calls = 0;
    expect(await policy.run(async () => (++calls < 3 ? Promise.reject(timedOut()) : 'third time'))).toBe('third time');
  });

  it('never retries bad input, auth failures, missing extensions or an open circuit', async () => {
    const policy = new RetryPolicy({ retries: 5 }, Math.random, noWait);
    for (const make of [badInput, forbidden, () => new LTMError('circuit_open', 'open', { retryable: true })]) {
      let calls = 0;
      await policy.run(async () => {
        calls++;
        throw make();
      }).catch(() => undefined);
      expect(calls).toBe(1);
    }
  });

  it('retries throttling (429)', async () => {
    let calls = 0;
    await new RetryPolicy({ retries: 1 }, Math.random, noWait).run(async () => {
      calls++;
      throw throttled();
    }).catch(() => undefined);
    expect(calls).toBe(2);
  });

  it('is bounded and validated', () => {
    expect(() => new RetryPolicy({ retries: 11 })).toThrow(/at most 10/);
    expect(() => new RetryPolicy({ maxDelayMs: 120_000 })).toThrow(/at most 60000/);
    expect(() => new RetryPolicy({ retries: -1 })).toThrow(/retries must be an integer >= 0/);
    expect(new RetryPolicy({ retries: 0 }).retries).toBe(0);
  });
});
