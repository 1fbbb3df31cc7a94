import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LTMError } from '@ltm/core';

export function tempDirectory(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** A child process holding `path` open until `release()`. */
export async function holdDatabase(path: string, mode: 'read-write' | 'read-only' = 'read-write') {
  const child: ChildProcess = fork(join(fixtures, 'hold-database.mjs'), [path, mode], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}: ${stderr}`)));
  });
  return {
    pid: child.pid!,
    release: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}

/** Runs `sql` on `path` in a fresh process with its own read-only DuckDB instance. */
export async function readInAnotherProcess(path: string, sql: string, env: NodeJS.ProcessEnv = process.env) {
  const child = fork(join(fixtures, 'read-database.mjs'), [path, sql], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env });
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(stdout) as { rows?: Record<string, unknown>[]; error?: string };
}

/** The rejection of `promise`, which must reject with an `LTMError`. */
export async function ltmError(promise: Promise<unknown>): Promise<LTMError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LTMError) return error;
    throw new Error(`expected an LTMError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a rejection, but it resolved');
}
