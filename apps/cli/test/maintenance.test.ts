// ltm compact / vacuum / purge / export on a Parquet store in a directory (the built command as a child
// process), and the clear failure on a native .duckdb store.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, ltm } from './run-cli.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-cli-maintenance-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('maintenance of a Parquet store', () => {
  it('compacts, purges, vacuums and exports', async () => {
    const uri = path.join(dir, 'parquet-store');
    const run = (...args: string[]) => ltm(['--uri', uri, ...args], { cwd: dir });
    for (const key of ['a', 'b', 'c']) expect((await run('put', key, `"value ${key}"`)).code).toBe(0);
    expect((await run('del', 'b')).code).toBe(0);

    expect(await run('compact')).toMatchObject({ code: 0, stdout: 'compacted: 1 segment\n', stderr: '' });
    const purged = await run('--json', 'purge');
    expect(purged.code).toBe(0);
    expect(JSON.parse(purged.stdout)).toMatchObject({ success: true, compacted: expect.any(Boolean), deletedSegmentFiles: expect.any(Number) });
    expect((await run('vacuum', '--retention-ms', '0')).stdout).toMatch(/^vacuumed: \d+ segment file\(s\), \d+ log record\(s\)/);
    expect((await run('vacuum', '--retention-ms', 'soon')).code).toBe(2);

    const target = path.join(dir, 'export', 'live.parquet');
    expect(await run('export', target)).toMatchObject({ code: 0, stdout: `exported 2 entries to ${target}\n` });
    const keys = (JSON.parse((await run('--json', 'list')).stdout) as { items: { key: string }[] }).items.map((item) => item.key);
    expect(keys).toEqual(['a', 'c']);
  });

  it('a native .duckdb store answers unsupported, naming the Parquet format', async () => {
    const uri = path.join(dir, 'native.duckdb');
    expect((await ltm(['--uri', uri, 'put', 'k', '1'], { cwd: dir })).code).toBe(0);
    const result = await ltm(['--uri', uri, 'compact'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("needs format: 'parquet'");
    expect(result.stderr).toContain('(unsupported)');
  });
});
