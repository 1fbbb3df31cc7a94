import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { describe, expect, test, vi } from 'vitest';
import { LocalObjectStore, PARQUET_FORMAT_VERSION, ParquetFormat, openObjectStore } from '../src/index.js';
import { T0, batchOf, entry, interceptedStore, logNumber, ltmError, openFormat, readRecordFile, recordFile, scratch, writeRecordFile } from './helpers.js';

const FAR = Date.UTC(2100, 0, 1);
const { store, open, later } = scratch('ltm-parquet-');

function files(dir: string, sub: string): string[] {
  const path = join(dir, 'ltm_store', sub);
  return existsSync(path) ? readdirSync(path).sort() : [];
}

function segmentFiles(dir: string, kind: 'entries' | 'terms'): string[] {
  return files(dir, 'data').filter((name) => name.endsWith(`.${kind}.parquet`)).map((name) => join(dir, 'ltm_store', 'data', name));
}

/** Every byte stored under the store's directory, as text (to look for data that must be gone). */
function allBytes(dir: string): string {
  const chunks: string[] = [];
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      if (statSync(child).isDirectory()) walk(child);
      else chunks.push(readFileSync(child).toString('latin1'));
    }
  };
  walk(dir);
  return chunks.join('\n');
}

describe('commit log', () => {
  test('another instance sees commits after refresh(); a writer that lost the race for a log number retries at the next one', async () => {
    const dir = store();
    const a = await open(dir);
    const b = await open(dir);
    await a.format.commit(batchOf([entry('from-a')]));
    expect(await b.entries()).toEqual({});
    expect(await b.format.refresh()).toBe(true);
    expect(Object.keys(await b.entries())).toEqual(['from-a']);
    expect(await b.format.refresh()).toBe(false);

    await b.format.commit(batchOf([entry('from-b')]));
    // `a` still believes record 1 is the newest: its next write finds number 2 taken, reads it, takes 3.
    await a.format.commit(batchOf([entry('from-a-again')], ['from-a']));
    expect(a.format.stats().lostRaces).toBe(1);
    expect(a.format.stats().lastCommitSeq).toBe(3);
    expect(Object.keys(await a.entries())).toEqual(['from-a-again', 'from-b']);
    expect(files(dir, '_log')).toEqual(['00000000000000000001.json', '00000000000000000002.json', '00000000000000000003.json']);
  });

  test('a commit that loses a log number tries the next one at once, reads the lost records meanwhile and lists the log to find its end', async () => {
    const dir = store();
    const calls: string[] = [];
    const logged = await interceptedStore(dir, (method, args, call) => {
      const named = method === 'list' ? args[1] : args[0]; // a listing: what it starts after
      calls.push(`${method} ${logNumber(named) ?? String(named)}`);
      return call(...args);
    });
    const a = await open(dir, { objectStore: logged });
    const b = await open(dir);
    await a.format.commit(batchOf([entry('from-a')]));
    await b.format.refresh();
    for (let i = 0; i < 3; i++) await b.format.commit(batchOf([entry(`from-b-${i}`)]));
    calls.length = 0;
    await a.format.commit(batchOf([entry('from-a-again')], ['from-a']));
    // Records 2 to 4 are b's. Each lost number is read while the next one is tried; the first loss also
    // lists the log after a's snapshot (1), whose end the second loss jumps to (4), and nothing probes for the
    // end with a read.
    expect(calls).toEqual(['putIfAbsent 2', 'get 2', 'list 1', 'putIfAbsent 3', 'get 3', 'get 4', 'putIfAbsent 5']);
    expect(a.format.stats()).toMatchObject({ lostRaces: 2, lastCommitSeq: 5, seq: 5 });
    // The lost records are applied before a's own, in log order: a reads its write and everything before it.
    expect(Object.keys(await a.entries())).toEqual(['from-a-again', 'from-b-0', 'from-b-1', 'from-b-2']);
    await b.format.refresh();
    expect(await b.entries()).toEqual(await a.entries());
  });

  test('a reader picks up other writers by itself at refreshIntervalMs', async () => {
    const dir = store();
    const writer = await open(dir);
    const reader = await open(dir, { refreshIntervalMs: 20 });
    await writer.format.commit(batchOf([entry('k')]));
    await vi.waitFor(async () => expect(Object.keys(await reader.entries())).toEqual(['k']), { timeout: 10_000, interval: 20 });
  });

  test('concurrent commits of one instance are all durable and in call order', async () => {
    const dir = store();
    const a = await open(dir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => a.format.commit(batchOf([entry('k', { value: String(i) }), entry(`own-${i}`)]))));
    const fresh = await open(dir);
    const seen = await fresh.entries();
    expect(seen.k).toBe('19');
    expect(Object.keys(seen)).toHaveLength(21);
  });

  test('small batches are inlined in the log record; a batch over inlineMaxBytes becomes a segment', async () => {
    const dir = store();
    const a = await open(dir, { inlineMaxBytes: 4096 });
    await a.format.commit(batchOf([entry('small')]));
    expect(segmentFiles(dir, 'entries')).toEqual([]);
    await a.format.commit(batchOf([entry('big', { value: JSON.stringify('x'.repeat(5000)) })]));
    expect(segmentFiles(dir, 'entries')).toHaveLength(1);
    expect(a.format.stats()).toMatchObject({ inlineCommitsWritten: 1, segmentCommitsWritten: 1 });
    const record = readRecordFile(dir, 1);
    expect(record.inline.entries[0]).toMatchObject({ key: 'small', operation: 'put' });
  });

  test('a batch with invalid JSON leaves no record and no file, inline or as a segment', async () => {
    const dir = store();
    for (const inlineMaxBytes of [1 << 20, 0]) {
      const a = await open(dir, { inlineMaxBytes });
      const error = await ltmError(a.format.commit(batchOf([entry('good'), entry('bad', { value: '{"not": json' })])));
      expect(error.errorType).toBe('validation_error');
      expect(files(dir, '_log')).toEqual([]);
      expect(files(dir, 'data')).toEqual([]);
    }
  });

  test('a writer does not publish a segment older than half of orphanGraceMs (vacuum may be deleting it); it cleans up and says to retry', async () => {
    const dir = store();
    const a = await open(dir, { inlineMaxBytes: 0, orphanGraceMs: 0 });
    const error = await ltmError(a.format.commit(batchOf([entry('k')])));
    expect([error.errorType, error.retryable]).toEqual(['connection_timeout', true]);
    expect(files(dir, '_log')).toEqual([]);
    expect(files(dir, 'data')).toEqual([]);
  });

  test('batches that break the seam (duplicate keys, terms of keys not put) are refused', async () => {
    const a = await open(store());
    expect((await ltmError(a.format.commit(batchOf([entry('k'), entry('k')])))).message).toMatch(/twice/);
    expect((await ltmError(a.format.commit(batchOf([entry('k')], ['k'])))).message).toMatch(/twice/);
    const terms = { puts: [entry('k')], deletes: [], terms: [{ key: 'other', field: 0 as const, term: 't', tf: 1 }] };
    expect((await ltmError(a.format.commit(terms))).message).toMatch(/terms\[0\]/);
  });

  test('a store written by a newer format version is refused with a clear error, as is a newer record', async () => {
    const dir = store();
    const a = await open(dir);
    await a.format.commit(batchOf([entry('k')]));
    await a.close();
    const formatFile = join(dir, 'ltm_store', '_ltm_format.json');
    const original = readFileSync(formatFile, 'utf8');
    writeFileSync(formatFile, JSON.stringify({ ...JSON.parse(original), version: PARQUET_FORMAT_VERSION + 1 }));
    let error = await ltmError(openFormat(dir));
    expect(error.errorType).toBe('unsupported');
    expect(error.message).toMatch(/newer than this @ltm\/format-parquet.*upgrade/);
    writeFileSync(formatFile, original);
    const file = recordFile(dir, 2);
    writeFileSync(file, JSON.stringify({ format: 'ltm-parquet', version: PARQUET_FORMAT_VERSION + 1, kind: 'commit', inline: { entries: [], terms: [] } }));
    error = await ltmError(openFormat(dir));
    expect(error.errorType).toBe('unsupported');
    expect(error.message).toMatch(/log record 2 .*newer/);
  });

  test('a version 1 store keeps version 1 records (postings as objects) and reads them; a new store writes columns', async () => {
    const terms = (format: Awaited<ReturnType<typeof open>>) =>
      format.engine.query<{ key: string; term: string }>(`SELECT key, term FROM ${format.format.relation('terms')} ORDER BY key`);
    const record = readRecordFile;

    const fresh = store();
    const writer = await open(fresh);
    await writer.format.commit(batchOf([entry('a'), entry('b')]));
    expect(record(fresh, 1)).toMatchObject({ version: PARQUET_FORMAT_VERSION, inline: { terms: { entry: [0, 1], field: [0, 0], term: ['t-a', 't-b'], tf: [1, 1] } } });

    // A store made by the version 1 code: its format file, and a record as that code wrote it.
    const old = store();
    mkdirSync(join(old, 'ltm_store', '_log'), { recursive: true });
    writeFileSync(join(old, 'ltm_store', '_ltm_format.json'), JSON.stringify({ format: 'ltm-parquet', version: 1, createdAt: new Date(T0).toISOString(), retentionMs: 3_600_000 }));
    const row = { operation: 'put', value: '{"n":1}', metadata: '{}', created_at: T0, updated_at: T0, expires_at: null, doc_length: 1, doc_extra_length: 0 };
    writeFileSync(
      join(old, 'ltm_store', '_log', `${'1'.padStart(20, '0')}.json`),
      JSON.stringify({
        format: 'ltm-parquet', version: 1, id: 'old', writer: 'old', time: T0, kind: 'commit',
        inline: { entries: [{ key: 'x', ...row }, { key: 'y', ...row }], terms: [{ key: 'y', field: 0, term: 'why', tf: 2 }, { key: 'x', field: 1, term: 'ex', tf: 1 }] },
      }),
    );
    const a = await open(old);
    expect(Object.keys(await a.entries())).toEqual(['x', 'y']);
    expect(await terms(a)).toEqual([{ key: 'x', term: 'ex' }, { key: 'y', term: 'why' }]);
    await a.format.commit(batchOf([entry('z')]));
    expect(record(old, 2)).toMatchObject({ version: 1, inline: { terms: [{ key: 'z', field: 0, term: 't-z', tf: 1 }] } });
    const b = await open(old);
    expect(await terms(b)).toEqual([{ key: 'x', term: 'ex' }, { key: 'y', term: 'why' }, { key: 'z', term: 't-z' }]);

    // A postings column that does not line up with the entries is damage, not a silent loss of search rows.
    writeRecordFile(fresh, 2, { ...record(fresh, 1), inline: { ...record(fresh, 1).inline, terms: { entry: [0, 5], field: [0, 0], term: ['x', 'y'], tf: [1, 1] } } });
    const error = await ltmError(openFormat(fresh));
    expect(error.errorType).toBe('query_error');
    expect(error.message).toMatch(/log record 2 .*malformed inline rows/);
  });

  test('a version 4 inline commit is a summary line, then its rows; a summary that disagrees with the rows is damage; a version 3 store keeps one-line records', async () => {
    const fresh = store();
    const writer = await open(fresh);
    await writer.format.commit(batchOf([entry('a', { value: '"é"', expiresAt: FAR }), entry('b')], ['gone']));
    const [header, rows, ...rest] = readFileSync(recordFile(fresh, 1), 'utf8').split('\n');
    expect(rest).toEqual([]);
    expect(JSON.parse(header!)).toMatchObject({
      version: 4,
      kind: 'commit',
      inline: { rows: 3, postings: 2, bytes: 'a'.length + '"é"'.length + 2 + 'b'.length + '{"key":"b"}'.length + 2 + 'gone'.length, minExpiresAt: FAR, keys: ['a', 'b', 'gone'] },
    });
    expect(JSON.parse(rows!).inline.entries.map((row: { key: string }) => row.key)).toEqual(['a', 'b', 'gone']);

    /** Record 2 written as record 1's header with `summary`, then `rowsLine` (none: one line only); the open's error. */
    const record = readRecordFile(fresh, 1);
    const openWith = (summary: unknown, rowsLine: string | null = JSON.stringify({ inline: record.inline })) => {
      const header = JSON.stringify({ ...record, summary: undefined, inline: summary });
      writeFileSync(recordFile(fresh, 2), rowsLine === null ? header : `${header}\n${rowsLine}`);
      return ltmError(openFormat(fresh));
    };
    // The summary names other keys than the rows (a reader would report the wrong keys as changed): refused.
    expect((await openWith({ ...record.summary, keys: ['a', 'x', 'gone'] })).message).toMatch(/log record 2 .*malformed inline rows/);
    // Or another size (the compaction policy weighs sources by it).
    expect((await openWith({ ...record.summary, bytes: record.summary.bytes + 1 })).message).toMatch(/log record 2 .*malformed inline rows/);
    // A summary without its rows line, or a malformed summary, too.
    expect((await openWith(record.summary, null)).message).toMatch(/log record 2 .*malformed inline rows/);
    expect((await openWith({ ...record.summary, rows: 2 })).message).toMatch(/log record 2 .*malformed inline rows/);

    // A store created by the version 3 code keeps its records on one line, and plain DuckDB reads them too.
    const old = store();
    mkdirSync(join(old, 'ltm_store', '_log'), { recursive: true });
    writeFileSync(join(old, 'ltm_store', '_ltm_format.json'), JSON.stringify({ format: 'ltm-parquet', version: 3, createdAt: new Date(T0).toISOString(), retentionMs: 3_600_000 }));
    const v3 = await open(old);
    await v3.format.commit(batchOf([entry('x'), entry('y')]));
    const text = readFileSync(recordFile(old, 1), 'utf8');
    expect(text).not.toContain('\n');
    expect(JSON.parse(text)).toMatchObject({ version: 3, inline: { entries: [{ key: 'x' }, { key: 'y' }] } });
    expect(Object.keys(await (await open(old)).entries())).toEqual(['x', 'y']);
    const plain = await DuckDBQueryEngine.open({ path: ':memory:' });
    later(() => plain.close());
    await plain.run(v3.format.liveViewSql('memories'));
    expect(await plain.query<{ key: string }>('SELECT key FROM memories ORDER BY key')).toEqual([{ key: 'x' }, { key: 'y' }]);
  });

  test('a read-only open of a location nothing was written to shows an empty store and creates nothing', async () => {
    const dir = join(store(), 'nothing-here');
    const reader = await open(dir, { readOnly: true });
    expect(await reader.entries()).toEqual({});
    expect(reader.format.capabilities).toMatchObject({ writable: false, multiWriter: true, compaction: true });
    expect(existsSync(dir)).toBe(false);
    expect((await ltmError(reader.format.compact())).errorType).toBe('read_only');
  });

  test('open refuses a read-only engine, :memory: and glob characters in the location', async () => {
    const engine = await DuckDBQueryEngine.open({ path: ':memory:' });
    later(() => engine.close());
    const context = (uri: string) => ({ engine, uri, tableName: 'ltm_store', readOnly: false });
    expect((await ltmError(new ParquetFormat().open(context(':memory:')))).message).toMatch(/directory/);
    expect((await ltmError(new ParquetFormat().open(context(join(store(), 'a*b'))))).message).toMatch(/glob/);
    const file = join(store(), 'ro.duckdb');
    await (await DuckDBQueryEngine.open({ path: file })).close();
    const readOnlyEngine = await DuckDBQueryEngine.open({ path: file, readOnly: true });
    later(() => readOnlyEngine.close());
    const error = await ltmError(new ParquetFormat().open({ engine: readOnlyEngine, uri: store(), tableName: 'ltm_store', readOnly: true }));
    expect(error.message).toMatch(/:memory:/);
  });

  test('the local object store: of 20 concurrent put-if-absent calls on one key exactly one wins, and readers never see a partial object', async () => {
    const objects = new LocalObjectStore(store());
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => objects.putIfAbsent('_log/x.json', Buffer.from(JSON.stringify({ i, pad: 'p'.repeat(100_000) })))));
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = JSON.parse(Buffer.from((await objects.get('_log/x.json'))!).toString('utf8'));
    expect(results[winner.i]).toBe(true);
    expect((await objects.list('_log/')).map((object) => object.key)).toEqual(['_log/x.json']);
  });
});

test('URIs name their object store: a directory, s3://, gs://, az://; anything else is refused clearly', async () => {
  const local = await openObjectStore(store(), 'ltm_store');
  expect(local.url('_log/x.json')).toMatch(/ltm_store\/_log\/x\.json$/);
  const s3 = await openObjectStore('s3://my-bucket/agents/memory/', 'ltm_store', { s3: { region: 'eu-west-1', accessKeyId: 'a', secretAccessKey: 'b' } });
  expect([s3.location, s3.url('data/x.parquet')]).toEqual(['s3://my-bucket/agents/memory/ltm_store/', 's3://my-bucket/agents/memory/ltm_store/data/x.parquet']);
  await s3.close();
  const gs = await openObjectStore('gs://my-bucket', 't', { gcs: { accessKeyId: 'a', secretAccessKey: 'b' } });
  expect(gs.url('_log/1.json')).toBe('gs://my-bucket/t/_log/1.json');
  await gs.close();
  const az = await openObjectStore('az://container/p', 't', { azure: { connectionString: 'DefaultEndpointsProtocol=http;AccountName=a;AccountKey=YQ==;BlobEndpoint=http://127.0.0.1:1/a;' } });
  expect(az.url('data/x.parquet')).toBe('az://container/p/t/data/x.parquet');
  expect((await ltmError(openObjectStore('ftp://host/x', 't'))).errorType).toBe('unsupported');
  expect((await ltmError(openObjectStore('s3://Bad_Bucket!/x', 't'))).errorType).toBe('validation_error');
  expect((await ltmError(openObjectStore('s3://bucket/../x', 't'))).message).toMatch(/\.\./);
  expect((await ltmError(openObjectStore('az://container/p', 't'))).message).toMatch(/connectionString/);
});

describe('segments are plain Parquet', () => {
  test('read_parquet and hyparquet (an independent reader) read the story columns plus version and operation', async () => {
    const dir = store();
    const a = await open(dir, { inlineMaxBytes: 0, retentionMs: 0 });
    await a.format.commit(batchOf([entry('b', { value: '{"n":2}', metadata: '{"tag":"x"}', expiresAt: FAR }), entry('a', { value: '[1,"two",null]' })], ['gone']));
    const [file] = segmentFiles(dir, 'entries');
    const viaDuckDB = await a.engine.query(
      `SELECT key, version, operation, value::VARCHAR AS value, metadata::VARCHAR AS metadata, epoch_ms(created_at) AS created_at,
              epoch_ms(updated_at) AS updated_at, epoch_ms(expires_at) AS expires_at FROM read_parquet('${file}')`,
    );
    expect(viaDuckDB).toEqual([
      { key: 'a', version: null, operation: 'put', value: '[1,"two",null]', metadata: '{}', created_at: T0, updated_at: T0, expires_at: null },
      { key: 'b', version: null, operation: 'put', value: '{"n":2}', metadata: '{"tag":"x"}', created_at: T0, updated_at: T0, expires_at: FAR },
      // A tombstone's updated_at is when it was deleted (compaction keeps it for the retention window).
      { key: 'gone', version: null, operation: 'delete', value: null, metadata: null, created_at: null, updated_at: expect.any(Number), expires_at: null },
    ]);
    const viaHyparquet = await parquetReadObjects({ file: await asyncBufferFromFile(file!) });
    expect(viaHyparquet.map((row) => ({ ...row, created_at: (row.created_at as Date | null)?.getTime() ?? null, expires_at: (row.expires_at as Date | null)?.getTime() ?? null }))).toEqual([
      expect.objectContaining({ key: 'a', operation: 'put', value: [1, 'two', null], metadata: {}, created_at: T0, expires_at: null }),
      expect.objectContaining({ key: 'b', operation: 'put', value: { n: 2 }, metadata: { tag: 'x' }, created_at: T0, expires_at: FAR }),
      expect.objectContaining({ key: 'gone', operation: 'delete', value: null, created_at: null }),
    ]);
    const [terms] = segmentFiles(dir, 'terms');
    expect(await parquetReadObjects({ file: await asyncBufferFromFile(terms!) })).toEqual([
      { key: 'a', version: null, field: 0, term: 't-a', tf: 1 },
      { key: 'b', version: null, field: 0, term: 't-b', tf: 1 },
    ]);
    // Compaction output carries each row's version (the log number of the commit that wrote it).
    await a.format.compact();
    const [merged] = segmentFiles(dir, 'entries').filter((path) => path !== file); // the commit's segment stays until vacuum
    expect((await parquetReadObjects({ file: await asyncBufferFromFile(merged!), columns: ['key', 'version'] }))).toEqual([
      { key: 'a', version: 1n },
      { key: 'b', version: 1n },
    ]);
  });

  test('entries files are sorted by key in row groups whose min/max statistics let a point lookup skip the rest', async () => {
    const dir = store();
    const a = await open(dir, { inlineMaxBytes: 0, rowGroupRows: 2048 });
    const keys = Array.from({ length: 10_000 }, (_, i) => `key-${String((i * 7919) % 10_000).padStart(5, '0')}`);
    await a.format.commit(batchOf(keys.map((key) => entry(key, { value: JSON.stringify({ key, text: 'lorem ipsum '.repeat(20) }) }))));
    await a.close();
    const [file] = segmentFiles(dir, 'entries');
    const probe = await DuckDBQueryEngine.open({ path: ':memory:' });
    later(() => probe.close());
    const stats = await probe.query<{ id: number; min: string; max: string; first: number; last: number }>(
      `SELECT row_group_id AS id, min(stats_min) FILTER (WHERE path_in_schema = 'key') AS min, max(stats_max) FILTER (WHERE path_in_schema = 'key') AS max,
              min(coalesce(dictionary_page_offset, data_page_offset)) AS first, max(coalesce(dictionary_page_offset, data_page_offset) + total_compressed_size) AS last
         FROM parquet_metadata('${file}') GROUP BY row_group_id ORDER BY row_group_id`,
    );
    expect(stats).toHaveLength(5);
    for (let i = 1; i < stats.length; i++) expect(stats[i]!.min > stats[i - 1]!.max).toBe(true);

    // Proof that DuckDB skips the other row groups: open a reader (which reads the key column into its key
    // index), wreck row group 0's pages (not the footer), then a point lookup of a key in row group 3 still
    // works through the format's relation, while a full scan fails. DuckDB's cache of file contents is off,
    // so every page the queries need comes from disk.
    const engine = await DuckDBQueryEngine.open({ path: ':memory:', config: { enable_external_file_cache: 'false' } });
    const reader = new ParquetFormat({ refreshIntervalMs: 0 });
    await reader.open({ engine, uri: dir, tableName: 'ltm_store', readOnly: true });
    later(async () => {
      await reader.close();
      await engine.close();
    });
    const fd = openSync(file!, 'r+');
    writeSync(fd, Buffer.alloc(stats[0]!.last - stats[0]!.first, 0xff), 0, stats[0]!.last - stats[0]!.first, stats[0]!.first);
    closeSync(fd);
    const wanted = 'key-07000';
    expect(wanted >= stats[3]!.min && wanted <= stats[3]!.max).toBe(true);
    const rows = await engine.query<{ value: string }>(`SELECT value::VARCHAR AS value FROM ${reader.relation('entries')} WHERE key = $1`, [wanted]);
    expect(JSON.parse(rows[0]!.value).key).toBe(wanted);
    await expect(engine.query(`SELECT count(*) AS n FROM ${reader.relation('entries')} WHERE value::VARCHAR LIKE '%zzz%'`)).rejects.toThrow();
    const plan = await engine.query<{ explain_value: string }>(`EXPLAIN SELECT value FROM ${reader.relation('entries')} WHERE key = 'key-07000'`);
    expect(plan.map((row) => row.explain_value).join('\n')).toMatch(/READ_PARQUET[\s\S]*key='key-07000'/);
  });
});

describe('compaction', () => {
  test('automatic compaction: the writer whose commit passes the threshold compacts; any writer once 16 times it is passed and no compaction came for 30 s', async () => {
    const dir = store();
    const policy = { flushInlineRecords: 4 };
    const a = await open(dir, { compaction: policy });
    const b = await open(dir, { autoCompact: false });
    const c = await open(dir, { compaction: policy });
    const commit = async (writer: typeof a, name: string, count: number) => {
      for (let i = 0; i < count; i++) await writer.format.commit(batchOf([entry(`${name}${writer.format.stats().commits}`)]));
    };
    await commit(b, 'b', 4);
    // The threshold was passed by b's commit, not a's: a leaves the merge to b.
    await commit(a, 'a', 1);
    expect(a.format.stats()).toMatchObject({ inlineCommits: 5, compactions: 0 });
    // Twice the threshold, passed by c's commit, then seven times it by b's: neither a nor c compacts (helpers at
    // multiples of the threshold only collided with a compaction that was slow, not gone).
    await commit(b, 'b', 2);
    await commit(c, 'c', 1);
    await commit(a, 'a', 1);
    await commit(b, 'b', 19);
    await commit(a, 'a', 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(a.format.stats()).toMatchObject({ inlineCommits: 29, compactions: 0 });
    expect(c.format.stats().compactions).toBe(0);
    // 63 inline commits before a's: 16 times the threshold with a's, so b is taken to have failed and a compacts.
    await commit(b, 'b', 34);
    await commit(a, 'a', 1);
    await vi.waitFor(() => expect(a.format.stats().compactions).toBe(1), { timeout: 10_000, interval: 20 });
    expect(a.format.stats()).toMatchObject({ inlineCommits: 0, segments: 1 });
    await b.format.refresh();
    expect(b.format.stats().seq).toBe(65); // 64 commits and one compaction record
    // A writer whose own commit passes the threshold compacts.
    await commit(c, 'c', 4);
    await vi.waitFor(() => expect(c.format.stats().compactions).toBe(1), { timeout: 10_000, interval: 20 });
    expect(Object.keys(await c.entries())).toHaveLength(68);
    // 16 times the threshold again, but a has just seen c's compaction: c is behind, not gone, and a leaves it.
    await commit(b, 'b', 64);
    await commit(a, 'a', 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(a.format.stats()).toMatchObject({ inlineCommits: 65, compactions: 1 });
    // Half a minute later with no compaction record (the clock moved on), a takes over.
    const now = performance.now.bind(performance);
    const later = vi.spyOn(performance, 'now').mockImplementation(() => now() + 31_000);
    try {
      await commit(a, 'a', 1);
      await vi.waitFor(() => expect(a.format.stats().compactions).toBe(2), { timeout: 10_000, interval: 20 });
    } finally {
      later.mockRestore();
    }
    expect(a.format.stats()).toMatchObject({ inlineCommits: 0 });
  });

  /** A random workload against a model; every check compares all three relations with the model. */
  async function modelRun(dir: string, steps: number, options: Parameters<typeof openFormat>[1]) {
    const a = await open(dir, options);
    const model = new Map<string, { value: string; expiresAt: number | null; term: string; length: number }>();
    let seed = 42;
    const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const check = async (when: string) => {
      const now = Date.now();
      const live = [...model].filter(([, row]) => row.expiresAt === null || row.expiresAt > now);
      const entries = await a.engine.query<{ key: string; value: string }>(
        `SELECT key, value::VARCHAR AS value FROM ${a.format.relation('entries')} WHERE expires_at IS NULL OR expires_at > make_timestamp($1 * 1000) ORDER BY key`,
        [now],
      );
      expect(entries, when).toEqual(live.map(([key, row]) => ({ key, value: row.value })).sort((x, y) => (x.key < y.key ? -1 : 1)));
      const terms = await a.engine.query<{ key: string; term: string }>(
        `SELECT key, term FROM ${a.format.relation('terms')} WHERE key IN (SELECT key FROM ${a.format.relation('entries')}
          WHERE expires_at IS NULL OR expires_at > make_timestamp($1 * 1000)) ORDER BY key`,
        [now],
      );
      expect(terms, when).toEqual(live.map(([key, row]) => ({ key, term: row.term })).sort((x, y) => (x.key < y.key ? -1 : 1)));
      // docs (the key index) has exactly the keys of entries, expired ones included, with their lengths.
      // One statement, so a background compaction cannot come between the two reads.
      const [both] = await a.engine.query<{ docs: { key: string; length: number; extra_length: number }[]; entries: string[] }>(
        `SELECT (SELECT coalesce(list({'key': key, 'length': length, 'extra_length': extra_length} ORDER BY key), []) FROM ${a.format.relation('docs')}) AS docs,
                (SELECT coalesce(list(key ORDER BY key), []) FROM ${a.format.relation('entries')}) AS entries`,
      );
      expect(both!.docs.map((row) => row.key), when).toEqual(both!.entries);
      const lengths = new Map(both!.docs.map((row) => [row.key, [row.length, row.extra_length]]));
      for (const [key, row] of live) expect(lengths.get(key), `${when}: ${key}`).toEqual([row.length, row.length + 1]);
    };
    for (let step = 0; step < steps; step++) {
      const puts = [];
      const deletes: string[] = [];
      const touched = new Set<string>();
      for (let i = 0; i < 1 + Math.floor(random() * 6); i++) {
        const key = `k${Math.floor(random() * 40)}`;
        if (touched.has(key)) continue;
        touched.add(key);
        if (random() < 0.25) {
          deletes.push(key);
          model.delete(key);
        } else {
          const expiresAt = random() < 0.2 ? Date.now() - 1000 : random() < 0.1 ? Date.now() + 3_600_000 : null;
          const value = JSON.stringify({ step, i, pad: random() < 0.1 ? 'p'.repeat(3000) : '' });
          puts.push(entry(key, { value, expiresAt }));
          model.set(key, { value, expiresAt, term: `t-${key}`, length: 1 + ((step * 7 + i) % 50) });
        }
      }
      const batch = batchOf(puts, deletes);
      batch.docs = puts.map((put) => ({ key: put.key, length: model.get(put.key)!.length, extraLength: model.get(put.key)!.length + 1 }));
      await a.format.commit(batch);
      if (step % 10 === 9) await check(`after step ${step}`);
    }
    return { a, model, check };
  }

  test('automatic compaction keeps every relation equal to the model while it folds inline commits and merges segments', async () => {
    const dir = store();
    const { a, check } = await modelRun(dir, 120, { inlineMaxBytes: 2048, compaction: { flushInlineRecords: 5, maxSegments: 3 } });
    await vi.waitFor(() => expect(a.format.stats().compactions).toBeGreaterThan(5), { timeout: 30_000 });
    await check('after automatic compactions');
    expect(a.format.stats().segments).toBeLessThanOrEqual(6);
    const fresh = await open(dir);
    expect(await fresh.entries()).toEqual(await a.entries());
  });

  test('compact() with no retention leaves one segment with no tombstones or expired rows; removeExpired() counts and removes expired keys', async () => {
    const dir = store();
    const { a, check } = await modelRun(dir, 60, { autoCompact: false, inlineMaxBytes: 2048, retentionMs: 0 });
    const expiredBefore = await a.engine.query<{ n: number }>(
      `SELECT count(*) AS n FROM ${a.format.relation('entries')} WHERE expires_at <= make_timestamp($1 * 1000)`,
      [Date.now()],
    );
    expect(await a.format.removeExpired(Date.now())).toBe(expiredBefore[0]!.n);
    expect(await a.format.removeExpired(Date.now())).toBe(0);
    await check('after removeExpired');
    await a.format.compact();
    await check('after compact');
    expect(a.format.stats()).toMatchObject({ segments: 1, inlineCommits: 0 });
    await a.format.vacuum({ retentionMs: 0 }); // removes removeExpired's output, which may hold tombstones
    const rows = await a.engine.query<{ tombstones: number; expired: number }>(
      `SELECT count(*) FILTER (WHERE operation = 'delete') AS tombstones, count(*) FILTER (WHERE expires_at <= now()::TIMESTAMP) AS expired
         FROM read_parquet([${segmentFiles(dir, 'entries').map((path) => `'${path}'`).join(', ')}]) WHERE version IS NOT NULL`,
    );
    expect(rows[0]).toEqual({ tombstones: 0, expired: 0 });
  });

  test('an expired newer version removed by a partial compaction does not bring back an older one', async () => {
    const dir = store();
    const a = await open(dir, { autoCompact: false, inlineMaxBytes: 0 });
    await a.format.commit(batchOf([entry('k', { value: '"old"' }), entry('other')]));
    await a.format.commit(batchOf([entry('k', { value: '"new"', expiresAt: Date.now() - 1 })]));
    // The oldest segment holds nothing expired, so the merge covers only the newer one: k becomes a tombstone.
    expect(await a.format.removeExpired(Date.now())).toBe(1);
    expect(Object.keys(await a.entries())).toEqual(['other']);
    expect(Object.keys(await (await open(dir)).entries())).toEqual(['other']);
  });

  test('tombstones stay for the retention window, then a full compaction drops them; purge() drops them at once', async () => {
    const tombstones = async (a: Awaited<ReturnType<typeof open>>, dir: string) => {
      await a.format.vacuum({ retentionMs: 0 }); // only the live segment's files remain
      const [row] = await a.engine.query<{ tombstones: number; values: number }>(
        `SELECT count(*) FILTER (WHERE operation = 'delete') AS tombstones, count(*) FILTER (WHERE operation = 'delete' AND value IS NOT NULL) AS values
           FROM read_parquet([${segmentFiles(dir, 'entries').map((path) => `'${path}'`).join(', ')}])`,
      );
      return { tombstones: Number(row!.tombstones), values: Number(row!.values) };
    };
    const write = async (a: Awaited<ReturnType<typeof open>>) => {
      await a.format.commit(batchOf([entry('kept'), entry('deleted'), entry('expiring', { expiresAt: Date.now() - 1 })]));
      await a.format.commit(batchOf([], ['deleted']));
    };

    const longDir = store();
    const long = await open(longDir, { autoCompact: false });
    await write(long);
    await long.format.compact();
    // Young tombstones stay (an expired put becomes one, its value gone), and hide their keys.
    expect(await tombstones(long, longDir)).toEqual({ tombstones: 2, values: 0 });
    expect(Object.keys(await long.entries())).toEqual(['kept']);
    const seq = long.format.stats().seq;
    await long.format.compact(); // nothing to gain: no new record
    expect(long.format.stats().seq).toBe(seq);
    await long.format.purge();
    expect(await tombstones(long, longDir)).toEqual({ tombstones: 0, values: 0 });
    expect(Object.keys(await long.entries())).toEqual(['kept']);

    const shortDir = store();
    const short = await open(shortDir, { autoCompact: false, retentionMs: 300 });
    await write(short);
    await short.format.compact();
    expect((await tombstones(short, shortDir)).tombstones).toBeGreaterThan(0);
    await vi.waitFor(
      async () => {
        await short.format.compact();
        expect(await tombstones(short, shortDir)).toEqual({ tombstones: 0, values: 0 });
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(Object.keys(await short.entries())).toEqual(['kept']);
  });

  test('a tombstone past retention is kept by a compaction that does not reach the oldest segment, so the older version stays deleted', async () => {
    const dir = store();
    const a = await open(dir, { autoCompact: false, inlineMaxBytes: 0, retentionMs: 0 });
    await a.format.commit(batchOf([entry('k', { value: '"old"' }), entry('other')]));
    await a.format.commit(batchOf([entry('x', { expiresAt: Date.now() - 1 })], ['k']));
    await a.format.commit(batchOf([entry('newest')]));
    // The oldest segment holds nothing expired: the merge covers the two newer ones only.
    expect(await a.format.removeExpired(Date.now())).toBe(1);
    expect(a.format.stats().segments).toBe(2);
    const merged = a.engine.query<{ key: string; operation: string }>(
      `SELECT key, operation FROM read_parquet([${segmentFiles(dir, 'entries').map((path) => `'${path}'`).join(', ')}]) WHERE version IS NOT NULL ORDER BY key`,
    );
    expect(await merged).toEqual([
      { key: 'k', operation: 'delete' },
      { key: 'newest', operation: 'put' },
      { key: 'x', operation: 'delete' },
    ]);
    expect(Object.keys(await a.entries())).toEqual(['newest', 'other']);
    expect(Object.keys(await (await open(dir)).entries())).toEqual(['newest', 'other']);
    // A full compaction reaches the oldest segment: now the tombstones can go.
    await a.format.compact();
    await a.format.vacuum({ retentionMs: 0 });
    expect(
      await a.engine.query(`SELECT key, operation FROM read_parquet([${segmentFiles(dir, 'entries').map((path) => `'${path}'`).join(', ')}]) ORDER BY key`),
    ).toEqual([
      { key: 'newest', operation: 'put' },
      { key: 'other', operation: 'put' },
    ]);
    expect(Object.keys(await (await open(dir)).entries())).toEqual(['newest', 'other']);
  });

  test('two compactors racing on the same store lose nothing and leave a readable store', async () => {
    const dir = store();
    const a = await open(dir, { autoCompact: false });
    const b = await open(dir, { autoCompact: false });
    for (let i = 0; i < 12; i++) await a.format.commit(batchOf([entry(`k${i % 5}`, { value: String(i) }), entry(`u${i}`)], i % 4 === 3 ? [`u${i - 1}`] : []));
    const before = await (await open(dir)).entries();
    await b.format.refresh();
    await Promise.all([a.format.compact(), b.format.compact(), a.format.compact()]);
    await a.format.refresh();
    await b.format.refresh();
    expect(await a.entries()).toEqual(before);
    expect(await b.entries()).toEqual(before);
    expect(await (await open(dir)).entries()).toEqual(before);
  });
});

describe('vacuum and purge', () => {
  test('a reader on an older snapshot keeps working inside the retention window; vacuum past it removes merged segments and old records', async () => {
    const dir = store();
    const writer = await open(dir, { inlineMaxBytes: 0, autoCompact: false, vacuumIntervalMs: 0 });
    for (let i = 0; i < 4; i++) await writer.format.commit(batchOf([entry(`k${i}`), entry('shared', { value: String(i) })]));
    const reader = await open(dir);
    const seen = await reader.entries();
    await writer.format.compact();
    await writer.format.vacuum();
    expect(writer.format.stats().lastVacuum).toEqual({ deletedSegmentFiles: 0, deletedRecords: 0, deletedCheckpoints: 0, deletedTemporaries: 0 });
    expect(await reader.entries()).toEqual(seen); // the old snapshot's files are all still there

    await writer.format.vacuum({ retentionMs: 0 });
    expect(writer.format.stats().lastVacuum).toMatchObject({ deletedSegmentFiles: 8, deletedRecords: 5, deletedCheckpoints: 0 });
    expect(segmentFiles(dir, 'entries')).toHaveLength(1);
    expect(files(dir, '_log')).toEqual(['horizon.json']);
    await expect(reader.entries()).rejects.toThrow(); // its snapshot was vacuumed away...
    await reader.format.refresh();
    expect(await reader.entries()).toEqual(seen); // ...until it catches up: the stale reader reloads from the checkpoint
    expect(await (await open(dir)).entries()).toEqual(seen);
  });

  test('vacuum removes files of crashed writers after orphanGraceMs, never younger ones a live writer may still publish', async () => {
    const dir = store();
    const writer = await open(dir, { vacuumIntervalMs: 0 });
    await writer.format.commit(batchOf([entry('k')]));
    const data = join(dir, 'ltm_store', 'data');
    const old = (Date.now() - 16 * 60_000) / 1000;
    for (const name of ['crashed.entries.parquet', '.tmp-crashed']) {
      writeFileSync(join(data, name), 'x');
      utimesSync(join(data, name), old, old);
    }
    writeFileSync(join(dir, 'ltm_store', '_log', '.tmp-crashed'), 'x');
    utimesSync(join(dir, 'ltm_store', '_log', '.tmp-crashed'), old, old);
    writeFileSync(join(data, 'in-flight.entries.parquet'), 'x');
    await writer.format.vacuum();
    expect(files(dir, 'data')).toEqual(['in-flight.entries.parquet']);
    expect(files(dir, '_log')).toEqual(['00000000000000000001.json']);
    expect(Object.keys(await writer.entries())).toEqual(['k']);
  });

  test('purge() physically removes deleted and expired data from every file now', async () => {
    const dir = store();
    const writer = await open(dir, { vacuumIntervalMs: 0 });
    await writer.format.commit(batchOf([entry('secret', { value: JSON.stringify('SSN-123-45-6789') }), entry('keep')]));
    await writer.format.commit(batchOf([entry('expiring', { value: JSON.stringify('CARD-4111-1111'), expiresAt: Date.now() - 1 })]));
    await writer.format.commit(batchOf([], ['secret']));
    expect(allBytes(dir)).toContain('SSN-123-45-6789');
    const result = await writer.format.purge();
    expect(result).toMatchObject({ compacted: true, expired: 1 });
    const bytes = allBytes(dir);
    expect(bytes).not.toContain('SSN-123-45-6789');
    expect(bytes).not.toContain('CARD-4111-1111');
    expect(Object.keys(await writer.entries())).toEqual(['keep']);
    expect(Object.keys(await (await open(dir)).entries())).toEqual(['keep']);
  });
});

test('exportSnapshot writes the live state as one Parquet file any reader opens', async () => {
  const dir = store();
  const writer = await open(dir);
  await writer.format.commit(batchOf([entry('b'), entry('a', { value: '{"x":1}' }), entry('gone', { expiresAt: Date.now() - 1 }), entry('deleted')]));
  await writer.format.commit(batchOf([], ['deleted']));
  const target = join(dir, 'exports', 'snapshot.parquet');
  expect(await writer.format.exportSnapshot(target)).toEqual({ rows: 2 });
  const rows = await parquetReadObjects({ file: await asyncBufferFromFile(target), columns: ['key', 'value'] });
  expect(rows).toEqual([
    { key: 'a', value: { x: 1 } },
    { key: 'b', value: { key: 'b' } },
  ]);
});

test('liveViewSql() gives plain DuckDB (no ltm code) a view of the live state: segments, inline commits, compactions, deletes, expiry', async () => {
  const dir = store();
  const writer = await open(dir, { autoCompact: false, inlineMaxBytes: 1500 });
  const big = JSON.stringify('x'.repeat(2000));
  await writer.format.commit(batchOf([entry('seg-old', { value: big }), entry('later-deleted', { value: big }), entry('later-updated', { value: big })])); // a segment
  await writer.format.commit(batchOf([entry('inline-1', { value: '{"n":1}', metadata: '{"topic":"a"}' }), entry('expired', { expiresAt: Date.now() - 1 })], ['later-deleted']));
  await writer.format.commit(batchOf([entry('later-updated', { value: '"v2"' })]));
  await writer.format.compact();
  await writer.format.commit(batchOf([entry('after-compaction', { value: '[1,2]' }), entry('inline-1', { value: '{"n":2}', metadata: '{"topic":"b"}' })]));
  await writer.format.commit(batchOf([entry('seg-new', { value: big })], ['seg-old'])); // a segment
  expect(writer.format.stats()).toMatchObject({ segments: 2, inlineCommits: 1 });

  const plain = await DuckDBQueryEngine.open({ path: ':memory:' });
  later(() => plain.close());
  await plain.run(writer.format.liveViewSql('memories'));
  const viaView = await plain.query<{ key: string; value: string; topic: string | null; updated_at: number }>(
    "SELECT key, value::VARCHAR AS value, metadata->>'$.topic' AS topic, epoch_ms(updated_at) AS updated_at FROM memories ORDER BY key",
  );
  const viaFormat = await writer.engine.query<{ key: string; value: string; topic: string | null; updated_at: number }>(
    `SELECT key, value::VARCHAR AS value, metadata->>'$.topic' AS topic, epoch_ms(updated_at) AS updated_at FROM ${writer.format.relation('entries')}
      WHERE expires_at IS NULL OR expires_at > make_timestamp($1 * 1000) ORDER BY key`,
    [Date.now()],
  );
  expect(viaView).toEqual(viaFormat);
  expect(viaView.map((row) => row.key)).toEqual(['after-compaction', 'inline-1', 'later-updated', 'seg-new']);
  expect(viaView.find((row) => row.key === 'inline-1')).toMatchObject({ value: '{"n":2}', topic: 'b', updated_at: T0 });
  expect(() => writer.format.liveViewSql('bad name')).toThrow(/identifier/);
});
