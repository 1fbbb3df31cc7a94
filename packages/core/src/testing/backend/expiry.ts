import type { ExpiryOptions, LTMBackend } from '../../types.js';
import { assertIsoUtc, check, failedWith, same, sleepPast, succeeded, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { found, listAll, missing, searchAll, writable } from './common.js';

/** Short enough to keep the suite fast; long enough that no check depends on a store finishing in time. */
const SHORT_MS = 300;
const HOUR_MS = 3_600_000;

/** Stores entries that expire SHORT_MS from now in every way the protocol allows, and returns their keys. */
async function storeShortLived(backend: LTMBackend, word: string): Promise<{ keys: string[]; expiredAfter: number }> {
  const at = Date.now() + SHORT_MS;
  const ways: Array<[string, ExpiryOptions]> = [
    ['by-ttl', { ttlSeconds: SHORT_MS / 1000 }],
    ['by-date', { expiresAt: new Date(at) }],
    ['by-iso', { expiresAt: new Date(at).toISOString() }],
    ['by-ms', { expiresAt: at }],
  ];
  for (const [key, options] of ways) await succeeded(backend.store(key, `${word} ${key}`, { kind: 'short' }, options), `store ${key}`);
  await succeeded(backend.storeMany([{ key: 'by-batch', value: `${word} by-batch`, metadata: { kind: 'short' }, ttlSeconds: SHORT_MS / 1000 }]), 'storeMany with ttlSeconds');
  // ttlSeconds counts from the backend's clock when it handled the call, at the latest now.
  return { keys: ['by-batch', ...ways.map(([key]) => key)], expiredAfter: Date.now() + SHORT_MS };
}

export const expiryChecks: BackendCheck[] = [
  {
    name: 'expiry: ttlSeconds and expiresAt (Date, ISO string, epoch ms) are kept and reported as expiresAt',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const at = Date.UTC(2100, 0, 2, 3, 4, 5, 678);
        const before = Date.now();
        await succeeded(backend.store('ttl', 1, null, { ttlSeconds: 3600 }), 'store with ttlSeconds');
        const after = Date.now();
        await succeeded(backend.store('date', 1, null, { expiresAt: new Date(at) }), 'store with expiresAt as a Date');
        await succeeded(backend.store('iso', 1, null, { expiresAt: new Date(at).toISOString() }), 'store with expiresAt as an ISO string');
        await succeeded(backend.store('offset', 1, null, { expiresAt: '2100-01-02T05:04:05.678+02:00' }), 'store with expiresAt as an ISO string with an offset');
        await succeeded(backend.store('ms', 1, null, { expiresAt: at }), 'store with expiresAt as epoch ms');
        await succeeded(backend.store('forever', 1), 'store without expiry');

        const ttl = assertIsoUtc((await found(backend, 'ttl', 'retrieve ttl')).expiresAt, 'expiresAt of a ttlSeconds entry');
        check(ttl >= before + HOUR_MS - 1000 && ttl <= after + HOUR_MS + 1000, `ttlSeconds: 3600 must expire an hour after the store, got ${new Date(ttl).toISOString()}`);
        for (const key of ['date', 'iso', 'offset', 'ms']) {
          const expiresAt = assertIsoUtc((await found(backend, key, `retrieve ${key}`)).expiresAt, `expiresAt of ${key}`);
          same(expiresAt, at, `expiresAt given as ${key} is reported as the same instant`);
        }
        const forever = await found(backend, 'forever', 'retrieve forever');
        check(!('expiresAt' in forever), 'an entry without expiry has no expiresAt member');
        const many = await succeeded(backend.retrieveMany(['date', 'forever']), 'retrieveMany');
        const [date, plain] = many.items;
        check(date?.found === true && date.expiresAt !== undefined && Date.parse(date.expiresAt) === at, 'retrieveMany reports expiresAt');
        check(plain?.found === true && !('expiresAt' in plain), 'retrieveMany: no expiresAt member without expiry');
      });
    },
  },
  {
    name: 'expiry: expired entries are invisible to retrieve, retrieveMany, search and list at once',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('keep', 'ephemeral keeper', { kind: 'keep' }), 'store keep');
        const past = await backend.store('past', 'ephemeral past', null, { expiresAt: Date.now() - 1000 });
        if (past.success) await missing(backend, 'past', 'an entry stored with expiresAt in the past');
        const { keys, expiredAfter } = await storeShortLived(backend, 'ephemeral');
        await sleepPast(expiredAfter);

        for (const key of keys) await missing(backend, key, `retrieve ${key} after it expired`);
        const many = await succeeded(backend.retrieveMany(keys), 'retrieveMany after expiry');
        for (const item of many.items) same(item, { key: item.key, found: false, value: null, metadata: null }, `retrieveMany of expired ${item.key}`);
        same(await listAll(backend, {}, 'list after expiry'), ['keep'], 'list after expiry');
        same(await listAll(backend, { prefix: 'by-' }, 'list with prefix after expiry'), [], 'list with a prefix after expiry');
        same((await searchAll(backend, {}, 'search() after expiry')).map((hit) => hit.key), ['keep'], 'search() after expiry');
        same((await searchAll(backend, { filter: { kind: 'short' } }, 'search with a filter after expiry')).map((hit) => hit.key), [], 'search with a filter after expiry');
        if (harness.capabilities.fullTextSearch) {
          same((await searchAll(backend, { query: 'ephemeral' }, 'search(query) after expiry')).map((hit) => hit.key), ['keep'], 'search(query) after expiry');
        }
        same((await succeeded(backend.stats(), 'stats()')).entries, 1, 'stats().entries counts live entries only');
        same((await succeeded(backend.delete('by-ttl'), 'delete an expired key')).deleted, false, 'deleting an expired key deletes nothing live');
      });
    },
  },
  {
    name: 'expiry: a store without TTL clears the TTL; a store over an expired entry is a create',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('cleared', 1, null, { ttlSeconds: SHORT_MS / 1000 }), 'store cleared with a TTL');
        await succeeded(backend.store('cleared', 2), 'store cleared again without TTL');
        await succeeded(backend.store('renewed', 1, null, { ttlSeconds: SHORT_MS / 1000 }), 'store renewed with a TTL');
        await succeeded(backend.store('batched', 1, null, { ttlSeconds: SHORT_MS / 1000 }), 'store batched with a TTL');
        // The first createdAt of renewed is at the latest now; reading it back could race its expiry.
        const firstCreatedAt = Date.now();
        await sleepPast(firstCreatedAt + SHORT_MS);

        check(!('expiresAt' in (await found(backend, 'cleared', 'retrieve cleared'))), 'a store without TTL clears expiresAt');

        same((await found(backend, 'cleared', 'retrieve cleared after the old TTL')).value, 2, 'the entry whose TTL was cleared outlives the old TTL');
        same((await succeeded(backend.store('renewed', 2), 'store over the expired entry')).created, true, 'a store over an expired entry is a create');
        const renewed = await found(backend, 'renewed', 'retrieve renewed');
        check(Date.parse(renewed.createdAt) > firstCreatedAt, 'a store over an expired entry starts a new createdAt');
        same(renewed.value, 2, 'the new value is stored');
        same((await succeeded(backend.storeMany([{ key: 'batched', value: 2 }]), 'storeMany over an expired entry')).created, 1, 'storeMany over an expired entry counts a create');
      });
    },
  },
  {
    name: 'expiry: invalid expiry options are a validation_error',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const invalid: Array<[string, unknown]> = [
          ['ttlSeconds 0', { ttlSeconds: 0 }],
          ['a negative ttlSeconds', { ttlSeconds: -5 }],
          ['ttlSeconds NaN', { ttlSeconds: Number.NaN }],
          ['ttlSeconds Infinity', { ttlSeconds: Number.POSITIVE_INFINITY }],
          ['ttlSeconds as a string', { ttlSeconds: '60' }],
          ['ttlSeconds beyond any date', { ttlSeconds: 1e300 }],
          ['expiresAt that is not a date', { expiresAt: 'not a date' }],
          ['expiresAt as an object', { expiresAt: {} }],
          ['expiresAt NaN', { expiresAt: Number.NaN }],
          ['expiresAt true', { expiresAt: true }],
          ['an invalid Date', { expiresAt: new Date(Number.NaN) }],
          ['expiresAt beyond any date', { expiresAt: 8.64e15 + 1 }],
          ['both ttlSeconds and expiresAt', { ttlSeconds: 60, expiresAt: Date.now() + 60_000 }],
        ];
        for (const [label, options] of invalid) {
          await failedWith(backend.store('bad', 1, null, options as ExpiryOptions), 'validation_error', `store with ${label}`);
          await failedWith(backend.storeMany([{ key: 'bad', value: 1, ...(options as ExpiryOptions) }]), 'validation_error', `storeMany with ${label}`);
        }
        await missing(backend, 'bad', 'nothing with invalid expiry was stored');
      });
    },
  },
  {
    name: 'expiry: cleanupExpired removes expired entries and reports how many',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('forever', 1), 'store forever');
        await succeeded(backend.store('later', 1, null, { ttlSeconds: 3600 }), 'store later');
        const { keys, expiredAfter } = await storeShortLived(backend, 'short');
        await sleepPast(expiredAfter);
        same((await succeeded(backend.cleanupExpired(), 'cleanupExpired()')).removed, keys.length, 'cleanupExpired reports every expired entry');
        same((await succeeded(backend.cleanupExpired(), 'cleanupExpired() again')).removed, 0, 'a second cleanupExpired finds nothing');
        same(await listAll(backend, {}, 'list'), ['forever', 'later'], 'live entries stay');
        same((await succeeded(backend.stats(), 'stats()')).entries, 2, 'stats().entries');
      });
    },
  },
];
