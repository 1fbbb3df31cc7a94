import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStorageFormatContract } from '@ltm/core/testing';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { afterAll } from 'vitest';
import { NativeFormat } from '../src/index.js';

const directory = mkdtempSync(join(tmpdir(), 'ltm-native-contract-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

async function instantiate(location: string, { readOnly }: { readOnly: boolean }) {
  // An in-memory database cannot be opened read-only: there the format alone is told to be read-only.
  const engine = await DuckDBQueryEngine.open({ path: location, readOnly: readOnly && location !== ':memory:' });
  return {
    format: new NativeFormat(),
    context: { engine, uri: location, tableName: 'ltm_store', readOnly },
    query: (sql: string) => engine.query(sql),
    dispose: () => engine.close(),
  };
}

describeStorageFormatContract({
  name: 'native (in memory)',
  persistent: false,
  newLocation: () => ':memory:',
  instantiate,
});

describeStorageFormatContract({
  name: 'native (local file)',
  persistent: true,
  newLocation: () => join(directory, `${randomUUID()}.duckdb`),
  instantiate,
  removeLocation: async (location) => {
    rmSync(location, { force: true });
    rmSync(`${location}.wal`, { force: true });
  },
});
