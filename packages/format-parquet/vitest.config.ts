import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '@ltm/tooling/vitest';

export default defineConfig(sharedTestConfig);
