import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBQueryEngine } from '../src/index.js';
import { ltmError } from './helpers.js';

let engine: DuckDBQueryEngine;
beforeAll(async () => {
  engine = await DuckDBQueryEngine.open();
});
afterAll(() => engine.close());

describe('parameters are bound by JS type', () => {
  it('binds scalars with the documented DuckDB types', async () => {
    const [row] = await engine.query(
      `SELECT typeof($1) AS null_type, typeof($2) AS boolean_type, typeof($3) AS integer_type, typeof($4) AS fraction_type,
              typeof($5) AS unsafe_type, typeof($6) AS bigint_type, typeof($7) AS huge_type, typeof($8) AS string_type,
              typeof($9) AS date_type, typeof($10) AS strings_type, typeof($11) AS numbers_type, typeof($12) AS empty_type`,
      [null, true, 42, 1.5, 2 ** 60, 5n, 2n ** 100n, 'x', new Date(0), ['a'], [1, 2], []],
    );
    expect(row).toEqual({
      null_type: '"NULL"',
      boolean_type: 'BOOLEAN',
      integer_type: 'BIGINT',
      fraction_type: 'DOUBLE',
      unsafe_type: 'DOUBLE',
      bigint_type: 'BIGINT',
      huge_type: 'HUGEINT',
      string_type: 'VARCHAR',
      date_type: 'TIMESTAMP',
      strings_type: 'VARCHAR[]',
      numbers_type: 'DOUBLE[]',
      empty_type: 'VARCHAR[]',
    });
  });

  it('round-trips values, with quotes and SQL text staying data', async () => {
    const tricky = "'; DROP TABLE t; -- \"quoted\" \u0000 😀";
    const [row] = await engine.query('SELECT $1 AS s, $2 AS n, $3 AS b, $4 AS f, $5 AS l', [tricky, -7, false, 0.1, ['x', tricky]]);
    expect(row).toEqual({ s: tricky, n: -7, b: false, f: 0.1, l: ['x', tricky] });
  });

  it('keeps a leading byte order mark (U+FEFF) both ways, in VARCHAR, JSON and lists', async () => {
    const bom = '\uFEFFkey';
    const [row] = await engine.query('SELECT $1 AS s, $2::JSON AS j, $3 AS l, length($1) AS n, encode($1) AS bytes', [bom, '"\uFEFF"', [bom]]);
    expect(row).toEqual({ s: bom, j: '"\uFEFF"', l: [bom], n: 4, bytes: Buffer.from([0xef, 0xbb, 0xbf, 0x6b, 0x65, 0x79]) });
    await engine.run('CREATE TABLE bom(k VARCHAR PRIMARY KEY)');
    await engine.withConnection((connection) => connection.appendRows('bom', [[bom]]));
    expect(await engine.query('SELECT k FROM bom WHERE k = $1', [bom])).toEqual([{ k: bom }]);
  });

  it('makes WHERE key IN (SELECT unnest($1)) take a string[]', async () => {
    await engine.run('CREATE TABLE keyed(key VARCHAR PRIMARY KEY, n INTEGER)');
    await engine.run("INSERT INTO keyed VALUES ('a', 1), ('b', 2), ('c', 3)");
    const rows = await engine.query('SELECT key FROM keyed WHERE key IN (SELECT unnest($1)) ORDER BY key', [['c', 'a', 'zz']]);
    expect(rows).toEqual([{ key: 'a' }, { key: 'c' }]);
    expect(await engine.query('SELECT key FROM keyed WHERE key IN (SELECT unnest($1))', [[]])).toEqual([]);
    const byNumber = await engine.query('SELECT key FROM keyed WHERE n IN (SELECT unnest($1)) ORDER BY key', [[2, 3]]);
    expect(byNumber).toEqual([{ key: 'b' }, { key: 'c' }]);
  });

  it('binds a Date as its UTC instant and lets SQL turn epoch ms into a TIMESTAMP', async () => {
    const instant = Date.UTC(2024, 4, 1, 12, 34, 56, 789);
    const [row] = await engine.query(
      'SELECT epoch_ms($1) AS from_date, epoch_ms(make_timestamp($2 * 1000)) AS from_ms, strftime($1, \'%Y-%m-%d %H:%M:%S.%g\') AS text',
      [new Date(instant), instant],
    );
    expect(row).toEqual({ from_date: instant, from_ms: instant, text: '2024-05-01 12:34:56.789' });
  });

  it('rejects what it cannot bind with validation_error', async () => {
    const cases: [unknown[], RegExp][] = [
      [[{}], /parameter \$1 is Object/],
      [[undefined], /parameter \$1 is undefined/],
      [[['a', 1]], /parameter \$1 is a mixed or non-scalar array/],
      [[new Date(Number.NaN)], /invalid Date/],
      [[2n ** 200n], /does not fit in 128 bits/],
    ];
    for (const [params, message] of cases) {
      const error = await ltmError(engine.query('SELECT $1 AS v', params as never));
      expect(error.errorType).toBe('validation_error');
      expect(error.message).toMatch(message);
    }
    const count = await ltmError(engine.query('SELECT $1 AS a, $2 AS b', [1]));
    expect(count.errorType).toBe('validation_error');
    expect(count.message).toContain('has 2 parameter(s) but 1 value(s) were given');
  });
});

describe('rows are plain JS objects', () => {
  it('converts each type as documented', async () => {
    const [row] = await engine.query(`
      SELECT 'text'::VARCHAR AS varchar_col, '{"a": [1, 2]}'::JSON AS json_col, 7::INTEGER AS int_col,
             9007199254740991::BIGINT AS safe_bigint, 9007199254740993::BIGINT AS unsafe_bigint,
             12::HUGEINT AS small_huge, 1.25::DOUBLE AS double_col, 1.5::DECIMAL(4, 2) AS decimal_col,
             true AS bool_col, [1, 2, NULL]::INTEGER[] AS list_col, ['a']::VARCHAR[] AS strings_col, NULL AS null_col,
             TIMESTAMP '2024-05-01 12:34:56.789' AS ts_col, epoch_ms(TIMESTAMP '2024-05-01 12:34:56.789') AS ms_col,
             count(*) OVER () AS count_col`);
    expect(row).toEqual({
      varchar_col: 'text',
      json_col: '{"a": [1, 2]}',
      int_col: 7,
      safe_bigint: Number.MAX_SAFE_INTEGER,
      unsafe_bigint: 9007199254740993n,
      small_huge: 12,
      double_col: 1.25,
      decimal_col: 1.5,
      bool_col: true,
      list_col: [1, 2, null],
      strings_col: ['a'],
      null_col: null,
      ts_col: new Date(Date.UTC(2024, 4, 1, 12, 34, 56, 789)),
      ms_col: Date.UTC(2024, 4, 1, 12, 34, 56, 789),
      count_col: 1,
    });
  });

  it('execute() also reports the column names, duplicates made unique as node-api does (a, a:1)', async () => {
    const result = await engine.execute('SELECT 1 AS a, 2 AS a, $1 AS b', ['x']);
    expect(result).toEqual({ success: true, rows: [{ a: 1, 'a:1': 2, b: 'x' }], columns: ['a', 'a:1', 'b'] });
  });
});
