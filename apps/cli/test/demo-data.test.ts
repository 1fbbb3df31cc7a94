import { describe, expect, it } from 'vitest';
import { DEMO_PEOPLE, generateDemoMemories } from '../src/demo-data.js';

describe('generateDemoMemories', () => {
  const memories = generateDemoMemories(300);

  it('is the same list every run, with unique keys', () => {
    expect(generateDemoMemories(300)).toEqual(memories);
    expect(memories).toHaveLength(300);
    expect(new Set(memories.map((m) => m.key)).size).toBe(300);
  });

  it('covers every kind of memory, with the metadata the demo filters on', () => {
    const types = new Set(memories.map((m) => m.metadata['type']));
    expect([...types].sort()).toEqual(['fact', 'preference', 'summary', 'task', 'tool_result']);
    for (const m of memories) {
      expect(DEMO_PEOPLE.map((p) => p.slug)).toContain(m.metadata['user']);
      expect(m.key.startsWith(`${String(m.metadata['user'])}:`)).toBe(true);
      expect(typeof m.metadata['importance']).toBe('number');
    }
  });

  it('has the keys the demo retrieves, some TTLs, and text beyond plain English', () => {
    const keys = new Set(memories.map((m) => m.key));
    for (const key of ['maria:preference:coffee', 'kenji:preference:communication']) expect(keys.has(key)).toBe(true);
    const ttls = memories.filter((m) => m.ttlSeconds !== undefined);
    expect(ttls.length).toBeGreaterThan(10);
    expect(ttls.length).toBeLessThan(200);
    expect(memories.some((m) => typeof m.value === 'string' && m.value.includes('会議'))).toBe(true);
    expect(memories.some((m) => typeof m.value === 'string' && m.value.includes('48213'))).toBe(true);
    expect(memories.some((m) => /[éëøí]/.test(JSON.stringify(m.value)))).toBe(true);
  });

  it('honours small counts', () => {
    expect(generateDemoMemories(10)).toHaveLength(10);
  });
});
