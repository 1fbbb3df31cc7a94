import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeStorageFormatContract } from '@ltm/core/testing';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { afterAll } from 'vitest';
import { ParquetFormat } from '../src/index.js';

const directory = mkdtempSync(join(tmpdir(), 'ltm-parquet-contract-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function harness(name: string, options: ConstructorParameters<typeof ParquetFormat>[0]) {
  describeStorageFormatContract({
    name,
    persistent: true,
    newLocation: () => join(directory, randomUUID()),
    async instantiate(location, { readOnly }) {
      const engine = await DuckDBQueryEngine.open({ path: ':memory:' });
      return {
        format: new ParquetFormat(options),
        context: { engine, uri: location, tableName: 'ltm_store', readOnly },
        query: (sql: string) => engine.query(sql),
        dispose: () => engine.close(),
      };
    },
    removeLocation: async (location) => rmSync(location, { recursive: true, force: true }),
  });
}

// Small batches go inline in the log record, large ones become segments: run the suite both ways.
harness('parquet (local disk, inline commits)', {});
harness('parquet (local disk, every commit a segment)', { inlineMaxBytes: 0 });
// The backend's mode: the views catch up when a read asks (prepareRead), not inside commit().
harness('parquet (local disk, deferred view updates)', { deferViewUpdates: true });
