import type { LTMBackend } from '../../types.js';
import { check, fail, failedWith, same, sortedKeys, succeeded, withBackend } from '../assertions.js';
import type { BackendCheck } from './common.js';
import { listAll, protocolCapabilities } from './common.js';

/** Every protocol method once, with arguments valid for any backend. */
function everyMethod(backend: LTMBackend): Array<[string, () => Promise<{ success: boolean }>]> {
  return [
    ['store', () => backend.store('k', 1)],
    ['retrieve', () => backend.retrieve('k')],
    ['delete', () => backend.delete('k')],
    ['search()', () => backend.search()],
    ['search(query)', () => backend.search('word')],
    ['search({ query })', () => backend.search({ query: 'word' })],
    ['storeMany', () => backend.storeMany([{ key: 'k', value: 1 }])],
    ['retrieveMany', () => backend.retrieveMany(['k'])],
    ['list', () => backend.list()],
    ['flush', () => backend.flush()],
    ['cleanupExpired', () => backend.cleanupExpired()],
    ['stats', () => backend.stats()],
  ];
}

async function expectClosed(backend: LTMBackend, after: string): Promise<void> {
  for (const [method, call] of everyMethod(backend)) {
    const failure = await failedWith(call(), 'backend_closed', `${method} after ${after}`);
    check(failure.retryable === false, `${method} after ${after}: backend_closed is not retryable`);
  }
}

export const lifecycleChecks: BackendCheck[] = [
  {
    name: 'capabilities: the backend declares what the harness says, in capabilities and in stats()',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        check(typeof backend.name === 'string' && backend.name.length > 0, 'backend.name must be a non-empty string');
        same(protocolCapabilities(backend.capabilities), protocolCapabilities(harness.capabilities), 'backend.capabilities differs from the harness');
        const stats = await succeeded(backend.stats(), 'stats()');
        same(protocolCapabilities(stats.capabilities), protocolCapabilities(harness.capabilities), 'stats().capabilities differs from the harness');
        same(stats.backend, backend.name, 'stats().backend is the backend name');
      });
    },
  },
  {
    name: 'create() opens an empty store',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        same(await succeeded(backend.retrieve('anything'), 'retrieve'), { success: true, found: false, value: null }, 'retrieve in an empty store');
        same(await succeeded(backend.list(), 'list'), { success: true, items: [] }, 'list of an empty store');
        same(await succeeded(backend.search(), 'search()'), { success: true, results: [], count: 0 }, 'search() of an empty store');
        const stats = await succeeded(backend.stats(), 'stats()');
        same(stats.entries, 0, 'stats().entries of an empty store');
      });
    },
  },
  {
    name: 'lifecycle: close is idempotent and every method then answers backend_closed',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        if (harness.capabilities.writable) await succeeded(backend.store('k', 'before close'), 'store before close');
        await backend.close();
        try {
          await backend.close();
        } catch (error) {
          fail(`close() a second time must be harmless, it threw: ${error instanceof Error ? error.message : String(error)}`);
        }
        await expectClosed(backend, 'close()');
      });
    },
  },
  {
    name: 'lifecycle: [Symbol.asyncDispose] closes the backend',
    async run(harness) {
      await withBackend(harness, async (backend) => {
        check(typeof backend[Symbol.asyncDispose] === 'function', 'the backend must implement [Symbol.asyncDispose] (for `await using`)');
        await backend[Symbol.asyncDispose]();
        await expectClosed(backend, '[Symbol.asyncDispose]()');
      });
    },
  },
  {
    name: 'persistence: entries, metadata, timestamps, expiry and deletions survive close and reopen',
    appliesTo: (harness) => harness.capabilities.persistent && harness.capabilities.writable,
    async run(harness) {
      const reopen = harness.reopen;
      if (reopen === undefined) fail('capabilities.persistent is true, so the harness must implement reopen(closed)');
      const first = await harness.create();
      let last: LTMBackend = first;
      try {
        const expiresAt = Date.now() + 3_600_000;
        await succeeded(first.store('plain', { text: 'the lighthouse keeper', n: [1, 2.5] }, { tag: 'p', nested: { x: 1 } }), 'store plain');
        await succeeded(first.store('null', null), 'store null');
        await succeeded(first.store('ttl', 'expires later', null, { expiresAt }), 'store with expiresAt');
        await succeeded(first.store('updated', 1), 'store updated (first)');
        await succeeded(first.store('updated', 2, { version: 2 }), 'store updated (second)');
        await succeeded(first.store('deleted', 1), 'store deleted');
        await succeeded(first.delete('deleted'), 'delete deleted');
        const plain = await succeeded(first.retrieve('plain'), 'retrieve plain before close');
        const updated = await succeeded(first.retrieve('updated'), 'retrieve updated before close');
        const ttl = await succeeded(first.retrieve('ttl'), 'retrieve ttl before close');
        await first.close();

        last = await reopen(first);
        same(await succeeded(last.retrieve('plain'), 'retrieve plain after reopen'), plain, 'plain entry after reopen (value, metadata and timestamps)');
        same(await succeeded(last.retrieve('updated'), 'retrieve updated after reopen'), updated, 'updated entry after reopen');
        same(await succeeded(last.retrieve('ttl'), 'retrieve ttl after reopen'), ttl, 'entry with expiresAt after reopen');
        const stillNull = await succeeded(last.retrieve('null', 'default'), 'retrieve null after reopen');
        check(stillNull.found === true && stillNull.value === null, 'a stored null is found as null after reopen');
        same(await succeeded(last.retrieve('deleted'), 'retrieve deleted after reopen'), { success: true, found: false, value: null }, 'a deleted key stays deleted after reopen');
        same(await listAll(last, {}, 'list after reopen'), sortedKeys(['null', 'plain', 'ttl', 'updated']), 'keys after reopen');
        if (harness.capabilities.fullTextSearch) {
          const hits = await succeeded(last.search('lighthouse'), 'search after reopen');
          same(hits.results.map((hit) => hit.key), ['plain'], 'search after reopen finds what was indexed before');
        }
        same((await succeeded(last.store('plain', 'again'), 'store over a persisted key')).created, false, 'a persisted live key is updated, not created');
        same((await succeeded(last.store('fresh', 1), 'store a new key after reopen')).created, true, 'a new key after reopen is created');
      } finally {
        await last.close();
        await harness.destroy?.(last);
      }
    },
  },
];
