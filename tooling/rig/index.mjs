// The cloud test rig: an S3 server (versitygw, posix backend) and an Azure Blob server (Azurite), each started
// on loopback with a random free port, a fresh temporary data directory and fresh random credentials, and
// stopped with its whole process group. See README.md for what runs and what it does not prove.

import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { installRig } from './install.mjs';

export { startLatencyProxy } from './proxy.mjs';

const HOST = '127.0.0.1';
const REGION = 'us-east-1';
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
// A port found free can be taken by someone else before the service binds it; start again on new ports.
const START_ATTEMPTS = 3;

/**
 * Starts the requested services and resolves once each answers a request signed with its credentials. Returns
 * `{ s3?, azure?, stop() }`; `stop()` is idempotent and removes the data directories.
 */
export async function startRig({ s3 = true, azure = true, env = process.env, log = () => {} } = {}) {
  if (!s3 && !azure) throw new Error('startRig: ask for at least one service ({ s3: true } or { azure: true })');
  const installed = await installRig({ s3, azure, env, log });
  const services = [];
  const rig = {
    /** `{ name, pid, dataDir }` of each running service, for diagnostics. */
    services,
    async stop() {
      await Promise.all(services.splice(0).map((s) => s.stop()));
    },
    /** Kills one service (`s3` or `azure`) as an outage would, keeping its data, port and credentials. */
    async stopService(kind) {
      await serviceOf(kind).halt();
    },
    /** Starts a service stopped by `stopService` again on the same port, data and credentials. */
    async startService(kind) {
      await serviceOf(kind).resume();
    },
  };
  const serviceOf = (kind) => {
    const service = services.find((s) => s.kind === kind);
    if (!service) throw new Error(`this rig has no ${kind} service (it has ${services.map((s) => s.kind).join(', ') || 'none'})`);
    return service;
  };
  const starting = [
    s3 && startWithRetries(() => startVersitygw(installed.versitygw, env)),
    azure && startWithRetries(() => startAzurite(installed.azurite, env)),
  ];
  const outcomes = await Promise.allSettled(starting.filter(Boolean));
  for (const o of outcomes) if (o.status === 'fulfilled') services.push(o.value);
  const failed = outcomes.find((o) => o.status === 'rejected');
  if (failed) {
    await rig.stop();
    throw failed.reason;
  }
  for (const s of services) rig[s.kind] = s.info;
  return rig;
}

/** Connection details a test worker can rebuild from the environment that `exportRigEnv` filled in. */
export function rigFromEnv(env = process.env) {
  const rig = {};
  if (env.LTM_RIG_S3_ENDPOINT) {
    rig.s3 = s3Info({
      endpoint: env.LTM_RIG_S3_ENDPOINT,
      region: env.LTM_RIG_S3_REGION ?? REGION,
      accessKeyId: env.LTM_RIG_S3_ACCESS_KEY_ID,
      secretAccessKey: env.LTM_RIG_S3_SECRET_ACCESS_KEY,
      version: env.LTM_RIG_S3_VERSION,
    });
  }
  if (env.LTM_RIG_AZURE_BLOB_ENDPOINT) {
    rig.azure = azureInfo({
      blobEndpoint: env.LTM_RIG_AZURE_BLOB_ENDPOINT,
      accountName: env.LTM_RIG_AZURE_ACCOUNT_NAME,
      accountKey: env.LTM_RIG_AZURE_ACCOUNT_KEY,
      version: env.LTM_RIG_AZURE_VERSION,
    });
  }
  return rig;
}

/** Writes the rig's connection details into `env` (names as read by `rigFromEnv`). */
export function exportRigEnv(rig, env = process.env) {
  if (rig.s3) {
    env.LTM_RIG_S3_ENDPOINT = rig.s3.endpoint;
    env.LTM_RIG_S3_REGION = rig.s3.region;
    env.LTM_RIG_S3_ACCESS_KEY_ID = rig.s3.accessKeyId;
    env.LTM_RIG_S3_SECRET_ACCESS_KEY = rig.s3.secretAccessKey;
    env.LTM_RIG_S3_VERSION = rig.s3.version;
  }
  if (rig.azure) {
    env.LTM_RIG_AZURE_BLOB_ENDPOINT = rig.azure.blobEndpoint;
    env.LTM_RIG_AZURE_ACCOUNT_NAME = rig.azure.accountName;
    env.LTM_RIG_AZURE_ACCOUNT_KEY = rig.azure.accountKey;
    env.LTM_RIG_AZURE_CONNECTION_STRING = rig.azure.connectionString;
    env.LTM_RIG_AZURE_VERSION = rig.azure.version;
  }
}

/** Plain data (no functions) describing the rig, for vitest's `provide`/`inject`. */
export function rigConnection(rig) {
  const pick = (info, keys) => info && Object.fromEntries(keys.map((k) => [k, info[k]]));
  return {
    s3: pick(rig.s3, ['endpoint', 'region', 'accessKeyId', 'secretAccessKey', 'version']),
    azure: pick(rig.azure, ['blobEndpoint', 'accountName', 'accountKey', 'connectionString', 'version']),
  };
}

// --- service descriptions --------------------------------------------------------------------------------

function s3Info({ endpoint, region, accessKeyId, secretAccessKey, version }) {
  const credentials = { accessKeyId, secretAccessKey };
  // Path-style: the emulator has one host name, so bucket names cannot be subdomains.
  const clientConfig = { endpoint, region, credentials, forcePathStyle: true };
  return {
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
    version,
    clientConfig,
    /** Creates a bucket (a fresh random name when none is given) and resolves to its name. */
    async createBucket(name = `ltm-test-${randomUUID().slice(0, 13)}`) {
      const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
      const client = new S3Client(clientConfig);
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
      return name;
    },
    /** Writes an object (bytes or text) with the rig's credentials. */
    async putObject(bucket, key, body) {
      const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
      const client = new S3Client(clientConfig);
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      } finally {
        client.destroy();
      }
    },
  };
}

function azureInfo({ blobEndpoint, accountName, accountKey, version }) {
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${accountName};AccountKey=${accountKey};` +
    `BlobEndpoint=${blobEndpoint};`;
  return {
    blobEndpoint,
    accountName,
    accountKey,
    connectionString,
    version,
    /** Creates a container (a fresh random name when none is given) and resolves to its name. */
    async createContainer(name = `ltm-test-${randomUUID().slice(0, 13)}`) {
      const { BlobServiceClient } = await import('@azure/storage-blob');
      await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(name).create();
      return name;
    },
    /** Writes a block blob (bytes or text) with the rig's credentials. */
    async putBlob(container, name, body) {
      const { BlobServiceClient } = await import('@azure/storage-blob');
      const data = typeof body === 'string' ? Buffer.from(body) : body;
      await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container).getBlockBlobClient(name).uploadData(data);
    },
  };
}

async function startVersitygw({ command, version }, env) {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'ltm-rig-s3-'));
  const root = join(dataDir, 'buckets');
  const meta = join(dataDir, 'meta');
  await Promise.all([mkdir(root), mkdir(meta)]);
  // AWS-shaped random credentials, fresh per rig, so a test can never pass on a well-known default key.
  const accessKeyId = `LTMRIG${randomBytes(7).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64');
  const endpoint = `http://${HOST}:${port}`;
  const info = s3Info({ endpoint, region: REGION, accessKeyId, secretAccessKey, version });
  return launch({
    kind: 's3',
    info,
    name: `versitygw ${version}`,
    command,
    // Metadata (etags, content types) in a sidecar directory rather than xattrs, so the rig also runs
    // where the temp directory is a filesystem without user xattrs (older tmpfs, some containers).
    // `--keep-alive`: versitygw closes every connection after one answer unless told otherwise; cloud object
    // stores keep them open, and a new TCP connection per request would cost the clients and the latency proxy
    // CPU that a real deployment does not pay (the benchmarks share the machine with the emulator).
    args: ['--port', `${HOST}:${port}`, '--region', REGION, '--quiet', '--keep-alive', 'posix', '--sidecar', meta, root],
    // Credentials through the environment rather than argv, where any local user could read them in `ps`.
    env: { ...baseEnv(env), ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey },
    dataDir,
    ready: () => s3Answers(info),
  });
}

async function startAzurite({ command, version }, env) {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), 'ltm-rig-azure-'));
  const accountName = 'ltmrig';
  const accountKey = randomBytes(64).toString('base64');
  const blobEndpoint = `http://${HOST}:${port}/${accountName}`;
  const info = azureInfo({ blobEndpoint, accountName, accountKey, version });
  return launch({
    kind: 'azure',
    info,
    name: `Azurite ${version}`,
    command: process.execPath,
    args: [
      command,
      '--blobHost',
      HOST,
      '--blobPort',
      String(port),
      '--location',
      join(dataDir, 'data'),
      '--silent',
      '--disableTelemetry',
      // Azurite 3.35 (the last release for Node 20) predates the service version that current SDKs send.
      '--skipApiVersionCheck',
    ],
    env: { ...baseEnv(env), AZURITE_ACCOUNTS: `${accountName}:${accountKey}` },
    dataDir,
    ready: () => azureAnswers(info),
  });
}

// Readiness is a signed request with this rig's own credentials, not just an open port: should another
// server have taken the port between freePort() and the bind, it would answer, but refuse these credentials.
async function s3Answers(info) {
  const { S3Client, ListBucketsCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ ...info.clientConfig, maxAttempts: 1, requestHandler: { requestTimeout: 2_000 } });
  try {
    await client.send(new ListBucketsCommand({}));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

async function azureAnswers(info) {
  const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
  const credential = new StorageSharedKeyCredential(info.accountName, info.accountKey);
  const client = new BlobServiceClient(info.blobEndpoint, credential, { retryOptions: { maxTries: 1, tryTimeoutInMs: 2_000 } });
  try {
    await client.getProperties();
    return true;
  } catch {
    return false;
  }
}

// Loopback traffic must never go through a proxy the user configured for the internet.
function baseEnv(env) {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^(https?|no|all)_proxy$/i.test(k)));
}

async function startWithRetries(start) {
  let lastError;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await start();
    } catch (err) {
      lastError = err;
      if (!err.exitedEarly) break;
    }
  }
  throw lastError;
}

// --- processes -------------------------------------------------------------------------------------------

// The service runs under a small shell that, once this Node process is gone without calling stop() (a test
// runner SIGKILLed by a CI timeout), kills the service and removes its data directory, so nothing is left
// listening or lying in the temp directory. stop() itself signals the whole process group.
const WATCHDOG = [
  'parent=$1; data=$2; shift 2',
  '"$@" & child=$!',
  '( while kill -0 "$parent" 2>/dev/null; do sleep 1; done; kill -KILL "$child" ) & watchdog=$!',
  'wait "$child"; status=$?',
  'kill "$watchdog" 2>/dev/null',
  'kill -0 "$parent" 2>/dev/null || rm -rf "$data"',
  'exit "$status"',
].join('\n');

async function launch({ kind, info, name, command, args, env, dataDir, ready }) {
  const logPath = join(dataDir, 'service.log');
  // One run of the process: its pid, and a promise (with `exit`) that settles when it exits.
  const spawnOnce = () => {
    const logFd = openSync(logPath, 'a');
    let child;
    try {
      child = spawn('/bin/sh', ['-c', WATCHDOG, 'ltm-rig', String(process.pid), dataDir, command, ...args], {
        detached: true, // its own process group, so stop() reaches the service and the watchdog together
        stdio: ['ignore', logFd, logFd],
        env,
      });
    } finally {
      closeSync(logFd);
    }
    // A rig is stopped explicitly; holding the event loop open for it would turn a forgotten stop() into a hang.
    child.unref();
    const run = { pid: child.pid, exit: null };
    run.exited = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        run.exit = signal ?? `exit ${code}`;
        resolveExit();
      });
      child.on('error', (err) => {
        run.exit = err.message;
        resolveExit();
      });
    });
    return run;
  };

  let run = spawnOnce();
  const service = {
    kind,
    info,
    name,
    pid: run.pid,
    dataDir,
    stopped: false,
    halted: false,
    async stop() {
      if (service.stopped) return;
      service.stopped = true;
      if (!service.halted) await killGroup(run.pid, run.exited);
      if (!env.LTM_RIG_KEEP) await rm(dataDir, { recursive: true, force: true });
    },
    async halt() {
      if (service.stopped || service.halted) return;
      service.halted = true;
      await killGroup(run.pid, run.exited);
    },
    async resume() {
      if (service.stopped) throw new Error(`${name} was stopped for good (rig.stop()); start a new rig`);
      if (!service.halted) return;
      run = spawnOnce();
      service.pid = run.pid;
      service.halted = false;
      await waitReady();
    },
  };

  const waitReady = async () => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (run.exit !== null) {
        const tail = logTail(logPath);
        await service.stop();
        const err = new Error(`${name} exited before it was ready (${run.exit}):\n${tail}`);
        err.exitedEarly = true;
        throw err;
      }
      if (await ready()) return;
      if (Date.now() > deadline) {
        const tail = logTail(logPath);
        await service.stop();
        throw new Error(`${name} did not answer within ${READY_TIMEOUT_MS / 1000} s:\n${tail}`);
      }
      await sleep(100);
    }
  };
  await waitReady();
  return service;
}

// The whole group: the shell, its watchdog and the service (which outlives the shell when only it is hit).
async function killGroup(pid, exited) {
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (signalGroup(pid, 0) && Date.now() < deadline) await sleep(50);
  // The data is throwaway, so a service slow to shut down is killed rather than waited for.
  signalGroup(pid, 'SIGKILL');
  await Promise.race([exited, sleep(STOP_GRACE_MS)]);
}

/** Sends `signal` to the process group; false when the group no longer exists. */
export function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if (err.code === 'ESRCH') return false;
    throw err;
  }
}

function logTail(path) {
  try {
    return readFileSync(path, 'utf8').slice(-2000) || '(no output)';
  } catch {
    return '(no log)';
  }
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}
