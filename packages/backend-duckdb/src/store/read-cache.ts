/**
 * A least-recently-used cache of entry rows, bounded by the bytes of their JSON text. It is exact
 * because every write of the table in this process goes through the same TableStore, which updates
 * the cache as it writes; a read that raced with a write does not fill it (see TableStore.readRow).
 */
import type { EntryRow } from '@ltm/core';

export class ReadCache {
  private readonly rows = new Map<string, EntryRow>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string): EntryRow | undefined {
    const row = this.rows.get(key);
    if (row === undefined) {
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    // Re-insert to mark it most recently used (a Map iterates in insertion order).
    this.rows.delete(key);
    this.rows.set(key, row);
    return row;
  }

  set(row: EntryRow): void {
    const size = sizeOf(row);
    if (size > this.maxBytes / 4) {
      this.delete(row.key); // one huge value must not flush the whole cache
      return;
    }
    this.delete(row.key);
    this.rows.set(row.key, row);
    this.bytes += size;
    for (const [key, oldest] of this.rows) {
      if (this.bytes <= this.maxBytes) break;
      this.rows.delete(key);
      this.bytes -= sizeOf(oldest);
    }
  }

  delete(key: string): void {
    const row = this.rows.get(key);
    if (row === undefined) return;
    this.rows.delete(key);
    this.bytes -= sizeOf(row);
  }

  clear(): void {
    this.rows.clear();
    this.bytes = 0;
  }

  stats(): { entries: number; bytes: number; maxBytes: number; hits: number; misses: number } {
    return { entries: this.rows.size, bytes: this.bytes, maxBytes: this.maxBytes, hits: this.hits, misses: this.misses };
  }
}

function sizeOf(row: EntryRow): number {
  // UTF-16 length is a cheap, stable proxy for memory; the key is stored once more by the Map.
  return 2 * (row.value.length + row.metadata.length + row.key.length * 2) + 64;
}
