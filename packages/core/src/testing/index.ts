/**
 * `@ltm/core/testing`: the contract suites every backend and every storage format must pass. Run them
 * with a few lines in a vitest file (see "Contract suites" in the package README):
 *
 * ```ts
 * import { describeBackendContract } from '@ltm/core/testing';
 * describeBackendContract({ name: 'mine', capabilities, create: () => MyBackend.open() });
 * ```
 */
export type {
  BackendHarness,
  ContractCheck,
  ContractFailure,
  ContractReport,
  FormatUnderTest,
  RunContractOptions,
  StorageFormatHarness,
} from './harness.js';
export { runContractChecks, DEFAULT_CHECK_TIMEOUT_MS } from './harness.js';
export type { BackendCheck } from './backend/index.js';
export { backendContractChecks } from './backend/index.js';
export type { StorageFormatCheck } from './format.js';
export { storageFormatContractChecks } from './format.js';
export { describeBackendContract, describeStorageFormatContract, runBackendContract, runStorageFormatContract } from './run.js';
