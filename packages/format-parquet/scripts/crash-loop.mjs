#!/usr/bin/env node
// The full crash-safety run: `node scripts/crash-loop.mjs [--iterations 200] [--seed 1] [--writers 1] [--dir DIR] [--s3 | --azure]`
// (build first: `turbo run build --filter=@ltm/format-parquet...`). Each iteration starts a writer
// process, kills it with SIGKILL at a random point (while opening, committing, compacting, vacuuming or
// purging) and checks with a fresh reader that every acknowledged batch is there and none is half visible.
// With --writers N, N writers race for the log at once (spread claims, skip records), each killed at its own
// random point, and each one's batches are checked.
// --s3 runs it on the rig's S3 emulator, --azure on its Azurite (started here), instead of a local directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCloud } from '../test/fixtures/cloud-setup.mjs';
import { crashLoop } from '../test/fixtures/crash-loop.mjs';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    writers: { type: 'string', default: '1' },
    dir: { type: 'string' },
    s3: { type: 'boolean', default: false },
    azure: { type: 'boolean', default: false },
  },
});
const iterations = Number(values.iterations);
let dir = values.dir ?? mkdtempSync(join(tmpdir(), 'ltm-parquet-crash-loop-'));
let cloud;
if (values.s3 || values.azure) {
  cloud = await startCloud({ azure: values.azure });
  process.env.LTM_TEST_CLOUD = JSON.stringify(cloud.cloud);
  dir = values.azure ? `az://${cloud.container}/crash-loop` : `s3://${cloud.bucket}/crash-loop`;
}
const started = Date.now();
const killedBy = {};
try {
  const summary = await crashLoop({
    dir,
    iterations,
    seed: Number(values.seed),
    writers: Number(values.writers),
    onIteration: ({ iteration, writer = 0, killed, lastAcked, newest }) => {
      killedBy[killed] = (killedBy[killed] ?? 0) + 1;
      if (writer === 0 && ((iteration + 1) % 10 === 0 || iteration + 1 === iterations)) {
        console.log(`${iteration + 1}/${iterations}: writer 0's last acknowledged batch ${lastAcked}, newest visible ${newest}`);
      }
    },
  });
  console.log(
    `OK: ${summary.iterations} rounds, kills ${Object.entries(killedBy).map(([k, n]) => `${n} ${k}`).join(', ')}; ` +
      `${summary.acknowledged} acknowledged batches all present, none half visible, ${summary.lostRaces} lost races and ` +
      `${summary.skipsWritten} skip records (as last reported), ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  if (values.dir === undefined && cloud === undefined) rmSync(dir, { recursive: true, force: true });
  await cloud?.stop();
} catch (error) {
  const kept = cloud === undefined ? ` (store kept at ${dir} for inspection)` : '';
  console.error(`FAILED${kept}: ${error instanceof Error ? error.stack : String(error)}`);
  await cloud?.stop();
  process.exit(1);
}
