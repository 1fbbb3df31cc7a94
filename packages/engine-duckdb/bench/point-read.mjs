// Point-read latency through DuckDBQueryEngine, with and without the per-connection prepared-statement
// cache. Not a test: numbers vary with the machine and its load. Build first (turbo run build), then:
//   node packages/engine-duckdb/bench/point-read.mjs [--rows 20000] [--reads 3000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBQueryEngine } from '../dist/index.js';

const { values: args } = parseArgs({ options: { rows: { type: 'string', default: '20000' }, reads: { type: 'string', default: '3000' } } });
const rows = Number(args.rows);
const reads = Number(args.reads);
const directory = mkdtempSync(join(tmpdir(), 'ltm-bench-read-'));
const path = join(directory, 'read.duckdb');

const setup = await DuckDBQueryEngine.open({ path });
await setup.run(`CREATE TABLE ltm_store(key VARCHAR PRIMARY KEY, value JSON NOT NULL, metadata JSON,
                 created_at TIMESTAMP, updated_at TIMESTAMP, expires_at TIMESTAMP)`);
await setup.run(`INSERT INTO ltm_store SELECT 'key-' || i, json_object('text', 'value ' || i), '{}', now()::TIMESTAMP,
                 now()::TIMESTAMP, NULL FROM range(${rows}) r(i)`);
await setup.close();

const pick = (i) => `key-${(i * 7919) % rows}`;
const POINT = 'SELECT value, metadata, epoch_ms(updated_at) AS updated_at FROM ltm_store WHERE key = $1';
const MANY = 'SELECT key, value FROM ltm_store WHERE key IN (SELECT unnest($1))';

async function measure(label, statementCacheSize) {
  const engine = await DuckDBQueryEngine.open({ path, statementCacheSize, poolSize: 1 });
  for (let i = 0; i < 200; i++) await engine.query(POINT, [pick(i)]);
  let started = performance.now();
  for (let i = 0; i < reads; i++) await engine.query(POINT, [pick(i)]);
  const point = (performance.now() - started) / reads;
  const batches = Math.max(1, Math.floor(reads / 10));
  started = performance.now();
  for (let i = 0; i < batches; i++) await engine.query(MANY, [Array.from({ length: 100 }, (_, j) => pick(i * 100 + j))]);
  const many = (performance.now() - started) / batches;
  console.log(
    `${label.padEnd(28)} point read ${(point * 1000).toFixed(0).padStart(5)} µs   ` +
      `100-key IN (unnest) read ${many.toFixed(2)} ms (${((100 / many) * 1000).toFixed(0)} keys/s)`,
  );
  await engine.close();
}

console.log(`${rows} rows, ${reads} reads, DuckDB file ${path}`);
// Alternate the two settings so background load hits both alike.
for (let round = 1; round <= 2; round++) {
  await measure(`statement cache off (#${round})`, 0);
  await measure(`statement cache 64 (#${round})`, 64);
}
rmSync(directory, { recursive: true, force: true });
