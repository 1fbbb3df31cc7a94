/**
 * The backend registry: `createLTMBackend('duckdb', options)` finds the factory a backend package
 * registered when it was imported (`import '@ltm/backend-duckdb'`), checks the option keys against the
 * ones that backend declared, and opens it. The reference `memory` backend is registered here.
 *
 * Option keys are camelCase in code; the story's snake_case spelling (`table_name`) is accepted too,
 * anywhere options are given, because agent YAML written for the Python framework uses it.
 */
import { LTMError, toFailure } from './errors.js';
import { MemoryBackend } from './memory-backend.js';
import type { MemoryBackendOptions } from './memory-backend.js';
import type { LTMBackend } from './types.js';
import { describeType } from './validation.js';

/** Opens a backend from camelCase options whose keys the registry has already checked. */
export type BackendFactory = (options: Record<string, unknown>) => Promise<LTMBackend> | LTMBackend;

export interface RegisterBackendOptions {
  /** Every camelCase option name the backend accepts; any other key is a `validation_error`. */
  optionKeys: readonly string[];
  /** Replace an existing registration of the same name instead of failing. */
  replace?: boolean;
}

export interface BackendInfo {
  /** Lower-case registered name. */
  name: string;
  optionKeys: readonly string[];
}

/** One option under its canonical camelCase name, with the spelling the caller used. */
export interface ResolvedOption {
  key: string;
  given: string;
  value: unknown;
}

export interface ResolveOptionsContext {
  /** Where the options came from, for messages: `options` (code, the default) or `settings.ltm`. */
  where?: string;
  /** Spelling used when listing valid keys: `camel` for code (default), `snake` for agent YAML. */
  style?: 'camel' | 'snake';
}

interface Registration {
  factory: BackendFactory;
  optionKeys: readonly string[];
}

const registry = new Map<string, Registration>();

const BACKEND_NAME = /^[a-z][a-z0-9_-]*$/;
const CAMEL_KEY = /^[a-z][A-Za-z0-9]*$/;
const SNAKE_KEY = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/;

/** First-party backends that live in their own package, so "unknown" can name the package to import. */
const BACKEND_PACKAGES: Readonly<Record<string, string>> = { duckdb: '@ltm/backend-duckdb' };

export function registerBackend(name: string, factory: BackendFactory, options: RegisterBackendOptions): void {
  const normalized = normalizeName(name);
  if (typeof factory !== 'function') {
    throw new LTMError('validation_error', `registerBackend("${normalized}"): factory must be a function`);
  }
  if (options === null || typeof options !== 'object' || !Array.isArray(options.optionKeys)) {
    throw new LTMError('validation_error', `registerBackend("${normalized}"): give { optionKeys: [...] }`);
  }
  const seen = new Set<string>();
  for (const key of options.optionKeys) {
    if (typeof key !== 'string' || !CAMEL_KEY.test(key)) {
      throw new LTMError(
        'validation_error',
        `registerBackend("${normalized}"): option key ${JSON.stringify(key)} must be camelCase (letters and digits, starting with a lower-case letter)`,
      );
    }
    if (seen.has(key)) throw new LTMError('validation_error', `registerBackend("${normalized}"): option key ${key} is listed twice`);
    seen.add(key);
  }
  if (registry.has(normalized) && options.replace !== true) {
    throw new LTMError(
      'validation_error',
      `an LTM backend named "${normalized}" is already registered; pass { replace: true } to replace it`,
    );
  }
  registry.set(normalized, { factory, optionKeys: Object.freeze([...options.optionKeys]) });
}

/** Removes a registration; `false` when the name was not registered. */
export function unregisterBackend(name: string): boolean {
  return registry.delete(normalizeName(name));
}

/** Registered backends, sorted by name. */
export function listBackends(): BackendInfo[] {
  return [...registry.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, { optionKeys }]) => ({ name, optionKeys }));
}

/** The option keys a registered backend accepts; rejects an unknown name like `createLTMBackend` does. */
export function backendOptionKeys(name: string): readonly string[] {
  return lookup(name).registration.optionKeys;
}

/**
 * Opens a registered backend. Option keys may be camelCase or snake_case; members whose value is
 * `undefined` are ignored (so `{ ...defaults, uri: maybeUri }` works). Rejects with `LTMError`: an
 * unknown backend or option key is a `validation_error`; an open failure keeps the backend's errorType.
 */
export async function createLTMBackend(name: string, options: object = {}): Promise<LTMBackend> {
  const { name: normalized, registration } = lookup(name);
  const resolved = resolveBackendOptions(normalized, options);
  const factoryOptions: Record<string, unknown> = {};
  for (const { key, value } of resolved) if (value !== undefined) factoryOptions[key] = value;
  let backend: unknown;
  try {
    backend = await registration.factory(factoryOptions);
  } catch (error) {
    if (error instanceof LTMError) throw error;
    const { errorType, error: message } = toFailure(error);
    throw new LTMError(errorType, `opening LTM backend "${normalized}" failed: ${message}`, { cause: error });
  }
  if (!isBackend(backend)) {
    throw new LTMError(
      'query_error',
      `the factory registered for LTM backend "${normalized}" resolved to ${describeType(backend)}, not an LTMBackend`,
    );
  }
  return backend;
}

/** Opens the backend a parsed `settings.ltm` names (see `parseLtmSettings`). */
export async function createLTMBackendFromSettings(settings: {
  backend: string;
  options: Record<string, unknown>;
}): Promise<LTMBackend> {
  if (settings === null || typeof settings !== 'object') {
    throw new LTMError('validation_error', 'createLTMBackendFromSettings takes the result of parseLtmSettings');
  }
  return createLTMBackend(settings.backend, settings.options);
}

/**
 * Checks option keys against a registered backend's `optionKeys` and maps each to its camelCase name.
 * Every unknown key is reported at once, with the closest valid key and the full list; a key given in
 * both spellings (`table_name` and `tableName`) is an error too. Values are not inspected.
 */
export function resolveBackendOptions(
  backend: string,
  options: object,
  context: ResolveOptionsContext = {},
): ResolvedOption[] {
  const { name, registration } = lookup(backend);
  const where = context.where ?? 'options';
  const style = context.style ?? 'camel';
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new LTMError('validation_error', `${where} must be an object, got ${describeType(options)}`);
  }
  const valid = new Set(registration.optionKeys);
  const resolved: ResolvedOption[] = [];
  const givenAs = new Map<string, string>();
  const unknown: string[] = [];
  for (const [given, value] of Object.entries(options)) {
    const key = SNAKE_KEY.test(given) ? snakeToCamel(given) : given;
    if (!valid.has(key)) {
      unknown.push(given);
      continue;
    }
    const earlier = givenAs.get(key);
    if (earlier !== undefined) {
      throw new LTMError('validation_error', `${where} gives both ${earlier} and ${given}, which name the same option; keep one`);
    }
    givenAs.set(key, given);
    resolved.push({ key, given, value });
  }
  if (unknown.length > 0) {
    const problems = unknown.map((given) => {
      const suggestions = suggestKeys(given, registration.optionKeys);
      if (suggestions.length === 0) return given;
      const spelled = suggestions.map((key) => spell(key, suggestionStyle(given, style)));
      return `${given} (did you mean ${spelled.join(' or ')}?)`;
    });
    const listed = registration.optionKeys.map((key) => spell(key, style)).join(', ') || '(none)';
    throw new LTMError(
      'validation_error',
      `${where}: unknown ${unknown.length === 1 ? 'key' : 'keys'} for LTM backend "${name}": ${problems.join(', ')}. ` +
        `Valid keys: ${listed} (snake_case and camelCase spellings are both accepted)`,
    );
  }
  return resolved;
}

function snakeToCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_match, next: string) => next.toUpperCase());
}

function camelToSnake(key: string): string {
  return key.replace(/[A-Z]/g, (upper) => `_${upper.toLowerCase()}`);
}

function lookup(name: string): { name: string; registration: Registration } {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new LTMError('validation_error', `LTM backend name must be a non-empty string, got ${describeType(name)}`);
  }
  const normalized = name.trim().toLowerCase();
  const registration = registry.get(normalized);
  if (registration !== undefined) return { name: normalized, registration };
  const available = [...registry.keys()].sort().join(', ') || '(none)';
  const pkg = BACKEND_PACKAGES[normalized];
  if (pkg !== undefined) {
    throw new LTMError(
      'dependency_missing',
      `LTM backend "${normalized}" is not registered: install ${pkg} and import it once (import '${pkg}') before opening it. Registered backends: ${available}`,
    );
  }
  throw new LTMError(
    'validation_error',
    `unknown LTM backend "${normalized}". Registered backends: ${available}. ` +
      `A backend package registers itself when imported, e.g. import '@ltm/backend-duckdb'`,
  );
}

function normalizeName(name: string): string {
  const normalized = typeof name === 'string' ? name.trim().toLowerCase() : '';
  if (!BACKEND_NAME.test(normalized)) {
    throw new LTMError(
      'validation_error',
      `backend name ${JSON.stringify(name)} must start with a letter and contain only letters, digits, _ and -`,
    );
  }
  return normalized;
}

function isBackend(value: unknown): value is LTMBackend {
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Record<string, unknown>;
  return ['store', 'retrieve', 'delete', 'search', 'close'].every((method) => typeof candidate[method] === 'function');
}

function spell(key: string, style: 'camel' | 'snake'): string {
  return style === 'snake' ? camelToSnake(key) : key;
}

/** Suggest in the spelling the caller used: an underscore means snake_case, an upper-case letter camelCase. */
function suggestionStyle(given: string, fallback: 'camel' | 'snake'): 'camel' | 'snake' {
  if (given.includes('_')) return 'snake';
  if (/[A-Z]/.test(given)) return 'camel';
  return fallback;
}

/**
 * Valid keys a wrong one probably meant. A key missing its family prefix (`region` for `s3Region`,
 * `secret_access_key` for the S3 and GCS ones) matches whole trailing words; otherwise the nearest key
 * within a few typos, compared without case or underscores (so `Table_Nmae` finds `tableName`).
 */
function suggestKeys(given: string, keys: readonly string[]): string[] {
  const target = squash(given);
  if (target.length >= 4) {
    const suffixed = keys.filter((key) => trailingWords(key).includes(target));
    if (suffixed.length > 0) return suffixed.slice(0, 3);
  }
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const key of keys) {
    const distance = editDistance(target, squash(key));
    if (distance < bestDistance) {
      best = key;
      bestDistance = distance;
    }
  }
  const tolerance = Math.max(1, Math.floor(target.length / 4));
  return best !== undefined && bestDistance <= tolerance ? [best] : [];
}

/** `s3SecretAccessKey` → `secretaccesskey`, `accesskey`, `key` (the whole key is not a suffix of itself). */
function trailingWords(key: string): string[] {
  const words = key.split(/(?=[A-Z])/).map((word) => word.toLowerCase());
  return words.slice(1).map((_word, index) => words.slice(index + 1).join(''));
}

function squash(key: string): string {
  return key.replace(/[_-]/g, '').toLowerCase();
}

/**
 * Optimal string alignment distance: Levenshtein plus adjacent transpositions, the commonest typo
 * (`tabel`). Keys are short, so the quadratic table is cheap.
 */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      d[i * cols + j] = value;
    }
  }
  return at(a.length, b.length);
}

// The keys were checked against optionKeys; MemoryBackend validates the values itself.
registerBackend('memory', (options) => MemoryBackend.open(options as MemoryBackendOptions), { optionKeys: ['maxValueBytes'] });
