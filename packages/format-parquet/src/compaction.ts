/**
 * Which sources a compaction merges. A plan is always a contiguous run in version order, so the merged
 * segment takes the run's place and version ranges never interleave (what the views rely on).
 */
import type { SourceInfo } from './log.js';
import { sourceId } from './log.js';

export interface CompactionPolicy {
  /** Fold the inline commits into a segment once there are this many... */
  flushInlineRecords: number;
  /** ...or once their rows hold this many bytes of keys, values and metadata. */
  flushInlineBytes: number;
  /**
   * Merge segments once there are more than this. Each point lookup reads one footer and one row group per
   * segment, so this bounds read cost; the merge picks the newest segments up to the first one bigger than
   * twice their sum, so each row is rewritten about log2(rows) times over the store's life.
   */
  maxSegments: number;
}

export const DEFAULT_COMPACTION_POLICY: CompactionPolicy = {
  flushInlineRecords: 32,
  flushInlineBytes: 8 * 1024 * 1024,
  maxSegments: 8,
};

export interface CompactionPlan {
  /** Source ids, oldest first. */
  ids: string[];
  /** The run includes the oldest source: nothing older can hold its keys, so tombstones past retention can go. */
  bottom: boolean;
}

/** `policy` with every threshold `factor` times higher. */
export function scaledPolicy(policy: CompactionPolicy, factor: number): CompactionPolicy {
  return {
    flushInlineRecords: factor * policy.flushInlineRecords,
    flushInlineBytes: factor * policy.flushInlineBytes,
    maxSegments: factor * policy.maxSegments,
  };
}

/**
 * Whether the newest source (a writer's own record) took `sources` past the policy's thresholds: exactly one
 * record does, so one writer starts the compaction (and goes on while the policy asks for more).
 */
export function passedThreshold(sources: readonly SourceInfo[], policy: CompactionPolicy): boolean {
  return planAutomatic(sources.slice(0, -1), policy) === null && planAutomatic(sources, policy) !== null;
}

function planOf(sources: readonly SourceInfo[], start: number): CompactionPlan {
  return { ids: sources.slice(start).map(sourceId), bottom: start === 0 };
}

function size(source: SourceInfo): number {
  return source.kind === 'segment' ? source.segment.rows : source.rows;
}

/** What automatic compaction would merge now, or `null`. */
export function planAutomatic(sources: readonly SourceInfo[], policy: CompactionPolicy): CompactionPlan | null {
  let inlineRecords = 0;
  let inlineBytes = 0;
  let oldestInline = -1;
  sources.forEach((source, index) => {
    if (source.kind !== 'inline') return;
    inlineRecords++;
    inlineBytes += source.bytes;
    if (oldestInline < 0) oldestInline = index;
  });
  if (oldestInline >= 0 && (inlineRecords >= policy.flushInlineRecords || inlineBytes >= policy.flushInlineBytes)) {
    return planOf(sources, oldestInline);
  }
  const segments = sources.length - inlineRecords;
  if (segments <= policy.maxSegments) return null;
  let start = sources.length - 1;
  let total = size(sources[start]!);
  for (let index = sources.length - 2; index >= 0; index--) {
    const candidate = size(sources[index]!);
    if (sources.length - 1 - index >= 2 && candidate > 2 * total) break;
    total += candidate;
    start = index;
  }
  return planOf(sources, start);
}

/**
 * Everything: a full compaction (`compact()`, `purge()`). `null` when there is nothing to gain: one segment
 * with nothing expired at `now` and no tombstone deleted at or before `dropTombstonesBefore`.
 */
export function planFull(sources: readonly SourceInfo[], now: number, dropTombstonesBefore: number): CompactionPlan | null {
  if (sources.length === 0) return null;
  const only = sources[0]!;
  if (sources.length === 1 && only.kind === 'segment' && !expiredBy(only, now)) {
    const { tombstones, oldestTombstoneAt } = only.segment;
    const droppable = tombstones > 0 && (oldestTombstoneAt === undefined || oldestTombstoneAt === null || oldestTombstoneAt <= dropTombstonesBefore);
    if (!droppable) return null;
  }
  return planOf(sources, 0);
}

/** From the oldest source holding a row expired at `now` to the newest, or `null` when none does. */
export function planExpiry(sources: readonly SourceInfo[], now: number): CompactionPlan | null {
  const oldest = sources.findIndex((source) => expiredBy(source, now));
  return oldest < 0 ? null : planOf(sources, oldest);
}

function expiredBy(source: SourceInfo, now: number): boolean {
  const minExpiresAt = source.kind === 'segment' ? source.segment.minExpiresAt : source.minExpiresAt;
  return minExpiresAt !== null && minExpiresAt <= now;
}
