/**
 * The workload: one agent-memory life cycle, run phase by phase on two backends in the same process.
 * Both sides get the same memories in the same order, the same random keys and the same queries; the
 * side that goes first alternates from phase to phase so neither always runs on a warmer (or busier)
 * machine. What a side reads back is checked against what was written, after each phase's timing, so
 * checking costs nothing in the numbers and a fast wrong answer can never pass as a result.
 */
import { isDeepStrictEqual } from 'node:util';
import { matchesFilter, parseFilter } from '@ltm/core';
import type { Failure, Filter, JsonObject, JsonValue, LTMBackend, RetrieveResult, SearchResult } from '@ltm/core';
import { DEFAULT_SEED, MemoryGenerator, SEARCH_QUERIES, filteredSearches } from './data.js';
import type { Memory } from './data.js';
import { LatencyRecorder, elapsedMs, phaseStats, runConcurrently } from './measure.js';
import type { PhaseStats } from './measure.js';
import { Random } from './random.js';

export interface WorkloadConfig {
  /** Memories loaded before the read phases. */
  n: number;
  seed: number;
  /**
   * Stores in the one-at-a-time phase. Like the read phases' `minReadPhaseMs`, enough that the faster side
   * runs for a while: 2,000 stores were about 80 ms of ours, so one applier pass or the JIT's first tiers
   * moved the result by a third from run to run.
   */
  sequentialStores: number;
  /** Stores in the concurrent phase, and how many are in flight at once (as many stores as above, same reason). */
  concurrentStores: number;
  concurrency: number;
  /** Items per `storeMany` call in the bulk load. */
  batchSize: number;
  /** Reads in each retrieve phase (hot and cold). */
  retrieves: number;
  searches: number;
  mixedOps: number;
  /** Memories read back and compared after loading and again at the end. */
  verifySample: number;
  /** Untimed operations at the start of each phase (at most a tenth of a write phase). */
  warmup: number;
  /**
   * Read phases (retrieve, search) repeat their planned operations until they have run this long, so a
   * fast side is measured over more than a few milliseconds. Reads change nothing, so repeating is fair.
   */
  minReadPhaseMs: number;
  /** Only load (with storeMany) and search: for comparing search at several sizes in one run. */
  searchOnly?: boolean;
}

export const DEFAULT_CONFIG: WorkloadConfig = {
  n: 100_000,
  seed: DEFAULT_SEED,
  sequentialStores: 10_000,
  concurrentStores: 10_000,
  concurrency: 64,
  batchSize: 500,
  retrieves: 5_000,
  searches: 500,
  mixedOps: 5_000,
  verifySample: 1_000,
  warmup: 200,
  minReadPhaseMs: 2_000,
};

/** Small enough to finish in well under two minutes on a 2-core machine, large enough to mean something. */
export const QUICK_CONFIG: WorkloadConfig = {
  ...DEFAULT_CONFIG,
  n: 20_000,
  // As many stores as the quick run's store phases can take (a fifth of n each): fewer ran ours for ~30 ms.
  sequentialStores: 4_000,
  concurrentStores: 4_000,
  retrieves: 1_000,
  searches: 100,
  mixedOps: 1_000,
  verifySample: 300,
  warmup: 100,
  minReadPhaseMs: 500,
};

export interface BenchSide {
  /** Shown in the table: `ours` / `peer`. */
  role: 'ours' | 'peer';
  backend: LTMBackend;
}

export interface PhaseResult {
  name: string;
  /** What one "op" is in this phase. */
  unit: string;
  ours: PhaseStats;
  peer: PhaseStats;
}

/** A read that did not return what was written: the bench refuses to report numbers for it. */
export class VerificationError extends Error {
  constructor(side: string, what: string, detail: { key?: string; expected?: unknown; got?: unknown }) {
    const parts = [`${side} backend failed verification: ${what}`];
    if (detail.key !== undefined) parts.push(`  key:      ${JSON.stringify(detail.key)}`);
    if ('expected' in detail) parts.push(`  expected: ${truncate(JSON.stringify(detail.expected))}`);
    if ('got' in detail) parts.push(`  got:      ${truncate(JSON.stringify(detail.got))}`);
    super(parts.join('\n'));
    this.name = 'VerificationError';
  }
}

export interface WorkloadHooks {
  /** Called when a side finishes a phase, for progress output. */
  onPhase?: (phase: string, role: BenchSide['role'], stats: PhaseStats) => void;
  /**
   * Called before each side starts a phase; the bench passes a full garbage collection, so one side's
   * garbage (or the plan's) is not collected on the other side's clock.
   */
  settle?: () => void;
  /**
   * Closes ours and opens the same store again without its in-process read cache, for the cold-key
   * phase, which runs last; the bench closes what it returns. Without it, the cold phase reads through
   * ours as it is, whose cache may hold every key.
   */
  reopenOursCold?: () => Promise<LTMBackend>;
}

export interface WorkloadResult {
  phases: PhaseResult[];
  /** Entries read back and compared on each side after the load and at the end (every timed read is checked too). */
  verified: number;
  /** The cold phase's keys (its `warmup` untimed ones first), for a reference measured on the same keys. */
  coldReads: string[];
  /** Every key's memory as it stands at the end, to check what a reference read returns. */
  expected: ReadonlyMap<string, Memory>;
}

/**
 * Runs every phase on both sides and returns their numbers. Throws `VerificationError` when a side
 * reads back something other than what was written, and `Error` when an operation fails.
 */
export async function runWorkload(ours: LTMBackend, peer: LTMBackend, config: WorkloadConfig, hooks: WorkloadHooks = {}): Promise<WorkloadResult> {
  const sides: BenchSide[] = [
    { role: 'ours', backend: ours },
    { role: 'peer', backend: peer },
  ];
  const plan = planWorkload(config);
  const expected = new Map<string, Memory>(plan.load.map((memory) => [memory.key, memory]));
  const results: PhaseResult[] = [];

  const phase = async (name: string, unit: string, body: (side: BenchSide) => Promise<PhaseStats>, pair = sides): Promise<void> => {
    const order = results.length % 2 === 0 ? pair : [...pair].reverse();
    const stats = new Map<BenchSide['role'], PhaseStats>();
    for (const side of order) {
      hooks.settle?.();
      const s = await body(side);
      stats.set(side.role, s);
      hooks.onPhase?.(name, side.role, s);
    }
    results.push({ name, unit, ours: stats.get('ours') as PhaseStats, peer: stats.get('peer') as PhaseStats });
  };

  if (config.searchOnly) {
    await phase(`storeMany (${config.batchSize}/call)`, 'row', (side) => storeInBatches(side, plan.load, config.batchSize));
    for (const side of sides) await verifyEntries(side, plan.verifyAfterLoad, expected);
    await phase('search (BM25, limit 10)', 'call', (side) => searchAll(side, plan.searches, config.warmup, config.minReadPhaseMs, expected));
    await phase('search + metadata filter', 'call', (side) => searchAll(side, plan.filteredSearches, config.warmup, config.minReadPhaseMs, expected));
    return { phases: results, verified: plan.verifyAfterLoad.length, coldReads: [], expected };
  }

  const { sequential, concurrent, bulk } = plan;
  await phase('store', 'call', (side) => storeSequentially(side, sequential, config.warmup));
  await phase(`store x${config.concurrency} in flight`, 'call', (side) => storeConcurrently(side, concurrent, config));
  await phase(`storeMany (${config.batchSize}/call)`, 'row', (side) => storeInBatches(side, bulk, config.batchSize));

  for (const side of sides) {
    await verifyEntries(side, plan.verifyAfterLoad, expected);
    const stats = must(side, 'stats', await side.backend.stats());
    if (stats.entries !== expected.size) {
      throw new VerificationError(side.role, `stats() counts ${stats.entries} entries after loading ${expected.size} distinct keys`, {});
    }
  }

  await phase('retrieve (hot keys)', 'call', (side) => retrieveKeys(side, plan.hotReads, config.warmup, config.minReadPhaseMs, expected));
  await phase('search (BM25, limit 10)', 'call', (side) => searchAll(side, plan.searches, config.warmup, config.minReadPhaseMs, expected));
  await phase('search + metadata filter', 'call', (side) => searchAll(side, plan.filteredSearches, config.warmup, config.minReadPhaseMs, expected));

  for (const memory of plan.mixedWrites) expected.set(memory.key, memory);
  await phase('mixed agent loop (70/20/10)', 'op', (side) => mixedLoop(side, plan.mixed, config.warmup));

  for (const side of sides) await verifyEntries(side, plan.verifyAtEnd, expected);

  // Last, because a cold read needs ours without the read cache that every phase so far has filled.
  const coldOurs: BenchSide = { role: 'ours', backend: hooks.reopenOursCold ? await hooks.reopenOursCold() : ours };
  await phase(
    'retrieve (cold keys)',
    'call',
    (side) => retrieveKeys(side, plan.coldReads, config.warmup, config.minReadPhaseMs, expected),
    [coldOurs, sides[1] as BenchSide],
  );
  return { phases: results, verified: plan.verifyAfterLoad.length + plan.verifyAtEnd.length, coldReads: plan.coldReads, expected };
}

interface SearchSpec {
  query: string | undefined;
  filter: Filter | undefined;
}

/** A read in the mixed loop knows what it must see: the load, overlaid with the loop's own earlier writes. */
type MixedOp = { kind: 'retrieve'; key: string; expected: Memory } | { kind: 'store'; memory: Memory } | { kind: 'search'; spec: SearchSpec };

interface Plan {
  load: Memory[];
  sequential: Memory[];
  concurrent: Memory[];
  bulk: Memory[];
  verifyAfterLoad: string[];
  hotReads: string[];
  coldReads: string[];
  searches: SearchSpec[];
  filteredSearches: SearchSpec[];
  mixed: MixedOp[];
  mixedWrites: Memory[];
  verifyAtEnd: string[];
}

/** Everything random is decided here, once, so both sides replay exactly the same operations. */
function planWorkload(config: WorkloadConfig): Plan {
  const { n } = config;
  // A small --n still leaves most memories for the bulk load, so every phase has work.
  const sequentialCount = Math.min(config.sequentialStores, Math.floor(n / 5));
  const concurrentCount = Math.min(config.concurrentStores, Math.floor(n / 5));
  const generator = new MemoryGenerator(config.seed);
  const load = Array.from({ length: n }, () => generator.next());
  const random = new Random(config.seed + 1);
  const keys = load.map((memory) => memory.key);
  const hot = random.sample(keys, Math.max(10, Math.ceil(n / 100)));
  const reads = (pool: string[]): string[] => Array.from({ length: config.retrieves + config.warmup }, () => random.pick(pool));

  const userCounts = new Map<string, number>();
  for (const memory of load) {
    const user = String(memory.metadata['user']);
    userCounts.set(user, (userCounts.get(user) ?? 0) + 1);
  }
  const busiestUsers = [...userCounts.entries()].sort((a, b) => b[1] - a[1]).map(([user]) => user);
  const plain: SearchSpec[] = SEARCH_QUERIES.map((query) => ({ query, filter: undefined }));
  const filtered: SearchSpec[] = filteredSearches(busiestUsers).map(({ query, filter }) => ({ query, filter: filter as Filter }));
  const cycle = <T>(items: readonly T[], count: number): T[] => Array.from({ length: count }, (_, i) => items[i % items.length] as T);

  const mixed: MixedOp[] = [];
  const mixedWrites: Memory[] = [];
  const latest = new Map<string, Memory>(load.map((memory) => [memory.key, memory]));
  const live = [...keys];
  for (let i = 0; i < config.mixedOps + config.warmup; i += 1) {
    const roll = random.float();
    if (roll < 0.7) {
      const key = random.pick(live);
      mixed.push({ kind: 'retrieve', key, expected: latest.get(key) as Memory });
    } else if (roll < 0.9) {
      const memory = random.chance(0.5) ? generator.revise(latest.get(random.pick(live)) as Memory) : generator.next();
      if (!latest.has(memory.key)) live.push(memory.key);
      latest.set(memory.key, memory);
      mixedWrites.push(memory);
      mixed.push({ kind: 'store', memory });
    } else {
      mixed.push({ kind: 'search', spec: random.pick(random.chance(0.5) ? plain : filtered) });
    }
  }

  const verifyAfterLoad = random.sample(keys, Math.min(config.verifySample, n));
  const written = [...new Set(mixedWrites.map((memory) => memory.key))];
  return {
    load,
    sequential: load.slice(0, sequentialCount),
    concurrent: load.slice(sequentialCount, sequentialCount + concurrentCount),
    bulk: load.slice(sequentialCount + concurrentCount),
    verifyAfterLoad,
    hotReads: reads(hot),
    coldReads: reads(keys),
    searches: cycle(plain, config.searches + config.warmup),
    filteredSearches: cycle(filtered, config.searches + config.warmup),
    mixed,
    mixedWrites,
    verifyAtEnd: [...written, ...random.sample(keys, Math.min(config.verifySample, n))],
  };
}

async function storeSequentially(side: BenchSide, memories: Memory[], warmup: number): Promise<PhaseStats> {
  const { backend } = side;
  const recorder = new LatencyRecorder();
  const warm = Math.min(warmup, Math.floor(memories.length / 10));
  for (const memory of memories.slice(0, warm)) must(side, 'store', await backend.store(memory.key, memory.value, memory.metadata));
  const start = process.hrtime.bigint();
  for (const memory of memories.slice(warm)) {
    must(side, 'store', await recorder.time(() => backend.store(memory.key, memory.value, memory.metadata)));
  }
  must(side, 'flush', await backend.flush());
  return phaseStats(recorder, memories.length - warm, elapsedMs(start));
}

async function storeConcurrently(side: BenchSide, memories: Memory[], config: WorkloadConfig): Promise<PhaseStats> {
  const { backend } = side;
  const recorder = new LatencyRecorder();
  const warm = Math.min(config.warmup, Math.floor(memories.length / 10));
  const store = async (memory: Memory, timed: boolean): Promise<void> => {
    const call = (): ReturnType<LTMBackend['store']> => backend.store(memory.key, memory.value, memory.metadata);
    must(side, 'store', await (timed ? recorder.time(call) : call()));
  };
  await runConcurrently(warm, config.concurrency, (i) => store(memories[i] as Memory, false));
  const timed = memories.slice(warm);
  const start = process.hrtime.bigint();
  await runConcurrently(timed.length, config.concurrency, (i) => store(timed[i] as Memory, true));
  must(side, 'flush', await backend.flush());
  return phaseStats(recorder, timed.length, elapsedMs(start));
}

async function storeInBatches(side: BenchSide, memories: Memory[], batchSize: number): Promise<PhaseStats> {
  const { backend } = side;
  const recorder = new LatencyRecorder();
  const batches: Memory[][] = [];
  for (let i = 0; i < memories.length; i += batchSize) batches.push(memories.slice(i, i + batchSize));
  // One batch warms up when there are enough to spare; its rows are loaded either way.
  const warm = batches.length > 2 ? 1 : 0;
  for (const batch of batches.slice(0, warm)) must(side, 'storeMany', await backend.storeMany(batch));
  const timed = batches.slice(warm);
  const start = process.hrtime.bigint();
  for (const batch of timed) must(side, 'storeMany', await recorder.time(() => backend.storeMany(batch)));
  must(side, 'flush', await backend.flush());
  return phaseStats(recorder, timed.reduce((rows, batch) => rows + batch.length, 0), elapsedMs(start));
}

async function retrieveKeys(side: BenchSide, keys: string[], warmup: number, minMs: number, expected: Map<string, Memory>): Promise<PhaseStats> {
  const { backend } = side;
  const recorder = new LatencyRecorder();
  for (const key of keys.slice(0, warmup)) must(side, 'retrieve', await backend.retrieve(key));
  const timed = keys.slice(warmup);
  const answers: RetrieveResult[] = [];
  const start = process.hrtime.bigint();
  for (const key of timed) answers.push(await recorder.time(() => backend.retrieve(key)));
  while (elapsedMs(start) < minMs) {
    for (const key of timed) must(side, 'retrieve', await recorder.time(() => backend.retrieve(key)));
  }
  const wall = elapsedMs(start);
  answers.forEach((answer, i) => checkRetrieved(side, timed[i] as string, answer, expected));
  return phaseStats(recorder, recorder.count, wall);
}

async function searchAll(side: BenchSide, specs: SearchSpec[], warmup: number, minMs: number, expected: Map<string, Memory>): Promise<PhaseStats> {
  const { backend } = side;
  const recorder = new LatencyRecorder();
  const search = (spec: SearchSpec): Promise<SearchResult> => backend.search({ query: spec.query, filter: spec.filter, limit: 10 });
  for (const spec of specs.slice(0, warmup)) must(side, 'search', await search(spec));
  const timed = specs.slice(warmup);
  const answers: SearchResult[] = [];
  const start = process.hrtime.bigint();
  for (const spec of timed) answers.push(await recorder.time(() => search(spec)));
  while (elapsedMs(start) < minMs) {
    for (const spec of timed) must(side, 'search', await recorder.time(() => search(spec)));
  }
  const wall = elapsedMs(start);
  answers.forEach((answer, i) => checkSearch(side, timed[i] as SearchSpec, answer, expected));
  // Each hit is checked above; this catches the opposite lie, a search that finds nothing.
  const distinct = new Map<SearchSpec, boolean>();
  answers.forEach((answer, i) => distinct.set(timed[i] as SearchSpec, (distinct.get(timed[i] as SearchSpec) ?? false) || (answer.success && answer.count > 0)));
  const found = [...distinct.values()].filter(Boolean).length;
  if (found * 2 < distinct.size) {
    throw new VerificationError(side.role, `only ${found} of ${distinct.size} different searches found anything in ${expected.size} entries`, {});
  }
  return phaseStats(recorder, recorder.count, wall);
}

async function mixedLoop(side: BenchSide, ops: MixedOp[], warmup: number): Promise<PhaseStats> {
  const { backend } = side;
  const recorder = new LatencyRecorder();
  const run = (op: MixedOp): Promise<unknown> => {
    if (op.kind === 'retrieve') return backend.retrieve(op.key);
    if (op.kind === 'store') return backend.store(op.memory.key, op.memory.value, op.memory.metadata);
    return backend.search({ query: op.spec.query, filter: op.spec.filter, limit: 10 });
  };
  for (const op of ops.slice(0, warmup)) must(side, op.kind, (await run(op)) as { success: boolean });
  const answers: unknown[] = [];
  const start = process.hrtime.bigint();
  for (const op of ops.slice(warmup)) answers.push(await recorder.time(() => run(op)));
  must(side, 'flush', await backend.flush());
  const wall = elapsedMs(start);
  ops.slice(warmup).forEach((op, j) => {
    const answer = answers[j] as { success: boolean };
    must(side, op.kind, answer);
    if (op.kind === 'retrieve') checkRetrieved(side, op.key, answer as RetrieveResult, new Map([[op.key, op.expected]]));
  });
  return phaseStats(recorder, ops.length - warmup, wall);
}

async function verifyEntries(side: BenchSide, keys: string[], expected: Map<string, Memory>): Promise<void> {
  for (const key of keys) checkRetrieved(side, key, await side.backend.retrieve(key), expected);
}

function checkRetrieved(side: BenchSide, key: string, answer: RetrieveResult, expected: Map<string, Memory>): void {
  must(side, 'retrieve', answer);
  const memory = expected.get(key);
  if (memory === undefined) return;
  if (!answer.success || !answer.found) {
    throw new VerificationError(side.role, 'a stored key was not found', { key, expected: memory.value });
  }
  const wanted = roundTrip(memory.value);
  if (!isDeepStrictEqual(answer.value, wanted)) throw new VerificationError(side.role, 'retrieve returned a different value', { key, expected: wanted, got: answer.value });
  if (!isDeepStrictEqual(answer.metadata, roundTrip(memory.metadata))) {
    throw new VerificationError(side.role, 'retrieve returned different metadata', { key, expected: memory.metadata, got: answer.metadata });
  }
}

function checkSearch(side: BenchSide, spec: SearchSpec, answer: SearchResult, expected: Map<string, Memory>): void {
  must(side, 'search', answer);
  if (!answer.success) return;
  if (answer.results.length > 10 || answer.count !== answer.results.length) {
    throw new VerificationError(side.role, `search returned ${answer.results.length} results with count ${answer.count} for limit 10`, {});
  }
  const conditions = spec.filter === undefined ? [] : parseFilter(spec.filter);
  for (const hit of answer.results) {
    const memory = expected.get(hit.key);
    if (memory === undefined) throw new VerificationError(side.role, 'search returned a key that was never stored', { key: hit.key });
    if (!isDeepStrictEqual(hit.value, roundTrip(memory.value))) {
      throw new VerificationError(side.role, 'search returned a different value', { key: hit.key, expected: memory.value, got: hit.value });
    }
    if (!matchesFilter(hit.metadata, conditions)) {
      throw new VerificationError(side.role, `search returned an entry that does not match the filter ${JSON.stringify(spec.filter)}`, {
        key: hit.key,
        got: hit.metadata,
      });
    }
  }
}

/** Any operation failing is fatal: numbers for a workload that did not run are meaningless. */
function must<T extends { success: boolean }>(side: BenchSide, operation: string, result: T): Exclude<T, Failure> {
  if (!result.success) {
    const failure = result as unknown as Failure;
    throw new Error(`${side.role} backend: ${operation} failed (${failure.errorType}): ${failure.error}`);
  }
  return result as Exclude<T, Failure>;
}

function roundTrip(value: JsonValue | JsonObject): JsonValue {
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

function truncate(text: string | undefined): string {
  if (text === undefined) return 'undefined';
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
