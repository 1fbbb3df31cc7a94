/**
 * The two ways to run a suite: `describe*Contract` registers one vitest test per check; `run*Contract`
 * runs the same checks as plain data and reports, for use inside a single test or outside any runner.
 */
import { describe, it } from 'vitest';
import { backendContractChecks } from './backend/index.js';
import { storageFormatContractChecks } from './format.js';
import type { BackendHarness, ContractCheck, ContractReport, RunContractOptions, StorageFormatHarness } from './harness.js';
import { DEFAULT_CHECK_TIMEOUT_MS, runContractChecks } from './harness.js';
import type { LTMBackend } from '../types.js';

export function runBackendContract<B extends LTMBackend>(harness: BackendHarness<B>, options?: RunContractOptions): Promise<ContractReport> {
  return runContractChecks(backendContractChecks, harness, options);
}

export function runStorageFormatContract<Engine>(harness: StorageFormatHarness<Engine>, options?: RunContractOptions): Promise<ContractReport> {
  return runContractChecks(storageFormatContractChecks, harness, options);
}

/**
 * Registers `describe('LTM backend contract: <name>')` with one `it` per check that applies to the
 * harness's capabilities. Call it at the top level of a test file.
 */
export function describeBackendContract<B extends LTMBackend>(harness: BackendHarness<B>, options?: RunContractOptions): void {
  describeChecks(`LTM backend contract: ${harness.name}`, backendContractChecks, harness, options);
}

/** Registers `describe('LTM storage format contract: <name>')` with one `it` per check. */
export function describeStorageFormatContract<Engine>(harness: StorageFormatHarness<Engine>, options?: RunContractOptions): void {
  describeChecks(`LTM storage format contract: ${harness.name}`, storageFormatContractChecks, harness, options);
}

function describeChecks<H>(title: string, checks: readonly ContractCheck<H>[], harness: H, options: RunContractOptions = {}): void {
  describe(title, () => {
    for (const check of checks) {
      // Not-applicable checks are not registered at all: the harness declared the capability absent.
      if (check.appliesTo !== undefined && !check.appliesTo(harness)) continue;
      if (options.filter !== undefined && !options.filter(check.name)) continue;
      it(check.name, () => check.run(harness), options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS);
    }
  });
}
