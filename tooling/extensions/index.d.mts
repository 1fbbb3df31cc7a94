export type ExtensionName = 'httpfs' | 'fts' | 'azure';
export type ExtensionSource = 'install' | 'pypi' | 'from';

export declare const EXTENSIONS: readonly ExtensionName[];
export declare const SOURCES: readonly ExtensionSource[];

export interface DuckDBTarget {
  /** DuckDB's version tag, e.g. `v1.5.5`: the first directory level under the extension directory. */
  version: string;
  /** DuckDB's extension platform, e.g. `linux_amd64`. */
  platform: string;
}

export interface ProvisionOptions {
  /** DuckDB's `extension_directory`; default `defaultExtensionDir()`. */
  dir?: string;
  /** Directory to copy from: DuckDB's layout, flat `<name>.duckdb_extension[.gz]` files, or the PyPI wheels. */
  from?: string;
  only?: readonly ExtensionName[];
  /** Sources tried in this order; default all of `SOURCES`. */
  sources?: readonly ExtensionSource[];
  /** Extension repository URL for `INSTALL`; default DuckDB's own. */
  repository?: string;
  installTimeoutMs?: number;
  pipTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ProvisionedExtension {
  name: ExtensionName;
  /** `present` when it was already there and loaded. */
  source: ExtensionSource | 'present';
  path: string;
  detail?: string;
  ms: number;
}

export interface ProvisionResult extends DuckDBTarget {
  dir: string;
  extensions: ProvisionedExtension[];
}

export declare function defaultExtensionDir(): string;
export declare function extensionPath(dir: string, name: string, target: DuckDBTarget): string;
export declare function duckdbTarget(): Promise<DuckDBTarget>;
/** Resolves to undefined when `name` loads from `dir` with signature checks on and answers its smoke call. */
export declare function verifyExtension(dir: string, name: ExtensionName): Promise<string | undefined>;
export declare function provisionExtensions(options?: ProvisionOptions): Promise<ProvisionResult>;
