/**
 * `settings.ltm` in agent YAML → `{ backend, options }` for `createLTMBackend`.
 *
 * ```yaml
 * settings:
 *   ltm:
 *     backend: duckdb
 *     uri: "s3://my-bucket/agents/cache.duckdb"
 *     s3_region: ${AWS_REGION:-us-east-1}
 * ```
 *
 * Rules, in the order they apply:
 * 1. Input is YAML text or an already-parsed object: either the agent document (it has a `settings`
 *    key, and the mapping is `settings.ltm`) or the `ltm` mapping itself (it has no `settings` key).
 * 2. `backend` names a registered backend (case-insensitive); the other keys must be among that
 *    backend's `optionKeys`, in snake_case or camelCase. Unknown keys are errors, with a suggestion.
 * 3. Every string value, at any depth, expands `${VAR}`, `${VAR:-default}` (default when unset or
 *    empty) and `${VAR-default}` (default when unset); `$${` is a literal `${`. An unset `${VAR}`
 *    without default is an error naming the variable.
 * 4. A value made by expansion is typed the way YAML would type the same text written inline, for
 *    keys that expect a boolean or a number: `enable_fts: ${FTS}` with `FTS=true` is `true`. A value
 *    that expands to the empty string counts as not given. Literal YAML strings are never re-typed.
 * 5. The common keys are type-checked (`validateCommonOptions`); `null` is refused.
 *
 * Messages name keys and environment variables, never values: they may be credentials.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { LTMError } from './errors.js';
import { resolveBackendOptions } from './registry.js';
import { describeType } from './validation.js';

export interface LtmSettings {
  /** Lower-case registered backend name. */
  backend: string;
  /** camelCase option keys, ready for `createLTMBackend(backend, options)`. */
  options: Record<string, unknown>;
}

export interface ParseLtmSettingsOptions {
  /** Variables for `${VAR}` expansion; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

const text = () => z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });
const flag = () => z.boolean({ error: 'must be true or false' });
const positiveInteger = () =>
  z
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .positive({ error: 'must be greater than 0' });

/**
 * Types of the option keys shared by the first-party backends. A backend accepts only the keys it
 * registered; this schema checks those of them it knows and lets the rest through to the backend.
 */
const commonOptionsSchema = z
  .object({
    uri: text(),
    tableName: z
      .string({ error: 'must be a string' })
      .regex(IDENTIFIER, { error: 'must be an identifier: letters, digits and _, not starting with a digit' }),
    // In code, `format` may also be a `StorageFormat` instance; YAML cannot express one.
    format: z.union(
      [
        z.enum(['auto', 'native', 'parquet']),
        z.custom<object>((value) => typeof (value as { open?: unknown } | null)?.open === 'function'),
      ],
      { error: 'must be one of auto, native, parquet (or a StorageFormat object, in code)' },
    ),
    enableFts: flag(),
    searchEngine: text(),
    maxValueBytes: positiveInteger(),
    poolSize: positiveInteger(),
    acquireTimeoutMs: z.number({ error: 'must be a number' }).positive({ error: 'must be greater than 0' }),
    readOnly: flag(),
    s3Region: text(),
    s3Endpoint: text(),
    s3AccessKeyId: text(),
    s3SecretAccessKey: text(),
    s3SessionToken: text(),
    s3UrlStyle: z.enum(['path', 'vhost'], { error: 'must be path or vhost' }),
    s3UseSsl: flag(),
    gcsAccessKeyId: text(),
    gcsSecretAccessKey: text(),
    azureConnectionString: text(),
    azureAccountName: text(),
    azureAccountKey: text(),
    extensionDirectory: text(),
  })
  .partial()
  .loose();

type ValueKind = 'boolean' | 'number' | 'other';

const KEY_KINDS: ReadonlyMap<string, ValueKind> = new Map(
  Object.entries(commonOptionsSchema.shape).map(([key, field]) => {
    const inner = field.unwrap();
    const kind: ValueKind = inner instanceof z.ZodBoolean ? 'boolean' : inner instanceof z.ZodNumber ? 'number' : 'other';
    return [key, kind];
  }),
);

/**
 * Type-checks the common option keys present in camelCase `options` (others pass untouched). Throws a
 * `validation_error` listing every problem. Backends call this on options given in code too.
 */
export function validateCommonOptions(
  options: Record<string, unknown>,
  describeKey: (key: string) => string = (key) => `options.${key}`,
): void {
  const parsed = commonOptionsSchema.safeParse(options);
  if (parsed.success) return;
  // Report in the order the keys were given, which is the order a reader of the YAML sees them.
  const order = Object.keys(options);
  const position = (key: PropertyKey | undefined): number => (typeof key === 'string' ? order.indexOf(key) : -1);
  const issues = [...parsed.error.issues].sort((a, b) => position(a.path[0]) - position(b.path[0]));
  const problems = issues.map((issue) => {
    const key = issue.path[0];
    return typeof key === 'string' ? `${describeKey(key)} ${issue.message}` : issue.message;
  });
  throw new LTMError('validation_error', problems.join('; '));
}

export function parseLtmSettings(input: string | object, options: ParseLtmSettingsOptions = {}): LtmSettings {
  const env = options.env ?? process.env;
  const document = typeof input === 'string' ? parseDocument(input) : input;
  const mapping = locateLtmMapping(document);
  const missing = new Map<string, string[]>();
  const expand = (value: unknown, path: string) => expandDeep(value, path, env, missing);

  const { backend: rawBackend, ...rest } = mapping;
  if (rawBackend === undefined || rawBackend === null) {
    throw new LTMError('validation_error', 'settings.ltm.backend is required, e.g. backend: duckdb');
  }
  const backendValue = expand(rawBackend, 'settings.ltm.backend');
  throwIfMissing(missing);
  if (typeof backendValue.value !== 'string') {
    throw new LTMError('validation_error', `settings.ltm.backend must be a string, got ${describeType(backendValue.value)}`);
  }
  const backend = backendValue.value.trim().toLowerCase();

  const present = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
  const resolved = resolveBackendOptions(backend, present, { where: 'settings.ltm', style: 'snake' });

  const result: Record<string, unknown> = {};
  const label = new Map<string, string>();
  const substitutedKeys = new Set<string>();
  for (const { key, given, value } of resolved) {
    const path = `settings.ltm.${given}`;
    label.set(key, path);
    if (value === null) {
      throw new LTMError('validation_error', `${path} is empty (null); give a value or remove the key`);
    }
    const expanded = expand(value, path);
    if (!expanded.substituted) {
      result[key] = expanded.value;
      continue;
    }
    substitutedKeys.add(key);
    if (expanded.value === '') continue;
    result[key] = typeAsYaml(expanded.value, KEY_KINDS.get(key) ?? 'other');
  }
  throwIfMissing(missing);

  validateCommonOptions(result, (key) => {
    const path = label.get(key) ?? `settings.ltm.${key}`;
    return substitutedKeys.has(key) ? `${path} (from an environment variable)` : path;
  });
  return { backend, options: result };
}

function parseDocument(source: string): unknown {
  try {
    return parseYaml(source, { logLevel: 'error' });
  } catch (error) {
    if (error instanceof YAMLParseError) {
      // The message's later lines quote the offending source line, which may hold a credential.
      const headline = (error.message.split('\n')[0] ?? '').replace(/:$/, '');
      throw new LTMError('validation_error', `agent YAML is not valid: ${headline}`, { cause: error });
    }
    throw error;
  }
}

/**
 * An object with a `settings` key is an agent document; one without it is the `ltm` mapping, which
 * must then have a `backend` key (so a stray object is reported, not read as an empty mapping).
 */
function locateLtmMapping(document: unknown): Record<string, unknown> {
  if (!isPlainObject(document)) {
    throw new LTMError(
      'validation_error',
      `settings.ltm input must be YAML text or an object (the agent document or its settings.ltm mapping), got ${describeType(document)}`,
    );
  }
  if (!('settings' in document)) {
    if ('backend' in document) return document;
    const hint = 'ltm' in document ? ' (this object has an ltm key: pass the agent document or the ltm mapping, not settings)' : '';
    throw new LTMError(
      'validation_error',
      `no settings.ltm found: expected an agent document with settings.ltm, or the ltm mapping itself with a backend key${hint}`,
    );
  }
  const settings = document.settings;
  if (!isPlainObject(settings)) {
    throw new LTMError('validation_error', `settings in the agent document must be a mapping, got ${describeType(settings)}`);
  }
  const ltm = settings.ltm;
  if (ltm === undefined || ltm === null) {
    throw new LTMError('validation_error', 'the agent document has no settings.ltm mapping (add settings: { ltm: { backend: ... } })');
  }
  if (!isPlainObject(ltm)) {
    throw new LTMError('validation_error', `settings.ltm must be a mapping, got ${describeType(ltm)}`);
  }
  return ltm;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

interface Expanded {
  value: unknown;
  /** Some `${...}` reference was replaced in this value (escapes do not count). */
  substituted: boolean;
}

// `$${` escapes; `${...}` is a reference; a `${` left over has no closing brace.
const REFERENCE = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const REFERENCE_BODY = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([\s\S]*))?$/;

function expandDeep(
  value: unknown,
  path: string,
  env: Readonly<Record<string, string | undefined>>,
  missing: Map<string, string[]>,
): Expanded {
  if (typeof value === 'string') return expandString(value, path, env, missing);
  if (Array.isArray(value)) {
    let substituted = false;
    const items = value.map((item, index) => {
      const expanded = expandDeep(item, `${path}[${index}]`, env, missing);
      substituted ||= expanded.substituted;
      return expanded.value;
    });
    return { value: items, substituted };
  }
  if (isPlainObject(value)) {
    let substituted = false;
    const entries = Object.entries(value).map(([member, item]) => {
      const expanded = expandDeep(item, `${path}.${member}`, env, missing);
      substituted ||= expanded.substituted;
      return [member, expanded.value] as const;
    });
    return { value: Object.fromEntries(entries), substituted };
  }
  return { value, substituted: false };
}

function expandString(
  source: string,
  path: string,
  env: Readonly<Record<string, string | undefined>>,
  missing: Map<string, string[]>,
): Expanded {
  let substituted = false;
  const value = source.replace(REFERENCE, (match: string, body: string | undefined) => {
    if (match === '$${') return '${';
    const parts = body === undefined ? null : REFERENCE_BODY.exec(body);
    if (parts === null) {
      throw new LTMError(
        'validation_error',
        `${path} has a malformed \${...} reference: write \${NAME}, \${NAME:-default} or \${NAME-default} ` +
          '(NAME: letters, digits and _), or $${ for a literal ${',
      );
    }
    substituted = true;
    const [, name = '', operator, fallback = ''] = parts;
    const current = env[name];
    if (operator === ':-' && (current === undefined || current === '')) return fallback;
    if (operator === '-' && current === undefined) return fallback;
    if (current === undefined) {
      const uses = missing.get(name) ?? [];
      uses.push(path);
      missing.set(name, uses);
      return '';
    }
    return current;
  });
  return { value, substituted };
}

function throwIfMissing(missing: Map<string, string[]>): void {
  if (missing.size === 0) return;
  const listed = [...missing].map(([name, paths]) => `${name} (used in ${paths.join(', ')})`).join('; ');
  throw new LTMError(
    'validation_error',
    `environment ${missing.size === 1 ? 'variable' : 'variables'} not set: ${listed}. ` +
      'Set it, or give a default with ${NAME:-default}',
  );
}

/**
 * Types expanded text the way YAML would type it written inline (YAML 1.2 core schema: `true`,
 * `False`, `42`, `0x2A`, `1e3`), but only into the kind the key expects; anything else stays a string
 * and the type check reports it.
 */
function typeAsYaml(value: unknown, kind: ValueKind): unknown {
  if (typeof value !== 'string' || kind === 'other') return value;
  let typed: unknown;
  try {
    typed = parseYaml(value, { logLevel: 'silent' });
  } catch {
    return value;
  }
  return typeof typed === kind ? typed : value;
}
