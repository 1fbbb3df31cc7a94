import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../src/memory-backend.js';
import { backendContractChecks, runBackendContract } from '../src/testing/index.js';
import { brokenVariants } from './broken/variants.js';
import { LIMIT_BYTES, MEMORY_CAPABILITIES } from './broken/delegate.js';

describe('the backend contract suite', () => {
  it('passes the real MemoryBackend on every check', async () => {
    const report = await runBackendContract({
      name: 'MemoryBackend',
      capabilities: MEMORY_CAPABILITIES,
      create: async () => new MemoryBackend({ maxValueBytes: LIMIT_BYTES }),
      maxValueBytes: LIMIT_BYTES,
    });
    expect(report.failed.map(({ check, error }) => `${check}: ${error.message}`)).toEqual([]);
    expect(report.passed.length + report.notApplicable.length).toBe(backendContractChecks.length);
  });

  it('names every check once', () => {
    const names = backendContractChecks.map((check) => check.name);
    expect(new Set(names).size).toBe(names.length);
  });

  describe.concurrent('catches each deliberately broken MemoryBackend', () => {
    for (const variant of brokenVariants) {
      it(`${variant.harness.name}: fails "${variant.caughtBy}"`, async () => {
        expect(backendContractChecks.map((check) => check.name)).toContain(variant.caughtBy);
        const report = await runBackendContract(variant.harness);
        expect(report.failed.map(({ check }) => check)).toContain(variant.caughtBy);
      });
    }
  });
});
