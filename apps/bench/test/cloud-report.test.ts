import { describe, expect, it } from 'vitest';
import { COLD_RETRIEVE_PHASE, CLOUD_WRITE_PHASE, QUICK_CLOUD_CONFIG, FIRST_RETRIEVE_PHASE, WARM_RETRIEVE_PHASE } from '../src/cloud/cloud-bench.js';
import type { CloudReport, CloudStats } from '../src/cloud/cloud-bench.js';
import { formatCloudReport } from '../src/cloud/cloud-report.js';

const stats = (opsPerSec: number, p50Ms: number, requestsP50?: number): CloudStats => ({
  ops: 100,
  opsPerSec,
  p50Ms,
  p99Ms: p50Ms * 2,
  wallMs: 1000,
  ...(requestsP50 === undefined ? {} : { requestsP50, requestsP99: requestsP50 + 1, requestsMean: requestsP50 + 0.25 }),
});

function report(oursWrites: number, warmMs: number, coldRequests: number): CloudReport {
  return {
    startedAt: '2026-11-26T10:00:00.000Z',
    config: QUICK_CLOUD_CONFIG,
    environment: { cores: 2, cpu: 'test CPU', platform: 'linux', node: '20', duckdb: 'DuckDB v1.5.5', sqlite: 'SQLite 3', binding: 'better-sqlite3 12', emulator: 'versitygw v1.8.0' },
    phases: [
      { name: CLOUD_WRITE_PHASE(8), unit: 'write', ours: stats(oursWrites, 100), peer: stats(250, 1000) },
      { name: WARM_RETRIEVE_PHASE, unit: 'call', ours: stats(2000, warmMs, 0), peer: stats(50_000, 0.02, 0) },
      { name: COLD_RETRIEVE_PHASE, unit: 'call', ours: stats(20, 65, coldRequests), peer: stats(5, 200, 1) },
      { name: FIRST_RETRIEVE_PHASE, unit: 'call', ours: stats(15, 70, 1) },
    ],
    writes: {
      ours: { stats: stats(oursWrites, 100), acked: 4000, requests: { requests: 800, byMethod: { GET: 500, PUT: 300 }, byStatus: { 200: 700, 412: 100 }, failed: 0 }, cpuMs: 1600, emulatorCpuMs: 600, benchCpuMs: 200, perProcess: [1000, 3000], commits: 100, skips: 7 },
      peer: {
        stats: stats(250, 1000),
        acked: 2500,
        requests: { requests: 660, byMethod: { DELETE: 50, GET: 50, PUT: 560 }, byStatus: { 200: 200, 412: 460 }, failed: 0 },
        cpuMs: 500,
        benchCpuMs: 100,
        perProcess: [1250, 1250],
        sessions: { sessions: 50, lockAttempts: 510, lockWaitMs: 60_000, downloadedBytes: 50 * 1024 * 1024, uploadedBytes: 52 * 1024 * 1024 },
      },
    },
    verified: { ours: 4000, peer: 2500 },
  };
}

const plain = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, '');

/** The row of `operation` in the main table, as its cells. */
function row(text: string, operation: string): string[] {
  const line = plain(text)
    .split('\n')
    .find((l) => l.startsWith(`│ ${operation} `));
  if (line === undefined) throw new Error(`no row '${operation}' in:\n${plain(text)}`);
  return line
    .split('│')
    .slice(1, -1)
    .map((cell) => cell.trim());
}

describe('formatCloudReport', () => {
  it('prints each object-storage row with its target and verdict in the local table\'s columns', () => {
    const text = formatCloudReport(report(2600, 0.4, 2));
    expect(row(text, 'store, 8 writer processes [writes/s]')).toEqual(['store, 8 writer processes [writes/s]', '2,600', '100 ms', '200 ms', '250', '1.00 s', '2.00 s', '10x', 'ops/s >= 10.0x', 'pass 10x']);
    expect(row(text, WARM_RETRIEVE_PHASE).slice(-2)).toEqual(['p50 <= 1 ms', 'pass 400 µs']);
    expect(row(text, COLD_RETRIEVE_PHASE).slice(-2)).toEqual(['p50 <= 3 round trips', 'pass 2 round trips']);
    // A row the issue sets no target for, and a side that has no peer.
    expect(row(text, FIRST_RETRIEVE_PHASE).slice(4)).toEqual(['-', '-', '-', '-', '-', '-']);
  });

  it('fails the rows whose numbers miss their targets', () => {
    const text = formatCloudReport(report(2000, 2.5, 4));
    expect(row(text, 'store, 8 writer processes [writes/s]').at(-1)).toBe('FAIL 8.000x');
    expect(row(text, WARM_RETRIEVE_PHASE).at(-1)).toBe('FAIL 2.500 ms');
    expect(row(text, COLD_RETRIEVE_PHASE).at(-1)).toBe('FAIL 4 round trips');
  });

  it('lists the requests each side made, per write, per commit or session, and per read', () => {
    const text = plain(formatCloudReport(report(2600, 0.4, 2)));
    expect(text).toContain('800 (0.20 per write)');
    expect(text).toContain('GET 500, PUT 300');
    expect(text).toContain('100 (log numbers lost to another writer)');
    expect(text).toContain('460 (lock held by another writer)');
    expect(text).toContain('100 commits: 40.0 writes and 8.0 requests per commit; 7 log numbers filled with skip records');
    expect(text).toContain('50 sessions: 13.2 requests, 10.2 lock attempts, 1200 ms lock wait, 1.00 MiB down and 1.04 MiB up per session');
    expect(text).toContain('p50 2, p99 3, mean 2.25');
    expect(text).toMatch(/retrieve \(first read after open\), per call\s*│ p50 1, p99 2, mean 1.25/);
    expect(text).toContain('1.6 s (80% of 2 cores), 0.40 ms per write');
    // The emulator's and the proxy's share of the machine; no emulator figure where /proc is missing.
    expect(text).toMatch(/S3 emulator's CPU time\s*│ 0.6 s \(30% of 2 cores\), 0.15 ms per write\s*│ -/);
    expect(text).toMatch(/bench process' CPU time \(latency proxy\)\s*│ 0.2 s \(10% of 2 cores\), 0.05 ms per write\s*│ 0.1 s \(5% of 2 cores\), 0.04 ms per write/);
    expect(text).toMatch(/acknowledged writes per process\s*│ 1000, 3000\s*│ 1250, 1250/);
    expect(text).toContain('verified: 4000 (ours) and 2500 (peer)');
  });
});
