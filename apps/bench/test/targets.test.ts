import { describe, expect, it } from 'vitest';
import { describeTarget, judge, targetFor } from '../src/targets.js';
import type { Target } from '../src/targets.js';

const at = (opsPerSec: number, p50Ms = Number.NaN) => ({ opsPerSec, p50Ms });

describe('targetFor', () => {
  it("maps every phase to issue 6's target", () => {
    expect(targetFor('store')).toEqual({ kind: 'throughput', min: 1 });
    expect(targetFor('store x64 in flight')).toEqual({ kind: 'throughput', min: 3 });
    expect(targetFor('storeMany (500/call)')).toEqual({ kind: 'throughput', min: 3 });
    expect(targetFor('retrieve (hot keys)')).toEqual({ kind: 'latency', max: 1, against: 'peer' });
    expect(targetFor('retrieve (cold keys)')).toEqual({ kind: 'latency', max: 1.5, against: 'reference' });
    expect(targetFor('search (BM25, limit 10)')).toEqual({ kind: 'latency', max: 1, against: 'peer' });
    expect(targetFor('mixed agent loop (70/20/10)')).toEqual({ kind: 'throughput', min: 1 });
    expect(targetFor('resident memory, 100,000 memories')).toEqual({ kind: 'memory', max: 2 });
  });

  it('has no target for a phase the issue does not set one for', () => {
    expect(targetFor('search + metadata filter')).toBeUndefined();
    expect(describeTarget(undefined)).toBe('-');
  });

  it('describes targets as the issue states them', () => {
    expect(describeTarget({ kind: 'throughput', min: 3 })).toBe('ops/s >= 3.0x');
    expect(describeTarget({ kind: 'latency', max: 1, against: 'peer' })).toBe('p50 <= 1.0x');
    expect(describeTarget({ kind: 'latency', max: 1.5, against: 'reference' })).toBe('p50 <= 1.5x bare');
    expect(describeTarget({ kind: 'memory', max: 2 })).toBe('rss <= 2.0x');
  });
});

describe('judge', () => {
  const throughput: Target = { kind: 'throughput', min: 3 };
  const latency: Target = { kind: 'latency', max: 1, against: 'peer' };
  const cold: Target = { kind: 'latency', max: 1.5, against: 'reference' };
  const memory: Target = { kind: 'memory', max: 2 };

  it('passes throughput at or above the minimum ratio and fails below it', () => {
    expect(judge(throughput, at(300), at(100))).toEqual({ ratio: 3, pass: true });
    expect(judge(throughput, at(299), at(100))).toEqual({ ratio: 2.99, pass: false });
    expect(judge({ kind: 'throughput', min: 1 }, at(50), at(100))).toEqual({ ratio: 0.5, pass: false });
  });

  it('judges latency on p50, where lower is better, not on ops/s', () => {
    const faster = judge(latency, at(1, 0.008), at(1_000_000, 0.01));
    expect(faster.pass).toBe(true);
    expect(faster.ratio).toBeCloseTo(0.8);
    expect(judge(latency, at(1_000_000, 0.02), at(1, 0.01))).toEqual({ ratio: 2, pass: false });
    expect(judge(latency, at(1, 0.01), at(1, 0.01)).pass).toBe(true);
  });

  it('judges a cold read against the reference, not the peer', () => {
    const ours = at(1, 0.9);
    const peer = at(1, 0.01);
    const slow = judge(cold, ours, peer, at(1, 0.5));
    expect(slow.pass).toBe(false);
    expect(slow.ratio).toBeCloseTo(1.8);
    const near = judge(cold, ours, peer, at(1, 0.75));
    expect(near.pass).toBe(true);
    expect(near.ratio).toBeCloseTo(1.2);
  });

  it('decides nothing when the reference or the peer is missing', () => {
    expect(judge(cold, at(1, 0.9), at(1, 0.01))).toEqual({ ratio: Number.NaN, pass: undefined });
    expect(judge(throughput, at(300), undefined).pass).toBeUndefined();
    expect(judge(memory, at(300), undefined).pass).toBeUndefined();
  });

  it('decides nothing from a zero or missing measurement', () => {
    expect(judge(throughput, at(0), at(100)).pass).toBeUndefined();
    expect(judge(latency, at(1, Number.NaN), at(1, 0.01)).pass).toBeUndefined();
    expect(judge(throughput, at(100), at(0)).pass).toBeUndefined();
  });

  it('passes memory at or under the maximum ratio of resident bytes', () => {
    expect(judge(memory, at(200e6), at(100e6))).toEqual({ ratio: 2, pass: true });
    const over = judge(memory, at(201e6), at(100e6));
    expect(over.pass).toBe(false);
    expect(over.ratio).toBeCloseTo(2.01);
  });
});

describe('object-storage targets', () => {
  it("maps the cloud phases to issue 6's object-storage targets", () => {
    expect(targetFor('store, 8 writer processes')).toEqual({ kind: 'throughput', min: 10 });
    expect(targetFor('store, 2 writer processes')).toEqual({ kind: 'throughput', min: 10 });
    expect(targetFor('retrieve on S3 (warm key)')).toEqual({ kind: 'absolute-latency', maxMs: 1 });
    expect(targetFor('retrieve on S3 (cold key)')).toEqual({ kind: 'round-trips', max: 3 });
    expect(describeTarget({ kind: 'throughput', min: 10 })).toBe('ops/s >= 10.0x');
    expect(describeTarget({ kind: 'absolute-latency', maxMs: 1 })).toBe('p50 <= 1 ms');
    expect(describeTarget({ kind: 'round-trips', max: 3 })).toBe('p50 <= 3 round trips');
  });

  it('judges warm retrieve on its own p50 in milliseconds, whatever the peer does', () => {
    const warm: Target = { kind: 'absolute-latency', maxMs: 1 };
    expect(judge(warm, at(1, 0.4), at(1, 0.001))).toEqual({ ratio: 0.4, pass: true, amount: { value: 0.4, unit: 'ms' } });
    expect(judge(warm, at(1, 1), undefined).pass).toBe(true);
    expect(judge(warm, at(1, 1.2), undefined)).toEqual({ ratio: 1.2, pass: false, amount: { value: 1.2, unit: 'ms' } });
    expect(judge(warm, at(1, Number.NaN), undefined).pass).toBeUndefined();
  });

  it('judges cold retrieve on requests per call, where zero requests is a pass, not a missing number', () => {
    const cold: Target = { kind: 'round-trips', max: 3 };
    expect(judge(cold, { opsPerSec: 1, p50Ms: 120, requestsP50: 3 }, undefined)).toEqual({ ratio: 1, pass: true, amount: { value: 3, unit: 'round trips' } });
    expect(judge(cold, { opsPerSec: 1, p50Ms: 150, requestsP50: 4 }, undefined).pass).toBe(false);
    expect(judge(cold, { opsPerSec: 1, p50Ms: 2, requestsP50: 0 }, undefined).pass).toBe(true);
    // Milliseconds alone say nothing about round trips.
    expect(judge(cold, at(1, 5), undefined).pass).toBeUndefined();
  });
});
