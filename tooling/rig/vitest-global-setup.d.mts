import type { TestProject } from 'vitest/node';
import type { RigConnection } from './index.mjs';

declare module 'vitest' {
  interface ProvidedContext {
    /** Set by @ltm/tooling/rig/vitest-global-setup. */
    ltmRig: RigConnection;
  }
}

export declare function rigGlobalSetup(options?: {
  s3?: boolean;
  azure?: boolean;
}): (project: Pick<TestProject, 'provide'>) => Promise<() => Promise<void>>;

declare const setup: ReturnType<typeof rigGlobalSetup>;
export default setup;
