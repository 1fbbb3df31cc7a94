/**
 * The documented result shapes, member by member. (Every call the suite makes is also checked to resolve a
 * plain object that survives JSON.stringify/JSON.parse unchanged; see `succeeded` in ../assertions.ts.)
 */
import type { LTMBackend } from '../../types.js';
import { assertIsoUtc, check, failedWith, same, succeeded, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { protocolCapabilities } from './common.js';

/** Asserts `value` has every `required` member, no member outside `required` + `optional`. */
function members(value: unknown, required: readonly string[], optional: readonly string[], doing: string): Record<string, unknown> {
  check(value !== null && typeof value === 'object' && !Array.isArray(value), `${doing}: expected an object, got ${JSON.stringify(value)}`);
  const record = value as Record<string, unknown>;
  const present = Object.keys(record);
  const missingMembers = required.filter((name) => !present.includes(name));
  const unknown = present.filter((name) => !required.includes(name) && !optional.includes(name));
  check(missingMembers.length === 0, `${doing}: missing ${missingMembers.join(', ')} in ${JSON.stringify(record)}`);
  check(unknown.length === 0, `${doing}: undocumented member(s) ${unknown.join(', ')} in ${JSON.stringify(record)}`);
  return record;
}

const isCount = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) >= 0;

async function checkReadShapes(backend: LTMBackend, withData: boolean): Promise<void> {
  const missing = members(await succeeded(backend.retrieve('absent'), 'retrieve absent'), ['success', 'found', 'value'], [], 'retrieve (missing)');
  same([missing.found, missing.value], [false, null], 'retrieve (missing) without a default');

  const search = members(await succeeded(backend.search({ limit: 1 }), 'search'), ['success', 'results', 'count'], ['nextCursor'], 'search');
  check(Array.isArray(search.results) && search.count === (search.results as unknown[]).length, 'search: count is the number of results returned');
  if (search.nextCursor !== undefined) check(typeof search.nextCursor === 'string', 'search: nextCursor is a string');
  for (const hit of search.results as unknown[]) {
    const record = members(hit, ['key', 'value', 'metadata', 'score', 'updatedAt'], [], 'search hit');
    check(typeof record.key === 'string' && typeof record.score === 'number', 'search hit: key is a string, score a number');
    assertIsoUtc(record.updatedAt, 'search hit updatedAt');
  }

  const list = members(await succeeded(backend.list({ limit: 1 }), 'list'), ['success', 'items'], ['nextCursor'], 'list');
  for (const item of list.items as unknown[]) {
    const record = members(item, ['key', 'metadata', 'updatedAt'], [], 'list item');
    assertIsoUtc(record.updatedAt, 'list item updatedAt');
  }
  if (withData) check(list.nextCursor !== undefined && typeof list.nextCursor === 'string', 'list: nextCursor is a string when more items exist');

  const many = members(await succeeded(backend.retrieveMany(['absent']), 'retrieveMany'), ['success', 'items'], [], 'retrieveMany');
  same((many.items as unknown[])[0], { key: 'absent', found: false, value: null, metadata: null }, 'retrieveMany (missing)');

  const flush = members(await succeeded(backend.flush(), 'flush'), ['success', 'flushed'], [], 'flush');
  check(isCount(flush.flushed), 'flush: flushed is a count');
  const stats = members(await succeeded(backend.stats(), 'stats'), ['success', 'backend', 'entries', 'capabilities', 'details'], [], 'stats');
  check(typeof stats.backend === 'string' && isCount(stats.entries), 'stats: backend is a string, entries a count');
  for (const [name, value] of Object.entries(protocolCapabilities(stats.capabilities as object))) {
    check(typeof value === 'boolean', `stats: capabilities.${name} is a boolean`);
  }
  check(stats.details !== null && typeof stats.details === 'object' && !Array.isArray(stats.details), 'stats: details is a plain object');

  const failure = await failedWith(backend.retrieve(''), 'validation_error', 'retrieve with an empty key');
  check(failure.error.length > 0, 'a failure has a message');
}

export const shapeChecks: BackendCheck[] = [
  {
    name: 'results: every method resolves the documented members and nothing else',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        if (!harness.capabilities.writable) {
          await checkReadShapes(backend, false);
          return;
        }
        const stored = members(await succeeded(backend.store('a', { n: 1 }, { m: 1 }), 'store'), ['success', 'stored', 'key', 'created'], ['queued'], 'store');
        same([stored.stored, stored.key, stored.created], [true, 'a', true], 'store: stored, key, created');
        await succeeded(backend.store('b', 2, null, { ttlSeconds: 3600 }), 'store b');

        const found = members(await succeeded(backend.retrieve('a'), 'retrieve'), ['success', 'found', 'value', 'metadata', 'createdAt', 'updatedAt'], ['expiresAt'], 'retrieve (found)');
        check(!('expiresAt' in found), 'retrieve (found): no expiresAt member without expiry');
        assertIsoUtc(found.createdAt, 'retrieve createdAt');
        assertIsoUtc(found.updatedAt, 'retrieve updatedAt');
        const expiring = members(await succeeded(backend.retrieve('b'), 'retrieve b'), ['success', 'found', 'value', 'metadata', 'createdAt', 'updatedAt', 'expiresAt'], [], 'retrieve (with expiry)');
        assertIsoUtc(expiring.expiresAt, 'retrieve expiresAt');
        const withDefault = members(await succeeded(backend.retrieve('absent', { fallback: true }), 'retrieve with a default'), ['success', 'found', 'value'], [], 'retrieve (default)');
        same(withDefault.value, { fallback: true }, 'retrieve (missing) answers the default');

        const many = members(await succeeded(backend.storeMany([{ key: 'c', value: 3 }]), 'storeMany'), ['success', 'stored', 'created'], ['queued'], 'storeMany');
        same([many.stored, many.created], [1, 1], 'storeMany: stored, created');
        const items = members(await succeeded(backend.retrieveMany(['a', 'b']), 'retrieveMany'), ['success', 'items'], [], 'retrieveMany');
        const [plain, timed] = items.items as unknown[];
        members(plain, ['key', 'found', 'value', 'metadata', 'createdAt', 'updatedAt'], [], 'retrieveMany item (found)');
        members(timed, ['key', 'found', 'value', 'metadata', 'createdAt', 'updatedAt', 'expiresAt'], [], 'retrieveMany item (with expiry)');

        await checkReadShapes(backend, true);
        const deleted = members(await succeeded(backend.delete('a'), 'delete'), ['success', 'deleted', 'key'], [], 'delete');
        same([deleted.deleted, deleted.key], [true, 'a'], 'delete: deleted, key');
        const cleanup = members(await succeeded(backend.cleanupExpired(), 'cleanupExpired'), ['success', 'removed'], [], 'cleanupExpired');
        check(isCount(cleanup.removed), 'cleanupExpired: removed is a count');
      });
    },
  },
];
