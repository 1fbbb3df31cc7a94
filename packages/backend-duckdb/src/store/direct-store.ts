/**
 * The store for multi-writer formats (Parquet on a shared directory or bucket): other processes commit to
 * the same table, so nothing here can be an exact copy of it. A write is acknowledged once the format
 * committed it (durable on the store; concurrent calls share one commit through the write pipeline), and
 * reads see the format's snapshot, which shows this process's own commits at once and other writers'
 * after its refresh.
 *
 * Point reads of that snapshot are cached when the format reports its changes (`onChange`): the cache
 * holds rows read from the current snapshot and drops every key a change names (all of them when a change
 * cannot name its keys), so a cached row is exactly what the format would answer. A read that overlapped a
 * change does not fill the cache, since it may have seen the snapshot before it.
 *
 * A format may bring its relations up to date lazily (the Parquet format does, with `deferViewUpdates`):
 * every read here asks it first (`prepareRead`, for the keys read or for everything), so a process that
 * writes and rarely reads does not spend its CPU mirroring every writer's commits. Changes are reported
 * once the relations show them, so the cache is checked after `prepareRead` too.
 */
import type { EntryRow, StorageFormat } from '@ltm/core';
import type { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { indexRowsOf } from '../search/searcher.js';
import { ENTRY_COLUMNS, liveCondition, toEntryRow } from '../sql.js';
import type { EntryColumns } from '../sql.js';
import { ReadCache } from './read-cache.js';
import type { OpOutcome, Store, WriteOp } from './types.js';
import { WritePipeline } from './write-pipeline.js';
import type { PipelineOptions } from './write-pipeline.js';

export interface DirectStoreOptions {
  engine: DuckDBQueryEngine;
  ownsEngine: boolean;
  /** Already opened. */
  format: StorageFormat<DuckDBQueryEngine>;
  /** Bytes of entries the point-read cache keeps (default 64 MiB; 0 turns it off). */
  cacheBytes?: number;
  /** How writes are gathered into commits (`durability: 'sync' | 'batched'`). */
  pipeline?: Partial<PipelineOptions>;
}

/** What a format reports after the rows it shows changed: the keys, or `null` when any row may have. */
export interface FormatChange {
  keys: readonly string[] | null;
}

/** A format that reports its changes (the Parquet format does); only such a format's reads are cached. */
interface ChangeReporting {
  onChange(listener: (change: FormatChange) => void): () => void;
}

function reportsChanges(format: object): format is ChangeReporting {
  return typeof (format as Partial<ChangeReporting>).onChange === 'function';
}

const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

export class DirectStore implements Store {
  refs = 1;
  private readonly pipeline: WritePipeline;
  private readonly cache: ReadCache | null = null;
  /** Changes the format reported so far: a read fills the cache only if none happened while it ran. */
  private changes = 0;
  private readonly unsubscribe: () => void = () => undefined;
  private closed = false;

  constructor(private readonly options: DirectStoreOptions) {
    this.pipeline = new WritePipeline({
      readLive: (keys, now) => this.readLive(keys, now),
      commit: (batch) => this.format.commit(batch),
      commitComing: () => this.format.commitComing?.(),
      indexRows: indexRowsOf,
    }, options.pipeline);
    const cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    const format = options.format;
    if (cacheBytes > 0 && reportsChanges(format)) {
      const cache = new ReadCache(cacheBytes);
      this.cache = cache;
      this.unsubscribe = format.onChange(({ keys }) => {
        this.changes += 1;
        if (keys === null) cache.clear();
        else for (const key of keys) cache.delete(key);
      });
    }
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
    // Before the cache too: a change the views do not show yet has not dropped its keys from the cache.
    await this.format.prepareRead?.(keys);
    const cache = this.cache;
    const found = new Map<string, EntryRow>();
    let missing: string[] = [];
    for (const key of keys) {
      const row = cache?.get(key);
      // An expired row is what the format would not answer either; the format is asked, as for a miss.
      if (row !== undefined && (row.expiresAt === null || row.expiresAt > now)) found.set(key, row);
      else missing.push(key);
    }
    // Keys the format does not know (a new memory's key) need no lookup in `entries`.
    if (missing.length > 0 && this.format.knownKeys !== undefined) {
      const known = await this.format.knownKeys(missing);
      missing = missing.filter((key) => known.has(key));
    }
    if (missing.length > 0) {
      const changesBefore = this.changes;
      const rows = await this.engine.query<EntryColumns>(
        `SELECT ${ENTRY_COLUMNS} FROM ${this.format.relation('entries')} AS e WHERE key IN (SELECT unnest($1)) AND ${liveCondition('e', '$2')}`,
        [missing, now],
      );
      const fill = cache !== null && this.changes === changesBefore;
      for (const columns of rows) {
        const row = toEntryRow(columns);
        found.set(row.key, row);
        if (fill) cache.set(row);
      }
    }
    return keys.map((key) => found.get(key) ?? null);
  }

  /** Waits for the writes in flight, then brings the format's relations up to date for a read of them all. */
  async catchUp(): Promise<number> {
    const flushed = await this.pipeline.flush();
    await this.format.prepareRead?.();
    return flushed;
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
    await this.format.prepareRead?.();
    const [row] = await this.engine.query<{ live: number; expired: number }>(
      `SELECT count(*) FILTER (WHERE ${liveCondition('e', '$1')}) AS live, count(*) FILTER (WHERE NOT ${liveCondition('e', '$1')}) AS expired
       FROM ${this.format.relation('entries')} AS e`,
      [now],
    );
    return { live: Number(row?.live ?? 0), expired: Number(row?.expired ?? 0) };
  }

  stats(): Record<string, number | string | null> {
    const { commits, committedOps, pendingOps } = this.pipeline.stats();
    const cache = this.cache?.stats();
    return {
      pendingWrites: pendingOps,
      applies: commits,
      appliedWrites: committedOps,
      cacheEntries: cache?.entries ?? 0,
      cacheBytes: cache?.bytes ?? 0,
      cacheHits: cache?.hits ?? 0,
      cacheMisses: cache?.misses ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.cache?.clear();
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
