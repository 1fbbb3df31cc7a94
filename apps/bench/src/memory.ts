/**
 * Resident memory at the loaded size: each side loads n memories into a fresh store in a child process of
 * its own, so neither side's heap, native allocations or freed-but-kept pages count against the other.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import type { LTMBackend } from '@ltm/core';
import { MemoryGenerator } from './data.js';
import type { Memory } from './data.js';
import { SQLiteBackend } from './peers/sqlite-backend.js';

export interface MemorySample {
  /** `process.memoryUsage().rss` after the load, a flush and a full garbage collection. */
  rssBytes: number;
  /** The same process's rss before it opened the store: Node itself plus the data generator. */
  baselineRssBytes: number;
  /** `stats().entries` in the store after the load. */
  entries: number;
  /** Wall time of the load and measurement. */
  wallMs: number;
}

export interface MemoryLoad {
  n: number;
  seed: number;
  batchSize: number;
}

const run = promisify(execFile);

/** Runs `dist/memory-child.js` for one side; the bench must be built (it runs from `dist`). */
export async function measureResidentMemory(side: 'ours' | 'peer', load: MemoryLoad): Promise<MemorySample> {
  const child = fileURLToPath(new URL('./memory-child.js', import.meta.url));
  const args = ['--expose-gc', child, side, String(load.n), String(load.seed), String(load.batchSize)];
  const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20 });
  const sample = JSON.parse(stdout) as MemorySample;
  if (sample.entries !== load.n) throw new Error(`${side} memory child holds ${sample.entries} entries after loading ${load.n}`);
  return sample;
}

/**
 * What the child does: opens a fresh store of `side` in a temporary directory, loads n generated memories
 * with storeMany (generated batch by batch, so no copy of the data set is held beside the store), flushes,
 * runs `collectGarbage` and reads rss. Meaningful only in a process of its own.
 */
export async function loadAndMeasure(side: 'ours' | 'peer', load: MemoryLoad, collectGarbage: () => void): Promise<MemorySample> {
  const started = process.hrtime.bigint();
  const generator = new MemoryGenerator(load.seed);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-bench-memory-'));
  try {
    collectGarbage();
    const baselineRssBytes = process.memoryUsage().rss;
    const backend: LTMBackend =
      side === 'ours'
        ? await DuckDBLTMBackend.open({ uri: path.join(dir, 'ours.duckdb') })
        : await SQLiteBackend.open({ path: path.join(dir, 'peer.sqlite') });
    try {
      for (let loaded = 0; loaded < load.n; ) {
        const batch: Memory[] = [];
        for (; batch.length < load.batchSize && loaded < load.n; loaded += 1) batch.push(generator.next());
        const result = await backend.storeMany(batch);
        if (!result.success) throw new Error(`${side}: storeMany failed: ${result.error}`);
      }
      const flushed = await backend.flush();
      if (!flushed.success) throw new Error(`${side}: flush failed: ${flushed.error}`);
      const stats = await backend.stats();
      if (!stats.success) throw new Error(`${side}: stats failed: ${stats.error}`);
      collectGarbage();
      return {
        rssBytes: process.memoryUsage().rss,
        baselineRssBytes,
        entries: stats.entries,
        wallMs: Number(process.hrtime.bigint() - started) / 1e6,
      };
    } finally {
      await backend.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
