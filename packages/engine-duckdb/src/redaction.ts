/**
 * Keeps credentials out of every message this package produces. Two layers: URL parameters that carry
 * credentials by name (pre-signed S3/GCS URLs, Azure SAS tokens), which DuckDB echoes in messages; and the
 * exact secret values this process handed to DuckDB, whatever the text around them.
 */

const CREDENTIAL_PARAMS =
  /([?&](?:X-Amz-Credential|X-Amz-Signature|X-Amz-Security-Token|X-Goog-Credential|X-Goog-Signature|sig|se|sp|sv|st|skoid|sktid|token|access_token|key)=)[^&\s'"]*/gi;
// Azure connection strings and SAS tokens may also appear as `AccountKey=...;` / `SharedAccessSignature=...`.
const CONNECTION_STRING_SECRETS = /((?:AccountKey|SharedAccessSignature|SharedAccessKey)=)[^;\s'"]*/gi;

/** Secret values registered by live engines, with a count of how many registered each. */
const sensitive = new Map<string, number>();

/** Shorter values are not scrubbed: they would match ordinary words (and no real key is this short). */
const MIN_SCRUBBED_LENGTH = 6;

/**
 * Remembers `values` as secrets to scrub from every message until the returned function is called.
 * Each value is also scrubbed in its URL-encoded form, the way it would appear inside a URL.
 */
export function registerSensitiveValues(values: readonly string[]): () => void {
  const forms = new Set<string>();
  for (const value of values) {
    if (value.length < MIN_SCRUBBED_LENGTH) continue;
    forms.add(value);
    forms.add(encodeURIComponent(value));
  }
  for (const form of forms) sensitive.set(form, (sensitive.get(form) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const form of forms) {
      const count = (sensitive.get(form) ?? 1) - 1;
      if (count === 0) sensitive.delete(form);
      else sensitive.set(form, count);
    }
  };
}

/** Removes credential-bearing URL parameters and every registered secret value from a message. */
export function redactCredentials(message: string): string {
  let text = message.replace(CREDENTIAL_PARAMS, '$1<redacted>').replace(CONNECTION_STRING_SECRETS, '$1<redacted>');
  // Longest first, so a value containing another registered value is removed whole.
  for (const value of [...sensitive.keys()].sort((a, b) => b.length - a.length)) {
    if (text.includes(value)) text = text.split(value).join('<redacted>');
  }
  return text;
}

/** A URI fit for messages and stats: no `user:password@`, no credential-bearing query parameters. */
export function displayUri(uri: string): string {
  return redactCredentials(uri.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@]*@/, '$1'));
}
