// Shared vitest defaults: every package's vitest.config.ts uses this.
// DuckDB work is CPU-heavy on 2-core CI machines, so files run in forks with generous timeouts
// (no test asserts on wall time; timeouts only catch hangs). Each run also writes a JSON report that
// `npm test` (tooling/scripts/dev.mjs) sums into one closing "N passed, N failed" line.
export const sharedTestConfig = {
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-report.json' },
  },
};
