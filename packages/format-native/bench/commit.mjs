// Commit throughput of NativeFormat for batches of 1, 64 and 10,000 entries (10 postings each) on a
// store already holding --preload entries, each commit overwriting existing keys. Not a test: numbers
// vary with the machine and its load. Build first (turbo run build), then:
//   node packages/format-native/bench/commit.mjs [--preload 20000] [--new-keys] [--no-indexes] [--strategy staging|multirow]
// --new-keys commits keys the store does not hold yet instead of overwriting.
// --no-indexes drops the ART indexes on the postings table, to compare; --strategy multirow commits with
// multi-row parameterized INSERTs instead of the format's appender staging, to compare.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { NativeFormat } from '../dist/index.js';

const { values: args } = parseArgs({
  options: {
    preload: { type: 'string', default: '20000' },
    'no-indexes': { type: 'boolean', default: false },
    'new-keys': { type: 'boolean', default: false },
    strategy: { type: 'string', default: 'staging' },
    sizes: { type: 'string', default: '1,64,10000' },
  },
});
const preload = Number(args.preload);
const TERMS_PER_ENTRY = 10;
const directory = mkdtempSync(join(tmpdir(), 'ltm-bench-commit-'));
const path = join(directory, 'commit.duckdb');
const engine = await DuckDBQueryEngine.open({ path });
const format = new NativeFormat();
await format.open({ engine, uri: path, tableName: 'ltm_store', readOnly: false });
if (args['no-indexes']) {
  await engine.run('DROP INDEX ltm_store__terms_key');
  await engine.run('DROP INDEX ltm_store__terms_term');
}

let sequence = 0;
function batch(size, fresh = args['new-keys']) {
  const puts = [];
  const terms = [];
  const docs = [];
  for (let i = 0; i < size; i++) {
    const n = sequence++;
    const key = fresh ? `new-${n}` : `key-${(n * 7919) % Math.max(preload, 1)}`;
    const now = Date.now();
    puts.push({ key, value: JSON.stringify({ text: `note ${n} about topic ${n % 97}` }), metadata: '{"source":"bench"}', createdAt: now, updatedAt: now, expiresAt: null });
    for (let t = 0; t < TERMS_PER_ENTRY; t++) terms.push({ key, field: 0, term: `term${(n * 31 + t) % 5000}`, tf: 1 });
    docs.push({ key, length: TERMS_PER_ENTRY, extraLength: 0 });
  }
  return { puts, deletes: [], terms, docs };
}

/** The alternative measured against: delete by key list, then multi-row INSERT ... VALUES with bound parameters. */
async function commitMultiRow(b) {
  const placeholders = (rows, columns, wrap = (p) => p) =>
    Array.from({ length: rows }, (_, r) => `(${Array.from({ length: columns }, (_, c) => wrap(`$${r * columns + c + 1}`, c)).join(', ')})`).join(', ');
  const CHUNK = 200;
  await engine.transaction(async (connection) => {
    const keys = b.puts.map((p) => p.key);
    for (const table of ['ltm_store', 'ltm_store__terms', 'ltm_store__docs']) {
      await connection.run(`DELETE FROM ${table} WHERE key IN (SELECT unnest($1))`, [keys]);
    }
    const entryWrap = (p, c) => (c === 1 || c === 2 ? `${p}::JSON` : c >= 3 ? `make_timestamp(${p} * 1000)` : p);
    for (let i = 0; i < b.puts.length; i += CHUNK) {
      const chunk = b.puts.slice(i, i + CHUNK);
      await connection.run(`INSERT INTO ltm_store VALUES ${placeholders(chunk.length, 6, entryWrap)}`,
        chunk.flatMap((p) => [p.key, p.value, p.metadata, p.createdAt, p.updatedAt, p.expiresAt]));
    }
    for (let i = 0; i < b.terms.length; i += CHUNK) {
      const chunk = b.terms.slice(i, i + CHUNK);
      await connection.run(`INSERT INTO ltm_store__terms VALUES ${placeholders(chunk.length, 4)}`, chunk.flatMap((t) => [t.key, t.field, t.term, t.tf]));
    }
    for (let i = 0; i < b.docs.length; i += CHUNK) {
      const chunk = b.docs.slice(i, i + CHUNK);
      await connection.run(`INSERT INTO ltm_store__docs VALUES ${placeholders(chunk.length, 3)}`, chunk.flatMap((d) => [d.key, d.length, d.extraLength]));
    }
  });
}

const commit = args.strategy === 'multirow' ? commitMultiRow : (b) => format.commit(b);

for (let done = 0; done < preload; done += 10_000) await format.commit(batch(Math.min(10_000, preload - done), false));
sequence = 0;
console.log(
  `strategy ${args.strategy}, postings indexes ${args['no-indexes'] ? 'off' : 'on'}, ${args['new-keys'] ? 'new keys' : 'overwriting'}, ` +
    `${preload} entries preloaded (${preload * TERMS_PER_ENTRY} postings), file ${path}`,
);

for (const size of args.sizes.split(',').map(Number)) {
  const repetitions = size === 1 ? 200 : size <= 64 ? 50 : 3;
  await commit(batch(size));
  const times = [];
  for (let r = 0; r < repetitions; r++) {
    const b = batch(size);
    const started = performance.now();
    await commit(b);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `batch ${String(size).padStart(6)}: median ${median.toFixed(2).padStart(8)} ms/commit, mean ${mean.toFixed(2).padStart(8)} ms  → ${((size / mean) * 1000).toFixed(0).padStart(6)} entries/s`,
  );
}

const lookups = 300;
let started = performance.now();
for (let i = 0; i < lookups; i++) {
  await engine.query('SELECT key, tf FROM ltm_store__terms WHERE term IN (SELECT unnest($1))', [[`term${i}`, `term${i + 1}`, `term${i + 2}`]]);
}
console.log(`postings lookup of 3 terms: ${((performance.now() - started) / lookups).toFixed(2)} ms`);
started = performance.now();
for (let i = 0; i < lookups; i++) await engine.query('SELECT value FROM ltm_store WHERE key = $1', [`key-${i}`]);
console.log(`point read by key: ${((performance.now() - started) / lookups).toFixed(2)} ms`);

await format.close();
await engine.close();
rmSync(directory, { recursive: true, force: true });
