// The protocol's contract suite (from @ltm/core/testing) against DuckDBLTMBackend in every mode it has.
import { join } from 'node:path';
import type { BackendCapabilities } from '@ltm/core';
import { describeBackendContract } from '@ltm/core/testing';
import { DuckDBLTMBackend } from '../src/index.js';
import type { DuckDBLTMBackendOptions } from '../src/index.js';
import { tempDir } from './helpers.js';

const maxValueBytes = 65_536;

describeBackendContract({
  name: 'duckdb (native, :memory:)',
  capabilities: { persistent: false, writable: true, fullTextSearch: true, multiWriter: false },
  maxValueBytes,
  create: () => DuckDBLTMBackend.open({ maxValueBytes }),
});

describeBackendContract({
  name: 'duckdb (native, :memory:, enableFts: false)',
  capabilities: { persistent: false, writable: true, fullTextSearch: false, multiWriter: false },
  maxValueBytes,
  create: () => DuckDBLTMBackend.open({ maxValueBytes, enableFts: false }),
});

// Each persistent store gets its own temp directory; reopen finds it again from the backend it was given.
const locations = new WeakMap<DuckDBLTMBackend, { options: DuckDBLTMBackendOptions; cleanup: () => void }>();
async function openAt(options: DuckDBLTMBackendOptions, cleanup: () => void): Promise<DuckDBLTMBackend> {
  const backend = await DuckDBLTMBackend.open(options);
  locations.set(backend, { options, cleanup });
  return backend;
}

function describePersistent(name: string, capabilities: BackendCapabilities, options: (dir: string) => DuckDBLTMBackendOptions): void {
  describeBackendContract({
    name,
    capabilities,
    maxValueBytes,
    create: () => {
      const { dir, cleanup } = tempDir();
      return openAt({ ...options(dir), maxValueBytes }, cleanup);
    },
    reopen: (closed) => {
      const location = locations.get(closed);
      if (!location) throw new Error('reopen: unknown backend');
      return openAt(location.options, location.cleanup);
    },
    destroy: async (backend) => {
      await backend.close();
      locations.get(backend)?.cleanup();
    },
  });
}

describePersistent('duckdb (native, local file)', { persistent: true, writable: true, fullTextSearch: true, multiWriter: false }, (dir) => ({
  uri: join(dir, 'ltm.duckdb'),
  tableName: 'agent_memory',
}));

describePersistent('duckdb (parquet, local directory)', { persistent: true, writable: true, fullTextSearch: true, multiWriter: true }, (dir) => ({
  uri: join(dir, 'memories'),
}));
