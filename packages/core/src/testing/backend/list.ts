import type { ListOptions, ListSuccess } from '../../types.js';
import { DEFAULT_LIST_LIMIT, MAX_LIMIT } from '../../types.js';
import { assertIsoUtc, check, failedWith, same, sortedKeys, succeeded, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { listAll, storeAll, writable } from './common.js';

/**
 * UTF-16 order (JavaScript's default sort) and UTF-8 byte order disagree where an astral character meets
 * a BMP character above the surrogates (U+E000-U+FFFF): '😀' (U+1F600) sorts after 'Ａ' (U+FF21) by bytes.
 */
const ORDER_KEYS = ['b', 'a', 'B', 'ab', 'a b', 'a-b', 'aa', 'é', 'ÿ', 'z', 'Z', '0', '~', '\uFF21', '😀', '\uE000', '𝄞', '日本', 'ключ'];

const PREFIX_KEYS = [
  'user:1',
  'user:2',
  'user:10',
  'user_1',
  'userA',
  'users',
  'usep',
  'uses',
  'us%er',
  'us%xer',
  'usér:1',
  '😀',
  '😀:1',
  '😀:2',
  'back\\slash',
  'back\\\\double',
];

const PREFIXES: ReadonlyArray<[string, string[]]> = [
  ['user:', ['user:1', 'user:10', 'user:2']],
  ['user_', ['user_1']],
  ['user', ['user:1', 'user:10', 'user:2', 'userA', 'user_1', 'users']],
  ['us%', ['us%er', 'us%xer']],
  ['us%e', ['us%er']],
  ['usé', ['usér:1']],
  ['😀', ['😀', '😀:1', '😀:2']],
  ['😀:', ['😀:1', '😀:2']],
  ['back\\', ['back\\\\double', 'back\\slash']],
  ['nothing', []],
];

export const listChecks: BackendCheck[] = [
  {
    name: 'list: keys come in UTF-8 byte order, non-ASCII and astral characters included',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await storeAll(backend, ORDER_KEYS.map((key) => ({ key, value: key, metadata: { key } })), 'storeMany');
        const expected = sortedKeys(ORDER_KEYS);
        check(expected.indexOf('😀') > expected.indexOf('\uFF21'), 'fixture: byte order puts U+1F600 after U+FF21');
        const page = await succeeded(backend.list(), 'list()');
        same(page.items.map((item) => item.key), expected, 'list() is in UTF-8 byte order');
        for (const item of page.items) {
          same(item.metadata, { key: item.key }, `list metadata of ${item.key}`);
          assertIsoUtc(item.updatedAt, `list updatedAt of ${item.key}`);
        }
        same(await listAll(backend, { limit: 4 }, 'list in pages of 4'), expected, 'pages of 4 keep byte order across cursors');
      });
    },
  },
  {
    name: 'list: a prefix selects exactly the keys that start with it, wildcards taken literally',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await storeAll(backend, PREFIX_KEYS.map((key) => ({ key, value: 1 })), 'storeMany');
        for (const [prefix, keys] of PREFIXES) {
          same(await listAll(backend, { prefix }, `list with prefix ${JSON.stringify(prefix)}`), sortedKeys(keys), `prefix ${JSON.stringify(prefix)}`);
          same(await listAll(backend, { prefix, limit: 2 }, `list with prefix ${JSON.stringify(prefix)} in pages of 2`), sortedKeys(keys), `prefix ${JSON.stringify(prefix)} in pages of 2`);
        }
        same(await listAll(backend, { prefix: '' }, 'list with an empty prefix'), sortedKeys(PREFIX_KEYS), 'an empty prefix lists everything');
        await succeeded(backend.delete('user:2'), 'delete user:2');
        same(await listAll(backend, { prefix: 'user:' }, 'list after delete'), ['user:1', 'user:10'], 'a deleted key leaves the listing');
      });
    },
  },
  {
    name: 'list: cursors visit every key once, in order, honouring limit',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const keys = Array.from({ length: 23 }, (_, index) => `key-${String(index).padStart(2, '0')}`);
        await storeAll(backend, keys.map((key) => ({ key, value: 1 })), 'storeMany of 23 keys');
        same(await listAll(backend, { limit: 5 }, 'pages of 5'), keys, 'pages of 5 hold every key once, in order');
        same(await listAll(backend, { limit: 23 }, 'one page of 23'), keys, 'a page that ends exactly at the last key has no nextCursor');
        same(await listAll(backend, { limit: 1 }, 'pages of 1'), keys, 'pages of 1');

        // Keys written between pages: one before the cursor never shows up twice, one after it shows up.
        const first = await succeeded(backend.list({ limit: 10 }), 'first page of 10');
        check(first.nextCursor !== undefined, 'a first page of 10 out of 23 has a nextCursor');
        await succeeded(backend.store('key-00a', 1), 'store a key before the cursor');
        await succeeded(backend.store('key-99', 1), 'store a key after the cursor');
        const rest: string[] = [];
        let cursor: string | undefined = first.nextCursor;
        while (cursor !== undefined) {
          const page: ListSuccess = await succeeded(backend.list({ limit: 10, cursor }), 'next page');
          rest.push(...page.items.map((item) => item.key));
          cursor = page.nextCursor;
        }
        same([...first.items.map((item) => item.key), ...rest], [...keys, 'key-99'], 'keys written between pages neither repeat nor hide later keys');

        await storeAll(backend, Array.from({ length: DEFAULT_LIST_LIMIT + 5 }, (_, index) => ({ key: `bulk-${String(index).padStart(3, '0')}`, value: 1 })), 'storeMany of many keys');
        const defaultPage = await succeeded(backend.list({ prefix: 'bulk-' }), 'list without limit');
        same(defaultPage.items.length, DEFAULT_LIST_LIMIT, `list defaults to ${DEFAULT_LIST_LIMIT} items`);
        check(defaultPage.nextCursor !== undefined, 'a full default page has a nextCursor');
      });
    },
  },
  {
    name: 'list: an invalid limit, prefix or cursor is a validation_error',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        const invalid: Array<[string, unknown]> = [
          ['limit 0', { limit: 0 }],
          ['a negative limit', { limit: -1 }],
          ['a fractional limit', { limit: 1.5 }],
          [`limit ${MAX_LIMIT + 1}`, { limit: MAX_LIMIT + 1 }],
          ['limit as a string', { limit: '5' }],
          ['prefix as a number', { prefix: 5 }],
          ['a prefix with a lone surrogate', { prefix: 'a\uD800' }],
          ['a made-up cursor', { cursor: 'not-a-cursor' }],
          ['cursor as a number', { cursor: 5 }],
        ];
        for (const [label, options] of invalid) {
          await failedWith(backend.list(options as ListOptions), 'validation_error', `list with ${label}`);
        }
      });
    },
  },
];
