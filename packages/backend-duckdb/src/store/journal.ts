/**
 * The write-ahead journal in front of DuckDB. A DuckDB commit costs milliseconds (it syncs its own WAL),
 * so a write is acknowledged once it is appended here, and reaches DuckDB later in large batches, the way
 * LSM stores put a WAL before the memtable. `durability: 'os'` appends with write(2), which survives a
 * process crash (as SQLite's WAL with synchronous=NORMAL does); `'fsync'` also syncs every append, which
 * survives a power cut.
 *
 * Layout: files `<database>.ltm-journal.<table>.<n>` next to the database, `n` increasing. Appends go to
 * the newest file; `seal()` starts a new one, and once everything in the sealed files is committed to
 * DuckDB, `discardSealed()` deletes them. Each line is `<crc32 hex> <json>\n`; a line that is cut short
 * or fails its checksum ends the replay (only a crash during an append, never acknowledged, leaves one).
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { LTMError } from '@ltm/core';
import type { EntryRow } from '@ltm/core';

export type Durability = 'os' | 'fsync';

/** One acknowledged write call: its puts and deletes, in call order. */
export type JournalRecord = { puts: EntryRow[]; deletes: string[] };

type Line = { p?: [string, string, string, number, number, number | null][]; d?: string[] };

export class Journal {
  private fd: number | null = null;
  private current = 0;
  private sealed: number[] = [];
  private unsynced = 0;

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

  /** Every intact record of the existing files, in write order. */
  replay(): JournalRecord[] {
    const records: JournalRecord[] = [];
    for (const n of this.existingFiles()) {
      const text = readFileSync(this.path(n), 'utf8');
      let start = 0;
      while (start < text.length) {
        const end = text.indexOf('\n', start);
        if (end < 0) return records; // a torn final line: that write was never acknowledged
        const line = text.slice(start, end);
        start = end + 1;
        const space = line.indexOf(' ');
        const json = line.slice(space + 1);
        if (space < 0 || line.slice(0, space) !== crc32(json).toString(16)) return records;
        records.push(decode(JSON.parse(json) as Line));
      }
    }
    return records;
  }

  /** Opens a new file for appends; files found at open are sealed (they replay until discarded). */
  open(): void {
    const existing = this.existingFiles();
    this.sealed = existing;
    this.current = (existing[existing.length - 1] ?? 0) + 1;
    this.fd = openSync(this.path(this.current), 'a');
  }

  append(record: JournalRecord): void {
    if (this.fd === null) throw new LTMError('backend_closed', 'the journal is closed');
    const json = JSON.stringify(encode(record));
    const line = `${crc32(json).toString(16)} ${json}\n`;
    try {
      writeSync(this.fd, line);
      if (this.durability === 'fsync') fsyncSync(this.fd);
      else this.unsynced += 1;
    } catch (error) {
      throw new LTMError('query_error', `could not append to the journal ${this.path(this.current)}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Syncs the file being appended to, so every acknowledged write survives a power cut too. */
  sync(): void {
    if (this.fd !== null && this.unsynced > 0) fsyncSync(this.fd);
    this.unsynced = 0;
  }

  /** Appends not yet synced to disk (always 0 with `durability: 'fsync'`). */
  get unsyncedAppends(): number {
    return this.unsynced;
  }

  /** Starts a new file; what was appended so far is sealed until `discardSealed()`. */
  seal(): void {
    if (this.fd === null) return;
    // Synced before it is closed, so `sync()` need only ever sync the current file.
    this.sync();
    closeSync(this.fd);
    this.sealed.push(this.current);
    this.current += 1;
    this.fd = openSync(this.path(this.current), 'a');
  }

  /** Deletes the sealed files: their records are committed to DuckDB. */
  discardSealed(): void {
    for (const n of this.sealed) unlinkSync(this.path(n));
    this.sealed = [];
  }

  /** Closes the file; with `discard`, every journal file is deleted (all of it is committed). */
  close(discard: boolean): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    if (discard) {
      for (const n of this.existingFiles()) unlinkSync(this.path(n));
      this.sealed = [];
    }
  }

  private path(n: number): string {
    return join(this.directory, `${this.prefix}${n}`);
  }
}

function encode(record: JournalRecord): Line {
  const line: Line = {};
  if (record.puts.length > 0) line.p = record.puts.map((r) => [r.key, r.value, r.metadata, r.createdAt, r.updatedAt, r.expiresAt]);
  if (record.deletes.length > 0) line.d = record.deletes;
  return line;
}

function decode(line: Line): JournalRecord {
  return {
    puts: (line.p ?? []).map(([key, value, metadata, createdAt, updatedAt, expiresAt]) => ({ key, value, metadata, createdAt, updatedAt, expiresAt })),
    deletes: line.d ?? [],
  };
}
