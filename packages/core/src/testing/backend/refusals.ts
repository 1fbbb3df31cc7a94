/**
 * What a backend must answer when it declares a capability absent: a clear refusal, never a silent no-op.
 * These replace the checks that need the capability.
 */
import { failedWith, same, succeeded, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { listAll } from './common.js';

/** `read_only` is the precise answer; `unsupported` is accepted from backends that are never writable. */
const WRITE_REFUSALS = ['read_only', 'unsupported'] as const;

export const refusalChecks: BackendCheck[] = [
  {
    name: 'read-only: writes answer read_only (or unsupported) and change nothing',
    appliesTo: (harness) => !harness.capabilities.writable,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        await failedWith(backend.store('k', 1), WRITE_REFUSALS, 'store on a read-only backend');
        await failedWith(backend.store('k', 1, { a: 1 }, { ttlSeconds: 60 }), WRITE_REFUSALS, 'store with options on a read-only backend');
        await failedWith(backend.delete('k'), WRITE_REFUSALS, 'delete on a read-only backend');
        await failedWith(backend.storeMany([{ key: 'k', value: 1 }]), WRITE_REFUSALS, 'storeMany on a read-only backend');
        same(await succeeded(backend.retrieve('k'), 'retrieve'), { success: true, found: false, value: null }, 'nothing was stored');
        same(await listAll(backend, {}, 'list'), [], 'nothing was stored');
      });
    },
  },
  {
    name: 'full-text search off: a query answers unsupported; search without a query still works',
    appliesTo: (harness) => !harness.capabilities.fullTextSearch,
    async run(harness) {
      await withBackend(harness, async (backend) => {
        if (harness.capabilities.writable) await succeeded(backend.store('k', 'some words', { tag: 'x' }), 'store');
        await failedWith(backend.search('words'), 'unsupported', 'search("words") without full-text search');
        await failedWith(backend.search({ query: 'words', limit: 5 }), 'unsupported', 'search({ query }) without full-text search');
        await failedWith(backend.search('words', { tag: 'x' }), 'unsupported', 'search with a query and a filter without full-text search');
        const listed = await succeeded(backend.search({ filter: { tag: 'x' } }), 'search without a query');
        same(listed.results.map((hit) => hit.key), harness.capabilities.writable ? ['k'] : [], 'search without a query lists entries');
      });
    },
  },
];
