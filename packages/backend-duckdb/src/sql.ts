/** SQL fragments shared by the backend's queries. Placeholders are passed in; no value is ever spliced. */

/** TRUE when the entry row `alias` has not expired at the instant bound to `nowPlaceholder` (epoch ms). */
export function liveCondition(alias: string, nowPlaceholder: string): string {
  return `(${alias}.expires_at IS NULL OR ${alias}.expires_at > make_timestamp(CAST(${nowPlaceholder} AS BIGINT) * 1000))`;
}
