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

// Both engines share the file's one DuckDB instance; reads alternate between them so background load
// hits both alike.
const cached = await DuckDBQueryEngine.open({ path, poolSize: 1 });
const uncached = await DuckDBQueryEngine.open({ path, poolSize: 1, statementCacheSize: 0 });
const engines = [
  { label: 'statement cache 64 (default)', engine: cached, point: 0, many: 0 },
  { label: 'statement cache off', engine: uncached, point: 0, many: 0 },
];
for (const side of engines) for (let i = 0; i < 200; i++) await side.engine.query(POINT, [pick(i)]);
for (let i = 0; i < reads; i++) {
  for (const side of engines) {
    const started = performance.now();
    await side.engine.query(POINT, [pick(i)]);
    side.point += performance.now() - started;
  }
}
const batches = Math.max(1, Math.floor(reads / 10));
for (let i = 0; i < batches; i++) {
  const keys = Array.from({ length: 100 }, (_, j) => pick(i * 100 + j));
  for (const side of engines) {
    const started = performance.now();
    await side.engine.query(MANY, [keys]);
    side.many += performance.now() - started;
  }
}
console.log(`${rows} rows, ${reads} reads, DuckDB file ${path}`);
for (const side of engines) {
  const point = side.point / reads;
  const many = side.many / batches;
  console.log(
    `${side.label.padEnd(30)} point read ${(point * 1000).toFixed(0).padStart(5)} µs   ` +
      `100-key IN (unnest) read ${many.toFixed(2)} ms (${((100 / many) * 1000).toFixed(0)} keys/s)`,
  );
}
await cached.close();
await uncached.close();
rmSync(directory, { recursive: true, force: true });
