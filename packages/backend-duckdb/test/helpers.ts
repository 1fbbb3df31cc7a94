import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'ltm-backend-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function ok<T extends { success: boolean }>(result: T): Extract<T, { success: true }> {
  if (!result.success) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result as Extract<T, { success: true }>;
}
