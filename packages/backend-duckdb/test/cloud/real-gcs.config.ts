import { defineConfig } from 'vitest/config';

// Real Google Cloud Storage, never part of `pnpm test` (this machine has no internet and no account):
//   LTM_REAL_GCS_BUCKET=<bucket> GCS_ACCESS_KEY_ID=<HMAC id> GCS_SECRET_ACCESS_KEY=<HMAC secret> \
//     vitest run --config test/cloud/real-gcs.config.ts
// It fails, naming the variables, when they are not set.
export default defineConfig({
  test: {
    include: ['test/cloud/real-gcs.check.ts'],
    pool: 'forks',
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
