/**
 * What one writer process of the object-storage write phase does, for each side. Both write the same
 * memories (process `index` takes `MemoryGenerator(seed + index)` in order, keys prefixed `w<index>/`), so
 * the parent can rebuild every acknowledged write from the count alone and check it is in the store.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import type { LTMBackend } from '@ltm/core';
import { MemoryGenerator } from '../data.js';
import type { Memory } from '../data.js';
import { emptyCounters, openBlobSession } from './dlu-peer.js';
import type { SessionCounters } from './dlu-peer.js';

/** Where the emulator is (the latency proxy's address) and how to sign for it. */
export interface S3Access {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface WriterConfig {
  side: 'ours' | 'peer';
  index: number;
  seed: number;
  bucket: string;
  s3: S3Access;
  /** Ours: `store()` calls in flight in this process. */
  inFlight: number;
  /** Peer: stores per download-lock-upload session. */
  sessionStores: number;
}

export interface WriterResult {
  index: number;
  /** Writes acknowledged as durable on the object store; they are the first `acked` memories of the process. */
  acked: number;
  /** Epoch ms (fractional) when the process's last write was durable. */
  endedAt: number;
  /** Per write, from the call to its durable acknowledgement. */
  latenciesMs: number[];
  /** CPU time (user + system) the process spent from the start to the end of its writes. */
  cpuMs: number;
  /** Ours: commits the write pipeline made (stats().details.applies). */
  commits?: number;
  /** Ours: log numbers the process filled with `skip` records after contended claims (stats().details.log). */
  skips?: number;
  /** Peer: what its sessions cost. */
  sessions?: SessionCounters;
}

/** A writer that is open and ready; `run` writes until `deadline` (epoch ms), then makes everything durable. */
export interface Writer {
  run(startAt: number, deadline: number): Promise<WriterResult>;
  close(): Promise<void>;
}

export function memoryKey(index: number, memory: Memory): string {
  return `w${index}/${memory.key}`;
}

/** The memories process `index` wrote, in order: the parent rebuilds the first `acked` of them. */
export function writerMemories(seed: number, index: number): MemoryGenerator {
  return new MemoryGenerator(seed + index);
}

export const OURS_PREFIX = 'ours';
export const PEER_KEY = 'peer/ltm.sqlite';

export function oursUri(bucket: string): string {
  return `s3://${bucket}/${OURS_PREFIX}`;
}

/** Backend options that reach the bucket through `s3` (the proxy). */
export function oursOptions(bucket: string, s3: S3Access) {
  return {
    uri: oursUri(bucket),
    s3Endpoint: s3.endpoint,
    s3Region: s3.region,
    s3AccessKeyId: s3.accessKeyId,
    s3SecretAccessKey: s3.secretAccessKey,
    s3UrlStyle: 'path' as const,
    s3UseSsl: false,
  };
}

export function s3Client(s3: S3Access): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
  });
}

export async function openWriter(config: WriterConfig): Promise<Writer> {
  return config.side === 'ours' ? openOursWriter(config) : openPeerWriter(config);
}

const now = (): number => performance.timeOrigin + performance.now();

function cpuSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

async function waitUntil(epochMs: number): Promise<void> {
  const wait = epochMs - now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Ours: one backend per process, `inFlight` agent-style callers storing at once; group commit folds them. */
async function openOursWriter(config: WriterConfig): Promise<Writer> {
  const backend: LTMBackend = await DuckDBLTMBackend.open(oursOptions(config.bucket, config.s3));
  return {
    async run(startAt, deadline) {
      const memories = writerMemories(config.seed, config.index);
      const latenciesMs: number[] = [];
      await waitUntil(startAt);
      const cpu = process.cpuUsage();
      const caller = async (): Promise<void> => {
        while (now() < deadline) {
          const memory = memories.next();
          const started = now();
          const result = await backend.store(memoryKey(config.index, memory), memory.value, memory.metadata);
          if (!result.success) throw new Error(`ours writer ${config.index}: store failed: ${result.errorType}: ${result.error}`);
          // A write parked in a local outbox (fallback: 'local-outbox') is not durable on the store yet.
          if ('queued' in result && result.queued === true) throw new Error(`ours writer ${config.index}: a store was queued locally, not committed to the bucket`);
          latenciesMs.push(now() - started);
        }
      };
      await Promise.all(Array.from({ length: config.inFlight }, caller));
      const flushed = await backend.flush();
      if (!flushed.success) throw new Error(`ours writer ${config.index}: flush failed: ${flushed.error}`);
      const endedAt = now();
      const cpuMs = cpuSince(cpu);
      const stats = await backend.stats();
      const applies = stats.success ? stats.details?.['applies'] : undefined;
      const log = stats.success ? stats.details?.['log'] : undefined;
      const skips = log !== null && typeof log === 'object' && !Array.isArray(log) ? log['skipsWritten'] : undefined;
      return {
        index: config.index,
        acked: latenciesMs.length,
        endedAt,
        latenciesMs,
        cpuMs,
        ...(typeof applies === 'number' ? { commits: applies } : {}),
        ...(typeof skips === 'number' ? { skips } : {}),
      };
    },
    close: () => backend.close(),
  };
}

/**
 * The peer: sessions of `sessionStores` stores. A write is acknowledged when its session's upload
 * finished; its latency runs from the session's start (the agent wanted to write then, and had to take
 * the lock and download first) to that upload.
 */
async function openPeerWriter(config: WriterConfig): Promise<Writer> {
  const client = s3Client(config.s3);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-bench-dlu-'));
  const localPath = path.join(dir, 'ltm.sqlite');
  return {
    async run(startAt, deadline) {
      const memories = writerMemories(config.seed, config.index);
      const counters = emptyCounters();
      const latenciesMs: number[] = [];
      await waitUntil(startAt);
      const cpu = process.cpuUsage();
      while (now() < deadline) {
        const sessionStarted = now();
        const session = await openBlobSession(client, { bucket: config.bucket, key: PEER_KEY }, localPath, counters);
        try {
          for (let i = 0; i < config.sessionStores; i += 1) {
            const memory = memories.next();
            const result = await session.backend.store(memoryKey(config.index, memory), memory.value, memory.metadata);
            if (!result.success) throw new Error(`peer writer ${config.index}: store failed: ${result.errorType}: ${result.error}`);
          }
        } catch (error) {
          await session.abandon();
          throw error;
        }
        await session.close();
        const durable = now();
        for (let i = 0; i < config.sessionStores; i += 1) latenciesMs.push(durable - sessionStarted);
      }
      const endedAt = now();
      return { index: config.index, acked: latenciesMs.length, endedAt, latenciesMs, cpuMs: cpuSince(cpu), sessions: counters };
    },
    async close() {
      client.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
