import path from 'node:path';
import { version as duckdbVersion } from '@duckdb/node-api';
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import type { Contender } from './bench.js';
import { measurePointQuery } from './reference.js';

const file = (dir: string): string => path.join(dir, 'ours.duckdb');

/** Ours: the DuckDB LTM backend on a local native `.duckdb` file, with its defaults. */
export const duckdbContender: Contender = {
  open: (dir) => DuckDBLTMBackend.open({ uri: file(dir) }),
  // The default 64 MiB read cache holds every entry of 100k memories, so a "cold" key would be a cache hit.
  openCold: (dir) => DuckDBLTMBackend.open({ uri: file(dir), cacheMaxBytes: 0 }),
  // 'ltm_store' is the backend's default tableName, which `open` above keeps.
  pointQuery: (dir, keys, warmup, minMs) => measurePointQuery(file(dir), 'ltm_store', keys, warmup, minMs),
  memorySide: 'ours',
  description: 'DuckDBLTMBackend, native .duckdb file, default options',
  engine: () => `DuckDB ${duckdbVersion()}`,
};
