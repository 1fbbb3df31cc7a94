// Extension provisioning (tooling/extensions): every extension the project uses loads with signature checks on
// and answers a real call; a second run only verifies; the offline source accepts DuckDB's layout, flat files and
// .gz files and refuses a tampered binary; a hanging INSTALL is cut off.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import {
  EXTENSIONS,
  extensionPath,
  provisionExtensions,
  type ProvisionResult,
} from '../../../../tooling/extensions/index.mjs';
import { tempDir } from '../helpers.js';

const PROVISION_CLI = resolve(fileURLToPath(import.meta.url), '../../../../../tooling/extensions/provision.mjs');
const run = promisify(execFile);

let provisioned: ProvisionResult;
const scratch = tempDir('ltm-extensions-');
beforeAll(async () => {
  provisioned = await provisionExtensions();
}, 600_000);
afterAll(() => scratch.cleanup());

/** A fresh DuckDB that may load extensions from `dir` only, with signatures checked. */
async function strictDuckDB(dir: string) {
  const instance = await DuckDBInstance.create(':memory:', {
    extension_directory: dir,
    allow_unsigned_extensions: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const connection = await instance.connect();
  const rows = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJson();
  return {
    connection,
    rows,
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

describe('provisionExtensions', () => {
  it('provides httpfs, fts and azure for the DuckDB in use', () => {
    expect(provisioned.extensions.map((e) => e.name)).toEqual(['httpfs', 'fts', 'azure']);
    for (const extension of provisioned.extensions) expect(existsSync(extension.path)).toBe(true);
    expect(provisioned.version).toMatch(/^v\d+\.\d+\.\d+$/);
  });

  it('loads each extension with signature checks on, and each answers a real call', async () => {
    const db = await strictDuckDB(provisioned.dir);
    try {
      expect(await db.rows("SELECT current_setting('allow_unsigned_extensions') AS unsigned")).toEqual([{ unsigned: false }]);
      for (const name of EXTENSIONS) await db.connection.run(`LOAD ${name}`);
      expect(await db.rows("SELECT stem('running', 'porter') AS stem")).toEqual([{ stem: 'run' }]);
      await db.connection.run("CREATE SECRET probe_s3 (TYPE s3, KEY_ID 'probe', SECRET 'probe', REGION 'eu-west-1')");
      await db.connection.run(
        "CREATE SECRET probe_az (TYPE azure, CONNECTION_STRING 'DefaultEndpointsProtocol=http;AccountName=probe;AccountKey=cHJvYmU=;BlobEndpoint=http://127.0.0.1:9/probe')",
      );
      expect(await db.rows('SELECT name, type FROM duckdb_secrets() ORDER BY name')).toEqual([
        { name: 'probe_az', type: 'azure' },
        { name: 'probe_s3', type: 's3' },
      ]);
      const loaded = await db.rows(
        "SELECT extension_name AS name FROM duckdb_extensions() WHERE loaded AND extension_name IN ('httpfs', 'fts', 'azure') ORDER BY 1",
      );
      expect(loaded).toEqual([{ name: 'azure' }, { name: 'fts' }, { name: 'httpfs' }]);
    } finally {
      db.close();
    }
  });

  it('only verifies on a second run', async () => {
    const again = await provisionExtensions({ dir: provisioned.dir });
    expect(again.extensions.map((e) => e.source)).toEqual(['present', 'present', 'present']);
  });

  it('copies from a --from directory in DuckDB layout, as flat files, or gzipped', async () => {
    const fts = extensionPath(provisioned.dir, 'fts', provisioned);
    const httpfs = extensionPath(provisioned.dir, 'httpfs', provisioned);
    const layouts = {
      versioned: () => {
        const from = join(scratch.dir, 'from-versioned');
        mkdirSync(join(from, provisioned.version, provisioned.platform), { recursive: true });
        copyFileSync(fts, extensionPath(from, 'fts', provisioned));
        return { from, only: ['fts'] as const };
      },
      flat: () => {
        const from = join(scratch.dir, 'from-flat');
        mkdirSync(from, { recursive: true });
        copyFileSync(fts, join(from, 'fts.duckdb_extension'));
        return { from, only: ['fts'] as const };
      },
      gzipped: () => {
        const from = join(scratch.dir, 'from-gz');
        mkdirSync(from, { recursive: true });
        writeFileSync(join(from, 'httpfs.duckdb_extension.gz'), gzipSync(readFileSync(httpfs)));
        return { from, only: ['httpfs'] as const };
      },
    };
    for (const [layout, make] of Object.entries(layouts)) {
      const { from, only } = make();
      const dir = join(scratch.dir, `into-${layout}`);
      const result = await provisionExtensions({ dir, from, only: [...only], sources: ['from'] });
      expect(result.extensions.map((e) => e.source), layout).toEqual(['from']);
      const db = await strictDuckDB(dir);
      try {
        await db.connection.run(`LOAD ${only[0]}`);
      } finally {
        db.close();
      }
    }
  });

  it('refuses a binary whose signature does not verify, and leaves nothing in place', async () => {
    const from = join(scratch.dir, 'from-tampered');
    mkdirSync(from, { recursive: true });
    const binary = readFileSync(extensionPath(provisioned.dir, 'fts', provisioned));
    binary[binary.length - 10] = binary[binary.length - 10]! ^ 0xff; // inside the trailing signature
    writeFileSync(join(from, 'fts.duckdb_extension'), binary);
    const dir = join(scratch.dir, 'into-tampered');
    await expect(provisionExtensions({ dir, from, only: ['fts'], sources: ['from'] })).rejects.toThrow(
      /does not load with signature checks on/,
    );
    expect(existsSync(extensionPath(dir, 'fts', provisioned))).toBe(false);
  });

  it('cuts off an INSTALL that hangs, and names the fix', async () => {
    const silent: Server = createServer(() => {}); // accepts connections, never answers
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const port = (silent.address() as { port: number }).port;
    try {
      const attempt = provisionExtensions({
        dir: join(scratch.dir, 'into-hang'),
        only: ['fts'],
        sources: ['install'],
        repository: `http://127.0.0.1:${port}`,
        installTimeoutMs: 1500,
      });
      await expect(attempt).rejects.toThrow(/INSTALL fts did not finish within 1500 ms[\s\S]*--from DIR/);
    } finally {
      silent.close();
    }
  });

  it('rejects unknown extension names', async () => {
    await expect(provisionExtensions({ only: ['spatial' as 'fts'] })).rejects.toThrow(/unknown extension spatial/);
  });
});

describe('provision.mjs', () => {
  it('prints what it did and exits 0', async () => {
    const { stdout } = await run(process.execPath, [
      PROVISION_CLI,
      '--dir',
      join(scratch.dir, 'cli'),
      '--from',
      provisioned.dir,
      '--offline',
      '--only',
      'fts',
    ]);
    expect(stdout).toMatch(/fts: provisioned from --from .* loads signed/);
    expect(stdout).toMatch(/^ok: fts \(from\)/m);
  });

  it('exits 1 with the reason when an extension cannot be provisioned', async () => {
    const failure = run(process.execPath, [
      PROVISION_CLI,
      '--dir',
      join(scratch.dir, 'cli-fail'),
      '--from',
      join(scratch.dir, 'does-not-exist'),
      '--offline',
      '--only',
      'azure',
    ]);
    await expect(failure).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/cannot provision[\s\S]*azure/) });
  });

  it('exits 2 on a usage error', async () => {
    await expect(run(process.execPath, [PROVISION_CLI, '--offline'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--offline needs --from DIR'),
    });
  });
});
