import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cacheWrap, DEFAULT_CACHE_TTL_SECONDS } from '../src/cache-wrap.js';
import { failure, LTMError } from '../src/errors.js';
import { MemoryBackend } from '../src/memory-backend.js';
import type { LTMBackend } from '../src/types.js';

const T0 = Date.parse('2025-03-01T12:00:00.000Z');
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

let backend: MemoryBackend;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
  backend = new MemoryBackend();
});

afterEach(async () => {
  vi.useRealTimers();
  await backend.close();
});

/** A counting action with a name, as an agent's action would have. */
function counted<A, R>(produce: (args: A) => R) {
  const calls: A[] = [];
  async function lookUpWeather(args: A): Promise<R> {
    calls.push(args);
    return produce(args);
  }
  return { action: lookUpWeather, calls };
}

/** The backend with some methods replaced, the rest delegated (bound, for its private fields). */
function withFaults(target: LTMBackend, faults: Partial<Pick<LTMBackend, 'store' | 'retrieve'>>): LTMBackend {
  return new Proxy(target, {
    get(object, property) {
      if (property in faults) return faults[property as keyof typeof faults];
      const value = Reflect.get(object, property, object) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}

async function storedKeys(): Promise<string[]> {
  const listed = await backend.list();
  if (!listed.success) throw new Error(listed.error);
  return listed.items.map((item) => item.key);
}

describe('hits and misses', () => {
  it('runs the action on a miss, then serves the cached result without running it', async () => {
    const { action, calls } = counted((args: { city: string }) => ({ city: args.city, tempC: 21 }));
    const first = await cacheWrap(backend, action, { args: { city: 'Lisbon' } });
    expect(first).toEqual({
      success: true,
      result: { city: 'Lisbon', tempC: 21 },
      cacheHit: false,
      cacheKey: `cache:default:lookUpWeather:${sha256('{"city":"Lisbon"}')}`,
      stored: true,
    });
    const second = await cacheWrap(backend, action, { args: { city: 'Lisbon' } });
    expect(second).toEqual({
      success: true,
      result: { city: 'Lisbon', tempC: 21 },
      cacheHit: true,
      cacheKey: first.cacheKey,
      stored: false,
      expiresAt: new Date(T0 + DEFAULT_CACHE_TTL_SECONDS * 1000).toISOString(),
    });
    expect(calls).toHaveLength(1);
  });

  it('keys on the RFC 8785 canonical JSON of the args, so member order does not matter', async () => {
    const { action, calls } = counted(() => 'ok');
    const a = await cacheWrap(backend, action, { args: { b: [1, { d: 2.5, c: 'x' }], a: 1e21 } });
    const b = await cacheWrap(backend, action, { args: { a: 1e21, b: [1, { c: 'x', d: 2.5 }] } });
    expect(a.cacheKey).toBe(`cache:default:lookUpWeather:${sha256('{"a":1e+21,"b":[1,{"c":"x","d":2.5}]}')}`);
    expect(b).toMatchObject({ cacheHit: true, cacheKey: a.cacheKey });
    expect(calls).toHaveLength(1);
  });

  it('keeps different args, agents and actions apart', async () => {
    const { action, calls } = counted((args: number) => args * 2);
    const keys = new Set<string | null>();
    keys.add((await cacheWrap(backend, action, { args: 1 })).cacheKey);
    keys.add((await cacheWrap(backend, action, { args: 2 })).cacheKey);
    keys.add((await cacheWrap(backend, action, { args: 1, agentName: 'planner' })).cacheKey);
    keys.add((await cacheWrap(backend, action, { args: 1, actionName: 'llm.call' })).cacheKey);
    expect(calls).toHaveLength(4);
    expect([...keys]).toEqual([
      `cache:default:lookUpWeather:${sha256('1')}`,
      `cache:default:lookUpWeather:${sha256('2')}`,
      `cache:planner:lookUpWeather:${sha256('1')}`,
      `cache:default:llm.call:${sha256('1')}`,
    ]);
  });

  it('uses an explicit key as given', async () => {
    const { action } = counted(() => 'v');
    expect((await cacheWrap(backend, action, { args: { x: 1 }, key: 'my:key' })).cacheKey).toBe('my:key');
    expect(await backend.retrieve('my:key')).toMatchObject({
      found: true,
      value: { result: 'v' },
      metadata: { type: 'cache', agent: 'default', action: 'lookUpWeather' },
    });
    expect(await cacheWrap(backend, action, { args: { x: 2 }, key: 'my:key' })).toMatchObject({ cacheHit: true, result: 'v' });
  });

  it('hashes absent args as null', async () => {
    async function ping(): Promise<string> {
      return 'pong';
    }
    expect((await cacheWrap(backend, ping, { args: undefined })).cacheKey).toBe(`cache:default:ping:${sha256('null')}`);
  });

  it('accepts a synchronous action', async () => {
    const add = (args: { a: number; b: number }): number => args.a + args.b;
    expect(await cacheWrap(backend, add, { args: { a: 2, b: 3 } })).toMatchObject({ result: 5, cacheHit: false, stored: true });
    expect(await cacheWrap(backend, add, { args: { a: 2, b: 3 } })).toMatchObject({ result: 5, cacheHit: true });
  });

  it.each([null, false, 0, '', [], {}])('caches the falsy or empty result %j and serves it as a hit', async (value) => {
    const { action, calls } = counted(() => value);
    expect(await cacheWrap(backend, action, { args: 'q' })).toMatchObject({ result: value, cacheHit: false, stored: true });
    expect(await cacheWrap(backend, action, { args: 'q' })).toMatchObject({ result: value, cacheHit: true });
    expect(calls).toHaveLength(1);
  });

  it('returns the JSON form of the result on the miss too, so hit and miss agree', async () => {
    const { action } = counted(() => ({ at: new Date(T0), gone: undefined, list: [undefined] }));
    const miss = await cacheWrap(backend, action, { args: 1 });
    const hit = await cacheWrap(backend, action, { args: 1 });
    expect(miss.result).toEqual({ at: '2025-03-01T12:00:00.000Z', list: [null] });
    expect(hit.result).toEqual(miss.result);
  });

  it('treats an entry of another shape under the key as a miss and overwrites it', async () => {
    await backend.store('shared', 'written by something else');
    const { action, calls } = counted(() => 'fresh');
    expect(await cacheWrap(backend, action, { args: 1, key: 'shared' })).toMatchObject({ cacheHit: false, result: 'fresh', stored: true });
    expect(await cacheWrap(backend, action, { args: 1, key: 'shared' })).toMatchObject({ cacheHit: true, result: 'fresh' });
    expect(calls).toHaveLength(1);
  });
});

describe('expiry', () => {
  it('stores with the TTL asked for, 60 days by default', async () => {
    const { action } = counted(() => 1);
    const cases = [
      [{}, DEFAULT_CACHE_TTL_SECONDS],
      [{ ttlSeconds: 90 }, 90],
      [{ ttlHours: 2 }, 7200],
      [{ ttlDays: 0.5 }, 43_200],
    ] as const;
    expect(DEFAULT_CACHE_TTL_SECONDS).toBe(60 * 86_400);
    for (const [index, [ttl, seconds]] of cases.entries()) {
      const { cacheKey } = await cacheWrap(backend, action, { args: index, ...ttl });
      expect(await backend.retrieve(cacheKey ?? '')).toMatchObject({
        found: true,
        expiresAt: new Date(T0 + seconds * 1000).toISOString(),
      });
    }
  });

  it('runs the action again once the entry expired, stores the result again, and then hits', async () => {
    let temperature = 20;
    const { action, calls } = counted(() => ({ tempC: temperature }));
    const options = { args: { city: 'Oslo' }, ttlSeconds: 3600 };
    expect(await cacheWrap(backend, action, options)).toMatchObject({ cacheHit: false, stored: true });

    vi.setSystemTime(T0 + 3_599_999);
    expect(await cacheWrap(backend, action, options)).toMatchObject({ cacheHit: true, result: { tempC: 20 } });

    vi.setSystemTime(T0 + 3_600_000);
    const again = await cacheWrap(backend, action, options);
    expect(again).toMatchObject({ cacheHit: false, stored: true, result: { tempC: 20 } });
    expect(calls).toHaveLength(2);

    temperature = 25; // the cached result is served, not this one
    vi.setSystemTime(T0 + 3_600_001);
    expect(await cacheWrap(backend, action, options)).toEqual({
      success: true,
      result: { tempC: 20 },
      cacheHit: true,
      cacheKey: again.cacheKey,
      stored: false,
      expiresAt: new Date(T0 + 7_200_000).toISOString(),
    });
    expect(calls).toHaveLength(2);
  });

  it('skipCache runs the action despite a cached result and refreshes the entry', async () => {
    let version = 1;
    const { action, calls } = counted(() => ({ version }));
    await cacheWrap(backend, action, { args: 'a' });
    version = 2;
    vi.setSystemTime(T0 + 1000);
    expect(await cacheWrap(backend, action, { args: 'a', skipCache: true })).toMatchObject({
      cacheHit: false,
      stored: true,
      result: { version: 2 },
    });
    expect(await cacheWrap(backend, action, { args: 'a' })).toMatchObject({
      cacheHit: true,
      result: { version: 2 },
      expiresAt: new Date(T0 + 1000 + DEFAULT_CACHE_TTL_SECONDS * 1000).toISOString(),
    });
    expect(calls).toHaveLength(2);
  });
});

describe('when the action fails', () => {
  it('rethrows its error and caches nothing', async () => {
    const boom = new Error('upstream API down');
    const { action } = counted(() => {
      throw boom;
    });
    await expect(cacheWrap(backend, action, { args: 1 })).rejects.toBe(boom);
    expect(await storedKeys()).toEqual([]);
  });
});

describe('args and results JSON cannot represent', () => {
  it.each([
    ['NaN', { n: Number.NaN }],
    ['a BigInt', { id: 10n }],
    ['a cycle', (() => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      return cyclic;
    })()],
  ])('args with %s: the call runs uncached and says why', async (_what, args) => {
    const { action, calls } = counted(() => 'ran');
    for (let i = 0; i < 2; i++) {
      const result = await cacheWrap(backend, action, { args });
      expect(result).toMatchObject({ success: true, result: 'ran', cacheHit: false, cacheKey: null, stored: false });
      expect(result.cacheError).toMatchObject({ stage: 'key', errorType: 'serialization_error', retryable: false });
    }
    expect(calls).toEqual([args, args]);
    expect(await storedKeys()).toEqual([]);
  });

  it('such args are cached under an explicit key', async () => {
    const { action, calls } = counted(() => 'ran');
    await cacheWrap(backend, action, { args: { n: Number.NaN }, key: 'k' });
    expect(await cacheWrap(backend, action, { args: { n: Number.NaN }, key: 'k' })).toMatchObject({ cacheHit: true });
    expect(calls).toHaveLength(1);
  });

  it('a result JSON cannot represent is returned as given, uncached, and reported', async () => {
    const values = [undefined, 10n, { score: Number.POSITIVE_INFINITY }];
    for (const [index, value] of values.entries()) {
      const { action } = counted(() => value);
      const result = await cacheWrap(backend, action, { args: index });
      expect(result).toMatchObject({ cacheHit: false, stored: false });
      expect(result.result).toBe(value);
      expect(result.cacheError).toMatchObject({ stage: 'result', errorType: 'serialization_error' });
    }
    expect(await storedKeys()).toEqual([]);
  });
});

describe('a failing LTM never breaks the call', () => {
  it('a retrieve that resolves to a failure: the action runs and the store is still tried', async () => {
    const broken = withFaults(backend, { retrieve: async () => failure('connection_error', 'network unreachable') });
    const { action, calls } = counted(() => 'fresh');
    const result = await cacheWrap(broken, action, { args: 1 });
    expect(result).toMatchObject({ success: true, result: 'fresh', cacheHit: false, stored: true });
    expect(result.cacheError).toEqual({ stage: 'retrieve', error: 'network unreachable', errorType: 'connection_error', retryable: true });
    expect(calls).toHaveLength(1);
    expect(await backend.retrieve(result.cacheKey ?? '')).toMatchObject({ found: true, value: { result: 'fresh' } });
  });

  it('a retrieve that throws', async () => {
    const broken = withFaults(backend, {
      retrieve: async () => {
        throw new TypeError('driver exploded');
      },
    });
    const result = await cacheWrap(broken, counted(() => 7).action, { args: 1 });
    expect(result).toMatchObject({ result: 7, cacheHit: false, stored: true });
    expect(result.cacheError).toEqual({ stage: 'retrieve', error: 'driver exploded', errorType: 'query_error', retryable: false });
  });

  it('a store that resolves to a failure or throws', async () => {
    const failing = withFaults(backend, { store: async () => failure('rate_limited', 'slow down') });
    const first = await cacheWrap(failing, counted(() => 'a').action, { args: 1 });
    expect(first).toMatchObject({ result: 'a', stored: false });
    expect(first.cacheError).toEqual({ stage: 'store', error: 'slow down', errorType: 'rate_limited', retryable: true });
    expect(first.readOnly).toBeUndefined();

    const throwing = withFaults(backend, {
      store: async () => {
        throw new LTMError('circuit_open', 'circuit open after 5 failures');
      },
    });
    const second = await cacheWrap(throwing, counted(() => 'b').action, { args: 2 });
    expect(second).toMatchObject({ result: 'b', stored: false });
    expect(second.cacheError).toMatchObject({ stage: 'store', errorType: 'circuit_open' });
    expect(await storedKeys()).toEqual([]);
  });

  it('both failing reports the first problem', async () => {
    const broken = withFaults(backend, {
      retrieve: async () => failure('auth_failed', 'bad credentials'),
      store: async () => failure('auth_failed', 'bad credentials on write'),
    });
    const result = await cacheWrap(broken, counted(() => 1).action, { args: 1 });
    expect(result).toMatchObject({ result: 1, stored: false, cacheError: { stage: 'retrieve', error: 'bad credentials' } });
  });

  it('a closed backend', async () => {
    await backend.close();
    const result = await cacheWrap(backend, counted(() => 'still works').action, { args: 1 });
    expect(result).toMatchObject({ result: 'still works', stored: false, cacheError: { stage: 'retrieve', errorType: 'backend_closed' } });
  });

  it('an invalid explicit key is an LTM problem too, not an exception', async () => {
    const result = await cacheWrap(backend, counted(() => 'ok').action, { args: 1, key: 'x'.repeat(2000) });
    expect(result).toMatchObject({ result: 'ok', stored: false, cacheError: { stage: 'retrieve', errorType: 'validation_error' } });
  });
});

describe('a read-only backend', () => {
  const readOnly = (target: LTMBackend): LTMBackend =>
    withFaults(target, { store: async () => failure('read_only', 'the .duckdb file on s3:// is read-only; use format: parquet') });

  it('is reported in every result and warned about once per backend', async () => {
    await backend.store('cache:default:lookUpWeather:' + sha256('"cached"'), { result: 'from the file' });
    const first = readOnly(backend);
    const other = new MemoryBackend();
    const second = readOnly(other);
    const warn = vi.fn<(message: string) => void>();
    const { action, calls } = counted(() => 'computed');

    const a = await cacheWrap(first, action, { args: 1, logger: { warn } });
    const b = await cacheWrap(first, action, { args: 2, logger: { warn } });
    expect(a).toMatchObject({ result: 'computed', stored: false, readOnly: true, cacheError: { stage: 'store', errorType: 'read_only' } });
    expect(b).toMatchObject({ readOnly: true });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toContain('LTM backend "memory" is read-only, so results are not cached');
    expect(warn.mock.calls[0]?.[0]).toContain('use format: parquet');

    // Existing entries are still served.
    expect(await cacheWrap(first, action, { args: 'cached', logger: { warn } })).toMatchObject({ cacheHit: true, result: 'from the file' });

    await cacheWrap(second, action, { args: 1, logger: { warn } });
    await cacheWrap(second, action, { args: 1, logger: { warn } });
    expect(warn).toHaveBeenCalledTimes(2);
    expect(calls).toHaveLength(4);
    await other.close();
  });
});

describe('mistakes in the call itself reject before the action runs', () => {
  const run = vi.fn(async () => 'never');

  it.each([
    ['two TTL options', { args: 1, ttlSeconds: 1, ttlDays: 1 }, 'at most one of ttlSeconds, ttlHours, ttlDays; got ttlSeconds and ttlDays'],
    ['a zero TTL', { args: 1, ttlHours: 0 }, 'ttlHours must be a positive finite number'],
    ['an infinite TTL', { args: 1, ttlSeconds: Number.POSITIVE_INFINITY }, 'ttlSeconds must be a positive finite number'],
    ['a non-string key', { args: 1, key: 5 }, 'key must be a string'],
    ['a non-boolean skipCache', { args: 1, skipCache: 'yes' }, 'skipCache must be true or false'],
    ['a colon in the agent name', { args: 1, agentName: 'a:b' }, 'agentName must not contain ":"'],
    ['an empty action name', { args: 1, actionName: '' }, 'actionName must be a non-empty string'],
  ])('%s', async (_what, options, message) => {
    const error = await cacheWrap(backend, run, options as never).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(LTMError);
    expect((error as LTMError).errorType).toBe('validation_error');
    expect((error as LTMError).message).toContain(message);
    expect(run).not.toHaveBeenCalled();
  });

  it('an anonymous action without actionName or key', async () => {
    const error = await cacheWrap(backend, (() => (args: number) => args)(), { args: 1 }).catch((reason: unknown) => reason);
    expect((error as LTMError).message).toContain('the action is an anonymous function; give actionName (or key)');
    expect(await cacheWrap(backend, (() => (args: number) => args)(), { args: 1, actionName: 'identity' })).toMatchObject({
      cacheKey: `cache:default:identity:${sha256('1')}`,
    });
  });

  it('no backend or no action', async () => {
    await expect(cacheWrap(undefined as unknown as LTMBackend, run, { args: 1 })).rejects.toThrow('cacheWrap needs an LTMBackend');
    await expect(cacheWrap(backend, 'run' as unknown as typeof run, { args: 1 })).rejects.toThrow('needs the action function');
    await expect(cacheWrap(backend, run, undefined as never)).rejects.toThrow('cacheWrap needs options');
  });
});
