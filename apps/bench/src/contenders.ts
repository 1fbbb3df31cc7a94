import path from 'node:path';
import { version as duckdbVersion } from '@duckdb/node-api';
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import type { Contender } from './bench.js';

/** Ours: the DuckDB LTM backend on a local native `.duckdb` file, with its defaults. */
export const duckdbContender: Contender = {
  open: (dir) => DuckDBLTMBackend.open({ uri: path.join(dir, 'ours.duckdb') }),
  description: 'DuckDBLTMBackend, native .duckdb file, default options',
  engine: () => `DuckDB ${duckdbVersion()}`,
};
