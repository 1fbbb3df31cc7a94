import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { installRig } from './install.mjs';
import { rigFromEnv, signalGroup, startRig } from './index.mjs';
import { ProbeFailure, runProbe } from './probe.mjs';
import { rigGlobalSetup } from './vitest-global-setup.mjs';

// The first run on a fresh machine builds versitygw with Go and installs Azurite with npm.
const INSTALL_TIMEOUT_MS = 20 * 60_000;

const S3_CHECKS = [
  'create bucket',
  '20-way put-if-absent race (If-None-Match: *)',
  'If-Match mismatch refused, match accepted',
  'wrong secret key rejected (SigV4 checked)',
  'unknown access key rejected',
  'paginated listing (25 objects, pages of 10)',
  'range reads',
  'multipart upload',
  'batch delete (DeleteObjects)',
];
const AZURE_CHECKS = [
  'create container',
  '20-way put-if-absent race (If-None-Match: *)',
  'If-Match mismatch refused, match accepted',
  'wrong account key rejected (SharedKey checked)',
  'paginated listing (25 blobs, pages of 10)',
  'range reads',
  'block upload (stage + commit block list)',
  'batch delete (Blob Batch)',
];

/** Waits (bounded) until every process group is gone; dead groups are what "no leftovers" means. */
async function expectGroupsGone(pids) {
  await vi.waitFor(() => expect(pids.filter((pid) => signalGroup(pid, 0))).toEqual([]), {
    timeout: 20_000,
    interval: 100,
  });
}

async function refusesConnections(url) {
  try {
    await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return false;
  } catch (err) {
    return err.cause?.code === 'ECONNREFUSED';
  }
}

/**
 * A loopback proxy that plays an emulator which lies: every refusal (403, 409, 412) becomes a success, as if
 * signatures and preconditions were not checked. Requests pass through unchanged, so signatures still verify.
 */
async function lyingProxy(target) {
  const server = createServer((req, res) => {
    const upstream = request(new URL(req.url, target), { method: req.method, headers: req.headers }, (up) => {
      if ([403, 409, 412].includes(up.statusCode)) {
        up.resume();
        res.writeHead(req.method === 'PUT' ? 201 : 200, { 'content-length': '0' });
        res.end();
        return;
      }
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    upstream.on('error', (err) => res.destroy(err));
    req.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('installRig', () => {
  it('installs once, then finds the install without doing anything', async () => {
    const first = await installRig();
    const lines = [];
    const again = await installRig({ log: (line) => lines.push(line) });
    expect(again).toEqual(first);
    expect(lines).toEqual([]);
    expect(existsSync(first.versitygw.command)).toBe(true);
    expect(existsSync(first.azurite.command)).toBe(true);
  }, INSTALL_TIMEOUT_MS);

  it('refuses a user-provided emulator path that is not an executable, naming the variable', async () => {
    await expect(installRig({ azure: false, env: { LTM_RIG_VERSITYGW: '/nonexistent/versitygw' } })).rejects.toThrow(
      /LTM_RIG_VERSITYGW=\/nonexistent\/versitygw is not an executable/,
    );
  });
});

describe('a running rig', () => {
  let rig;
  beforeAll(async () => {
    rig = await startRig();
  }, INSTALL_TIMEOUT_MS);
  afterAll(async () => {
    await rig?.stop();
  });

  it('passes every conformance check on both services', async () => {
    const report = await runProbe(rig);
    expect(report.checks.filter((c) => c.service === 's3').map((c) => c.name)).toEqual(S3_CHECKS);
    expect(report.checks.filter((c) => c.service === 'azure').map((c) => c.name)).toEqual(AZURE_CHECKS);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('listens on loopback with fresh credentials per rig', () => {
    expect(new URL(rig.s3.endpoint).hostname).toBe('127.0.0.1');
    expect(new URL(rig.azure.blobEndpoint).hostname).toBe('127.0.0.1');
    expect(rig.s3.accessKeyId).toMatch(/^LTMRIG[0-9A-F]{14}$/);
    expect(rig.azure.connectionString).toContain(`AccountKey=${rig.azure.accountKey};`);
  });

  it('creates buckets and containers for tests', async () => {
    const bucket = await rig.s3.createBucket();
    const client = new S3Client(rig.s3.clientConfig);
    await expect(client.send(new HeadBucketCommand({ Bucket: bucket }))).resolves.toBeDefined();
    client.destroy();
    const container = await rig.azure.createContainer('named-by-the-test');
    expect(container).toBe('named-by-the-test');
    const exists = await BlobServiceClient.fromConnectionString(rig.azure.connectionString)
      .getContainerClient(container)
      .exists();
    expect(exists).toBe(true);
  });

  it('the probe fails loudly, naming each lie, when an emulator accepts what it must refuse', async () => {
    const s3Proxy = await lyingProxy(rig.s3.endpoint);
    const azureProxy = await lyingProxy(new URL(rig.azure.blobEndpoint).origin);
    try {
      const s3 = { ...rig.s3, clientConfig: { ...rig.s3.clientConfig, endpoint: s3Proxy.url } };
      const blobEndpoint = `${azureProxy.url}/${rig.azure.accountName}`;
      const azure = {
        ...rig.azure,
        blobEndpoint,
        connectionString: rig.azure.connectionString.replace(rig.azure.blobEndpoint, blobEndpoint),
      };
      const failure = await runProbe({ s3, azure }).then(
        () => null,
        (err) => err,
      );
      expect(failure).toBeInstanceOf(ProbeFailure);
      const failed = failure.report.checks.filter((c) => !c.ok).map((c) => `${c.service} ${c.name}`);
      // versitygw refuses an unknown access key with 404, which this proxy passes through, so that check holds.
      expect(failed).toEqual([
        's3 20-way put-if-absent race (If-None-Match: *)',
        's3 If-Match mismatch refused, match accepted',
        's3 wrong secret key rejected (SigV4 checked)',
        'azure 20-way put-if-absent race (If-None-Match: *)',
        'azure If-Match mismatch refused, match accepted',
        'azure wrong account key rejected (SharedKey checked)',
      ]);
      expect(failure.message).toMatch(/s3 20-way put-if-absent race.*: round 0: 20 writers succeeded, exactly 1 must/);
    } finally {
      await Promise.all([s3Proxy.close(), azureProxy.close()]);
    }
  });
});

describe('stopping', () => {
  it('stop() ends every process, closes the ports and removes the data directories', async () => {
    const rig = await startRig();
    const services = [...rig.services];
    expect(services.map((s) => s.name)).toEqual([expect.stringMatching(/^versitygw /), expect.stringMatching(/^Azurite /)]);
    for (const s of services) expect(existsSync(s.dataDir)).toBe(true);
    const urls = [rig.s3.endpoint, rig.azure.blobEndpoint];
    await rig.stop();
    await rig.stop();
    await expectGroupsGone(services.map((s) => s.pid));
    for (const url of urls) expect(await refusesConnections(url)).toBe(true);
    for (const s of services) expect(existsSync(s.dataDir)).toBe(false);
  }, INSTALL_TIMEOUT_MS);

  it('stopService() is an outage (connections refused, data kept); startService() brings the service back on the same port', async () => {
    const rig = await startRig();
    try {
      const bucket = await rig.s3.createBucket();
      const container = await rig.azure.createContainer();
      const before = rig.services.map((s) => s.pid);
      for (const kind of ['s3', 'azure']) await rig.stopService(kind);
      await expectGroupsGone(before);
      for (const url of [rig.s3.endpoint, rig.azure.blobEndpoint]) expect(await refusesConnections(url)).toBe(true);
      for (const kind of ['s3', 'azure']) await rig.startService(kind);
      expect(rig.services.map((s) => s.pid)).not.toEqual(before);
      const s3 = new S3Client(rig.s3.clientConfig);
      await s3.send(new HeadBucketCommand({ Bucket: bucket }));
      s3.destroy();
      expect(await BlobServiceClient.fromConnectionString(rig.azure.connectionString).getContainerClient(container).exists()).toBe(true);
    } finally {
      await rig.stop();
    }
  }, INSTALL_TIMEOUT_MS);

  it('a process killed without calling stop() leaves no emulator and no data behind', async () => {
    const index = fileURLToPath(new URL('./index.mjs', import.meta.url));
    const script =
      `const { startRig } = await import(${JSON.stringify(index)});` +
      'const rig = await startRig();' +
      'console.log(JSON.stringify({ services: rig.services.map(({ pid, dataDir }) => ({ pid, dataDir })),' +
      ' urls: [rig.s3.endpoint, rig.azure.blobEndpoint] }));' +
      'setInterval(() => {}, 1000);';
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next().then((r) => [r.value]);
    const { services, urls } = JSON.parse(line);
    try {
      expect(services.every((s) => signalGroup(s.pid, 0))).toBe(true);
      child.kill('SIGKILL');
      await expectGroupsGone(services.map((s) => s.pid));
      for (const url of urls) expect(await refusesConnections(url)).toBe(true);
      await vi.waitFor(() => expect(services.filter((s) => existsSync(s.dataDir))).toEqual([]), { timeout: 20_000 });
    } finally {
      child.kill('SIGKILL');
      for (const s of services) {
        signalGroup(s.pid, 'SIGKILL');
        await rm(s.dataDir, { recursive: true, force: true });
      }
    }
  }, INSTALL_TIMEOUT_MS);
});

describe('vitest global setup', () => {
  it('starts a probed rig, provides its connection and exports it to the environment, and stops it', async () => {
    const provided = new Map();
    const before = { ...process.env };
    const teardown = await rigGlobalSetup({ s3: true, azure: true })({ provide: (k, v) => provided.set(k, v) });
    try {
      const connection = provided.get('ltmRig');
      expect(connection.s3).toEqual({
        endpoint: process.env.LTM_RIG_S3_ENDPOINT,
        region: 'us-east-1',
        accessKeyId: process.env.LTM_RIG_S3_ACCESS_KEY_ID,
        secretAccessKey: process.env.LTM_RIG_S3_SECRET_ACCESS_KEY,
        version: 'v1.8.0',
      });
      expect(connection.azure.connectionString).toBe(process.env.LTM_RIG_AZURE_CONNECTION_STRING);
      expect(JSON.parse(JSON.stringify(connection))).toEqual(connection);
      // A worker rebuilds a working rig description from the environment alone.
      const fromEnv = rigFromEnv();
      await expect(fromEnv.s3.createBucket()).resolves.toMatch(/^ltm-test-/);
      await expect(fromEnv.azure.createContainer()).resolves.toMatch(/^ltm-test-/);
    } finally {
      await teardown();
      for (const key of Object.keys(process.env)) if (!(key in before)) delete process.env[key];
    }
    expect(await refusesConnections(provided.get('ltmRig').s3.endpoint)).toBe(true);
  }, INSTALL_TIMEOUT_MS);
});
