import { spawn } from 'node:child_process';
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

/**
 * Runs a writer script (`node script ...args`) that prints one acknowledged key per line (and `ready`),
 * until it has acknowledged `atLeast` keys, then SIGKILLs it `extraMs` later. Returns the keys it printed
 * as acknowledged: a line without its newline was never seen as acknowledged.
 */
export async function writeUntilKilled(script: string, args: readonly string[], atLeast: number, extraMs: number): Promise<string[]> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: string[] = [];
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let killing = false;
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) if (line !== 'ready') acked.push(line);
      if (!killing && acked.length >= atLeast) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), extraMs);
      }
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited ${code}: ${stderr}`))));
  });
  return acked;
}
