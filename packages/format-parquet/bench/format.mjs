// Latency and storage numbers of ParquetFormat on local disk (or, with --s3, on the rig's S3 emulator).
// Not a test: numbers vary with the machine and its load. Build first
// (`turbo run build --filter=@ltm/format-parquet...`), then:
//   node packages/format-parquet/bench/format.mjs [--writes 300] [--entries 10000] [--fsync]
// Reports:
// - durable write latency, p50/p99: one writer committing one entry at a time, and 64 concurrent callers
//   whose calls are group-committed the way @ltm/backend-duckdb's write pipeline does (every call waiting
//   while a commit is in flight joins the next one);
// - point read latency through relation('entries') with a bound key: cold (new instance: open + first
//   read) and warm (random keys, statements and footers cached), before and after compaction;
// - objects and bytes the store holds per 1,000 single-entry writes, with automatic compaction off,
//   with it on, and after compact() + vacuum({ retentionMs: 0 }).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { ParquetFormat } from '../dist/index.js';

const { values: args } = parseArgs({
  options: {
    writes: { type: 'string', default: '300' },
    entries: { type: 'string', default: '10000' },
    reads: { type: 'string', default: '500' },
    fsync: { type: 'boolean', default: false },
  },
});
const WRITES = Number(args.writes);
const ENTRIES = Number(args.entries);
const READS = Number(args.reads);
const root = mkdtempSync(join(tmpdir(), 'ltm-parquet-bench-'));
let dirs = 0;

async function open(dir, options = {}) {
  const engine = await DuckDBQueryEngine.open({ path: ':memory:' });
  const format = new ParquetFormat({ refreshIntervalMs: 0, fsync: args.fsync, ...options });
  await format.open({ engine, uri: dir, tableName: 'ltm_store', readOnly: false });
  return { engine, format, close: async () => { await format.close(); await engine.close(); } };
}

function entry(key, n) {
  const now = Date.now();
  const text = `note ${n} about topic ${n % 97} for agent memory`;
  return {
    put: { key, value: JSON.stringify({ text }), metadata: '{"source":"bench"}', createdAt: now, updatedAt: now, expiresAt: null },
    terms: text.split(' ').map((term) => ({ key, field: 0, term, tf: 1 })),
    doc: { key, length: 8, extraLength: 1 },
  };
}

function batchOf(items) {
  return { puts: items.map((i) => i.put), deletes: [], terms: items.flatMap((i) => i.terms), docs: items.map((i) => i.doc) };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms (n=${samples.length})`;
}

function footprint(dir) {
  let objects = 0;
  let bytes = 0;
  const walk = (path) => {
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      const info = statSync(child);
      if (info.isDirectory()) walk(child);
      else {
        objects++;
        bytes += info.size;
      }
    }
  };
  walk(dir);
  return { objects, bytes };
}

/** Calls that arrive while a commit is in flight wait and share the next one (the backend's group commit). */
function groupCommitter(format) {
  let queue = [];
  let draining = null;
  const drain = async () => {
    while (queue.length > 0) {
      const groups = queue;
      queue = [];
      const byKey = new Map(groups.map((g) => [g.item.put.key, g.item]));
      try {
        await format.commit(batchOf([...byKey.values()]));
        for (const g of groups) g.resolve();
      } catch (error) {
        for (const g of groups) g.reject(error);
      }
    }
    draining = null;
  };
  return (item) =>
    new Promise((resolve, reject) => {
      queue.push({ item, resolve, reject });
      draining ??= drain();
    });
}

try {
  // ---- durable write latency ----
  {
    const dir = join(root, `w${dirs++}`);
    const store = await open(dir);
    const single = [];
    for (let n = 0; n < WRITES; n++) {
      const started = performance.now();
      await store.format.commit(batchOf([entry(`key-${n}`, n)]));
      single.push(performance.now() - started);
    }
    console.log(`durable write, 1 writer:            ${summary(single)}`);
    const write = groupCommitter(store.format);
    const concurrent = [];
    let n = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (n < WRITES * 8) {
          const i = n++;
          const started = performance.now();
          await write(entry(`c-${i % 2000}`, i));
          concurrent.push(performance.now() - started);
        }
      }),
    );
    const stats = store.format.stats();
    console.log(`durable write, 64 concurrent:       ${summary(concurrent)}; ${(concurrent.length / (stats.commits - WRITES)).toFixed(1)} writes per commit`);
    await store.close();
  }

  // ---- point reads ----
  {
    const dir = join(root, `r${dirs++}`);
    const store = await open(dir, { autoCompact: false });
    const BATCH = 500;
    for (let start = 0; start < ENTRIES; start += BATCH) {
      await store.format.commit(batchOf(Array.from({ length: Math.min(BATCH, ENTRIES - start) }, (_, i) => entry(`key-${String(start + i).padStart(7, '0')}`, start + i))));
    }
    // Then 200 small updates, as a live store has: they stay inline until compaction.
    for (let i = 0; i < 200; i++) await store.format.commit(batchOf([entry(`key-${String((i * 7919) % ENTRIES).padStart(7, '0')}`, i)]));
    const describeStore = () => `${store.format.stats().segments} segments + ${store.format.stats().inlineCommits} inline commits`;
    const measure = async (label) => {
      const coldStarted = performance.now();
      const reader = await open(dir, { autoCompact: false });
      const sql = `SELECT value FROM ${reader.format.relation('entries')} WHERE key = $1`;
      await reader.engine.query(sql, ['key-0000007']);
      const cold = performance.now() - coldStarted;
      const warm = [];
      for (let i = 0; i < 50; i++) await reader.engine.query(sql, [`key-${String((i * 31) % ENTRIES).padStart(7, '0')}`]);
      for (let i = 0; i < READS; i++) {
        const key = `key-${String((i * 7919) % ENTRIES).padStart(7, '0')}`;
        const started = performance.now();
        const rows = await reader.engine.query(sql, [key]);
        warm.push(performance.now() - started);
        if (rows.length !== 1) throw new Error(`missing ${key}`);
      }
      console.log(`point read (${label}, ${ENTRIES} entries, ${describeStore()}): cold ${cold.toFixed(1)} ms (open + first read), warm ${summary(warm)}`);
      await reader.close();
    };
    await measure('before compaction');
    await store.format.compact();
    await measure('after compact()');
    await store.close();
  }

  // ---- objects and bytes per 1,000 writes ----
  for (const autoCompact of [false, true]) {
    const dir = join(root, `s${dirs++}`);
    const store = await open(dir, { autoCompact, vacuumIntervalMs: 0 });
    for (let n = 0; n < 1000; n++) await store.format.commit(batchOf([entry(`key-${n % 400}`, n)]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = footprint(dir);
    await store.format.compact();
    await store.format.vacuum({ retentionMs: 0 });
    const after = footprint(dir);
    console.log(
      `1,000 single-entry writes (400 keys), automatic compaction ${autoCompact ? 'on ' : 'off'}: ${before.objects} objects, ${(before.bytes / 1024).toFixed(0)} KiB; ` +
        `after compact() + vacuum: ${after.objects} objects, ${(after.bytes / 1024).toFixed(0)} KiB`,
    );
    await store.close();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
