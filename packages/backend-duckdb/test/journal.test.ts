// The journal replays exactly what was appended: values and metadata are stored as the JSON text they
// are, unquoted, so texts with quotes, escapes, tabs and newlines escaped, and characters outside the BMP
// must come back character for character; lines of the first version must still replay.
import { appendFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EntryRow } from '@ltm/core';
import { Journal } from '../src/store/journal.js';
import type { JournalRecord } from '../src/store/journal.js';
import { tempDir } from './helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function database(): string {
  const { dir, cleanup } = tempDir('ltm-journal-');
  cleanups.push(cleanup);
  return join(dir, 'ltm.duckdb');
}

const row = (key: string, value: unknown, metadata: object, expiresAt: number | null = null): EntryRow => ({
  key,
  value: JSON.stringify(value),
  metadata: JSON.stringify(metadata),
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_123,
  expiresAt,
});

describe('Journal', () => {
  it('replays appended records exactly, across sealed files', () => {
    const path = database();
    const records: JournalRecord[] = [
      { puts: [row('plain', 'hello', {})], deletes: [] },
      {
        puts: [
          row('quotes "and" \\ backslashes\t', { text: 'tab\there\nnewline "quoted" \\', emoji: '😀 東京 Ünïcödé', n: -0.5e-7 }, { tag: '\u2028\u2029' }, 1_800_000_000_000),
          row('k2', [null, true, 1e21, { '10': 'a', '2': 'b', z: {} }], { nested: { deep: ['x'] } }),
        ],
        deletes: ['gone', 'also\tgone'],
      },
      { puts: [], deletes: ['only a delete'] },
      { puts: [row('', '', {})], deletes: [] },
    ];
    const journal = Journal.at(path, 'ltm_store', 'os');
    journal.open();
    journal.append(records[0] as JournalRecord);
    journal.append(records[1] as JournalRecord);
    journal.seal();
    journal.append(records[2] as JournalRecord);
    journal.append(records[3] as JournalRecord);
    expect(journal.unsyncedAppends).toBe(4);
    journal.sync();
    expect(journal.unsyncedAppends).toBe(0);
    journal.close(false);
    expect(Journal.at(path, 'ltm_store', 'os').replay()).toEqual(records);
  });

  it('replays lines of the first version, and stops at a torn or corrupt line', () => {
    const path = database();
    const journal = Journal.at(path, 'ltm_store', 'os');
    journal.open();
    journal.close(false);
    const [file] = readdirSync(join(path, '..')).filter((name) => name.includes('ltm-journal'));
    const old = JSON.stringify({ p: [['k', '{"a":1}', '{}', 1, 2, null]], d: ['x'] });
    appendFileSync(join(path, '..', file as string), `${crc32(old).toString(16)} ${old}\n`);
    appendFileSync(join(path, '..', file as string), `00000000 ${old}\n`);
    expect(Journal.at(path, 'ltm_store', 'os').replay()).toEqual([
      { puts: [{ key: 'k', value: '{"a":1}', metadata: '{}', createdAt: 1, updatedAt: 2, expiresAt: null }], deletes: ['x'] },
    ]);
  });

  it('names a damaged line with more after it, keeps a copy of the file, and replays the intact records before it', () => {
    const path = database();
    const journal = Journal.at(path, 'ltm_store', 'os');
    journal.open();
    journal.append({ puts: [row('before', 1, {})], deletes: [] });
    journal.close(false);
    const [file] = readdirSync(join(path, '..')).filter((name) => name.includes('ltm-journal'));
    const filePath = join(path, '..', file as string);
    const body = JSON.stringify({ p: [['after', '2', '{}', 1, 2, null]] });
    appendFileSync(filePath, `00000000 ${body}\n${crc32(body).toString(16)} ${body}\n`);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const replayed = Journal.at(path, 'ltm_store', 'os').replay();
      expect(replayed.map((record) => record.puts.map((put) => put.key))).toEqual([['before']]);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(`${filePath}.corrupt`), { code: 'LTM_JOURNAL_CORRUPT' });
      expect(existsSync(`${filePath}.corrupt`)).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });

  it('replays everything when files are sealed and closed while background syncs run', async () => {
    const path = database();
    const journal = Journal.at(path, 'ltm_store', 'os');
    journal.open();
    const records: JournalRecord[] = [];
    // About 1.2 MB: several background syncs start, and seals close files some of them still sync.
    for (let i = 0; i < 1200; i++) {
      const record = { puts: [row(`k${i}`, { text: 'x'.repeat(900), i }, { i })], deletes: [] };
      records.push(record);
      journal.append(record);
      if (i % 250 === 249) journal.seal();
    }
    journal.close(false);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(Journal.at(path, 'ltm_store', 'os').replay()).toEqual(records);
    const again = Journal.at(path, 'ltm_store', 'os');
    again.open();
    again.append({ puts: [], deletes: ['k1'] });
    again.sync();
    expect(again.unsyncedAppends).toBe(0);
    again.close(true);
    expect(readdirSync(join(path, '..')).filter((name) => name.includes('ltm-journal'))).toEqual([]);
  });

  it('discards sealed files once their records are committed', () => {
    const path = database();
    const journal = Journal.at(path, 'ltm_store', 'os');
    journal.open();
    journal.append({ puts: [row('a', 1, {})], deletes: [] });
    journal.seal();
    journal.append({ puts: [row('b', 2, {})], deletes: [] });
    journal.discardSealed();
    journal.close(false);
    expect(Journal.at(path, 'ltm_store', 'os').replay().map((r) => r.puts.map((p) => p.key))).toEqual([['b']]);
  });
});
