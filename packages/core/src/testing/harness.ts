/**
 * What a contract suite needs from the code under test, and what it reports back. A harness is the only
 * thing an adapter author writes: a few lines that open a fresh store (backend suite) or a fresh format
 * instance on an engine (format suite).
 */
import type { CommitBatch, FormatContext, StorageFormat } from '../format.js';
import type { BackendCapabilities, LTMBackend } from '../types.js';

/**
 * How the backend contract suite opens backends. Every check opens its own fresh store with `create()`,
 * closes it when done and then calls `destroy()`, so checks never see each other's data.
 *
 * @example
 * ```ts
 * describeBackendContract({
 *   name: 'my-backend',
 *   capabilities: { persistent: true, writable: true, fullTextSearch: true, multiWriter: false },
 *   create: () => MyBackend.open({ path: freshTempPath(), maxValueBytes: 65_536 }),
 *   reopen: (closed) => MyBackend.open({ path: closed.path, maxValueBytes: 65_536 }),
 *   destroy: (backend) => rm(backend.path, { force: true }),
 *   maxValueBytes: 65_536,
 * });
 * ```
 */
export interface BackendHarness<B extends LTMBackend = LTMBackend> {
  /** Shown in the name of every check, e.g. `duckdb (native, local file)`. */
  name: string;
  /**
   * What the backends from `create()` declare; the suite checks `backend.capabilities` against it. A check
   * that needs a capability declared `false` is left out, and the checks for the refusal it implies
   * (`read_only`/`unsupported`) run instead.
   */
  capabilities: BackendCapabilities;
  /** Opens a fresh, empty store (a new temporary file, bucket prefix, ...). */
  create(): Promise<B>;
  /**
   * Opens the location of `closed` (already closed by the suite) again, as a new instance. Required when
   * `capabilities.persistent` is true; the persistence check fails without it.
   */
  reopen?(closed: B): Promise<B>;
  /**
   * Removes what `create()` made. Called once per store after the suite has closed the backend, with the
   * last instance opened on that location (the reopened one after a persistence check).
   */
  destroy?(backend: B): Promise<void>;
  /**
   * The value size limit (UTF-8 bytes of the value as JSON) the backends from `create()` enforce; default
   * 16 MiB. Configure your backend with a small limit (e.g. 64 KiB) and declare it here so the size-limit
   * check stores kilobytes rather than 16 MiB.
   */
  maxValueBytes?: number;
}

/** A format instance on its engine, ready for `format.open(context)`, which the suite itself calls. */
export interface FormatUnderTest<Engine = unknown> {
  /** Not yet opened. */
  format: StorageFormat<Engine>;
  /** Passed unchanged to `format.open()`; `readOnly` as the suite asked. */
  context: FormatContext<Engine>;
  /**
   * Runs DuckDB SQL on `context.engine` and resolves rows as plain objects keyed by column name. The suite
   * only selects from `format.relation(...)`, casting what it reads to VARCHAR, INTEGER, DOUBLE or BOOLEAN.
   */
  query(sql: string): Promise<Record<string, unknown>[]>;
  /** Releases the engine and anything else `instantiate` made; called after `format.close()`. */
  dispose?(): Promise<void>;
}

/**
 * How the format contract suite opens `StorageFormat`s. Core has no DuckDB, so the harness brings the
 * engine and a way to run SQL on it.
 *
 * @example
 * ```ts
 * describeStorageFormatContract({
 *   name: 'native',
 *   persistent: true,
 *   newLocation: () => join(tempDir, `${randomUUID()}.duckdb`),
 *   async instantiate(location, { readOnly }) {
 *     const engine = await DuckDBQueryEngine.open({ path: ':memory:' });
 *     return {
 *       format: new NativeFormat(),
 *       context: { engine, uri: location, tableName: 'ltm_store', readOnly },
 *       query: (sql) => engine.all(sql),
 *       dispose: () => engine.close(),
 *     };
 *   },
 * });
 * ```
 */
export interface StorageFormatHarness<Engine = unknown> {
  name: string;
  /** Data survives `close()` and a new instance on the same location sees it. */
  persistent: boolean;
  /** A location no store uses yet (a fresh temporary path, `:memory:`, a new bucket prefix). */
  newLocation(): string | Promise<string>;
  /**
   * A new format instance on `location`, opened read-only when asked. Create the engine here, after the
   * suite has set `process.env.TZ` for its time-zone check, so the engine picks the zone up as users' would.
   */
  instantiate(location: string, options: { readOnly: boolean }): Promise<FormatUnderTest<Engine>>;
  /** Deletes the location after a check (files, objects). */
  removeLocation?(location: string): Promise<void>;
  /**
   * Turns a valid batch into one this format must reject as a whole. The default replaces the value of
   * the batch's last put with text that is not JSON; provide this when your format does not validate JSON.
   */
  spoilBatch?(batch: CommitBatch): CommitBatch;
}

/** One check of a contract suite, as data: run it under any test runner, or none. */
export interface ContractCheck<H> {
  /** Stable, human-readable; the vitest test name. */
  name: string;
  /** When the check applies to a harness; absent means always. */
  appliesTo?(harness: H): boolean;
  /** Resolves when the check passes; rejects with an `Error` that says what broke. */
  run(harness: H): Promise<void>;
}

export interface ContractFailure {
  check: string;
  error: Error;
}

export interface ContractReport {
  harness: string;
  passed: string[];
  failed: ContractFailure[];
  /** Checks left out because the harness declares a capability they need as absent. */
  notApplicable: string[];
}

export interface RunContractOptions {
  /** Per check; a check still running after it fails with a timeout message. Default 60 s. */
  timeoutMs?: number;
  /** Run only the checks whose name this accepts. */
  filter?(name: string): boolean;
}

export const DEFAULT_CHECK_TIMEOUT_MS = 60_000;

/** Runs checks one after another (some set `process.env.TZ`, which is process-wide). Never rejects. */
export async function runContractChecks<H extends { name: string }>(
  checks: readonly ContractCheck<H>[],
  harness: H,
  options: RunContractOptions = {},
): Promise<ContractReport> {
  const report: ContractReport = { harness: harness.name, passed: [], failed: [], notApplicable: [] };
  for (const check of checks) {
    if (options.filter !== undefined && !options.filter(check.name)) continue;
    if (check.appliesTo !== undefined && !check.appliesTo(harness)) {
      report.notApplicable.push(check.name);
      continue;
    }
    try {
      await withTimeout(check.run(harness), options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS, check.name);
      report.passed.push(check.name);
    } catch (error) {
      report.failed.push({ check: check.name, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }
  return report;
}

async function withTimeout(work: Promise<void>, ms: number, name: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`check "${name}" did not finish within ${ms} ms (a call hangs?)`)), ms);
    timer.unref();
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
