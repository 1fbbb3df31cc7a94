import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '@ltm/tooling/vitest';

// Two projects: the cloud tests start the emulator rig (and provision DuckDB's extensions) in their global
// setup; `vitest run --project unit` runs everything else without them.
export default defineConfig({
  ...sharedTestConfig,
  test: {
    ...sharedTestConfig.test,
    projects: [
      { extends: true, test: { name: 'unit', exclude: ['test/cloud/**', '**/node_modules/**'] } },
      {
        extends: true,
        test: {
          name: 'cloud',
          include: ['test/cloud/**/*.test.ts'],
          globalSetup: ['./test/cloud/global-setup.ts'],
          // Outage tests stop and restart an emulator and wait out retries and recovery timeouts.
          testTimeout: 300_000,
          hookTimeout: 20 * 60_000,
        },
      },
    ],
  },
});
