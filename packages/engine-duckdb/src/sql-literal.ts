import { LTMError } from '@ltm/core';

// In a `u` regex a surrogate pair is one code point, so only an unpaired half matches.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Quotes `value` as a DuckDB string literal. This is the only place in the package that puts a value
 * into SQL text, and it exists for the few statements DuckDB's parser will not take a bound parameter in
 * (`ATTACH '<path>'`, `INSTALL ... FROM '<repository>'`); everything else is bound.
 *
 * DuckDB's standard string literal ends only at a `'` that is not doubled: a backslash is an ordinary
 * character (escapes need the `E'...'` form, which this never produces), as are newlines, `$1`, `--`, `;`
 * and every other character. So doubling `'` makes any text round-trip exactly, with two exceptions this
 * refuses instead: NUL, which DuckDB's C API truncates at, and lone surrogates, which are not Unicode
 * text and would not survive the UTF-8 conversion.
 */
export function quoteStringLiteral(value: string): string {
  if (typeof value !== 'string') {
    throw new LTMError('validation_error', `expected a string for an SQL literal, got ${typeof value}`);
  }
  if (value.includes('\0')) throw new LTMError('validation_error', 'a path or URL must not contain a NUL character');
  if (LONE_SURROGATE.test(value)) throw new LTMError('validation_error', 'a path or URL must be well-formed Unicode (it has a lone surrogate)');
  return `'${value.replaceAll("'", "''")}'`;
}
