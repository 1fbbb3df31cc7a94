import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { LTMBackend } from '@ltm/core';
import type { PhaseStats } from './measure.js';
import { measureResidentMemory } from './memory.js';
import type { MemorySample } from './memory.js';
import { SQLiteBackend, betterSqliteVersion, sqliteLibraryVersion } from './peers/sqlite-backend.js';
import type { PointQueryResult } from './reference.js';
import { VerificationError, runWorkload } from './workload.js';
import type { BenchSide, PhaseResult, WorkloadConfig } from './workload.js';

export interface Contender {
  /** Opens a fresh, empty backend whose files live in `dir`. */
  open(dir: string): Promise<LTMBackend>;
  /** One line for the report: what this contender is and how it is configured. */
  description: string;
  /** The database engine underneath and its version, e.g. `DuckDB v1.5.0`. */
  engine(): string;
  /** Opens the store `open` made in `dir` again (after it was closed) without any in-process read cache. */
  openCold?(dir: string): Promise<LTMBackend>;
  /** The engine's bare primary-key point query on the closed store in `dir`: the floor of a cold retrieve. */
  pointQuery?(dir: string, keys: string[], warmup: number, minMs: number): Promise<PointQueryResult>;
  /** Which side this is to the memory child process (`src/memory-child.ts`). */
  memorySide?: 'ours' | 'peer';
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
  /** Also measure each side's resident memory with n memories, each in its own child process. */
  memory?: boolean;
}

export interface Environment {
  cores: number;
  cpu: string;
  platform: string;
  node: string;
  oursEngine: string;
  peerEngine: string;
  /** The better-sqlite3 binding's own version (the SQLite library it embeds is in `peerEngine`). */
  peerBinding: string;
}

export interface BenchReport {
  startedAt: string;
  config: WorkloadConfig;
  environment: Environment;
  ours: { backend: string; description: string };
  peer: { backend: string; description: string };
  phases: (PhaseResult & { ratio: number })[];
  /** The bare DuckDB point query on the cold phase's keys, when ours can run one. */
  reference?: { name: string; stats: PhaseStats };
  /** Resident memory of each side after loading n memories, each in its own child process. */
  memory?: { ours: MemorySample; peer: MemorySample };
  /** Entries read back and compared on each side (after the load and at the end). */
  verified: number;
}

export const sqlitePeer: Contender = {
  memorySide: 'peer',
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
  // Whichever of ours is open: the first, then the cold reopening; closed before the reference reads the file.
  let oursOpen: LTMBackend | undefined = ours;
  let peer: LTMBackend | undefined;
  try {
    peer = await peerContender.open(dir);
    const { openCold } = options.ours;
    const reopenOursCold =
      openCold === undefined
        ? undefined
        : async (): Promise<LTMBackend> => {
            await ours.close();
            oursOpen = undefined;
            oursOpen = await openCold(dir);
            return oursOpen;
          };
    const workload = await runWorkload(ours, peer, config, { onPhase: options.onPhase, settle: options.settle, reopenOursCold });
    const { phases, verified } = workload;
    await oursOpen?.close();
    oursOpen = undefined;
    let reference: BenchReport['reference'];
    if (options.ours.pointQuery !== undefined && !config.searchOnly) {
      options.settle?.();
      const result = await options.ours.pointQuery(dir, workload.coldReads, config.warmup, config.minReadPhaseMs);
      verifyReference(result, workload.coldReads.slice(config.warmup), workload.expected);
      reference = { name: 'bare DuckDB primary-key point query', stats: result.stats };
      options.onPhase?.('bare DuckDB point query (cold keys)', 'ours', result.stats);
    }
    let memory: BenchReport['memory'];
    if (options.memory) {
      memory = {
        ours: await measureResidentMemory(options.ours.memorySide ?? 'ours', config),
        peer: await measureResidentMemory(peerContender.memorySide ?? 'peer', config),
      };
    }
    const environment = describeEnvironment(options.ours, peerContender);
    return {
      startedAt,
      config,
      environment,
      ours: { backend: ours.name, description: options.ours.description },
      peer: { backend: peer.name, description: peerContender.description },
      phases: phases.map((phase) => ({ ...phase, ratio: phase.ours.opsPerSec / phase.peer.opsPerSec })),
      verified,
      ...(reference ? { reference } : {}),
      ...(memory ? { memory } : {}),
    };
  } finally {
    await oursOpen?.close();
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
    peerBinding: `better-sqlite3 ${betterSqliteVersion()}`,
  };
}

/** The reference must read what was written too, or its floor means nothing. */
function verifyReference(result: PointQueryResult, keys: string[], expected: ReadonlyMap<string, { value: unknown }>): void {
  result.values.forEach((text, i) => {
    const key = keys[i] as string;
    const memory = expected.get(key);
    if (memory === undefined) return;
    const wanted: unknown = JSON.parse(JSON.stringify(memory.value));
    const got: unknown = text === null ? null : JSON.parse(text);
    if (!isDeepStrictEqual(got, wanted)) throw new VerificationError('bare DuckDB reference', 'the point query read a different value', { key, expected: wanted, got });
  });
}
