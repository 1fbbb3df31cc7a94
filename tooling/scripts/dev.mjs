#!/usr/bin/env node
// The project's one entry point for people and CI: `npm run demo`, `npm test`, `npm run bench`.
// It needs only Node 20.15+ and npm: it installs the pinned pnpm (from package.json's packageManager)
// through npx, installs the workspace, provisions what the tests need and builds, then runs the task.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 15)) {
  console.error(`✖ ltm needs Node.js 20.15 or newer (this is ${process.version}): install a current Node 20 or 22 and run this again`);
  process.exit(1);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const [task = 'test', ...args] = process.argv.slice(2);
const pnpmVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];
const bin = join(root, 'node_modules', '.bin');
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };

function step(title, command, commandArgs, options = {}) {
  console.log(`\n▶ ${title}`);
  const result = spawnSync(command, commandArgs, { cwd: root, env, stdio: 'inherit', ...options });
  if (result.error) {
    console.error(`✖ ${title}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(`✖ ${title} failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

function installIsCurrent() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  if (!existsSync(marker) || !existsSync(join(bin, 'pnpm'))) return false;
  return statSync(marker).mtimeMs >= statSync(join(root, 'pnpm-lock.yaml')).mtimeMs;
}

function setup() {
  if (!installIsCurrent()) {
    step(`install dependencies (pnpm ${pnpmVersion} via npx)`, 'npx', ['--yes', `pnpm@${pnpmVersion}`, 'install', '--frozen-lockfile']);
  }
  if (existsSync(join(root, 'tooling', 'extensions', 'provision.mjs'))) {
    step('provision DuckDB extensions (httpfs, fts, azure)', 'node', ['tooling/extensions/provision.mjs']);
  }
  if (existsSync(join(root, 'tooling', 'rig', 'install.mjs'))) {
    step('install the cloud test rig (S3 emulator, Azurite)', 'node', ['tooling/rig/install.mjs']);
  }
  step('build packages', 'turbo', ['run', 'build', '--output-logs=errors-only']);
}

/** The JSON reports vitest writes in each workspace package (see tooling/vitest.shared.mjs). */
function testReports() {
  const found = [];
  for (const group of ['packages', 'apps', '.']) {
    const base = join(root, group);
    const dirs = group === '.' ? ['tooling'] : readdirSync(base);
    for (const dir of dirs) {
      const file = join(base, dir, '.test-report.json');
      if (existsSync(file)) found.push(file);
    }
  }
  return found;
}

function summarize(reports) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const file of reports) {
    const report = JSON.parse(readFileSync(file, 'utf8'));
    passed += report.numPassedTests;
    failed += report.numFailedTests;
    skipped += report.numPendingTests + report.numTodoTests;
  }
  console.log(`\n${reports.length} packages tested`);
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
}

switch (task) {
  case 'setup':
    setup();
    break;
  case 'test': {
    setup();
    const reports = testReports();
    for (const report of reports) rmSync(report, { force: true });
    const result = spawnSync('turbo', ['run', 'test', '--concurrency=1', '--continue', ...args], { cwd: root, env, stdio: 'inherit' });
    summarize(testReports());
    process.exit(result.status ?? 1);
  }
  case 'demo':
    setup();
    step('ltm demo', 'node', ['apps/cli/dist/main.js', 'demo', ...args]);
    break;
  case 'bench':
    setup();
    step('benchmark against the SQLite peer', 'node', ['apps/bench/dist/main.js', ...args]);
    break;
  default:
    console.error(`unknown task ${JSON.stringify(task)}: use setup, test, demo or bench`);
    process.exit(2);
}
