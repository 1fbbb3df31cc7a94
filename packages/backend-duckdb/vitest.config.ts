import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '@ltm/tooling/vitest';

// Two projects: the cloud tests start the emulator rig (and provision DuckDB's extensions) in their global
// setup; `vitest run --project unit` runs everything else without them. Projects are spelled out rather than
// extended from the root, whose `include` would otherwise be merged into the cloud project's.
const { include, reporters, outputFile, ...common } = sharedTestConfig.test ?? {};

export default defineConfig({
  test: {
    reporters,
    outputFile,
    projects: [
      { test: { ...common, name: 'unit', include, exclude: ['test/cloud/**', '**/node_modules/**'] } },
      {
        test: {
          ...common,
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
