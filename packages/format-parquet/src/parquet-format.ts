import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  LTMError,
  type CommitBatch,
  type FormatCapabilities,
  type FormatContext,
  type RelationName,
  type StorageFormat,
} from '@ltm/core';
import { quoteIdentifier, type DuckDBQueryEngine, type EngineConnection, type SqlValue } from '@ltm/engine-duckdb';
import type { CompactionPlan, CompactionPolicy } from './compaction.js';
import { DEFAULT_COMPACTION_POLICY, passedThreshold, planAutomatic, planExpiry, planFull, scaledPolicy } from './compaction.js';
import type { Checkpoint, CommitRecord, CompactRecord, FormatFile, InlineBody, InlineEntry, InlineTerms, LogRecord, RecordHeader, SegmentInfo, SourceInfo } from './log.js';
import {
  CHECKPOINT_INTERVAL,
  CHECKPOINT_PREFIX,
  DATA_PREFIX,
  FORMAT_FILE,
  FORMAT_ID,
  HORIZON_KEY,
  InlineRows,
  LOG_PREFIX,
  PARQUET_FORMAT_VERSION,
  SKIP,
  SPREAD_CLAIMS_VERSION,
  VOID_COMPACTIONS_VERSION,
  checkpointKey,
  decodeCheckpoint,
  decodeFormatFile,
  decodeHorizon,
  decodeRecord,
  encode,
  emptyTerms,
  encodeRecord,
  recordKey,
  seqOfKey,
} from './log.js';
import type { ObjectStoreOptions } from './object-store/index.js';
import { openObjectStore, storeKind } from './object-store/index.js';
import { TEMP_PREFIX } from './object-store/local.js';
import type { ObjectInfo, ObjectStore } from './object-store/types.js';
import { MAX_LISTED_KEYS, segmentKeys, writeCommitSegment, writeMergedSegment } from './segments.js';
import type { ViewNames } from './sql.js';
import {
  checkLocation,
  docsViewSql,
  entriesViewSql,
  invalidJsonCountSql,
  latestRowsSql,
  latestTermsSql,
  liveViewSql,
  pointKeysAtMergeSql,
  pointKeysAtSegmentSql,
  pointKeysAtTailSql,
  rebuildKeysSql,
  sqlSources,
  sqlString,
  tablesSql,
  termsViewSql,
} from './sql.js';
import { LogState, emptyChange, type Change, type Step } from './state.js';

/**
 * `s3`, `gcs`, `azure`: credentials and endpoints for the object store SDK of `s3://`, `gs://` and `az://`
 * URIs (DuckDB reads the same store with the secrets and extensions of its engine); `fsync`: local disk only,
 * fsync every file before a commit resolves (survives a power cut, not only a crash; default false).
 */
export interface ParquetFormatOptions extends ObjectStoreOptions {
  /**
   * Where the files live, instead of the store the `uri` and the options above name (`<uri>/<tableName>/`).
   * The format closes it when it closes.
   */
  objectStore?: ObjectStore;
  /** A batch whose log record would be at most this many bytes is written inline in the record (one object write). Default 256 KiB. */
  inlineMaxBytes?: number;
  /** How often other writers' commits are picked up automatically; 0 leaves it to `refresh()`. Default 1000 ms. */
  refreshIntervalMs?: number;
  /** Compact in the background when the policy says so (after this process's commits). Default true. */
  autoCompact?: boolean;
  compaction?: Partial<CompactionPolicy>;
  /**
   * How long vacuum keeps files that a recent snapshot may still read, recorded when the store is created
   * (later opens use the recorded value). Default 1 hour.
   */
  retentionMs?: number;
  /**
   * Files no log record names (a writer's segment before its record, or a crashed writer's) are deleted
   * after this long; a writer gives up publishing a segment older than half of it. Default 15 minutes.
   */
  orphanGraceMs?: number;
  /** Rows per row group of entries files. Default 2048. */
  rowGroupRows?: number;
  /** Vacuum in the background after a compaction at most this often; 0 never. Default 10 minutes. */
  vacuumIntervalMs?: number;
  /** Called with errors of background work (refresh, compaction, vacuum), which never reach a caller. */
  onBackgroundError?: (error: Error) => void;
  /**
   * Bring the DuckDB views up to date with new log records (this process's commits and other writers') only
   * when a read asks for it through `prepareRead()`, or in the background (once the views lag by many rows
   * or miss a compaction for a quarter of the retention, or when the log is quiet in a process whose reads
   * waited for the views lately), instead of inside every `commit()` and refresh. A process that only
   * writes then spends its CPU on its own writes rather than on mirroring every other writer's. A caller
   * that reads `relation()` must call `prepareRead()` first (the backend does). Default false: `commit()`
   * and `refresh()` resolve with the views updated.
   */
  deferViewUpdates?: boolean;
  /**
   * With `deferViewUpdates`: how many rows (entries and postings, about 50 bytes of memory each) the views may
   * lag by before they are updated or, in a process whose reads have not waited for them in the last 10 s, the
   * rows are let go (the next read or compaction that needs them reads their log records again). Default 131,072.
   */
  viewLagMaxRows?: number;
}

/**
 * What `onChange` listeners receive: the keys whose visible row (in the `entries`, `terms` and `docs`
 * relations) may have changed, or `null` when this process cannot tell which (a reload from a checkpoint,
 * another writer's compaction that may have dropped expired rows, a segment of more than 10,000 keys):
 * then anything may have changed.
 */
export interface ParquetFormatChange {
  keys: string[] | null;
}

export type ParquetFormatChangeListener = (change: ParquetFormatChange) => void;

export interface VacuumOptions {
  /** Overrides the store's retention for this run; 0 removes everything no current snapshot needs (purge). */
  retentionMs?: number;
}

export interface VacuumResult {
  deletedSegmentFiles: number;
  deletedRecords: number;
  deletedCheckpoints: number;
  deletedTemporaries: number;
}

export interface CompactResult {
  /** A compaction record was written. */
  compacted: boolean;
  /** Keys whose newest version was a put expired at the compaction's time (now removed). */
  expired: number;
}

export interface ParquetFormatStats {
  location: string;
  /** The last log record this instance has applied. */
  seq: number;
  /** The log number of this instance's last commit (its place in the commit order), 0 before one. */
  lastCommitSeq: number;
  segments: number;
  inlineCommits: number;
  commits: number;
  inlineCommitsWritten: number;
  segmentCommitsWritten: number;
  /** Times another writer took the log number this instance tried (each is followed by a retry). */
  lostRaces: number;
  /** Log numbers below one this instance won that nobody had taken, filled with a `skip` record (version 3 stores). */
  skipsWritten: number;
  /**
   * Other writers' inline commits whose rows this instance decoded. A version 4 record is read as its summary
   * (keys, row counts); its rows are decoded only when the views or a compaction need them, so a process that
   * writes and does not read decodes few.
   */
  inlineRowsDecoded: number;
  compactions: number;
  /** Compactions abandoned because another compactor merged some of the same sources first. */
  compactionConflicts: number;
  /**
   * Compaction records this instance applied as void: another compaction had merged part of their run first
   * (version 4 stores, where a compactor may win a number past records it has not read; it then merges again).
   */
  voidCompactions: number;
  vacuums: number;
  lastVacuum: VacuumResult | null;
  lastBackgroundError: string | null;
  /** Times the views were brought up to date (one transaction each). */
  viewUpdates: number;
  /** Log records in the snapshot that the views do not show yet (`deferViewUpdates`). */
  viewLagRecords: number;
  /**
   * Times this process let go of the rows its views lagged by rather than write them (`deferViewUpdates`, a
   * process whose reads did not wait for the views): the next read or compaction that needs them reads their log
   * records again.
   */
  viewDrops: number;
  /** Times the views were rebuilt from the log (at open, after a drop, after damage). */
  viewRebuilds: number;
}

const DEFAULTS = {
  inlineMaxBytes: 256 * 1024,
  refreshIntervalMs: 1000,
  retentionMs: 3_600_000,
  orphanGraceMs: 15 * 60_000,
  rowGroupRows: 2048,
  vacuumIntervalMs: 10 * 60_000,
};
/**
 * `deferViewUpdates`: the views are brought up to date in the background once they lag by this many rows (entries
 * and postings, about 50 bytes of memory each), or, in a process whose reads did not wait for them lately, the
 * rows are let go (their log records are read again when a read or a compaction needs them). They are also
 * updated at the latest a quarter of the retention after the oldest change they miss when one of those is a
 * compaction (views that miss a compaction read files vacuum deletes once the retention has passed; other changes
 * only add rows), and after the log was quiet for `VIEW_QUIET_MS` in a process whose reads waited for the views
 * in the last `VIEW_READ_WINDOW_MS`.
 */
const VIEW_LAG_MAX_ROWS = 131_072;
const VIEW_QUIET_MS = 100;
const VIEW_READ_WINDOW_MS = 10_000;
/** Once the rows are let go, the keys they changed are kept, up to this many (beyond, any read brings the views up to date). */
const VIEW_LAG_MAX_KEYS = 262_144;
/** Rows the appender loads between two yields to the event loop. */
const APPEND_SLICE_ROWS = 16_384;
const MAX_COMMIT_ATTEMPTS = 1000;
const MAX_COMPACTION_ATTEMPTS = 5;
const MAX_LOAD_ATTEMPTS = 5;
const READ_CONCURRENCY = 16;
/** Past this many times the compaction threshold, any writer compacts (see `maybeCompact`)... */
const OVERDUE_FACTOR = 16;
/** ...once no compaction has reached it for this long (a compactor that is behind still publishes; a dead one does not). */
const OVERDUE_QUIET_MS = 30_000;
/** A writer whose commit was applied this recently counts as committing now (see `claimSpread`). */
const SPREAD_WINDOW_MS = 2_000;
const MAX_SPREAD = 32;
/** Automatic refreshes look for a vacuum horizon beyond their snapshot every this many ticks. */
const HORIZON_CHECK_TICKS = 10;
const CLOUD_URI = /^[a-z][a-z0-9+.-]*:\/\//i;
const RELATIONS: readonly RelationName[] = ['entries', 'terms', 'docs'];

type Engine = DuckDBQueryEngine;

interface Opened {
  context: FormatContext<Engine>;
  engine: Engine;
  store: ObjectStore;
  names: ViewNames;
  /** The in-memory database's name, unquoted (for the appender). */
  catalogName: string;
}

/** A log record a listing showed, and how to read it (a `skip` needs no read). */
interface ListedRecord {
  seq: number;
  read: () => Promise<LogRecord | undefined>;
}

/** What a record added and removed, remembered so vacuum need not read it back. */
interface SegmentHistory {
  added: string | null;
  replaced: string[];
}

/**
 * The store as immutable Parquet segments plus a commit log on local disk or object storage, for many
 * writers on many machines with no lock service. See the package README for the protocol.
 */
export class ParquetFormat implements StorageFormat<Engine> {
  readonly name = 'parquet';
  private opened_: Opened | undefined;
  private closed = false;
  private writable = false;
  private state = new LogState();
  private formatFile: FormatFile | undefined;
  private readonly writer = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  /** Log reads and writes and the DuckDB side of the snapshot change one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  /** `performance.now()` when the log was last known complete up to `state.seq`. */
  private lastSyncAt = -Infinity;
  /** The DuckDB side may not match `state` (a failed apply): reload before the next use. */
  private damaged = false;
  private timer: NodeJS.Timeout | undefined;
  private refreshing = false;
  /** Settles when the previous `commit()` call has published (or failed). */
  private commitTurn: Promise<void> = Promise.resolve();
  private refreshTicks = 0;
  private compacting: Promise<unknown> | null = null;
  private vacuuming: Promise<VacuumResult> | null = null;
  private lastVacuumAt = -Infinity;
  private history = new Map<number, SegmentHistory>();
  /** Segment id → its number in the key index (0 is the tail). */
  private numbers = new Map<string, number>();
  private nextNumber = 1;
  /** Records from this one on are in `history` (those before were read from a checkpoint). */
  private historyFrom = Infinity;
  private readonly policy: CompactionPolicy;
  /** Past this, any writer compacts (see `maybeCompact`). */
  private readonly overduePolicy: CompactionPolicy;
  private readonly counters = {
    commits: 0,
    inlineCommitsWritten: 0,
    segmentCommitsWritten: 0,
    lostRaces: 0,
    skipsWritten: 0,
    voidCompactions: 0,
    inlineRowsDecoded: 0,
    viewUpdates: 0,
    viewDrops: 0,
    viewRebuilds: 0,
    compactions: 0,
    compactionConflicts: 0,
    vacuums: 0,
  };
  private lastBackgroundError: string | null = null;
  private lastVacuum: VacuumResult | null = null;
  private lastCommitSeq = 0;
  /** When a commit of this process last lost a race to a concurrent writer (performance.now()): see `publish`. */
  private contendedAt = -Infinity;
  /** See `claimSpread`. */
  private spreadWidth = 1;
  /** A listing of the log started by `commitComing`, for the next commit's first claim. */
  private comingListing: { startedAt: number; listed: Promise<ListedRecord[] | undefined> } | undefined;
  /** Writers whose commits this process applied lately, and when (performance.now()): see `claimSpread`. */
  private readonly recentWriters = new Map<string, number>();
  private readonly listeners = new Set<ParquetFormatChangeListener>();
  /** Changes in the snapshot (`state`) that the views do not show yet, oldest first. */
  private lagging: PendingViews | null = null;
  /** The changes being written to the views now. */
  private updating: PendingViews | null = null;
  /** View updates run one at a time, in log order. */
  private viewsTurn: Promise<void> = Promise.resolve();
  private viewTimer: NodeJS.Timeout | undefined;
  /** When a read last waited for the views (performance.now()): background updates pay off in such a process only. */
  private readWaitedAt = -Infinity;
  /** When this process last started an automatic compaction (performance.now()): it needs its views too (see `scheduleViewUpdate`). */
  private compactedAt = -Infinity;
  /** When this process last applied a compaction record, its own or another writer's (see `maybeCompact`). */
  private compactionSeenAt = -Infinity;

  constructor(private readonly options: ParquetFormatOptions = {}) {
    for (const name of ['inlineMaxBytes', 'refreshIntervalMs', 'retentionMs', 'orphanGraceMs', 'vacuumIntervalMs', 'viewLagMaxRows'] as const) {
      const value = options[name];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
        throw new LTMError('validation_error', `${name} must be an integer >= 0, got ${String(value)}`);
      }
    }
    if (options.rowGroupRows !== undefined && (!Number.isSafeInteger(options.rowGroupRows) || options.rowGroupRows < 1)) {
      throw new LTMError('validation_error', `rowGroupRows must be a positive integer, got ${String(options.rowGroupRows)}`);
    }
    this.policy = { ...DEFAULT_COMPACTION_POLICY, ...options.compaction };
    this.overduePolicy = scaledPolicy(this.policy, OVERDUE_FACTOR);
  }

  get capabilities(): FormatCapabilities {
    return { writable: this.writable, multiWriter: true, persistent: true, compaction: true };
  }

  async open(context: FormatContext<Engine>): Promise<void> {
    if (this.opened_ !== undefined || this.closed) {
      throw new LTMError('validation_error', 'this ParquetFormat was already opened: create a new one per store');
    }
    const { engine, uri, tableName, readOnly } = context;
    if (engine.readOnly) {
      throw new LTMError(
        'validation_error',
        "the Parquet format keeps its snapshot views in an in-memory DuckDB database: open the engine on ':memory:' without readOnly (readOnly belongs to the format context)",
      );
    }
    quoteIdentifier(tableName);
    const store = this.options.objectStore ?? (await openObjectStore(uri, tableName, this.options));
    const catalogName = `ltm_parquet_${randomBytes(8).toString('hex')}`;
    const names: ViewNames = { catalog: quoteIdentifier(catalogName) };
    let attached = false;
    try {
      checkLocation(store.location);
      const kind = storeKind(store.url(''));
      if (kind !== 'local') {
        await loadExtension(engine, kind === 'az' ? 'azure' : 'httpfs', uri);
        // Segments never change once written: without this, every query and every view rebuild asks the
        // store for each file's size and date again (one round trip per segment).
        await engine.run('SET enable_http_metadata_cache = true');
      }
      this.formatFile = await this.readFormatFile(store, readOnly);
      if (!readOnly) await store.preparePrefix(DATA_PREFIX);
      // Segments never change once written, so their footers can be cached for the life of the engine.
      await engine.run('SET parquet_metadata_cache = true');
      await engine.run(`ATTACH ':memory:' AS ${names.catalog}`);
      attached = true;
      this.opened_ = { context, engine, store, names, catalogName };
      this.writable = !readOnly;
      await engine.transaction(async (connection) => {
        for (const sql of tablesSql(names)) await connection.run(sql);
      });
      await this.exclusive(() => this.reload());
    } catch (error) {
      this.opened_ = undefined;
      this.writable = false;
      if (attached) await engine.run(`DETACH ${names.catalog}`).catch(() => undefined);
      await store.close().catch(() => undefined);
      throw error;
    }
    const interval = this.options.refreshIntervalMs ?? DEFAULTS.refreshIntervalMs;
    if (interval > 0) {
      this.timer = setInterval(() => this.refreshInBackground(), interval);
      this.timer.unref();
    }
  }

  /**
   * Calls `listener` after every change the views show (this process's commits, other writers' commits
   * picked up by a refresh, compactions that removed expired rows, reloads), synchronously once the views
   * show it and before the call that caused it resolves (with `deferViewUpdates`: the `prepareRead` or
   * background update that writes it to the views). Changes that leave every visible row as it was
   * (a compaction of superseded versions) call nothing. A listener that throws is reported to
   * `onBackgroundError`. Returns a function that removes the listener.
   */
  onChange(listener: ParquetFormatChangeListener): () => void {
    if (typeof listener !== 'function') throw new LTMError('validation_error', 'onChange(listener): listener must be a function');
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  relation(name: RelationName): string {
    const { names } = this.opened();
    if (!RELATIONS.includes(name)) throw new LTMError('validation_error', `unknown relation ${JSON.stringify(name)}`);
    return `${names.catalog}.main.${name}`;
  }

  /**
   * Under contention, lists the log's end while the coming commit's batch is prepared, so that its first claim
   * knows the end. A commit of a writer alone at the moment claims the next number without listing.
   */
  commitComing(): void {
    const store = this.opened_?.store;
    if (store === undefined || this.closed || !this.writable || this.damaged || this.storeVersion() < SPREAD_CLAIMS_VERSION) return;
    if (performance.now() - this.contendedAt >= SPREAD_WINDOW_MS) return;
    this.comingListing = { startedAt: performance.now(), listed: this.listLog(store) };
  }

  async commit(batch: CommitBatch): Promise<void> {
    const { engine, store } = this.opened();
    const { entries, terms } = rowsOf(batch, Date.now());
    if (entries.length === 0) return;
    this.assertWritable();
    // Batches are prepared concurrently but published in call order, so the later call's writes win.
    const previous = this.commitTurn;
    let done!: () => void;
    this.commitTurn = new Promise<void>((resolve) => (done = resolve));
    try {
      await this.commitInTurn(engine, store, entries, terms, previous);
    } finally {
      done();
    }
  }

  private async commitInTurn(engine: Engine, store: ObjectStore, entries: InlineEntry[], terms: InlineTerms, turn: Promise<void>): Promise<void> {
    const inlineRecord: CommitRecord = { ...this.header(), kind: 'commit', inline: InlineRows.of({ entries, terms }) };
    let record: CommitRecord = inlineRecord;
    let body = encodeRecord(inlineRecord);
    let segmentWrittenAt: number | undefined;
    if (body.byteLength <= (this.options.inlineMaxBytes ?? DEFAULTS.inlineMaxBytes)) {
      const [row] = await engine.query<{ invalid: number }>(invalidJsonCountSql(), [JSON.stringify(entries)]);
      if (Number(row?.invalid ?? 0) > 0) {
        throw new LTMError('validation_error', `${row?.invalid} value(s) or metadata of the batch are not valid JSON; nothing was stored`);
      }
    } else {
      const segment = await writeCommitSegment(engine, store, entries, terms, { rowGroupRows: this.rowGroupRows() });
      record = { ...this.header(), kind: 'commit', segment };
      body = encodeRecord(record);
      segmentWrittenAt = performance.now();
    }
    await turn;
    const keys = record.segment === undefined ? undefined : entries.map((row) => row.key);
    let passed = false;
    const published = await this.exclusive(async () => {
      const outcome = await this.publish(record, body, segmentWrittenAt, undefined, keys);
      // This record is the newest source now: did it take the snapshot past the compaction threshold?
      passed = passedThreshold(this.state.sources, this.policy);
      return outcome;
    }).catch(async (error: unknown) => {
      // Only a segment no record can name is safe to delete; after an ambiguous write, vacuum decides.
      if (record.segment !== undefined && error instanceof PublishError && !error.maybePublished) {
        await store.delete([record.segment.entries, ...(record.segment.terms === null ? [] : [record.segment.terms])]).catch(() => undefined);
      }
      throw error instanceof PublishError ? error.cause : error;
    });
    this.counters.commits++;
    if (typeof published === 'object') this.lastCommitSeq = Math.max(this.lastCommitSeq, published.seq);
    if (record.segment === undefined) this.counters.inlineCommitsWritten++;
    else this.counters.segmentCommitsWritten++;
    if (typeof published === 'object' && published.checkpoint !== undefined) void this.writeCheckpoint(published.checkpoint);
    this.maybeCompact(passed);
  }

  async refresh(): Promise<boolean> {
    this.opened();
    const changed = await this.exclusive(() => this.catchUp(true));
    await this.prepareRead();
    return changed;
  }

  /**
   * Resolves once the views show every change of the snapshot that can touch `keys` (every change when
   * `keys` is omitted): this process's commits and the other writers' commits its refreshes found. With
   * `deferViewUpdates`, call it before reading `relation()`; otherwise the views are always up to date and
   * it returns at once (unless an earlier update of the views failed: then it rebuilds them from the log).
   */
  async prepareRead(keys?: readonly string[]): Promise<void> {
    this.opened();
    const touches = (pending: PendingViews | null): boolean =>
      pending !== null && (keys === undefined || pending.unknown || pending.unread.length > 0 || keys.some((key) => pending.keys.has(key)));
    if (this.damaged) {
      await this.exclusive(async () => {
        if (this.damaged) await this.reload();
      });
    }
    // Rows let go: another writer's segments name their keys in their files only; read those, not the rows.
    const lagging = this.lagging;
    if (lagging?.dropped === true && keys !== undefined && lagging.unread.length > 0 && !lagging.unknown) await this.readUnreadKeys(lagging);
    if (touches(this.lagging) || touches(this.updating)) {
      this.readWaitedAt = performance.now();
      await this.catchUpViews();
    }
  }

  /**
   * Which of `keys` the key index holds: every key `entries` shows is in it (the views reach segment and tail
   * rows through it), with deleted keys possibly too. One query of a local table, where a lookup in `entries`
   * reads the key column of every segment (a round trip each on object storage).
   */
  async knownKeys(keys: readonly string[]): Promise<Set<string>> {
    const { engine, names } = this.opened();
    if (keys.length === 0) return new Set();
    const rows = await engine.query<{ key: string }>(`SELECT key FROM ${names.catalog}.main.keys WHERE key IN (SELECT unnest($1))`, [[...keys]]);
    return new Set(rows.map((row) => row.key));
  }

  /** The keys of the other writers' segments whose rows `pending` let go (keys only; the views stay as they are). */
  private async readUnreadKeys(pending: PendingViews): Promise<void> {
    const { engine, store } = this.opened();
    const segments = pending.unread.splice(0);
    try {
      for (const segment of segments) {
        addKeys(pending, await segmentKeys(engine, sqlString(store.url(segment.entries))));
      }
    } catch {
      pending.unknown = true; // any read brings the views up to date then
    }
  }

  async removeExpired(now: number): Promise<number> {
    this.opened();
    if (!Number.isSafeInteger(now)) {
      throw new LTMError('validation_error', `removeExpired(now): now must be epoch milliseconds, got ${String(now)}`);
    }
    this.assertWritable();
    const { expired } = await this.runCompaction((sources) => planExpiry(sources, now), now, this.retentionMs());
    return expired;
  }

  /** Merges every source into one segment, dropping superseded versions, tombstones and expired rows. */
  async compact(): Promise<void> {
    await this.compactAll();
  }

  /**
   * Deletes files no snapshot within the retention window references: segments merged away, log records
   * and checkpoints older than the newest checkpoint past the window, and (after `orphanGraceMs`) files
   * of writers that crashed before their record.
   */
  async vacuum(options: VacuumOptions = {}): Promise<void> {
    await this.vacuumOnce(options);
  }

  private async vacuumOnce(options: VacuumOptions): Promise<VacuumResult> {
    this.opened();
    this.assertWritable();
    const previous = this.vacuuming ?? Promise.resolve(undefined);
    const run = previous.catch(() => undefined).then(() => this.vacuumNow(options));
    this.vacuuming = run;
    try {
      return await run;
    } finally {
      if (this.vacuuming === run) this.vacuuming = null;
    }
  }

  /**
   * Physically removes deleted and expired data now (privacy requests): a full compaction, then a vacuum
   * with no retention. Readers on older snapshots in other processes may fail until they refresh.
   */
  async purge(): Promise<CompactResult & VacuumResult> {
    const compacted = await this.compactAll(0);
    const vacuumed = await this.vacuumOnce({ retentionMs: 0 });
    return { ...compacted, ...vacuumed };
  }

  /**
   * Writes the live state (one row per key, expired rows left out) as one Parquet file sorted by key: a
   * local path or, with the engine's cloud extensions loaded, an `s3://`, `gs://` or `az://` URI.
   */
  async exportSnapshot(target: string, now: number = Date.now()): Promise<{ rows: number }> {
    const { engine } = this.opened();
    checkLocation(target);
    let path = target;
    if (!CLOUD_URI.test(target)) {
      path = resolve(target);
      await mkdir(dirname(path), { recursive: true });
    }
    await this.prepareRead();
    const [row] = await engine.query<{ Count: number }>(
      `COPY (SELECT key, value, metadata, created_at, updated_at, expires_at FROM ${this.relation('entries')} ` +
        'WHERE expires_at IS NULL OR expires_at > make_timestamp(CAST($1 AS BIGINT) * 1000) ORDER BY key) ' +
        `TO ${sqlString(path)} (FORMAT parquet, ROW_GROUP_SIZE ${this.rowGroupRows()})`,
      [now],
    );
    return { rows: Number(row?.Count ?? 0) };
  }

  /**
   * SQL that creates, in any DuckDB (CLI, Python, another process) with no ltm code, a view `view` of the
   * live state as of this instance's snapshot: one row per live key (`key, value, metadata, created_at,
   * updated_at, expires_at`, UTC), deleted keys absent, expired rows left out at query time. It names the
   * snapshot's segment files and reads its inline commits from their log records, so it stays valid for
   * the retention window (vacuum keeps those files that long); call `refresh()` first for the newest
   * state. On object storage the DuckDB that runs it needs httpfs (azure) and a secret for the bucket.
   */
  liveViewSql(view = 'ltm_live'): string {
    const { store } = this.opened();
    const name = view.split('.').map((part) => quoteIdentifier(part)).join('.');
    const files: { entries: string; version: number | null }[] = [];
    const records: { url: string; seq: number }[] = [];
    for (const source of this.state.sources) {
      if (source.kind === 'segment') files.push({ entries: sqlString(store.url(source.segment.entries)), version: source.segment.versioned ? null : source.lo });
      else records.push({ url: sqlString(store.url(recordKey(source.seq))), seq: source.seq });
    }
    return liveViewSql(name, files, records);
  }

  stats(): ParquetFormatStats {
    const { store } = this.opened();
    return {
      location: store.location,
      seq: this.state.seq,
      lastCommitSeq: this.lastCommitSeq,
      segments: this.state.segmentCount(),
      inlineCommits: this.state.inlineCount(),
      ...this.counters,
      lastVacuum: this.lastVacuum,
      lastBackgroundError: this.lastBackgroundError,
      viewLagRecords: (this.lagging?.records ?? 0) + (this.updating?.records ?? 0),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.viewTimer !== undefined) clearTimeout(this.viewTimer);
    const opened = this.opened_;
    if (opened === undefined) return;
    await Promise.allSettled([this.compacting, this.vacuuming, this.queue, this.viewsTurn]);
    await opened.engine.run(`DETACH ${opened.names.catalog}`).catch(() => undefined);
    await opened.store.close();
  }

  /** `tombstoneRetentionMs`: tombstones deleted longer ago than this go (the store's retention; 0 for purge). */
  private compactAll(tombstoneRetentionMs = this.retentionMs()): Promise<CompactResult> {
    this.opened();
    this.assertWritable();
    const now = Date.now();
    return this.runCompaction((sources) => planFull(sources, now, now - tombstoneRetentionMs), now, tombstoneRetentionMs);
  }

  // ---- log ----------------------------------------------------------------------------------------

  private header(): RecordHeader {
    return { format: FORMAT_ID, version: this.storeVersion(), writer: this.writer, time: Date.now(), id: randomUUID() };
  }

  /**
   * Claims a log number for `record` (inside `exclusive`). Losing the race means another writer took the
   * number. A commit record does not depend on the records before it (its rows take the version of the
   * number it wins, whatever precedes it), so it tries another number at once and reads the lost ones in
   * parallel: a lost race costs one round trip, and the records are applied in log order, before this one,
   * once it wins. A compaction must see them first (its run must still be in the snapshot), so it reads
   * them, then tries the next number. The body is never rewritten, nor the segment.
   *
   * Under contention (version 3 stores; see `contended` below) a commit tries one of the next few free numbers
   * at random rather than the first (`claimSpread`): when all writers raced for the same number, one commit
   * per round trip was the whole store's limit, however many writers it had. Winning past a number that no
   * known record holds, it fills those numbers with `skip` records before it applies its own (`applyPublished`),
   * so the log has no hole below an acknowledged commit and keeps real-time order: a commit that starts after
   * another was acknowledged can only win a number above it.
   *
   * `stillValid` is checked before each attempt (a compaction's run must still be in the snapshot).
   * `keys`: what the record changes in the views, for change listeners (see `Step`). `attempts`: numbers to try
   * before giving up; fewer than `MAX_COMMIT_ATTEMPTS` returns `lost` rather than throwing (the caller retries in
   * a later turn).
   */
  private async publish(
    record: LogRecord,
    body: Uint8Array,
    segmentWrittenAt: number | undefined,
    stillValid: () => boolean = () => true,
    keys?: string[] | null,
    attempts = MAX_COMMIT_ATTEMPTS,
  ): Promise<{ seq: number; checkpoint?: Checkpoint } | 'conflict' | 'lost'> {
    const { store } = this.opened();
    try {
      if (this.damaged) await this.reload();
      // A writer that has not read the log for half the retention window may sit before records vacuum
      // deleted: creating one of those numbers again would fork the log. catchUp reloads such a writer.
      else if (performance.now() - this.lastSyncAt > this.retentionMs() / 2) await this.catchUp();
    } catch (error) {
      throw new PublishError(error, false);
    }
    // Version 4: a compaction claims like a commit; one whose run another compaction took first turns out void.
    const skipAhead = record.kind === 'commit' || (record.kind === 'compact' && this.storeVersion() >= VOID_COMPACTIONS_VERSION);
    // Spread only under contention: a commit of this process lost a number it tried knowing the end of the log
    // (or while spreading) in the last SPREAD_WINDOW_MS. A writer alone at the moment, or merely behind the
    // log, would only leave numbers to fill.
    let contended = performance.now() - this.contendedAt < SPREAD_WINDOW_MS;
    let knowsEnd = false;
    /** Numbers after `state.seq` that other writers won while this one raced (lost races, the listing), being read. */
    const taken = new Map<number, Promise<LogRecord | undefined>>();
    const readTaken = (seq: number, read = () => this.readRecord(seq)) => {
      if (taken.has(seq)) return;
      const reading = read();
      reading.catch(() => undefined); // awaited once this record wins; a failure then means a reload
      taken.set(seq, reading);
    };
    /**
     * The numbers in the log past the first lost one, listed after that loss. A writer that spent a while
     * preparing its batch is often several numbers behind, and trying them one by one never catches up
     * with a log that also advances one number per round trip: one listing finds the end. Under contention
     * in a version 3 store, where the log advances several numbers per round trip, every loss lists again.
     */
    let listing: Promise<ListedRecord[] | undefined> | undefined;
    let listings = 0;
    const coming = record.kind === 'commit' ? this.comingListing : undefined;
    this.comingListing = undefined;
    if (coming !== undefined && performance.now() - coming.startedAt < SPREAD_WINDOW_MS) {
      // Listed while the batch was prepared (`commitComing`): the first claim knows the end of the log.
      const listed = await coming.listed;
      if (listed !== undefined) {
        knowsEnd = true;
        listings++;
        for (const { seq: number, read } of listed) if (number > this.state.seq) readTaken(number, read);
      }
    }
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (!stillValid()) return 'conflict';
      if (segmentWrittenAt !== undefined && performance.now() - segmentWrittenAt > this.orphanGraceMs() / 2) {
        throw new PublishError(
          new LTMError('connection_timeout', 'the segment took longer than half of orphanGraceMs to reach the log, so vacuum may remove it: retry', { retryable: true }),
          false,
        );
      }
      const seq = this.nextClaim(taken, skipAhead && contended ? this.claimSpread() : 1);
      const triedAtEnd = knowsEnd || contended;
      const attemptedAt = performance.now();
      let created: boolean;
      try {
        created = await store.putIfAbsent(recordKey(seq), body);
      } catch (error) {
        // The write may have happened anyway (a timeout after the store applied it): look.
        const existing = await this.readRecord(seq).catch(() => undefined);
        if (existing === undefined || (existing as { id?: string }).id !== (record as { id?: string }).id) {
          throw new PublishError(error, true);
        }
        created = true;
      }
      if (created) {
        const { filled, applied } = await this.applyPublished(seq, record, taken, keys);
        // A void compaction (another merged part of its run first, in a record this one had not read): merge again.
        if (!applied) return 'conflict';
        this.lastSyncAt = Math.max(this.lastSyncAt, attemptedAt);
        // A checkpoint every CHECKPOINT_INTERVAL numbers: written by the writer that won or filled that number.
        const due = filled.some((number) => number % CHECKPOINT_INTERVAL === 0) || seq % CHECKPOINT_INTERVAL === 0;
        return due || record.kind === 'compact' ? { seq, checkpoint: this.state.checkpoint(this.storeVersion()) } : { seq };
      }
      this.counters.lostRaces++;
      if (skipAhead) {
        if (triedAtEnd) {
          contended = true;
          this.contendedAt = performance.now();
          this.spreadWidth = Math.min(this.spreadWidth + 1, MAX_SPREAD);
        }
        readTaken(seq);
        if (listing !== undefined) {
          // Started an attempt ago, so (nearly) done.
          const listed = await listing;
          listing = undefined;
          knowsEnd = listed !== undefined;
          for (const { seq: number, read } of listed ?? []) readTaken(number, read);
        }
        if (listings === 0 || (contended && this.storeVersion() >= SPREAD_CLAIMS_VERSION)) {
          // Listed while another number is tried at once (which wins when this writer was one behind).
          listings++;
          listing = this.listLog(store);
        }
        continue;
      }
      try {
        await this.catchUp();
      } catch (error) {
        throw new PublishError(error, false);
      }
    }
    if (attempts < MAX_COMMIT_ATTEMPTS) return 'lost';
    throw new PublishError(tooBusy(), false);
  }

  /**
   * The number to try: right after the highest one known taken (`state.seq` or a record in `taken`), or under
   * contention one of the `spread` numbers from there, at random. The log moves on while a writer learns of it,
   * so the numbers between that this writer does not know are most likely taken too: they are read (and filled,
   * if still empty) once it wins. Numbers below the end that a listing showed free are not tried: the writer that
   * won past them is filling them and the other contended writers try them too, so such claims won 30% of the
   * time against 70-90% for numbers past the end (a bench run with per-claim marks, 8 S3 writers).
   */
  private nextClaim(taken: ReadonlyMap<number, unknown>, spread: number): number {
    return this.highestTaken(taken) + 1 + Math.floor(Math.random() * spread);
  }

  private highestTaken(taken: ReadonlyMap<number, unknown>): number {
    let highest = this.state.seq;
    for (const seq of taken.keys()) highest = Math.max(highest, seq);
    return highest;
  }

  /**
   * Over how many numbers a contended commit spreads its claim: `spreadWidth`, at most one per writer whose
   * commits this process applied in the last `SPREAD_WINDOW_MS`, itself included (so a lone writer claims the
   * next number, as version 1 and 2 stores always do). The width learns from what a spread costs: a lost race
   * widens it, a number left for this writer to fill (`skip`) narrows it.
   */
  private claimSpread(): number {
    if (this.storeVersion() < SPREAD_CLAIMS_VERSION) return 1;
    const since = performance.now() - SPREAD_WINDOW_MS;
    let writers = 1;
    for (const [writer, seenAt] of this.recentWriters) {
      if (seenAt < since) this.recentWriters.delete(writer);
      else if (writer !== this.writer) writers++;
    }
    return Math.min(writers, Math.round(this.spreadWidth));
  }

  /**
   * After `record` won number `seq`: applies the records before it that this process has not applied
   * (`taken`, being read; numbers no known record holds are filled with a `skip` record first, see
   * `publish`), then it, to the snapshot and the views in one change, so this process reads its own write and
   * everything before it in log order. Returns the numbers this process filled. The record is durable by
   * now: if this process cannot build its view (a record before it unreadable), it rebuilds the view from
   * the log instead.
   */
  private async applyPublished(
    seq: number,
    record: LogRecord,
    taken: ReadonlyMap<number, Promise<LogRecord | undefined>>,
    keys: string[] | null | undefined,
  ): Promise<{ filled: number[]; applied: boolean }> {
    const { store } = this.opened();
    const first = this.state.seq + 1;
    const filled: number[] = [];
    const before = Array.from({ length: seq - first }, (_, index) => {
      const number = first + index;
      const read = taken.get(number);
      if (read !== undefined) return read;
      filled.push(number);
      const fill = this.fillSkipped(number);
      fill.catch(() => undefined); // awaited below, in log order
      return fill;
    });
    const change = emptyChange();
    try {
      for (let index = 0; index < before.length; index++) {
        const earlier = await before[index]!;
        if (earlier === undefined) throw new LTMError('query_error', `log record ${first + index} of ${store.location} vanished after another writer created it`);
        this.applyRecord(this.state, first + index, earlier, change, this.history);
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.damaged = true;
      await this.reload().catch(() => {
        throw new LTMError('query_error', `the batch was committed as log record ${seq} of ${store.location}, but this process could not read the records before it: ${reason}`, { cause: error });
      });
      if (this.state.seq < seq) {
        // A number below it is still empty (its filling failed): readers stop there, so the batch is not visible yet.
        throw new LTMError(
          'connection_error',
          `the batch was written as log record ${seq} of ${store.location}, but number ${this.state.seq + 1} before it could not be filled (${reason}); ` +
            'it becomes visible when a writer fills that number (any later commit does), and storing it again is safe',
          { cause: error, retryable: true },
        );
      }
      // Rebuilt from the log: a compaction took effect if its segment is in the snapshot now (one that left no
      // segment, everything having expired, counts as taken effect: at worst its run is merged again later).
      const merged = record.kind === 'compact' ? record.segment : null;
      return { filled, applied: merged === null || this.state.sources.some((source) => source.kind === 'segment' && source.segment.id === merged.id) };
    }
    const applied = this.applyRecord(this.state, seq, record, change, this.history);
    const step = applied ? change.steps[change.steps.length - 1] : undefined;
    if (keys !== undefined && step !== undefined) {
      if (step.kind === 'compact') step.keys = keys;
      else if (step.kind === 'segment' && keys !== null) step.keys = keys;
    }
    await this.applyChange(change, false).catch(async (error: unknown) => {
      // The batch is durable; only this process's view of it failed. Rebuild the view from the log.
      await this.reload().catch(() => {
        throw new LTMError('query_error', `the batch was committed as log record ${seq} of ${store.location}, but this process could not apply it: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      });
    });
    return { filled, applied };
  }

  /**
   * A number below one this process won that no record it knows of holds: read first, and filled with a `skip`
   * record only if still empty (unless a writer's record gets there first, which is then read). Even a number
   * this writer's last listing showed free is nearly always taken by the time its claim wins (by a commit, or by
   * the fills of the writer that passed it): in a run of `apps/bench`'s 8 writers, 210 of 212 such numbers were, so
   * filling them first cost two round trips (a refused create, then the read) where reading costs one. Only
   * version 3 stores have such numbers; in an older one it would mean the log was damaged, so nothing is written.
   */
  private async fillSkipped(seq: number): Promise<LogRecord | undefined> {
    if (this.storeVersion() < SPREAD_CLAIMS_VERSION) return this.readRecord(seq);
    const found = await this.readRecord(seq);
    if (found !== undefined) return found;
    const { store } = this.opened();
    try {
      if (await store.putIfAbsent(recordKey(seq), new Uint8Array(0))) {
        this.counters.skipsWritten++;
        this.spreadWidth = Math.max(1, this.spreadWidth - 1);
        return SKIP;
      }
    } catch (error) {
      // Applied or not, the number now holds a record, unless the store is unreachable: read it.
      const existing = await this.readRecord(seq);
      if (existing === undefined) throw error;
      return existing;
    }
    return this.readRecord(seq);
  }

  private async readRecord(seq: number): Promise<LogRecord | undefined> {
    const { store } = this.opened();
    const bytes = await store.get(recordKey(seq));
    return bytes === undefined ? undefined : decodeRecord(bytes, seq, store.location, this.storeVersion(), () => this.counters.inlineRowsDecoded++);
  }

  /** The log records past this writer's snapshot, listed; `undefined` if the listing failed (it only informs a claim). */
  private listLog(store: ObjectStore): Promise<ListedRecord[] | undefined> {
    const from = this.state.seq;
    return store
      .list(LOG_PREFIX, recordKey(from))
      .then((objects) => this.listedRecords(objects, from))
      .catch(() => undefined);
  }

  /** The log records in a listing, in order; a `skip` shows as an empty object and needs no read. */
  private listedRecords(objects: readonly ObjectInfo[], after: number): ListedRecord[] {
    const skips = this.storeVersion() >= SPREAD_CLAIMS_VERSION;
    return objects.flatMap((object) => {
      const seq = seqOfKey(object.key);
      if (seq === undefined || seq <= after) return [];
      return [{ seq, read: skips && object.size === 0 ? () => Promise.resolve(SKIP) : () => this.readRecord(seq) }];
    });
  }

  /**
   * Applies the records after `state.seq` (inside `exclusive`); true when there were any. With
   * `checkHorizon`, finding no next record costs one more read: whether vacuum deleted records this
   * instance never read (after a purge), which calls for a reload from a checkpoint.
   */
  private async catchUp(checkHorizon = false): Promise<boolean> {
    const staleAfter = (this.formatFile?.retentionMs ?? DEFAULTS.retentionMs) / 2;
    if (this.damaged || performance.now() - this.lastSyncAt > staleAfter) {
      // Vacuum may have deleted records this instance has not read; start again from a checkpoint.
      const before = this.state.seq;
      await this.reload();
      return this.state.seq !== before;
    }
    const started = performance.now();
    if (this.formatFile === undefined) {
      this.formatFile = await this.readFormatFile(this.opened().store, true);
      if (this.formatFile === undefined) {
        this.lastSyncAt = started;
        return false;
      }
    }
    const { store } = this.opened();
    const change = emptyChange();
    let applied = 0;
    // One record per round trip would never catch up with a busy log: each round reads twice as many
    // numbers at once (a quiet log costs one read per refresh, as before).
    let window = 1;
    for (let found = true; found; window = Math.min(window * 2, READ_CONCURRENCY)) {
      const first = this.state.seq + 1;
      const reads = Array.from({ length: window }, (_, index) => this.readRecord(first + index));
      for (const read of reads) read.catch(() => undefined); // the first failure is thrown below
      for (let index = 0; index < window && found; index++) {
        const record = await reads[index]!;
        if (record === undefined) found = false;
        else {
          this.applyRecord(this.state, first + index, record, change, this.history);
          applied++;
        }
      }
    }
    if (applied > 0) await this.applyChange(change, false);
    if (applied === 0 && checkHorizon && decodeHorizon(await store.get(HORIZON_KEY)) > this.state.seq) {
      const before = this.state.seq;
      await this.reload();
      return this.state.seq !== before;
    }
    this.lastSyncAt = started;
    return applied > 0;
  }

  /** Rebuilds the snapshot from the newest checkpoint and the records after it (inside `exclusive`). */
  private async reload(): Promise<void> {
    const { store } = this.opened();
    const started = performance.now();
    for (let attempt = 0; attempt < MAX_LOAD_ATTEMPTS; attempt++) {
      const loaded = await this.loadFromCheckpoint();
      if (loaded === undefined) continue; // a concurrent vacuum removed what the listing showed
      const { state, change, historyFrom } = loaded;
      const history = new Map<number, SegmentHistory>();
      const listed = this.listedRecords(await store.list(LOG_PREFIX, recordKey(state.seq)), state.seq);
      const records = listed.map((entry) => entry.seq);
      const fetched = await mapLimit(listed, READ_CONCURRENCY, (entry) => entry.read());
      let gap = false;
      for (let index = 0; index < records.length; index++) {
        const record = fetched[index];
        if (records[index] !== state.seq + 1 || record === undefined) {
          // A number nobody took yet (version 3: records past it are not acknowledged until it is filled) ends
          // the log for now; a missing number vacuum deleted (at or below its horizon) means a newer checkpoint.
          const hole = records[index] !== state.seq + 1 && this.storeVersion() >= SPREAD_CLAIMS_VERSION;
          gap = !hole || decodeHorizon(await store.get(HORIZON_KEY)) > state.seq;
          break;
        }
        this.applyRecord(state, state.seq + 1, record, change, history, false);
      }
      if (gap) continue;
      for (;;) {
        const record = await this.readRecord(state.seq + 1);
        if (record === undefined) break;
        this.applyRecord(state, state.seq + 1, record, change, history, false);
      }
      this.state = state;
      this.history = history;
      this.historyFrom = historyFrom;
      this.damaged = true;
      await this.applyChange(change, true);
      this.damaged = false;
      this.counters.viewRebuilds++;
      this.lastSyncAt = started;
      return;
    }
    throw new LTMError('connection_error', `could not read a consistent snapshot of ${store.location} in ${MAX_LOAD_ATTEMPTS} attempts (files kept disappearing): retry`);
  }

  private async loadFromCheckpoint(): Promise<{ state: LogState; change: Change; historyFrom: number } | undefined> {
    const { store } = this.opened();
    const change = emptyChange();
    const seqs = (await store.list(CHECKPOINT_PREFIX)).map((object) => seqOfKey(object.key)).filter((seq): seq is number => seq !== undefined);
    if (seqs.length === 0) return { state: new LogState(), change, historyFrom: 1 };
    const newest = Math.max(...seqs);
    const bytes = await store.get(checkpointKey(newest));
    if (bytes === undefined) return undefined;
    const state = LogState.fromCheckpoint(decodeCheckpoint(bytes, newest, store.location));
    const inline = state.sources.flatMap((source) => (source.kind === 'inline' ? [source.seq] : []));
    const records = await mapLimit(inline, READ_CONCURRENCY, (seq) => this.readRecord(seq));
    for (let index = 0; index < inline.length; index++) {
      const record = records[index];
      if (record === undefined) return undefined;
      if (record.kind !== 'commit' || record.inline === undefined) {
        throw new LTMError('query_error', `checkpoint ${newest} in ${store.location} names record ${inline[index]} as an inline commit, but it is not one`);
      }
      change.steps.push({ kind: 'inline', seq: inline[index]!, summary: record.inline.summary, rows: record.inline });
    }
    return { state, change, historyFrom: newest + 1 };
  }

  /**
   * Applies record `seq` to `state` (adding its effects to `change`) and remembers it in `history` (its segments),
   * unless it is a void compaction (see `LogState.apply`); false then.
   */
  private applyRecord(state: LogState, seq: number, record: LogRecord, change: Change, history: Map<number, SegmentHistory>, live = true): boolean {
    const applied = state.apply(seq, record, this.opened().store.location, change, this.storeVersion() >= VOID_COMPACTIONS_VERSION);
    if (!applied) {
      this.counters.voidCompactions++;
      return false;
    }
    rememberIn(history, seq, record);
    if (!live) return true; // a reload: these records are not news
    if (record.kind === 'commit' && this.writable) this.recentWriters.set(record.writer, performance.now());
    if (record.kind === 'compact') this.compactionSeenAt = performance.now();
    return true;
  }

  /**
   * Records that the snapshot (`state`) went through `change`, and brings the views up to date with it:
   * at once, or with `deferViewUpdates` (and not `reset`) later (see `prepareRead`).
   */
  private async applyChange(change: Change, reset: boolean): Promise<void> {
    if (change.steps.length === 0 && !reset) return;
    const pending = reset || this.lagging === null ? newPending(reset) : this.lagging;
    addSteps(pending, change.steps);
    // `state` went through exactly these steps: the views will show its sources as of now.
    pending.sources = this.state.sources.slice();
    this.lagging = pending;
    if (reset || this.options.deferViewUpdates !== true) {
      await this.updateViews();
      return;
    }
    this.scheduleViewUpdate(pending);
  }

  /**
   * `deferViewUpdates`: updates the views in the background when they lag by too many rows, miss a compaction
   * for too long, or the log is quiet in a process that reads. A process whose reads never wait for the views
   * (one that only writes, or reads keys no lagging change touches) does not mirror the other writers'
   * commits into them as they arrive.
   */
  private scheduleViewUpdate(pending: PendingViews): void {
    if (this.viewTimer !== undefined) clearTimeout(this.viewTimer);
    this.viewTimer = undefined;
    // Rows let go: nothing to write until a read or a compaction needs the views (catchUpViews).
    if (pending.dropped) return;
    const now = performance.now();
    const reading = now - this.readWaitedAt < VIEW_READ_WINDOW_MS;
    const update = () => {
      this.viewTimer = undefined;
      if (!this.closed) this.updateViews().catch((error: unknown) => this.backgroundError(error));
    };
    if (pending.rows >= (this.options.viewLagMaxRows ?? VIEW_LAG_MAX_ROWS)) {
      // A compactor merges from the views: letting the rows go would only make it read their records again.
      if (reading || now - this.compactedAt < VIEW_READ_WINDOW_MS) update();
      else dropRows(pending, this.counters);
      return;
    }
    const deadline = pending.compacted ? pending.since + this.retentionMs() / 4 : Infinity;
    const wait = Math.min(reading ? VIEW_QUIET_MS : Infinity, deadline - now);
    if (wait <= 0) update();
    else if (wait !== Infinity) {
      this.viewTimer = setTimeout(update, wait);
      this.viewTimer.unref();
    }
  }

  /** Writes every lagging change to the views, after the updates already running (one at a time, in log order). */
  private updateViews(): Promise<void> {
    const run = this.viewsTurn.then(async () => {
      const pending = this.lagging;
      // Rows let go are read again first (catchUpViews), not here: the views wait for a read or a compaction.
      if (pending === null || pending.dropped) return;
      this.lagging = null;
      this.updating = pending;
      try {
        await this.writeViews(pending);
        this.counters.viewUpdates++;
      } finally {
        this.updating = null;
      }
    });
    this.viewsTurn = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes every lagging change to the views (outside `exclusive`), after reading again the inline commits whose
   * rows were let go; when one cannot be read (vacuum deleted it after a compaction), rebuilds the views from the log.
   */
  private async catchUpViews(): Promise<void> {
    const pending = this.lagging;
    if (pending?.dropped === true) {
      try {
        await this.restoreRows(pending);
      } catch {
        await this.exclusive(async () => {
          if (this.lagging?.dropped === true) await this.reload();
        });
        return;
      }
    }
    await this.updateViews();
  }

  /** Reads again the rows of `pending`'s inline commits that were let go (16 records at a time). */
  private async restoreRows(pending: PendingViews): Promise<void> {
    const { store } = this.opened();
    for (;;) {
      // Changes that arrive meanwhile join `pending` without their rows too: go on until none is missing.
      const missing = pending.steps.filter((step): step is InlineStep => step.kind === 'inline' && step.rows === null);
      if (missing.length === 0) break;
      const records = await mapLimit(missing, READ_CONCURRENCY, (step) => this.readRecord(step.seq));
      missing.forEach((step, index) => {
        if (step.rows !== null) return; // a concurrent catch-up read it too
        const record = records[index];
        if (record?.kind !== 'commit' || record.inline === undefined) {
          throw new LTMError('query_error', `log record ${step.seq} of ${store.location} is gone or not an inline commit`);
        }
        step.rows = record.inline;
        pending.rows += stepRows(step);
      });
    }
    pending.dropped = false;
  }

  /** Makes the DuckDB side show the snapshot `sources` after `steps`, atomically for readers. */
  private async writeViews(pending: PendingViews): Promise<void> {
    const { steps, reset, sources: snapshot } = pending;
    const change: Change = { steps: [...steps] };
    const { engine, store, names, catalogName } = this.opened();
    const url = (key: string) => store.url(key);
    if (reset) {
      this.numbers.clear();
      this.nextNumber = 1;
    }
    const merged = new Set<number>();
    for (const step of change.steps) {
      if (step.kind === 'compact') for (const source of step.replaced) if (source.kind === 'inline') merged.add(source.seq);
    }
    const inline = change.steps.flatMap((step) => (step.kind === 'inline' && !merged.has(step.seq) ? [step] : []));
    const statements: [string, SqlValue[]][] = [];
    if (reset) {
      statements.push([`DELETE FROM ${names.catalog}.main.tail_entries`, []], [`DELETE FROM ${names.catalog}.main.tail_terms`, []]);
    } else if (merged.size > 0) {
      for (const table of ['tail_entries', 'tail_terms']) {
        statements.push([`DELETE FROM ${names.catalog}.main.${table} WHERE seq IN (SELECT unnest(CAST($1 AS BIGINT[])))`, [[...merged]]]);
      }
    }
    /** Statements up to here clear the tail; the new tail rows go in after them, before the key index reads it. */
    const tailCleared = statements.length;
    if (reset) {
      const ranks = new Map<number, number>();
      for (const source of snapshot) if (source.kind === 'segment') ranks.set(this.numberOf(source.segment.id), source.hi);
      for (const sql of rebuildKeysSql(sqlSources(snapshot, url, (id) => this.numberOf(id), true), ranks, names)) statements.push([sql, []]);
    } else {
      statements.push(...this.keyIndexStatements(change.steps, names, url));
    }
    // Replaced after every change, even one of tail rows only: DuckDB 1.5 plans prepared statements with
    // the tables' statistics (string compression, perfect-hash grouping) and runs a cached plan on data
    // that outgrew them ("Perfect hash aggregate ... statistics are corrupt"). A catalog change makes
    // every cached statement that reads these views plan again.
    const sources = sqlSources(snapshot, url, (id) => this.numberOf(id), true);
    statements.push(
      [`CREATE OR REPLACE VIEW ${names.catalog}.main.entries AS ${entriesViewSql(sources, names)}`, []],
      [`CREATE OR REPLACE VIEW ${names.catalog}.main.terms AS ${termsViewSql(sources, names)}`, []],
      [`CREATE OR REPLACE VIEW ${names.catalog}.main.docs AS ${docsViewSql(names)}`, []],
    );
    // Another writer's segment names its keys only in its file, read below; unless anything may have changed anyway.
    const changed = reset ? null : { keys: new Set(pending.keys), unread: pending.unknown ? [] : pending.unread, unknown: pending.unknown };
    try {
      await engine.transaction(async (connection) => {
        for (const [sql, params] of statements.slice(0, tailCleared)) await connection.run(sql, params);
        // The appender loads rows 3 to 5 times faster than JSON through from_json (postings are most of an
        // inline commit, about 50 per entry), and takes part in the transaction like any statement. Values
        // and metadata were checked as JSON by the writer before its record was published.
        if (inline.length > 0) {
          await appendTail(connection.raw, catalogName, 'tail_entries', inline.map(entryAppender));
          await appendTail(connection.raw, catalogName, 'tail_terms', inline.map(termAppender));
        }
        for (const [sql, params] of statements.slice(tailCleared)) await connection.run(sql, params);
        // Another writer's segment: its keys are read back from the file (its key column was just read).
        for (const segment of changed?.unread ?? []) {
          for (const key of await segmentKeys(connection, sqlString(url(segment.entries)))) changed!.keys.add(key);
        }
      });
    } catch (error) {
      this.damaged = true;
      throw error;
    }
    for (const step of change.steps) {
      if (step.kind === 'compact') for (const source of step.replaced) if (source.kind === 'segment') this.numbers.delete(source.segment.id);
    }
    if (changed === null || changed.unknown) this.notify(null);
    else if (changed.keys.size > 0) this.notify([...changed.keys]);
  }

  private notify(keys: string[] | null): void {
    for (const listener of [...this.listeners]) {
      try {
        listener({ keys: keys === null ? null : [...keys] });
      } catch (error) {
        this.backgroundError(error);
      }
    }
  }

  /** Key index updates for `steps`, in log order; consecutive inline commits become one update. */
  private keyIndexStatements(steps: readonly Step[], names: ViewNames, url: (key: string) => string): [string, SqlValue[]][] {
    const statements: [string, SqlValue[]][] = [];
    let pending = new Map<string, { seq: number; row: InlineEntry }>();
    const flush = () => {
      if (pending.size === 0) return;
      const [remove, insert] = pointKeysAtTailSql(names);
      const rows = [...pending.values()];
      // Lengths travel as JSON text: the node API binds no list with NULL members.
      statements.push(
        [remove, [[...pending.keys()]]],
        [insert, [[...pending.keys()], rows.map((r) => r.seq), JSON.stringify(rows.map((r) => r.row.doc_length)), JSON.stringify(rows.map((r) => r.row.doc_extra_length))]],
      );
      pending = new Map();
    };
    for (const step of steps) {
      if (step.kind === 'inline') {
        for (const row of bodyOf(step).entries) pending.set(row.key, { seq: step.seq, row });
        continue;
      }
      flush();
      if (step.kind === 'segment') {
        for (const sql of pointKeysAtSegmentSql(names, this.numberOf(step.segment.id), sqlString(url(step.segment.entries)))) statements.push([sql, []]);
      } else {
        const run = {
          numbers: step.replaced.flatMap((source) => (source.kind === 'segment' ? [this.numberOf(source.segment.id)] : [])),
          inline: step.replaced.flatMap((source) => (source.kind === 'inline' ? [source.seq] : [])),
        };
        const segment = step.segment === null ? null : { number: this.numberOf(step.segment.id), entries: sqlString(url(step.segment.entries)) };
        for (const sql of pointKeysAtMergeSql(names, run, segment)) statements.push([sql, []]);
      }
    }
    flush();
    return statements;
  }

  private numberOf(segmentId: string): number {
    let number = this.numbers.get(segmentId);
    if (number === undefined) {
      number = this.nextNumber++;
      this.numbers.set(segmentId, number);
    }
    return number;
  }

  private async writeCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const { store } = this.opened();
    try {
      await store.putIfAbsent(checkpointKey(checkpoint.seq), encode(checkpoint));
    } catch (error) {
      // A missing checkpoint only means readers replay more of the log.
      this.backgroundError(error);
    }
  }

  // ---- compaction -----------------------------------------------------------------------------------

  /**
   * Every writer sees the snapshot pass the threshold, and if all of them compacted, all but one would
   * merge the same sources in vain (measured: 8 writers on S3 spent more on losing merges than on their
   * commits, and with deferred views each of them first loads every lagging row). So the writer whose
   * commit passed the threshold compacts (`passed`), and keeps compacting while the policy asks for more.
   * Any writer does once `OVERDUE_FACTOR` times the threshold is passed and no compaction record came for
   * `OVERDUE_QUIET_MS` (the compacting writer died or keeps failing). Under load one compaction takes a while, so
   * earlier helpers only collided with it: one more writer at each multiple of the threshold and all of them at
   * 4 times it made 31-33 losing merges against 5-6 landed ones in 20 s of the bench's 8 S3 writers, and half of
   * the writers' CPU; and when the compactor fell behind (up to 500 inline commits), every writer past 16 times
   * the threshold loaded those rows and merged them at once, for seconds of all the machine's CPU.
   */
  private maybeCompact(passed: boolean): void {
    if (this.options.autoCompact === false || this.compacting !== null || this.closed) return;
    if (planAutomatic(this.state.sources, this.policy) === null) return;
    if (!passed && (planAutomatic(this.state.sources, this.overduePolicy) === null || performance.now() - this.compactionSeenAt < OVERDUE_QUIET_MS)) return;
    this.compactedAt = performance.now();
    let compacted = false;
    this.compacting = this.runCompaction((sources) => planAutomatic(sources, this.policy), Date.now(), this.retentionMs())
      .then((result) => {
        compacted = result.compacted;
      })
      .catch((error: unknown) => this.backgroundError(error))
      .finally(() => {
        this.compacting = null;
        if (compacted) this.maybeCompact(true);
      });
  }

  /**
   * Plans against the current snapshot, writes the merged segment outside the log lock, then publishes a
   * record replacing the run, unless another compactor merged part of it first: then the output is
   * deleted and the plan made again.
   */
  private async runCompaction(
    planner: (sources: LogState['sources']) => CompactionPlan | null,
    now: number,
    tombstoneRetentionMs: number,
  ): Promise<CompactResult> {
    const { engine, store, names } = this.opened();
    for (let attempt = 0; attempt < MAX_COMPACTION_ATTEMPTS; attempt++) {
      const planning = await this.exclusive(async () => {
        await this.catchUp();
        const plan = planner(this.state.sources);
        if (plan === null) return null;
        const run = this.state.findRun(plan.ids)!;
        return { plan, run: this.state.sources.slice(run.start, run.end + 1) };
      });
      if (planning === null) return { compacted: false, expired: 0 };
      // The merge reads inline commits from the views' tail tables: the lagging rows go in first, outside the
      // commit turn (commits go on meanwhile). Should another compaction take part of the run meanwhile, the
      // merge may miss rows, but then the run is gone from the snapshot and the merge is never published.
      await this.catchUpViews();
      const sources = sqlSources(planning.run, (key) => store.url(key), (id) => this.numberOf(id), false);
      const planned = { plan: planning.plan, latestRows: latestRowsSql(sources, names, true), terms: latestTermsSql(sources, names, true) };
      const merged = await writeMergedSegment(engine, store, planned.latestRows, planned.terms, {
        bottom: planned.plan.bottom,
        now,
        dropTombstonesBefore: now - tombstoneRetentionMs,
        rowGroupRows: this.rowGroupRows(),
      });
      const writtenAt = performance.now();
      const record: CompactRecord = { ...this.header(), kind: 'compact', replaces: planned.plan.ids, segment: merged.segment, now };
      const body = encodeRecord(record);
      const { plan } = planned;
      const stillValid = () => this.state.findRun(plan.ids) !== undefined;
      // Version 4: it claims like a commit (a lost number costs a round trip, and whether the run was still there
      // shows once the records below the number it won are applied). Before, one attempt per turn: a compaction that
      // loses the race must read the records it lost to before it tries again, and holding the turn meanwhile would
      // hold up this process's commits (seconds, on a busy log). Under load that starved it: measured on the bench's
      // 8 S3 writers, ~12 s for one compaction record to land while 500 inline commits piled up.
      const attempts = this.storeVersion() >= VOID_COMPACTIONS_VERSION ? MAX_COMMIT_ATTEMPTS : 1;
      let outcome: Awaited<ReturnType<ParquetFormat['publish']>> = 'lost';
      for (let tries = 0; outcome === 'lost'; tries++) {
        if (tries === MAX_COMMIT_ATTEMPTS) {
          await this.deleteSegment(merged.segment);
          throw tooBusy();
        }
        outcome = await this.exclusive(() =>
          this.publish(record, body, merged.segment === null ? undefined : writtenAt, stillValid, merged.expiredKeys, attempts),
        ).catch(async (error: unknown) => {
          if (error instanceof PublishError && !error.maybePublished) await this.deleteSegment(merged.segment);
          throw error instanceof PublishError ? error.cause : error;
        });
      }
      if (outcome === 'conflict') {
        this.counters.compactionConflicts++;
        await this.deleteSegment(merged.segment);
        continue;
      }
      this.counters.compactions++;
      if (outcome.checkpoint !== undefined) await this.writeCheckpoint(outcome.checkpoint);
      this.maybeVacuum();
      return { compacted: true, expired: merged.expired };
    }
    throw new LTMError('connection_error', `compaction conflicted with other compactors ${MAX_COMPACTION_ATTEMPTS} times in a row: retry later`, { retryable: true });
  }

  private async deleteSegment(segment: CompactRecord['segment']): Promise<void> {
    if (segment === null) return;
    const { store } = this.opened();
    await store.delete([segment.entries, ...(segment.terms === null ? [] : [segment.terms])]).catch(() => undefined);
  }

  // ---- vacuum ---------------------------------------------------------------------------------------

  private maybeVacuum(): void {
    const interval = this.options.vacuumIntervalMs ?? DEFAULTS.vacuumIntervalMs;
    if (interval === 0 || this.closed || this.vacuuming !== null || performance.now() - this.lastVacuumAt < interval) return;
    this.lastVacuumAt = performance.now();
    void this.vacuumOnce({}).catch((error: unknown) => this.backgroundError(error));
  }

  private async vacuumNow(options: VacuumOptions): Promise<VacuumResult> {
    const { store } = this.opened();
    const retentionMs = options.retentionMs ?? this.formatFile?.retentionMs ?? DEFAULTS.retentionMs;
    if (!Number.isSafeInteger(retentionMs) || retentionMs < 0) {
      throw new LTMError('validation_error', `retentionMs must be an integer >= 0, got ${String(retentionMs)}`);
    }
    const current = await this.exclusive(async () => {
      await this.catchUp();
      return { checkpoint: this.state.checkpoint(this.storeVersion()), history: new Map(this.history), historyFrom: this.historyFrom };
    });
    this.lastVacuumAt = performance.now();
    const now = Date.now();
    const cutoff = now - retentionMs;
    const graceCutoff = now - this.orphanGraceMs();
    const result: VacuumResult = { deletedSegmentFiles: 0, deletedRecords: 0, deletedCheckpoints: 0, deletedTemporaries: 0 };

    // The newest checkpoint old enough that no reader can still be before it: everything older goes.
    const checkpoints = (await store.list(CHECKPOINT_PREFIX)).map((object) => ({ ...object, seq: seqOfKey(object.key) }));
    let horizon = 0;
    for (const checkpoint of checkpoints) {
      if (checkpoint.seq !== undefined && checkpoint.seq <= current.checkpoint.seq && checkpoint.lastModified <= cutoff) {
        horizon = Math.max(horizon, checkpoint.seq);
      }
    }
    const keepSegments = new Set<string>();
    const keepInline = new Set<number>();
    const keep = (checkpoint: Checkpoint) => {
      for (const source of checkpoint.sources) {
        if (source.kind === 'segment') keepSegments.add(source.segment.id);
        else keepInline.add(source.seq);
      }
    };
    keep(current.checkpoint);
    if (horizon > 0) {
      const bytes = await store.get(checkpointKey(horizon));
      if (bytes === undefined) return result; // another vacuum is ahead of this one
      keep(decodeCheckpoint(bytes, horizon, store.location));
    }
    // Segments added after the horizon may be read by a snapshot inside the window; segments some record
    // replaced are no snapshot's any more once that record is past the horizon.
    const records = (await store.list(LOG_PREFIX)).map((object) => ({ ...object, seq: seqOfKey(object.key) }));
    const unknown = records.flatMap((object) => (object.seq !== undefined && object.seq < current.historyFrom ? [object.seq] : []));
    const read = await mapLimit(unknown, READ_CONCURRENCY, (seq) => this.readRecord(seq).catch(() => undefined));
    const history = new Map(current.history);
    unknown.forEach((seq, index) => {
      const record = read[index];
      if (record !== undefined) rememberIn(history, seq, record);
    });
    const replaced = new Set<string>();
    for (const [seq, entry] of history) {
      if (seq > horizon && entry.added !== null) keepSegments.add(entry.added);
      for (const id of entry.replaced) replaced.add(id);
    }
    // Records past this snapshot: published since, or (version 3) past a number nobody filled yet, whose writer
    // died before filling it. Such a record may wait for that number longer than any grace: its segment stays.
    const beyond = records.flatMap((object) => (object.seq !== undefined && object.seq > current.checkpoint.seq ? [object.seq] : []));
    const later = new Map<number, SegmentHistory>();
    for (const [index, record] of (await mapLimit(beyond, READ_CONCURRENCY, (seq) => this.readRecord(seq).catch(() => undefined))).entries()) {
      if (record !== undefined) rememberIn(later, beyond[index]!, record);
    }
    for (const entry of later.values()) if (entry.added !== null) keepSegments.add(entry.added);

    const doomed: string[] = [];
    for (const object of await store.list(DATA_PREFIX)) {
      const name = object.key.slice(DATA_PREFIX.length);
      if (name.startsWith(TEMP_PREFIX)) {
        if (object.lastModified <= graceCutoff) {
          doomed.push(object.key);
          result.deletedTemporaries++;
        }
        continue;
      }
      const id = name.split('.')[0]!;
      if (keepSegments.has(id)) continue;
      // A file no record names may belong to a writer that has not published yet: only age tells.
      if (replaced.has(id) || object.lastModified <= graceCutoff) {
        doomed.push(object.key);
        result.deletedSegmentFiles++;
      }
    }
    const isTemporary = (key: string) => key.slice(key.lastIndexOf('/') + 1).startsWith(TEMP_PREFIX);
    for (const object of records) {
      if (isTemporary(object.key)) {
        if (object.lastModified <= graceCutoff) {
          doomed.push(object.key);
          result.deletedTemporaries++;
        }
      } else if (object.seq !== undefined && object.seq <= horizon && !keepInline.has(object.seq)) {
        doomed.push(object.key);
        result.deletedRecords++;
      }
    }
    for (const object of checkpoints) {
      if (isTemporary(object.key) ? object.lastModified <= graceCutoff : object.seq !== undefined && object.seq < horizon) {
        doomed.push(object.key);
        if (object.seq === undefined) result.deletedTemporaries++;
        else result.deletedCheckpoints++;
      }
    }
    if (result.deletedRecords > 0) {
      const previous = decodeHorizon(await store.get(HORIZON_KEY));
      if (horizon > previous) await store.put(HORIZON_KEY, encode({ format: FORMAT_ID, version: this.storeVersion(), horizon }));
    }
    await store.delete(doomed);
    for (const seq of [...this.history.keys()]) if (seq <= horizon) this.history.delete(seq);
    this.counters.vacuums++;
    this.lastVacuum = result;
    return result;
  }

  // ---- helpers --------------------------------------------------------------------------------------

  private async readFormatFile(store: ObjectStore, readOnly: boolean): Promise<FormatFile | undefined> {
    let bytes = await store.get(FORMAT_FILE);
    if (bytes === undefined) {
      if (readOnly) return undefined;
      const file: FormatFile = {
        format: FORMAT_ID,
        version: PARQUET_FORMAT_VERSION,
        createdAt: new Date().toISOString(),
        retentionMs: this.options.retentionMs ?? DEFAULTS.retentionMs,
      };
      if (await store.putIfAbsent(FORMAT_FILE, encode(file))) return file;
      bytes = await store.get(FORMAT_FILE);
      if (bytes === undefined) throw new LTMError('connection_error', `${FORMAT_FILE} in ${store.location} vanished right after another process created it`);
    }
    return decodeFormatFile(bytes, store.location);
  }

  private refreshInBackground(): void {
    if (this.refreshing || this.closed) return;
    this.refreshing = true;
    const interval = this.options.refreshIntervalMs ?? DEFAULTS.refreshIntervalMs;
    this.exclusive(async () => {
      // A commit reads every record before its own: a writer that published within the interval is as
      // fresh as a refresh would make it, and refreshing would only hold up its next commit.
      if (performance.now() - this.lastSyncAt < interval) return false;
      this.refreshTicks++;
      return this.catchUp(this.refreshTicks % HORIZON_CHECK_TICKS === 0);
    })
      .catch((error: unknown) => this.backgroundError(error))
      .finally(() => {
        this.refreshing = false;
      });
  }

  private backgroundError(error: unknown): void {
    const normalized = error instanceof Error ? error : new Error(String(error));
    this.lastBackgroundError = normalized.message;
    this.options.onBackgroundError?.(normalized);
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work, work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private opened(): Opened {
    if (this.closed) throw new LTMError('backend_closed', 'the Parquet format is closed: open a new one');
    if (this.opened_ === undefined) throw new LTMError('validation_error', 'the Parquet format is not open yet: call open(context) first');
    return this.opened_;
  }

  private assertWritable(): void {
    if (!this.writable) {
      throw new LTMError('read_only', `the Parquet store ${this.opened().store.location} is open read-only: open it without readOnly to write`);
    }
  }

  private rowGroupRows(): number {
    return this.options.rowGroupRows ?? DEFAULTS.rowGroupRows;
  }

  /** The store's format version: what this process writes into it (see `PARQUET_FORMAT_VERSION`). */
  private storeVersion(): number {
    return this.formatFile?.version ?? PARQUET_FORMAT_VERSION;
  }

  private retentionMs(): number {
    return this.formatFile?.retentionMs ?? this.options.retentionMs ?? DEFAULTS.retentionMs;
  }

  private orphanGraceMs(): number {
    return this.options.orphanGraceMs ?? DEFAULTS.orphanGraceMs;
  }
}

export function createParquetFormat(options: ParquetFormatOptions = {}): ParquetFormat {
  return new ParquetFormat(options);
}

/** Carries whether a failed publish may have created the record, which decides if its segment may be deleted. */
class PublishError extends Error {
  constructor(
    override readonly cause: unknown,
    readonly maybePublished: boolean,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** `MAX_COMMIT_ATTEMPTS` lost races for a log number in a row. */
function tooBusy(): LTMError {
  return new LTMError('connection_timeout', `lost the race for a log number ${MAX_COMMIT_ATTEMPTS} times in a row: the store is too busy, retry later`);
}

type Appender = Awaited<ReturnType<EngineConnection['raw']['createAppender']>>;

/** The entry rows of an inline commit. */
function entryAppender(step: Extract<Step, { kind: 'inline' }>): AppendPart {
  const seq = BigInt(step.seq);
  const { entries } = bodyOf(step);
  return { rows: entries.length, append: (appender, index) => appendEntry(appender, seq, entries[index]!) };
}

function appendEntry(appender: Appender, seq: bigint, row: InlineEntry): void {
  appender.appendBigInt(seq);
  appender.appendVarchar(row.key);
  appender.appendVarchar(row.operation);
  for (const text of [row.value, row.metadata]) {
    if (text === null) appender.appendNull();
    else appender.appendVarchar(text);
  }
  for (const time of [row.created_at, row.updated_at, row.expires_at]) {
    if (time === null) appender.appendNull();
    else appender.appendBigInt(BigInt(time));
  }
  for (const length of [row.doc_length, row.doc_extra_length]) {
    if (length === null) appender.appendNull();
    else appender.appendInteger(length);
  }
}

/** The postings of an inline commit, straight from its columns (no object per posting). */
function termAppender(step: Extract<Step, { kind: 'inline' }>): AppendPart {
  const seq = BigInt(step.seq);
  const { entries, terms } = bodyOf(step);
  return {
    rows: terms.term.length,
    append(appender, index) {
      appender.appendBigInt(seq);
      appender.appendVarchar(entries[terms.entry[index]!]!.key);
      appender.appendTinyInt(terms.field[index]!);
      appender.appendVarchar(terms.term[index]!);
      appender.appendInteger(terms.tf[index]!);
    },
  };
}

/** Rows for the appender: `append(appender, index)` appends row `index` (0 to rows - 1). */
interface AppendPart {
  rows: number;
  append(appender: Appender, index: number): void;
}

async function appendTail(connection: EngineConnection['raw'], catalog: string, table: string, parts: readonly AppendPart[]): Promise<void> {
  const appender = await connection.createAppender(table, 'main', catalog);
  try {
    let slice = 0;
    for (const part of parts) {
      for (let index = 0; index < part.rows; index++) {
        // The appender is synchronous: let other work run between slices of a large update.
        if (slice === APPEND_SLICE_ROWS) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          slice = 0;
        }
        part.append(appender, index);
        appender.endRow();
        slice++;
      }
    }
    appender.flushSync();
  } catch (error) {
    appender.clear(); // closing must not write a part of the rows (the transaction fails anyway)
    throw error;
  } finally {
    appender.closeSync();
  }
}

/** The engine reads cloud URIs through DuckDB's httpfs or azure extension; load it now or say what is missing. */
async function loadExtension(engine: Engine, extension: 'httpfs' | 'azure', uri: string): Promise<void> {
  const [row] = await engine.query<{ loaded: boolean }>('SELECT loaded FROM duckdb_extensions() WHERE extension_name = $1', [extension]);
  if (row?.loaded === true) return;
  try {
    await engine.run(`LOAD ${extension}`);
  } catch (error) {
    throw new LTMError(
      'dependency_missing',
      `reading ${uri.slice(0, uri.indexOf(':'))}:// needs DuckDB's ${extension} extension in the engine: provision it (tooling/extensions) and open the engine with config.extension_directory, or INSTALL ${extension}`,
      { cause: error },
    );
  }
}

/**
 * The keys whose visible row `steps` may change, the segments whose keys must be read from their files,
 * or `unknown`. A compaction changes what the views show only for rows that expired before it ran.
 */
function changedKeys(steps: readonly Step[]): { keys: Set<string>; unread: SegmentInfo[]; unknown: boolean } {
  const keys = new Set<string>();
  const unread: SegmentInfo[] = [];
  let unknown = false;
  for (const step of steps) {
    if (step.kind === 'inline') {
      for (const key of step.summary.keys) keys.add(key);
    } else if (step.kind === 'segment') {
      if (step.keys !== undefined) for (const key of step.keys) keys.add(key);
      else if (step.segment.rows <= MAX_LISTED_KEYS) unread.push(step.segment);
      else unknown = true;
    } else if (step.keys !== undefined) {
      if (step.keys === null) unknown = true;
      else for (const key of step.keys) keys.add(key);
    } else if (step.replaced.some((source) => mayHaveExpired(source, step.now))) {
      unknown = true;
    }
  }
  return { keys, unread: unknown ? [] : unread, unknown };
}

function mayHaveExpired(source: SourceInfo, now: number): boolean {
  const minExpiresAt = source.kind === 'segment' ? source.segment.minExpiresAt : source.minExpiresAt;
  return minExpiresAt !== null && minExpiresAt <= now;
}

function rememberIn(history: Map<number, SegmentHistory>, seq: number, record: LogRecord): void {
  if (record.kind === 'skip') return;
  if (record.kind === 'commit') {
    if (record.segment !== undefined) history.set(seq, { added: record.segment.id, replaced: [] });
    return;
  }
  history.set(seq, {
    added: record.segment?.id ?? null,
    replaced: record.replaces.flatMap((id) => (id.startsWith('s:') ? [id.slice(2)] : [])),
  });
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  });
  await Promise.all(workers);
  return results;
}

function isSafeTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** The batch as log rows; rejects what the format seam forbids (duplicate keys, malformed rows). */
function rowsOf(batch: CommitBatch, now: number): { entries: InlineEntry[]; terms: InlineTerms } {
  if (batch === null || typeof batch !== 'object' || !Array.isArray(batch.puts) || !Array.isArray(batch.deletes)) {
    throw new LTMError('validation_error', 'a commit batch needs puts and deletes arrays');
  }
  const docs = new Map<string, { length: number; extraLength: number }>();
  for (const doc of batch.docs ?? []) docs.set(doc.key, doc);
  const seen = new Set<string>();
  const claim = (key: unknown, what: string): string => {
    if (typeof key !== 'string' || key === '') throw new LTMError('validation_error', `${what}: a key must be a non-empty string`);
    if (seen.has(key)) throw new LTMError('validation_error', `${what}: key ${JSON.stringify(key)} appears twice in one batch`);
    seen.add(key);
    return key;
  };
  const entries: InlineEntry[] = [];
  batch.puts.forEach((put, index) => {
    const what = `puts[${index}]`;
    const key = claim(put?.key, what);
    if (typeof put.value !== 'string' || put.value === '' || typeof put.metadata !== 'string') {
      throw new LTMError('validation_error', `${what}: value and metadata must be JSON text`);
    }
    if (!isSafeTime(put.createdAt) || !isSafeTime(put.updatedAt) || (put.expiresAt !== null && !isSafeTime(put.expiresAt))) {
      throw new LTMError('validation_error', `${what}: createdAt, updatedAt and expiresAt must be epoch milliseconds`);
    }
    const doc = docs.get(key);
    entries.push({
      key,
      operation: 'put',
      value: put.value,
      metadata: put.metadata,
      created_at: put.createdAt,
      updated_at: put.updatedAt,
      expires_at: put.expiresAt,
      doc_length: doc?.length ?? null,
      doc_extra_length: doc?.extraLength ?? null,
    });
  });
  const putIndex = new Map(entries.map((row, index) => [row.key, index]));
  batch.deletes.forEach((key, index) => {
    entries.push({
      key: claim(key, `deletes[${index}]`),
      operation: 'delete',
      value: null,
      metadata: null,
      created_at: null,
      // When it was deleted: compaction keeps a tombstone for the retention window.
      updated_at: now,
      expires_at: null,
      doc_length: null,
      doc_extra_length: null,
    });
  });
  const terms = emptyTerms();
  (batch.terms ?? []).forEach((row, index) => {
    const entry = putIndex.get(row?.key);
    if (entry === undefined || (row.field !== 0 && row.field !== 1) || typeof row.term !== 'string' || !Number.isSafeInteger(row.tf)) {
      throw new LTMError('validation_error', `terms[${index}]: a term row needs the key of a put in the batch, field 0 or 1, a term and an integer tf`);
    }
    terms.entry.push(entry);
    terms.field.push(row.field);
    terms.term.push(row.term);
    terms.tf.push(row.tf);
  });
  return { entries, terms };
}

/** Changes of the snapshot that the views do not show yet (see `deferViewUpdates`). */
interface PendingViews {
  steps: Step[];
  /** The views are rebuilt from `state` (a reload) rather than updated. */
  reset: boolean;
  /** Log records behind, for stats. */
  records: number;
  /** Entry and posting rows the update will load. */
  rows: number;
  /** Keys whose visible row the steps may change, */
  keys: Set<string>;
  /** and other writers' segments, whose keys are only in their files, */
  unread: SegmentInfo[];
  /** unless any row may change (a reload, a segment too big to list, a compaction that may drop expired rows). */
  unknown: boolean;
  /** When the first of them arrived (performance.now()). */
  since: number;
  /** One of them is a compaction. */
  compacted: boolean;
  /**
   * Their inline commits' rows were let go (the steps stay, marked `dropped`; `keys` and `unread` still say what
   * they touch): a read or compaction that needs the views reads those records again first.
   */
  dropped: boolean;
  /** The snapshot's sources after the steps. */
  sources: LogState['sources'];
}

function newPending(reset: boolean): PendingViews {
  return { steps: [], reset, records: 0, rows: 0, keys: new Set(), unread: [], unknown: reset, since: performance.now(), compacted: false, dropped: false, sources: [] };
}

function addSteps(pending: PendingViews, steps: readonly Step[]): void {
  pending.records += steps.length;
  const changed = changedKeys(steps);
  addKeys(pending, changed.keys);
  if (!pending.unknown) pending.unread.push(...changed.unread);
  if (changed.unknown) pending.unknown = true;
  for (const step of steps) if (step.kind === 'compact') pending.compacted = true;
  pending.steps.push(...steps);
  for (const step of steps) {
    if (step.kind !== 'inline') continue;
    if (pending.dropped) letGo(step);
    else pending.rows += stepRows(step);
  }
}

type InlineStep = Extract<Step, { kind: 'inline' }>;

/** The rows an inline commit adds to the tail tables (entries and postings): what `viewLagMaxRows` counts. */
function stepRows(step: InlineStep): number {
  return step.summary.rows + step.summary.postings;
}

function letGo(step: InlineStep): void {
  step.rows = null;
}

/** An inline step's rows, decoded now if they were not yet (they must not have been let go: see `restoreRows`). */
function bodyOf(step: InlineStep): InlineBody {
  if (step.rows === null) throw new LTMError('query_error', `internal: the rows of log record ${step.seq} were let go and not read again`);
  return step.rows.body;
}

/** Adds to the keys `pending` touches (see `capKeys`). */
function addKeys(pending: PendingViews, keys: Iterable<string>): void {
  if (pending.unknown && pending.dropped) return;
  for (const key of keys) pending.keys.add(key);
  capKeys(pending);
}

/** With its rows let go, `pending` keeps at most `VIEW_LAG_MAX_KEYS` keys; beyond, it touches every key. */
function capKeys(pending: PendingViews): void {
  if (pending.dropped && pending.keys.size > VIEW_LAG_MAX_KEYS) {
    pending.unknown = true;
    pending.keys.clear();
    pending.unread = [];
  }
}

/** Lets go of the rows `pending` holds (see `VIEW_LAG_MAX_ROWS`); the steps stay, in log order, to be read again. */
function dropRows(pending: PendingViews, counters: { viewDrops: number }): void {
  pending.dropped = true;
  for (const step of pending.steps) if (step.kind === 'inline') letGo(step);
  pending.rows = 0;
  counters.viewDrops++;
  capKeys(pending);
}
