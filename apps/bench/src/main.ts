#!/usr/bin/env node
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Command, InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import { runBench } from './bench.js';
import { duckdbContender } from './contenders.js';
import { formatLatency, formatRate, formatReport } from './report.js';
import { DEFAULT_CONFIG, QUICK_CONFIG, VerificationError } from './workload.js';
import type { WorkloadConfig } from './workload.js';

const program = new Command()
  .name('ltm-bench')
  .description('Runs one agent-memory workload against DuckDBLTMBackend and the SQLite peer in the same run and prints both.')
  .option(
    '--n <count>',
    `memories to load (default ${DEFAULT_CONFIG.n.toLocaleString('en-US')}; ${QUICK_CONFIG.n.toLocaleString('en-US')} with --quick); ` +
      'with --search-only, a comma-separated list of sizes',
    positiveInts,
  )
  .option('--search-only', 'only load each size with storeMany and run the search phases (one table per size)')
  .option('--quick', 'a small run that finishes in well under two minutes')
  .option('--memory', 'also measure resident memory at n memories, each side in its own child process (default on)')
  .option('--no-memory', 'skip the resident memory measurement')
  .option('--json <file>', 'also save the full results as JSON')
  .option('--seed <number>', 'seed of the generated data and access pattern', positiveInt)
  .option('--dir <directory>', 'keep both databases in this directory instead of a removed temporary one')
  .showHelpAfterError()
  .parse();

const options = program.opts<{ n?: number[]; quick?: boolean; json?: string; seed?: number; dir?: string; searchOnly?: boolean; memory?: boolean }>();
const base = options.quick ? QUICK_CONFIG : DEFAULT_CONFIG;
const sizes = options.n ?? [base.n];
if (sizes.length > 1 && !options.searchOnly) program.error('several --n sizes need --search-only');

// A full collection between phases keeps one side's garbage off the other side's clock; exposing gc
// here means `node dist/main.js` needs no --expose-gc flag.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

const reports: Awaited<ReturnType<typeof runBench>>[] = [];
try {
  for (const n of sizes) {
    const config: WorkloadConfig = { ...base, n, seed: options.seed ?? base.seed, ...(options.searchOnly ? { searchOnly: true } : {}) };
    process.stderr.write(pc.dim(`loading ${config.n.toLocaleString('en-US')} memories into each side; phases as they finish:\n`));
    const dir = options.dir === undefined ? undefined : path.resolve(options.dir, sizes.length > 1 ? String(n) : '.');
    if (dir !== undefined) await mkdir(dir, { recursive: true });
    const report = await runBench({
      config,
      ours: duckdbContender,
      dir,
      settle: collectGarbage,
      memory: options.memory !== false && !options.searchOnly,
      onPhase: (phase, role, stats) => {
        process.stderr.write(pc.dim(`  ${role} ${phase}: ${formatRate(stats.opsPerSec)} ops/s, p50 ${formatLatency(stats.p50Ms)}, p99 ${formatLatency(stats.p99Ms)}\n`));
      },
    });
    reports.push(report);
    process.stdout.write(`${formatReport(report)}\n`);
  }
  if (options.json !== undefined) {
    await writeFile(options.json, `${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
    process.stderr.write(pc.dim(`results saved to ${options.json}\n`));
  }
} catch (error) {
  if (error instanceof VerificationError) {
    process.stderr.write(`${pc.red(pc.bold('VERIFICATION FAILED'))}: no numbers are reported for a backend that reads back the wrong data.\n${error.message}\n`);
  } else {
    process.stderr.write(`${pc.red('bench failed')}: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  process.exitCode = 1;
}

function positiveInts(text: string): number[] {
  return text.split(',').map(positiveInt);
}

function positiveInt(text: string): number {
  const n = Number(text.replaceAll('_', ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
