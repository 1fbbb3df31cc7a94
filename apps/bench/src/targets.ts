/**
 * Issue 6's targets, and the judgement of one run's numbers against them. Pure functions, so what
 * "pass" means is tested without timing anything.
 */

/** What a row is judged on: ours/peer throughput, ours/peer (or ours/reference) p50, or ours/peer memory. */
export type Target =
  | { kind: 'throughput'; min: number }
  | { kind: 'latency'; max: number; against: 'peer' | 'reference' }
  | { kind: 'memory'; max: number };

/** The numbers a verdict needs; latency in milliseconds, memory in bytes. */
export interface Measured {
  opsPerSec: number;
  p50Ms: number;
}

export interface Verdict {
  /** The compared quantity, ours over the other side, oriented as the target states it. */
  ratio: number;
  /** Undefined when the comparison could not be made (a side or the reference is missing). */
  pass: boolean | undefined;
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
  return undefined;
}

export function describeTarget(target: Target | undefined): string {
  if (target === undefined) return '-';
  if (target.kind === 'throughput') return `ops/s >= ${target.min.toFixed(1)}x`;
  if (target.kind === 'memory') return `rss <= ${target.max.toFixed(1)}x`;
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
  const other = target.against === 'peer' ? peer : reference;
  if (other === undefined) return { ratio: Number.NaN, pass: undefined };
  const ratio = ours.p50Ms / other.p50Ms;
  return { ratio, pass: decided(ratio, ratio <= target.max) };
}

/** A ratio from a zero, missing or infinite number decides nothing. */
function decided(ratio: number, pass: boolean): boolean | undefined {
  return Number.isFinite(ratio) && ratio > 0 ? pass : undefined;
}
