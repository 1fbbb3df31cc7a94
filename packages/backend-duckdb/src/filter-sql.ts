/**
 * Compiles metadata filters (core's `FilterCondition`s) to DuckDB SQL over a JSON column. Field names
 * become RFC 6901 JSON Pointers and travel as bound parameters, like every operand: nothing a user
 * writes is spliced into the SQL text. Each condition is exact to core's `matchesFilter`:
 * strict JSON equality (object member order ignored), missing ≠ null, comparisons only between two
 * numbers or two strings (strings in UTF-8 byte order, DuckDB's default collation).
 */
import type { FilterCondition, JsonValue } from '@ltm/core';

const NUMERIC_TYPES = "('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')";

export class SqlParams {
  readonly values: (string | number | readonly string[])[] = [];
  constructor(private readonly offset = 0) {}

  /** Adds a value and returns its placeholder. */
  add(value: string | number | readonly string[]): string {
    this.values.push(value);
    return `$${this.offset + this.values.length}`;
  }
}

function pointer(segments: readonly string[]): string {
  return segments.map((s) => '/' + s.replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

// SQL does not short-circuit AND: the type test does not stop a CAST of a string or array, hence TRY_CAST.

/**
 * SQL that is TRUE when the JSON at `ptr` in `column` strictly equals `value` and FALSE otherwise
 * (including when the path is missing). Composite operands expand into one check per member, so
 * `{ a: 1 }` never equals `{ a: 1, b: 2 }`, and `[1, 2]` never equals `[2, 1]`.
 */
function equalsSql(column: string, ptr: string, value: JsonValue, params: SqlParams): string {
  const p = params.add(ptr);
  const type = `json_type(${column}, ${p})`;
  if (value === null) return `coalesce(${type} = 'NULL', false)`;
  switch (typeof value) {
    case 'boolean':
      return `coalesce(${type} = 'BOOLEAN' AND json_extract_string(${column}, ${p}) = ${params.add(String(value))}, false)`;
    case 'number':
      return `coalesce(${type} IN ${NUMERIC_TYPES} AND TRY_CAST(json_extract(${column}, ${p}) AS DOUBLE) = CAST(${params.add(value)} AS DOUBLE), false)`;
    case 'string':
      return `coalesce(${type} = 'VARCHAR' AND json_extract_string(${column}, ${p}) = ${params.add(value)}, false)`;
    default:
      break;
  }
  if (Array.isArray(value)) {
    const parts = [`coalesce(${type} = 'ARRAY' AND json_array_length(${column}, ${p}) = ${params.add(value.length)}, false)`];
    value.forEach((item, index) => parts.push(equalsSql(column, `${ptr}/${index}`, item, params)));
    return `(${parts.join(' AND ')})`;
  }
  const entries = Object.entries(value);
  const parts = [`coalesce(${type} = 'OBJECT' AND len(json_keys(${column}, ${p})) = ${params.add(entries.length)}, false)`];
  for (const [member, item] of entries) parts.push(equalsSql(column, `${ptr}${pointer([member])}`, item, params));
  return `(${parts.join(' AND ')})`;
}

/**
 * Core resolves dotted paths through objects only; a JSON Pointer would also step into arrays
 * (`tags.0`), so every intermediate step must be an object.
 */
function parentsAreObjects(column: string, path: readonly string[], params: SqlParams): string[] {
  const checks: string[] = [];
  for (let depth = 1; depth < path.length; depth += 1) {
    checks.push(`coalesce(json_type(${column}, ${params.add(pointer(path.slice(0, depth)))}) = 'OBJECT', false)`);
  }
  return checks;
}

function conditionSql(column: string, condition: FilterCondition, params: SqlParams): string {
  const { path, op, operand } = condition;
  const ptr = pointer(path);
  const present = (): string =>
    [...parentsAreObjects(column, path, params), `json_type(${column}, ${params.add(ptr)}) IS NOT NULL`].join(' AND ');
  const equals = (value: JsonValue): string =>
    [...parentsAreObjects(column, path, params), equalsSql(column, ptr, value, params)].join(' AND ');

  switch (op) {
    case '$eq':
      return `(${equals(operand)})`;
    case '$ne':
      return `NOT (${equals(operand)})`;
    case '$in': {
      const options = (operand as JsonValue[]).map((v) => `(${equals(v)})`);
      return options.length === 0 ? 'false' : `(${options.join(' OR ')})`;
    }
    case '$nin': {
      const options = (operand as JsonValue[]).map((v) => `(${equals(v)})`);
      return options.length === 0 ? 'true' : `NOT (${options.join(' OR ')})`;
    }
    case '$exists':
      return operand === true ? `coalesce(${present()}, false)` : `NOT coalesce(${present()}, false)`;
    default: {
      const sqlOp = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' }[op];
      const checks = parentsAreObjects(column, path, params);
      const p = params.add(ptr);
      if (typeof operand === 'number') {
        checks.push(
          `json_type(${column}, ${p}) IN ${NUMERIC_TYPES}`,
          `TRY_CAST(json_extract(${column}, ${p}) AS DOUBLE) ${sqlOp} CAST(${params.add(operand)} AS DOUBLE)`,
        );
      } else {
        checks.push(
          `json_type(${column}, ${p}) = 'VARCHAR'`,
          `json_extract_string(${column}, ${p}) ${sqlOp} ${params.add(operand as string)}`,
        );
      }
      return `coalesce(${checks.join(' AND ')}, false)`;
    }
  }
}

/** `TRUE` for no conditions, else the conjunction of all conditions. */
export function filterSql(column: string, conditions: readonly FilterCondition[], params: SqlParams): string {
  if (conditions.length === 0) return 'true';
  return conditions.map((condition) => `(${conditionSql(column, condition, params)})`).join(' AND ');
}
