import { DEFAULT_MAX_VALUE_BYTES } from '../../types.js';
import { check, failedWith, same, succeeded, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { found, listAll, missing, searchAll, writable } from './common.js';

class Point {
  x = 1;
  y = 2;
  get length(): number {
    return Math.hypot(this.x, this.y);
  }
}

function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let level = 0; level < depth; level += 1) value = level % 2 === 0 ? { level, child: value } : [value];
  return value;
}

function sparse(): unknown[] {
  const holes: unknown[] = [];
  holes[2] = 'third';
  return holes;
}

/** Values JSON represents, some only after `JSON.stringify`'s conversions (toJSON, dropped members). */
const ROUND_TRIP: ReadonlyArray<[string, unknown]> = [
  ['an empty string', ''],
  ['quotes and backslashes', 'say "hi" \\ it\'s'],
  ['control characters and NUL', 'line\nbreak\ttab\r\u0000\u0001\u001f'],
  ['line and paragraph separators', '\u2028\u2029'],
  ['astral characters', '😀 𝄞 🦆'],
  ['non-Latin text', 'ключ 日本語 Καλημέρα café cafe\u0301'],
  ['a 4000-character string', 'lorem ipsum '.repeat(334).slice(0, 4000)],
  ['zero', 0],
  ['negative zero (becomes 0)', -0],
  ['safe integers', [1, -1, 2 ** 53 - 1, -(2 ** 53 - 1)]],
  ['extreme doubles', [1e308, -1e308, 5e-324, 2.2250738585072014e-308, 0.1 + 0.2, Math.PI]],
  ['2 ** 64 (a double, not an integer column)', 2 ** 64],
  ['1e21 (written in exponent form)', 1e21],
  ['true', true],
  ['false', false],
  ['an empty array', []],
  ['an empty object', {}],
  ['a mixed array', [1, 'a', null, true, [], {}]],
  ['nested objects with odd member names', { a: [1, { b: [null, 'x', { c: {} }] }], 'with space': true, '': 'empty name', ключ: 'значение', '😀': 1, 'a.b': 'dot' }],
  ['64 levels of nesting', nested(64)],
  ['a Date (becomes its ISO string)', new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789))],
  ['Dates inside (become ISO strings)', { at: new Date(0), list: [new Date(Date.UTC(2000, 0, 1))] }],
  ['undefined members (vanish)', { kept: 1, gone: undefined, inner: { gone: undefined } }],
  ['undefined in an array (becomes null)', [1, undefined, 3]],
  ['a sparse array (holes become null)', sparse()],
  ['an object with toJSON', { toJSON: () => ({ replaced: true }) }],
  ['boxed primitives', [new String('s'), new Number(3), new Boolean(false)]],
  ['Map and Set (become {})', { map: new Map([[1, 2]]), set: new Set([1]) }],
  ['a typed array (becomes an index object)', new Uint8Array([1, 2])],
  ['an object without prototype', Object.assign(Object.create(null) as object, { a: 1 })],
  ['a __proto__ member', JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}')],
  ['a class instance (own fields only)', new Point()],
];

function unrepresentable(): Array<[string, unknown]> {
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  const cyclicArray: unknown[] = [];
  cyclicArray.push(cyclicArray);
  return [
    ['undefined', undefined],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a BigInt', 10n],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a cyclic object', cyclic],
    ['a cyclic array', cyclicArray],
    ['a lone surrogate', '\uD800'],
    ['a lone surrogate in a nested string', { text: ['a\uDFFFb'] }],
    ['a lone surrogate in a member name', { ['\uD800']: 1 }],
    ['NaN inside an object', { n: Number.NaN }],
    ['Infinity inside an array', [1, Number.POSITIVE_INFINITY]],
    ['a BigInt deep inside', { a: [{ b: 2n }] }],
    ['a function member', { f: () => 1 }],
    ['a symbol in an array', [Symbol('s')]],
    ['a toJSON that throws', { toJSON: () => { throw new Error('cannot'); } }],
    ['a toJSON that returns undefined', { toJSON: () => undefined }],
  ];
}

export const valueChecks: BackendCheck[] = [
  {
    name: 'values: JSON values round-trip as JSON.parse(JSON.stringify(value))',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const expected = new Map<string, unknown>();
        for (const [index, [label, value]] of ROUND_TRIP.entries()) {
          const key = `v${String(index).padStart(2, '0')}`;
          await succeeded(backend.store(key, value), `store ${label}`);
          expected.set(key, JSON.parse(JSON.stringify(value)));
        }
        for (const [index, [label]] of ROUND_TRIP.entries()) {
          const key = `v${String(index).padStart(2, '0')}`;
          const entry = await found(backend, key, `retrieve ${label}`);
          same(entry.value, expected.get(key), `retrieve of ${label} equals JSON.parse(JSON.stringify(value))`);
        }
        const many = await succeeded(backend.retrieveMany([...expected.keys()]), 'retrieveMany of every value');
        for (const item of many.items) same(item.value, expected.get(item.key), `retrieveMany value of ${item.key}`);
        for (const hit of await searchAll(backend, { limit: 100 }, 'search()')) {
          same(hit.value, expected.get(hit.key), `search() value of ${hit.key}`);
        }
      });
    },
  },
  {
    name: 'values: null is a value, stored and found as null',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        same((await succeeded(backend.store('nothing', null), 'store null')).created, true, 'storing null creates the key');
        const stored = await succeeded(backend.retrieve('nothing', 'fallback'), 'retrieve the null');
        check(stored.found === true && stored.value === null, `a stored null is found: true with value null, not the default; got ${JSON.stringify(stored)}`);
        same(await succeeded(backend.retrieve('missing', 'fallback'), 'retrieve a missing key'), { success: true, found: false, value: 'fallback' }, 'a missing key answers the default');
        const many = await succeeded(backend.retrieveMany(['nothing', 'missing']), 'retrieveMany');
        check(many.items[0]?.found === true && many.items[0].value === null, 'retrieveMany: a stored null is found with value null');
        check(many.items[1]?.found === false, 'retrieveMany: a missing key is not found');
        await succeeded(backend.storeMany([{ key: 'nothing-too', value: null }]), 'storeMany with a null value');
        check((await found(backend, 'nothing-too', 'retrieve the batched null')).value === null, 'a null stored by storeMany is found as null');
        same(await listAll(backend, {}, 'list'), ['nothing', 'nothing-too'], 'list includes keys holding null');
        const hits = await searchAll(backend, {}, 'search()');
        same(hits.map((hit) => [hit.key, hit.value]).sort(), [['nothing', null], ['nothing-too', null]], 'search() includes null values');
        same((await succeeded(backend.delete('nothing'), 'delete the null')).deleted, true, 'a key holding null can be deleted');
      });
    },
  },
  {
    name: 'values: what JSON cannot represent exactly is a serialization_error and nothing is stored',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('keep', 'original'), 'store keep');
        for (const [index, [label, value]] of unrepresentable().entries()) {
          await failedWith(backend.store(`bad-${index}`, value), 'serialization_error', `store ${label}`);
          await failedWith(backend.store('keep', value), 'serialization_error', `store ${label} over an existing key`);
          await failedWith(
            backend.storeMany([{ key: `batch-${index}`, value: 1 }, { key: `bad-${index}`, value }]),
            'serialization_error',
            `storeMany with ${label} as the second value`,
          );
        }
        for (const [label, metadata] of [['NaN', { n: Number.NaN }], ['a BigInt', { b: 1n }], ['a lone surrogate', { s: 'x\uD800' }]] as const) {
          await failedWith(backend.store('meta', 1, metadata as never), 'serialization_error', `store with ${label} in metadata`);
        }
        same(await listAll(backend, {}, 'list'), ['keep'], 'no refused value was stored');
        same((await found(backend, 'keep', 'retrieve keep')).value, 'original', 'a refused update leaves the old value');
      });
    },
  },
  {
    name: 'values: above the size limit is a validation_error; at the limit is accepted',
    appliesTo: writable,
    async run(harness) {
      const limit = harness.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
      await withBackend(harness, async (backend) => {
        const atLimit = 'a'.repeat(limit - 2); // two quotes make the JSON text exactly `limit` bytes
        await succeeded(backend.store('big', atLimit), `store a value of exactly ${limit} bytes as JSON`);
        const big = await found(backend, 'big', 'retrieve the value at the limit');
        check(big.value === atLimit, 'the value at the limit reads back unchanged');
        await failedWith(backend.store('over', 'a'.repeat(limit - 1)), 'validation_error', `store a value of ${limit + 1} bytes as JSON`);
        // Two UTF-8 bytes per character: over the limit in bytes while under it in UTF-16 units.
        const wide = 'é'.repeat(Math.ceil((limit - 1) / 2));
        await failedWith(backend.store('wide', wide), 'validation_error', 'store a value over the limit in UTF-8 bytes (under it in characters)');
        await failedWith(backend.store('big', 'a'.repeat(limit - 1)), 'validation_error', 'store an oversized update');
        await failedWith(
          backend.storeMany([{ key: 'small', value: 1 }, { key: 'over', value: 'a'.repeat(limit - 1) }]),
          'validation_error',
          'storeMany with an oversized value',
        );
        same(await listAll(backend, {}, 'list'), ['big'], 'no oversized value was stored');
        const kept = await found(backend, 'big', 'retrieve after the refused update');
        check(kept.value === atLimit, 'a refused oversized update leaves the old value');
      });
    },
  },
  {
    name: 'metadata: absent or null reads back as {}; anything but a JSON object is a validation_error',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await succeeded(backend.store('absent', 1), 'store without metadata');
        await succeeded(backend.store('null', 1, null), 'store with null metadata');
        await succeeded(backend.store('ttl-only', 1, undefined, { ttlSeconds: 3600 }), 'store with options but no metadata');
        await succeeded(backend.storeMany([{ key: 'batched', value: 1 }]), 'storeMany without metadata');
        for (const key of ['absent', 'null', 'ttl-only', 'batched']) {
          same((await found(backend, key, `retrieve ${key}`)).metadata, {}, `metadata of ${key} reads back as {}`);
        }
        for (const item of (await succeeded(backend.list(), 'list')).items) same(item.metadata, {}, `list metadata of ${item.key}`);
        for (const hit of await searchAll(backend, {}, 'search()')) same(hit.metadata, {}, `search metadata of ${hit.key}`);

        const rich = { at: new Date(0), gone: undefined, nested: { list: [1, { deep: null }] }, text: 'ключ 😀' };
        await succeeded(backend.store('rich', 1, rich as never), 'store rich metadata');
        same((await found(backend, 'rich', 'retrieve rich')).metadata, JSON.parse(JSON.stringify(rich)), 'metadata round-trips as JSON.parse(JSON.stringify(metadata))');
        await succeeded(backend.store('rich', 2, { replaced: true }), 'store new metadata');
        same((await found(backend, 'rich', 'retrieve replaced')).metadata, { replaced: true }, 'a store replaces the metadata whole (no merge)');

        const invalid: Array<[string, unknown]> = [
          ['an array', [1]],
          ['an empty array', []],
          ['a string', 'tag'],
          ['a number', 42],
          ['true', true],
          ['a Date (its JSON is a string)', new Date(0)],
        ];
        for (const [label, metadata] of invalid) {
          await failedWith(backend.store('bad', 1, metadata as never), 'validation_error', `store with ${label} as metadata`);
          await failedWith(backend.storeMany([{ key: 'bad', value: 1, metadata: metadata as never }]), 'validation_error', `storeMany with ${label} as metadata`);
        }
        await missing(backend, 'bad', 'nothing with invalid metadata was stored');
      });
    },
  },
];
