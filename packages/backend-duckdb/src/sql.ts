/** SQL fragments shared by the backend's queries. Placeholders are passed in; no value is ever spliced. */
import type { EntryRow } from '@ltm/core';

/** TRUE when the entry row `alias` has not expired at the instant bound to `nowPlaceholder` (epoch ms). */
export function liveCondition(alias: string, nowPlaceholder: string): string {
  return `(${alias}.expires_at IS NULL OR ${alias}.expires_at > make_timestamp(CAST(${nowPlaceholder} AS BIGINT) * 1000))`;
}

/** The entries relation's columns as the backend reads them: timestamps as epoch milliseconds (UTC). */
export const ENTRY_COLUMNS =
  'key, value, metadata, epoch_ms(created_at) AS created_at, epoch_ms(updated_at) AS updated_at, epoch_ms(expires_at) AS expires_at';

export interface EntryColumns {
  key: string;
  value: string;
  metadata: string | null;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
}

/** A row read with `ENTRY_COLUMNS`, as the entry the format was given. */
export function toEntryRow(row: EntryColumns): EntryRow {
  return {
    key: row.key,
    value: row.value,
    metadata: row.metadata ?? '{}',
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}
