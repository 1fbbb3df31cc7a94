/**
 * The `StorageFormat` contract: what a format must do for the backend to build on it (format.ts). The
 * suite commits batches and reads them back through `format.relation(...)` with DuckDB SQL, so it checks
 * exactly what the backend will see.
 */
import type { CommitBatch, DocRow, EntryRow, RelationName, TermRow } from '../format.js';
import { check, fail, preview, same, sortedKeys, withTimeZone } from './assertions.js';
import type { ContractCheck, FormatUnderTest, StorageFormatHarness } from './harness.js';

export type StorageFormatCheck = ContractCheck<StorageFormatHarness>;

/** 2024-05-01T12:34:56.789Z: milliseconds set, so truncation to seconds shows. */
const T0 = Date.UTC(2024, 4, 1, 12, 34, 56, 789);
const HOUR = 3_600_000;
const ODD_TIME_ZONE = 'Pacific/Chatham';

/** What one key should look like through the relations: its row, postings and document lengths. */
interface KeyState {
  entry: EntryRow;
  terms: TermRow[];
  doc: DocRow | undefined;
}

type Model = Map<string, KeyState>;

interface EntrySnapshot {
  key: string;
  value: unknown;
  metadata: unknown;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
}

function entry(key: string, overrides: Partial<EntryRow> = {}): EntryRow {
  return {
    key,
    value: JSON.stringify({ text: `value of ${key}` }),
    metadata: JSON.stringify({ key }),
    createdAt: T0,
    updatedAt: T0,
    expiresAt: null,
    ...overrides,
  };
}

/** Index rows for `words`: field 0 terms with their counts, plus one extra-field term. */
function indexRows(key: string, words: readonly string[]): { terms: TermRow[]; doc: DocRow } {
  const counts = new Map<string, number>();
  for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
  const terms: TermRow[] = [...counts].map(([term, tf]) => ({ key, field: 0, term, tf }));
  terms.push({ key, field: 1, term: '42', tf: 1 });
  return { terms, doc: { key, length: words.length, extraLength: 1 } };
}

/** A batch putting each key with its words indexed, and the model it should produce. */
function putBatch(model: Model, puts: ReadonlyArray<[EntryRow, readonly string[]]>, deletes: readonly string[] = []): CommitBatch {
  const batch: CommitBatch = { puts: [], deletes: [...deletes], terms: [], docs: [] };
  for (const [row, words] of puts) {
    const { terms, doc } = indexRows(row.key, words);
    batch.puts.push(row);
    batch.terms?.push(...terms);
    batch.docs?.push(doc);
    model.set(row.key, { entry: row, terms, doc });
  }
  for (const key of deletes) model.delete(key);
  return batch;
}

function number(value: unknown, what: string): number {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number') return value;
  fail(`${what}: expected a number from the query, got ${preview(value)} (cast in SQL did not give a number?)`);
}

function nullableNumber(value: unknown, what: string): number | null {
  return value === null || value === undefined ? null : number(value, what);
}

function parseJson(text: unknown, what: string): unknown {
  check(typeof text === 'string', `${what}: expected JSON text, got ${preview(text)} (SQL NULL is not the JSON null)`);
  try {
    return JSON.parse(text);
  } catch {
    fail(`${what}: not valid JSON text: ${preview(text)}`);
  }
}

/** Reads the relations as a caller must: after `prepareRead()`, for a format that updates them lazily. */
async function readRelation(under: FormatUnderTest, sql: string): Promise<Record<string, unknown>[]> {
  await under.format.prepareRead?.();
  return under.query(sql);
}

async function readEntries(under: FormatUnderTest): Promise<EntrySnapshot[]> {
  const rows = await readRelation(
    under,
    `SELECT "key"::VARCHAR AS "key", "value"::VARCHAR AS "value", "metadata"::VARCHAR AS "metadata",
            epoch_ms("created_at")::DOUBLE AS "created_at", epoch_ms("updated_at")::DOUBLE AS "updated_at",
            epoch_ms("expires_at")::DOUBLE AS "expires_at"
       FROM ${under.format.relation('entries')}`,
  );
  return rows
    .map((row) => {
      const key = String(row.key);
      return {
        key,
        value: parseJson(row.value, `entries.value of ${key}`),
        metadata: parseJson(row.metadata, `entries.metadata of ${key}`),
        createdAt: number(row.created_at, `entries.created_at of ${key}`),
        updatedAt: number(row.updated_at, `entries.updated_at of ${key}`),
        expiresAt: nullableNumber(row.expires_at, `entries.expires_at of ${key}`),
      };
    })
    .sort((a, b) => compareText(a.key, b.key));
}

async function readTerms(under: FormatUnderTest): Promise<TermRow[]> {
  const rows = await readRelation(
    under,
    `SELECT "key"::VARCHAR AS "key", "field"::INTEGER AS "field", "term"::VARCHAR AS "term", "tf"::INTEGER AS "tf"
       FROM ${under.format.relation('terms')}`,
  );
  return rows
    .map((row) => ({ key: String(row.key), field: number(row.field, 'terms.field') as 0 | 1, term: String(row.term), tf: number(row.tf, 'terms.tf') }))
    .sort(compareTerms);
}

async function readDocs(under: FormatUnderTest): Promise<DocRow[]> {
  const rows = await readRelation(
    under,
    `SELECT "key"::VARCHAR AS "key", "length"::INTEGER AS "length", "extra_length"::INTEGER AS "extra_length"
       FROM ${under.format.relation('docs')}`,
  );
  return rows
    .map((row) => ({ key: String(row.key), length: number(row.length, 'docs.length'), extraLength: number(row.extra_length, 'docs.extra_length') }))
    .sort((a, b) => compareText(a.key, b.key));
}

function compareText(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function compareTerms(a: TermRow, b: TermRow): number {
  return compareText(a.key, b.key) || a.field - b.field || compareText(a.term, b.term);
}

/** Asserts the three relations show exactly the model. */
async function expectState(under: FormatUnderTest, model: Model, doing: string): Promise<void> {
  const states = [...model.values()];
  const expectedEntries: EntrySnapshot[] = states
    .map(({ entry: row }) => ({
      key: row.key,
      value: JSON.parse(row.value),
      metadata: JSON.parse(row.metadata),
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
      expiresAt: row.expiresAt,
    }))
    .sort((a, b) => compareText(a.key, b.key));
  same(await readEntries(under), expectedEntries, `${doing}: relation('entries') (timestamps as epoch ms, UTC)`);
  same(await readTerms(under), states.flatMap((state) => state.terms).sort(compareTerms), `${doing}: relation('terms')`);
  const docs = states.flatMap((state) => (state.doc === undefined ? [] : [state.doc]));
  same(await readDocs(under), docs.sort((a, b) => compareText(a.key, b.key)), `${doing}: relation('docs')`);
}

async function count(under: FormatUnderTest, relation: RelationName): Promise<number> {
  const [row] = await readRelation(under, `SELECT count(*)::INTEGER AS "n" FROM ${under.format.relation(relation)}`);
  return number(row?.n, `count of ${relation}`);
}

async function rejection(promise: Promise<unknown>, doing: string): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  fail(`${doing}: expected a rejection, but it resolved`);
}

function errorTypeOf(error: unknown): unknown {
  return error !== null && typeof error === 'object' ? (error as { errorType?: unknown }).errorType : undefined;
}

/** The default way to make a batch unacceptable: the last put's value is not JSON. */
function spoil(batch: CommitBatch): CommitBatch {
  const last = batch.puts[batch.puts.length - 1];
  check(last !== undefined, 'spoil: the batch needs a put');
  return { ...batch, puts: [...batch.puts.slice(0, -1), { ...last, value: '{"not": json' }] };
}

/** Opens a format on `location`, runs `body`, closes it and disposes of the engine whatever happened. */
async function withOpenFormat(
  harness: StorageFormatHarness,
  location: string,
  readOnly: boolean,
  body: (under: FormatUnderTest) => Promise<void>,
): Promise<void> {
  const under = await harness.instantiate(location, { readOnly });
  try {
    await under.format.open(under.context);
    await body(under);
  } finally {
    try {
      await under.format.close();
    } finally {
      await under.dispose?.();
    }
  }
}

/** A fresh location for `body`, removed afterwards. */
async function withLocation(harness: StorageFormatHarness, body: (location: string) => Promise<void>): Promise<void> {
  const location = await harness.newLocation();
  try {
    await body(location);
  } finally {
    await harness.removeLocation?.(location);
  }
}

function withFreshFormat(harness: StorageFormatHarness, body: (under: FormatUnderTest) => Promise<void>): Promise<void> {
  return withLocation(harness, (location) => withOpenFormat(harness, location, false, body));
}

const AWKWARD_KEYS = ["it's", 'say "hi"', "'; DROP TABLE ltm_store; --", 'a%b_c', 'back\\slash', 'new\nline', 'ключ', '日本語', '😀', 'cafe\u0301', 'café'];

export const storageFormatContractChecks: readonly StorageFormatCheck[] = [
  {
    name: 'format: open creates an empty store and declares its capabilities',
    async run(harness) {
      await withFreshFormat(harness, async (under) => {
        check(typeof under.format.name === 'string' && under.format.name.length > 0, 'format.name must be a non-empty string');
        const { writable, multiWriter, persistent, compaction } = under.format.capabilities;
        for (const [name, value] of Object.entries({ writable, multiWriter, persistent, compaction })) {
          check(typeof value === 'boolean', `format.capabilities.${name} must be a boolean`);
        }
        same(writable, true, 'a format opened without readOnly is writable');
        same(persistent, harness.persistent, 'format.capabilities.persistent matches the harness');
        if (compaction) {
          check(typeof under.format.compact === 'function' && typeof under.format.vacuum === 'function', 'capabilities.compaction requires compact() and vacuum()');
        }
        for (const relation of ['entries', 'terms', 'docs'] as const) same(await count(under, relation), 0, `relation('${relation}') of a new store is empty`);
      });
    },
  },
  {
    name: 'format: a commit makes puts visible in entries with the documented columns, timestamps as UTC instants',
    async run(harness) {
      // A format that writes wall-clock time somewhere converts with the engine's zone: make that zone odd.
      await withTimeZone(ODD_TIME_ZONE, () => withFreshFormat(harness, async (under) => {
        const model: Model = new Map();
        await under.format.commit(putBatch(model, [
          [entry('plain'), ['plain', 'text']],
          [entry('null-value', { value: 'null', metadata: '{}' }), []],
          [entry('expiring', { createdAt: T0 - 5, updatedAt: T0 + 7, expiresAt: T0 + HOUR + 1 }), ['expiring']],
          [entry('nested', { value: JSON.stringify({ a: [1, 2.5, null, { b: 'c' }], s: 'line\nbreak \u0000 \u2028 😀' }), metadata: JSON.stringify({ tags: ['x'], n: { deep: true } }) }), ['nested']],
        ]));
        await expectState(under, model, 'after one commit');
        const [nullRow] = await readRelation(under, `SELECT ("value" IS NULL) AS "is_sql_null" FROM ${under.format.relation('entries')} WHERE "key" = 'null-value'`);
        same(nullRow?.is_sql_null, false, 'a JSON null value is the JSON text null, not SQL NULL');
      }));
    },
  },
  {
    name: 'format: a later put of a key replaces its row (one row per key)',
    async run(harness) {
      await withFreshFormat(harness, async (under) => {
        const model: Model = new Map();
        await under.format.commit(putBatch(model, [[entry('k', { value: '"v1"' }), ['first']]]));
        await under.format.commit(putBatch(model, [[entry('k', { value: '"v2"', updatedAt: T0 + 1000 }), ['second']]]));
        await expectState(under, model, 'after two commits of one key');
        const many = Array.from({ length: 50 }, (_, index) => entry(`key-${index}`));
        await under.format.commit(putBatch(model, many.map((row) => [row, ['one']])));
        await under.format.commit(putBatch(model, many.slice(0, 25).map((row) => [{ ...row, value: '"again"', updatedAt: T0 + 2000 }, ['two']])));
        await expectState(under, model, 'after overlapping batches');
        const duplicates = await readRelation(under, `SELECT "key"::VARCHAR AS "key" FROM ${under.format.relation('entries')} GROUP BY "key" HAVING count(*) > 1`);
        same(duplicates, [], 'no key has two rows');
      });
    },
  },
  {
    name: 'format: deletes remove the row and its terms and docs',
    async run(harness) {
      await withFreshFormat(harness, async (under) => {
        const model: Model = new Map();
        await under.format.commit(putBatch(model, [[entry('a'), ['alpha']], [entry('b'), ['beta']], [entry('c'), ['gamma']]]));
        await under.format.commit(putBatch(model, [], ['a']));
        await expectState(under, model, 'after deleting a');
        await under.format.commit(putBatch(model, [[entry('d'), ['delta']]], ['b']));
        await expectState(under, model, 'after a batch that puts d and deletes b');
        await under.format.commit({ puts: [], deletes: ['never-stored'], terms: [], docs: [] });
        await expectState(under, model, 'after deleting a key that was never stored');
      });
    },
  },
  {
    name: 'format: the terms and docs of a key are replaced by its next put, not accumulated',
    async run(harness) {
      await withFreshFormat(harness, async (under) => {
        const model: Model = new Map();
        await under.format.commit(putBatch(model, [[entry('k'), ['apple', 'banana', 'banana']], [entry('other'), ['apple']]]));
        await under.format.commit(putBatch(model, [[entry('k', { updatedAt: T0 + 1 }), ['cherry']]]));
        await expectState(under, model, 'after re-indexing k');
        await under.format.commit(putBatch(model, [[entry('k', { updatedAt: T0 + 2 }), []]]));
        await expectState(under, model, 'after re-indexing k with no parity terms');
      });
    },
  },
  {
    name: 'format: a batch the format rejects leaves nothing of it visible and earlier data intact',
    async run(harness) {
      await withFreshFormat(harness, async (under) => {
        const model: Model = new Map();
        await under.format.commit(putBatch(model, [[entry('a'), ['alpha']], [entry('b'), ['beta']], [entry('c'), ['gamma']]]));
        const scratch: Model = new Map(model);
        const good = putBatch(scratch, [[entry('d'), ['delta']], [entry('a', { value: '"changed"', updatedAt: T0 + 1 }), ['changed']]], ['b']);
        const bad = (harness.spoilBatch ?? spoil)(good);
        await rejection(under.format.commit(bad), 'commit of a batch the format must reject');
        await expectState(under, model, 'after a rejected batch');
        await under.format.commit(putBatch(model, [[entry('e'), ['epsilon']]]));
        await expectState(under, model, 'a commit after a rejected batch works');
      });
    },
  },
  {
    name: 'format: removeExpired removes rows expired before now, with their terms and docs, and counts them',
    async run(harness) {
      await withFreshFormat(harness, async (under) => {
        const model: Model = new Map();
        const now = T0 + 10_000;
        await under.format.commit(putBatch(model, [
          [entry('gone-long-ago', { expiresAt: now - 1000 }), ['old']],
          [entry('gone-just-now', { expiresAt: now - 1 }), ['old']],
          [entry('stays', { expiresAt: now + 60_000 }), ['new']],
          [entry('forever'), ['new']],
        ]));
        same(await under.format.removeExpired(now), 2, 'removeExpired counts the expired rows');
        model.delete('gone-long-ago');
        model.delete('gone-just-now');
        await expectState(under, model, 'after removeExpired');
        same(await under.format.removeExpired(now), 0, 'a second removeExpired finds nothing');
      });
    },
  },
  {
    name: 'format: keys, JSON text and terms with quotes, SQL text and Unicode round-trip; a batch of 2000 commits whole',
    async run(harness) {
      await withFreshFormat(harness, async (under) => {
        const model: Model = new Map();
        await under.format.commit(putBatch(model, AWKWARD_KEYS.map((key, index) => [
          entry(key, { value: JSON.stringify({ key, quote: "it's \"quoted\"", index }), metadata: JSON.stringify({ [key]: key }) }),
          [key.toLowerCase().replace(/\s+/g, ''), 'café', 'привет', '日本'],
        ])));
        await expectState(under, model, 'after committing awkward keys');
        same(sortedKeys((await readEntries(under)).map((row) => row.key)), sortedKeys(AWKWARD_KEYS), 'every key unchanged');
        await under.format.commit(putBatch(model, Array.from({ length: 2000 }, (_, index) => [entry(`bulk-${index}`), ['bulk']])));
        same(await count(under, 'entries'), AWKWARD_KEYS.length + 2000, 'a batch of 2000 puts is visible whole');
        same(await count(under, 'docs'), AWKWARD_KEYS.length + 2000, 'docs of the batch');
      });
    },
  },
  {
    name: 'format: an empty commit is harmless; refresh resolves a boolean; close is idempotent',
    async run(harness) {
      await withLocation(harness, async (location) => {
        const under = await harness.instantiate(location, { readOnly: false });
        try {
          await under.format.open(under.context);
          const model: Model = new Map();
          await under.format.commit({ puts: [], deletes: [] });
          await under.format.commit(putBatch(model, [[entry('k'), ['word']]]));
          same(typeof (await under.format.refresh()), 'boolean', 'refresh() resolves true or false');
          await expectState(under, model, 'after an empty commit, a commit and refresh');
          await under.format.close();
          await under.format.close();
        } finally {
          // A third close is harmless for a correct format and releases a broken one after a failed assertion.
          await under.format.close().finally(() => under.dispose?.());
        }
      });
    },
  },
  {
    name: 'format: committed data survives close and a new open of the same location',
    appliesTo: (harness) => harness.persistent,
    async run(harness) {
      await withLocation(harness, async (location) => {
        const model: Model = new Map();
        await withOpenFormat(harness, location, false, async (under) => {
          await under.format.commit(putBatch(model, [[entry('a'), ['alpha']], [entry('b', { expiresAt: T0 + HOUR }), ['beta']]]));
          await under.format.commit(putBatch(model, [[entry('c'), ['gamma']]], ['a']));
        });
        await withOpenFormat(harness, location, false, async (under) => {
          await expectState(under, model, 'after close and open');
          await under.format.commit(putBatch(model, [[entry('d'), ['delta']]]));
        });
        await withOpenFormat(harness, location, false, async (under) => {
          await expectState(under, model, 'after a second close and open');
        });
      });
    },
  },
  {
    name: 'format: a read-only open refuses commit with read_only and keeps the data',
    async run(harness) {
      await withLocation(harness, async (location) => {
        const model: Model = new Map();
        if (harness.persistent) {
          await withOpenFormat(harness, location, false, async (under) => {
            await under.format.commit(putBatch(model, [[entry('a'), ['alpha']]]));
          });
        }
        await withOpenFormat(harness, location, true, async (under) => {
          same(under.format.capabilities.writable, false, 'a read-only open declares writable: false');
          await expectState(under, model, 'read-only open');
          const error = await rejection(under.format.commit(putBatch(new Map(), [[entry('b'), ['beta']]])), 'commit on a read-only open');
          same(errorTypeOf(error), 'read_only', `a read-only commit rejects with an LTMError of errorType read_only (got ${preview(error instanceof Error ? error.message : error)})`);
          await expectState(under, model, 'after the refused commit');
        });
      });
    },
  },
];
