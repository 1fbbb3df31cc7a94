/**
 * The snapshot as a pure state machine over log records: which sources hold live rows, in version order.
 * Every process applies the same records in the same order and so reaches the same state, which is what
 * lets a compactor check its plan against the log alone.
 */
import { LTMError } from '@ltm/core';
import type { Checkpoint, InlineRows, InlineSummary, LogRecord, SegmentInfo, SourceInfo } from './log.js';
import { FORMAT_ID, sourceId } from './log.js';

/** One applied record's effect, in log order, for the DuckDB side (tail rows, key index, views). */
export type Step =
  /**
   * `rows`: decoded when the views or a compaction need them (see `InlineRows`); null when they were let go to
   * bound memory (deferred views), until read again.
   */
  | { kind: 'inline'; seq: number; summary: InlineSummary; rows: InlineRows | null }
  /** `keys`: the segment's keys when this process wrote it (else they are read from the file). */
  | { kind: 'segment'; segment: SegmentInfo; keys?: string[] }
  /**
   * `now`: the time the merge expired rows at (Infinity when the record does not say); rows expired by
   * then may have left the views.
   * `keys`: the keys that left the views, when this process compacted (`null`: too many to list).
   */
  | { kind: 'compact'; replaced: SourceInfo[]; segment: SegmentInfo | null; now: number; keys?: string[] | null };

export interface Change {
  steps: Step[];
}

export function emptyChange(): Change {
  return { steps: [] };
}

export class LogState {
  /** The last applied record. */
  seq = 0;
  /** Oldest first. Ranges of versions never overlap: compaction merges only contiguous runs. */
  sources: SourceInfo[] = [];

  static fromCheckpoint(checkpoint: Checkpoint): LogState {
    const state = new LogState();
    state.seq = checkpoint.seq;
    state.sources = checkpoint.sources.map((source) => ({ ...source }));
    return state;
  }

  /** `version`: the store's format version (readers of older versions must be able to read it). */
  checkpoint(version: number): Checkpoint {
    return { format: FORMAT_ID, version, seq: this.seq, sources: this.sources.map((source) => ({ ...source })) };
  }

  /** Where the run `ids` sits among the sources, or `undefined` when one is gone or they are not contiguous. */
  findRun(ids: readonly string[]): { start: number; end: number } | undefined {
    if (ids.length === 0) return undefined;
    const positions = ids.map((id) => this.sources.findIndex((source) => sourceId(source) === id));
    if (positions.some((position) => position < 0)) return undefined;
    const start = Math.min(...positions);
    const end = Math.max(...positions);
    return end - start + 1 === ids.length ? { start, end } : undefined;
  }

  /**
   * Applies record `seq` (which must be the next one) and adds its effects to `change` (a `skip` has none).
   * A compaction whose run is no longer a contiguous run of the snapshot (another compaction merged part of it
   * first) is void when `voidConflicts` (version 4 stores, whose compactors claim numbers like commits, past
   * records they have not read): it changes nothing, for every reader alike; otherwise it is damage. Returns
   * false for a void record.
   */
  apply(seq: number, record: LogRecord, location: string, change: Change, voidConflicts = false): boolean {
    if (seq !== this.seq + 1) {
      throw new LTMError('query_error', `internal: log record ${seq} applied after ${this.seq} in ${location}`);
    }
    if (record.kind === 'commit') {
      if (record.inline !== undefined) {
        const { summary } = record.inline;
        this.sources.push({ kind: 'inline', seq, rows: summary.rows, bytes: summary.bytes, minExpiresAt: summary.minExpiresAt });
        change.steps.push({ kind: 'inline', seq, summary, rows: record.inline });
      } else if (record.segment !== undefined) {
        this.sources.push({ kind: 'segment', segment: record.segment, lo: seq, hi: seq });
        change.steps.push({ kind: 'segment', segment: record.segment });
      }
    } else if (record.kind === 'compact') {
      const run = this.findRun(record.replaces);
      if (run === undefined && voidConflicts) {
        this.seq = seq;
        return false;
      }
      if (run === undefined) {
        throw new LTMError(
          'query_error',
          `log record ${seq} in ${location} compacts sources that are not a contiguous run of the snapshot: the log is inconsistent`,
        );
      }
      const replaced = this.sources.slice(run.start, run.end + 1);
      const lo = Math.min(...replaced.map((source) => (source.kind === 'segment' ? source.lo : source.seq)));
      const hi = Math.max(...replaced.map((source) => (source.kind === 'segment' ? source.hi : source.seq)));
      const merged: SourceInfo[] = record.segment === null ? [] : [{ kind: 'segment', segment: record.segment, lo, hi }];
      this.sources.splice(run.start, replaced.length, ...merged);
      change.steps.push({ kind: 'compact', replaced, segment: record.segment, now: typeof record.now === 'number' ? record.now : Infinity });
    }
    this.seq = seq;
    return true;
  }

  inlineCount(): number {
    return this.sources.filter((source) => source.kind === 'inline').length;
  }

  segmentCount(): number {
    return this.sources.length - this.inlineCount();
  }
}
