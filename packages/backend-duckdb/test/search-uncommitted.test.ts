// A search answered from the in-memory index reflects every acknowledged write without waiting for the
// applier to commit it to DuckDB: the table store hands each write over (analyzed once, the same index
// rows later go to the commit), the index is built from the relations plus the uncommitted writes, and a
// search without a query merges the uncommitted writes into what SQL finds. Commits are held back here
// (the DuckDB tables stay empty while the searches run) to show no search needed one.
import { afterEach, describe, expect, it } from 'vitest';
import { analyzeDocument, analyzeQuery, parseFilter, scoreBm25 } from '@ltm/core';
import type { CommitBatch, DocumentTerms, JsonObject, JsonValue, StorageFormat } from '@ltm/core';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { createNativeFormat } from '@ltm/format-native';
import { Searcher } from '../src/search/searcher.js';
import { TableStore } from '../src/store/table-store.js';
import type { WriteOp } from '../src/store/types.js';
import { seededRandom } from './parity/duckdb-fts.js';

interface Gate {
  /** Commits the format has been asked for. */
  asked: number;
  hold(): void;
  release(): void;
}

/** The native format, whose commits wait while the gate is held. */
function gatedFormat(): { format: StorageFormat<DuckDBQueryEngine>; gate: Gate } {
  const inner = createNativeFormat();
  let opened: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;
  const gate: Gate = {
    asked: 0,
    hold() {
      opened = new Promise((resolve) => (open = resolve));
    },
    release() {
      open();
    },
  };
  const format: StorageFormat<DuckDBQueryEngine> = {
    name: inner.name,
    get capabilities() {
      return inner.capabilities;
    },
    open: (context) => inner.open(context),
    relation: (name) => inner.relation(name),
    commit: (batch: CommitBatch) => {
      gate.asked += 1;
      return opened.then(() => inner.commit(batch));
    },
    refresh: () => inner.refresh(),
    removeExpired: (now) => inner.removeExpired(now),
    close: () => inner.close(),
  };
  return { format, gate };
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function openStore(applyBatch = 4096): Promise<{ table: TableStore; searcher: Searcher; gate: Gate; engine: DuckDBQueryEngine }> {
  const engine = await DuckDBQueryEngine.open();
  const { format, gate } = gatedFormat();
  await format.open({ engine, uri: ':memory:', tableName: 'ltm_store', readOnly: false });
  const table = await TableStore.open({
    engine,
    ownsEngine: true,
    format,
    journalPath: null,
    tableName: 'ltm_store',
    writable: true,
    durability: 'os',
    cacheBytes: 1 << 20,
    applyDelayMs: 20,
    applyBatch,
    refreshIntervalMs: 5000,
  });
  const searcher = new Searcher({
    engine,
    relation: (name) => format.relation(name),
    fullText: true,
    searchEngine: 'bm25',
    readEntries: (keys, now) => table.readMany(keys, now),
    commits: table,
    catchUp: () => table.catchUp(),
    memoryMaxBytes: 1 << 30,
  });
  closers.push(async () => {
    gate.release();
    await searcher.close();
    await table.close();
  });
  return { table, searcher, gate, engine };
}

const put = (key: string, value: JsonValue, metadata: JsonObject = {}): WriteOp => ({
  kind: 'put',
  key,
  value: JSON.stringify(value),
  metadata: JSON.stringify(metadata),
  expiresAt: null,
});

const committedRows = async (engine: DuckDBQueryEngine): Promise<number> => {
  const [row] = await engine.query<{ n: number }>('SELECT count(*)::INTEGER AS n FROM ltm_store');
  return row?.n ?? -1;
};

const words = ['memory', 'agent', 'paris', 'tower', 'travel', 'dark', 'theme', 'the', 'running', 'runs', 'café', '東京タワー', '4521', 'budget'];

/** Random puts, updates and deletes over 80 keys, mirrored in `live`. */
function writes(seed: number, count: number, live: Map<string, DocumentTerms>): WriteOp[][] {
  const random = seededRandom(seed);
  const sentence = (): string => Array.from({ length: 1 + random(8) }, () => words[random(words.length)]).join(' ');
  const calls: WriteOp[][] = [];
  for (let i = 0; i < count; i++) {
    const key = `k${random(80)}`;
    if (random(6) === 0) {
      calls.push([{ kind: 'delete', key }]);
      live.delete(key);
    } else {
      const value = { text: sentence(), n: random(100) };
      const metadata = { tag: sentence() };
      calls.push([put(key, value, metadata)]);
      live.set(key, analyzeDocument(value, metadata));
    }
  }
  return calls;
}

async function expectRanking(searcher: Searcher, live: Map<string, DocumentTerms>, query: string): Promise<void> {
  const expected = [...scoreBm25(analyzeQuery(query), live.entries())].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const rows = await searcher.search({ query, conditions: [], limit: 1000, offset: 0, now: Date.now() });
  expect(rows.map((r) => r.key), query).toEqual(expected.map(([key]) => key));
  rows.forEach((row, i) => expect(row.score).toBeCloseTo(expected[i]?.[1] as number, 9));
}

describe('search over writes the applier has not committed', () => {
  it('builds the index from the relations plus the uncommitted writes, and follows later writes', async () => {
    const { table, searcher, gate, engine } = await openStore();
    const live = new Map<string, DocumentTerms>();
    // Some writes reach DuckDB, then commits are held: the rest only exist in the journal and memtable.
    for (const ops of writes(1, 150, live)) await table.write(ops);
    await table.catchUp();
    const committed = await committedRows(engine);
    gate.hold();
    for (const ops of writes(2, 150, live)) await table.write(ops);
    // The first search builds the index.
    for (const query of ['memory agent', 'the', 'running', 'cafe', '東京', '4521 budget']) await expectRanking(searcher, live, query);
    for (const ops of writes(3, 150, live)) await table.write(ops);
    for (const query of ['memory agent', 'paris tower travel', 'runs']) await expectRanking(searcher, live, query);
    // No search waited for a commit: DuckDB still holds what it held before the gate closed.
    expect(await committedRows(engine)).toBe(committed);
    gate.release();
    await table.catchUp();
    expect(await committedRows(engine)).toBe(live.size);
    for (const query of ['memory agent', 'the', 'cafe']) await expectRanking(searcher, live, query);
  });

  it('merges uncommitted writes into a search without a query: newest first, filtered, paged', async () => {
    const { table, searcher, gate } = await openStore();
    const random = seededRandom(11);
    const write = async (i: number): Promise<void> => {
      const key = `k${random(60)}`;
      if (random(8) === 0) await table.write([{ kind: 'delete', key }]);
      else await table.write([put(key, `note ${i}`, { kind: ['a', 'b', 'c'][random(3)] as string, i })]);
    };
    for (let i = 0; i < 120; i++) await write(i);
    await table.catchUp();
    gate.hold();
    const asked = gate.asked;
    for (let i = 120; i < 200; i++) await write(i);

    const now = Date.now();
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`);
    const entries = (await table.readMany(keys, now)).filter((row) => row !== null);
    const expected = entries
      .filter((row) => (JSON.parse(row.metadata) as { kind: string }).kind !== 'b')
      .sort((a, b) => b.updatedAt - a.updatedAt || (a.key < b.key ? -1 : 1))
      .map((row) => row.key);
    const conditions = parseFilter({ kind: { $ne: 'b' } });
    const pages: string[] = [];
    for (let offset = 0; offset < expected.length + 7; offset += 7) {
      const rows = await searcher.search({ query: undefined, conditions, limit: 7, offset, now });
      // One row past the page says whether another page exists.
      expect(rows.length).toBe(Math.min(8, Math.max(0, expected.length - offset)));
      pages.push(...rows.slice(0, 7).map((row) => row.key));
    }
    expect(pages).toEqual(expected);
    expect(gate.asked - asked).toBeLessThanOrEqual(1); // at most the applier's own commit, still waiting
  });

  it('never runs the applier inside a write call, even past applyBatch', async () => {
    const { table, gate, engine } = await openStore(100);
    await table.write(Array.from({ length: 500 }, (_, i) => put(`k${i}`, `memory ${i}`)));
    expect(gate.asked).toBe(0);
    await table.catchUp();
    expect(gate.asked).toBe(1);
    expect(await committedRows(engine)).toBe(500);
  });
});
