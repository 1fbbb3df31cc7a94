import { describe, expect, it } from 'vitest';
import { MemoryGenerator, generateMemories } from '../src/data.js';
import { LatencyRecorder, runConcurrently } from '../src/measure.js';

describe('generateMemories', () => {
  it('is deterministic for a seed and different across seeds', () => {
    expect(generateMemories(200, 1)).toEqual(generateMemories(200, 1));
    expect(generateMemories(50, 1)).not.toEqual(generateMemories(50, 2));
  });

  it('produces unique keys, varied kinds and the metadata agents filter on', () => {
    const memories = generateMemories(5000);
    expect(new Set(memories.map((m) => m.key)).size).toBe(5000);
    const types = new Set(memories.map((m) => m.metadata['type']));
    expect([...types].sort()).toEqual(['fact', 'preference', 'summary', 'task', 'tool_result']);
    for (const m of memories.slice(0, 200)) {
      expect(m.metadata).toMatchObject({ user: expect.any(String), topic: expect.any(String), importance: expect.any(Number) });
      expect(m.key.startsWith(`${String(m.metadata['user'])}:`)).toBe(true);
    }
    expect(memories.some((m) => typeof m.value === 'string' && /[\u3040-\u30ff\u4e00-\u9fff]/u.test(m.value))).toBe(true);
    expect(memories.some((m) => typeof m.value === 'object')).toBe(true);
    const vocabulary = new Set(memories.flatMap((m) => JSON.stringify(m.value).toLowerCase().split(/[^\p{L}]+/u)));
    expect(vocabulary.size).toBeGreaterThan(1000);
  });

  it('revises a memory under the same key', () => {
    const generator = new MemoryGenerator(3);
    const original = generator.next();
    const revised = generator.revise(original);
    expect(revised.key).toBe(original.key);
    expect(revised.metadata).toMatchObject({ user: original.metadata['user'], revised: true });
  });
});

describe('measurement helpers', () => {
  it('takes nearest-rank percentiles of what it recorded', async () => {
    const recorder = new LatencyRecorder();
    for (let i = 0; i < 10; i += 1) await recorder.time(async () => i);
    expect(recorder.count).toBe(10);
    expect(recorder.quantileMs(0.99)).toBeGreaterThanOrEqual(recorder.quantileMs(0.5));
    expect(new LatencyRecorder().quantileMs(0.5)).toBeNaN();
  });

  it('keeps at most the given number of tasks in flight and runs each once', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    await runConcurrently(50, 7, async (i) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(i);
      inFlight -= 1;
    });
    expect(peak).toBe(7);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
