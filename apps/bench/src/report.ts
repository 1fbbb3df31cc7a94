import Table from 'cli-table3';
import pc from 'picocolors';
import type { BenchReport } from './bench.js';
import { describeTarget, judge, targetFor } from './targets.js';
import type { Verdict } from './targets.js';

/** The table the bench prints: one row per phase, both sides, and how many times faster ours is. */
export function formatReport(report: BenchReport): string {
  const { environment: env, config } = report;
  const table = new Table({
    head: ['operation', 'ours ops/s', 'p50', 'p99', 'peer ops/s', 'p50', 'p99', 'ours/peer', 'target', 'result'],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left', 'left'],
    // cli-table3 colours on its own; follow picocolors so NO_COLOR and pipes get plain text.
    style: pc.isColorSupported ? { head: ['bold'] } : { head: [], border: [] },
  });
  const reference = report.reference?.stats;
  for (const phase of report.phases) {
    const ratio = phase.ours.opsPerSec / phase.peer.opsPerSec;
    const target = targetFor(phase.name);
    table.push([
      phase.unit === 'call' ? phase.name : `${phase.name} [${phase.unit}s/s]`,
      formatRate(phase.ours.opsPerSec),
      formatLatency(phase.ours.p50Ms),
      formatLatency(phase.ours.p99Ms),
      formatRate(phase.peer.opsPerSec),
      formatLatency(phase.peer.p50Ms),
      formatLatency(phase.peer.p99Ms),
      (ratio >= 1 ? pc.green : pc.red)(formatRatio(ratio)),
      describeTarget(target),
      target === undefined ? '-' : formatVerdict(judge(target, phase.ours, phase.peer, reference)),
    ]);
  }
  if (report.reference !== undefined) {
    const { stats } = report.reference;
    table.push([`${report.reference.name} (cold keys)`, formatRate(stats.opsPerSec), formatLatency(stats.p50Ms), formatLatency(stats.p99Ms), '-', '-', '-', '-', 'reference', '-']);
  }
  if (report.memory !== undefined) {
    const { ours, peer } = report.memory;
    const name = `resident memory, ${config.n.toLocaleString('en-US')} memories`;
    const target = targetFor(name);
    const verdict = target === undefined ? undefined : judge(target, { opsPerSec: ours.rssBytes, p50Ms: Number.NaN }, { opsPerSec: peer.rssBytes, p50Ms: Number.NaN });
    table.push([`${name} [rss]`, formatBytes(ours.rssBytes), '-', '-', formatBytes(peer.rssBytes), '-', '-', formatRatio(ours.rssBytes / peer.rssBytes), describeTarget(target), verdict === undefined ? '-' : formatVerdict(verdict)]);
  }
  const lines = [
    pc.bold(`ltm bench: ${config.n.toLocaleString('en-US')} memories, seed ${config.seed}`),
    `ours: ${report.ours.backend} (${report.ours.description})`,
    `peer: ${report.peer.backend} (${report.peer.description})`,
    `machine: ${env.cores} cores (${env.cpu}), ${env.platform}`,
    `versions: Node ${env.node}, ${env.oursEngine}, ${env.peerEngine}, ${env.peerBinding}`,
    table.toString(),
    pc.dim('ops/s over each phase\'s wall time including its final flush(); p50/p99 per call; ours/peer is the ops/s ratio (> 1: ours faster).'),
    pc.dim('result: the target\'s own ratio (ops/s, p50 or rss of ours over the peer, or over the bare query for "bare"); a p50 or rss ratio passes when at most the target.'),
    ...(report.reference === undefined
      ? []
      : [pc.dim('cold keys: ours reopened with cacheMaxBytes: 0, so every read reaches DuckDB; the bare query ran on the same file and keys after ours closed it.')]),
    pc.dim(`verified: ${report.verified} entries read back on each side matched what was written.`),
  ];
  return lines.join('\n');
}

export function formatVerdict(verdict: Verdict): string {
  if (verdict.pass === undefined) return '-';
  // One more digit than the ratio column, so a ratio just past its target never prints as the target itself.
  const ratio = verdict.ratio >= 0.1 && verdict.ratio < 10 ? `${verdict.ratio.toFixed(3)}x` : formatRatio(verdict.ratio);
  const shown = verdict.amount === undefined ? ratio : formatAmount(verdict.amount);
  return verdict.pass ? pc.green(`pass ${shown}`) : pc.red(`FAIL ${shown}`);
}

function formatAmount({ value, unit }: NonNullable<Verdict['amount']>): string {
  if (unit === 'ms') return value < 1 ? `${(value * 1000).toFixed(0)} µs` : `${value.toFixed(3)} ms`;
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}

export function formatBytes(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024)).toLocaleString('en-US')} MiB`;
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
