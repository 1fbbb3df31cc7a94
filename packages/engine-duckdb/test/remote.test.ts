// The engine's remote-storage machinery against real DuckDB, without an emulator: extensions from a
// directory (and what happens when they are missing, tampered with, or must be downloaded from a
// repository that never answers), secrets, DuckDB's HTTP settings, and the circuit breaker driven by real
// httpfs failures from loopback ports that refuse or never answer, then recover.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { provisionExtensions } from '@ltm/tooling/extensions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBQueryEngine, defaultExtensionDirectory, installExtensions, type EngineEvent } from '../src/index.js';
import { ltmError } from './helpers.js';

let extensionDir: string;
let target: { version: string; platform: string };
const scratch = mkdtempSync(join(tmpdir(), 'ltm-remote-'));
let scratchDirs = 0;
const freshDir = (name = 'dir') => {
  const dir = join(scratch, `${name}-${++scratchDirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const binary = (name: string) => join(extensionDir, target.version, target.platform, `${name}.duckdb_extension`);

beforeAll(async () => {
  const provisioned = await provisionExtensions({ only: ['httpfs', 'fts'] });
  extensionDir = provisioned.dir;
  target = { version: provisioned.version, platform: provisioned.platform };
}, 20 * 60_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A loopback port nothing listens on (connections are refused). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A loopback server that accepts connections and never answers. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** An S3 stand-in on `port` that answers HEAD for one object (all read_blob's size needs). */
async function objectServer(port: number): Promise<Server> {
  const server = createHttpServer((request, response) => {
    if (request.method === 'HEAD' && request.url === '/bucket/db.duckdb') {
      response.writeHead(200, { 'Content-Length': '4096', 'Last-Modified': 'Tue, 02 Jan 2024 03:04:05 GMT', ETag: '"v1"' });
    } else {
      response.writeHead(404);
    }
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

const s3At = (port: number) => ({ s3: { accessKeyId: 'AKIALOCALTEST', secretAccessKey: 'local-test-secret', endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1' } });

describe('defaultExtensionDirectory', () => {
  it('is $LTM_EXTENSION_DIR, else the per-user cache, else the temp directory when the cache cannot be written', () => {
    expect(defaultExtensionDirectory({ LTM_EXTENSION_DIR: '/opt/ext' })).toBe('/opt/ext');
    const cache = freshDir('xdg');
    expect(defaultExtensionDirectory({ XDG_CACHE_HOME: cache })).toBe(join(cache, 'ltm', 'duckdb-extensions'));
    // A file where the cache directory would go: it cannot be created (a read-only home in a serverless function).
    const blocked = join(freshDir('blocked'), 'file');
    writeFileSync(blocked, '');
    expect(defaultExtensionDirectory({ XDG_CACHE_HOME: blocked })).toMatch(new RegExp(`^${tmpdir()}/ltm-duckdb-extensions`));
  });
});

describe('extensions', () => {
  it('a missing extension is dependency_missing naming the directory, the DuckDB build and the fix; reported in stats and events', async () => {
    const empty = freshDir('empty');
    const events: EngineEvent[] = [];
    const engine = await DuckDBQueryEngine.open({ extensionDirectory: empty, onEvent: (e) => events.push(e) });
    const error = await ltmError(engine.prepareRemote('s3://bucket/x.duckdb'));
    expect(error.errorType).toBe('dependency_missing');
    expect(error.message).toContain(`DuckDB's httpfs extension, needed for s3:// locations, cannot be loaded from ${empty}`);
    expect(error.message).toContain(`DuckDB ${target.version} ${target.platform}`);
    expect(error.message).toContain('ltm extensions install');
    expect(error.message).toContain('allowExtensionInstall: true');
    expect(engine.stats().extensions).toEqual({ directory: empty, loaded: [], failed: [{ name: 'httpfs', reason: expect.stringContaining('not found') }] });
    expect(events).toEqual([{ type: 'extension', name: 'httpfs', status: 'failed', directory: empty, reason: expect.any(String) }]);
    // Not remembered as final: once installed, the next call loads it.
    await installExtensions({ names: ['httpfs'], directory: empty, from: extensionDir });
    await engine.prepareRemote('s3://bucket/x.duckdb');
    expect(engine.stats().extensions).toEqual({ directory: empty, loaded: ['httpfs'], failed: [] });
    await engine.close();
  });

  it('takes the directory from config.extension_directory when extensionDirectory is not given', async () => {
    const engine = await DuckDBQueryEngine.open({ config: { extension_directory: extensionDir } });
    expect(await ltmError(engine.loadExtension('spatial' as never))).toMatchObject({ errorType: 'validation_error' });
    await engine.loadExtension('fts');
    expect(engine.stats().extensions).toMatchObject({ directory: extensionDir, loaded: ['fts'] });
    await engine.close();
  });

  it('loads signed builds only: a tampered binary is refused', async () => {
    const dir = freshDir('tampered');
    const path = join(dir, target.version, target.platform, 'fts.duckdb_extension');
    mkdirSync(join(dir, target.version, target.platform), { recursive: true });
    const bytes = readFileSync(binary('fts'));
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0xff;
    writeFileSync(path, bytes);
    const engine = await DuckDBQueryEngine.open({ extensionDirectory: dir });
    const error = await ltmError(engine.loadExtension('fts'));
    expect(error.errorType).toBe('dependency_missing');
    expect(error.message).toMatch(/signature/);
    await engine.close();
  });

  it('installExtensions copies from a directory (DuckDB layout, flat, gzipped) and verifies every binary', async () => {
    const flat = freshDir('flat');
    copyFileSync(binary('fts'), join(flat, 'fts.duckdb_extension'));
    writeFileSync(join(flat, 'httpfs.duckdb_extension.gz'), gzipSync(readFileSync(binary('httpfs'))));
    const into = freshDir('into');
    const result = await installExtensions({ names: ['fts', 'httpfs'], directory: into, from: flat });
    expect(result.extensions.map((e) => [e.name, e.source])).toEqual([
      ['fts', 'from'],
      ['httpfs', 'from'],
    ]);
    // DuckDB's own layout as a source, and a second run finds them present.
    expect((await installExtensions({ names: ['fts'], directory: freshDir('again'), from: extensionDir })).extensions[0]?.source).toBe('from');
    expect((await installExtensions({ names: ['fts', 'httpfs'], directory: into, from: flat })).extensions.map((e) => e.source)).toEqual(['present', 'present']);
    const tampered = freshDir('bad-source');
    const bytes = readFileSync(binary('fts'));
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(join(tampered, 'fts.duckdb_extension'), bytes);
    const target2 = freshDir('bad-target');
    const error = await ltmError(installExtensions({ names: ['fts'], directory: target2, from: tampered }));
    expect(error.errorType).toBe('dependency_missing');
    expect(error.message).toContain('does not load with signature checks on');
    expect(await ltmError(installExtensions({ names: ['fts'], directory: target2, from: freshDir('nothing') }))).toMatchObject({
      errorType: 'dependency_missing',
      message: expect.stringContaining('holds none of'),
    });
  });

  it('never hangs offline: a download from a repository that never answers is cut off at the bound', async () => {
    const silent = await silentServer();
    try {
      const error = await ltmError(
        installExtensions({ names: ['fts'], directory: freshDir('offline'), repository: `http://127.0.0.1:${silent.port}`, timeoutMs: 1_500 }),
      );
      expect(error.errorType).toBe('dependency_missing');
      expect(error.message).toContain('did not finish within 1500 ms');
      // The same through an engine allowed to install: the load fails, naming both reasons.
      const engine = await DuckDBQueryEngine.open({
        extensionDirectory: freshDir('offline-engine'),
        allowExtensionInstall: true,
        extensionRepository: `http://127.0.0.1:${silent.port}`,
        extensionInstallTimeoutMs: 1_500,
      });
      const loadError = await ltmError(engine.loadExtension('fts'));
      expect(loadError.errorType).toBe('dependency_missing');
      expect(loadError.message).toContain('downloading it failed too');
      await engine.close();
    } finally {
      await silent.close();
    }
  });

  it('with allowExtensionInstall, a missing extension is downloaded from the repository and loaded', async () => {
    // The repository is a local directory in DuckDB's layout (what a mirror serves), gzipped like DuckDB's own.
    const repository = freshDir('repository');
    mkdirSync(join(repository, target.version, target.platform), { recursive: true });
    writeFileSync(join(repository, target.version, target.platform, 'fts.duckdb_extension.gz'), gzipSync(readFileSync(binary('fts'))));
    const events: EngineEvent[] = [];
    const engine = await DuckDBQueryEngine.open({
      extensionDirectory: freshDir('auto'),
      allowExtensionInstall: true,
      extensionRepository: repository,
      onEvent: (e) => events.push(e),
    });
    await engine.loadExtension('fts');
    expect(await engine.query<{ s: string }>("SELECT stem('running', 'porter') AS s")).toEqual([{ s: 'run' }]);
    expect(events.map((e) => (e.type === 'extension' ? e.status : e.type))).toEqual(['installed', 'loaded']);
    await engine.close();
  });
});

describe('remote locations', () => {
  it('prepareRemote loads httpfs, turns its retries off and sets its timeout, and creates a bucket-scoped secret with bound values', async () => {
    const hostile = "se'cr;et\\ --$1";
    const engine = await DuckDBQueryEngine.open({
      extensionDirectory: extensionDir,
      credentials: { s3: { accessKeyId: "AKIA'QUOTE", secretAccessKey: hostile, region: 'eu-west-1' } },
      httpTimeoutMs: 2_500,
      config: { allow_unredacted_secrets: 'true' },
    });
    const location = await engine.prepareRemote('s3://bucket-a/path/db.duckdb');
    expect(location).toMatchObject({ provider: 's3', bucket: 'bucket-a', scope: 's3://bucket-a' });
    expect(await engine.query("SELECT current_setting('http_retries') AS retries, current_setting('http_timeout') AS timeout")).toEqual([
      { retries: 0, timeout: 3 },
    ]);
    const [secret] = await engine.query<{ scope: string[]; secret_string: string }>('SELECT scope, secret_string FROM duckdb_secrets(redact = false)');
    expect(secret?.scope).toEqual(['s3://bucket-a']);
    expect(secret?.secret_string).toContain("key_id=AKIA'QUOTE");
    expect(secret?.secret_string).toContain(`secret=${hostile}`);
    const stats = JSON.stringify(engine.stats());
    expect(engine.stats().remote.secrets).toEqual([{ type: 's3', scope: 's3://bucket-a', source: 'options', region: 'eu-west-1' }]);
    expect(stats).not.toContain(hostile);
    expect(stats).not.toContain("AKIA'QUOTE");
    // Once per scope: preparing again changes nothing.
    await engine.prepareRemote('s3://bucket-a/other.duckdb');
    expect(await engine.query('SELECT count(*) AS n FROM duckdb_secrets()')).toEqual([{ n: 1 }]);
    await engine.close();
  });

  it('refuses different credentials for the same bucket in one DuckDB database (engines sharing a file)', async () => {
    const path = join(freshDir('shared'), 'db.duckdb');
    const a = await DuckDBQueryEngine.open({ path, extensionDirectory: extensionDir, credentials: { s3: { accessKeyId: 'AKIAONE', secretAccessKey: 'one-secret' } } });
    const b = await DuckDBQueryEngine.open({ path, extensionDirectory: extensionDir, credentials: { s3: { accessKeyId: 'AKIATWO', secretAccessKey: 'two-secret' } } });
    await a.prepareRemote('s3://same/x.duckdb');
    const error = await ltmError(b.prepareRemote('s3://same/y.duckdb'));
    expect(error.errorType).toBe('validation_error');
    expect(error.message).toContain('already holds different credentials for s3://same');
    expect(error.message).not.toMatch(/one-secret|two-secret/);
    await a.close();
    await b.close();
  });

  it('an unreachable endpoint: retried, counted, the breaker opens and fails fast; once it answers, one probe closes it', async () => {
    const port = await closedPort();
    const events: EngineEvent[] = [];
    const engine = await DuckDBQueryEngine.open({
      extensionDirectory: extensionDir,
      credentials: s3At(port),
      retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 },
      circuitBreaker: { failureThreshold: 3, windowMs: 600_000, recoveryTimeoutMs: 200 },
      onEvent: (e) => events.push(e),
    });
    const first = await ltmError(engine.attachRemote('s3://bucket/db.duckdb'));
    expect(first).toMatchObject({ errorType: 'connection_error', retryable: true });
    expect(first.message).toContain('cannot open s3://bucket/db.duckdb: IO Error: Could not connect to server error for HTTP HEAD');
    expect(first.message).toContain('the storage service could not be reached');
    expect(first.message).not.toContain('local-test-secret');
    // Three attempts (two retries), each an infrastructure failure: the third opened the circuit.
    expect(events.filter((e) => e.type === 'retry')).toHaveLength(2);
    expect(engine.stats().circuit).toMatchObject({ state: 'open', failuresInWindow: 3, opened: 1 });
    expect(engine.stats().retries).toEqual({ retried: 2, gaveUp: 1 });

    const queries = engine.stats().queries;
    const fast = await ltmError(engine.statRemote('s3://bucket/db.duckdb'));
    expect(fast).toMatchObject({ errorType: 'circuit_open', retryable: true });
    expect(engine.stats().queries).toBe(queries);
    // Local statements go through the same breaker: nothing runs while it is open.
    expect(await engine.execute('SELECT 1 AS one')).toMatchObject({ success: false, errorType: 'circuit_open' });

    const server = await objectServer(port);
    try {
      let file;
      for (let attempt = 0; attempt < 300 && file === undefined; attempt++) {
        file = await engine.statRemote('s3://bucket/db.duckdb').catch(async () => {
          await sleep(50);
          return undefined;
        });
      }
      expect(file).toEqual({ size: 4096, lastModified: Date.UTC(2024, 0, 2, 3, 4, 5) });
      expect(engine.stats().circuit?.state).toBe('closed');
      const transitions = events.flatMap((e) => (e.type === 'circuit' ? [`${e.from}->${e.to}`] : []));
      expect(transitions.slice(-2)).toEqual(['open->half_open', 'half_open->closed']);
      expect(await engine.statRemote('s3://bucket/missing.duckdb')).toBeUndefined();
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await engine.close();
    }
  });

  it('an endpoint that never answers is a connection_timeout after httpTimeoutMs (DuckDB http_timeout), counted by the breaker', async () => {
    const silent = await silentServer();
    const engine = await DuckDBQueryEngine.open({
      extensionDirectory: extensionDir,
      credentials: s3At(silent.port),
      httpTimeoutMs: 1_000,
      retry: false,
      circuitBreaker: { failureThreshold: 1 },
    });
    try {
      const error = await ltmError(engine.statRemote('s3://bucket/db.duckdb'));
      expect(error).toMatchObject({ errorType: 'connection_timeout', retryable: true });
      expect(error.message).toContain('Timeout was reached');
      expect(engine.stats().circuit?.state).toBe('open');
    } finally {
      await engine.close();
      await silent.close();
    }
  });

  it('bad input never opens the breaker', async () => {
    const engine = await DuckDBQueryEngine.open({ circuitBreaker: { failureThreshold: 1 } });
    for (let i = 0; i < 5; i++) await engine.execute('SELECT * FROM no_such_table');
    expect(await ltmError(engine.prepareRemote('ftp://x/y'))).toMatchObject({ errorType: 'unsupported' });
    expect(engine.stats().circuit).toMatchObject({ state: 'closed', failuresInWindow: 0 });
    await engine.close();
  });
});
