import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ObjectStore } from '../src/index.js';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { T0, batchOf, entry, intercept, interceptedStore, logNumber, ltmError, readRecordFile, recordFile, scratch, writeRecordFile } from './helpers.js';

const { store, open } = scratch('ltm-spread-');

afterEach(() => {
  vi.restoreAllMocks();
});

const recordName = (seq: number) => `${String(seq).padStart(20, '0')}.json`;
const record = (dir: string, seq: number) => readRecordFile(dir, seq) as { kind: string; writer: string; inline?: { entries: { key: string }[] } };
/** A `skip` record is an empty object. */
const isSkip = (dir: string, seq: number) => readFileSync(recordFile(dir, seq)).byteLength === 0;
const logNumbers = (dir: string) => readdirSync(join(dir, 'ltm_store', '_log')).filter((name) => /^\d{20}\.json$/.test(name)).map(Number.parseFloat);

/** Puts `around` (see `interceptedStore`) in front of an open writer's log calls. */
function aroundStore(writer: { format: unknown }, around: Parameters<typeof intercept>[1]): void {
  const format = writer.format as { opened_: { store: ObjectStore } };
  format.opened_.store = intercept(format.opened_.store, around);
}

/**
 * Writers `a` and `b` of the store at `dir`; `race(n)` makes b commit just before each of a's next `n` log writes,
 * so a loses those numbers. `duringFill(seq)` runs before a's `skip` records (empty bodies) go to the store.
 */
async function racingPair(dir: string, duringFill?: (seq: number) => Promise<void>) {
  let racing = 0;
  let b: Awaited<ReturnType<typeof open>> | undefined;
  const raced = await interceptedStore(dir, async (method, args, call) => {
    const seq = method === 'putIfAbsent' ? logNumber(args[0]) : undefined;
    if (seq !== undefined && (args[1] as Uint8Array).byteLength === 0) await duringFill?.(seq);
    else if (seq !== undefined && racing > 0 && b !== undefined) {
      racing--;
      await b.format.refresh();
      await b.format.commit(batchOf([entry(`b-raced-${seq}`)]));
    }
    return call(...args);
  });
  const a = await open(dir, { objectStore: raced, autoCompact: false });
  b = await open(dir, { autoCompact: false });
  return {
    a,
    b,
    race(count: number) {
      racing = count;
    },
  };
}

/**
 * A `racingPair` on a new store after `first` commits of b, then a's commit `a-1` while b commits just before each
 * of a's first three log writes, so a loses them: the first loss lists the log, the second learns the end from
 * the listing, the third (a number tried knowing the end) is contention, and the fourth attempt spreads over the
 * next 2 numbers (2 writers), the second of which `Math.random` picks. `duringFill` runs before a's `skip` records
 * go to the store.
 */
async function contended(first: number, duringFill?: (seq: number, dir: string) => Promise<void>) {
  const dir = store();
  const { a, b, race } = await racingPair(dir, async (seq) => duringFill?.(seq, dir));
  for (let i = 0; i < first; i++) await b.format.commit(batchOf([entry(`b-${i}`)]));
  await a.format.commit(batchOf([entry('a-0')])); // a now knows b as a writer of the store
  await b.format.refresh();
  race(3);
  vi.spyOn(Math, 'random').mockReturnValue(0.99);
  const before = a.format.stats();
  await a.format.commit(batchOf([entry('a-1')]));
  vi.restoreAllMocks();
  return { dir, a, b, before, after: a.format.stats() };
}

describe('spread claims (version 3 stores)', () => {
  test('a contended commit tries one of the next numbers; one it passed that nobody took holds a skip record before the commit is acknowledged', async () => {
    const { dir, a, b, before, after } = await contended(3);
    // Records: b-0..b-2 (1-3), a-0 (4), b's three raced commits (5-7), a hole (8) and a-1 (9).
    expect(after.lostRaces - before.lostRaces).toBe(3);
    expect(after.lastCommitSeq).toBe(9);
    expect(after.skipsWritten).toBe(1);
    expect(isSkip(dir, 8)).toBe(true);
    expect(record(dir, 9).inline?.entries.map((row) => row.key)).toEqual(['a-1']);
    expect(logNumbers(dir)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // a saw everything before its own record, and readers see the same.
    const everything = ['a-0', 'a-1', 'b-0', 'b-1', 'b-2', 'b-raced-5', 'b-raced-6', 'b-raced-7'];
    expect(Object.keys(await a.entries())).toEqual(everything);
    await b.format.refresh();
    expect(await b.entries()).toEqual(await a.entries());
    // A reader that opens lists the log: the skip shows as an empty object and is not read.
    const reads: number[] = [];
    const listingReader = await interceptedStore(dir, (method, args, call) => {
      const seq = method === 'get' ? logNumber(args[0]) : undefined;
      if (seq !== undefined) reads.push(seq);
      return call(...args);
    });
    const fresh = await open(dir, { objectStore: listingReader });
    expect(Object.keys(await fresh.entries())).toEqual(everything);
    expect(fresh.format.stats().seq).toBe(9);
    expect(reads).toContain(9);
    expect(reads).not.toContain(8);
  });

  test('a writer whose commit reaches the number being filled first keeps it: the filler reads and applies that commit', async () => {
    const { dir, a, after } = await contended(3, async (seq, at) => {
      // Another writer, caught up to the hole, claims it just before a's skip record would.
      const late = await open(at, { autoCompact: false });
      await late.format.commit(batchOf([entry(`late-${seq}`)]));
    });
    expect(after.skipsWritten).toBe(0);
    expect(record(dir, 8).inline?.entries.map((row) => row.key)).toEqual(['late-8']);
    expect(Object.keys(await a.entries())).toContain('late-8');
  });

  test('a commit whose number below could not be filled is an error, not an acknowledgement: it becomes visible once a later commit fills that number', async () => {
    let dir = '';
    const error = await ltmError(
      contended(3, async (_seq, at) => {
        dir = at;
        throw new Error('the store went away');
      }),
    );
    expect(error.errorType).toBe('connection_error');
    expect(error.message).toMatch(/written as log record 9 .* number 8 before it could not be filled \(the store went away\).*storing it again is safe/);
    const reader = await open(dir);
    expect(Object.keys(await reader.entries())).not.toContain('a-1');
    const other = await open(dir, { autoCompact: false });
    await other.format.commit(batchOf([entry('fills-8')]));
    expect(record(dir, 8).inline?.entries.map((row) => row.key)).toEqual(['fills-8']);
    await reader.format.refresh();
    expect(Object.keys(await reader.entries())).toEqual(expect.arrayContaining(['a-1', 'fills-8']));
    expect(reader.format.stats().seq).toBe(9);
  });

  test('the checkpoint due at a multiple of 64 is written by the writer that filled that number', async () => {
    // 59 commits of b, a-0 (60), three raced commits (61-63), the hole (64), a-1 (65).
    const { dir, after } = await contended(59);
    expect(after.lastCommitSeq).toBe(65);
    expect(isSkip(dir, 64)).toBe(true);
    await vi.waitFor(() => expect(existsSync(join(dir, 'ltm_store', '_checkpoints', recordName(65)))).toBe(true), { timeout: 5_000, interval: 20 });
    expect(readdirSync(join(dir, 'ltm_store', '_checkpoints'))).toEqual([recordName(65)]);
  });

  test('a number nobody filled (its winner died first) ends the log for readers until the next commit fills it', async () => {
    const dir = store();
    const writer = await open(dir, { autoCompact: false });
    await writer.format.commit(batchOf([entry('one')]));
    await writer.format.commit(batchOf([entry('two')]));
    // Another writer won number 4 and died before filling 3: its record is there, number 3 is not.
    const orphan = { ...record(dir, 2), id: 'orphan', writer: 'dead', inline: { ...record(dir, 2).inline, entries: [{ ...record(dir, 2).inline!.entries[0], key: 'four' }] } };
    writeRecordFile(dir, 4, orphan);

    // Not acknowledged, so not visible: neither to a reader that opens (list-based) nor to one that refreshes.
    const opened = await open(dir);
    expect(Object.keys(await opened.entries())).toEqual(['one', 'two']);
    expect(opened.format.stats().seq).toBe(2);
    expect(await writer.format.refresh()).toBe(false);

    // The next commit (a lone writer: the next number) takes number 3, and the log reads through again.
    await writer.format.commit(batchOf([entry('three')]));
    expect(record(dir, 3).inline?.entries.map((row) => row.key)).toEqual(['three']);
    expect(await opened.format.refresh()).toBe(true);
    expect(Object.keys(await opened.entries())).toEqual(['four', 'one', 'three', 'two']);
    expect(opened.format.stats().seq).toBe(4);
    const fresh = await open(dir);
    expect(Object.keys(await fresh.entries())).toEqual(['four', 'one', 'three', 'two']);
  });

  test("vacuum keeps the segment of a record past a number nobody filled, however old: it becomes visible once that number is filled", async () => {
    const dir = store();
    const writer = await open(dir, { autoCompact: false });
    await writer.format.commit(batchOf([entry('one')]));
    // A writer whose segment commit wins number 3 and dies before filling 2: its put of record 2 lands at 3.
    const dying = await open(dir, {
      autoCompact: false,
      inlineMaxBytes: 0,
      objectStore: await interceptedStore(dir, (method, args, call) =>
        call(...(method === 'putIfAbsent' && logNumber(args[0]) === 2 ? [`_log/${recordName(3)}`, args[1]] : args)),
      ),
    });
    await dying.format.commit(batchOf([entry('segment-past-the-hole')]));
    expect(existsSync(recordFile(dir, 2))).toBe(false);
    expect(record(dir, 3)).toMatchObject({ kind: 'commit', segment: {} });

    // A vacuum with no grace for unnamed files: the record past the hole names the segment, so it stays.
    const vacuumer = await open(dir, { autoCompact: false, orphanGraceMs: 0 });
    await vacuumer.format.vacuum({ retentionMs: 0 });
    await writer.format.commit(batchOf([entry('fills-2')]));
    const fresh = await open(dir);
    expect(Object.keys(await fresh.entries())).toEqual(['fills-2', 'one', 'segment-past-the-hole']);
  });

  test('a number passed by a winning claim is read first and filled only if still empty; one taken meanwhile is read, never overwritten', async () => {
    const dir = store();
    const calls: string[] = [];
    const logged = await interceptedStore(dir, (method, args, call) => {
      if (method !== 'list') calls.push(`${method} ${logNumber(args[0])}`);
      return call(...args);
    });
    const a = await open(dir, { objectStore: logged });
    await a.format.commit(batchOf([entry('one')]));
    const fill = (seq: number) => (a.format as unknown as { fillSkipped(seq: number): Promise<unknown> }).fillSkipped(seq);
    const outcome = async (seq: number) => {
      calls.length = 0;
      const record = await fill(seq);
      return { record, calls: [...calls] };
    };
    expect(await outcome(3)).toEqual({ record: { kind: 'skip' }, calls: ['get 3', 'putIfAbsent 3'] });
    expect(await outcome(1)).toMatchObject({ record: { kind: 'commit' }, calls: ['get 1'] });
    expect(isSkip(dir, 3)).toBe(true);
    expect(record(dir, 1)).toMatchObject({ kind: 'commit' });
  });

  test('under contention, commitComing lists the log while the batch is prepared, so the first claim knows the end', async () => {
    const { dir, a, b } = await contended(2);
    const calls: string[] = [];
    aroundStore(a, (method, args, call) => {
      if (method === 'list') calls.push('list');
      if (method === 'putIfAbsent') calls.push(`putIfAbsent ${logNumber(args[0])}`);
      return call(...args);
    });
    // b commits three records a has not read: a's next number it knows is taken.
    for (let i = 0; i < 3; i++) await b.format.commit(batchOf([entry(`b-late-${i}`)]));
    const end = Math.max(...logNumbers(dir));
    vi.spyOn(Math, 'random').mockReturnValue(0); // the first of the numbers a may spread over: right after the end
    const lost = a.format.stats().lostRaces;
    a.format.commitComing();
    await a.format.commit(batchOf([entry('a-informed')]));
    expect(calls).toEqual(['list', `putIfAbsent ${end + 1}`]);
    expect(a.format.stats().lostRaces).toBe(lost);
    expect(record(dir, end + 1)).toMatchObject({ kind: 'commit', inline: { entries: [{ key: 'a-informed' }] } });

    // A commit without commitComing (or a writer not contended) claims blind: a's next number is b's now.
    await b.format.commit(batchOf([entry('b-later')]));
    calls.length = 0;
    await a.format.commit(batchOf([entry('a-blind')]));
    expect(calls[0]).toBe(`putIfAbsent ${end + 2}`);
    expect(a.format.stats().lostRaces).toBe(lost + 1);
  });

  test('a contended claim goes past the listed end, not into a number the listing showed free; one taken before the claim won is read once, not created first', async () => {
    const { dir, a, b } = await contended(2);
    const end = Math.max(...logNumbers(dir));
    await b.format.refresh(); // b's next number is end + 1
    // A record past a hole: the listing shows end + 2 taken and end + 1 free.
    writeFileSync(recordFile(dir, end + 2), readFileSync(recordFile(dir, end)));
    const calls: string[] = [];
    let racing = true;
    aroundStore(a, async (method, args, call) => {
      if (method === 'get' || method === 'putIfAbsent') calls.push(`${method} ${logNumber(args[0])}`);
      if (method === 'putIfAbsent' && racing) {
        racing = false;
        await b.format.commit(batchOf([entry('b-in-the-hole')])); // b's next number is the hole
      }
      return call(...args);
    });
    (a.format as unknown as { spreadWidth: number }).spreadWidth = 2; // a spreads over 2 numbers (2 writers)
    vi.spyOn(Math, 'random').mockReturnValue(0); // the first number a may try
    a.format.commitComing();
    await a.format.commit(batchOf([entry('a-past-the-hole')]));
    expect(calls.filter((call) => call.startsWith('putIfAbsent'))).toEqual([`putIfAbsent ${end + 3}`]);
    expect(record(dir, end + 3)).toMatchObject({ kind: 'commit', inline: { entries: [{ key: 'a-past-the-hole' }] } });
    expect(record(dir, end + 1)).toMatchObject({ kind: 'commit', inline: { entries: [{ key: 'b-in-the-hole' }] } });
    expect(calls.filter((call) => call.endsWith(` ${end + 1}`))).toEqual([`get ${end + 1}`]);
    expect(Object.keys(await a.entries())).toContain('b-in-the-hole');
  });

  test('a writer that has not lost a race lately does not list for a coming commit', async () => {
    const dir = store();
    const calls: string[] = [];
    const logged = await interceptedStore(dir, (method, args, call) => {
      calls.push(method);
      return call(...args);
    });
    const a = await open(dir, { objectStore: logged });
    await a.format.commit(batchOf([entry('one')]));
    calls.length = 0;
    a.format.commitComing();
    await a.format.commit(batchOf([entry('two')]));
    expect(calls).toEqual(['putIfAbsent']);
  });

  test('a version 2 store never spreads: contended writers keep claiming the next number, with no skip records', async () => {
    const dir = store();
    mkdirSync(join(dir, 'ltm_store', '_log'), { recursive: true });
    writeFileSync(join(dir, 'ltm_store', '_ltm_format.json'), JSON.stringify({ format: 'ltm-parquet', version: 2, createdAt: new Date(T0).toISOString(), retentionMs: 3_600_000 }));
    const { a, b, race } = await racingPair(dir);
    await b.format.commit(batchOf([entry('b-0')]));
    await a.format.commit(batchOf([entry('a-0')]));
    vi.spyOn(Math, 'random').mockReturnValue(0.99);
    for (let round = 0; round < 3; round++) {
      race(3);
      await a.format.commit(batchOf([entry(`a-${round + 1}`)]));
    }
    expect(a.format.stats()).toMatchObject({ lostRaces: 10, skipsWritten: 0, lastCommitSeq: 14 });
    expect(logNumbers(dir)).toEqual(Array.from({ length: 14 }, (_, index) => index + 1));
    for (const seq of logNumbers(dir)) expect(record(dir, seq)).toMatchObject({ kind: 'commit', version: 2 });
    // An empty record is a skip in a version 3 store only; here it is damage.
    writeFileSync(recordFile(dir, 15), '');
    const error = await ltmError(open(dir));
    expect(error.message).toMatch(/log record 15 .*not valid JSON/);
  });
});

describe('void compactions (version 4 stores)', () => {
  /** Writers a and b of a store with three inline commits; b compacts while a's compaction record goes to the store. */
  async function racingCompactors(dir: string) {
    let b: Awaited<ReturnType<typeof open>> | undefined;
    let raced = false;
    const store_ = await interceptedStore(dir, async (method, args, call) => {
      const isCompaction = method === 'putIfAbsent' && logNumber(args[0]) !== undefined && Buffer.from(args[1] as Uint8Array).includes('"kind":"compact"');
      if (isCompaction && !raced && b !== undefined) {
        raced = true;
        await b.format.refresh();
        await b.format.compact(); // takes the number a tries, and a's run with it
      }
      return call(...args);
    });
    const a = await open(dir, { objectStore: store_, autoCompact: false });
    b = await open(dir, { autoCompact: false });
    for (let i = 0; i < 3; i++) await b.format.commit(batchOf([entry(`k${i}`)]));
    await a.format.refresh();
    return { a, b };
  }

  test('a compaction whose run another compaction took first, in a record it had not read, is void for every reader; its compactor merges again', async () => {
    const dir = store();
    const { a, b } = await racingCompactors(dir);
    await a.format.compact();
    // a lost number 4 to b's compaction, won 5 without reading 4, then found its run gone: record 5 is void.
    expect(record(dir, 4)).toMatchObject({ kind: 'compact' });
    expect(record(dir, 5)).toMatchObject({ kind: 'compact' });
    expect(record(dir, 5).writer).not.toBe(record(dir, 4).writer);
    expect(a.format.stats()).toMatchObject({ voidCompactions: 1, compactionConflicts: 1, segments: 1, inlineCommits: 0 });
    // Its merged files went (no reader uses a void record's segment); b's stay.
    const segments = readdirSync(join(dir, 'ltm_store', 'data')).filter((name) => name.endsWith('.entries.parquet'));
    expect(segments).toHaveLength(1);
    await b.format.refresh();
    expect(b.format.stats()).toMatchObject({ seq: 5, voidCompactions: 1, segments: 1 });
    const fresh = await open(dir);
    expect(fresh.format.stats()).toMatchObject({ seq: 5, voidCompactions: 1, segments: 1, inlineCommits: 0 });
    for (const reader of [a, b, fresh]) expect(Object.keys(await reader.entries())).toEqual(['k0', 'k1', 'k2']);
  });

  test('vacuum keeps a live segment that a void compaction record names among the sources it meant to replace', async () => {
    const dir = store();
    const b = await open(dir, { autoCompact: false });
    for (let i = 0; i < 3; i++) await b.format.commit(batchOf([entry(`k${i}`)]));
    await b.format.compact(); // record 4: k0-k2 in one segment, S
    await b.format.commit(batchOf([entry('gone', { expiresAt: Date.now() - 1 })]));
    await b.format.commit(batchOf([entry('k3')]));
    await b.format.removeExpired(Date.now()); // record 7 merges the inline commits 5 and 6 only
    // Record 8: a compaction that meant to merge S with those two, published past record 7 by a compactor that had
    // not read it: void, and S stays live.
    const segment = (record(dir, 4) as unknown as { segment: { id: string } }).segment.id;
    writeRecordFile(dir, 8, { ...record(dir, 7), id: 'late', writer: 'late', replaces: [`s:${segment}`, 'i:5', 'i:6'] });
    for (let i = 0; i < 56; i++) await b.format.commit(batchOf([entry(`n${i}`)])); // up to checkpoint 64
    expect(b.format.stats()).toMatchObject({ voidCompactions: 1, segments: 2, seq: 64 });
    // A vacuum from a process that started at checkpoint 64 reads record 8 without the snapshot it applied to.
    const vacuumer = await open(dir, { autoCompact: false });
    await vacuumer.format.vacuum({ retentionMs: 0 });
    await b.format.vacuum({ retentionMs: 0 });
    const fresh = await open(dir);
    expect(fresh.format.stats().segments).toBe(2);
    expect(Object.keys(await fresh.entries())).toHaveLength(60); // k0-k3 and n0-n55
    expect(Object.keys(await fresh.entries())).toEqual(expect.arrayContaining(['k0', 'k1', 'k2', 'k3']));
  });

  test('in a version 3 store the compactor reads what it lost to and gives up before publishing; a void record there is damage', async () => {
    const dir = store();
    mkdirSync(join(dir, 'ltm_store', '_log'), { recursive: true });
    writeFileSync(join(dir, 'ltm_store', '_ltm_format.json'), JSON.stringify({ format: 'ltm-parquet', version: 3, createdAt: new Date(T0).toISOString(), retentionMs: 3_600_000 }));
    const { a } = await racingCompactors(dir);
    await a.format.compact();
    expect(a.format.stats()).toMatchObject({ voidCompactions: 0, compactionConflicts: 1, segments: 1 });
    expect(logNumbers(dir)).toEqual([1, 2, 3, 4]);
    // A compaction record over a run that is gone: damage in a version 3 store.
    writeRecordFile(dir, 5, { ...record(dir, 4), id: 'late' });
    const error = await ltmError(open(dir));
    expect(error.message).toMatch(/log record 5 .*not a contiguous run/);
  });
});
