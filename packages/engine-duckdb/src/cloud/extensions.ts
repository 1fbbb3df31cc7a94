import { LTMError } from '@ltm/core';
import { EngineError, failureOrigin } from '../errors.js';
import { EXTENSION_NAMES, defaultExtensionDirectory, type ExtensionName } from './extension-directory.js';
import { duckDBTarget, installExtensions } from './install.js';

export interface ExtensionOptions {
  /** Where the binaries are; default `defaultExtensionDirectory()` (`$LTM_EXTENSION_DIR`, else a per-user cache). */
  directory?: string;
  /**
   * Let the engine download a missing extension from DuckDB's repository (default false: nothing is
   * fetched behind the user's back, and an offline machine fails at once with the fix instead of waiting).
   */
  allowInstall?: boolean;
  /** Repository for those downloads (a mirror); default DuckDB's own. */
  repository?: string;
  /** Bound on one download (default 30 000 ms). */
  installTimeoutMs?: number;
}

export interface ExtensionReport {
  /** The extension directory, once an extension was needed (undefined before). */
  directory: string | undefined;
  loaded: ExtensionName[];
  /** Why an extension could not be loaded, the last time it was needed. */
  failed: { name: ExtensionName; reason: string }[];
}

export interface ExtensionEvent {
  type: 'extension';
  name: ExtensionName;
  status: 'loaded' | 'installed' | 'failed';
  directory: string;
  reason?: string;
}

/** Runs one statement on the engine's database (every connection shares its extensions). */
type Run = (sql: string, params?: readonly string[]) => Promise<void>;

/**
 * Loads the extensions a location needs, once per engine, from one directory, with DuckDB's signature
 * checks on (the engine never enables unsigned extensions) and without DuckDB's own auto-install, so
 * nothing is downloaded unless `allowInstall` says so. Loading is local file work: it cannot hang on a
 * network. When an extension cannot be loaded, the error is `dependency_missing` and names the
 * directory, the DuckDB version and platform the binary must match, and the command that fixes it.
 */
export class ExtensionManager {
  private directory: string | undefined;
  private readonly loading = new Map<ExtensionName, Promise<void>>();
  private readonly loaded = new Set<ExtensionName>();
  private readonly failed = new Map<ExtensionName, string>();

  constructor(
    private readonly options: ExtensionOptions,
    private readonly run: Run,
    private readonly emit: (event: ExtensionEvent) => void,
  ) {}

  /** Loads `name` unless this engine already has; `purpose` says in errors what needed it (`s3://`, ...). */
  require(name: ExtensionName, purpose: string): Promise<void> {
    if (!EXTENSION_NAMES.includes(name)) {
      return Promise.reject(new LTMError('validation_error', `unknown extension ${JSON.stringify(name)}: choose from ${EXTENSION_NAMES.join(', ')}`));
    }
    let pending = this.loading.get(name);
    if (pending === undefined) {
      pending = this.load(name, purpose);
      this.loading.set(name, pending);
      // A failure is not remembered as final: the user may install the extension and try again.
      pending.catch(() => this.loading.delete(name));
    }
    return pending;
  }

  report(): ExtensionReport {
    return {
      directory: this.directory,
      loaded: [...this.loaded],
      failed: [...this.failed].map(([name, reason]) => ({ name, reason })),
    };
  }

  private async load(name: ExtensionName, purpose: string): Promise<void> {
    const directory = this.resolveDirectory();
    await this.run('SET GLOBAL extension_directory = $1', [directory]);
    let reason = await this.tryLoad(name);
    if (reason !== undefined && this.options.allowInstall === true) {
      try {
        await installExtensions({
          names: [name],
          directory,
          ...(this.options.repository === undefined ? {} : { repository: this.options.repository }),
          ...(this.options.installTimeoutMs === undefined ? {} : { timeoutMs: this.options.installTimeoutMs }),
        });
        this.emit({ type: 'extension', name, status: 'installed', directory });
        reason = await this.tryLoad(name);
      } catch (error) {
        reason = `${reason}; downloading it failed too: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
    if (reason === undefined) {
      this.loaded.add(name);
      this.failed.delete(name);
      this.emit({ type: 'extension', name, status: 'loaded', directory });
      return;
    }
    this.failed.set(name, reason);
    this.emit({ type: 'extension', name, status: 'failed', directory, reason });
    const { version, platform } = await duckDBTarget();
    throw new EngineError(
      'dependency_missing',
      `DuckDB's ${name} extension, needed for ${purpose}, cannot be loaded from ${directory} (${reason}). ` +
        `It must be DuckDB's signed ${name} build for DuckDB ${version} ${platform}. Fix: run \`ltm extensions install\` ` +
        `(offline: \`ltm extensions install --from DIR\` with the downloaded files; in the ltm repository: ` +
        '`node tooling/extensions/provision.mjs`), or point extensionDirectory (or LTM_EXTENSION_DIR) at a directory that has it' +
        (this.options.allowInstall === true ? '' : ', or set allowExtensionInstall: true to let the engine download it'),
      { origin: 'dependency' },
    );
  }

  /** Undefined when `LOAD` worked, else DuckDB's reason (first line). */
  private async tryLoad(name: ExtensionName): Promise<string | undefined> {
    try {
      await this.run(`LOAD ${name}`);
      return undefined;
    } catch (error) {
      if (failureOrigin(error) !== 'dependency') throw error;
      return firstLine(error);
    }
  }

  private resolveDirectory(): string {
    this.directory ??= this.options.directory ?? defaultExtensionDirectory();
    return this.directory;
  }
}

/** DuckDB's own words (the classified error's cause), without the classifier's generic hint. */
function firstLine(error: unknown): string {
  const original = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return (original instanceof Error ? original.message : String(original)).split('\n')[0]!;
}
