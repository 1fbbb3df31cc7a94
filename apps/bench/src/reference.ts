/**
 * The engine's floor for a cold `retrieve`: DuckDB itself answering a primary-key point query with one
 * prepared statement on one connection, on the same file ours wrote, for the same keys, with no ltm code
 * in between. It opens the file read-only, so it runs after ours has closed it (DuckDB locks a file
 * opened for writing).
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { LatencyRecorder, elapsedMs, phaseStats } from './measure.js';
import type { PhaseStats } from './measure.js';

export interface PointQueryResult {
  stats: PhaseStats;
  /** The `value` column's JSON text for each timed key's first read (null when no row), for verification. */
  values: (string | null)[];
}

/**
 * Times `SELECT key, value, metadata, created_at, updated_at, expires_at FROM "<table>" WHERE key = $1`
 * (what a retrieve needs) for each key after `warmup` untimed ones, repeating the timed keys until
 * `minMs` have passed, as the retrieve phases do.
 */
export async function measurePointQuery(file: string, table: string, keys: string[], warmup: number, minMs: number): Promise<PointQueryResult> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`table name ${JSON.stringify(table)} is not a plain identifier`);
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  try {
    const connection = await instance.connect();
    try {
      const statement = await connection.prepare(`SELECT key, value, metadata, created_at, updated_at, expires_at FROM "${table}" WHERE key = $1`);
      const read = async (key: string): Promise<string | null> => {
        statement.bindVarchar(1, key);
        const reader = await statement.runAndReadAll();
        const row = reader.getRows()[0];
        return row === undefined ? null : String(row[1]);
      };
      for (const key of keys.slice(0, warmup)) await read(key);
      const timed = keys.slice(warmup);
      const recorder = new LatencyRecorder();
      const values: (string | null)[] = [];
      const start = process.hrtime.bigint();
      for (const key of timed) values.push(await recorder.time(() => read(key)));
      while (elapsedMs(start) < minMs) {
        for (const key of timed) await recorder.time(() => read(key));
      }
      return { stats: phaseStats(recorder, recorder.count, elapsedMs(start)), values };
    } finally {
      connection.disconnectSync();
    }
  } finally {
    instance.closeSync();
  }
}
