import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommitBatch, EntryRow } from '@ltm/core';
import { LTMError } from '@ltm/core';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { afterEach } from 'vitest';
import { ParquetFormat, openObjectStore, type ObjectStore, type ParquetFormatOptions } from '../src/index.js';
import { InlineRows, encodeRecord, type CommitRecord } from '../src/log.js';

export function tempDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export const T0 = Date.UTC(2024, 4, 1, 12, 34, 56, 789);

/** The path of log record `seq` of the store in `dir` (table `ltm_store`). */
export function recordFile(dir: string, seq: number): string {
  return join(dir, 'ltm_store', '_log', `${String(seq).padStart(20, '0')}.json`);
}

/**
 * Log record `seq` as stored: a version 4 inline commit is its header line with the rows' line merged in
 * (`inline`: the rows, `summary`: what the header said of them); older records are one JSON object.
 */
export function readRecordFile(dir: string, seq: number): Record<string, any> {
  const [header, rows] = readFileSync(recordFile(dir, seq), 'utf8').split('\n');
  const record = JSON.parse(header!) as Record<string, any>;
  return rows === undefined ? record : { ...record, summary: record.inline, inline: (JSON.parse(rows) as { inline: unknown }).inline };
}

/** Writes `record` (shaped as `readRecordFile` gives it) as log record `seq`, encoded as its `version` writes it. */
export function writeRecordFile(dir: string, seq: number, record: Record<string, any>): void {
  const { summary: _summary, inline, ...header } = record;
  writeFileSync(recordFile(dir, seq), encodeRecord({ ...header, ...(inline === undefined ? {} : { inline: InlineRows.of(inline) }) } as CommitRecord));
}

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

type Intercepted = 'get' | 'putIfAbsent' | 'list';
type Around = (method: Intercepted, args: unknown[], call: (...args: unknown[]) => Promise<unknown>) => Promise<unknown>;

/**
 * The object store of the format at `dir` with `around(method, args, call)` in front of its `get`, `putIfAbsent`
 * and `list`: it sees each call's arguments and answers for it, usually with `call(...args)` (the store's own).
 */
export async function interceptedStore(dir: string, around: Around): Promise<ObjectStore> {
  return intercept(await openObjectStore(dir, 'ltm_store', {}), around);
}

/** `inner` with `around` in front of its `get`, `putIfAbsent` and `list` (see `interceptedStore`). */
export function intercept(inner: ObjectStore, around: Around): ObjectStore {
  return new Proxy(inner, {
    get(target, property) {
      const member = Reflect.get(target, property) as unknown;
      if (typeof member !== 'function') return member;
      const call = (member as (...args: unknown[]) => Promise<unknown>).bind(target);
      if (property !== 'get' && property !== 'putIfAbsent' && property !== 'list') return call;
      return (...args: unknown[]) => around(property, args, call);
    },
  });
}

/** A log key's number (`_log/00…07.json` → 7), or `undefined` for other keys. */
export function logNumber(key: unknown): number | undefined {
  const match = /^_log\/(\d{20})\.json$/.exec(String(key));
  return match === null ? undefined : Number(match[1]);
}

