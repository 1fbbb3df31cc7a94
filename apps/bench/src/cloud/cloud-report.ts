import Table from 'cli-table3';
import pc from 'picocolors';
import type { ProxyCounts } from '@ltm/tooling/rig';
import { formatLatency, formatRate, formatRatio, formatVerdict } from '../report.js';
import { describeTarget, judge, targetFor } from '../targets.js';
import { FIRST_RETRIEVE_PHASE } from './cloud-bench.js';
import type { CloudReport, CloudStats, CloudWriteSide } from './cloud-bench.js';

const tableStyle = (): { head: string[]; border?: string[] } => (pc.isColorSupported ? { head: ['bold'] } : { head: [], border: [] });

/** The object-storage table, in the local table's columns, then what each side asked of the store. */
export function formatCloudReport(report: CloudReport): string {
  const { config, environment: env } = report;
  const table = new Table({
    head: ['operation', 'ours ops/s', 'p50', 'p99', 'peer ops/s', 'p50', 'p99', 'ours/peer', 'target', 'result'],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left', 'left'],
    style: tableStyle(),
  });
  for (const phase of report.phases) {
    const target = targetFor(phase.name);
    const ratio = phase.peer === undefined ? Number.NaN : phase.ours.opsPerSec / phase.peer.opsPerSec;
    table.push([
      phase.unit === 'call' ? phase.name : `${phase.name} [${phase.unit}s/s]`,
      formatRate(phase.ours.opsPerSec),
      formatLatency(phase.ours.p50Ms),
      formatLatency(phase.ours.p99Ms),
      phase.peer === undefined ? '-' : formatRate(phase.peer.opsPerSec),
      phase.peer === undefined ? '-' : formatLatency(phase.peer.p50Ms),
      phase.peer === undefined ? '-' : formatLatency(phase.peer.p99Ms),
      Number.isFinite(ratio) ? (ratio >= 1 ? pc.green : pc.red)(formatRatio(ratio)) : '-',
      describeTarget(target),
      target === undefined ? '-' : formatVerdict(judge(target, phase.ours, phase.peer)),
    ]);
  }
  const lines = [
    pc.bold(
      `ltm bench on object storage: ${config.writers} writer processes per side, ${config.delayMs} ms added to every request, ` +
        `${config.preload.toLocaleString('en-US')} memories in each store at the start, seed ${config.seed}`,
    ),
    `ours: DuckDBLTMBackend, Parquet on s3:// (multi-writer), ${config.inFlight} store() calls in flight per process`,
    `peer: the story's BlobSQLiteBackend pattern (download-lock-upload of the story's SQLite file, put-if-absent lock object), sessions of ${config.sessionStores} stores`,
    `machine: ${env.cores} cores (${env.cpu}), ${env.platform}`,
    `versions: Node ${env.node}, ${env.duckdb}, ${env.sqlite}, ${env.binding}, S3 emulator ${env.emulator}`,
    table.toString(),
    formatRequests(report),
    pc.dim(`writes: each side's processes start together and start new writes for ${config.writeMs / 1000} s; writes/s counts writes acknowledged as durable on the store,`),
    pc.dim('  up to the last process\'s final flush() (ours) or upload (peer); p50/p99 per write from the call to that acknowledgement (peer: from the session\'s start).'),
    pc.dim('retrieve: a fresh reader in the bench process after the writes; cold = a key it never read (ours: its format\'s background refresh off, so only the'),
    pc.dim('  retrieve\'s own requests count; peer: download the file, open it, read), warm = a key the cold phase read. Round trips are requests counted by the proxy.'),
    pc.dim('  first read after open: a new reader per key, timed on its first retrieve only; it fetches the segment\'s footer and the key\'s row group (no target in issue 6).'),
    pc.dim(`verified: ${report.verified.ours} (ours) and ${report.verified.peer} (peer) acknowledged writes read back through a fresh reader matched what was written.`),
  ];
  return lines.join('\n');
}

function formatRequests(report: CloudReport): string {
  const { ours, peer } = report.writes;
  const table = new Table({ head: ['requests through the proxy', 'ours', 'peer'], style: tableStyle() });
  const read = (name: string): [CloudStats | undefined, CloudStats | undefined] => {
    const phase = report.phases.find((p) => p.name === name);
    return [phase?.ours, phase?.peer];
  };
  const perCall = (stats: CloudStats | undefined): string =>
    stats?.requestsP50 === undefined ? '-' : `p50 ${stats.requestsP50}, p99 ${stats.requestsP99 ?? '-'}, mean ${stats.requestsMean?.toFixed(2) ?? '-'}`;
  const [warmOurs, warmPeer] = read('retrieve on S3 (warm key)');
  const [coldOurs, coldPeer] = read('retrieve on S3 (cold key)');
  const [firstOurs] = read(FIRST_RETRIEVE_PHASE);
  table.push(
    ['write phase, all requests', total(ours), total(peer)],
    ['  by method', byMethod(ours.requests), byMethod(peer.requests)],
    ['  412 Precondition Failed', `${ours.requests.byStatus[412] ?? 0} (log numbers lost to another writer)`, `${peer.requests.byStatus[412] ?? 0} (lock held by another writer)`],
    ['  per unit of work', oursPerCommit(ours), peerPerSession(peer)],
    ['writer processes\' CPU time', cpu(ours, report.environment.cores), cpu(peer, report.environment.cores)],
    ['S3 emulator\'s CPU time', otherCpu(ours, ours.emulatorCpuMs, report.environment.cores), otherCpu(peer, peer.emulatorCpuMs, report.environment.cores)],
    ['bench process\' CPU time (latency proxy)', otherCpu(ours, ours.benchCpuMs, report.environment.cores), otherCpu(peer, peer.benchCpuMs, report.environment.cores)],
    ['acknowledged writes per process', ours.perProcess.join(', '), peer.perProcess.join(', ')],
    ['retrieve (warm key), per call', perCall(warmOurs), perCall(warmPeer)],
    ['retrieve (cold key), per call', perCall(coldOurs), perCall(coldPeer)],
    ['retrieve (first read after open), per call', perCall(firstOurs), '-'],
  );
  return table.toString();
}

function total(side: CloudWriteSide): string {
  return `${side.requests.requests.toLocaleString('en-US')} (${(side.requests.requests / side.acked).toFixed(2)} per write)`;
}

function cpu(side: CloudWriteSide, cores: number): string {
  const busy = side.cpuMs / (side.stats.wallMs * cores);
  return `${(side.cpuMs / 1000).toFixed(1)} s (${Math.round(busy * 100)}% of ${cores} cores), ${(side.cpuMs / side.acked).toFixed(2)} ms per write`;
}

function otherCpu(side: CloudWriteSide, cpuMs: number | undefined, cores: number): string {
  if (cpuMs === undefined) return '-';
  return cpu({ ...side, cpuMs }, cores);
}

function byMethod(counts: ProxyCounts): string {
  return Object.entries(counts.byMethod)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([method, n]) => `${method} ${n.toLocaleString('en-US')}`)
    .join(', ');
}

function oursPerCommit(side: CloudWriteSide): string {
  if (side.commits === undefined || side.commits === 0) return '-';
  const skips = side.skips === undefined ? '' : `; ${side.skips.toLocaleString('en-US')} log numbers filled with skip records`;
  return `${side.commits.toLocaleString('en-US')} commits: ${(side.acked / side.commits).toFixed(1)} writes and ${(side.requests.requests / side.commits).toFixed(1)} requests per commit${skips}`;
}

function peerPerSession(side: CloudWriteSide): string {
  const s = side.sessions;
  if (s === undefined || s.sessions === 0) return '-';
  const mib = (bytes: number): string => (bytes / s.sessions / (1024 * 1024)).toFixed(2);
  return (
    `${s.sessions.toLocaleString('en-US')} sessions: ${(side.requests.requests / s.sessions).toFixed(1)} requests, ${(s.lockAttempts / s.sessions).toFixed(1)} lock attempts, ` +
    `${Math.round(s.lockWaitMs / s.sessions)} ms lock wait, ${mib(s.downloadedBytes)} MiB down and ${mib(s.uploadedBytes)} MiB up per session`
  );
}
