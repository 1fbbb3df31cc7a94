// The SQL compiled from a filter must select exactly the entries core's reference `matchesFilter`
// selects, for arbitrary metadata and filters (fast-check explores the shapes we did not think of).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { matchesFilter, parseFilter } from '@ltm/core';
import type { Filter, JsonObject, JsonValue } from '@ltm/core';
import { DuckDBLTMBackend } from '../src/index.js';

const names = ['a', 'b', 'c.d', 'x/y', 'q"uote', "it's", 'é', '~t'] as const;
const scalar: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom<JsonValue>(null, true, false, 0, 1, -1, 1.5, '1', 'true', '', 'a', 'b', 'é', 'z', '😀'),
  fc.integer({ min: -3, max: 3 }),
);
const value: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('v'), { maxKeys: 3 }),
  ),
})).v;
const metadata = fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 5 }) as fc.Arbitrary<JsonObject>;
const path = fc.oneof(fc.constantFrom(...names.filter((n) => !n.includes('.'))), fc.constantFrom('a.a', 'a.b', 'b.c.a', 'x/y.a'));
const comparable = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -3, max: 3, noNaN: true }), fc.constantFrom('', 'a', 'b', 'é', 'z', '😀', '1'));
const condition = fc.oneof(
  value,
  fc.record({ $eq: value }),
  fc.record({ $ne: value }),
  fc.record({ $gt: comparable }),
  fc.record({ $gte: comparable }),
  fc.record({ $lt: comparable }),
  fc.record({ $lte: comparable }),
  fc.record({ $in: fc.array(value, { maxLength: 3 }) }),
  fc.record({ $nin: fc.array(value, { maxLength: 3 }) }),
  fc.record({ $exists: fc.boolean() }),
  fc.record({ $gte: comparable, $lt: comparable }),
);
// Filter objects whose operator-looking keys would be ambiguous are not generated: operands never contain `$` keys.
const filter = fc.dictionary(path, condition, { minKeys: 1, maxKeys: 3 }) as fc.Arbitrary<Filter>;

describe('metadata filters compiled to SQL', () => {
  let backend: DuckDBLTMBackend;
  let records: JsonObject[];

  beforeAll(async () => {
    backend = await DuckDBLTMBackend.open();
    records = fc.sample(metadata, { numRuns: 400, seed: 42 });
    records.push({}, { a: null }, { a: 1 }, { a: '1' }, { a: true }, { a: { a: 1, b: 2 } }, { a: { b: 2, a: 1 } }, { a: [1, 2] }, { a: [2, 1] }, { 'c.d': 1, c: { d: 2 } });
    const stored = await backend.storeMany(records.map((m, i) => ({ key: `k${String(i).padStart(4, '0')}`, value: i, metadata: m })));
    expect(stored.success).toBe(true);
  });
  afterAll(async () => backend.close());

  async function keysFor(f: Filter): Promise<string[]> {
    const result = await backend.search({ filter: f, limit: 10_000 });
    if (!result.success) throw new Error(`${result.errorType}: ${result.error}`);
    return result.results.map((r) => r.key).sort();
  }

  it('selects exactly what matchesFilter selects, for random filters', async () => {
    await fc.assert(
      fc.asyncProperty(filter, async (f) => {
        const conditions = parseFilter(f);
        const expected = records
          .map((m, i) => [m, `k${String(i).padStart(4, '0')}`] as const)
          .filter(([m]) => matchesFilter(m, conditions))
          .map(([, key]) => key)
          .sort();
        expect(await keysFor(f)).toEqual(expected);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('treats a dotted field as a nested path, never as a literal key with a dot', async () => {
    const keys = await keysFor({ 'c.d': 2 });
    expect(keys).toContain(`k${String(records.length - 1).padStart(4, '0')}`);
    expect(await keysFor({ 'c.d': 1 })).not.toContain(`k${String(records.length - 1).padStart(4, '0')}`);
  });

  it('binds field names and values: SQL text in a filter is data', async () => {
    const evil = "x') OR 1=1; DROP TABLE ltm_store; --";
    expect(await keysFor({ [evil]: evil })).toEqual([]);
    expect(await keysFor({ a: { $in: [evil, "'"] } })).toEqual([]);
    const all = await backend.list({ limit: 10_000 });
    expect(all.success && all.items.length).toBe(records.length);
  });
});
