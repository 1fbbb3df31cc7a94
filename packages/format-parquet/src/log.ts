/**
 * The commit log: what is stored besides the Parquet segments, and how it is named and decoded.
 *
 * Layout under a store's root (`<uri>/<tableName>/`):
 * - `_ltm_format.json`: the format and its version, created once;
 * - `_log/<seq, 20 digits>.json`: log records 1, 2, 3, ..., each created with put-if-absent, so exactly one
 *   writer wins each number and the numbers are the commit order. Writers of a version 3 store may win a
 *   number past one nobody took yet (see `SkipRecord`): the log is read up to its first missing number;
 * - `_log/horizon.json`: how far vacuum has deleted records (a hint for readers that fell behind);
 * - `_checkpoints/<seq>.json`: the snapshot after record `seq` (written after compactions and every
 *   `CHECKPOINT_INTERVAL` records), so a new reader need not replay the whole log;
 * - `data/<uuid>.entries.parquet`, `data/<uuid>.terms.parquet`: immutable segments.
 */
import { LTMError } from '@ltm/core';

export const FORMAT_ID = 'ltm-parquet';
/**
 * The newest version this code reads and writes, recorded in `_ltm_format.json` when it creates a store; every
 * record and checkpoint carries its store's version. A newer one is refused rather than misread.
 * - 1: an inline commit's postings are objects `{ key, field, term, tf }`;
 * - 2: they are columns (`InlineTerms`): about half the bytes, and several times faster to decode;
 * - 3: concurrent writers spread their claims over the next few numbers, and a writer that wins one past a
 *   number nobody took fills that number with a `skip` record (older code would take such a hole for damage).
 * - 4: an inline commit is two lines: a header with what the snapshot needs of its rows (`InlineSummary`: how
 *   many, their keys, ...), then the rows. A process decodes the rows only when its views or a compaction need
 *   them, so a process that only writes does not parse every other writer's batch (see `InlineRows`).
 *   Compactions claim numbers as commits do, and one whose run another compaction took first is void.
 * A store keeps the version it was created with (so older writers of it keep working); this code writes
 * any of them.
 */
export const PARQUET_FORMAT_VERSION = 4;
/** The first version whose writers may win a number past an empty one (`SkipRecord`). */
export const SPREAD_CLAIMS_VERSION = 3;
/** The first version whose inline commits carry an `InlineSummary` before their rows. */
export const INLINE_SUMMARY_VERSION = 4;
/**
 * The first version whose compactors claim log numbers like commits (past records they have not read), so a
 * compaction record whose run another compaction took first is void (see `LogState.apply`), not damage.
 */
export const VOID_COMPACTIONS_VERSION = 4;

export const FORMAT_FILE = '_ltm_format.json';
export const LOG_PREFIX = '_log/';
export const CHECKPOINT_PREFIX = '_checkpoints/';
export const DATA_PREFIX = 'data/';
export const CHECKPOINT_INTERVAL = 64;
/**
 * `{ horizon }`: vacuum deleted the log records up to `horizon`. Written before it deletes them, so a
 * reader that finds no next record but sits before the horizon knows to reload from a checkpoint.
 */
export const HORIZON_KEY = `${LOG_PREFIX}horizon.json`;

const SEQ_DIGITS = 20;
const SEQ_NAME = /^(\d{20})\.json$/;

export function recordKey(seq: number): string {
  return `${LOG_PREFIX}${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
}

export function checkpointKey(seq: number): string {
  return `${CHECKPOINT_PREFIX}${String(seq).padStart(SEQ_DIGITS, '0')}.json`;
}

/** The sequence number of a `_log/` or `_checkpoints/` key, or `undefined` for other files (temporaries). */
export function seqOfKey(key: string): number | undefined {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const match = SEQ_NAME.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/** An immutable segment: an entries file sorted by key and, when the batch was indexed, a terms file. */
export interface SegmentInfo {
  id: string;
  entries: string;
  terms: string | null;
  /** Entry rows, tombstones included. */
  rows: number;
  tombstones: number;
  minKey: string;
  maxKey: string;
  /** Earliest `expires_at` among its puts (epoch ms), so expiry work can skip segments without any. */
  minExpiresAt: number | null;
  /**
   * When its oldest tombstone was written (epoch ms; 0 for tombstones of writers that did not record it),
   * so a full compaction can tell whether any tombstone is past the retention window. Absent in records of
   * older writers: then any tombstone may be.
   */
  oldestTombstoneAt?: number | null;
  /**
   * Compaction output carries each row's version in its `version` column. A commit's segment is written
   * before its record wins a number, so its `version` column is NULL: its rows' version is the number of
   * the record that adds it.
   */
  versioned: boolean;
}

/** One entry row of an inline commit; JSON columns hold JSON text; times are epoch ms. */
export interface InlineEntry {
  key: string;
  operation: 'put' | 'delete';
  value: string | null;
  metadata: string | null;
  created_at: number | null;
  updated_at: number | null;
  expires_at: number | null;
  doc_length: number | null;
  doc_extra_length: number | null;
}

/**
 * An inline commit's search postings, column by column: posting `i` is term `term[i]` of field `field[i]`
 * (0 the value, 1 the metadata), `tf[i]` times in the document of the record's entry `entry[i]`.
 */
export interface InlineTerms {
  entry: number[];
  field: number[];
  term: string[];
  tf: number[];
}

export interface RecordHeader {
  format: typeof FORMAT_ID;
  version: number;
  /** Unique per record: lets a writer whose write timed out recognize its own record. */
  id: string;
  /** Which process wrote it (diagnostics). */
  writer: string;
  /** Writer's clock, epoch ms (diagnostics). */
  time: number;
}

/** A batch: its rows inline (small batches, one object write) or a segment written beforehand. */
export interface CommitRecord extends RecordHeader {
  kind: 'commit';
  inline?: InlineRows;
  segment?: SegmentInfo;
}

/** An inline commit's rows and postings. */
export interface InlineBody {
  entries: InlineEntry[];
  terms: InlineTerms;
}

/** What the snapshot and the change listeners need of an inline commit, without its rows. */
export interface InlineSummary {
  /** Entry rows. */
  rows: number;
  /** Search postings. */
  postings: number;
  /** Characters of keys, values and metadata (the compaction policy weighs sources by it). */
  bytes: number;
  /** Earliest `expires_at` among its rows (epoch ms), or null. */
  minExpiresAt: number | null;
  /** The keys it writes or deletes, in row order. */
  keys: string[];
}

/**
 * An inline commit's rows, decoded when first asked for (`body`). Version 4 records carry the summary before
 * the rows, so reading one costs only its summary until the views or a compaction need the rows; older
 * records are decoded whole and summarized at once.
 */
export class InlineRows {
  private decoded: InlineBody | undefined;

  private constructor(
    readonly summary: InlineSummary,
    body: InlineBody | undefined,
    private readonly decode: () => InlineBody,
  ) {
    this.decoded = body;
  }

  /** Rows already in memory (this process's batch, or an older record). */
  static of(body: InlineBody): InlineRows {
    return new InlineRows(summarize(body.entries, body.terms.term.length), body, () => body);
  }

  /** Rows still encoded: `decode` runs on the first `body` access (and throws if they are malformed). */
  static lazy(summary: InlineSummary, decode: () => InlineBody): InlineRows {
    return new InlineRows(summary, undefined, decode);
  }

  get body(): InlineBody {
    this.decoded ??= this.decode();
    return this.decoded;
  }
}

function summarize(entries: readonly InlineEntry[], postings: number): InlineSummary {
  let minExpiresAt: number | null = null;
  let bytes = 0;
  for (const row of entries) {
    if (row.expires_at !== null && (minExpiresAt === null || row.expires_at < minExpiresAt)) minExpiresAt = row.expires_at;
    bytes += row.key.length + (row.value?.length ?? 0) + (row.metadata?.length ?? 0);
  }
  return { rows: entries.length, postings, bytes, minExpiresAt, keys: entries.map((row) => row.key) };
}

/**
 * Replaces a contiguous run of sources (in version order) by their merge. `replaces` names the sources
 * (`sourceId`); `segment` is null when nothing survived the merge.
 */
export interface CompactRecord extends RecordHeader {
  kind: 'compact';
  replaces: string[];
  segment: SegmentInfo | null;
  /** The time (epoch ms) the merge turned expired rows into tombstones at; absent in older records. */
  now?: number;
}

/**
 * Nothing happened at this number. Concurrent writers of a version 3 store try different numbers among the
 * next few, so one may win a number past one that nobody took; before it acknowledges its own commit it
 * fills each such number with this record (put-if-absent: if a writer's commit got there first, that commit
 * stays), so every number below an acknowledged commit holds a record and a reader that reads the log up to
 * its first missing number sees every acknowledged commit. Stored as an empty object: a listing, which
 * gives sizes, shows it without a read.
 */
export interface SkipRecord {
  kind: 'skip';
}

export const SKIP: SkipRecord = Object.freeze({ kind: 'skip' as const });

export type LogRecord = CommitRecord | CompactRecord | SkipRecord;

/** Where live rows come from, in version order: segments and inline commits not yet merged. */
export type SourceInfo =
  | { kind: 'segment'; segment: SegmentInfo; lo: number; hi: number }
  | { kind: 'inline'; seq: number; rows: number; bytes: number; minExpiresAt: number | null };

export function sourceId(source: SourceInfo): string {
  return source.kind === 'segment' ? `s:${source.segment.id}` : `i:${source.seq}`;
}

export interface Checkpoint {
  format: typeof FORMAT_ID;
  version: number;
  seq: number;
  sources: SourceInfo[];
}

export interface FormatFile {
  format: typeof FORMAT_ID;
  version: number;
  createdAt: string;
  /**
   * How long files stay after no snapshot needs them, fixed when the store is created so every process
   * agrees: vacuum keeps them that long, and a reader that has not caught up for half of it reloads.
   */
  retentionMs: number;
}

/** Postings columns with no posting. */
export function emptyTerms(): InlineTerms {
  return { entry: [], field: [], term: [], tf: [] };
}

export function encode(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * A record as its store's `version` writes it. Version 4 inline commits: the header with the summary as
 * `inline`, a newline, then `{"inline":{entries,terms}}` (JSON text never holds a raw newline, so the first one
 * ends the header; and `liveViewSql` reads the rows of every version with one JSON shape). Version 2 and 3: one
 * JSON object with the rows as `inline`; version 1: the same with postings as objects.
 */
export function encodeRecord(record: CommitRecord | CompactRecord): Uint8Array {
  if (record.kind !== 'commit' || record.inline === undefined) return encode(record);
  const { entries, terms } = record.inline.body;
  if (record.version >= INLINE_SUMMARY_VERSION) {
    return Buffer.from(`${JSON.stringify({ ...record, inline: record.inline.summary })}\n${JSON.stringify({ inline: { entries, terms } })}`, 'utf8');
  }
  if (record.version >= 2) return encode({ ...record, inline: { entries, terms } });
  const objects = terms.term.map((term, index) => ({ key: entries[terms.entry[index]!]!.key, field: terms.field[index], term, tf: terms.tf[index] }));
  return encode({ ...record, inline: { entries, terms: objects } });
}

function decodeJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    throw new LTMError('query_error', `${what} is not valid JSON: the store is damaged or was written by something else`, { cause: error });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LTMError('query_error', `${what} is not a JSON object: the store is damaged or was written by something else`);
  }
  return parsed as Record<string, unknown>;
}

/** Refuses what this code cannot read correctly: another format or a newer version of this one. */
export function checkVersion(header: Record<string, unknown>, what: string, location: string): void {
  if (header.format !== FORMAT_ID) {
    throw new LTMError('unsupported', `${what} in ${location} is not an ltm Parquet store (format ${JSON.stringify(header.format)})`);
  }
  const version = header.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new LTMError('unsupported', `${what} in ${location} records an unknown format version ${JSON.stringify(version)}`);
  }
  if (version > PARQUET_FORMAT_VERSION) {
    throw new LTMError(
      'unsupported',
      `${what} in ${location} was written by Parquet format version ${version}, newer than this @ltm/format-parquet ` +
        `(version ${PARQUET_FORMAT_VERSION}): upgrade @ltm/format-parquet to open it`,
    );
  }
}

/**
 * `storeVersion`: the store's, from its format file (an empty record is a `skip` from version 3 on). A version 4
 * inline commit's rows are decoded (and checked) when first asked for; `onDecode` is called then.
 */
export function decodeRecord(bytes: Uint8Array, seq: number, location: string, storeVersion: number, onDecode?: () => void): LogRecord {
  const what = `log record ${seq}`;
  if (bytes.byteLength === 0 && storeVersion >= SPREAD_CLAIMS_VERSION) return SKIP;
  const newline = storeVersion >= INLINE_SUMMARY_VERSION ? bytes.indexOf(0x0a) : -1;
  const record = decodeJson(newline < 0 ? bytes : bytes.subarray(0, newline), what);
  checkVersion(record, what, location);
  if (record.kind === 'commit' && (record.inline !== undefined) !== (record.segment !== undefined)) {
    const where = `${what} in ${location}`;
    const version = record.version as number;
    if (record.inline === undefined) {
      if (newline >= 0) throw malformed(where);
    } else if (version < INLINE_SUMMARY_VERSION) {
      if (newline >= 0) throw malformed(where);
      record.inline = InlineRows.of(decodeInline(record.inline, version, where));
    } else {
      if (newline < 0) throw malformed(where);
      const summary = decodeSummary(record.inline, where);
      const rest = bytes.subarray(newline + 1);
      record.inline = InlineRows.lazy(summary, () => {
        onDecode?.();
        const body = decodeInline(decodeJson(rest, what).inline, version, where);
        if (body.entries.some((row) => typeof row?.key !== 'string')) throw malformed(where);
        // The summary is what every reader's snapshot used: rows that say otherwise are damage.
        const actual = summarize(body.entries, body.terms.term.length);
        const agrees =
          actual.rows === summary.rows &&
          actual.postings === summary.postings &&
          actual.bytes === summary.bytes &&
          actual.minExpiresAt === summary.minExpiresAt &&
          actual.keys.every((key, index) => key === summary.keys[index]);
        if (!agrees) throw malformed(where);
        return body;
      });
    }
    return record as unknown as CommitRecord;
  }
  if (record.kind === 'compact' && Array.isArray(record.replaces)) return record as unknown as CompactRecord;
  throw new LTMError('query_error', `${what} in ${location} has an unknown shape (kind ${JSON.stringify(record.kind)})`);
}

function malformed(where: string): LTMError {
  return new LTMError('query_error', `${where} has malformed inline rows: the store is damaged or was written by something else`);
}

/** A version 4 inline commit's summary; refuses a malformed one. */
function decodeSummary(summary: unknown, where: string): InlineSummary {
  const { rows, postings, bytes, minExpiresAt, keys } = (summary ?? {}) as Partial<Record<keyof InlineSummary, unknown>>;
  const count = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  if (
    !count(rows) ||
    !count(postings) ||
    !count(bytes) ||
    !(minExpiresAt === null || (typeof minExpiresAt === 'number' && Number.isSafeInteger(minExpiresAt))) ||
    !Array.isArray(keys) ||
    keys.length !== rows ||
    keys.some((key) => typeof key !== 'string')
  ) {
    throw malformed(where);
  }
  return { rows, postings, bytes, minExpiresAt, keys: keys as string[] };
}

/** An inline commit's rows, postings as columns whatever the record's version; refuses a malformed one. */
function decodeInline(inline: unknown, version: number, where: string): InlineBody {
  const { entries, terms } = (inline ?? {}) as { entries?: unknown; terms?: unknown };
  if (!Array.isArray(entries)) throw malformed(where);
  const rows = entries as InlineEntry[];
  if (version === 1) {
    if (!Array.isArray(terms)) throw malformed(where);
    const index = new Map(rows.map((row, position) => [row?.key, position]));
    const columns = emptyTerms();
    for (const posting of terms as { key?: unknown; field: number; term: string; tf: number }[]) {
      const entry = index.get(posting?.key as string);
      if (entry === undefined) throw malformed(where);
      columns.entry.push(entry);
      columns.field.push(posting.field);
      columns.term.push(posting.term);
      columns.tf.push(posting.tf);
    }
    return { entries: rows, terms: columns };
  }
  const { entry, field, term, tf } = (terms ?? {}) as Partial<InlineTerms>;
  if (!Array.isArray(entry) || !Array.isArray(field) || !Array.isArray(term) || !Array.isArray(tf)) throw malformed(where);
  const length = entry.length;
  if (field.length !== length || term.length !== length || tf.length !== length) throw malformed(where);
  for (let index = 0; index < length; index++) {
    const position = entry[index]!;
    if (!Number.isInteger(position) || position < 0 || position >= rows.length) throw malformed(where);
  }
  return { entries: rows, terms: { entry, field, term, tf } };
}

export function decodeCheckpoint(bytes: Uint8Array, seq: number, location: string): Checkpoint {
  const what = `checkpoint ${seq}`;
  const checkpoint = decodeJson(bytes, what);
  checkVersion(checkpoint, what, location);
  if (checkpoint.seq !== seq || !Array.isArray(checkpoint.sources)) {
    throw new LTMError('query_error', `${what} in ${location} has an unknown shape`);
  }
  return checkpoint as unknown as Checkpoint;
}

export function decodeHorizon(bytes: Uint8Array | undefined): number {
  if (bytes === undefined) return 0;
  try {
    const horizon = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { horizon?: unknown }).horizon;
    return typeof horizon === 'number' && Number.isSafeInteger(horizon) ? horizon : 0;
  } catch {
    return 0;
  }
}

export function decodeFormatFile(bytes: Uint8Array, location: string): FormatFile {
  const file = decodeJson(bytes, FORMAT_FILE);
  checkVersion(file, FORMAT_FILE, location);
  if (typeof file.retentionMs !== 'number' || !(file.retentionMs >= 0)) {
    throw new LTMError('query_error', `${FORMAT_FILE} in ${location} has no valid retentionMs`);
  }
  return file as unknown as FormatFile;
}
