// The protocol's contract suite with the bm25 index kept out of memory (searchCacheMaxBytes: 0), so every search
// runs the SQL over the index tables: the path of multi-writer formats and of stores past their memory bound.
import { describeBackendContract } from '@ltm/core/testing';
import { DuckDBLTMBackend } from '../src/index.js';

describeBackendContract({
  name: 'duckdb (native, :memory:, search in SQL)',
  capabilities: { persistent: false, writable: true, fullTextSearch: true, multiWriter: false },
  maxValueBytes: 65_536,
  create: () => DuckDBLTMBackend.open({ maxValueBytes: 65_536, searchCacheMaxBytes: 0 }),
});
