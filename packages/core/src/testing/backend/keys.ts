import { check, failedWith, same, sortedKeys, succeeded, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { listAll, writable } from './common.js';

/** Keys the protocol refuses: 1 to 1024 UTF-8 bytes, well-formed Unicode, no NUL, a string. */
const INVALID_KEYS: ReadonlyArray<[string, unknown]> = [
  ['an empty string', ''],
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an object', { key: 'a' }],
  ['a string with NUL', 'a\u0000b'],
  ['a lone high surrogate', 'a\uD800'],
  ['a lone low surrogate', '\uDC00b'],
  ['a reversed surrogate pair', '\uDE00\uD83D'],
  ['1025 ASCII characters', 'a'.repeat(1025)],
  ['513 two-byte characters (1026 bytes in 513 UTF-16 units)', 'é'.repeat(513)],
  ['342 three-byte characters (1026 bytes)', '€'.repeat(342)],
  ['257 emoji (1028 bytes in 514 UTF-16 units)', '😀'.repeat(257)],
];

/** Exactly at the limit, in every UTF-8 width. */
const LIMIT_KEYS: ReadonlyArray<[string, string]> = [
  ['1024 ASCII characters', 'a'.repeat(1024)],
  ['512 two-byte characters', 'é'.repeat(512)],
  ['341 three-byte characters and one ASCII', `${'€'.repeat(341)}a`],
  ['256 four-byte emoji', '😀'.repeat(256)],
];

/** One byte over the limit, in every UTF-8 width. */
const OVER_LIMIT_KEYS: ReadonlyArray<[string, string]> = [
  ['1025 ASCII characters', 'a'.repeat(1025)],
  ['512 two-byte characters and one ASCII', `${'é'.repeat(512)}a`],
  ['341 three-byte characters and two ASCII', `${'€'.repeat(341)}ab`],
  ['256 four-byte emoji and one ASCII', `${'😀'.repeat(256)}a`],
];

/** Keys that break code which splices them into SQL or patterns, or normalizes them. */
const AWKWARD_KEYS: readonly string[] = [
  "it's",
  'say "hi"',
  "'; DROP TABLE ltm_store; --",
  '"); DELETE FROM ltm_store; --',
  'a%b',
  'a_b',
  '%',
  '_',
  '*',
  '?',
  'back\\slash',
  'new\nline',
  'tab\tkey',
  ' spaced ',
  ' ',
  '😀🦆',
  'ключ',
  '日本語のキー',
  'café',
  'cafe\u0301',
  'A',
  'a',
  '\u007f',
  '{"json": true}',
  '$.path[0]',
  'null',
  '.',
  'a/b/../c',
  '\u2028',
  '\uFEFFbom',
];

export const keyChecks: BackendCheck[] = [
  {
    name: 'keys: invalid keys are a validation_error on reads',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        for (const [label, key] of INVALID_KEYS) {
          await failedWith(backend.retrieve(key as string), 'validation_error', `retrieve with ${label} as key`);
          await failedWith(backend.retrieveMany(['fine', key as string]), 'validation_error', `retrieveMany with ${label} among the keys`);
        }
      });
    },
  },
  {
    name: 'keys: invalid keys are a validation_error on writes and store nothing',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        for (const [label, key] of INVALID_KEYS) {
          await failedWith(backend.store(key as string, 1), 'validation_error', `store with ${label} as key`);
          await failedWith(backend.delete(key as string), 'validation_error', `delete with ${label} as key`);
          await failedWith(
            backend.storeMany([{ key: 'fine', value: 1 }, { key: key as string, value: 1 }]),
            'validation_error',
            `storeMany with ${label} as the second key`,
          );
        }
        same(await listAll(backend, {}, 'list after refused writes'), [], 'nothing is stored by refused writes');
      });
    },
  },
  {
    name: 'keys: the limit is 1024 UTF-8 bytes, multi-byte characters counted by their bytes',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        for (const [label, key] of LIMIT_KEYS) {
          await succeeded(backend.store(key, label), `store with ${label} (1024 bytes) as key`);
          const found = await succeeded(backend.retrieve(key), `retrieve ${label}`);
          check(found.found && found.value === label, `the key of ${label} must read back its value`);
        }
        for (const [label, key] of OVER_LIMIT_KEYS) {
          await failedWith(backend.store(key, label), 'validation_error', `store with ${label} (1025 bytes) as key`);
        }
        same(await listAll(backend, {}, 'list'), sortedKeys(LIMIT_KEYS.map(([, key]) => key)), 'list returns exactly the accepted keys, unchanged');
      });
    },
  },
  {
    name: 'keys: quotes, SQL text, wildcards, whitespace and non-Latin characters round-trip unchanged',
    appliesTo: writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        for (const [index, key] of AWKWARD_KEYS.entries()) {
          const stored = await succeeded(backend.store(key, index), `store ${JSON.stringify(key)}`);
          same(stored.key, key, `store ${JSON.stringify(key)} answers the key unchanged`);
          check(stored.created, `store ${JSON.stringify(key)} is a create (keys that differ only by case or normalization are distinct)`);
        }
        for (const [index, key] of AWKWARD_KEYS.entries()) {
          const found = await succeeded(backend.retrieve(key), `retrieve ${JSON.stringify(key)}`);
          check(found.found && found.value === index, `retrieve ${JSON.stringify(key)} must find value ${index}, got ${JSON.stringify(found.value)}`);
        }
        const many = await succeeded(backend.retrieveMany(AWKWARD_KEYS), 'retrieveMany of every key');
        same(many.items.map((item) => [item.key, item.value]), AWKWARD_KEYS.map((key, index) => [key, index]), 'retrieveMany answers every key with its value');
        same(await listAll(backend, {}, 'list'), sortedKeys(AWKWARD_KEYS), 'list returns every key unchanged in byte order');
        const removed = await succeeded(backend.delete("'; DROP TABLE ltm_store; --"), 'delete the SQL-looking key');
        check(removed.deleted, 'delete of the SQL-looking key deletes it');
        same((await listAll(backend, {}, 'list after delete')).length, AWKWARD_KEYS.length - 1, 'only that key is gone');
      });
    },
  },
];
