/**
 * The write-ahead journal in front of DuckDB. A DuckDB commit costs milliseconds (it syncs its own WAL),
 * so a write is acknowledged once it is appended here, and reaches DuckDB later in large batches, the way
 * LSM stores put a WAL before the memtable. `durability: 'os'` appends with write(2), which survives a
 * process crash (as SQLite's WAL with synchronous=NORMAL does); `'fsync'` also syncs every append, which
 * survives a power cut.
 *
 * Layout: files `<database>.ltm-journal.<table>.<n>` next to the database, `n` increasing. Appends go to
 * the newest file; `seal()` starts a new one, and once everything in the sealed files is committed to
 * DuckDB, `discardSealed()` deletes them. Each record is one checksummed line (framing.ts); a line that is
 * cut short or fails its checksum ends the replay (only a crash during an append, never acknowledged, leaves
 * one at the end).
 * The body is `#<header json>\t<texts>`: the header lists each put's key, timestamps and the lengths of
 * its value and metadata texts, which follow as they are, one after another. They are JSON already
 * (with no raw tab or newline), so quoting them again into the header would only cost time. Bodies of
 * the first version, one JSON object `{"p":[[key, value, metadata, created, updated, expires]],"d":[...]}`,
 * still replay.
 */
import { closeSync, copyFileSync, fsync, fsyncSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LTMError } from '@ltm/core';
import type { EntryRow } from '@ltm/core';
import { frameLine, readFramedLines } from './framing.js';

export type Durability = 'os' | 'fsync';

/** One acknowledged write call: its puts and deletes, in call order. */
export type JournalRecord = { puts: EntryRow[]; deletes: string[] };

/**
 * With `durability: 'os'`, once this many bytes were appended since the last sync, a sync of the file
 * starts in the background (on libuv's thread pool), so the data is mostly on disk by the time `sync()`
 * asks (measured: 2 MB of appends, final sync 3-19 ms without, 1.4-2.3 ms with). It changes no promise:
 * appends are acknowledged as before, and `sync()` still syncs synchronously.
 */
const BACKGROUND_SYNC_BYTES = 256 * 1024;

/** The first version's body. */
type Line = { p?: [string, string, string, number, number, number | null][]; d?: string[] };
/** The header of a body: puts as `[key, value length, metadata length, created, updated, expires]`. */
type Header = { p?: [string, number, number, number, number, number | null][]; d?: string[] };

export class Journal {
  private fd: number | null = null;
  private current = 0;
  private sealed: number[] = [];
  /** Sealed files not synced yet, still open: `sync()` syncs them, unless their commit discards them first. */
  private sealedUnsynced: number[] = [];
  private sealedUnsyncedAppends = 0;
  private unsynced = 0;
  private bytesSinceSync = 0;
  /** Files with a background sync in flight: closing them waits for it (their number must not be reused). */
  private readonly syncing = new Set<number>();
  private readonly closeWhenSynced = new Set<number>();
  /** A background sync that failed: after a failed fsync the OS may drop the data and report success next time. */
  private backgroundError: Error | null = null;
  private directoryUnsynced = false;

  private constructor(
    private readonly directory: string,
    private readonly prefix: string,
    private readonly durability: Durability,
  ) {}

  /** The journal of `table` in the database file `databasePath`. */
  static at(databasePath: string, table: string, durability: Durability): Journal {
    return new Journal(dirname(databasePath), `${basename(databasePath)}.ltm-journal.${table}.`, durability);
  }

  /** Journal files left by an earlier process, oldest first. */
  existingFiles(): number[] {
    return readdirSync(this.directory)
      .filter((name) => name.startsWith(this.prefix) && /^\d+$/.test(name.slice(this.prefix.length)))
      .map((name) => Number(name.slice(this.prefix.length)))
      .sort((a, b) => a - b);
  }

  /**
   * Every intact record of the existing files, in write order, up to the first damaged line. A torn final
   * line was never acknowledged. A damaged line with more after it is not a crash's doing: the records
   * after it are not replayed (their order relative to the lost one is unknown), a copy of the file is kept
   * as `<file>.corrupt` and a warning names it.
   */
  replay(): JournalRecord[] {
    const records: JournalRecord[] = [];
    for (const n of this.existingFiles()) {
      const path = this.path(n);
      const { bodies, damage } = readFramedLines(readFileSync(path));
      for (const body of bodies) records.push(decode(body));
      if (damage === 'none') continue;
      if (damage === 'corrupt') {
        copyFileSync(path, `${path}.corrupt`);
        process.emitWarning(
          `the journal file ${path} has a damaged line after ${bodies.length} intact record(s); those are replayed, the rest is not, and a copy of the file is kept as ${path}.corrupt`,
          { code: 'LTM_JOURNAL_CORRUPT' },
        );
      }
      return records;
    }
    return records;
  }

  /** Opens a new file for appends; files found at open are sealed (they replay until discarded). */
  open(): void {
    const existing = this.existingFiles();
    this.sealed = existing;
    this.current = (existing[existing.length - 1] ?? 0) + 1;
    this.fd = this.create(this.current);
  }

  append(record: JournalRecord): void {
    if (this.fd === null) throw new LTMError('backend_closed', 'the journal is closed');
    const line = frameLine(encode(record));
    try {
      writeSync(this.fd, line);
      if (this.durability === 'fsync') {
        fsyncSync(this.fd);
        this.syncDirectory();
      }
      else {
        this.unsynced += 1;
        this.bytesSinceSync += line.length;
        if (this.bytesSinceSync >= BACKGROUND_SYNC_BYTES) this.syncInBackground(this.fd);
      }
    } catch (error) {
      throw new LTMError('query_error', `could not append to the journal ${this.path(this.current)}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Syncs the files holding acknowledged writes, so every one survives a power cut too. */
  sync(): void {
    if (this.backgroundError) {
      const error = this.backgroundError;
      this.backgroundError = null;
      throw new LTMError('query_error', `could not sync the journal in ${this.directory}: ${error.message}`, { cause: error });
    }
    for (const fd of this.sealedUnsynced) {
      fsyncSync(fd);
      this.closeFile(fd);
    }
    this.sealedUnsynced = [];
    this.sealedUnsyncedAppends = 0;
    if (this.fd !== null && this.unsynced > 0) fsyncSync(this.fd);
    this.syncDirectory();
    this.unsynced = 0;
    this.bytesSinceSync = 0;
  }

  /** Appends not yet synced to disk (always 0 with `durability: 'fsync'`). */
  get unsyncedAppends(): number {
    return this.unsynced + this.sealedUnsyncedAppends;
  }

  /** Starts a new file; what was appended so far is sealed until `discardSealed()`. */
  seal(): void {
    if (this.fd === null) return;
    // Not synced now: the commit that follows makes its records durable in DuckDB, and then the file
    // goes without ever costing an fsync. Until then it stays open for `sync()`.
    if (this.unsynced > 0) this.sealedUnsynced.push(this.fd);
    else this.closeFile(this.fd);
    this.sealedUnsyncedAppends += this.unsynced;
    this.unsynced = 0;
    this.bytesSinceSync = 0;
    this.sealed.push(this.current);
    this.current += 1;
    this.fd = this.create(this.current);
  }

  /** Deletes the sealed files: their records are committed to DuckDB. */
  discardSealed(): void {
    for (const fd of this.sealedUnsynced) this.closeFile(fd);
    this.sealedUnsynced = [];
    this.sealedUnsyncedAppends = 0;
    for (const n of this.sealed) unlinkSync(this.path(n));
    this.sealed = [];
  }

  /** Closes the file; with `discard`, every journal file is deleted (all of it is committed). */
  close(discard: boolean): void {
    for (const fd of this.sealedUnsynced) this.closeFile(fd);
    this.sealedUnsynced = [];
    if (this.fd !== null) this.closeFile(this.fd);
    this.fd = null;
    if (discard) {
      for (const n of this.existingFiles()) unlinkSync(this.path(n));
      this.sealed = [];
    }
  }

  private syncInBackground(fd: number): void {
    if (this.syncing.has(fd)) return;
    this.bytesSinceSync = 0;
    this.syncing.add(fd);
    fsync(fd, (error) => {
      // Reported by the next `sync()`: a sync after a failed one may succeed with the data lost.
      if (error) this.backgroundError ??= error;
      this.syncing.delete(fd);
      if (this.closeWhenSynced.delete(fd)) closeSync(fd);
    });
  }

  private closeFile(fd: number): void {
    if (this.syncing.has(fd)) this.closeWhenSynced.add(fd);
    else closeSync(fd);
  }

  /** Opens a new file for appends; its directory entry is synced with the first sync that needs it. */
  private create(n: number): number {
    const fd = openSync(this.path(n), 'a');
    this.directoryUnsynced = true;
    return fd;
  }

  /** A synced file is lost to a power cut all the same if its directory entry is not on disk. */
  private syncDirectory(): void {
    if (!this.directoryUnsynced) return;
    const fd = openSync(this.directory, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.directoryUnsynced = false;
  }

  private path(n: number): string {
    return join(this.directory, `${this.prefix}${n}`);
  }
}

function encode(record: JournalRecord): string {
  const header: Header = {};
  let texts = '';
  if (record.puts.length > 0) {
    header.p = record.puts.map((r) => {
      texts += r.value + r.metadata;
      return [r.key, r.value.length, r.metadata.length, r.createdAt, r.updatedAt, r.expiresAt];
    });
  }
  if (record.deletes.length > 0) header.d = record.deletes;
  return `#${JSON.stringify(header)}\t${texts}`;
}

function decode(body: string): JournalRecord {
  if (!body.startsWith('#')) {
    const line = JSON.parse(body) as Line;
    return {
      puts: (line.p ?? []).map(([key, value, metadata, createdAt, updatedAt, expiresAt]) => ({ key, value, metadata, createdAt, updatedAt, expiresAt })),
      deletes: line.d ?? [],
    };
  }
  // JSON text escapes every tab, so the first one ends the header.
  const tab = body.indexOf('\t');
  const header = JSON.parse(body.slice(1, tab)) as Header;
  let at = tab + 1;
  const take = (length: number): string => body.slice(at, (at += length));
  return {
    puts: (header.p ?? []).map(([key, valueLength, metadataLength, createdAt, updatedAt, expiresAt]) => ({
      key,
      value: take(valueLength),
      metadata: take(metadataLength),
      createdAt,
      updatedAt,
      expiresAt,
    })),
    deletes: header.d ?? [],
  };
}
