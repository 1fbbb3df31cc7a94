import { describe, expect, it } from 'vitest';
import { loadAndMeasure } from '../src/memory.js';

describe('loadAndMeasure', () => {
  for (const side of ['ours', 'peer'] as const) {
    it(`loads n memories into a fresh ${side} store and reports its resident memory`, async () => {
      let collections = 0;
      const sample = await loadAndMeasure(side, { n: 230, seed: 3, batchSize: 50 }, () => {
        collections += 1;
      });
      expect(sample.entries).toBe(230);
      // Once before opening the store (the baseline) and once after the load.
      expect(collections).toBe(2);
      expect(sample.rssBytes).toBeGreaterThan(0);
      expect(sample.baselineRssBytes).toBeGreaterThan(0);
    });
  }
});
