/**
 * One side's resident-memory measurement, run by `memory.ts` as `node --expose-gc memory-child.js
 * <ours|peer> <n> <seed> <batchSize>`: loads n generated memories into a fresh store with storeMany,
 * flushes, collects garbage and prints a `MemorySample` as JSON. Memories are generated batch by batch,
 * so the child holds no copy of the data set beside the store's own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import type { LTMBackend } from '@ltm/core';
import { MemoryGenerator } from './data.js';
import type { Memory } from './data.js';
import type { MemorySample } from './memory.js';
import { SQLiteBackend } from './peers/sqlite-backend.js';

const [side, nText, seedText, batchText] = process.argv.slice(2);
const n = Number(nText);
const batchSize = Number(batchText);
const gc = (globalThis as { gc?: () => void }).gc;
if ((side !== 'ours' && side !== 'peer') || !(n > 0) || !(batchSize > 0) || gc === undefined) {
  throw new Error('usage: node --expose-gc memory-child.js <ours|peer> <n> <seed> <batchSize>');
}

const started = process.hrtime.bigint();
const generator = new MemoryGenerator(Number(seedText));
const dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-bench-memory-'));
try {
  gc();
  const baselineRssBytes = process.memoryUsage().rss;
  const backend: LTMBackend =
    side === 'ours' ? await DuckDBLTMBackend.open({ uri: path.join(dir, 'ours.duckdb') }) : await SQLiteBackend.open({ path: path.join(dir, 'peer.sqlite') });
  try {
    for (let loaded = 0; loaded < n; ) {
      const batch: Memory[] = [];
      for (; batch.length < batchSize && loaded < n; loaded += 1) batch.push(generator.next());
      const result = await backend.storeMany(batch);
      if (!result.success) throw new Error(`${side}: storeMany failed: ${result.error}`);
    }
    const flushed = await backend.flush();
    if (!flushed.success) throw new Error(`${side}: flush failed: ${flushed.error}`);
    const stats = await backend.stats();
    if (!stats.success) throw new Error(`${side}: stats failed: ${stats.error}`);
    gc();
    const sample: MemorySample = {
      rssBytes: process.memoryUsage().rss,
      baselineRssBytes,
      entries: stats.entries,
      wallMs: Number(process.hrtime.bigint() - started) / 1e6,
    };
    process.stdout.write(`${JSON.stringify(sample)}\n`);
  } finally {
    await backend.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
