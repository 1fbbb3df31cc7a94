/**
 * Deliberately broken backends, to prove the contract suite catches each mistake. Every variant wraps a
 * real MemoryBackend and overrides one method with a bug seen in real adapters.
 */
import { MemoryBackend } from '../../src/memory-backend.js';
import { encodeCursor, decodeCursor } from '../../src/cursor.js';
import { toFailure } from '../../src/errors.js';
import type { Filter } from '../../src/filter.js';
import type { JsonObject } from '../../src/json.js';
import type {
  BackendCapabilities,
  ExpiryOptions,
  ListItem,
  ListOptions,
  ListResult,
  LTMBackend,
  SearchOptions,
  StoreItem,
} from '../../src/types.js';
import { MAX_LIMIT } from '../../src/types.js';
import { normalizeListArgs } from '../../src/validation.js';
import type { BackendHarness } from '../../src/testing/index.js';

export const LIMIT_BYTES = 64 * 1024;

export const MEMORY_CAPABILITIES: BackendCapabilities = { persistent: false, writable: true, fullTextSearch: true, multiWriter: false };

export class DelegatingBackend implements LTMBackend {
  constructor(protected readonly inner: LTMBackend = new MemoryBackend({ maxValueBytes: LIMIT_BYTES })) {}

  get name(): string {
    return this.inner.name;
  }

  get capabilities(): BackendCapabilities {
    return this.inner.capabilities;
  }

  store(key: string, value: unknown, metadata?: JsonObject | null, options?: ExpiryOptions) {
    return this.inner.store(key, value, metadata, options);
  }

  retrieve<D = null>(key: string, defaultValue?: D) {
    return this.inner.retrieve(key, defaultValue);
  }

  delete(key: string) {
    return this.inner.delete(key);
  }

  search(query?: string | SearchOptions, metadataFilter?: Filter, limit?: number) {
    return this.inner.search(query, metadataFilter, limit);
  }

  storeMany(items: readonly StoreItem[]) {
    return this.inner.storeMany(items);
  }

  retrieveMany(keys: readonly string[]) {
    return this.inner.retrieveMany(keys);
  }

  list(options?: ListOptions) {
    return this.inner.list(options);
  }

  flush() {
    return this.inner.flush();
  }

  cleanupExpired() {
    return this.inner.cleanupExpired();
  }

  stats() {
    return this.inner.stats();
  }

  close() {
    return this.inner.close();
  }

  [Symbol.asyncDispose]() {
    return this.close();
  }
}

/**
 * `list` answered from every live item, filtered and ordered by the variant's own (wrong) rules, then
 * cut into pages: the shape of an adapter that fetches rows and pages in JavaScript.
 */
export async function listBy(
  inner: LTMBackend,
  options: ListOptions | undefined,
  select: (key: string, prefix: string | undefined) => boolean,
  order: (a: string, b: string) => number,
): Promise<ListResult> {
  try {
    const { prefix, limit, cursor } = normalizeListArgs(options);
    const all: ListItem[] = [];
    let next: string | undefined;
    do {
      const page = await inner.list({ limit: MAX_LIMIT, cursor: next });
      if (!page.success) return page;
      all.push(...page.items);
      next = page.nextCursor;
    } while (next !== undefined);
    const chosen = all.filter((item) => select(item.key, prefix)).sort((a, b) => order(a.key, b.key));
    const after = cursor === undefined ? -1 : chosen.findIndex((item) => item.key === decodeCursor('broken-list', cursor));
    const items = chosen.slice(after + 1, after + 1 + limit);
    const last = items[items.length - 1];
    return after + 1 + limit < chosen.length && last !== undefined
      ? { success: true, items, nextCursor: encodeCursor('broken-list', last.key) }
      : { success: true, items };
  } catch (error) {
    return toFailure(error);
  }
}

export interface BrokenVariant {
  harness: BackendHarness;
  /** The check that must catch the bug. */
  caughtBy: string;
}

export function brokenVariant(
  name: string,
  caughtBy: string,
  create: () => LTMBackend,
  capabilities: BackendCapabilities = MEMORY_CAPABILITIES,
): BrokenVariant {
  return {
    harness: { name, capabilities, create: async () => create(), maxValueBytes: LIMIT_BYTES },
    caughtBy,
  };
}
