/**
 * The store for multi-writer formats (Parquet on a shared directory or bucket): other processes commit to
 * the same table, so nothing here can be an exact copy of it. A write is acknowledged once the format
 * committed it (durable on the store; concurrent calls share one commit through the write pipeline), and
 * every read queries the format, which shows this process's own commits at once and other writers'
 * after its refresh.
 */
import type { EntryRow, StorageFormat } from '@ltm/core';
import type { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { indexRowsOf } from '../search/searcher.js';
import { ENTRY_COLUMNS, liveCondition, toEntryRow } from '../sql.js';
import type { EntryColumns } from '../sql.js';
import type { OpOutcome, Store, WriteOp } from './types.js';
import { WritePipeline } from './write-pipeline.js';

export interface DirectStoreOptions {
  engine: DuckDBQueryEngine;
  ownsEngine: boolean;
  /** Already opened. */
  format: StorageFormat<DuckDBQueryEngine>;
}

export class DirectStore implements Store {
  refs = 1;
  private readonly pipeline: WritePipeline;
  private closed = false;

  constructor(private readonly options: DirectStoreOptions) {
    this.pipeline = new WritePipeline({
      readLive: (keys, now) => this.readLive(keys, now),
      commit: (batch) => this.format.commit(batch),
      indexRows: indexRowsOf,
    });
  }

  get format(): StorageFormat<DuckDBQueryEngine> {
    return this.options.format;
  }

  get engine(): DuckDBQueryEngine {
    return this.options.engine;
  }

  write(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    return this.pipeline.submit(ops);
  }

  async readMany(keys: readonly string[], now: number): Promise<(EntryRow | null)[]> {
    if (keys.length === 0) return [];
    const rows = await this.engine.query<EntryColumns>(
      `SELECT ${ENTRY_COLUMNS} FROM ${this.format.relation('entries')} AS e WHERE key IN (SELECT unnest($1)) AND ${liveCondition('e', '$2')}`,
      [keys, now],
    );
    const byKey = new Map(rows.map((row) => [row.key, toEntryRow(row)]));
    return keys.map((key) => byKey.get(key) ?? null);
  }

  catchUp(): Promise<number> {
    return this.pipeline.flush();
  }

  /** Acknowledged writes are already durable on the store; this waits for the ones in flight. */
  sync(): Promise<number> {
    return this.pipeline.flush();
  }

  async removeExpired(now: number): Promise<number> {
    await this.pipeline.flush();
    return this.format.removeExpired(now);
  }

  async counts(now: number): Promise<{ live: number; expired: number }> {
    const [row] = await this.engine.query<{ live: number; expired: number }>(
      `SELECT count(*) FILTER (WHERE ${liveCondition('e', '$1')}) AS live, count(*) FILTER (WHERE NOT ${liveCondition('e', '$1')}) AS expired
       FROM ${this.format.relation('entries')} AS e`,
      [now],
    );
    return { live: Number(row?.live ?? 0), expired: Number(row?.expired ?? 0) };
  }

  stats(): Record<string, number | string | null> {
    const { commits, committedOps, pendingOps } = this.pipeline.stats();
    return { pendingWrites: pendingOps, applies: commits, appliedWrites: committedOps };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.pipeline.flush();
      await this.format.close();
    } finally {
      if (this.options.ownsEngine) await this.engine.close();
    }
  }

  private async readLive(keys: string[], now: number): Promise<Map<string, number>> {
    const rows = await this.readMany(keys, now);
    return new Map(rows.flatMap((row) => (row ? [[row.key, row.createdAt] as const] : [])));
  }
}
