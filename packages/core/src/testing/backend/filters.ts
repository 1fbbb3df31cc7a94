import type { Filter } from '../../filter.js';
import type { JsonObject } from '../../json.js';
import type { LTMBackend } from '../../types.js';
import { failedWith, same, sortedKeys, succeeded, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { filteredKeys, searchAll, storeAll, writable } from './common.js';

async function seedMetadata(backend: LTMBackend, entries: Record<string, JsonObject>): Promise<void> {
  await storeAll(
    backend,
    Object.entries(entries).map(([key, metadata]) => ({ key, value: `value of ${key}`, metadata })),
    'storeMany of the filter fixtures',
  );
}

async function expectSelection(backend: LTMBackend, cases: ReadonlyArray<[Filter, string[]]>): Promise<void> {
  for (const [filter, keys] of cases) {
    same(await filteredKeys(backend, filter, `search with filter ${JSON.stringify(filter)}`), sortedKeys(keys), `filter ${JSON.stringify(filter)} selects`);
  }
}

export const filterChecks: BackendCheck[] = [
  {
    name: 'filters: { field: value } is strict JSON equality (1 ≠ "1", true ≠ 1, missing ≠ null)',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await seedMetadata(backend, {
          one: { v: 1 },
          'one-string': { v: '1' },
          true: { v: true },
          false: { v: false },
          zero: { v: 0 },
          empty: { v: '' },
          null: { v: null },
          missing: {},
          other: { w: 1 },
          array: { v: [1, 2] },
          reversed: { v: [2, 1] },
          object: { v: { a: 1, b: 2 } },
          fraction: { v: 1.5 },
        });
        await expectSelection(backend, [
          [{ v: 1 }, ['one']],
          [{ v: '1' }, ['one-string']],
          [{ v: true }, ['true']],
          [{ v: false }, ['false']],
          [{ v: 0 }, ['zero']],
          [{ v: '' }, ['empty']],
          [{ v: null }, ['null']],
          [{ v: 1.5 }, ['fraction']],
          [{ v: [1, 2] }, ['array']],
          [{ v: { b: 2, a: 1 } }, ['object']],
          [{ v: { a: 1 } }, []],
          [{ v: { $eq: 1 } }, ['one']],
          [{ v: { $eq: null } }, ['null']],
          [{ v: 1, w: 1 }, []],
          [{ w: 1 }, ['other']],
        ]);
      });
    },
  },
  {
    name: 'filters: every operator ($eq $ne $gt $gte $lt $lte $in $nin $exists)',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await seedMetadata(backend, {
          e1: { n: 1, s: 'apple' },
          e2: { n: 2, s: 'banana' },
          e3: { n: 3, s: 'Cherry' },
          e4: { n: 2.5, s: 'échalote' },
          e5: { n: '2', s: 2 },
          e6: { n: null, s: null },
          e7: {},
          e8: { n: -1, s: '' },
        });
        await expectSelection(backend, [
          [{ n: { $eq: 2 } }, ['e2']],
          [{ n: { $ne: 2 } }, ['e1', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8']],
          [{ n: { $gt: 2 } }, ['e3', 'e4']],
          [{ n: { $gte: 2 } }, ['e2', 'e3', 'e4']],
          [{ n: { $lt: 2 } }, ['e1', 'e8']],
          [{ n: { $lte: 2 } }, ['e1', 'e2', 'e8']],
          [{ n: { $gt: 1, $lt: 3 } }, ['e2', 'e4']],
          [{ n: { $in: [1, '2', null] } }, ['e1', 'e5', 'e6']],
          [{ n: { $in: [] } }, []],
          [{ n: { $nin: [1, 2] } }, ['e3', 'e4', 'e5', 'e6', 'e7', 'e8']],
          [{ n: { $exists: true } }, ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e8']],
          [{ n: { $exists: false } }, ['e7']],
          // Strings compare by code point (UTF-8 bytes): 'C' < 'b' < 'é'.
          [{ s: { $gt: 'banana' } }, ['e4']],
          [{ s: { $lt: 'b' } }, ['e1', 'e3', 'e8']],
          [{ s: { $gte: 'apple' } }, ['e1', 'e2', 'e4']],
          [{ s: { $lte: '' } }, ['e8']],
          [{ n: { $gte: 1 }, s: { $in: ['apple', 'Cherry'] } }, ['e1', 'e3']],
        ]);
      });
    },
  },
  {
    name: 'filters: comparisons across types match nothing',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await seedMetadata(backend, {
          number: { x: 5 },
          string: { x: '5' },
          bool: { x: true },
          null: { x: null },
          array: { x: [5] },
          object: { x: { v: 5 } },
          missing: {},
        });
        await expectSelection(backend, [
          [{ x: { $gt: 0 } }, ['number']],
          [{ x: { $lte: 100 } }, ['number']],
          [{ x: { $gte: '' } }, ['string']],
          [{ x: { $lt: '6' } }, ['string']],
          [{ x: 5 }, ['number']],
          [{ x: '5' }, ['string']],
        ]);
      });
    },
  },
  {
    name: 'filters: dotted paths reach nested objects',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await seedMetadata(backend, {
          nested: { user: { id: 7, name: 'ann', address: { city: 'Paris' } } },
          'string-id': { user: { id: '7' } },
          'other-id': { user: { id: 8 } },
          scalar: { user: 7 },
          null: { user: null },
          'dotted-name': { 'user.id': 7 },
        });
        await expectSelection(backend, [
          [{ 'user.id': 7 }, ['nested']],
          [{ 'user.address.city': 'Paris' }, ['nested']],
          [{ 'user.id': { $gte: 7 } }, ['nested', 'other-id']],
          [{ 'user.id': { $in: ['7', 8] } }, ['string-id', 'other-id']],
          [{ 'user.id': { $exists: true } }, ['nested', 'string-id', 'other-id']],
          [{ 'user.id': { $exists: false } }, ['scalar', 'null', 'dotted-name']],
          [{ 'user.address.city.name': { $exists: true } }, []],
          [{ user: { id: 8 } }, ['other-id']],
        ]);
      });
    },
  },
  {
    name: 'filters apply before limit',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        // Stored in one batch: the matching keys sort last by key and are never the first page without a filter.
        const items = Array.from({ length: 30 }, (_, index) => {
          const key = `item-${String(index).padStart(2, '0')}`;
          const keep = index >= 27;
          const text = keep ? `lantern ${'filler words '.repeat(20)}` : 'lantern lantern lantern';
          return { key, value: text, metadata: { keep } };
        });
        await storeAll(backend, items, 'storeMany of 30 entries');
        const wanted = ['item-27', 'item-28', 'item-29'];
        const page = await succeeded(backend.search({ filter: { keep: true }, limit: 3 }), 'search with a filter and limit 3');
        same(sortedKeys(page.results.map((hit) => hit.key)), wanted, 'limit 3 returns the three matching entries');
        same(page.nextCursor, undefined, 'nothing more matches, so there is no nextCursor');
        const first = await succeeded(backend.search(undefined, { keep: true }, 2), 'search(undefined, filter, 2)');
        same(first.results.length, 2, 'limit 2 returns two matching entries');
        const rest = await searchAll(backend, { filter: { keep: true }, limit: 2 }, 'pages of a filtered search');
        same(sortedKeys(rest.map((hit) => hit.key)), wanted, 'the pages of a filtered search hold every match once');
        if (harness.capabilities.fullTextSearch) {
          const ranked = await succeeded(backend.search({ query: 'lantern', filter: { keep: true }, limit: 3 }), 'search with a query, a filter and limit 3');
          same(sortedKeys(ranked.results.map((hit) => hit.key)), wanted, 'a query with a filter and limit 3 returns the three matching (lowest-ranked) entries');
        }
      });
    },
  },
  {
    name: 'filters: field names and values with quotes or SQL text are data, never SQL',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const names = [
          "it's",
          'say "hi"',
          "x'); DROP TABLE ltm_store; --",
          'a[0]',
          'a b',
          '%',
          'back\\slash',
          'ключ',
          '😀',
          'a$b',
        ];
        await seedMetadata(backend, Object.fromEntries(names.map((name, index) => [`k${index}`, { [name]: `value ${index}` }])));
        await seedMetadata(backend, { quoted: { name: "O'Brien", sql: '"; DELETE FROM ltm_store; --' } });
        for (const [index, name] of names.entries()) {
          same(await filteredKeys(backend, { [name]: `value ${index}` }, `filter on ${JSON.stringify(name)}`), [`k${index}`], `filter on the field ${JSON.stringify(name)}`);
        }
        await expectSelection(backend, [
          [{ name: "O'Brien" }, ['quoted']],
          [{ sql: '"; DELETE FROM ltm_store; --' }, ['quoted']],
          [{ name: { $in: ["' OR '1'='1", "O'Brien"] } }, ['quoted']],
          [{ name: "' OR '1'='1" }, []],
          [{ "name' OR '1'='1": { $exists: false } }, [...names.map((_, index) => `k${index}`), 'quoted']],
        ]);
        same((await searchAll(backend, {}, 'search() afterwards')).length, names.length + 1, 'every entry is still there');
      });
    },
  },
  {
    name: 'filters: malformed filters are a validation_error',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const malformed: Array<[string, unknown]> = [
          ['a string', 'tag'],
          ['an array', [{ a: 1 }]],
          ['an unknown operator', { v: { $regex: 'a' } }],
          ['$gt with an array', { v: { $gt: [1] } }],
          ['$gt with a boolean', { v: { $gt: true } }],
          ['$in with a string', { v: { $in: 'a' } }],
          ['$exists with a number', { v: { $exists: 1 } }],
          ['a top-level $or', { $or: [{ a: 1 }] }],
          ['an empty field name', { '': 1 }],
          ['an empty path segment', { 'a..b': 1 }],
          ['operators mixed with fields', { v: { $eq: 1, x: 2 } }],
          ['NaN', { v: Number.NaN }],
          ['undefined', { v: undefined }],
          ['a Date', { v: new Date(0) }],
        ];
        for (const [label, filter] of malformed) {
          await failedWith(backend.search({ filter: filter as Filter }), 'validation_error', `search with ${label} as filter`);
          await failedWith(backend.search(undefined, filter as Filter), 'validation_error', `search(undefined, ${label})`);
        }
      });
    },
  },
];
