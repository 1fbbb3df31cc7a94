import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from './vitest.shared.mjs';

// tooling's own tests are plain ESM next to the scripts they test (there is no build step here).
export default defineConfig({
  ...sharedTestConfig,
  test: { ...sharedTestConfig.test, include: ['rig/**/*.test.mjs'] },
});
