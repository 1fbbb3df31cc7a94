import type { StorageFormat, EntryRow } from '@ltm/core';
import type { DuckDBQueryEngine } from '@ltm/engine-duckdb';

export type WriteOp =
  | { kind: 'put'; key: string; value: string; metadata: string; expiresAt: number | null }
  | { kind: 'delete'; key: string };

/** The row a put writes at `now`, keeping `createdAt` of the live entry it replaces. */
export function putRow(op: Extract<WriteOp, { kind: 'put' }>, createdAt: number, now: number): EntryRow {
  return { key: op.key, value: op.value, metadata: op.metadata, createdAt, updatedAt: now, expiresAt: op.expiresAt };
}

/** `existed`: whether the key held a live entry just before this operation. */
export interface OpOutcome {
  existed: boolean;
  /** The operation waits in the local outbox (`fallback: 'local-outbox'`) and reaches the store later. */
  queued?: true;
}

/**
 * What the backend writes and reads through, one per table and process. Two kinds:
 * - `TableStore` (table-store.ts) for single-writer formats: a journal acknowledges writes, an exact
 *   cache and key directory answer reads, DuckDB gets batches;
 * - `DirectStore` (direct-store.ts) for multi-writer formats: each write is acknowledged once the format
 *   committed it (concurrent calls share a commit), and reads query the format, which other writers change.
 */
export interface Store {
  refs: number;
  readonly format: StorageFormat<DuckDBQueryEngine>;
  readonly engine: DuckDBQueryEngine;
  /** Applies the operations of one call atomically; resolves when they are acknowledged. */
  write(ops: readonly WriteOp[]): Promise<OpOutcome[]>;
  /** Live entries of unique `keys`, in order, `null` where there is none. */
  readMany(keys: readonly string[], now: number): Promise<(EntryRow | null)[]>;
  /** Brings the format's relations up to date with every acknowledged write (before list and search). */
  catchUp(): Promise<number>;
  /** Makes every acknowledged write as durable as the store can (the protocol's `flush`). */
  sync(): Promise<number>;
  removeExpired(now: number): Promise<number>;
  counts(now: number): Promise<{ live: number; expired: number }>;
  stats(): Record<string, number | string | null>;
  close(): Promise<void>;
}
