import { LTMError } from '@ltm/core';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Validates an SQL identifier (letters, digits, `_`, not starting with a digit) and double-quotes it.
 * Quoting keeps reserved words usable as names; validation means no name can carry SQL of its own.
 */
export function quoteIdentifier(name: string): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw new LTMError(
      'validation_error',
      `invalid SQL identifier ${JSON.stringify(name)}: use letters, digits and _ only, not starting with a digit`,
    );
  }
  return `"${name}"`;
}

/** Splits `table` or `schema.table` into validated parts (each checked like `quoteIdentifier`). */
export function parseQualifiedName(name: string): { schema: string | null; table: string } {
  const parts = typeof name === 'string' ? name.split('.') : [];
  if (parts.length === 1 || parts.length === 2) {
    for (const part of parts) quoteIdentifier(part);
    return parts.length === 2 ? { schema: parts[0]!, table: parts[1]! } : { schema: null, table: parts[0]! };
  }
  throw new LTMError(
    'validation_error',
    `invalid table name ${JSON.stringify(name)}: use "table" or "schema.table" with letters, digits and _ only`,
  );
}
