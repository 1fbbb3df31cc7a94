import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBQueryEngine } from '../src/index.js';
import { holdDatabase, ltmError, tempDirectory } from './helpers.js';

const directory = tempDirectory('ltm-engine-lock-');
afterAll(() => directory.remove());

describe('a database file held by another process', () => {
  it('is locked, naming the holder and the fix, for read-write and read-only opens alike', async () => {
    const path = join(directory.path, 'held.duckdb');
    const holder = await holdDatabase(path);
    try {
      for (const readOnly of [false, true]) {
        const error = await ltmError(DuckDBQueryEngine.open({ path, readOnly }));
        expect(error.errorType).toBe('locked');
        expect(error.retryable).toBe(true);
        expect(error.message).toContain(`(PID ${holder.pid})`);
        expect(error.message).toContain(path);
        expect(error.message).toContain('stop that process');
        expect(error.message).toContain('readOnly: true');
      }
    } finally {
      await holder.release();
    }
    // Released: this process can now open it, and sees what the other process created.
    const engine = await DuckDBQueryEngine.open({ path });
    expect(await engine.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'held'")).toEqual([{ n: 1 }]);
    await engine.close();
  });

  it('can be read by several read-only processes at once', async () => {
    const path = join(directory.path, 'shared-read.duckdb');
    const writer = await DuckDBQueryEngine.open({ path });
    await writer.run('CREATE TABLE t AS SELECT 1 AS i');
    await writer.close();
    const reader = await holdDatabase(path, 'read-only');
    try {
      const engine = await DuckDBQueryEngine.open({ path, readOnly: true });
      expect(await engine.query('SELECT i FROM t')).toEqual([{ i: 1 }]);
      await engine.close();
      // A writer still cannot get in while a reader holds the file.
      expect((await ltmError(DuckDBQueryEngine.open({ path }))).errorType).toBe('locked');
    } finally {
      await reader.release();
    }
  });
});
