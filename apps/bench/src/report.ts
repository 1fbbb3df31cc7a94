import Table from 'cli-table3';
import pc from 'picocolors';
import type { BenchReport } from './bench.js';

/** The table the bench prints: one row per phase, both sides, and how many times faster ours is. */
export function formatReport(report: BenchReport): string {
  const { environment: env, config } = report;
  const table = new Table({
    head: ['operation', 'ours ops/s', 'p50', 'p99', 'peer ops/s', 'p50', 'p99', 'ours/peer'],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    // cli-table3 colours on its own; follow picocolors so NO_COLOR and pipes get plain text.
    style: pc.isColorSupported ? { head: ['bold'] } : { head: [], border: [] },
  });
  for (const phase of report.phases) {
    const ratio = phase.ours.opsPerSec / phase.peer.opsPerSec;
    table.push([
      phase.unit === 'call' ? phase.name : `${phase.name} [${phase.unit}s/s]`,
      formatRate(phase.ours.opsPerSec),
      formatLatency(phase.ours.p50Ms),
      formatLatency(phase.ours.p99Ms),
      formatRate(phase.peer.opsPerSec),
      formatLatency(phase.peer.p50Ms),
      formatLatency(phase.peer.p99Ms),
      (ratio >= 1 ? pc.green : pc.red)(formatRatio(ratio)),
    ]);
  }
  const lines = [
    pc.bold(`ltm bench: ${config.n.toLocaleString('en-US')} memories, seed ${config.seed}`),
    `ours: ${report.ours.backend} (${report.ours.description})`,
    `peer: ${report.peer.backend} (${report.peer.description})`,
    `machine: ${env.cores} cores (${env.cpu}), ${env.platform}; Node ${env.node}, ${env.oursEngine}, ${env.peerEngine}`,
    table.toString(),
    pc.dim('ops/s over each phase\'s wall time including its final flush(); p50/p99 per call; ratio > 1 means ours is faster.'),
    pc.dim(`verified: ${report.verified} entries read back on each side matched what was written.`),
  ];
  return lines.join('\n');
}

export function formatRate(opsPerSec: number): string {
  if (!Number.isFinite(opsPerSec)) return '-';
  return opsPerSec >= 100 ? Math.round(opsPerSec).toLocaleString('en-US') : opsPerSec.toFixed(1);
}

export function formatLatency(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function formatRatio(ratio: number): string {
  if (!Number.isFinite(ratio)) return '-';
  return ratio >= 10 ? `${ratio.toFixed(0)}x` : ratio >= 0.1 ? `${ratio.toFixed(2)}x` : `${ratio.toFixed(3)}x`;
}
