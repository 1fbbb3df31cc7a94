import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { CommitBatch, EntryRow } from '@ltm/core';
import { LTMError } from '@ltm/core';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { NativeFormat } from '../src/index.js';

const run = promisify(execFile);
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

export function tempDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs a fixture script in a fresh Node process and parses the JSON it prints. */
export async function runFixture<T>(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const { stdout } = await run(process.execPath, [join(fixtures, script), ...args], {
    env: { ...process.env, ...env },
    cwd: fixtures,
  });
  return JSON.parse(stdout) as T;
}

export function readInAnotherProcess(path: string, sql: string) {
  return runFixture<{ rows?: Record<string, unknown>[]; error?: string }>('read-database.mjs', [path, sql]);
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

export async function openStore(path: string, options: { readOnly?: boolean; engineReadOnly?: boolean; tableName?: string } = {}) {
  const engine = await DuckDBQueryEngine.open({ path, readOnly: options.engineReadOnly ?? false });
  const format = new NativeFormat();
  await format.open({ engine, uri: path, tableName: options.tableName ?? 'ltm_store', readOnly: options.readOnly ?? false });
  return {
    engine,
    format,
    async close() {
      await format.close();
      await engine.close();
    },
  };
}
