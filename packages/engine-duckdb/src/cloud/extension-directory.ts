import { accessSync, constants, mkdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The DuckDB extensions this package loads: `httpfs` (S3, GCS, HTTP), `azure`, and `fts` for search. */
export type ExtensionName = 'httpfs' | 'azure' | 'fts';
export const EXTENSION_NAMES: readonly ExtensionName[] = ['httpfs', 'azure', 'fts'];

type Environment = Readonly<Record<string, string | undefined>>;

/** The per-user cache directory of this platform (XDG on Linux, Library/Caches on macOS, LOCALAPPDATA on Windows). */
function userCacheDirectory(env: Environment): string | undefined {
  let home: string;
  try {
    home = homedir();
  } catch {
    return undefined;
  }
  if (process.platform === 'win32') return join(env.LOCALAPPDATA || join(home, 'AppData', 'Local'), 'ltm', 'duckdb-extensions');
  if (process.platform === 'darwin') return join(home, 'Library', 'Caches', 'ltm', 'duckdb-extensions');
  return join(env.XDG_CACHE_HOME || join(home, '.cache'), 'ltm', 'duckdb-extensions');
}

function usable(directory: string): boolean {
  try {
    mkdirSync(directory, { recursive: true });
    accessSync(directory, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where DuckDB extension binaries live when no directory is given: `$LTM_EXTENSION_DIR`, else the per-user
 * cache directory (`~/.cache/ltm/duckdb-extensions` on Linux), else, where that cannot be created or
 * written (a read-only home in a serverless function), `<tmpdir>/ltm-duckdb-extensions-<uid>`.
 * `ltm extensions install` fills the same directory.
 */
export function defaultExtensionDirectory(env: Environment = process.env): string {
  if (env.LTM_EXTENSION_DIR) return resolve(env.LTM_EXTENSION_DIR);
  const cache = userCacheDirectory(env);
  if (cache !== undefined && usable(cache)) return cache;
  const uid = typeof process.getuid === 'function' ? `-${process.getuid()}` : '';
  return join(tmpdir(), `ltm-duckdb-extensions${uid}`);
}
