/**
 * Timing: every operation's latency is recorded (process.hrtime.bigint, nanoseconds) and percentiles
 * come from the sorted record, not from a histogram's buckets; throughput is operations over the wall
 * time of the whole phase, including its closing `flush()`, so buffered writes cannot look free.
 */

export interface PhaseStats {
  /** Operations timed (rows, for a bulk phase). */
  ops: number;
  /** Operations per second over the phase's wall time, flush included. */
  opsPerSec: number;
  /** Per-call latency in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  /** Wall time of the phase in milliseconds. */
  wallMs: number;
}

export class LatencyRecorder {
  readonly #samples: bigint[] = [];

  /** Runs `op`, recording how long it took. */
  async time<T>(op: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    const result = await op();
    this.#samples.push(process.hrtime.bigint() - start);
    return result;
  }

  get count(): number {
    return this.#samples.length;
  }

  /** The q-quantile (0..1) in milliseconds, nearest-rank. */
  quantileMs(q: number): number {
    if (this.#samples.length === 0) return Number.NaN;
    const sorted = [...this.#samples].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return Number(sorted[nearestRank(sorted.length, q)]) / 1e6;
  }
}

/** The q-quantile (0..1) of `values`, nearest-rank like `LatencyRecorder`; NaN when there are none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[nearestRank(sorted.length, q)] as number;
}

function nearestRank(length: number, q: number): number {
  return Math.min(length - 1, Math.max(0, Math.ceil(q * length) - 1));
}

/** Milliseconds since `start` (a `process.hrtime.bigint()` reading). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function phaseStats(recorder: LatencyRecorder, ops: number, wallMs: number): PhaseStats {
  return {
    ops,
    opsPerSec: wallMs > 0 ? (ops * 1000) / wallMs : Number.NaN,
    p50Ms: recorder.quantileMs(0.5),
    p99Ms: recorder.quantileMs(0.99),
    wallMs,
  };
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight, as independent callers would. */
export async function runConcurrently(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next;
      next += 1;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}
