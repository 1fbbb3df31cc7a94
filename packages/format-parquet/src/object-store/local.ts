import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { LTMError } from '@ltm/core';
import type { ObjectInfo, ObjectStore } from './types.js';

/** Temporary files are named so listings and vacuum recognize them. */
export const TEMP_PREFIX = '.tmp-';

export interface LocalObjectStoreOptions {
  /**
   * fsync files and their directory before a write resolves, so a power cut loses nothing acknowledged.
   * Without it a write survives a process crash (the kernel has it) but not a power cut, like SQLite's
   * `synchronous=NORMAL` in WAL mode.
   */
  fsync?: boolean;
}

/**
 * A directory on local disk. Put-if-absent writes the body to a temporary file and hard-links it to its
 * name: `link(2)` fails with `EEXIST` when the name is taken, and the name appears with the whole body or
 * not at all (an `O_EXCL` create would expose a half-written file to readers and to a crash).
 */
export class LocalObjectStore implements ObjectStore {
  readonly location: string;
  readonly duckdbWrites = true;
  private readonly root: string;
  private readonly fsync: boolean;
  private readonly madeDirectories = new Set<string>();

  constructor(root: string, options: LocalObjectStoreOptions = {}) {
    this.root = resolve(root);
    this.location = this.root;
    this.fsync = options.fsync ?? false;
  }

  url(key: string): string {
    return this.path(key);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (error) {
      if (code(error) === 'ENOENT') return undefined;
      throw ioError(`read ${key}`, error);
    }
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
    const target = this.path(key);
    const temp = await this.writeTemp(target, body);
    try {
      await link(temp, target);
    } catch (error) {
      if (code(error) === 'EEXIST') return false;
      if (code(error) === 'EPERM' || code(error) === 'ENOTSUP' || code(error) === 'EXDEV') {
        throw new LTMError(
          'unsupported',
          `the file system under ${this.location} does not support hard links, which the Parquet format's commit log needs for atomic create-if-absent: use a local file system such as ext4, xfs, APFS or NTFS`,
          { cause: error },
        );
      }
      throw ioError(`create ${key}`, error);
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    if (this.fsync) await syncDirectory(dirname(target));
    return true;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const target = this.path(key);
    const temp = await this.writeTemp(target, body);
    try {
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw ioError(`write ${key}`, error);
    }
    if (this.fsync) await syncDirectory(dirname(target));
  }

  async uploadFile(key: string, localPath: string): Promise<void> {
    const target = this.path(key);
    await this.ensureDirectory(dirname(target));
    try {
      await copyFile(localPath, target, constants.COPYFILE_EXCL);
    } catch (error) {
      throw ioError(`write ${key}`, error);
    }
    await this.syncFile(key);
  }

  async list(prefix: string, startAfter?: string): Promise<ObjectInfo[]> {
    // Keys under one directory level are all the format lists (`_log/`, `data/`, ...).
    const slash = prefix.lastIndexOf('/');
    const directoryKey = slash < 0 ? '' : prefix.slice(0, slash + 1);
    const namePrefix = prefix.slice(slash + 1);
    let names: string[];
    try {
      names = await readdir(this.path(directoryKey === '' ? '.' : directoryKey));
    } catch (error) {
      if (code(error) === 'ENOENT') return [];
      throw ioError(`list ${prefix}`, error);
    }
    const found: ObjectInfo[] = [];
    for (const name of names) {
      const key = directoryKey + name;
      if (!name.startsWith(namePrefix) || (startAfter !== undefined && key <= startAfter)) continue;
      try {
        const info = await stat(this.path(key));
        if (info.isFile()) found.push({ key, size: info.size, lastModified: info.mtimeMs });
      } catch (error) {
        // Deleted between readdir and stat (a concurrent vacuum): it is simply not there.
        if (code(error) !== 'ENOENT') throw ioError(`list ${prefix}`, error);
      }
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      try {
        await unlink(this.path(key));
      } catch (error) {
        if (code(error) !== 'ENOENT') throw ioError(`delete ${key}`, error);
      }
    }
  }

  async syncFile(key: string): Promise<void> {
    if (!this.fsync) return;
    const path = this.path(key);
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await syncDirectory(dirname(path));
  }

  /** DuckDB's `COPY ... TO` does not create directories. */
  async preparePrefix(prefix: string): Promise<void> {
    await this.ensureDirectory(dirname(this.path(`${prefix}x`)));
  }

  async close(): Promise<void> {}

  private path(key: string): string {
    const path = join(this.root, key);
    if (path !== this.root && !path.startsWith(this.root + sep)) {
      throw new LTMError('validation_error', `object key ${JSON.stringify(key)} leaves the store's directory`);
    }
    return path;
  }

  private async writeTemp(target: string, body: Uint8Array): Promise<string> {
    const directory = dirname(target);
    await this.ensureDirectory(directory);
    const temp = join(directory, `${TEMP_PREFIX}${randomUUID()}`);
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(body);
        if (this.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw ioError(`write ${temp}`, error);
    }
    return temp;
  }

  private async ensureDirectory(directory: string): Promise<void> {
    if (this.madeDirectories.has(directory)) return;
    try {
      await mkdir(directory, { recursive: true });
    } catch (error) {
      throw ioError(`create directory ${directory}`, error);
    }
    this.madeDirectories.add(directory);
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function code(error: unknown): string | undefined {
  return error !== null && typeof error === 'object' ? (error as { code?: string }).code : undefined;
}

function ioError(doing: string, error: unknown): LTMError {
  const reason = error instanceof Error ? error.message : String(error);
  const errorCode = code(error);
  if (errorCode === 'EACCES' || errorCode === 'EPERM' || errorCode === 'EROFS') {
    return new LTMError('read_only', `cannot ${doing}: ${reason} (check the directory's permissions)`, { cause: error });
  }
  return new LTMError('connection_error', `cannot ${doing}: ${reason}`, { cause: error, retryable: errorCode === 'EMFILE' || errorCode === 'EAGAIN' || errorCode === 'EBUSY' });
}
