import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { LTMError } from '@ltm/core';
import { positiveInteger } from '../options.js';
import { quoteStringLiteral } from '../sql-literal.js';
import { EXTENSION_NAMES, defaultExtensionDirectory, type ExtensionName } from './extension-directory.js';

/**
 * Puts DuckDB's official extension binaries where the engine loads them from, for machines that have
 * DuckDB's extension repository (or a mirror) and for air-gapped ones that have the files. Every binary is
 * accepted only after a fresh DuckDB loads it with signature checks on, so an unsigned, truncated or
 * wrong-platform file is never left in place.
 */

export interface InstallExtensionsOptions {
  /** Default: all of `httpfs`, `azure`, `fts`. */
  names?: readonly ExtensionName[];
  /** The extension directory to fill; default `defaultExtensionDirectory()`. */
  directory?: string;
  /**
   * Copy from this directory instead of downloading: DuckDB's layout (`<dir>/v1.5.5/linux_amd64/httpfs.duckdb_extension`),
   * flat files (`<dir>/httpfs.duckdb_extension`), or the gzipped files DuckDB's repository serves (`.duckdb_extension.gz`).
   */
  from?: string;
  /** Extension repository URL for DuckDB's `INSTALL ... FROM` (a mirror); default DuckDB's own. */
  repository?: string;
  /** Bound on one download (default 30 000 ms); it runs in a child process that is killed after it. */
  timeoutMs?: number;
}

export interface InstalledExtension {
  name: ExtensionName;
  /** `present`: it was already there and loads. */
  source: 'present' | 'from' | 'repository';
  path: string;
}

export interface InstallExtensionsResult {
  directory: string;
  /** DuckDB's version tag, e.g. `v1.5.5`. */
  version: string;
  /** DuckDB's extension platform, e.g. `linux_amd64`. */
  platform: string;
  extensions: InstalledExtension[];
}

export interface DuckDBTarget {
  version: string;
  platform: string;
}

let target: Promise<DuckDBTarget> | undefined;

/** The DuckDB version and extension platform of the bundled `@duckdb/node-api`. */
export function duckDBTarget(): Promise<DuckDBTarget> {
  target ??= withInstance({}, async (connection) => {
    const reader = await connection.runAndReadAll('SELECT version() AS version, platform FROM pragma_platform()');
    const [row] = reader.getRowObjectsJson();
    return { version: String(row!.version), platform: String(row!.platform) };
  });
  return target;
}

async function withInstance<T>(config: Record<string, string>, work: (connection: Awaited<ReturnType<DuckDBInstance['connect']>>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:', config);
  const connection = await instance.connect();
  try {
    return await work(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Where DuckDB looks for `name` under `extension_directory = directory`. */
export function extensionFilePath(directory: string, name: ExtensionName, { version, platform }: DuckDBTarget): string {
  return join(directory, version, platform, `${name}.duckdb_extension`);
}

/** Loads `name` from `directory` in a fresh DuckDB with signature checks on; undefined when it works, else why not. */
export async function verifyExtension(directory: string, name: ExtensionName): Promise<string | undefined> {
  try {
    await withInstance(
      {
        extension_directory: directory,
        allow_unsigned_extensions: 'false',
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
      },
      (connection) => connection.run(`LOAD ${name}`),
    );
    return undefined;
  } catch (error) {
    return String(error instanceof Error ? error.message : error).split('\n')[0];
  }
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isFile(),
    () => false,
  );
}

/** Copies through a temporary name, so DuckDB never sees half a file. */
async function place(bytes: Buffer | string, destination: string): Promise<void> {
  await mkdir(dirname(destination), { recursive: true });
  const temporary = `${destination}.${process.pid}.tmp`;
  if (typeof bytes === 'string') await copyFile(bytes, temporary);
  else await writeFile(temporary, bytes);
  await rename(temporary, destination);
}

async function copyFromDirectory(from: string, name: ExtensionName, destination: string, duckdb: DuckDBTarget): Promise<string> {
  const candidates = [extensionFilePath(from, name, duckdb), join(from, `${name}.duckdb_extension`)];
  for (const candidate of candidates) {
    if (await isFile(candidate)) {
      await place(candidate, destination);
      return candidate;
    }
    if (await isFile(`${candidate}.gz`)) {
      await place(gunzipSync(await readFile(`${candidate}.gz`)), destination);
      return `${candidate}.gz`;
    }
  }
  throw new Error(`${from} holds none of ${candidates.map((c) => basename(c)).join(', ')} (nor their .gz)`);
}

// Runs DuckDB's INSTALL in a child process: a download from a repository that accepts the connection and
// never answers blocks inside native code for minutes, and only a process can be killed.
const INSTALL_CHILD = `
const [entry, directory, sql] = process.argv.slice(1);
const { DuckDBInstance } = await import(entry);
const instance = await DuckDBInstance.create(':memory:', { extension_directory: directory, allow_unsigned_extensions: 'false' });
const connection = await instance.connect();
try { await connection.run(sql); } catch (error) { process.stderr.write(String(error.message).split('\\n')[0]); process.exitCode = 1; }
connection.closeSync(); instance.closeSync();
`;

function installInChild(directory: string, sql: string, timeoutMs: number): Promise<void> {
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('@duckdb/node-api')).href;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', INSTALL_CHILD, '--', entry, directory, sql], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the download did not finish within ${timeoutMs} ms (is the network blocked?)`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise();
      else reject(new Error(stderr.trim() || `the install process exited with ${String(code)}`));
    });
  });
}

/**
 * Makes each extension loadable from the directory: kept when it already loads, else copied from `from`
 * or downloaded with DuckDB's own `INSTALL`. Rejects with `dependency_missing`, naming every failure and
 * the fix, when one cannot be provided.
 */
export async function installExtensions(options: InstallExtensionsOptions = {}): Promise<InstallExtensionsResult> {
  const names = options.names ?? EXTENSION_NAMES;
  const unknown = names.filter((name) => !EXTENSION_NAMES.includes(name));
  if (unknown.length > 0) {
    throw new LTMError('validation_error', `unknown extension ${unknown.join(', ')}: choose from ${EXTENSION_NAMES.join(', ')}`);
  }
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, 30_000, 1);
  const directory = resolve(options.directory ?? defaultExtensionDirectory());
  const from = options.from === undefined ? undefined : resolve(options.from);
  const duckdb = await duckDBTarget();
  const extensions: InstalledExtension[] = [];
  const failures: string[] = [];
  for (const name of names) {
    const path = extensionFilePath(directory, name, duckdb);
    if ((await isFile(path)) && (await verifyExtension(directory, name)) === undefined) {
      extensions.push({ name, source: 'present', path });
      continue;
    }
    try {
      if (from !== undefined) {
        await copyFromDirectory(from, name, path, duckdb);
      } else {
        const repository = options.repository === undefined ? '' : ` FROM ${quoteStringLiteral(options.repository)}`;
        await installInChild(directory, `FORCE INSTALL ${name}${repository}`, timeoutMs);
      }
      const problem = await verifyExtension(directory, name);
      if (problem !== undefined) {
        await rm(path, { force: true });
        throw new Error(`the binary does not load with signature checks on: ${problem}`);
      }
      extensions.push({ name, source: from === undefined ? 'repository' : 'from', path });
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (failures.length > 0) {
    throw new LTMError(
      'dependency_missing',
      `cannot install DuckDB ${duckdb.version} ${duckdb.platform} extensions into ${directory}: ${failures.join('; ')}. ` +
        (from === undefined
          ? 'Without network access, download the files elsewhere and run `ltm extensions install --from DIR`'
          : `Put the ${duckdb.platform} files for DuckDB ${duckdb.version} (<name>.duckdb_extension or .gz) in ${from}`),
    );
  }
  return { directory, ...duckdb, extensions };
}
