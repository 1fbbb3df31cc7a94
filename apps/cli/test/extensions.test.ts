/**
 * `ltm extensions install`, run from the built command as a user runs it: offline from a directory of
 * downloaded files, into a directory given with --dir. Run the build first: these tests execute dist/main.js.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { provisionExtensions } from '@ltm/tooling/extensions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { assertBuilt, ltm as runLtm } from './run-cli.js';

const ltm = (args: string[], env: NodeJS.ProcessEnv = {}) => runLtm(args, { env });

let work: string;
let downloads: string;
let version: string;
let platform: string;

beforeAll(async () => {
  assertBuilt();
  const provisioned = await provisionExtensions({ only: ['fts', 'httpfs'] });
  ({ version, platform } = provisioned);
  work = mkdtempSync(path.join(os.tmpdir(), 'ltm-cli-extensions-'));
  // What an air-gapped user carries over: the files, flat in one directory.
  downloads = path.join(work, 'downloads');
  await import('node:fs/promises').then((fs) => fs.mkdir(downloads));
  for (const name of ['fts', 'httpfs']) copyFileSync(path.join(provisioned.dir, version, platform, `${name}.duckdb_extension`), path.join(downloads, `${name}.duckdb_extension`));
}, 20 * 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('ltm extensions install', () => {
  it('--from DIR --dir DIR installs offline, verifies each binary loads signed, and says how stores find them', async () => {
    const target = path.join(work, 'installed');
    const run = await ltm(['extensions', 'install', '--from', downloads, '--dir', target, '--only', 'fts,httpfs']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain(`DuckDB ${version} ${platform}, extension directory ${target}`);
    expect(run.stdout).toMatch(new RegExp(`fts +installed from ${downloads}, loads signed`));
    expect(run.stdout).toMatch(/httpfs +installed from .*, loads signed/);
    expect(run.stdout).toContain(`LTM_EXTENSION_DIR=${target}`);
    expect(existsSync(path.join(target, version, platform, 'fts.duckdb_extension'))).toBe(true);

    const again = await ltm(['--json', 'extensions', 'install', '--from', downloads, '--dir', target, '--only', 'fts']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ success: true, directory: target, extensions: [{ name: 'fts', source: 'present' }] });
  });

  it('installs into LTM_EXTENSION_DIR when no --dir is given', async () => {
    const target = path.join(work, 'from-env');
    const run = await ltm(['extensions', 'install', '--from', downloads, '--only', 'fts'], { LTM_EXTENSION_DIR: target });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`extension directory ${target}`);
    expect(run.stdout).not.toContain('Stores find them with');
  });

  it('fails (exit 1) naming what is missing and where, when the files are not there', async () => {
    const run = await ltm(['extensions', 'install', '--from', path.join(work, 'nothing-here'), '--dir', path.join(work, 'x'), '--only', 'azure']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot install DuckDB');
    expect(run.stderr).toContain('azure:');
    expect(run.stderr).toContain('(dependency_missing)');
  });

  it('rejects an unknown extension name as a usage error (exit 2)', async () => {
    const run = await ltm(['extensions', 'install', '--only', 'spatial']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('expected a comma-separated list of httpfs, azure, fts');
  });
});
