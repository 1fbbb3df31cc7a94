/**
 * Group commit, for formats where a write is acknowledged only once the format committed it (see
 * direct-store.ts). Every write call becomes a group of operations on the queue; while one commit is in
 * flight, later calls wait on the queue, and the next commit takes all of them at once. Concurrent
 * `store` calls therefore share one transaction, a `storeMany` stays one atomic group, and the order
 * of the queue is the order of the calls, so the last writer of a key wins.
 */
import { LTMError } from '@ltm/core';
import type { CommitBatch, EntryRow } from '@ltm/core';
import type { IndexRows } from '../search/searcher.js';
import type { OpOutcome, WriteOp } from './types.js';

export interface PipelineDeps {
  /** Created-at (epoch ms) of the keys among `keys` that hold a live entry at `now`. */
  readLive(keys: string[], now: number): Promise<Map<string, number>>;
  commit(batch: CommitBatch): Promise<void>;
  /** Search index rows of a put. */
  indexRows(row: EntryRow): IndexRows;
}

interface Group {
  ops: readonly WriteOp[];
  resolve(outcomes: OpOutcome[]): void;
  reject(error: unknown): void;
}

export class WritePipeline {
  private queue: Group[] = [];
  private draining: Promise<void> | null = null;
  private lastNow = 0;
  private committedOps = 0;
  private commits = 0;

  constructor(private readonly deps: PipelineDeps) {}

  /** Resolves once the operations are committed (durable and visible), in call order. */
  submit(ops: readonly WriteOp[]): Promise<OpOutcome[]> {
    return new Promise<OpOutcome[]>((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /** Waits until everything submitted so far is committed; returns how many operations that was. */
  async flush(): Promise<number> {
    const pending = this.queue.reduce((n, g) => n + g.ops.length, 0);
    while (this.draining) await this.draining;
    return pending;
  }

  get pendingOps(): number {
    return this.queue.reduce((n, g) => n + g.ops.length, 0);
  }

  stats(): { commits: number; committedOps: number; pendingOps: number } {
    return { commits: this.commits, committedOps: this.committedOps, pendingOps: this.pendingOps };
  }

  private async drain(): Promise<void> {
    // Let the calls made in the same tick join the first commit.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0) {
        const groups = this.queue;
        this.queue = [];
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

  private async commitGroups(groups: Group[]): Promise<void> {
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
          const row: EntryRow = {
            key: op.key,
            value: op.value,
            metadata: op.metadata,
            createdAt: createdAt ?? now,
            updatedAt: now,
            expiresAt: op.expiresAt,
          };
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
