import type { JsonValue } from '../../json.js';
import type { StoreItem } from '../../types.js';
import { assertIsoUtc, check, failedWith, same, sortedKeys, succeeded, tick, withBackend, withTimeZone } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { found, listAll, missing, searchAll, writable } from './common.js';

/** Time zones with offsets that are not whole hours, on both sides of UTC. */
const ODD_TIME_ZONES = ['Pacific/Chatham', 'America/St_Johns'];

export const writeChecks: BackendCheck[] = [
  {
    name: 'writes: last writer wins, created is false on update, and a backend reads its own writes',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        same(await succeeded(backend.store('k', 'v1', { a: 1 }), 'first store'), { success: true, stored: true, key: 'k', created: true }, 'the first store creates');
        const first = await found(backend, 'k', 'retrieve after the first store');
        same([first.value, first.metadata], ['v1', { a: 1 }], 'the first store is read back at once');
        const createdAt = assertIsoUtc(first.createdAt, 'createdAt');
        check(assertIsoUtc(first.updatedAt, 'updatedAt') >= createdAt, 'updatedAt is not before createdAt');
        await tick();
        same(await succeeded(backend.store('k', 'v2', { b: 2 }), 'second store'), { success: true, stored: true, key: 'k', created: false }, 'a store over a live key is an update');
        const second = await found(backend, 'k', 'retrieve after the second store');
        same([second.value, second.metadata], ['v2', { b: 2 }], 'the update replaces value and metadata');
        same(second.createdAt, first.createdAt, 'an update keeps createdAt');
        check(Date.parse(second.updatedAt) > Date.parse(first.updatedAt), 'an update moves updatedAt forward');
        for (let round = 3; round <= 6; round += 1) {
          await succeeded(backend.store('k', `v${round}`), `store round ${round}`);
          same((await found(backend, 'k', `retrieve round ${round}`)).value, `v${round}`, 'every store is read back at once');
        }
        same(await listAll(backend, {}, 'list'), ['k'], 'one key, listed once');
        same((await searchAll(backend, {}, 'search()')).map((hit) => [hit.key, hit.value]), [['k', 'v6']], 'search() shows the latest value once');

        same(await succeeded(backend.delete('k'), 'delete'), { success: true, deleted: true, key: 'k' }, 'delete of a live key');
        await missing(backend, 'k', 'retrieve after delete');
        same(await succeeded(backend.delete('k'), 'delete again'), { success: true, deleted: false, key: 'k' }, 'a second delete deletes nothing');
        same(await succeeded(backend.delete('never'), 'delete a key never stored'), { success: true, deleted: false, key: 'never' }, 'delete of an unknown key');
        same((await succeeded(backend.store('k', 'v7'), 'store after delete')).created, true, 'a store after delete creates');
        same((await found(backend, 'k', 'retrieve after re-create')).value, 'v7', 'the re-created value');
      });
    },
  },
  {
    name: 'concurrency: 100 concurrent stores of distinct keys all succeed and are all retrievable',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const keys = Array.from({ length: 100 }, (_, index) => `concurrent-${String(index).padStart(3, '0')}`);
        const results = await Promise.all(keys.map((key, index) => succeeded(backend.store(key, { index }, { index }), `concurrent store ${key}`)));
        check(results.every((result) => result.created), 'every concurrent store of a new key is a create');
        const many = await succeeded(backend.retrieveMany(keys), 'retrieveMany of the 100 keys');
        for (const [index, item] of many.items.entries()) {
          check(item.found && JSON.stringify(item.value) === JSON.stringify({ index }), `${keys[index]} must hold { index: ${index} }`);
        }
        same(await listAll(backend, { limit: 1000 }, 'list'), keys, 'list holds the 100 keys');
        same((await succeeded(backend.stats(), 'stats()')).entries, 100, 'stats().entries');
      });
    },
  },
  {
    name: 'concurrency: concurrent stores to one key leave one of the written values, whole',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, index) => succeeded(backend.store('shared', { index }, { index }), `concurrent store #${index}`)),
        );
        same(results.filter((result) => result.created).length, 1, 'exactly one of the concurrent stores creates the key');
        const entry = await found(backend, 'shared', 'retrieve');
        const index = (entry.value as { index?: JsonValue } | null)?.index;
        check(typeof index === 'number' && index >= 0 && index < 20, `the value must be one of those written, got ${JSON.stringify(entry.value)}`);
        same(entry.metadata, { index }, 'value and metadata come from the same write');
        same(await listAll(backend, {}, 'list'), ['shared'], 'one key');
      });
    },
  },
  {
    name: 'storeMany: one invalid item stores nothing of the batch',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('old', 'original'), 'store old');
        const bad: Array<[string, StoreItem | null, 'validation_error' | 'serialization_error']> = [
          ['an empty key', { key: '', value: 1 }, 'validation_error'],
          ['NaN as value', { key: 'x', value: Number.NaN }, 'serialization_error'],
          ['an undefined value', { key: 'x', value: undefined }, 'serialization_error'],
          ['an array as metadata', { key: 'x', value: 1, metadata: [1] as never }, 'validation_error'],
          ['a negative ttlSeconds', { key: 'x', value: 1, ttlSeconds: -1 }, 'validation_error'],
          ['null instead of an item', null, 'validation_error'],
        ];
        for (const [label, item, errorType] of bad) {
          const batch = [{ key: 'new', value: 1 }, { key: 'old', value: 'changed' }, item] as StoreItem[];
          await failedWith(backend.storeMany(batch), errorType, `storeMany with ${label} as the last item`);
        }
        await failedWith(backend.storeMany('not an array' as never), 'validation_error', 'storeMany with a string');
        same(await listAll(backend, {}, 'list'), ['old'], 'nothing of a refused batch was stored');
        same((await found(backend, 'old', 'retrieve old')).value, 'original', 'an update inside a refused batch was not applied');
      });
    },
  },
  {
    name: 'storeMany: stored and created count items; a key repeated in a batch ends with its last value',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('old-1', 'a'), 'store old-1');
        await succeeded(backend.store('old-2', 'b'), 'store old-2');
        const oldCreatedAt = (await found(backend, 'old-1', 'retrieve old-1')).createdAt;
        const result = await succeeded(
          backend.storeMany([
            { key: 'new-1', value: 1, metadata: { n: 1 } },
            { key: 'old-1', value: 'A' },
            { key: 'new-2', value: 2, ttlSeconds: 3600 },
            { key: 'old-2', value: 'B', metadata: { n: 2 } },
            { key: 'new-3', value: null },
          ]),
          'storeMany of three new and two existing keys',
        );
        same([result.stored, result.created], [5, 3], '[stored, created]');
        same((await found(backend, 'old-1', 'retrieve old-1')).createdAt, oldCreatedAt, 'an update inside storeMany keeps createdAt');
        same((await found(backend, 'old-2', 'retrieve old-2')).metadata, { n: 2 }, 'per-item metadata');
        check((await found(backend, 'new-2', 'retrieve new-2')).expiresAt !== undefined, 'per-item ttlSeconds');
        same(await listAll(backend, {}, 'list'), sortedKeys(['new-1', 'new-2', 'new-3', 'old-1', 'old-2']), 'every item stored');

        const repeated = await succeeded(backend.storeMany([{ key: 'dup', value: 1 }, { key: 'dup', value: 2 }]), 'storeMany with a key twice');
        same([repeated.stored, repeated.created], [2, 1], 'a key twice in one batch: stored 2, created 1 (like two stores in order)');
        same((await found(backend, 'dup', 'retrieve dup')).value, 2, 'the later item of a repeated key wins');
        same(await succeeded(backend.storeMany([]), 'storeMany([])'), { success: true, stored: 0, created: 0 }, 'an empty batch');
      });
    },
  },
  {
    name: 'retrieveMany: answers in the order asked; missing keys are { key, found: false, value: null, metadata: null }',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.storeMany([
          { key: 'b', value: 'B', metadata: { k: 'b' } },
          { key: 'a', value: 'A' },
          { key: 'c', value: 'C' },
          { key: 'n', value: null },
        ]), 'storeMany');
        const asked = ['c', 'missing', 'a', 'n', 'c', 'b'];
        const many = await succeeded(backend.retrieveMany(asked), 'retrieveMany');
        same(many.items.map((item) => item.key), asked, 'items come in the order asked, repeated keys at each position');
        same(many.items[1], { key: 'missing', found: false, value: null, metadata: null }, 'a missing key');
        same(many.items.map((item) => item.value), ['C', null, 'A', null, 'C', 'B'], 'values');
        same(many.items.map((item) => item.found), [true, false, true, true, true, true], 'found flags (a stored null is found)');
        same(many.items[5]?.metadata, { k: 'b' }, 'metadata of a found item');
        for (const item of many.items) {
          if (!item.found) continue;
          assertIsoUtc(item.createdAt, `createdAt of ${item.key}`);
          assertIsoUtc(item.updatedAt, `updatedAt of ${item.key}`);
        }
        same(await succeeded(backend.retrieveMany([]), 'retrieveMany([])'), { success: true, items: [] }, 'no keys, no items');
        await failedWith(backend.retrieveMany('a' as never), 'validation_error', 'retrieveMany with a string instead of an array');
      });
    },
  },
  {
    name: 'timestamps: ISO-8601 UTC strings whatever process.env.TZ',
    appliesTo: writable,
    async run(harness) {
      for (const zone of ODD_TIME_ZONES) {
        // Set before opening: engines read the zone when they start, as they would on a user's machine.
        await withTimeZone(zone, () => withBackend(harness, async (backend) => {
          const before = Date.now();
          await succeeded(backend.store('k', new Date(Date.UTC(2024, 6, 1, 12)), { at: new Date(Date.UTC(2024, 0, 1)) } as never, { expiresAt: '2100-06-01T12:00:00+05:30' }), `store under TZ=${zone}`);
          const after = Date.now();
          const entry = await found(backend, 'k', `retrieve under TZ=${zone}`);
          for (const [name, value] of [['createdAt', entry.createdAt], ['updatedAt', entry.updatedAt]] as const) {
            const instant = assertIsoUtc(value, `${name} under TZ=${zone}`);
            check(instant >= before - 1000 && instant <= after + 1000, `${name} under TZ=${zone} is ${value}, but the store ran between ${new Date(before).toISOString()} and ${new Date(after).toISOString()}`);
          }
          same(assertIsoUtc(entry.expiresAt, `expiresAt under TZ=${zone}`), Date.UTC(2100, 5, 1, 6, 30), `expiresAt under TZ=${zone}`);
          same(entry.value, '2024-07-01T12:00:00.000Z', `a Date value under TZ=${zone} becomes its UTC ISO string`);
          same(entry.metadata, { at: '2024-01-01T00:00:00.000Z' }, `a Date in metadata under TZ=${zone}`);
          const listed = await succeeded(backend.list(), `list under TZ=${zone}`);
          same(listed.items[0]?.updatedAt, entry.updatedAt, `list updatedAt under TZ=${zone}`);
          const hits = await succeeded(backend.search(), `search() under TZ=${zone}`);
          same(hits.results[0]?.updatedAt, entry.updatedAt, `search updatedAt under TZ=${zone}`);
        }));
      }
    },
  },
];
