/**
 * Resident memory at the loaded size: each side loads n memories into a fresh store in a child process of
 * its own, so neither side's heap, native allocations or freed-but-kept pages count against the other.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { WorkloadConfig } from './workload.js';

export interface MemorySample {
  /** `process.memoryUsage().rss` after the load, a flush and a full garbage collection. */
  rssBytes: number;
  /** The same child's rss before it opened the store: Node itself plus the data generator. */
  baselineRssBytes: number;
  /** `stats().entries` in the child's store, checked equal to n. */
  entries: number;
  /** Wall time of the child, for the progress output. */
  wallMs: number;
}

const run = promisify(execFile);

/** Runs `dist/memory-child.js` for one side; the bench must be built (it runs from `dist`). */
export async function measureResidentMemory(side: 'ours' | 'peer', config: WorkloadConfig): Promise<MemorySample> {
  const child = fileURLToPath(new URL('./memory-child.js', import.meta.url));
  const args = ['--expose-gc', child, side, String(config.n), String(config.seed), String(config.batchSize)];
  const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20 });
  const sample = JSON.parse(stdout) as MemorySample;
  if (sample.entries !== config.n) throw new Error(`${side} memory child holds ${sample.entries} entries after loading ${config.n}`);
  return sample;
}
