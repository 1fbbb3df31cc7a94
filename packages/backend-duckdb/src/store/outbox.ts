/**
 * `fallback: 'local-outbox'`: writes that cannot reach a multi-writer store (breaker open, network,
 * timeout, 5xx) are made durable in a local file and acknowledged as queued, then replayed in order when
 * the store answers again.
 *
 * Order. Every write call is either sent to the store or appended to the outbox, and what happens after
 * it settles runs in call order on one chain: a call whose store write failed for want of the store is
 * appended; a call sent to the store while an earlier one was appended is appended too even if it
 * succeeded, so its replay lands after the earlier one and it still wins; calls made while a backlog exists
 * are appended without trying the store; and replays are submitted from the same chain, after every
 * earlier call was settled. The store therefore ends in the order the calls were made, though other
 * processes may meanwhile see a later write before an earlier queued one.
 *
 * Files. Each process appends to its own file `<host>.<pid>.<created ms>.<random>.outbox` in the store's
 * outbox directory, created at the first queued write and deleted once all of it is replayed. Each line
 * (framing.ts) is fsynced before the write is acknowledged: `{"w":[ops]}` is one write call,
 * `{"d":n}` says the file's first `n` calls are replayed. A file whose process is gone (same host, pid no
 * longer running or reused by this process) is claimed by the next open of the same store with a rename,
 * which only one process can win, and replayed first. A final line cut short by a crash (never
 * acknowledged) is dropped; a bad line followed by more lines is corruption: the intact lines before it
 * are replayed and a copy of the file is kept as `<name>.corrupt` for inspection.
 *
 * Reads. `retrieve`/`retrieveMany` of this process see queued writes (they answer from them without the
 * store); `search`, `list` and `stats().entries` read the store only, so they show queued writes once
 * replayed. Other processes see them once replayed.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { LTMError } from '@ltm/core';
import type { EntryRow, ErrorType, StorageFormat } from '@ltm/core';
import { isInfrastructureFailure, type DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { frameLine, readFramedLines } from './framing.js';
import { putRow } from './types.js';
import type { OpOutcome, Store, WriteOp } from './types.js';

export type Fallback = 'none' | 'local-outbox';

/**
 * The outbox directory of a store: `base` (option `outboxDirectory`, else `LTM_OUTBOX_DIR`, else
 * `$XDG_CACHE_HOME/ltm/outbox` or `~/.cache/ltm/outbox`), then a directory per store named by a hash of
 * its URI (without credentials) and table. Never a temporary directory: a backlog must survive a reboot.
 */
export function outboxDirectoryFor(uri: string, tableName: string, base: string | undefined, env: NodeJS.ProcessEnv): string {
  const root = base ?? (env.LTM_OUTBOX_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ltm', 'outbox'));
  const id = createHash('sha256').update(`${uri}\u0000${tableName}`).digest('hex').slice(0, 24);
  return join(root, id);
}

/** Failures that mean the store cannot be reached now: the write goes to the outbox. Bad input never does. */
export function isUnreachable(error: unknown): boolean {
  if (isInfrastructureFailure(error)) return true;
  if (!(error instanceof LTMError)) return false;
  switch (error.errorType) {
    case 'circuit_open':
    case 'connection_timeout':
    case 'rate_limited': // S3 and Azure answer 503 Service Unavailable / SlowDown this way
      return true;
    case 'connection_error':
      // The object-store clients mark network failures and 5xx retryable, and local I/O faults not.
      return error.retryable;
    default:
      return false;
  }
}

export interface OutboxOptions {
  directory: string;
  /** The store as shown to people (no credentials): written next to the files, and in messages. */
  label: string;
  tableName: string;
  /** First delay before a replay after a failed one; it doubles up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/** `stats().details.outbox`. */
export interface OutboxStats {
  directory: string;
  /** Write calls waiting (a `storeMany` is one). */
  queuedWrites: number;
  queuedOperations: number;
  /** Age of the oldest waiting write, 0 without a backlog. */
  oldestAgeMs: number;
  bytes: number;
  /** Write calls queued and replayed by this instance, and claimed from crashed processes' files. */
  queued: number;
  replayed: number;
  claimedFiles: number;
  /** Writes the store refused for good on replay (bad data), kept in `rejected.jsonl` in the directory. */
  rejected: number;
  /** Files with a corrupt line before their end (a copy is kept as `<name>.corrupt`). */
  corruptFiles: number;
  lastReplayError: string | null;
  lastReplayErrorAt: string | null;
}

type EncodedOp = [key: string, value: string, metadata: string, expiresAt: number | null] | [key: string];

interface QueuedWrite {
  file: OutboxFile;
  ops: readonly WriteOp[];
  seq: number;
  queuedAt: number;
  bytes: number;
}

const MAX_REPLAY_WRITES = 256;
const MAX_REPLAY_BYTES = 8 * 1024 * 1024;
const HOST = hostname().replace(/[^A-Za-z0-9-]/g, '_');
const FILE_NAME = /^(.+)\.(\d+)\.(\d+)\.([0-9a-f]+)\.(outbox|claimed)$/;
/** Outbox files this process is appending to or replaying: never claimable by another backend of it. */
const liveFiles = new Set<string>();

/** One outbox file: appends of write calls (synced by `sync()`, before they are acknowledged) and done markers. */
class OutboxFile {
  private fd: number | null = null;
  private unsynced = false;
  /** Write calls in the file and how many of them are replayed. */
  writes = 0;
  done = 0;

  constructor(readonly path: string) {
    liveFiles.add(path);
  }

  appendWrite(ops: readonly WriteOp[]): number {
    const bytes = this.appendLine({ w: ops.map(encodeOp) });
    this.writes += 1;
    this.unsynced = true;
    return bytes;
  }

  markDone(count: number): void {
    this.done += count;
    this.appendLine({ d: this.done });
    this.sync();
  }

  sync(): void {
    if (this.fd === null || !this.unsynced) return;
    try {
      fsyncSync(this.fd);
    } catch (error) {
      throw new LTMError('query_error', `cannot sync the local outbox ${this.path}: ${(error as Error).message}`, { cause: error });
    }
    this.unsynced = false;
  }

  get finished(): boolean {
    return this.done >= this.writes;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /** Deletes the file: everything in it reached the store. */
  remove(): void {
    this.close();
    unlinkSync(this.path);
    liveFiles.delete(this.path);
  }

  release(): void {
    this.close();
    liveFiles.delete(this.path);
  }

  private appendLine(content: object): number {
    const line = frameLine(JSON.stringify(content));
    try {
      if (this.fd === null) {
        this.fd = openSync(this.path, 'a');
        // The file's directory entry must be durable too, or a power cut could lose a new file.
        const directory = openSync(dirname(this.path), 'r');
        try {
          fsyncSync(directory);
        } finally {
          closeSync(directory);
        }
      }
      writeSync(this.fd, line);
      this.unsynced = true;
    } catch (error) {
      throw new LTMError('query_error', `cannot append to the local outbox ${this.path}: ${(error as Error).message}`, { cause: error });
    }
    return Buffer.byteLength(line);
  }
}

interface LoadedFile {
  writes: WriteOp[][];
  done: number;
  /** Bytes of intact lines from the start. */
  intactBytes: number;
  damage: 'none' | 'torn-tail' | 'corrupt';
}

function loadFile(path: string): LoadedFile {
  const { bodies, intactBytes, damage } = readFramedLines(readFileSync(path));
  const writes: WriteOp[][] = [];
  let done = 0;
  for (const body of bodies) {
    const parsed = JSON.parse(body) as { w?: EncodedOp[]; d?: number };
    if (parsed.w) writes.push(parsed.w.map(decodeOp));
    if (typeof parsed.d === 'number') done = parsed.d;
  }
  return { writes, done, intactBytes, damage };
}

function encodeOp(op: WriteOp): EncodedOp {
  return op.kind === 'put' ? [op.key, op.value, op.metadata, op.expiresAt] : [op.key];
}

function decodeOp(encoded: EncodedOp): WriteOp {
  if (encoded.length === 1) return { kind: 'delete', key: encoded[0] };
  const [key, value, metadata, expiresAt] = encoded;
  return { kind: 'put', key, value, metadata, expiresAt };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A message about a failure without anything secret (LTMError messages are redacted where they are made). */
function describe(error: unknown): string {
  if (error instanceof LTMError) return `${error.errorType}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export class OutboxStore implements Store {
  refs = 1;
  private readonly directory: string;
  private readonly queue: QueuedWrite[] = [];
  /** The newest queued write of each key: this process's reads answer from it. */
  private readonly overlay = new Map<string, { row: EntryRow | null; seq: number }>();
  private current: OutboxFile | null = null;
  /** Settlements of write calls and submissions of replays, in call order (see the module comment). */
  private chain: Promise<unknown> = Promise.resolve();
  private seq = 0;
  private replaying: Promise<boolean> | null = null;
  private syncWaiters: { file: OutboxFile; resolve(): void; reject(error: unknown): void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  /** `close()` began: no more replays are scheduled. */
  private closed = false;
  /** The files are released: nothing more can be queued. */
  private released = false;
  private readonly counters = { queued: 0, replayed: 0, claimedFiles: 0, rejected: 0, corruptFiles: 0 };
  private lastReplayError: { message: string; at: number; errorType: ErrorType } | null = null;

  private constructor(
    private readonly inner: Store,
    private readonly options: OutboxOptions,
  ) {
    this.directory = options.directory;
    this.backoffMs = options.baseBackoffMs ?? 100;
  }

  /** Wraps `inner`, and claims (and starts replaying) the outbox files crashed processes left for this store. */
  static open(inner: Store, options: OutboxOptions): OutboxStore {
    try {
      mkdirSync(options.directory, { recursive: true });
      const about = join(options.directory, 'store.json');
      writeFileSync(about, `${JSON.stringify({ uri: options.label, tableName: options.tableName })}\n`);
    } catch (error) {
      throw new LTMError(
        'validation_error',
        `cannot use ${options.directory} as the local outbox (${(error as Error).message}): set outboxDirectory or LTM_OUTBOX_DIR to a writable directory`,
        { cause: error },
      );
    }
    const store = new OutboxStore(inner, options);
    store.claimOrphans();
    if (store.queue.length > 0) store.scheduleReplay(0);
    return store;
  }

  get format(): StorageFormat<DuckDBQueryEngine> {
    return this.inner.format;
  }

  get engine(): DuckDBQueryEngine {
    return this.inner.engine;
  }

  write(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    // Each step answers { acked } rather than awaiting the outbox sync itself, so the chain moves on and
    // calls queued in the same turn share one fsync.
    if (this.queue.length > 0) return this.inOrder(() => ({ acked: this.enqueue(ops) })).then((step) => step.acked);
    const attempt = this.inner.write(ops);
    return this.inOrder(async () => {
      try {
        const outcomes = await attempt;
        // An earlier call is queued: replay this one after it, so the later write still wins. It is
        // already on the store, so its answer need not wait for the outbox.
        if (this.queue.length > 0) this.enqueue(ops).catch(() => undefined);
        return { acked: Promise.resolve(outcomes) };
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        this.noteReplayError(error);
        return { acked: this.enqueue(ops) };
      }
    }).then((step) => step.acked);
  }

  async readMany(keys: readonly string[], now: number): Promise<(EntryRow | null)[]> {
    const fromStore = keys.filter((key) => !this.overlay.has(key));
    const rows = fromStore.length === 0 ? [] : await this.inner.readMany(fromStore, now);
    const stored = new Map(fromStore.map((key, i) => [key, rows[i] ?? null]));
    return keys.map((key) => {
      const queued = this.overlay.get(key);
      if (queued === undefined) return stored.get(key) ?? null;
      const row = queued.row;
      return row !== null && (row.expiresAt === null || row.expiresAt > now) ? row : null;
    });
  }

  catchUp(): Promise<number> {
    return this.inner.catchUp();
  }

  /**
   * `flush()`: the writes in flight reach the store, then the backlog is replayed now. When the store still
   * cannot be reached, this fails (retryably) saying how many writes wait: they stay durable in the outbox.
   */
  async sync(): Promise<number> {
    const inFlight = await this.inner.sync();
    await this.chain; // calls whose store write just failed are queued by now
    const backlog = this.queue.reduce((n, w) => n + w.ops.length, 0);
    if (backlog === 0) return inFlight;
    this.cancelTimer();
    const drained = await this.replay();
    if (!drained) {
      this.scheduleReplay(this.nextDelay());
      const left = this.queue.reduce((n, w) => n + w.ops.length, 0);
      const last = this.lastReplayError;
      // The replay's own failure type (connection_error, circuit_open, auth_failed, ...), so the fix it names applies.
      throw new LTMError(
        last?.errorType ?? 'connection_error',
        `${left} queued write(s) wait in the local outbox ${this.directory}: the store did not take them (${last?.message ?? 'unknown error'}). They are durable locally and are replayed when it does; call flush() again later`,
      );
    }
    return inFlight + backlog;
  }

  async removeExpired(now: number): Promise<number> {
    return this.inner.removeExpired(now);
  }

  counts(now: number): Promise<{ live: number; expired: number }> {
    return this.inner.counts(now);
  }

  stats(): Record<string, number | string | null> {
    return this.inner.stats();
  }

  outboxStats(): OutboxStats {
    const oldest = this.queue[0];
    return {
      directory: this.directory,
      queuedWrites: this.queue.length,
      queuedOperations: this.queue.reduce((n, w) => n + w.ops.length, 0),
      oldestAgeMs: oldest === undefined ? 0 : Math.max(0, Date.now() - oldest.queuedAt),
      bytes: this.queue.reduce((n, w) => n + w.bytes, 0),
      ...this.counters,
      lastReplayError: this.lastReplayError?.message ?? null,
      lastReplayErrorAt: this.lastReplayError === null ? null : new Date(this.lastReplayError.at).toISOString(),
    };
  }

  /**
   * Replays what it can, then closes the store. A backlog the store did not take stays durable in the
   * outbox (a warning names it) and is replayed by the next open of this store.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer();
    try {
      await this.chain;
      if (this.queue.length > 0) await this.replay();
    } finally {
      this.syncNow(); // appends of this turn are on disk before their files close
      this.released = true;
      const files = new Set(this.queue.map((w) => w.file));
      if (this.current !== null) files.add(this.current);
      for (const file of files) file.release();
      if (this.queue.length > 0) {
        process.emitWarning(
          `${this.queue.length} queued write(s) for ${this.options.label} could not be replayed before close; they stay in the local outbox ${this.directory} and are replayed by the next open of this store`,
          { code: 'LTM_OUTBOX_BACKLOG' },
        );
      }
      await this.inner.close();
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  private inOrder<T>(step: () => T | Promise<T>): Promise<T> {
    const run = this.chain.then(step);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends one write call to the outbox and queues it for replay at once (so later calls line up behind
   * it); resolves to its queued outcomes once the append is synced.
   */
  private enqueue(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    if (this.released) throw new LTMError('backend_closed', 'this DuckDBLTMBackend is closed; open a new one');
    if (this.current === null) {
      this.current = new OutboxFile(join(this.directory, `${HOST}.${process.pid}.${Date.now()}.${randomBytes(4).toString('hex')}.outbox`));
    }
    const file = this.current;
    const bytes = file.appendWrite(ops);
    const seq = ++this.seq;
    const now = Date.now();
    const outcomes = ops.map((op): OpOutcome => {
      const known = this.overlay.get(op.key)?.row;
      const live = known !== undefined && known !== null && (known.expiresAt === null || known.expiresAt > now);
      // Without the store, a key this process has not queued counts as absent for a put (created) and as
      // present for a delete (deleted): the outcome the write has unless the store says otherwise.
      const existed = known === undefined ? op.kind === 'delete' : live;
      if (op.kind === 'delete') this.overlay.set(op.key, { row: null, seq });
      else {
        const createdAt = live && known ? known.createdAt : now;
        this.overlay.set(op.key, {
          row: putRow(op, createdAt, now),
          seq,
        });
      }
      return { existed, queued: true };
    });
    this.queue.push({ file, ops, seq, queuedAt: now, bytes });
    this.counters.queued += 1;
    this.scheduleReplay(this.nextDelay());
    return this.synced(file).then(() => outcomes);
  }

  /**
   * Resolves once `file`'s appends so far are on disk. The sync runs on the next turn of the event loop,
   * for every append made until then: concurrent queued calls share it, and a loop of awaited queued
   * writes still lets timers and I/O run between them.
   */
  private synced(file: OutboxFile): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.syncWaiters.push({ file, resolve, reject });
      if (this.syncWaiters.length === 1) setImmediate(() => this.syncNow());
    });
  }

  private syncNow(): void {
    const waiters = this.syncWaiters.splice(0);
    const failed = new Map<OutboxFile, unknown>();
    for (const file of new Set(waiters.map((w) => w.file))) {
      try {
        file.sync();
      } catch (error) {
        failed.set(file, error);
      }
    }
    for (const waiter of waiters) {
      if (failed.has(waiter.file)) waiter.reject(failed.get(waiter.file));
      else waiter.resolve();
    }
  }

  /** Replays the backlog in order until it is empty (true) or the store fails (false); one run at a time. */
  private replay(): Promise<boolean> {
    this.replaying ??= this.replayPasses().finally(() => (this.replaying = null));
    return this.replaying;
  }

  private async replayPasses(): Promise<boolean> {
    while (this.queue.length > 0) {
      const batch: QueuedWrite[] = [];
      let bytes = 0;
      for (const write of this.queue) {
        if (batch.length >= MAX_REPLAY_WRITES || (batch.length > 0 && bytes + write.bytes > MAX_REPLAY_BYTES)) break;
        batch.push(write);
        bytes += write.bytes;
      }
      // Submitted together, the writes share one commit of the pipeline, in queue order.
      const attempts = await this.inOrder(() => batch.map((w) => this.inner.write(w.ops).then(() => null, (error: unknown) => error)));
      const errors = await Promise.all(attempts);
      let replayed = 0;
      while (replayed < errors.length && errors[replayed] === null) replayed++;
      if (replayed > 0) this.dequeue(batch.slice(0, replayed));
      const failed = batch[replayed];
      if (failed === undefined) continue;
      const error = errors[replayed];
      if (error instanceof LTMError && (error.errorType === 'validation_error' || error.errorType === 'serialization_error')) {
        this.setAside(failed, error);
        continue;
      }
      this.noteReplayError(error);
      return false;
    }
    this.backoffMs = this.options.baseBackoffMs ?? 100;
    return true;
  }

  /** Removes replayed (or set aside) writes from the head of the queue and records them done in their files. */
  private dequeue(writes: readonly QueuedWrite[], replayed = true): void {
    this.queue.splice(0, writes.length);
    const perFile = new Map<OutboxFile, number>();
    for (const write of writes) {
      perFile.set(write.file, (perFile.get(write.file) ?? 0) + 1);
      for (const op of write.ops) if (this.overlay.get(op.key)?.seq === write.seq) this.overlay.delete(op.key);
    }
    for (const [file, count] of perFile) {
      if (file.done + count >= file.writes) {
        if (this.current === file) this.current = null;
        file.remove();
      } else file.markDone(count);
    }
    if (replayed) this.counters.replayed += writes.length;
  }

  /** A write the store refuses for good (it never should: calls are validated before they are queued). */
  private setAside(write: QueuedWrite, error: LTMError): void {
    const line = JSON.stringify({ at: new Date().toISOString(), error: describe(error), ops: write.ops.map(encodeOp) });
    const fd = openSync(join(this.directory, 'rejected.jsonl'), 'a');
    try {
      writeSync(fd, `${line}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.counters.rejected += 1;
    this.dequeue([write], false);
  }

  private scheduleReplay(delayMs: number): void {
    if (this.closed || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.replay().then(
        (drained) => {
          if (!drained) this.scheduleReplay(this.nextDelay(true));
        },
        (error: unknown) => {
          // A local fault (the outbox directory became unwritable, say): keep the backlog and try again.
          this.noteReplayError(error);
          this.scheduleReplay(this.nextDelay(true));
        },
      );
    }, delayMs);
    // A backlog does not keep the process alive: it is durable, and the next open replays it.
    this.timer.unref();
  }

  /** The wait before the next replay: the backoff (doubled after a failure), at least until the breaker lets a probe through. */
  private nextDelay(failed = false): number {
    if (failed) this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 5000);
    const probeInMs = this.inner.engine.stats().circuit?.probeInMs ?? 0;
    return Math.max(this.backoffMs, probeInMs);
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private noteReplayError(error: unknown): void {
    this.lastReplayError = { message: describe(error), at: Date.now(), errorType: error instanceof LTMError ? error.errorType : 'query_error' };
  }

  /** Takes over the files of processes of this host that are gone, oldest first, and queues their writes. */
  private claimOrphans(): void {
    const orphans = readdirSync(this.directory)
      .flatMap((name) => {
        const match = FILE_NAME.exec(name);
        if (!match || match[1] !== HOST) return [];
        const pid = Number(match[2]);
        const path = join(this.directory, name);
        if (liveFiles.has(path) || (pid !== process.pid && processAlive(pid))) return [];
        return [{ name, path, created: Number(match[3]) }];
      })
      .sort((a, b) => a.created - b.created || a.name.localeCompare(b.name));
    for (const orphan of orphans) {
      const claimed = join(this.directory, `${HOST}.${process.pid}.${orphan.created}.${randomBytes(4).toString('hex')}.claimed`);
      try {
        renameSync(orphan.path, claimed);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // another process claimed it first
        throw error;
      }
      const loaded = loadFile(claimed);
      if (loaded.damage === 'corrupt') {
        copyFileSync(claimed, `${claimed}.corrupt`);
        this.counters.corruptFiles += 1;
        process.emitWarning(
          `the local outbox file ${orphan.path} has a corrupt line after ${loaded.writes.length} intact write(s); those are replayed, a copy of the file is kept as ${claimed}.corrupt`,
          { code: 'LTM_OUTBOX_CORRUPT' },
        );
      }
      // New lines (done markers) must follow the intact ones, not a cut or damaged line.
      if (loaded.intactBytes < statSync(claimed).size) truncateSync(claimed, loaded.intactBytes);
      const file = new OutboxFile(claimed);
      file.writes = loaded.writes.length;
      file.done = Math.min(loaded.done, loaded.writes.length);
      this.counters.claimedFiles += 1;
      if (file.finished) {
        file.remove();
        continue;
      }
      const queuedAt = Date.now();
      for (const ops of loaded.writes.slice(file.done)) {
        const seq = ++this.seq;
        for (const op of ops) {
          this.overlay.set(op.key, {
            row: op.kind === 'delete' ? null : putRow(op, queuedAt, queuedAt),
            seq,
          });
        }
        this.queue.push({ file, ops, seq, queuedAt, bytes: Buffer.byteLength(JSON.stringify(ops.map(encodeOp))) });
      }
    }
  }
}
