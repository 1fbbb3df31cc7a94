// A DuckDB with the real fts extension loaded (signature checks on), for the tests that compare our text analysis
// with the extension itself.
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { provisionExtensions } from '../../../../tooling/extensions/index.mjs';

export interface FtsDatabase {
  connection: DuckDBConnection;
  close(): void;
}

export async function openWithFts(): Promise<FtsDatabase> {
  const { dir } = await provisionExtensions({ only: ['fts'] });
  const instance = await DuckDBInstance.create(':memory:', {
    extension_directory: dir,
    allow_unsigned_extensions: 'false',
    autoinstall_known_extensions: 'false',
  });
  const connection = await instance.connect();
  await connection.run('LOAD fts');
  return {
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** Deterministic pseudo-random integers in [0, n) (xorshift32), so failures reproduce. */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed >>> 0 || 1;
  return (n) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % n;
  };
}
