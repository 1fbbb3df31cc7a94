// Latency and storage numbers of ParquetFormat on local disk or on the rig's S3 emulator. Not a test:
// numbers vary with the machine and its load. Build first (`turbo run build --filter=@ltm/format-parquet...`):
//   node packages/format-parquet/bench/format.mjs [--s3 [--latency 30]] [--writes 300] [--entries 10000] [--fsync]
//     [--only writes,reads,storage] [--row-group-rows 2048]
// --s3 starts the rig; --latency puts a loopback proxy in front of the emulator that delays every chunk by
// half the given round-trip time in each direction.
// Reports:
// - durable write latency, p50/p99: one writer committing one entry at a time, and 64 concurrent callers
//   whose calls are group-committed the way @ltm/backend-duckdb's write pipeline does (every call waiting
//   while a commit is in flight joins the next one);
// - point read latency through relation('entries') with a bound key: cold (new instance: open + first
//   read) and warm (random keys, statements and footers cached), before and after compaction;
// - objects and bytes the store holds per 1,000 single-entry writes, with automatic compaction off,
//   with it on, and after compact() + vacuum({ retentionMs: 0 }).
// Search latency over these files is measured in @ltm/backend-duckdb, which owns the BM25 SQL and sits above
// this package: packages/backend-duckdb/bench/parquet-search.mjs.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { openObjectStore } from '../dist/index.js';
import { startCloud } from '../test/fixtures/cloud-setup.mjs';
import { openStore } from '../test/fixtures/open-store.mjs';

const { values: args } = parseArgs({
  options: {
    writes: { type: 'string', default: '300' },
    entries: { type: 'string', default: '10000' },
    reads: { type: 'string', default: '500' },
    fsync: { type: 'boolean', default: false },
    s3: { type: 'boolean', default: false },
    latency: { type: 'string', default: '0' },
    only: { type: 'string', default: 'writes,reads,storage' },
    'row-group-rows': { type: 'string' },
  },
});
const SECTIONS = new Set(args.only.split(','));
for (const section of SECTIONS) {
  if (!['writes', 'reads', 'storage'].includes(section)) {
    const moved = section === 'search' ? ': the search bench is node packages/backend-duckdb/bench/parquet-search.mjs' : '';
    throw new Error(`--only takes writes, reads and storage, got ${JSON.stringify(section)}${moved}`);
  }
}
const WRITES = Number(args.writes);
const ENTRIES = Number(args.entries);
const READS = Number(args.reads);
const LATENCY = Number(args.latency);

/** A TCP proxy to `target` that delays each chunk by `oneWayMs` in each direction (order is kept). */
async function latencyProxy(target, oneWayMs) {
  const { hostname, port } = new URL(target);
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    const forward = (from, to) => {
      from.on('data', (chunk) => (oneWayMs === 0 ? to.write(chunk) : setTimeout(() => to.write(chunk), oneWayMs)));
      from.on('end', () => setTimeout(() => to.end(), oneWayMs));
      from.on('error', () => to.destroy());
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

let proxy;
let cloud;
let base;
if (args.s3) {
  cloud = await startCloud({
    azure: false,
    s3Endpoint: async (endpoint) => {
      proxy = await latencyProxy(endpoint, LATENCY / 2);
      return proxy.url;
    },
  });
  process.env.LTM_TEST_CLOUD = JSON.stringify(cloud.cloud);
  base = `s3://${cloud.bucket}/bench`;
} else {
  base = mkdtempSync(join(tmpdir(), 'ltm-parquet-bench-'));
}
let stores = 0;
const newUri = () => `${base}/${stores++}`;
const open = (uri, options = {}) =>
  openStore(uri, { fsync: args.fsync, ...(args['row-group-rows'] === undefined ? {} : { rowGroupRows: Number(args['row-group-rows']) }), ...options });

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

async function footprint(uri) {
  if (!args.s3) {
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
    walk(uri);
    return { objects, bytes };
  }
  const store = await openObjectStore(uri, 'ltm_store', cloud.cloud.formatOptions);
  const listed = await store.list('');
  await store.close();
  return { objects: listed.length, bytes: listed.reduce((sum, object) => sum + object.size, 0) };
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

console.log(`ParquetFormat on ${args.s3 ? `the S3 emulator, ${LATENCY} ms injected round trip` : 'local disk'}${args.fsync ? ' (fsync)' : ''}`);
try {
  // ---- durable write latency ----
  if (SECTIONS.has('writes')) {
    const store = await open(newUri());
    const single = [];
    for (let n = 0; n < WRITES; n++) {
      const started = performance.now();
      await store.format.commit(batchOf([entry(`key-${n}`, n)]));
      single.push(performance.now() - started);
    }
    console.log(`durable write, 1 writer:       ${summary(single)}`);
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
    console.log(`durable write, 64 concurrent:  ${summary(concurrent)}; ${(concurrent.length / (stats.commits - WRITES)).toFixed(1)} writes per commit`);
    await store.close();
  }

  // ---- point reads ----
  if (SECTIONS.has('reads')) {
    const uri = newUri();
    const store = await open(uri, { autoCompact: false });
    const BATCH = 500;
    for (let start = 0; start < ENTRIES; start += BATCH) {
      await store.format.commit(batchOf(Array.from({ length: Math.min(BATCH, ENTRIES - start) }, (_, i) => entry(`key-${String(start + i).padStart(7, '0')}`, start + i))));
    }
    // Then 200 small updates, as a live store has: they stay inline until compaction.
    for (let i = 0; i < 200; i++) await store.format.commit(batchOf([entry(`key-${String((i * 7919) % ENTRIES).padStart(7, '0')}`, i)]));
    const describeStore = () => `${store.format.stats().segments} segments + ${store.format.stats().inlineCommits} inline commits`;
    const measure = async (label) => {
      const coldStarted = performance.now();
      const reader = await open(uri, { autoCompact: false });
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
      console.log(`point read, ${label} (${ENTRIES} entries, ${describeStore()}): cold ${cold.toFixed(1)} ms (open + first read), warm ${summary(warm)}`);
      await reader.close();
    };
    await measure('before compaction');
    await store.format.compact();
    await measure('after compact()');
    await store.close();
  }

  // ---- objects and bytes per 1,000 writes ----
  for (const autoCompact of SECTIONS.has('storage') ? [false, true] : []) {
    const uri = newUri();
    const store = await open(uri, { autoCompact, vacuumIntervalMs: 0 });
    for (let n = 0; n < 1000; n++) await store.format.commit(batchOf([entry(`key-${n % 400}`, n)]));
    const before = await footprint(uri);
    await store.format.compact();
    await store.format.vacuum({ retentionMs: 0 });
    const after = await footprint(uri);
    console.log(
      `1,000 single-entry writes (400 keys), automatic compaction ${autoCompact ? 'on ' : 'off'}: ${before.objects} objects, ${(before.bytes / 1024).toFixed(0)} KiB; ` +
        `after compact() + vacuum: ${after.objects} objects, ${(after.bytes / 1024).toFixed(0)} KiB`,
    );
    await store.close();
  }
} finally {
  if (!args.s3) rmSync(base, { recursive: true, force: true });
  proxy?.close();
  await cloud?.stop();
}

