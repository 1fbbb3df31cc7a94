import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBQueryEngine, type EngineConnection } from '../src/index.js';
import { ltmError, readInAnotherProcess, tempDirectory } from './helpers.js';

const directory = tempDirectory('ltm-engine-');
afterAll(() => directory.remove());
let files = 0;
const freshFile = () => join(directory.path, `db-${++files}.duckdb`);

/** A promise with its resolver, to hold a connection until the test lets go. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('DuckDBQueryEngine.open', () => {
  it('defaults to a private in-memory database, one per engine', async () => {
    const a = await DuckDBQueryEngine.open();
    const b = await DuckDBQueryEngine.open({ path: ':memory:' });
    expect(a.path).toBe(':memory:');
    await a.run('CREATE TABLE only_in_a(i INTEGER)');
    expect(await b.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'only_in_a'")).toEqual([{ n: 0 }]);
    await Promise.all([a.close(), b.close()]);
    // DuckDB would make a file named ":memory:x" in the working directory: refused instead.
    expect((await ltmError(DuckDBQueryEngine.open({ path: ':memory:x' }))).errorType).toBe('validation_error');
  });

  it('shares one instance per file: engines see each other, and the file is free once the last closes', async () => {
    const path = freshFile();
    const first = await DuckDBQueryEngine.open({ path });
    const second = await DuckDBQueryEngine.open({ path: join(directory.path, '.', `db-${files}.duckdb`) });
    expect(second.path).toBe(first.path);
    await first.run('CREATE TABLE shared AS SELECT 42 AS answer');
    expect(await second.query('SELECT answer FROM shared')).toEqual([{ answer: 42 }]);
    await first.close();
    expect(await second.query('SELECT answer FROM shared')).toEqual([{ answer: 42 }]);
    await second.close();
    // Another process can open the file only if this process let go of it.
    expect(await readInAnotherProcess(path, 'SELECT answer FROM shared')).toEqual({ rows: [{ answer: 42 }] });
  });

  it('refuses a second engine on the same file with different settings, naming them', async () => {
    const path = freshFile();
    const writer = await DuckDBQueryEngine.open({ path });
    const error = await ltmError(DuckDBQueryEngine.open({ path, readOnly: true }));
    expect(error.errorType).toBe('validation_error');
    expect(error.message).toContain('already open in this process with different settings');
    await writer.close();
  });

  it('creates missing parent directories for a new file', async () => {
    const path = join(directory.path, 'nested', 'deeper', 'ltm.duckdb');
    const engine = await DuckDBQueryEngine.open({ path });
    await engine.close();
    expect(existsSync(path)).toBe(true);
  });

  it('classifies open failures', async () => {
    const missing = await ltmError(DuckDBQueryEngine.open({ path: join(directory.path, 'absent.duckdb'), readOnly: true }));
    expect(missing.errorType).toBe('connection_error');
    expect(missing.message).toContain('does not exist');
    expect(missing.retryable).toBe(false);

    const cloud = await ltmError(DuckDBQueryEngine.open({ path: 's3://bucket/ltm.duckdb' }));
    expect(cloud.errorType).toBe('unsupported');
    expect(cloud.message).toContain('engine.attachRemote(uri)');

    const option = await ltmError(DuckDBQueryEngine.open({ config: { no_such_option: '1' } }));
    expect(option.errorType).toBe('validation_error');
    expect(option.message).toContain('no_such_option');

    const memoryReadOnly = await ltmError(DuckDBQueryEngine.open({ readOnly: true }));
    expect(memoryReadOnly.errorType).toBe('validation_error');

    for (const options of [{ poolSize: 0 }, { acquireTimeoutMs: -1 }, { poolSize: 1.5 }, { statementCacheSize: -1 }]) {
      expect((await ltmError(DuckDBQueryEngine.open(options))).errorType).toBe('validation_error');
    }
    expect((await ltmError(DuckDBQueryEngine.open({ config: { threads: 2 as unknown as string } }))).errorType).toBe('validation_error');
  });

  it('applies DuckDB config at instance creation', async () => {
    const engine = await DuckDBQueryEngine.open({ config: { threads: '1', memory_limit: '256MB' } });
    expect(await engine.query("SELECT current_setting('threads') AS threads")).toEqual([{ threads: 1 }]);
    await engine.close();
  });

  it('a read-only engine reads and refuses writes with read_only', async () => {
    const path = freshFile();
    const writer = await DuckDBQueryEngine.open({ path });
    await writer.run('CREATE TABLE t AS SELECT 1 AS i');
    await writer.close();
    const reader = await DuckDBQueryEngine.open({ path, readOnly: true });
    expect(reader.readOnly).toBe(true);
    expect(await reader.query('SELECT i FROM t')).toEqual([{ i: 1 }]);
    const error = await ltmError(reader.run('INSERT INTO t VALUES (2)'));
    expect(error.errorType).toBe('read_only');
    expect(error.message).toContain('open it without readOnly');
    await reader.close();
  });
});

describe('errors', () => {
  it('query and run reject with classified LTMErrors; execute resolves a Failure', async () => {
    const engine = await DuckDBQueryEngine.open();
    const syntax = await ltmError(engine.query('SELEC 1'));
    expect(syntax.errorType).toBe('query_error');
    expect(syntax.message).toMatch(/^Parser Error/);
    expect(await engine.execute('SELECT * FROM missing_table')).toMatchObject({
      success: false,
      errorType: 'query_error',
      retryable: false,
      error: expect.stringContaining('Catalog Error'),
    });
    expect(engine.stats()).toMatchObject({ queries: 2, errors: 2 });
    await engine.close();
  });
});

describe('the connection pool', () => {
  it('opens connections lazily up to poolSize and reuses them', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 3 });
    expect(engine.stats().pool).toEqual({ size: 3, open: 0, inUse: 0, waiting: 0 });
    await engine.query('SELECT 1');
    await engine.query('SELECT 1');
    expect(engine.stats().pool).toEqual({ size: 3, open: 1, inUse: 0, waiting: 0 });
    await Promise.all(Array.from({ length: 10 }, () => engine.query('SELECT 1')));
    expect(engine.stats().pool.open).toBeLessThanOrEqual(3);
    await engine.close();
  });

  it('lends a connection exclusively and serves waiters first in, first out', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 1 });
    const held = gate();
    const holder = engine.withConnection(() => held.promise);
    await new Promise((resolve) => setImmediate(resolve));
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => engine.withConnection(async (connection) => {
      order.push(n);
      await connection.query('SELECT 1');
    }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(engine.stats().pool).toEqual({ size: 1, open: 1, inUse: 1, waiting: 3 });
    held.open();
    await Promise.all([holder, ...waiters]);
    expect(order).toEqual([1, 2, 3]);
    expect(engine.stats().pool).toEqual({ size: 1, open: 1, inUse: 0, waiting: 0 });
    await engine.close();
  });

  it('fails a waiter with connection_timeout after acquireTimeoutMs, saying what to do', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 1, acquireTimeoutMs: 50 });
    const held = gate();
    const holder = engine.withConnection(() => held.promise);
    const error = await ltmError(engine.query('SELECT 1'));
    expect(error.errorType).toBe('connection_timeout');
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      'no DuckDB connection became free within 50ms (pool size 1, 1 waiting): raise poolSize or acquireTimeoutMs, or look for a call that never finishes',
    );
    expect(engine.stats().pool.waiting).toBe(0);
    held.open();
    await holder;
    expect(await engine.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await engine.close();
  });

  it('a connection used after its callback returned refuses to work', async () => {
    const engine = await DuckDBQueryEngine.open();
    let leaked: EngineConnection | undefined;
    await engine.withConnection(async (connection) => {
      leaked = connection;
    });
    const error = await ltmError(leaked!.query('SELECT 1'));
    expect(error.message).toContain('used after its withConnection()/transaction() callback returned');
    await engine.close();
  });

  it('calls on one connection run one at a time and each gets its own result', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 1 });
    const results = await engine.withConnection((connection) =>
      Promise.all(Array.from({ length: 20 }, (_, i) => connection.query<{ v: number }>('SELECT $1 AS v', [i]))),
    );
    expect(results.map(([row]) => row?.v)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await engine.close();
  });
});

describe('transaction', () => {
  it('commits what fn did', async () => {
    const engine = await DuckDBQueryEngine.open();
    await engine.run('CREATE TABLE t(i INTEGER PRIMARY KEY)');
    const result = await engine.transaction(async (connection) => {
      await connection.run('INSERT INTO t VALUES ($1), ($2)', [1, 2]);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await engine.query('SELECT count(*) AS n FROM t')).toEqual([{ n: 2 }]);
    await engine.close();
  });

  it('rolls back and rethrows when fn throws or a statement fails, leaving the connection usable', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 1 });
    await engine.run('CREATE TABLE t(i INTEGER PRIMARY KEY)');
    await engine.run('INSERT INTO t VALUES (1)');
    const mine = new Error('changed my mind');
    await expect(engine.transaction(async (connection) => {
      await connection.run('INSERT INTO t VALUES (2)');
      throw mine;
    })).rejects.toBe(mine);
    const constraint = await ltmError(engine.transaction(async (connection) => {
      await connection.run('INSERT INTO t VALUES (3)');
      await connection.run('INSERT INTO t VALUES (1)');
    }));
    expect(constraint.errorType).toBe('query_error');
    expect(constraint.message).toContain('Constraint Error');
    expect(await engine.query('SELECT i FROM t ORDER BY i')).toEqual([{ i: 1 }]);
    // The same (only) connection is not left inside an aborted transaction.
    await engine.transaction((connection) => connection.run('INSERT INTO t VALUES (4)'));
    expect(await engine.query('SELECT i FROM t ORDER BY i')).toEqual([{ i: 1 }, { i: 4 }]);
    await engine.close();
  });
});

describe('appendRows', () => {
  it('appends typed rows, also to a temp table, and rolls back with its transaction', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 1 });
    await engine.run(`CREATE TABLE typed(s VARCHAR, j JSON, b BOOLEAN, t TINYINT, i INTEGER, n BIGINT, d DOUBLE,
                      ts TIMESTAMP, l VARCHAR[], nums DOUBLE[])`);
    const instant = Date.UTC(2024, 0, 2, 3, 4, 5, 6);
    await engine.withConnection((connection) => connection.appendRows('typed', [
      ['a', '{"x":1}', true, 1, 2, 3n, 0.5, instant, ['p', 'q'], [1.5]],
      ['b', null, null, null, null, 2 ** 53 - 1, null, new Date(instant), null, null],
    ]));
    expect(await engine.query('SELECT *, epoch_ms(ts) AS ms FROM typed ORDER BY s')).toEqual([
      { s: 'a', j: '{"x":1}', b: true, t: 1, i: 2, n: 3, d: 0.5, ts: new Date(instant), l: ['p', 'q'], nums: [1.5], ms: instant },
      { s: 'b', j: null, b: null, t: null, i: null, n: 2 ** 53 - 1, d: null, ts: new Date(instant), l: null, nums: null, ms: instant },
    ]);

    await engine.withConnection(async (connection) => {
      await connection.run('CREATE TEMP TABLE staging(k VARCHAR, v BIGINT)');
      await connection.appendRows('temp.staging', [['x', 1]]);
      expect(await connection.query('SELECT k, v FROM temp.staging')).toEqual([{ k: 'x', v: 1 }]);
    });

    await expect(engine.transaction(async (connection) => {
      await connection.appendRows('typed', [['c', null, null, null, null, null, null, null, null, null]]);
      throw new Error('abandon');
    })).rejects.toThrow('abandon');
    expect(await engine.query("SELECT count(*) AS n FROM typed WHERE s = 'c'")).toEqual([{ n: 0 }]);
    await engine.close();
  });

  it('lets the event loop run between slices of a large append', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 1 });
    await engine.run('CREATE TABLE big(k VARCHAR, i INTEGER)');
    const rows = Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i] as const);
    await engine.withConnection(async (connection) => {
      await connection.run('SELECT 1'); // the appender is the only await left inside appendRows
      let turns = 0;
      let counting = true;
      const count = () => {
        turns++;
        if (counting) setImmediate(count);
      };
      setImmediate(count);
      await connection.appendRows('big', rows);
      counting = false;
      // 100,000 rows in slices of 16,384: at least 6 turns of the event loop happened during the append.
      expect(turns).toBeGreaterThanOrEqual(6);
    });
    expect(await engine.query('SELECT count(*) AS n, sum(i) AS s FROM big')).toEqual([{ n: 100_000, s: (99_999 * 100_000) / 2 }]);
    await engine.close();
  });

  it('rejects a wrong row shape, a wrong type, a bad table name or a missing table', async () => {
    const engine = await DuckDBQueryEngine.open();
    await engine.run('CREATE TABLE t(s VARCHAR, i INTEGER)');
    const append = (table: string, rows: unknown[][]) =>
      ltmError(engine.withConnection((connection) => connection.appendRows(table, rows as never)));
    const shape = await append('t', [['a']]);
    expect(shape.errorType).toBe('validation_error');
    expect(shape.message).toContain('row 0 has 1 value(s) but the table has 2 column(s)');
    const type = await append('t', [['a', 1], ['b', 'two']]);
    expect(type.errorType).toBe('validation_error');
    expect(type.message).toContain('row 1, column 2 is INTEGER but got string');
    expect((await append('t; DROP TABLE t', [])).errorType).toBe('validation_error');
    expect((await append('no_such_table', [])).errorType).toBe('query_error');
    // Nothing of a failed append is left behind.
    expect(await engine.query('SELECT count(*) AS n FROM t')).toEqual([{ n: 0 }]);
    await engine.close();
  });
});

describe('prepared statement cache', () => {
  it('gives the same answers with the cache off, with a tiny cache, and across schema changes', async () => {
    for (const statementCacheSize of [0, 2, 64]) {
      const engine = await DuckDBQueryEngine.open({ poolSize: 1, statementCacheSize });
      await engine.run('CREATE TABLE t(k VARCHAR PRIMARY KEY, v INTEGER)');
      await engine.run("INSERT INTO t VALUES ('a', 1), ('b', 2), ('c', 3)");
      for (let round = 0; round < 3; round++) {
        for (const [sql, expected] of [
          ['SELECT v FROM t WHERE k = $1', 1],
          ['SELECT v + 0 AS v FROM t WHERE k = $1', 1],
          ['SELECT v * 1 AS v FROM t WHERE k = $1', 1],
        ] as const) {
          expect(await engine.query(sql, ['a'])).toEqual([{ v: expected }]);
        }
      }
      await engine.run('ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 9');
      expect(await engine.query('SELECT * FROM t WHERE k = $1', ['b'])).toEqual([{ k: 'b', v: 2, w: 9 }]);
      await engine.close();
    }
  });
});

describe('close', () => {
  it('is idempotent, lets running calls finish, fails waiters and later calls with backend_closed', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 1 });
    const held = gate();
    const running = engine.withConnection(async (connection) => {
      await held.promise;
      return connection.query<{ one: number }>('SELECT 1 AS one');
    });
    await new Promise((resolve) => setImmediate(resolve));
    const waiting = ltmError(engine.query('SELECT 2'));
    const closing = engine.close();
    expect((await waiting).errorType).toBe('backend_closed');
    held.open();
    expect(await running).toEqual([{ one: 1 }]);
    await closing;
    await engine.close();
    const later = await ltmError(engine.query('SELECT 1'));
    expect(later.errorType).toBe('backend_closed');
    expect(later.message).toContain('is closed');
    expect(await engine.execute('SELECT 1')).toMatchObject({ success: false, errorType: 'backend_closed' });
  });

  it('supports await using', async () => {
    let outside: DuckDBQueryEngine;
    {
      await using engine = await DuckDBQueryEngine.open();
      outside = engine;
      await engine.query('SELECT 1');
    }
    expect((await ltmError(outside.query('SELECT 1'))).errorType).toBe('backend_closed');
  });
});

describe('the statement cache and growing tables', () => {
  it('re-plans a statement without parameters, which DuckDB 1.5.5 would run with outgrown statistics', async () => {
    const engine = await DuckDBQueryEngine.open({ poolSize: 1 });
    try {
      await engine.run('CREATE TABLE grows(f INTEGER)');
      await engine.run('INSERT INTO grows VALUES (0), (1)');
      const sql = 'SELECT f, count(*)::INTEGER AS n FROM grows GROUP BY f ORDER BY f';
      expect(await engine.query(sql)).toEqual([{ f: 0, n: 1 }, { f: 1, n: 1 }]);
      await engine.run('INSERT INTO grows VALUES (1000000)');
      expect(await engine.query(sql)).toEqual([{ f: 0, n: 1 }, { f: 1, n: 1 }, { f: 1000000, n: 1 }]);
    } finally {
      await engine.close();
    }
  });
});
