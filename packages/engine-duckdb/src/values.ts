import './node-api-fixes.js';
import {
  DOUBLE,
  DuckDBTypeId,
  JSDuckDBValueConverter,
  LIST,
  VARCHAR,
  timestampValue,
  type DuckDBAppender,
  type DuckDBListType,
  type DuckDBPreparedStatement,
  type DuckDBType,
  type DuckDBValueConverter,
  type JS,
} from '@duckdb/node-api';
import { LTMError } from '@ltm/core';

/**
 * A bound parameter or appended cell. Parameters are bound by their JS type:
 * - `null` → NULL; `boolean` → BOOLEAN; `string` → VARCHAR;
 * - a safe integer `number` → BIGINT (so `make_timestamp($1 * 1000)` and `LIMIT $1` work), any other
 *   number (fractions, unsafe integers, NaN, ±Infinity) → DOUBLE;
 * - `bigint` → BIGINT, or HUGEINT beyond 64 bits;
 * - `Date` → TIMESTAMP holding the UTC instant (never the process's or DuckDB's time zone);
 * - `string[]` → VARCHAR[] (also the empty array), `number[]` → DOUBLE[], so
 *   `WHERE key IN (SELECT unnest($1))` takes a list of keys.
 */
export type SqlValue = null | boolean | number | bigint | string | Date | readonly string[] | readonly number[];

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT128_MIN = -(2n ** 127n);
const INT128_MAX = 2n ** 127n - 1n;
const VARCHAR_LIST = LIST(VARCHAR);
const DOUBLE_LIST = LIST(DOUBLE);

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'a mixed or non-scalar array';
  return typeof value === 'object' ? (value?.constructor?.name ?? 'object') : typeof value;
}

function micros(date: Date, what: string): bigint {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new LTMError('validation_error', `${what} is an invalid Date`);
  return BigInt(ms) * 1000n;
}

function bindOne(statement: DuckDBPreparedStatement, index: number, value: SqlValue): void {
  const what = `parameter $${index}`;
  if (value === null) return statement.bindNull(index);
  switch (typeof value) {
    case 'boolean':
      return statement.bindBoolean(index, value);
    case 'string':
      return statement.bindVarchar(index, value);
    case 'number':
      return Number.isSafeInteger(value)
        ? statement.bindBigInt(index, BigInt(value))
        : statement.bindDouble(index, value);
    case 'bigint':
      if (value >= INT64_MIN && value <= INT64_MAX) return statement.bindBigInt(index, value);
      if (value >= INT128_MIN && value <= INT128_MAX) return statement.bindHugeInt(index, value);
      throw new LTMError('validation_error', `${what} (${value}) does not fit in 128 bits`);
  }
  if (value instanceof Date) return statement.bindTimestamp(index, timestampValue(micros(value, what)));
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item === 'string')) return statement.bindList(index, value, VARCHAR_LIST);
    if (value.every((item) => typeof item === 'number')) return statement.bindList(index, value, DOUBLE_LIST);
  }
  throw new LTMError(
    'validation_error',
    `${what} is ${describe(value)}: bind null, boolean, number, bigint, string, Date, string[] or number[]`,
  );
}

/** Binds `params` to `$1..$n`, checking the count first so a mistake names itself. */
export function bindParameters(statement: DuckDBPreparedStatement, params: readonly SqlValue[]): void {
  if (params.length !== statement.parameterCount) {
    throw new LTMError(
      'validation_error',
      `the statement has ${statement.parameterCount} parameter(s) but ${params.length} value(s) were given`,
    );
  }
  statement.clearBindings();
  for (let i = 0; i < params.length; i++) bindOne(statement, i + 1, params[i] as SqlValue);
}

/**
 * DuckDB values → plain JS. Like node-api's JS converter (VARCHAR/JSON → string, DOUBLE → number,
 * BOOLEAN → boolean, LIST → array, TIMESTAMP → `Date` of the stored UTC instant, DECIMAL → number),
 * except that 64/128-bit integers become `number` when they are safe integers and stay `bigint`
 * otherwise, so `count(*)` and `epoch_ms(ts)` read as numbers.
 */
export const rowValueConverter: DuckDBValueConverter<unknown> = (value, type, converter) => {
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      if (typeof value === 'bigint' && value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER) {
        return Number(value);
      }
      return value;
    default:
      return JSDuckDBValueConverter(value, type, converter as DuckDBValueConverter<JS>);
  }
};

type CellWriter = (appender: DuckDBAppender, value: SqlValue, row: number) => void;
type Fail = (value: SqlValue, row: number) => LTMError;

function mismatch(table: string, column: number, type: DuckDBType): Fail {
  return (value, row) =>
    new LTMError(
      'validation_error',
      `appendRows(${table}): row ${row}, column ${column + 1} is ${type.toString()} but got ${describe(value)}`,
    );
}

/** A writer that appends NULL for null and otherwise converts the value or rejects it. */
function writer<T>(fail: Fail, convert: (value: SqlValue) => T | undefined, append: (a: DuckDBAppender, v: T) => void): CellWriter {
  return (appender, value, row) => {
    if (value === null) return appender.appendNull();
    const converted = convert(value);
    if (converted === undefined) throw fail(value, row);
    append(appender, converted);
  };
}

const asString = (v: SqlValue) => (typeof v === 'string' ? v : undefined);
const asBoolean = (v: SqlValue) => (typeof v === 'boolean' ? v : undefined);
const asNumber = (v: SqlValue) => (typeof v === 'number' ? v : undefined);
const asInteger = (v: SqlValue) => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);
const asBigInt = (v: SqlValue) =>
  typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
const asTimestampMicros = (v: SqlValue) => {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : BigInt(v.getTime()) * 1000n;
  return typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) * 1000n : undefined;
};
const asList = (v: SqlValue) => (Array.isArray(v) ? (v as readonly (string | number)[]) : undefined);

/**
 * A writer per column, chosen once per `appendRows` call from the table's column types. TIMESTAMP
 * columns take a `Date` or epoch milliseconds (both UTC instants). Column types without a writer here
 * (structs, maps, decimals, ...) are `unsupported`: write them with INSERT and bound parameters.
 */
export function cellWriter(table: string, column: number, type: DuckDBType): CellWriter {
  const fail = mismatch(table, column, type);
  switch (type.typeId) {
    case DuckDBTypeId.VARCHAR:
      return writer(fail, asString, (a, v) => a.appendVarchar(v));
    case DuckDBTypeId.BOOLEAN:
      return writer(fail, asBoolean, (a, v) => a.appendBoolean(v));
    case DuckDBTypeId.DOUBLE:
      return writer(fail, asNumber, (a, v) => a.appendDouble(v));
    case DuckDBTypeId.FLOAT:
      return writer(fail, asNumber, (a, v) => a.appendFloat(v));
    case DuckDBTypeId.TINYINT:
      return writer(fail, asInteger, (a, v) => a.appendTinyInt(v));
    case DuckDBTypeId.SMALLINT:
      return writer(fail, asInteger, (a, v) => a.appendSmallInt(v));
    case DuckDBTypeId.INTEGER:
      return writer(fail, asInteger, (a, v) => a.appendInteger(v));
    case DuckDBTypeId.UTINYINT:
      return writer(fail, asInteger, (a, v) => a.appendUTinyInt(v));
    case DuckDBTypeId.USMALLINT:
      return writer(fail, asInteger, (a, v) => a.appendUSmallInt(v));
    case DuckDBTypeId.UINTEGER:
      return writer(fail, asInteger, (a, v) => a.appendUInteger(v));
    case DuckDBTypeId.BIGINT:
      return writer(fail, asBigInt, (a, v) => a.appendBigInt(v));
    case DuckDBTypeId.UBIGINT:
      return writer(fail, asBigInt, (a, v) => a.appendUBigInt(v));
    case DuckDBTypeId.HUGEINT:
      return writer(fail, asBigInt, (a, v) => a.appendHugeInt(v));
    case DuckDBTypeId.TIMESTAMP:
      return writer(fail, asTimestampMicros, (a, v) => a.appendTimestamp(timestampValue(v)));
    case DuckDBTypeId.LIST:
      return writer(fail, asList, (a, v) => a.appendList(v, type as DuckDBListType));
    default:
      throw new LTMError(
        'unsupported',
        `appendRows(${table}): column ${column + 1} has type ${type.toString()}, which the appender path does not write; use INSERT with bound parameters`,
      );
  }
}
