// Shared vitest defaults: every package's vitest.config.ts spreads this.
// DuckDB work is CPU-heavy on 2-core CI machines, so files run in forks with generous timeouts
// (no test asserts on wall time; timeouts only catch hangs).
export const sharedTestConfig = {
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
};
