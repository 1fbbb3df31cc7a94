#!/usr/bin/env node
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Command, InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import { runBench } from './bench.js';
import { DEFAULT_CLOUD_CONFIG, QUICK_CLOUD_CONFIG, runCloudBench } from './cloud/cloud-bench.js';
import type { CloudConfig, CloudReport } from './cloud/cloud-bench.js';
import { formatCloudReport } from './cloud/cloud-report.js';
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
  .option('--cloud', 'also run the object-storage bench on the S3 emulator and print its table (default on)')
  .option('--no-cloud', 'skip the object-storage bench')
  .option('--cloud-only', 'run only the object-storage bench')
  .option('--writers <count>', `writer processes per side on object storage (default ${DEFAULT_CLOUD_CONFIG.writers})`, positiveInt)
  .option('--in-flight <count>', `ours: store() calls in flight per writer process (default ${DEFAULT_CLOUD_CONFIG.inFlight})`, positiveInt)
  .option('--write-seconds <seconds>', `how long each side writes on object storage (default ${DEFAULT_CLOUD_CONFIG.writeMs / 1000}; ${QUICK_CLOUD_CONFIG.writeMs / 1000} with --quick)`, positiveInt)
  .option('--preload <count>', `memories in both object stores before the writers start (default ${DEFAULT_CLOUD_CONFIG.preload.toLocaleString('en-US')})`, nonNegativeInt)
  .option('--delay <ms>', `added to every request's round trip by the latency proxy (default ${DEFAULT_CLOUD_CONFIG.delayMs})`, nonNegativeInt)
  .showHelpAfterError()
  .parse();

const options = program.opts<{
  n?: number[];
  quick?: boolean;
  json?: string;
  seed?: number;
  dir?: string;
  searchOnly?: boolean;
  memory?: boolean;
  cloud?: boolean;
  cloudOnly?: boolean;
  writers?: number;
  inFlight?: number;
  writeSeconds?: number;
  delay?: number;
  preload?: number;
}>();
const base = options.quick ? QUICK_CONFIG : DEFAULT_CONFIG;
const sizes = options.n ?? [base.n];
if (sizes.length > 1 && !options.searchOnly) program.error('several --n sizes need --search-only');
if (options.cloudOnly && (options.searchOnly || options.cloud === false)) program.error('--cloud-only cannot be combined with --search-only or --no-cloud');
const runLocal = !options.cloudOnly;
const runCloud = options.cloudOnly === true || (options.cloud !== false && !options.searchOnly);
const cloudBase = options.quick ? QUICK_CLOUD_CONFIG : DEFAULT_CLOUD_CONFIG;
const cloudConfig: CloudConfig = {
  ...cloudBase,
  seed: options.seed ?? cloudBase.seed,
  ...(options.writers === undefined ? {} : { writers: options.writers }),
  ...(options.inFlight === undefined ? {} : { inFlight: options.inFlight }),
  ...(options.writeSeconds === undefined ? {} : { writeMs: options.writeSeconds * 1000 }),
  ...(options.delay === undefined ? {} : { delayMs: options.delay }),
  ...(options.preload === undefined ? {} : { preload: options.preload }),
};

// A full collection between phases keeps one side's garbage off the other side's clock; exposing gc
// here means `node dist/main.js` needs no --expose-gc flag.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

const reports: Awaited<ReturnType<typeof runBench>>[] = [];
let cloudReport: CloudReport | undefined;
try {
  for (const n of runLocal ? sizes : []) {
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
  if (runCloud) {
    // The SDK warns on every client under Node 20 that its releases after January 2027 need Node 22.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    process.stderr.write(pc.dim('object storage: starting the S3 emulator and the latency proxy\n'));
    cloudReport = await runCloudBench({ config: cloudConfig, log: (line) => process.stderr.write(pc.dim(`${line}\n`)) });
    process.stdout.write(`${runLocal ? '\n' : ''}${formatCloudReport(cloudReport)}\n`);
  }
  if (options.json !== undefined) {
    const local = reports.length === 1 ? reports[0] : reports;
    const saved = cloudReport === undefined ? local : runLocal ? { local, cloud: cloudReport } : { cloud: cloudReport };
    await writeFile(options.json, `${JSON.stringify(saved, null, 2)}\n`);
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

function nonNegativeInt(text: string): number {
  const n = Number(text.replaceAll('_', ''));
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer >= 0');
  return n;
}

function positiveInt(text: string): number {
  const n = Number(text.replaceAll('_', ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
