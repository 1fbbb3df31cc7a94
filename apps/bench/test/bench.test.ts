import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LTMBackend, RetrieveResult, SearchResult } from '@ltm/core';
import { runBench, sqlitePeer } from '../src/bench.js';
import type { Contender } from '../src/bench.js';
import { duckdbContender } from '../src/contenders.js';
import { SQLiteBackend } from '../src/peers/sqlite-backend.js';
import { formatReport } from '../src/report.js';
import { VerificationError } from '../src/workload.js';
import type { WorkloadConfig } from '../src/workload.js';

const TINY: WorkloadConfig = {
  n: 400,
  seed: 7,
  sequentialStores: 30,
  concurrentStores: 70,
  concurrency: 8,
  batchSize: 50,
  retrieves: 40,
  searches: 16,
  mixedOps: 60,
  verifySample: 60,
  warmup: 4,
  minReadPhaseMs: 0,
};

const PHASES = [
  'store',
  'store x8 in flight',
  'storeMany (50/call)',
  'retrieve (hot keys)',
  'search (BM25, limit 10)',
  'search + metadata filter',
  'mixed agent loop (70/20/10)',
  'retrieve (cold keys)',
];

/** The peer under another file name, standing in for ours where DuckDB itself is not under test. */
const sqliteAsOurs: Contender = { ...sqlitePeer, open: (dir) => SQLiteBackend.open({ path: path.join(dir, 'ours.sqlite') }) };

/** A contender whose backend answers some calls wrongly, to prove the bench notices. */
function tampered(base: Contender, override: (backend: LTMBackend) => Partial<LTMBackend>): Contender {
  return {
    ...base,
    open: async (dir) => {
      const backend = await base.open(dir);
      const overrides = override(backend);
      return new Proxy(backend, {
        get(target, property) {
          if (property in overrides) return overrides[property as keyof LTMBackend];
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
}

describe('runBench', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-bench-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs every phase on DuckDB and on the SQLite peer and reports both', async () => {
    const report = await runBench({ config: TINY, ours: duckdbContender, dir });
    expect(report.phases.map((phase) => phase.name)).toEqual(PHASES);
    for (const phase of report.phases) {
      for (const side of [phase.ours, phase.peer]) {
        expect(side.ops).toBeGreaterThan(0);
        expect(side.opsPerSec).toBeGreaterThan(0);
        expect(side.p99Ms).toBeGreaterThanOrEqual(side.p50Ms);
      }
      expect(phase.ratio).toBeCloseTo(phase.ours.opsPerSec / phase.peer.opsPerSec);
    }
    const storeMany = report.phases[2];
    // One warm-up batch of 50 out of the 300 bulk rows: 250 timed rows.
    expect(storeMany?.ours.ops).toBe(250);
    expect(report.ours.backend).toBe('duckdb');
    expect(report.peer.backend).toBe('sqlite');
    expect(report.environment.oursEngine).toMatch(/^DuckDB v?\d+\.\d+/);
    expect(report.environment.peerEngine).toMatch(/^SQLite 3\.\d+/);
    expect(report.environment.peerBinding).toMatch(/^better-sqlite3 \d+\.\d+/);
    expect(report.verified).toBeGreaterThan(TINY.verifySample);
    expect(report.reference?.stats.ops).toBe(TINY.retrieves);
    const table = formatReport(report);
    for (const name of PHASES) expect(table).toContain(name);
    expect(table).toContain('ours/peer');
    expect(table).toContain('bare DuckDB primary-key point query');
    expect(table).toContain('p50 <= 1.5x bare');
    expect(table).toMatch(/(pass|FAIL) \d/);
  });

  it('refuses to report a reference point query that reads different values', async () => {
    const measure = duckdbContender.pointQuery;
    if (measure === undefined) throw new Error('duckdbContender has no pointQuery');
    const lying: Contender = {
      ...duckdbContender,
      pointQuery: async (...args) => {
        const result = await measure(...args);
        result.values[0] = '"not what was stored"';
        return result;
      },
    };
    await expect(runBench({ config: TINY, ours: lying, dir })).rejects.toThrow(VerificationError);
  });

  it('with searchOnly, loads everything with storeMany and runs only the search phases', async () => {
    const report = await runBench({ config: { ...TINY, searchOnly: true }, ours: duckdbContender, dir });
    expect(report.phases.map((phase) => phase.name)).toEqual(['storeMany (50/call)', 'search (BM25, limit 10)', 'search + metadata filter']);
    // One warm-up batch of 50 out of all 400 memories.
    expect(report.phases[0]?.ours.ops).toBe(350);
    for (const phase of report.phases.slice(1)) expect(phase.ours.ops).toBeGreaterThan(0);
  });

  it('passes with two honest sides, so the failures below come from the tampering alone', async () => {
    const report = await runBench({ config: TINY, ours: sqliteAsOurs, dir });
    expect(report.phases).toHaveLength(PHASES.length);
  });

  it('refuses to report when a side returns a different value than was stored', async () => {
    const liar = tampered(sqlitePeer, (backend) => ({
      retrieve: async <D = null>(key: string, defaultValue?: D): Promise<RetrieveResult<D>> => {
        const result = await backend.retrieve(key, defaultValue);
        if (result.success && result.found && key.endsWith('7')) return { ...result, value: { tampered: true } };
        return result;
      },
    }));
    const run = runBench({ config: TINY, ours: sqliteAsOurs, peer: liar, dir });
    await expect(run).rejects.toBeInstanceOf(VerificationError);
    await expect(run).rejects.toThrow(/peer backend failed verification: retrieve returned a different value/);
  });

  it('refuses to report when search ignores the metadata filter', async () => {
    const unfiltered = tampered(sqlitePeer, (backend) => ({
      search: async (query?: unknown): Promise<SearchResult> => {
        const options = query as { query?: string; limit?: number };
        return backend.search({ query: options.query, limit: options.limit });
      },
    }));
    await expect(runBench({ config: TINY, ours: sqliteAsOurs, peer: unfiltered, dir })).rejects.toThrow(
      /does not match the filter/,
    );
  });

  it('refuses to report when search finds nothing', async () => {
    const blind = tampered(sqlitePeer, () => ({
      search: async (): Promise<SearchResult> => ({ success: true, results: [], count: 0 }),
    }));
    await expect(runBench({ config: TINY, ours: sqliteAsOurs, peer: blind, dir })).rejects.toThrow(/different searches found anything/);
  });

  it('refuses to report when a side silently drops writes', async () => {
    const forgetful = tampered(sqlitePeer, (backend) => ({
      store: async (key, value, metadata, options) => {
        if (key.endsWith('3')) return { success: true, stored: true, key, created: true };
        return backend.store(key, value, metadata, options);
      },
    }));
    await expect(runBench({ config: TINY, ours: sqliteAsOurs, peer: forgetful, dir })).rejects.toBeInstanceOf(VerificationError);
  });

  it('fails loudly when an operation fails', async () => {
    const broken = tampered(sqlitePeer, () => ({
      storeMany: async () => ({ success: false, error: 'disk on fire', errorType: 'query_error', retryable: false }),
    }));
    await expect(runBench({ config: TINY, ours: sqliteAsOurs, peer: broken, dir })).rejects.toThrow(
      'peer backend: storeMany failed (query_error): disk on fire',
    );
  });
});
