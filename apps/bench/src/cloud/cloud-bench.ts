/**
 * The object-storage half of issue 6: both sides on the rig's S3 emulator behind a latency proxy that adds
 * a round trip to every request and counts them.
 *
 * - Both sides start from the same store in use: `preload` memories (ours: written with storeMany and
 *   compacted into a Parquet segment; peer: the SQLite file holding them, uploaded), so that reads and
 *   the peer's downloads meet a store of some size rather than an empty one.
 * - Writes: 8 writer processes per side for the same duration. Ours: one `DuckDBLTMBackend` per process on
 *   `s3://bucket/ours` (Parquet, multi-writer), `inFlight` concurrent `store()` calls. Peer: the story's
 *   BlobSQLiteBackend pattern (`dlu-peer.ts`), sessions of 50 stores. Throughput counts writes acknowledged
 *   as durable on the store, up to the last process's final `flush()` (ours) or upload (peer).
 * - Reads, in this process on a fresh reader of each side: cold `retrieve` (a key this process never read),
 *   then warm `retrieve` (keys read just before), each timed and with the proxy's request count per call.
 * - Verification: every acknowledged write of every process is read back through the fresh reader and
 *   compared with what was written, and the reader's entry count equals the acknowledged total.
 */
import { fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { version as duckdbVersion } from '@duckdb/node-api';
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import type { LTMBackend, RetrieveResult } from '@ltm/core';
import { createParquetFormat } from '@ltm/format-parquet';
import { provisionExtensions } from '@ltm/tooling/extensions';
import { startLatencyProxy, startRig } from '@ltm/tooling/rig';
import type { LatencyProxy, ProxyCounts, Rig } from '@ltm/tooling/rig';
import type { Memory } from '../data.js';
import { DEFAULT_SEED } from '../data.js';
import { quantile } from '../measure.js';
import type { PhaseStats } from '../measure.js';
import { SQLiteBackend, betterSqliteVersion, sqliteLibraryVersion } from '../peers/sqlite-backend.js';
import { Random } from '../random.js';
import { VerificationError } from '../workload.js';
import { download } from './dlu-peer.js';
import type { SessionCounters } from './dlu-peer.js';
import type { FromWriter, ToWriter } from './writer-child.js';
import { PEER_KEY, memoryKey, oursOptions, s3Client, writerMemories } from './writers.js';
import type { S3Access, WriterConfig, WriterResult } from './writers.js';

export interface CloudConfig {
  /** Memories in both stores before the writers start. */
  preload: number;
  /** Writer processes per side (issue 6: 8). */
  writers: number;
  /** Ours: `store()` calls in flight per process. */
  inFlight: number;
  /** Peer: stores per download-lock-upload session (issue 6: 50). */
  sessionStores: number;
  /** How long each side's writers start new writes. */
  writeMs: number;
  /** Added to every request's round trip by the proxy (issue 6: 30 ms). */
  delayMs: number;
  /** Cold retrieves on ours (each of a different key), after `warmup` untimed ones. */
  coldReads: number;
  /** Cold retrieves on the peer: each downloads the whole file. */
  peerColdReads: number;
  /** Ours: readers opened one after another, each timed on its first retrieve (wall time of the opens not counted). */
  firstReads: number;
  /** Warm retrieves on each side, over the keys the cold phase read. */
  warmReads: number;
  warmup: number;
  seed: number;
}

export const DEFAULT_CLOUD_CONFIG: CloudConfig = {
  preload: 5_000,
  writers: 8,
  inFlight: 64,
  sessionStores: 50,
  writeMs: 20_000,
  delayMs: 30,
  coldReads: 200,
  peerColdReads: 20,
  firstReads: 20,
  warmReads: 2_000,
  warmup: 5,
  seed: DEFAULT_SEED,
};

/** Keeps `--quick` (local table, resident memory and this) under two minutes on a 2-core machine. */
export const QUICK_CLOUD_CONFIG: CloudConfig = {
  ...DEFAULT_CLOUD_CONFIG,
  preload: 2_000,
  writeMs: 6_000,
  coldReads: 60,
  peerColdReads: 5,
  firstReads: 5,
  warmReads: 500,
};

/** One phase's numbers on one side, with the proxy's requests per call where a read was timed. */
export interface CloudStats extends PhaseStats {
  /** Requests per call (reads only). */
  requestsP50?: number;
  requestsP99?: number;
  requestsMean?: number;
}

export interface CloudWriteSide {
  stats: CloudStats;
  acked: number;
  /** Every request through the proxy from the start signal to the last process's end. */
  requests: ProxyCounts;
  /** CPU time of all writer processes during the phase (the machine's cores are shared by all of them). */
  cpuMs: number;
  /** CPU time of the S3 emulator's processes during the phase (Linux `/proc`; absent elsewhere). */
  emulatorCpuMs?: number;
  /** CPU time of the bench process during the phase: the latency proxy, mostly. */
  benchCpuMs: number;
  /** Acknowledged writes of each process, in process order: how evenly the store served them. */
  perProcess: number[];
  /** Ours: commits made by all processes (their write pipelines' applies). */
  commits?: number;
  /** Ours: log numbers all processes filled with `skip` records. */
  skips?: number;
  /** Peer: sessions, lock attempts and bytes moved, summed over the processes. */
  sessions?: SessionCounters;
}

export interface CloudPhase {
  name: string;
  unit: string;
  ours: CloudStats;
  peer?: CloudStats;
}

export interface CloudReport {
  startedAt: string;
  config: CloudConfig;
  environment: { cores: number; cpu: string; platform: string; node: string; duckdb: string; sqlite: string; binding: string; emulator: string };
  phases: CloudPhase[];
  writes: { ours: CloudWriteSide; peer: CloudWriteSide };
  /** Acknowledged writes read back through a fresh reader and compared, per side. */
  verified: { ours: number; peer: number };
}

export const CLOUD_WRITE_PHASE = (writers: number): string => `store, ${writers} writer processes`;
export const WARM_RETRIEVE_PHASE = 'retrieve on S3 (warm key)';
export const COLD_RETRIEVE_PHASE = 'retrieve on S3 (cold key)';
export const FIRST_RETRIEVE_PHASE = 'retrieve on S3 (first read after open)';

export interface CloudBenchOptions {
  config: CloudConfig;
  /** Progress lines. */
  log?: (line: string) => void;
}

const READY_TIMEOUT_MS = 180_000;
const PRELOAD_BATCH = 500;
/** Keys of the preloaded memories; writers' keys start with `w<index>/`. */
const PRELOAD_PREFIX = 'base/';
const VERIFY_BATCH = 2_000;

export async function runCloudBench({ config, log = () => {} }: CloudBenchOptions): Promise<CloudReport> {
  const startedAt = new Date().toISOString();
  let rig: Rig | undefined;
  let proxy: LatencyProxy | undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-bench-cloud-'));
  try {
    // DuckDB reads s3:// through httpfs, which its npm package does not carry; the writers inherit the directory.
    const extensions = await provisionExtensions({ only: ['httpfs'], log });
    process.env['LTM_EXTENSION_DIR'] = extensions.dir;
    rig = await startRig({ s3: true, azure: false, log });
    const s3 = rig.s3;
    if (s3 === undefined) throw new Error('the rig started without its S3 emulator');
    const bucket = await s3.createBucket();
    proxy = await startLatencyProxy({ target: s3.endpoint, delayMs: config.delayMs });
    const access: S3Access = { endpoint: proxy.url, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };

    log(`preloading ${config.preload.toLocaleString('en-US')} memories into both stores`);
    const preloaded = preloadMemories(config);
    await preloadPeer(access, bucket, dir, preloaded);
    await preloadOurs(access, bucket, preloaded);

    log(`peer: ${config.writers} writer processes, download-lock-upload sessions of ${config.sessionStores} stores, ${config.writeMs / 1000} s`);
    const emulator = rig.services.find((service) => service.name.startsWith('versitygw'))?.pid;
    const peerWrites = await runWriters('peer', config, bucket, access, proxy, emulator);
    log(`  peer: ${describeWrites(peerWrites)}`);
    log(`ours: ${config.writers} writer processes, ${config.inFlight} stores in flight each, ${config.writeMs / 1000} s`);
    const oursWrites = await runWriters('ours', config, bucket, access, proxy, emulator);
    log(`  ours: ${describeWrites(oursWrites)}`);

    const peerExpected = expectedWrites(config, peerWrites.results, preloaded);
    const oursExpected = expectedWrites(config, oursWrites.results, preloaded);
    const random = new Random(config.seed);

    log('peer reads: cold (download the file), warm (the downloaded file), and verification of every acknowledged write');
    const peerReads = await peerRetrieves(config, access, bucket, dir, proxy, peerExpected, random);
    log('ours reads: a fresh reader; cold keys, warm keys, and verification of every acknowledged write');
    const oursReads = await oursRetrieves(config, access, bucket, proxy, oursExpected, random);

    return {
      startedAt,
      config,
      environment: {
        cores: os.availableParallelism(),
        cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
        platform: `${os.platform()} ${os.release()} ${os.arch()}`,
        node: process.versions.node,
        duckdb: `DuckDB ${duckdbVersion()}`,
        sqlite: `SQLite ${sqliteLibraryVersion()}`,
        binding: `better-sqlite3 ${betterSqliteVersion()}`,
        emulator: `versitygw ${s3.version}`,
      },
      phases: [
        { name: CLOUD_WRITE_PHASE(config.writers), unit: 'write', ours: oursWrites.side.stats, peer: peerWrites.side.stats },
        { name: WARM_RETRIEVE_PHASE, unit: 'call', ours: oursReads.warm, peer: peerReads.warm },
        { name: COLD_RETRIEVE_PHASE, unit: 'call', ours: oursReads.cold, peer: peerReads.cold },
        { name: FIRST_RETRIEVE_PHASE, unit: 'call', ours: oursReads.first },
      ],
      writes: { ours: oursWrites.side, peer: peerWrites.side },
      verified: { ours: oursReads.verified, peer: peerReads.verified },
    };
  } finally {
    await proxy?.close();
    await rig?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

interface WritePhase {
  side: CloudWriteSide;
  results: WriterResult[];
}

function describeWrites({ side }: WritePhase): string {
  const extra =
    side.commits !== undefined
      ? `, ${side.commits} commits`
      : side.sessions !== undefined
        ? `, ${side.sessions.sessions} sessions, ${side.sessions.lockAttempts} lock attempts`
        : '';
  return `${side.acked} writes in ${(side.stats.wallMs / 1000).toFixed(1)} s (${Math.round(side.stats.opsPerSec)}/s), ${side.requests.requests} requests${extra}`;
}

/**
 * CPU time (ms) of the processes in process group `group` (the rig runs each service in its own group), from
 * Linux's `/proc/<pid>/stat` (utime + stime in USER_HZ ticks, 100 per second); `undefined` where there is no `/proc`.
 */
function groupCpuMs(group: number | undefined): number | undefined {
  if (group === undefined) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let ticks = 0;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ... : fields after the command name, which may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== group) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

/** Forks the writer processes, waits until every one is open, starts them together and collects their results. */
async function runWriters(side: 'ours' | 'peer', config: CloudConfig, bucket: string, s3: S3Access, proxy: LatencyProxy, emulator: number | undefined): Promise<WritePhase> {
  const script = fileURLToPath(new URL('./writer-child.js', import.meta.url));
  const children = Array.from({ length: config.writers }, (_, index) => {
    const child = fork(script, [], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const messages: FromWriter[] = [];
    const waiters: (() => void)[] = [];
    child.on('message', (message: FromWriter) => {
      messages.push(message);
      waiters.splice(0).forEach((wake) => wake());
    });
    child.on('exit', () => waiters.splice(0).forEach((wake) => wake()));
    /** The next message of `type`; an `error` message, or the process exiting first, rejects. */
    const next = async <T extends FromWriter['type']>(type: T, timeoutMs: number): Promise<Extract<FromWriter, { type: T }>> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const message = messages.shift();
        if (message?.type === 'error') throw new Error(`${side} writer ${index} failed: ${message.message}`);
        if (message?.type === type) return message as Extract<FromWriter, { type: T }>;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${side} writer ${index} exited (${child.exitCode ?? child.signalCode}) before '${type}':\n${stderr}`);
        }
        if (Date.now() > deadline) throw new Error(`${side} writer ${index} sent no '${type}' within ${timeoutMs / 1000} s:\n${stderr}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 1_000).unref();
        });
      }
    };
    const config_: WriterConfig = { side, index, seed: config.seed, bucket, s3, inFlight: config.inFlight, sessionStores: config.sessionStores };
    child.send({ type: 'open', config: config_ } satisfies ToWriter);
    return { child, next };
  });
  try {
    await Promise.all(children.map((c) => c.next('ready', READY_TIMEOUT_MS)));
    // Opening (ours: the engine, httpfs, the log) is not part of the phase; everything after the signal is.
    const startAt = performance.timeOrigin + performance.now() + 200;
    const deadline = startAt + config.writeMs;
    proxy.reset();
    const emulatorCpuBefore = groupCpuMs(emulator);
    const benchCpuBefore = process.cpuUsage();
    for (const { child } of children) child.send({ type: 'go', startAt, deadline } satisfies ToWriter);
    const results = (await Promise.all(children.map((c) => c.next('done', config.writeMs + READY_TIMEOUT_MS)))).map((m) => m.result);
    const benchCpu = process.cpuUsage(benchCpuBefore);
    const benchCpuMs = (benchCpu.user + benchCpu.system) / 1000;
    const emulatorCpuAfter = groupCpuMs(emulator);
    const emulatorCpuMs = emulatorCpuBefore === undefined || emulatorCpuAfter === undefined ? undefined : emulatorCpuAfter - emulatorCpuBefore;
    const requests = proxy.counts();
    const endedAt = Math.max(...results.map((r) => r.endedAt));
    const acked = results.reduce((sum, r) => sum + r.acked, 0);
    const latencies = results.flatMap((r) => r.latenciesMs);
    const cpuMs = results.reduce((sum, r) => sum + r.cpuMs, 0);
    const wallMs = endedAt - startAt;
    const stats: CloudStats = { ops: acked, opsPerSec: wallMs > 0 ? (acked * 1000) / wallMs : Number.NaN, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), wallMs };
    const commits = side === 'ours' ? results.reduce((sum, r) => sum + (r.commits ?? 0), 0) : undefined;
    const skips = side === 'ours' ? results.reduce((sum, r) => sum + (r.skips ?? 0), 0) : undefined;
    const sessions = side === 'peer' ? sumCounters(results.map((r) => r.sessions).filter((s) => s !== undefined)) : undefined;
    return {
      results,
      side: { stats, acked, requests, cpuMs, ...(emulatorCpuMs === undefined ? {} : { emulatorCpuMs }), benchCpuMs, perProcess: results.map((r) => r.acked), ...(commits === undefined ? {} : { commits }), ...(skips === undefined ? {} : { skips }), ...(sessions === undefined ? {} : { sessions }) },
    };
  } finally {
    for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function sumCounters(all: SessionCounters[]): SessionCounters {
  const total: SessionCounters = { sessions: 0, lockAttempts: 0, lockWaitMs: 0, downloadedBytes: 0, uploadedBytes: 0 };
  for (const c of all) for (const name of Object.keys(total) as (keyof SessionCounters)[]) total[name] += c[name];
  return total;
}

/** The preloaded memories, keyed under `base/`, from a generator no writer uses. */
function preloadMemories(config: CloudConfig): Memory[] {
  const memories = writerMemories(config.seed, -1);
  return Array.from({ length: config.preload }, () => {
    const memory = memories.next();
    return { ...memory, key: `${PRELOAD_PREFIX}${memory.key}` };
  });
}

async function preloadPeer(s3: S3Access, bucket: string, dir: string, memories: Memory[]): Promise<void> {
  const file = path.join(dir, 'preload.sqlite');
  const backend = await SQLiteBackend.open({ path: file });
  try {
    for (let start = 0; start < memories.length; start += PRELOAD_BATCH) {
      const result = await backend.storeMany(memories.slice(start, start + PRELOAD_BATCH));
      if (!result.success) throw new Error(`peer preload: storeMany failed (${result.errorType}): ${result.error}`);
    }
  } finally {
    await backend.close();
  }
  const client = s3Client(s3);
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: PEER_KEY, Body: await readFile(file) }));
  } finally {
    client.destroy();
  }
}

async function preloadOurs(s3: S3Access, bucket: string, memories: Memory[]): Promise<void> {
  const backend = await DuckDBLTMBackend.open(oursOptions(bucket, s3));
  try {
    for (let start = 0; start < memories.length; start += PRELOAD_BATCH) {
      const result = await backend.storeMany(memories.slice(start, start + PRELOAD_BATCH));
      if (!result.success) throw new Error(`ours preload: storeMany failed (${result.errorType}): ${result.error}`);
    }
    const compacted = await backend.compact();
    if (!compacted.success) throw new Error(`ours preload: compact failed (${compacted.errorType}): ${compacted.error}`);
  } finally {
    await backend.close();
  }
}

/** Every acknowledged write by key: the preload, then each process's first `acked` memories. */
function expectedWrites(config: CloudConfig, results: WriterResult[], preloaded: Memory[]): Map<string, Memory> {
  const expected = new Map<string, Memory>(preloaded.map((memory) => [memory.key, memory]));
  for (const result of results) {
    const memories = writerMemories(config.seed, result.index);
    for (let i = 0; i < result.acked; i += 1) {
      const memory = memories.next();
      expected.set(memoryKey(result.index, memory), memory);
    }
  }
  return expected;
}

interface SideReads {
  warm: CloudStats;
  cold: CloudStats;
  verified: number;
}

interface OursReads extends SideReads {
  first: CloudStats;
}

/** Times `count` calls of `read(i)` one after another, with the proxy's requests per call. */
async function timedReads(count: number, proxy: LatencyProxy, read: (i: number) => Promise<void>): Promise<CloudStats> {
  const latencies: number[] = [];
  const requests: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i += 1) {
    const [latency, n] = await timedRead(proxy, () => read(i));
    latencies.push(latency);
    requests.push(n);
  }
  return readStats(latencies, requests, performance.now() - started);
}

/** One read's time in ms and the requests the proxy saw meanwhile. */
async function timedRead(proxy: LatencyProxy, read: () => Promise<void>): Promise<[number, number]> {
  proxy.reset();
  const t = performance.now();
  await read();
  return [performance.now() - t, proxy.counts().requests];
}

/** Throughput is reads over their own time (not over `wallMs`, which may include opening readers). */
function readStats(latencies: number[], requests: number[], wallMs: number): CloudStats {
  const count = latencies.length;
  const busyMs = latencies.reduce((sum, ms) => sum + ms, 0);
  return {
    ops: count,
    opsPerSec: (count * 1000) / busyMs,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    wallMs,
    requestsP50: quantile(requests, 0.5),
    requestsP99: quantile(requests, 0.99),
    requestsMean: requests.reduce((sum, n) => sum + n, 0) / count,
  };
}

/**
 * A download-lock-upload reader has no way to read one key but to download the file: a cold retrieve is a
 * download, an open and a read; a warm one reads the file it downloaded. Verification reads every write.
 */
async function peerRetrieves(
  config: CloudConfig,
  s3: S3Access,
  bucket: string,
  dir: string,
  proxy: LatencyProxy,
  expected: Map<string, Memory>,
  random: Random,
): Promise<SideReads> {
  const client = s3Client(s3);
  const keys = random.sample([...expected.keys()], config.peerColdReads);
  let last: SQLiteBackend | undefined;
  try {
    const cold = await timedReads(keys.length, proxy, async (i) => {
      const file = path.join(dir, `peer-${i}.sqlite`);
      const bytes = await download(client, { bucket, key: PEER_KEY });
      if (bytes === undefined) throw new Error(`the peer's file ${PEER_KEY} is missing from the bucket`);
      await writeFile(file, bytes);
      await last?.close();
      last = await SQLiteBackend.open({ path: file });
      check('peer', keys[i] as string, await last.retrieve(keys[i] as string), expected);
    });
    const reader = last;
    if (reader === undefined) throw new Error('no peer read ran (peerColdReads is 0)');
    const warm = await timedReads(config.warmReads, proxy, async (i) => {
      const key = keys[i % keys.length] as string;
      check('peer', key, await reader.retrieve(key), expected);
    });
    const verified = await verifyAll('peer', reader, expected);
    return { warm, cold, verified };
  } finally {
    await last?.close();
    client.destroy();
  }
}

/**
 * Ours: a fresh reader in this process, its format's background refresh off so that the proxy counts only
 * what each retrieve asks for (opening read the log up to the writers' last commit: the store is refreshed).
 */
async function oursRetrieves(config: CloudConfig, s3: S3Access, bucket: string, proxy: LatencyProxy, expected: Map<string, Memory>, random: Random): Promise<OursReads> {
  const picked = random.sample([...expected.keys()], 2 * (config.warmup + config.coldReads));
  const half = config.warmup + config.coldReads;
  const reader = await DuckDBLTMBackend.open({ ...oursOptions(bucket, s3), format: quietFormat(s3) });
  let cold: CloudStats;
  let warm: CloudStats;
  let verified: number;
  try {
    const keys = await warmUp(reader, picked.slice(0, half), config.warmup, expected);
    cold = await timedReads(keys.length, proxy, async (i) => {
      check('ours', keys[i] as string, await reader.retrieve(keys[i] as string), expected);
    });
    warm = await timedReads(config.warmReads, proxy, async (i) => {
      const key = keys[i % keys.length] as string;
      check('ours', key, await reader.retrieve(key), expected);
    });
    verified = await verifyAll('ours', reader, expected);
  } finally {
    await reader.close();
  }
  // DuckDB keeps the Parquet bytes it fetched (its external file cache), so in a small store most "cold" keys
  // sit in a row group an earlier read fetched. A reader's first read fetches its row group, and the segment's
  // footer, for the first time: what a process that just opened pays (a serverless call, a new agent).
  const firstKeys = picked.slice(half, half + config.firstReads);
  const latencies: number[] = [];
  const requests: number[] = [];
  const started = performance.now();
  for (const key of firstKeys) {
    // Search is not asked for, so the reader skips loading the search index.
    const fresh = await DuckDBLTMBackend.open({ ...oursOptions(bucket, s3), format: quietFormat(s3), enableFts: false });
    try {
      const [latency, count] = await timedRead(proxy, async () => check('ours', key, await fresh.retrieve(key), expected));
      latencies.push(latency);
      requests.push(count);
    } finally {
      await fresh.close();
    }
  }
  const first = readStats(latencies, requests, performance.now() - started);
  return { warm, cold, first, verified };
}

/** The reader's format: no background refresh, compaction or vacuum, so the proxy counts only what reads ask for. */
function quietFormat(s3: S3Access) {
  return createParquetFormat({
    s3: { endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true },
    refreshIntervalMs: 0,
    autoCompact: false,
    vacuumIntervalMs: 0,
  });
}

/** Untimed first reads of `warmup` keys (the engine's first queries: extension, plans, footers); returns the rest. */
async function warmUp(reader: LTMBackend, keys: string[], warmup: number, expected: Map<string, Memory>): Promise<string[]> {
  for (const key of keys.slice(0, warmup)) check('ours', key, await reader.retrieve(key), expected);
  return keys.slice(warmup);
}

/** Reads back every acknowledged write and checks the reader holds exactly that many entries. */
async function verifyAll(side: 'ours' | 'peer', reader: LTMBackend, expected: Map<string, Memory>): Promise<number> {
  const keys = [...expected.keys()];
  for (let start = 0; start < keys.length; start += VERIFY_BATCH) {
    const batch = keys.slice(start, start + VERIFY_BATCH);
    const answer = await reader.retrieveMany(batch);
    if (!answer.success) throw new Error(`${side}: retrieveMany failed (${answer.errorType}): ${answer.error}`);
    answer.items.forEach((item, i) => checkEntry(side, batch[i] as string, item, expected));
  }
  const stats = await reader.stats();
  if (!stats.success) throw new Error(`${side}: stats failed (${stats.errorType}): ${stats.error}`);
  if (stats.entries !== keys.length) {
    throw new VerificationError(side, `the store holds ${stats.entries} entries after ${keys.length} acknowledged writes of distinct keys`, {});
  }
  return keys.length;
}

function check(side: 'ours' | 'peer', key: string, answer: RetrieveResult, expected: Map<string, Memory>): void {
  if (!answer.success) throw new Error(`${side}: retrieve failed (${answer.errorType}): ${answer.error}`);
  checkEntry(side, key, answer, expected);
}

function checkEntry(side: 'ours' | 'peer', key: string, answer: { found: boolean; value: unknown; metadata?: unknown }, expected: Map<string, Memory>): void {
  const memory = expected.get(key);
  if (memory === undefined) return;
  if (!answer.found) throw new VerificationError(side, 'an acknowledged write was not found', { key, expected: memory.value });
  const wanted = JSON.parse(JSON.stringify(memory.value)) as unknown;
  if (!isDeepStrictEqual(answer.value, wanted)) throw new VerificationError(side, 'retrieve returned a different value', { key, expected: wanted, got: answer.value });
  if (!isDeepStrictEqual(answer.metadata, JSON.parse(JSON.stringify(memory.metadata)))) {
    throw new VerificationError(side, 'retrieve returned different metadata', { key, expected: memory.metadata, got: answer.metadata });
  }
}
