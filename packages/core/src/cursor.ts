/**
 * Opaque pagination cursors: base64url JSON tagged with what they page, so a cursor from `list`
 * handed to `search` (or a mangled one) is a clear `validation_error`, not a wrong page.
 */
import { LTMError } from './errors.js';
import type { JsonValue } from './json.js';

export function encodeCursor(kind: string, position: JsonValue): string {
  return Buffer.from(JSON.stringify({ k: kind, p: position }), 'utf8').toString('base64url');
}

export function decodeCursor(kind: string, cursor: string): JsonValue {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown; p?: JsonValue };
    if (parsed && parsed.k === kind && parsed.p !== undefined) return parsed.p;
  } catch {
    // fall through to the error below
  }
  throw new LTMError('validation_error', `cursor is not a ${kind} cursor from this backend; pass nextCursor unchanged`);
}
