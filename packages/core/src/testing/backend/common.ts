import type { Filter } from '../../filter.js';
import type { BackendCapabilities, LTMBackend, RetrieveFound, SearchHit, StoreItem } from '../../types.js';
import { check, sortedKeys, succeeded } from '../assertions.js';
import type { BackendHarness, ContractCheck } from '../harness.js';

export type BackendCheck = ContractCheck<BackendHarness>;

export const writable = (harness: BackendHarness): boolean => harness.capabilities.writable;
export const searchable = (harness: BackendHarness): boolean =>
  harness.capabilities.writable && harness.capabilities.fullTextSearch;

/** A result's capabilities reduced to the protocol's four, so extra fields do not hide a difference. */
export function protocolCapabilities(capabilities: Partial<BackendCapabilities> | undefined): Record<string, unknown> {
  const { persistent, writable: canWrite, fullTextSearch, multiWriter } = capabilities ?? {};
  return { persistent, writable: canWrite, fullTextSearch, multiWriter };
}

export async function storeAll(backend: LTMBackend, items: StoreItem[], doing: string): Promise<void> {
  const result = await succeeded(backend.storeMany(items), doing);
  check(result.stored === items.length, `${doing}: storeMany reported stored ${result.stored}, expected ${items.length}`);
}

/** Every hit of a search, following `nextCursor` (pages of `limit`). */
export async function searchAll(
  backend: LTMBackend,
  options: { query?: string; filter?: Filter; limit?: number },
  doing: string,
): Promise<SearchHit[]> {
  const hits: SearchHit[] = [];
  let cursor: string | undefined;
  for (let pages = 0; ; pages += 1) {
    check(pages < 1000, `${doing}: more than 1000 pages; nextCursor never runs out`);
    const page = await succeeded(backend.search({ ...options, cursor }), `${doing} (page ${pages + 1})`);
    check(page.count === page.results.length, `${doing}: count ${page.count} differs from results.length ${page.results.length}`);
    hits.push(...page.results);
    if (page.nextCursor === undefined) return hits;
    check(page.results.length > 0, `${doing}: an empty page came with a nextCursor`);
    cursor = page.nextCursor;
  }
}

/** Keys a filter selects (search without a query), in byte order. */
export async function filteredKeys(backend: LTMBackend, filter: Filter, doing: string): Promise<string[]> {
  const hits = await searchAll(backend, { filter, limit: 1000 }, doing);
  return sortedKeys(hits.map((hit) => hit.key));
}

/** Every live key, following `nextCursor`. */
export async function listAll(
  backend: LTMBackend,
  options: { prefix?: string; limit?: number },
  doing: string,
): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; ; pages += 1) {
    check(pages < 1000, `${doing}: more than 1000 pages; nextCursor never runs out`);
    const page = await succeeded(backend.list({ ...options, cursor }), `${doing} (page ${pages + 1})`);
    if (options.limit !== undefined) {
      check(page.items.length <= options.limit, `${doing}: a page of ${page.items.length} items exceeds limit ${options.limit}`);
    }
    keys.push(...page.items.map((item) => item.key));
    if (page.nextCursor === undefined) return keys;
    check(page.items.length > 0, `${doing}: an empty page came with a nextCursor`);
    cursor = page.nextCursor;
  }
}

/** Retrieves a key that must be live. */
export async function found(backend: LTMBackend, key: string, doing: string): Promise<RetrieveFound> {
  const result = await succeeded(backend.retrieve(key), doing);
  check(result.found === true, `${doing}: ${JSON.stringify(key)} must be found`);
  return result as RetrieveFound;
}

/** Retrieves a key that must not be live. */
export async function missing(backend: LTMBackend, key: string, doing: string): Promise<void> {
  const result = await succeeded(backend.retrieve(key), doing);
  check(result.found === false, `${doing}: ${JSON.stringify(key)} must not be found, got ${JSON.stringify(result.value)}`);
}
