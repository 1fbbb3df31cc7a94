/**
 * Group commit, for formats where a write is acknowledged only once the format committed it (see
 * direct-store.ts). Every write call becomes a group of operations on the queue; while one commit is in
 * flight, later calls wait on the queue, and the next commit takes all of them at once. Concurrent
 * `store` calls therefore share one transaction, a `storeMany` stays one atomic group, and the order
 * of the queue is the order of the calls, so the last writer of a key wins.
 *
 * Two modes decide when the next commit starts. `sync` starts it as soon as the previous one finished
 * (calls made meanwhile share it). `batched` also waits until the oldest waiting call is `maxBatchDelayMs`
 * old or `maxBatchOps` operations wait, trading latency for fewer, larger commits (each commit costs a
 * log record or a segment on the store). In both, a call resolves only once its commit is durable;
 * `flush()` starts the commit of everything waiting at once.
 */
import { LTMError } from '@ltm/core';
import type { CommitBatch, EntryRow } from '@ltm/core';
import type { IndexRows } from '../search/searcher.js';
import { putRow } from './types.js';
import type { OpOutcome, WriteOp } from './types.js';

export interface PipelineDeps {
  /** Created-at (epoch ms) of the keys among `keys` that hold a live entry at `now`. */
  readLive(keys: string[], now: number): Promise<Map<string, number>>;
  commit(batch: CommitBatch): Promise<void>;
  /** Called as a commit starts, before its keys are read and its rows built (see `StorageFormat.commitComing`). */
  commitComing?(): void;
  /** Search index rows of a put. */
  indexRows(row: EntryRow): IndexRows;
}

export type PipelineMode = 'sync' | 'batched';

export interface PipelineOptions {
  mode: PipelineMode;
  /** `batched`: the longest a call waits for others to join its commit. */
  maxBatchDelayMs: number;
  /** `batched`: a commit starts without waiting once this many operations wait. */
  maxBatchOps: number;
}

export const DEFAULT_PIPELINE_OPTIONS: PipelineOptions = { mode: 'sync', maxBatchDelayMs: 25, maxBatchOps: 1024 };

interface Group {
  ops: readonly WriteOp[];
  submittedAt: number;
  resolve(outcomes: OpOutcome[]): void;
  reject(error: unknown): void;
}

export class WritePipeline {
  private queue: Group[] = [];
  private queuedOps = 0;
  private draining: Promise<void> | null = null;
  /** Ends a `batched` wait early (enough operations, or a flush). */
  private wake: (() => void) | null = null;
  /** Groups submitted so far, and how many of them a commit has taken. */
  private submitted = 0;
  private taken = 0;
  /** `flush()` asked for every group up to this count to be committed without waiting. */
  private flushThrough = 0;
  private lastNow = 0;
  private committedOps = 0;
  private commits = 0;
  private readonly options: PipelineOptions;

  constructor(
    private readonly deps: PipelineDeps,
    options: Partial<PipelineOptions> = {},
  ) {
    this.options = { ...DEFAULT_PIPELINE_OPTIONS, ...options };
  }

  get mode(): PipelineMode {
    return this.options.mode;
  }

  /** Resolves once the operations are committed (durable and visible), in call order. */
  submit(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    return new Promise<OpOutcome[]>((resolve, reject) => {
      this.queue.push({ ops, submittedAt: performance.now(), resolve, reject });
      this.queuedOps += ops.length;
      this.submitted += 1;
      if (this.queuedOps >= this.options.maxBatchOps) this.wake?.();
      this.draining ??= this.drain();
    });
  }

  /**
   * Starts the commit of everything submitted so far without waiting out a batch delay, and waits until
   * it is committed; returns how many operations were waiting.
   */
  async flush(): Promise<number> {
    const pending = this.queuedOps;
    this.flushThrough = this.submitted;
    this.wake?.();
    while (this.draining) await this.draining;
    return pending;
  }

  get pendingOps(): number {
    return this.queuedOps;
  }

  stats(): { commits: number; committedOps: number; pendingOps: number } {
    return { commits: this.commits, committedOps: this.committedOps, pendingOps: this.pendingOps };
  }

  private async drain(): Promise<void> {
    // Let the calls made in the same tick join the first commit.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0) {
        if (this.options.mode === 'batched') await this.gather();
        const groups = this.queue;
        this.queue = [];
        this.queuedOps = 0;
        this.taken += groups.length;
        try {
          await this.commitGroups(groups);
        } catch (error) {
          if (groups.length === 1 || (error instanceof LTMError && error.retryable)) {
            for (const group of groups) group.reject(error);
          } else {
            // Do not let one group's bad commit fail the unrelated groups it was merged with.
            for (const group of groups) {
              await this.commitGroups([group]).catch((e: unknown) => group.reject(e));
            }
          }
        }
      }
    } finally {
      this.draining = null;
    }
  }

  /** `batched`: waits until the oldest waiting call is `maxBatchDelayMs` old, enough operations wait, or a flush. */
  private async gather(): Promise<void> {
    const oldest = this.queue[0];
    if (oldest === undefined) return;
    const wait = oldest.submittedAt + this.options.maxBatchDelayMs - performance.now();
    if (wait <= 0 || this.queuedOps >= this.options.maxBatchOps || this.flushThrough > this.taken) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, wait);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = null;
  }

  private async commitGroups(groups: Group[]): Promise<void> {
    this.deps.commitComing?.();
    const now = Math.max(Date.now(), this.lastNow + 1);
    this.lastNow = now;
    const keys = [...new Set(groups.flatMap((g) => g.ops.map((op) => op.key)))];
    const live = await this.deps.readLive(keys, now);

    const finals = new Map<string, EntryRow | null>();
    const outcomes = groups.map((group) =>
      group.ops.map((op): OpOutcome => {
        const createdAt = live.get(op.key);
        const existed = createdAt !== undefined;
        if (op.kind === 'delete') {
          live.delete(op.key);
          finals.set(op.key, null);
        } else {
          const row = putRow(op, createdAt ?? now, now);
          // An entry stored already expired is not live for the operations that follow it.
          if (op.expiresAt === null || op.expiresAt > now) live.set(op.key, row.createdAt);
          else live.delete(op.key);
          finals.set(op.key, row);
        }
        return { existed };
      }),
    );

    const batch: CommitBatch = { puts: [], deletes: [], terms: [], docs: [] };
    for (const [key, row] of finals) {
      if (row === null) {
        batch.deletes.push(key);
        continue;
      }
      batch.puts.push(row);
      const index = this.deps.indexRows(row);
      batch.terms?.push(...index.terms);
      batch.docs?.push(index.doc);
    }
    await this.deps.commit(batch);
    this.commits += 1;
    this.committedOps += outcomes.reduce((n, o) => n + o.length, 0);
    groups.forEach((group, i) => group.resolve(outcomes[i] as OpOutcome[]));
  }
}
