import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LTMBackend } from '@ltm/core';
import type { PhaseStats } from './measure.js';
import { SQLiteBackend, sqliteLibraryVersion } from './peers/sqlite-backend.js';
import { runWorkload } from './workload.js';
import type { BenchSide, PhaseResult, WorkloadConfig } from './workload.js';

export interface Contender {
  /** Opens a fresh, empty backend whose files live in `dir`. */
  open(dir: string): Promise<LTMBackend>;
  /** One line for the report: what this contender is and how it is configured. */
  description: string;
  /** The database engine underneath and its version, e.g. `DuckDB v1.5.0`. */
  engine(): string;
}

export interface BenchOptions {
  config: WorkloadConfig;
  ours: Contender;
  peer?: Contender;
  /** Where both sides keep their files; a fresh temporary directory (removed afterwards) when absent. */
  dir?: string;
  onPhase?: (phase: string, role: BenchSide['role'], stats: PhaseStats) => void;
  /** Run before each side's phase: a full garbage collection where the process allows one. */
  settle?: () => void;
}

export interface Environment {
  cores: number;
  cpu: string;
  platform: string;
  node: string;
  oursEngine: string;
  peerEngine: string;
}

export interface BenchReport {
  startedAt: string;
  config: WorkloadConfig;
  environment: Environment;
  ours: { backend: string; description: string };
  peer: { backend: string; description: string };
  phases: (PhaseResult & { ratio: number })[];
  /** Entries read back and compared on each side (after the load and at the end). */
  verified: number;
}

export const sqlitePeer: Contender = {
  open: (dir) => SQLiteBackend.open({ path: path.join(dir, 'peer.sqlite') }),
  description: "the story's SQLiteBackend: better-sqlite3, FTS5 bm25, WAL, synchronous=NORMAL",
  engine: () => `SQLite ${sqliteLibraryVersion()}`,
};

/** Runs the workload on a fresh pair of backends and reports both sides' numbers. */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { config } = options;
  const peerContender = options.peer ?? sqlitePeer;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'ltm-bench-')));
  const startedAt = new Date().toISOString();
  const ours = await options.ours.open(dir);
  let peer: LTMBackend | undefined;
  try {
    peer = await peerContender.open(dir);
    const { phases, verified } = await runWorkload(ours, peer, config, { onPhase: options.onPhase, settle: options.settle });
    const environment = describeEnvironment(options.ours, peerContender);
    return {
      startedAt,
      config,
      environment,
      ours: { backend: ours.name, description: options.ours.description },
      peer: { backend: peer.name, description: peerContender.description },
      phases: phases.map((phase) => ({ ...phase, ratio: phase.ours.opsPerSec / phase.peer.opsPerSec })),
      verified,
    };
  } finally {
    await ours.close();
    await peer?.close();
    if (options.dir === undefined) await rm(dir, { recursive: true, force: true });
  }
}

function describeEnvironment(ours: Contender, peer: Contender): Environment {
  return {
    cores: os.availableParallelism(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    oursEngine: ours.engine(),
    peerEngine: peer.engine(),
  };
}
