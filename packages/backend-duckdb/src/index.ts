import { registerBackend } from '@ltm/core';
import { DuckDBLTMBackend } from './backend.js';
import { DUCKDB_OPTION_KEYS } from './options.js';
import type { DuckDBLTMBackendOptions } from './options.js';

export { DuckDBLTMBackend } from './backend.js';
export type { CompactOutcome, ExportOutcome, PurgeOutcome, VacuumOutcome } from './backend.js';
export { DUCKDB_OPTION_KEYS, selectFormatName } from './options.js';
export type { DuckDBLTMBackendOptions, Durability, Fallback, FormatName } from './options.js';
export type { OutboxStats } from './store/outbox.js';

// Importing the package registers it, so `createLTMBackend('duckdb', options)` and `settings.ltm`
// with `backend: duckdb` work.
registerBackend('duckdb', (options) => DuckDBLTMBackend.open(options as DuckDBLTMBackendOptions), {
  optionKeys: DUCKDB_OPTION_KEYS,
  // Re-evaluating this module (a dev-server reload) must not fail: it is the same backend.
  replace: true,
});
