/**
 * Issue 6's targets, and the judgement of one run's numbers against them. Pure functions, so what
 * "pass" means is tested without timing anything.
 */

/**
 * What a row is judged on: ours/peer throughput, ours/peer (or ours/reference) p50, ours/peer memory, or
 * (on object storage) ours' p50 in milliseconds or in requests per call, against a fixed limit.
 */
export type Target =
  | { kind: 'throughput'; min: number }
  | { kind: 'latency'; max: number; against: 'peer' | 'reference' }
  | { kind: 'memory'; max: number }
  | { kind: 'absolute-latency'; maxMs: number }
  | { kind: 'round-trips'; max: number };

/** The numbers a verdict needs; latency in milliseconds, memory in bytes. */
export interface Measured {
  opsPerSec: number;
  p50Ms: number;
  /** Requests per call through the latency proxy, p50 (each request is one added round trip). */
  requestsP50?: number;
}

export interface Verdict {
  /** The compared quantity, ours over the other side (or over the limit), oriented as the target states it. */
  ratio: number;
  /** Undefined when the comparison could not be made (a side or the reference is missing). */
  pass: boolean | undefined;
  /** For a fixed limit: the measured amount itself, which the result shows instead of a ratio. */
  amount?: { value: number; unit: 'ms' | 'round trips' };
}

/** The targets of issue 6, by the phase names the workload uses (the bulk phase's name carries its batch size). */
export function targetFor(phaseName: string): Target | undefined {
  if (phaseName === 'store') return { kind: 'throughput', min: 1 };
  if (/^store x\d+ in flight$/.test(phaseName) || phaseName.startsWith('storeMany')) return { kind: 'throughput', min: 3 };
  if (phaseName === 'retrieve (hot keys)') return { kind: 'latency', max: 1, against: 'peer' };
  if (phaseName === 'retrieve (cold keys)') return { kind: 'latency', max: 1.5, against: 'reference' };
  if (phaseName === 'search (BM25, limit 10)') return { kind: 'latency', max: 1, against: 'peer' };
  if (phaseName.startsWith('mixed agent loop')) return { kind: 'throughput', min: 1 };
  if (phaseName.startsWith('resident memory')) return { kind: 'memory', max: 2 };
  if (/^store, \d+ writer processes$/.test(phaseName)) return { kind: 'throughput', min: 10 };
  if (phaseName === 'retrieve on S3 (warm key)') return { kind: 'absolute-latency', maxMs: 1 };
  if (phaseName === 'retrieve on S3 (cold key)') return { kind: 'round-trips', max: 3 };
  return undefined;
}

export function describeTarget(target: Target | undefined): string {
  if (target === undefined) return '-';
  if (target.kind === 'throughput') return `ops/s >= ${target.min.toFixed(1)}x`;
  if (target.kind === 'memory') return `rss <= ${target.max.toFixed(1)}x`;
  if (target.kind === 'absolute-latency') return `p50 <= ${target.maxMs} ms`;
  if (target.kind === 'round-trips') return `p50 <= ${target.max} round trips`;
  return `p50 <= ${target.max.toFixed(1)}x${target.against === 'reference' ? ' bare' : ''}`;
}

/**
 * Judges ours against the peer, or for a `reference` target against the reference (the bare engine
 * query). For `memory`, `opsPerSec` carries the resident bytes of each side.
 */
export function judge(target: Target, ours: Measured, peer: Measured | undefined, reference?: Measured): Verdict {
  if (target.kind === 'throughput') {
    if (peer === undefined) return { ratio: Number.NaN, pass: undefined };
    const ratio = ours.opsPerSec / peer.opsPerSec;
    return { ratio, pass: decided(ratio, ratio >= target.min) };
  }
  if (target.kind === 'memory') {
    if (peer === undefined) return { ratio: Number.NaN, pass: undefined };
    const ratio = ours.opsPerSec / peer.opsPerSec;
    return { ratio, pass: decided(ratio, ratio <= target.max) };
  }
  if (target.kind === 'absolute-latency') return withinLimit(ours.p50Ms, target.maxMs, 'ms');
  if (target.kind === 'round-trips') return withinLimit(ours.requestsP50 ?? Number.NaN, target.max, 'round trips');
  const other = target.against === 'peer' ? peer : reference;
  if (other === undefined) return { ratio: Number.NaN, pass: undefined };
  const ratio = ours.p50Ms / other.p50Ms;
  return { ratio, pass: decided(ratio, ratio <= target.max) };
}

/** A measured amount against a fixed limit; zero is a real measurement here (a warm read may make no request). */
function withinLimit(value: number, limit: number, unit: 'ms' | 'round trips'): Verdict {
  const pass = Number.isFinite(value) && value >= 0 ? value <= limit : undefined;
  return { ratio: value / limit, pass, amount: { value, unit } };
}

/** A ratio from a zero, missing or infinite number decides nothing. */
function decided(ratio: number, pass: boolean): boolean | undefined {
  return Number.isFinite(ratio) && ratio > 0 ? pass : undefined;
}
