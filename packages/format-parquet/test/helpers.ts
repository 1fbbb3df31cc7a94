import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommitBatch, EntryRow } from '@ltm/core';
import { LTMError } from '@ltm/core';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { afterEach } from 'vitest';
import { ParquetFormat, type ParquetFormatOptions } from '../src/index.js';

export function tempDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export const T0 = Date.UTC(2024, 4, 1, 12, 34, 56, 789);

export function entry(key: string, overrides: Partial<EntryRow> = {}): EntryRow {
  return { key, value: JSON.stringify({ key }), metadata: '{}', createdAt: T0, updatedAt: T0, expiresAt: null, ...overrides };
}

/** Puts with one term per key and a doc row each. */
export function batchOf(entries: EntryRow[], deletes: string[] = []): CommitBatch {
  return {
    puts: entries,
    deletes,
    terms: entries.map((row) => ({ key: row.key, field: 0 as const, term: `t-${row.key}`, tf: 1 })),
    docs: entries.map((row) => ({ key: row.key, length: 1, extraLength: 0 })),
  };
}

export async function openFormat(dir: string, options: ParquetFormatOptions & { readOnly?: boolean } = {}) {
  const { readOnly = false, ...formatOptions } = options;
  const engine = await DuckDBQueryEngine.open({ path: ':memory:' });
  const format = new ParquetFormat({ refreshIntervalMs: 0, ...formatOptions });
  try {
    await format.open({ engine, uri: dir, tableName: 'ltm_store', readOnly });
  } catch (error) {
    await engine.close();
    throw error;
  }
  return {
    engine,
    format,
    async entries(): Promise<Record<string, string>> {
      const rows = await engine.query<{ key: string; value: string }>(`SELECT key, value::VARCHAR AS value FROM ${format.relation('entries')} ORDER BY key`);
      return Object.fromEntries(rows.map((row) => [row.key, row.value]));
    },
    async close() {
      await format.close();
      await engine.close();
    },
  };
}

/**
 * Temporary stores and open formats for the tests of one file: everything `store`, `open` and `later` made is
 * undone after each test, the newest first (a format closes before its directory goes).
 */
export function scratch(prefix: string) {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    later(cleanup: () => unknown): void {
      cleanups.push(cleanup);
    },
    store(): string {
      const dir = tempDirectory(prefix);
      cleanups.push(() => dir.remove());
      return dir.path;
    },
    async open(dir: string, options: Parameters<typeof openFormat>[1] = {}) {
      const opened = await openFormat(dir, options);
      cleanups.push(() => opened.close());
      return opened;
    },
  };
}

export async function ltmError(promise: Promise<unknown>): Promise<LTMError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LTMError) return error;
    throw new Error(`expected an LTMError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a rejection, but it resolved');
}
