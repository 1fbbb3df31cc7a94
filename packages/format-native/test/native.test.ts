import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { afterAll, describe, expect, it } from 'vitest';
import { NATIVE_FORMAT_VERSION, NativeFormat, createNativeFormat } from '../src/index.js';
import { T0, batchOf, entry, ltmError, openStore, readInAnotherProcess, runFixture, tempDirectory } from './helpers.js';

const directory = tempDirectory('ltm-native-');
afterAll(() => directory.remove());
let files = 0;
const freshFile = () => join(directory.path, `store-${++files}.duckdb`);

async function keys(engine: DuckDBQueryEngine, format: NativeFormat): Promise<string[]> {
  const rows = await engine.query<{ key: string }>(`SELECT key FROM ${format.relation('entries')} ORDER BY key`);
  return rows.map((row) => row.key);
}

describe('open', () => {
  it('creates the story table, the search tables, their indexes and the version record', async () => {
    const store = await openStore(freshFile());
    const columns = await store.engine.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_name IN ('ltm_store', 'ltm_store__terms', 'ltm_store__docs') ORDER BY table_name, ordinal_position`,
    );
    expect(columns.map((c) => `${c.table_name}.${c.column_name} ${c.data_type}`)).toEqual([
      'ltm_store.key VARCHAR',
      'ltm_store.value JSON',
      'ltm_store.metadata JSON',
      'ltm_store.created_at TIMESTAMP',
      'ltm_store.updated_at TIMESTAMP',
      'ltm_store.expires_at TIMESTAMP',
      'ltm_store__docs.key VARCHAR',
      'ltm_store__docs.length INTEGER',
      'ltm_store__docs.extra_length INTEGER',
      'ltm_store__terms.key VARCHAR',
      'ltm_store__terms.field TINYINT',
      'ltm_store__terms.term VARCHAR',
      'ltm_store__terms.tf INTEGER',
    ]);
    expect(await store.engine.query("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'ltm_store__terms' ORDER BY 1")).toEqual([
      { index_name: 'ltm_store__terms_key' },
    ]);
    const [record] = await store.engine.query('SELECT table_name, format, version, epoch_ms(created_at) AS ms FROM ltm_format');
    expect(record).toMatchObject({ table_name: 'ltm_store', format: 'native', version: NATIVE_FORMAT_VERSION });
    expect(Math.abs((record!.ms as number) - Date.now())).toBeLessThan(600_000);
    expect(store.format.name).toBe('native');
    expect(store.format.capabilities).toEqual({ writable: true, multiWriter: false, persistent: true, compaction: false });
    expect(store.format.relation('entries')).toBe('"ltm_store"');
    expect(store.format.relation('terms')).toBe('"ltm_store__terms"');
    expect(store.format.relation('docs')).toBe('"ltm_store__docs"');
    await store.close();
  });

  it('keeps stores with different table names apart in one file', async () => {
    const path = freshFile();
    const engine = await DuckDBQueryEngine.open({ path });
    const a = createNativeFormat();
    const b = createNativeFormat();
    await a.open({ engine, uri: path, tableName: 'agent_a', readOnly: false });
    await b.open({ engine, uri: path, tableName: 'select', readOnly: false });
    await a.commit(batchOf([entry('only-a')]));
    await b.commit(batchOf([entry('only-b')]));
    expect(await keys(engine, a)).toEqual(['only-a']);
    expect(await keys(engine, b)).toEqual(['only-b']);
    expect(await engine.query('SELECT table_name FROM ltm_format ORDER BY 1')).toEqual([{ table_name: 'agent_a' }, { table_name: 'select' }]);
    await a.close();
    await b.close();
    await engine.close();
  });

  it('refuses a cloud URI it cannot read with the missing extension and its fix, an engine on another database, and a bad table name', async () => {
    const noExtensions = mkdtempSync(join(tmpdir(), 'ltm-no-extensions-'));
    const engine = await DuckDBQueryEngine.open({ extensionDirectory: noExtensions });
    for (const [uri, extension] of [
      ['s3://bucket/ltm.duckdb', 'httpfs'],
      ['gs://bucket/ltm.duckdb', 'httpfs'],
      ['az://container/ltm.duckdb', 'azure'],
      ['https://host/ltm.duckdb', 'httpfs'],
    ] as const) {
      const error = await ltmError(new NativeFormat().open({ engine, uri, tableName: 'ltm_store', readOnly: true }));
      expect(error.errorType).toBe('dependency_missing');
      expect(error.message).toContain(`DuckDB's ${extension} extension, needed for ${uri.split(':')[0]}:// locations, cannot be loaded from ${noExtensions}`);
      expect(error.message).toContain('ltm extensions install');
    }
    const abfss = await ltmError(new NativeFormat().open({ engine, uri: 'abfss://c@a.dfs.core.windows.net/x.duckdb', tableName: 'ltm_store', readOnly: true }));
    expect(abfss.errorType).toBe('unsupported');
    rmSync(noExtensions, { recursive: true, force: true });
    const elsewhere = await ltmError(new NativeFormat().open({ engine, uri: freshFile(), tableName: 'ltm_store', readOnly: false }));
    expect(elsewhere.errorType).toBe('validation_error');
    expect(elsewhere.message).toContain('open the engine on');
    const badName = await ltmError(new NativeFormat().open({ engine, uri: ':memory:', tableName: 'x"; DROP TABLE y; --', readOnly: false }));
    expect(badName.errorType).toBe('validation_error');
    await engine.close();
  });

  it('refuses a store written by a newer format version, or recorded as another format', async () => {
    const path = freshFile();
    const store = await openStore(path);
    await store.format.commit(batchOf([entry('k')]));
    await store.engine.run("UPDATE ltm_format SET version = $1 WHERE table_name = 'ltm_store'", [NATIVE_FORMAT_VERSION + 1]);
    await store.close();
    for (const readOnly of [false, true]) {
      const engine = await DuckDBQueryEngine.open({ path, readOnly });
      const error = await ltmError(new NativeFormat().open({ engine, uri: path, tableName: 'ltm_store', readOnly }));
      expect(error.errorType).toBe('unsupported');
      expect(error.message).toContain(`written by native format version ${NATIVE_FORMAT_VERSION + 1}`);
      expect(error.message).toContain('upgrade @ltm/format-native');
      await engine.close();
    }
    const engine = await DuckDBQueryEngine.open({ path });
    await engine.run("UPDATE ltm_format SET format = 'parquet', version = 1");
    const other = await ltmError(new NativeFormat().open({ engine, uri: path, tableName: 'ltm_store', readOnly: false }));
    expect(other.message).toContain(`recorded as format "parquet"`);
    // Nothing was changed by the refused opens.
    expect(await engine.query('SELECT key FROM ltm_store')).toEqual([{ key: 'k' }]);
    await engine.close();
  });

  it('adopts a story-schema table without expires_at (e.g. migrated from SQLite), read-only and read-write', async () => {
    const path = freshFile();
    const setup = await DuckDBQueryEngine.open({ path });
    await setup.run(`CREATE TABLE ltm_store(key VARCHAR PRIMARY KEY, value JSON NOT NULL, metadata JSON,
                     created_at TIMESTAMP, updated_at TIMESTAMP)`);
    await setup.run(`INSERT INTO ltm_store VALUES ('old', '{"from":"sqlite"}', '{"m":1}', TIMESTAMP '2023-01-02 03:04:05', TIMESTAMP '2023-01-02 03:04:05')`);
    await setup.close();

    const reader = await openStore(path, { readOnly: true, engineReadOnly: true });
    expect(reader.format.capabilities.writable).toBe(false);
    expect(await reader.engine.query(`SELECT key, expires_at FROM ${reader.format.relation('entries')}`)).toEqual([{ key: 'old', expires_at: null }]);
    expect(await reader.engine.query(`SELECT count(*) AS n FROM ${reader.format.relation('terms')}`)).toEqual([{ n: 0 }]);
    expect((await ltmError(reader.format.commit(batchOf([entry('new')])))).errorType).toBe('read_only');
    await reader.close();

    const writer = await openStore(path);
    const rows = await writer.engine.query(`SELECT key, value, metadata, epoch_ms(created_at) AS created, expires_at FROM ${writer.format.relation('entries')}`);
    expect(rows).toEqual([{ key: 'old', value: '{"from":"sqlite"}', metadata: '{"m":1}', created: Date.UTC(2023, 0, 2, 3, 4, 5), expires_at: null }]);
    // Its rows have no postings yet: the backend finds them as entries without a docs row and indexes them.
    const unindexed = await writer.engine.query(
      `SELECT key FROM ${writer.format.relation('entries')} WHERE key NOT IN (SELECT key FROM ${writer.format.relation('docs')})`,
    );
    expect(unindexed).toEqual([{ key: 'old' }]);
    await writer.format.commit(batchOf([entry('old', { expiresAt: T0 + 1 })]));
    expect(await writer.engine.query(`SELECT key, epoch_ms(expires_at) AS e FROM ${writer.format.relation('entries')}`)).toEqual([{ key: 'old', e: T0 + 1 }]);
    await writer.close();
  });

  it('a read-only open of a file without the store shows empty relations', async () => {
    const path = freshFile();
    const setup = await DuckDBQueryEngine.open({ path });
    await setup.run('CREATE TABLE unrelated(i INTEGER)');
    await setup.close();
    const reader = await openStore(path, { engineReadOnly: true });
    expect(reader.format.capabilities).toMatchObject({ writable: false, persistent: true });
    for (const relation of ['entries', 'terms', 'docs'] as const) {
      expect(await reader.engine.query(`SELECT count(*) AS n FROM ${reader.format.relation(relation)}`)).toEqual([{ n: 0 }]);
    }
    expect((await ltmError(reader.format.commit(batchOf([entry('k')])))).errorType).toBe('read_only');
    await reader.close();
  });
});

describe('commit', () => {
  it('commits batches of 1, 64 and 10,000 entries with their terms and docs', async () => {
    const store = await openStore(freshFile());
    let total = 0;
    for (const size of [1, 64, 10_000]) {
      const rows = Array.from({ length: size }, (_, i) => entry(`b${size}-${i}`, { updatedAt: T0 + i }));
      await store.format.commit(batchOf(rows));
      total += size;
      const [counts] = await store.engine.query(
        `SELECT (SELECT count(*) FROM ltm_store) AS entries, (SELECT count(*) FROM ltm_store__terms) AS terms,
                (SELECT count(*) FROM ltm_store__docs) AS docs`,
      );
      expect(counts).toEqual({ entries: total, terms: total, docs: total });
    }
    // Overwrite all 10,000 and delete 20 more in one batch: the replaced rows do not accumulate.
    const again = Array.from({ length: 10_000 }, (_, i) => entry(`b10000-${i}`, { value: '"again"' }));
    await store.format.commit(batchOf(again, Array.from({ length: 20 }, (_, i) => `b64-${i}`)));
    expect(await store.engine.query(
      `SELECT count(*) AS n, count(*) FILTER (WHERE value = '"again"') AS again FROM ltm_store`,
    )).toEqual([{ n: total - 20, again: 10_000 }]);
    expect(await store.engine.query('SELECT count(*) AS n FROM ltm_store__terms')).toEqual([{ n: total - 20 }]);
    await store.close();
  });

  it('a rejected batch (bad JSON, duplicate key, bad index row) rolls back whole and leaves earlier data', async () => {
    const store = await openStore(freshFile());
    await store.format.commit(batchOf([entry('a'), entry('b')]));
    const bigBatch = (spoilt: Partial<ReturnType<typeof entry>>) =>
      batchOf([...Array.from({ length: 40 }, (_, i) => entry(`n${i}`)), entry('a', spoilt)], ['b']);
    const badJson = await ltmError(store.format.commit(bigBatch({ value: '{"oops"' })));
    expect(badJson.errorType).toBe('query_error');
    expect(badJson.message).toContain('Malformed JSON');
    const badMetadata = await ltmError(store.format.commit(batchOf([entry('c', { metadata: 'not json' })], ['a'])));
    expect(badMetadata.errorType).toBe('query_error');
    const duplicate = await ltmError(store.format.commit(batchOf([entry('d'), entry('d')])));
    expect(duplicate.message).toContain('Constraint Error');
    const badTime = await ltmError(store.format.commit(batchOf([entry('f', { updatedAt: 1.5 })])));
    expect(badTime.errorType).toBe('validation_error');
    expect(badTime.message).toContain('updatedAt must be integer epoch milliseconds');
    const badTerm = await ltmError(store.format.commit({ ...batchOf([entry('e')]), terms: [{ key: 'e', field: 0, term: 't', tf: 1.5 }] }));
    expect(badTerm.errorType).toBe('validation_error');
    expect(await keys(store.engine, store.format)).toEqual(['a', 'b']);
    expect(await store.engine.query('SELECT count(*) AS n FROM ltm_store__terms')).toEqual([{ n: 2 }]);
    // The staging tables were left clean: the next commit carries only its own rows.
    await store.format.commit(batchOf([entry('z')]));
    expect(await keys(store.engine, store.format)).toEqual(['a', 'b', 'z']);
    await store.close();
  });

  it('runs concurrent commits one at a time, in call order (last writer wins)', async () => {
    const store = await openStore(':memory:');
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => store.format.commit(batchOf([entry('same', { value: String(i) }), entry(`own-${i}`)]))),
    );
    expect(await store.engine.query("SELECT value FROM ltm_store WHERE key = 'same'")).toEqual([{ value: '29' }]);
    expect(await store.engine.query('SELECT count(*) AS n FROM ltm_store')).toEqual([{ n: 31 }]);
    await store.close();
  });

  it('stores UTC instants whatever the time zone of the process and of DuckDB', async () => {
    const timestamps = { createdAt: T0, updatedAt: Date.UTC(2024, 11, 31, 23, 59, 59, 999), expiresAt: Date.UTC(2030, 2, 31, 1, 30) };
    for (const zone of ['America/Los_Angeles', 'Asia/Tokyo']) {
      const path = freshFile();
      const seen = await runFixture<{ rows: Record<string, unknown>[]; nodeZone: string }>(
        'commit-in-time-zone.mjs',
        [path, JSON.stringify(timestamps)],
        { TZ: zone },
      );
      expect(seen.nodeZone).toBe(zone);
      expect(seen.rows).toEqual([{ created_at: timestamps.createdAt, updated_at: timestamps.updatedAt, expires_at: timestamps.expiresAt, duckdb_zone: zone }]);
      // Another client reads the naive TIMESTAMP as the UTC wall clock.
      const other = await readInAnotherProcess(path, "SELECT strftime(created_at, '%Y-%m-%d %H:%M:%S.%g') AS created FROM ltm_store");
      expect(other).toEqual({ rows: [{ created: '2024-05-01 12:34:56.789' }] });
    }
  });
});

describe('removeExpired', () => {
  it('removes entries expired at or before now, with their terms and docs, and counts them', async () => {
    const store = await openStore(':memory:');
    await store.format.commit(batchOf([
      entry('past', { expiresAt: T0 - 1 }),
      entry('exactly-now', { expiresAt: T0 }),
      entry('future', { expiresAt: T0 + 1 }),
      entry('never'),
    ]));
    expect(await store.format.removeExpired(T0)).toBe(2);
    expect(await keys(store.engine, store.format)).toEqual(['future', 'never']);
    expect(await store.engine.query('SELECT key FROM ltm_store__terms ORDER BY key')).toEqual([{ key: 'future' }, { key: 'never' }]);
    expect(await store.engine.query('SELECT key FROM ltm_store__docs ORDER BY key')).toEqual([{ key: 'future' }, { key: 'never' }]);
    expect((await ltmError(store.format.removeExpired(Number.NaN))).errorType).toBe('validation_error');
    await store.close();
  });
});

describe('close', () => {
  it('checkpoints: the closed file answers the story query from another client, with no WAL left', async () => {
    const path = freshFile();
    const store = await openStore(path);
    await store.format.commit(batchOf([entry('a', { metadata: '{"tag":"x"}' }), entry('b', { value: 'null' })]));
    await store.format.commit(batchOf([entry('c')], ['b']));
    await store.format.close();
    expect(existsSync(`${path}.wal`)).toBe(false);
    await store.engine.close();
    const other = await readInAnotherProcess(path, 'SELECT key, value, metadata, created_at, updated_at FROM ltm_store ORDER BY key');
    expect(other).toEqual({
      rows: [
        { key: 'a', value: '{"key":"a"}', metadata: '{"tag":"x"}', created_at: '2024-05-01 12:34:56.789', updated_at: '2024-05-01 12:34:56.789' },
        { key: 'c', value: '{"key":"c"}', metadata: '{}', created_at: '2024-05-01 12:34:56.789', updated_at: '2024-05-01 12:34:56.789' },
      ],
    });
  });

  it('is idempotent; afterwards calls fail with backend_closed; before open they say to open', async () => {
    const store = await openStore(':memory:');
    await store.format.close();
    await store.format.close();
    expect((await ltmError(store.format.commit(batchOf([entry('k')])))).errorType).toBe('backend_closed');
    expect((await ltmError(store.format.refresh())).errorType).toBe('backend_closed');
    expect(() => store.format.relation('entries')).toThrow('closed');
    await store.engine.close();
    const unopened = new NativeFormat();
    expect((await ltmError(unopened.commit(batchOf([entry('k')])))).message).toContain('call open(context) first');
    expect(unopened.capabilities.writable).toBe(false);
    await unopened.close();
  });

  it('refresh() is false: one writer, nothing to pick up', async () => {
    const store = await openStore(':memory:');
    expect(await store.format.refresh()).toBe(false);
    await store.close();
  });
});
