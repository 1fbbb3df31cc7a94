import { mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LTMError } from '@ltm/core';
import { classifyDuckDBError } from './errors.js';

/**
 * One DuckDB instance per database in the process, shared by reference count. Two instances on one
 * file in one process would each cache their own view of it (file locks are per process, so nothing
 * stops the second); one shared instance means every engine sees every commit at once.
 *
 * `:memory:` is private to each engine.
 */
interface SharedInstance {
  instance: DuckDBInstance;
  refs: number;
  settings: string;
  closed: boolean;
}

const instances = new Map<string, Promise<SharedInstance>>();

export interface InstanceRequest {
  path: string;
  readOnly: boolean;
  config: Record<string, string>;
}

export interface InstanceHandle {
  /** The absolute path (or `:memory:`) the instance was opened on. */
  path: string;
  instance: DuckDBInstance;
  release(): void;
}

const CLOUD_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** Absolute, symlink-free path of a file that may not exist yet. */
function canonicalPath(path: string): string {
  const absolute = resolve(path);
  try {
    return realpathSync(absolute);
  } catch {
    try {
      return join(realpathSync(dirname(absolute)), basename(absolute));
    } catch {
      return absolute;
    }
  }
}

/** The key an engine is shared under: `:memory:` as is, a file as its absolute real path; cloud URIs are `unsupported`. */
export function resolveDatabasePath(path: string): string {
  if (path === ':memory:') return path;
  if (path.startsWith(':memory:')) {
    // DuckDB's C API would create a file of that name in the working directory.
    throw new LTMError('validation_error', `"${path}" is not supported: use ':memory:' for a private in-memory database, or a file path`);
  }
  if (CLOUD_URI.test(path)) {
    const scheme = path.slice(0, path.indexOf(':'));
    throw new LTMError(
      'unsupported',
      `an engine opens ':memory:' or a local file, not ${scheme}://: open it on ':memory:' and attach the remote database ` +
        'read-only with engine.attachRemote(uri) (format-native does this for a .duckdb URI)',
    );
  }
  return canonicalPath(path);
}

export async function acquireInstance(request: InstanceRequest): Promise<InstanceHandle> {
  const path = resolveDatabasePath(request.path);
  const options: Record<string, string> = { ...request.config };
  if (request.readOnly) options.access_mode = 'READ_ONLY';
  const settings = JSON.stringify(Object.entries(options).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

  if (path === ':memory:') {
    const instance = await openInstance(path, options);
    return { path, instance, release: () => instance.closeSync() };
  }

  let pending = instances.get(path);
  if (pending === undefined) {
    pending = openInstance(path, options).then((instance) => ({ instance, refs: 0, settings, closed: false }));
    instances.set(path, pending);
    pending.catch(() => instances.delete(path));
  }
  const shared = await pending;
  // The last holder may have closed it while this call waited: open afresh.
  if (shared.closed) return acquireInstance(request);
  if (shared.settings !== settings) {
    throw new LTMError(
      'validation_error',
      `"${path}" is already open in this process with different settings (${shared.settings}); ` +
        `DuckDB opens a file once per process: open every engine on it with the same readOnly and config (asked for ${settings})`,
    );
  }
  shared.refs++;
  let released = false;
  return {
    path,
    instance: shared.instance,
    release: () => {
      if (released) return;
      released = true;
      shared.refs--;
      if (shared.refs === 0) {
        shared.closed = true;
        instances.delete(path);
        shared.instance.closeSync();
      }
    },
  };
}

async function openInstance(path: string, options: Record<string, string>): Promise<DuckDBInstance> {
  if (path === ':memory:' && options.access_mode === 'READ_ONLY') {
    throw new LTMError('validation_error', 'an in-memory database cannot be opened read-only: give a file path');
  }
  try {
    if (path !== ':memory:' && options.access_mode !== 'READ_ONLY') {
      // A demanding user expects `./data/ltm.duckdb` to work on a fresh checkout.
      mkdirSync(dirname(path), { recursive: true });
    }
    return await DuckDBInstance.create(path, options);
  } catch (error) {
    throw classifyDuckDBError(error, { opening: path });
  }
}
