/**
 * Everything one process holds for one table: the journal, the memtable of acknowledged writes not yet
 * in DuckDB, the key directory, the read cache, and the applier that moves the memtable into the format in
 * large batches. Backends opened on the same database and table in one process share one TableStore, so
 * every write of the table in this process passes through here and the cache and directory stay exact.
 *
 * A write is acknowledged once it is in the journal (see journal.ts) and the memtable; the applier
 * commits the memtable to the format within `applyDelayMs`, or at once past `applyBatch` operations, and
 * before every query that reads the format's relations (list, search). The journal is to DuckDB what
 * SQLite's WAL is to its database file: `sync()` (the protocol's `flush()`) makes acknowledged writes
 * survive a power cut; `catchUp()` is the checkpoint that moves them into DuckDB.
 */
import { LTMError, toFailure } from '@ltm/core';
import type { CommitBatch, DocRow, EntryRow, StorageFormat, TermRow } from '@ltm/core';
import { classifyDuckDBError } from '@ltm/engine-duckdb';
import type { DuckDBQueryEngine, EngineConnection } from '@ltm/engine-duckdb';
import { indexRowsOf } from '../search/searcher.js';
import type { ChangeListener, ChangeSource, IndexRows } from '../search/searcher.js';
import type { Durability, JournalRecord } from './journal.js';
import { Journal } from './journal.js';
import { ReadCache } from './read-cache.js';
import { putRow } from './types.js';
import type { OpOutcome, Store, WriteOp } from './types.js';
import { ENTRY_COLUMNS, toEntryRow } from '../sql.js';
import type { EntryColumns } from '../sql.js';

export interface TableStoreOptions {
  engine: DuckDBQueryEngine;
  ownsEngine: boolean;
  /** Already opened. */
  format: StorageFormat<DuckDBQueryEngine>;
  /** Local database file for the journal; `null` keeps no journal (`:memory:`, read-only, cloud). */
  journalPath: string | null;
  tableName: string;
  writable: boolean;
  durability: Durability;
  cacheBytes: number;
  /** The applier commits once writes have paused this long (or past `applyBatch`, or `MAX_APPLY_LAG_MS`). */
  applyDelayMs: number;
  applyBatch: number;
  /** How often a read-only store asks its format whether the data changed. */
  refreshIntervalMs: number;
}

interface Pending {
  /** The entry after the write, or `null` for a delete. */
  row: EntryRow | null;
  /** Sequence number of the write call that made it. */
  seq: number;
  /** The search index rows of `row`, once analyzed (see `deliver`). */
  index: IndexRows | null;
}

/** An acknowledged write call waiting for its text analysis, and what of it is done. */
interface Undelivered {
  seq: number;
  record: JournalRecord;
  /** Index rows of `record.puts[0..analyzed.length)`. */
  analyzed: IndexRows[];
}

interface KeyInfo {
  createdAt: number;
  expiresAt: number | null;
  /** Sequence number of the key's last write (0: written before this process opened the table). */
  seq: number;
}

/** Past this many operations waiting on a failing applier, writes are refused rather than piling up. */
const MAX_BACKLOG = 200_000;
/** Under a steady stream of writes, the applier still commits at least this often. */
const MAX_APPLY_LAG_MS = 1000;
/** The applier analyzes text in slices of about this long, so calls keep being answered meanwhile. */
const ANALYSIS_SLICE_MS = 4;

export class TableStore implements Store, ChangeSource {
  refs = 1;
  private readonly memtable = new Map<string, Pending>();
  /** Every key the table holds (live or expired-not-yet-removed), with what writes need to know. */
  private readonly directory = new Map<string, KeyInfo>();
  private readonly cache: ReadCache;
  private readonly journal: Journal | null;
  private seq = 0;
  private lastNow = 0;
  private applying: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerDelay = 0;
  private lastWriteAt = 0;
  /** When the oldest write the applier has not taken yet was acknowledged; null when there is none. */
  private pendingSince: number | null = null;
  private applyError: LTMError | null = null;
  private failures = 0;
  private applies = 0;
  private appliedOps = 0;
  private closed = false;
  private lastRefresh = Date.now();
  private readonly listeners = new Set<ChangeListener>();
  /** Acknowledged writes not yet analyzed and handed to the listeners, oldest first. */
  private undelivered: Undelivered[] = [];

  private constructor(private readonly options: TableStoreOptions) {
    this.cache = new ReadCache(options.cacheBytes);
    this.journal = options.journalPath === null ? null : Journal.at(options.journalPath, options.tableName, options.durability);
  }

  static async open(options: TableStoreOptions): Promise<TableStore> {
    const store = new TableStore(options);
    await store.loadDirectory();
    if (store.journal) {
      // Writes acknowledged by a process that stopped before they reached DuckDB.
      for (const record of store.journal.replay()) store.remember(record);
      if (options.writable) {
        store.journal.open();
        if (store.memtable.size > 0) await store.apply();
      }
    }
    if (options.writable) await store.indexUnindexed();
    return store;
  }

  get format(): StorageFormat<DuckDBQueryEngine> {
    return this.options.format;
  }

  get engine(): DuckDBQueryEngine {
    return this.options.engine;
  }

  // ---- writes ---------------------------------------------------------------------------------

  /** Applies the operations of one call atomically; acknowledged once journaled (no await on DuckDB). */
  async write(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    return this.writeNow(ops);
  }

  private writeNow(ops: readonly WriteOp[]): OpOutcome[] {
    if (this.closed) throw new LTMError('backend_closed', 'this store is closed');
    if (this.applyError && this.memtable.size >= MAX_BACKLOG) {
      throw new LTMError(this.applyError.errorType, `writes are paused: ${this.memtable.size} acknowledged writes wait for DuckDB, which fails with: ${this.applyError.message}`);
    }
    const now = Math.max(Date.now(), this.lastNow + 1);
    const live = (key: string): Omit<KeyInfo, 'seq'> | undefined => {
      const info = this.directory.get(key);
      return info && (info.expiresAt === null || info.expiresAt > now) ? info : undefined;
    };
    // Later operations of the call see the earlier ones.
    const overlay = new Map<string, Omit<KeyInfo, 'seq'> | null>();
    const finals = new Map<string, EntryRow | null>();
    const outcomes = ops.map((op): OpOutcome => {
      const before = overlay.has(op.key) ? overlay.get(op.key) ?? undefined : live(op.key);
      if (op.kind === 'delete') {
        overlay.set(op.key, null);
        finals.set(op.key, null);
      } else {
        const row = putRow(op, before?.createdAt ?? now, now);
        const stillLive = op.expiresAt === null || op.expiresAt > now;
        overlay.set(op.key, stillLive ? { createdAt: row.createdAt, expiresAt: row.expiresAt } : null);
        finals.set(op.key, row);
      }
      return { existed: before !== undefined };
    });

    const record: JournalRecord = { puts: [], deletes: [] };
    for (const [key, row] of finals) {
      if (row) record.puts.push(row);
      else record.deletes.push(key);
    }
    this.journal?.append(record); // throws before anything changes in memory
    this.lastNow = now;
    this.remember(record);
    // Wall time: `now` runs ahead of it when many writes land within a millisecond.
    this.lastWriteAt = Date.now();
    this.pendingSince ??= this.lastWriteAt;
    this.scheduleApply();
    return outcomes;
  }

  /** Records a journaled write in memory: memtable, directory and cache; its analysis comes later. */
  private remember(record: JournalRecord): void {
    const seq = ++this.seq;
    this.undelivered.push({ seq, record, analyzed: [] });
    for (const row of record.puts) {
      this.memtable.set(row.key, { row, seq, index: null });
      this.directory.set(row.key, { createdAt: row.createdAt, expiresAt: row.expiresAt, seq });
      this.cache.delete(row.key);
    }
    for (const key of record.deletes) {
      this.memtable.set(key, { row: null, seq, index: null });
      this.directory.delete(key);
      this.cache.delete(key);
    }
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** Live entries of `keys` (unique), in order, `null` where there is none. */
  async readMany(keys: readonly string[], now: number): Promise<(EntryRow | null)[]> {
    await this.refreshIfStale();
    const found = new Map<string, EntryRow | null>();
    let misses: string[] = [];
    for (const key of keys) {
      const pending = this.memtable.get(key);
      if (pending) found.set(key, pending.row);
      else if (!this.directory.has(key)) found.set(key, null); // the directory knows every key
      else {
        const cached = this.cache.get(key);
        if (cached) found.set(key, cached);
        else misses.push(key);
      }
    }
    for (let attempt = 0; misses.length > 0; attempt++) {
      const seqAtStart = this.seq;
      const byKey = await this.readCommitted(misses, attempt === 0);
      const again: string[] = [];
      for (const key of misses) {
        // A write of the key acknowledged while we read: what we read may be older than it.
        const pending = this.memtable.get(key);
        if (pending) {
          found.set(key, pending.row);
          continue;
        }
        const info = this.directory.get(key);
        if (info === undefined) found.set(key, null);
        else if (info.seq > seqAtStart) again.push(key); // written and committed meanwhile: read it again
        else {
          const row = byKey.get(key) ?? null;
          if (row) this.cache.set(row);
          found.set(key, row);
        }
      }
      misses = again;
    }
    return keys.map((key) => {
      const row = found.get(key) ?? null;
      return row && (row.expiresAt === null || row.expiresAt > now) ? row : null;
    });
  }

  /**
   * The committed rows of `keys`. One key (a cold `retrieve`) on a local file takes the shortest path
   * DuckDB has: a statement prepared once per connection, run and read without the engine's row-object
   * conversion, selecting the stored columns as they are (each expression in the select list costs
   * planning time at every execution of a statement with parameters). Several keys, or a remote file
   * (whose transient failures the engine retries), go through `engine.query`.
   */
  private async readCommitted(keys: readonly string[], firstAttempt: boolean): Promise<Map<string, EntryRow>> {
    const entries = this.format.relation('entries');
    if (keys.length === 1 && this.options.writable && firstAttempt) {
      const key = keys[0] as string;
      const row = await this.options.engine.withConnection((connection) => readOneRow(connection, `SELECT ${STORED_COLUMNS} FROM ${entries} WHERE key = $1`, key));
      return new Map(row ? [[key, toEntryRow({ key, ...row })]] : []);
    }
    const rows = await this.options.engine.query<EntryColumns>(`SELECT key, ${STORED_COLUMNS} FROM ${entries} WHERE key IN (SELECT unnest($1))`, [keys]);
    return new Map(rows.map((r) => [r.key, toEntryRow(r)]));
  }

  /** Live and expired-but-not-removed entries, from the directory (no query). */
  async counts(now: number): Promise<{ live: number; expired: number }> {
    await this.refreshIfStale();
    let live = 0;
    for (const info of this.directory.values()) if (info.expiresAt === null || info.expiresAt > now) live += 1;
    return { live, expired: this.directory.size - live };
  }

  /**
   * A read-only store (a `.duckdb` file on object storage, say) may be replaced by its owner: at most
   * every `refreshIntervalMs`, ask the format, and start over from the new contents when it changed.
   */
  private async refreshIfStale(): Promise<void> {
    if (this.options.writable) return;
    const now = Date.now();
    if (now - this.lastRefresh < this.options.refreshIntervalMs) return;
    this.lastRefresh = now;
    if (!(await this.format.refresh())) return;
    this.directory.clear();
    this.cache.clear();
    await this.loadDirectory();
    for (const listener of this.listeners) listener.reset(); // the search's in-memory index rebuilds
  }

  // ---- applying the memtable to the format ------------------------------------------------------

  /**
   * Makes every acknowledged write durable against a power cut too (the journal is synced; without a
   * journal, the memtable is committed to the format). Returns how many writes that concerned.
   */
  async sync(): Promise<number> {
    if (!this.options.writable) return 0;
    if (this.journal) {
      const unsynced = this.journal.unsyncedAppends;
      this.journal.sync();
      return unsynced;
    }
    return this.catchUp();
  }

  /** Commits every acknowledged write to the format; rejects with the format's error if it cannot. */
  async catchUp(): Promise<number> {
    if (!this.options.writable) {
      await this.refreshIfStale();
      return 0;
    }
    let flushed = 0;
    while (this.memtable.size > 0 || this.applying) {
      if (this.applying) {
        await this.applying;
        continue;
      }
      flushed += this.memtable.size;
      await this.apply();
      if (this.applyError) throw this.applyError;
    }
    return flushed;
  }

  /**
   * Never applies inside the write call that asks for it: a write returns once journaled, and the
   * applier runs from the event loop. It waits for writes to pause `applyDelayMs` (a busy caller pays
   * for fewer, larger commits, and no commit competes with its reads), but no longer than
   * `MAX_APPLY_LAG_MS`, and starts at once past `applyBatch` pending operations.
   */
  private scheduleApply(): void {
    if (!this.options.writable) return;
    const delay = this.applyDelay();
    if (this.timer && delay === 0 && this.timerDelay > 0) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.timer) return;
    this.timerDelay = delay;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.applyDelay() > 0 && this.failures === 0) this.scheduleApply();
      else void this.apply();
    }, delay);
    this.timer.unref();
  }

  /** How long the applier should still wait. */
  private applyDelay(): number {
    // After failures, back off (up to 5 s) instead of hammering a store that cannot take writes.
    if (this.failures > 0) return Math.min(5000, 50 * 2 ** this.failures);
    if (this.memtable.size >= this.options.applyBatch) return 0;
    const now = Date.now();
    const quiet = this.lastWriteAt + this.options.applyDelayMs - now;
    const lag = (this.pendingSince ?? now) + MAX_APPLY_LAG_MS - now;
    return Math.max(0, Math.min(quiet, lag));
  }

  /** One apply at a time; resolves when the memtable as of its start is committed (or failed). */
  private apply(): Promise<void> {
    if (this.applying) return this.applying;
    if (this.memtable.size === 0 || !this.options.writable) return Promise.resolve();
    this.applying = this.applyOnce().finally(() => {
      this.applying = null;
      // Writes that arrived meanwhile, or a failure to retry.
      if (this.memtable.size > 0 && !this.closed) this.scheduleApply();
    });
    return this.applying;
  }

  private async applyOnce(): Promise<void> {
    await this.analyzePending();
    // From here to the commit call nothing awaits: every taken entry is analyzed, and everything
    // appended to the journal so far is sealed (after the commit, those files can go).
    this.journal?.seal();
    this.pendingSince = null;
    const taken = [...this.memtable];
    const batch = this.batchOf(taken);
    try {
      await this.format.commit(batch);
    } catch (error) {
      this.pendingSince ??= Date.now();
      const failure = toFailure(error);
      this.applyError = error instanceof LTMError ? error : new LTMError(failure.errorType, failure.error, { cause: error });
      this.failures += 1;
      return;
    }
    this.applyError = null;
    this.failures = 0;
    this.applies += 1;
    this.appliedOps += taken.length;
    this.journal?.discardSealed();
    for (const [key, pending] of taken) {
      // A newer write of the key stays in the memtable; the committed row becomes the cached one.
      if (this.memtable.get(key)?.seq !== pending.seq) continue;
      this.memtable.delete(key);
      if (pending.row) this.cache.set(pending.row);
    }
  }

  /** The commit of memtable entries (all analyzed), with their index rows. */
  private batchOf(entries: readonly [string, Pending][]): CommitBatch {
    const batch: CommitBatch = { puts: [], deletes: [] };
    const terms: TermRow[] = [];
    const docs: DocRow[] = [];
    for (const [key, pending] of entries) {
      if (pending.row === null) {
        batch.deletes.push(key);
        continue;
      }
      batch.puts.push(pending.row);
      const index = pending.index ?? indexRowsOf(pending.row);
      for (const term of index.terms) terms.push(term);
      docs.push(index.doc);
    }
    batch.terms = terms;
    batch.docs = docs;
    return batch;
  }

  // ---- the search's view of acknowledged writes -------------------------------------------------

  /**
   * Calls `listener` with every acknowledged write, in write order, once its text is analyzed: the
   * search keeps its in-memory index with them, ahead of what the applier has committed to DuckDB.
   */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Hands every acknowledged write to the listeners (a read-only store first looks for a new version). */
  async current(): Promise<void> {
    await this.refreshIfStale();
    this.deliver(Number.POSITIVE_INFINITY);
  }

  async analyzePending(): Promise<void> {
    while (!this.deliver(ANALYSIS_SLICE_MS)) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /**
   * What the format's relations may lack: every acknowledged write not yet committed, latest per key,
   * with its index rows. Every acknowledged write is handed to the listeners first.
   */
  uncommitted(): CommitBatch {
    this.deliver(Number.POSITIVE_INFINITY);
    return this.batchOf([...this.memtable]);
  }

  async uncommittedEntries(): Promise<ReadonlyMap<string, EntryRow | null>> {
    await this.refreshIfStale();
    const entries = new Map<string, EntryRow | null>();
    for (const [key, pending] of this.memtable) entries.set(key, pending.row);
    return entries;
  }

  /**
   * Analyzes acknowledged writes in write order (each put's text once: the index rows serve both the
   * listeners and the commit), handing each write call to the listeners when all of it is analyzed.
   * Stops once `budgetMs` have passed; true when nothing is left.
   */
  private deliver(budgetMs: number): boolean {
    const deadline = budgetMs === Number.POSITIVE_INFINITY ? budgetMs : performance.now() + budgetMs;
    let done = 0;
    try {
      for (; done < this.undelivered.length; done++) {
        const { seq, record, analyzed } = this.undelivered[done] as Undelivered;
        while (analyzed.length < record.puts.length) {
          const row = record.puts[analyzed.length] as EntryRow;
          const index = indexRowsOf(row);
          analyzed.push(index);
          const pending = this.memtable.get(row.key);
          if (pending?.seq === seq) pending.index = index;
          if (performance.now() >= deadline) return false;
        }
        if (this.listeners.size > 0) {
          const change: CommitBatch = { puts: record.puts, deletes: record.deletes, terms: analyzed.flatMap((index) => index.terms), docs: analyzed.map((index) => index.doc) };
          this.notify(change);
        }
      }
      return true;
    } finally {
      this.undelivered.splice(0, done);
    }
  }

  /** A listener that fails to follow a change starts over instead (it never fails the write). */
  private notify(change: CommitBatch): void {
    for (const listener of this.listeners) {
      try {
        listener.changed(change);
      } catch {
        listener.reset();
      }
    }
  }

  // ---- maintenance ----------------------------------------------------------------------------

  /** Physically removes expired entries; returns how many. */
  async removeExpired(now: number): Promise<number> {
    await this.catchUp();
    const removed = await this.format.removeExpired(now);
    for (const [key, info] of this.directory) {
      if (info.expiresAt !== null && info.expiresAt <= now) {
        this.directory.delete(key);
        this.cache.delete(key);
      }
    }
    return removed;
  }

  stats(): Record<string, number | string | null> {
    return {
      pendingWrites: this.memtable.size,
      applies: this.applies,
      appliedWrites: this.appliedOps,
      applyError: this.applyError ? `${this.applyError.errorType}: ${this.applyError.message}` : null,
      cacheEntries: this.cache.stats().entries,
      cacheBytes: this.cache.stats().bytes,
      cacheHits: this.cache.hits,
      cacheMisses: this.cache.misses,
    };
  }

  /** Commits what is pending and closes the format (and the engine when this store owns it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    let committed = true;
    try {
      await this.catchUp();
    } catch {
      committed = false; // the journal keeps those writes; the next open replays them
    }
    this.journal?.close(committed && this.memtable.size === 0);
    try {
      await this.format.close();
    } finally {
      if (this.options.ownsEngine) await this.options.engine.close();
    }
  }

  // ---- opening --------------------------------------------------------------------------------

  private async loadDirectory(): Promise<void> {
    const rows = await this.options.engine.query<{ key: string; created_at: number; expires_at: number | null }>(
      `SELECT key, epoch_ms(created_at) AS created_at, epoch_ms(expires_at) AS expires_at FROM ${this.format.relation('entries')}`,
    );
    for (const row of rows) {
      this.directory.set(row.key, { createdAt: Number(row.created_at), expiresAt: row.expires_at === null ? null : Number(row.expires_at), seq: 0 });
    }
  }

  /**
   * Entries without index rows (a table adopted from the SQLite backend, or written by a tool) are
   * indexed at open, unchanged otherwise, so search finds everything.
   */
  private async indexUnindexed(): Promise<void> {
    const docs = this.format.relation('docs');
    for (;;) {
      const rows = await this.options.engine.query<EntryColumns>(
        `SELECT ${ENTRY_COLUMNS} FROM ${this.format.relation('entries')} AS e
         WHERE NOT EXISTS (SELECT 1 FROM ${docs} AS d WHERE d.key = e.key) LIMIT 5000`,
      );
      if (rows.length === 0) return;
      const batch: CommitBatch = { puts: [], deletes: [], terms: [], docs: [] };
      for (const row of rows) {
        const entry = toEntryRow(row);
        const index = indexRowsOf(entry);
        batch.puts.push(entry);
        batch.terms?.push(...index.terms);
        batch.docs?.push(index.doc);
      }
      await this.format.commit(batch);
      this.notify(batch);
    }
  }
}

/** An entry's columns but its key, as stored: TIMESTAMPs, which both read paths turn into epoch ms. */
const STORED_COLUMNS = 'value, metadata, created_at, updated_at, expires_at';

/** Statements of `readOneRow`, per connection and SQL text (the relation's name can change on refresh). */
type RawConnection = EngineConnection['raw'];
type PreparedStatement = Awaited<ReturnType<RawConnection['prepare']>>;
const pointStatements = new WeakMap<RawConnection, Map<string, Promise<PreparedStatement>>>();

/** Runs `sql` (one `$1`, `STORED_COLUMNS`) on a connection this call holds alone; the first row or null. */
async function readOneRow(connection: EngineConnection, sql: string, key: string): Promise<Omit<EntryColumns, 'key'> | null> {
  const raw = connection.raw;
  let statements = pointStatements.get(raw);
  if (statements === undefined) {
    statements = new Map();
    pointStatements.set(raw, statements);
  }
  let prepared = statements.get(sql);
  if (prepared === undefined) {
    prepared = raw.prepare(sql);
    statements.set(sql, prepared);
    prepared.catch(() => statements.delete(sql));
  }
  try {
    const statement = await prepared;
    statement.bindVarchar(1, key);
    const reader = await statement.runAndReadAll();
    const row = reader.getRows()[0];
    if (row === undefined) return null;
    const [value, metadata, createdAt, updatedAt, expiresAt] = row;
    return {
      value: String(value),
      metadata: metadata === null ? null : String(metadata),
      created_at: epochMs(createdAt),
      updated_at: epochMs(updatedAt),
      expires_at: expiresAt === null ? null : epochMs(expiresAt),
    };
  } catch (error) {
    throw classifyDuckDBError(error);
  }
}

/** A TIMESTAMP cell (microseconds since the epoch, UTC) as epoch milliseconds. */
function epochMs(cell: unknown): number {
  const micros = (cell as { micros?: unknown } | null)?.micros;
  if (typeof micros !== 'bigint') throw new LTMError('query_error', `expected a TIMESTAMP column, got ${String(cell)}`);
  return Number(micros / 1000n);
}
