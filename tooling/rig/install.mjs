// Installs the emulators of the cloud test rig into a project-local cache (<repo>/.ltm-cache/rig, git-ignored),
// from the registries only: versitygw is built from source by `go install` through the Go module proxy, and
// Azurite comes from npm with the lockfile committed beside this file. Both are kept out of the pnpm workspace
// so that `pnpm install` stays light for those who never run the cloud tests.
//
// Idempotent and safe to run from several processes at once (turbo runs package test suites in parallel):
// each tool is built in a private staging directory and renamed into place; a finished install is found by
// its completion stamp and costs one stat. `LTM_RIG_VERSITYGW` / `LTM_RIG_AZURITE` name prebuilt
// executables instead (air-gapped machines), `LTM_RIG_CACHE` moves the cache.
//
// CLI: `node tooling/rig/install.mjs [--s3-only|--azure-only]` prints what is installed where.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { constants, createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const VERSITYGW_MODULE = 'github.com/versity/versitygw';
export const VERSITYGW_VERSION = 'v1.8.0';
// The version in azurite/package.json; kept here too so reports can name it without reading the lockfile.
export const AZURITE_VERSION = '3.35.0';

const STAMP = '.complete';
// A cold `go install` of versitygw compiles ~300 packages; on a shared 2-core machine that takes minutes.
const INSTALL_TIMEOUT_MS = 20 * 60_000;

export function rigCacheDir(env = process.env) {
  return env.LTM_RIG_CACHE ? resolve(env.LTM_RIG_CACHE) : join(here, '..', '..', '.ltm-cache', 'rig');
}

/**
 * Makes sure the requested emulators are installed and returns how to run them:
 * `{ versitygw?: { command, version }, azurite?: { command, version } }` where `command` is an executable path
 * (Azurite's is a JS file to run with this Node). `log` receives progress lines for slow (first-time) installs.
 */
export async function installRig({ s3 = true, azure = true, env = process.env, log = () => {} } = {}) {
  const cache = rigCacheDir(env);
  // In parallel: the Go build is CPU-bound, npm ci mostly waits on the network.
  const [versitygw, azurite] = await Promise.all([
    s3 ? installVersitygw(cache, env, log) : undefined,
    azure ? installAzurite(cache, env, log) : undefined,
  ]);
  return { ...(versitygw && { versitygw }), ...(azurite && { azurite }) };
}

async function installVersitygw(cache, env, log) {
  if (env.LTM_RIG_VERSITYGW) {
    await mustBeExecutable(env.LTM_RIG_VERSITYGW, 'LTM_RIG_VERSITYGW');
    return { command: resolve(env.LTM_RIG_VERSITYGW), version: 'user-provided' };
  }
  const dir = join(cache, `versitygw-${VERSITYGW_VERSION}-${process.platform}-${process.arch}`);
  await installOnce(dir, VERSITYGW_VERSION, log, `versitygw ${VERSITYGW_VERSION} (go install, first time only)`, async (staging) => {
    await run('go', ['install', `${VERSITYGW_MODULE}/cmd/versitygw@${VERSITYGW_VERSION}`], {
      cwd: staging,
      // CGO off: a static binary needs no C toolchain and cannot break when system libraries change.
      env: { ...env, GOBIN: staging, CGO_ENABLED: '0' },
      logFile: join(staging, 'install.log'),
      missing:
        'Go is needed once to build the S3 emulator (versitygw needs Go >= 1.25, or Go >= 1.21 with ' +
        'GOTOOLCHAIN=auto): install Go, or set LTM_RIG_VERSITYGW to a versitygw executable',
    });
  });
  return { command: join(dir, 'versitygw'), version: VERSITYGW_VERSION };
}

async function installAzurite(cache, env, log) {
  if (env.LTM_RIG_AZURITE) {
    await mustBeExecutable(env.LTM_RIG_AZURITE, 'LTM_RIG_AZURITE');
    return { command: resolve(env.LTM_RIG_AZURITE), version: 'user-provided' };
  }
  const lock = await readFile(join(here, 'azurite', 'package-lock.json'));
  // Keyed by the lockfile's hash, so editing the lock installs afresh instead of reusing a stale tree.
  const stamp = createHash('sha256').update(lock).digest('hex').slice(0, 12);
  const dir = join(cache, `azurite-${AZURITE_VERSION}-${stamp}`);
  await installOnce(dir, stamp, log, `Azurite ${AZURITE_VERSION} (npm ci, first time only)`, async (staging) => {
    await copyFile(join(here, 'azurite', 'package.json'), join(staging, 'package.json'));
    await copyFile(join(here, 'azurite', 'package-lock.json'), join(staging, 'package-lock.json'));
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: staging,
      env: npmEnv(env),
      logFile: join(staging, 'install.log'),
      missing: 'npm is needed once to install Azurite: install Node.js with npm, or set LTM_RIG_AZURITE',
    });
  });
  return { command: join(dir, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js'), version: AZURITE_VERSION };
}

async function installOnce(dir, stamp, log, what, build) {
  if (await isStamped(dir, stamp)) return;
  await mkdir(dirname(dir), { recursive: true });
  const staging = await mkdtemp(`${dir}.staging-`);
  try {
    log(`ltm rig: installing ${what} into ${dir}`);
    await build(staging);
    await writeFile(join(staging, STAMP), `${stamp}\n`);
    try {
      await rename(staging, dir);
    } catch (err) {
      // Another process finished the same install first (a directory only ever appears complete, by rename);
      // its copy is as good as ours.
      if (!(await isStamped(dir, stamp))) throw err;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function isStamped(dir, stamp) {
  try {
    return (await readFile(join(dir, STAMP), 'utf8')).trim() === stamp;
  } catch {
    return false;
  }
}

async function mustBeExecutable(path, variable) {
  try {
    await access(path, constants.X_OK);
  } catch {
    throw new Error(`${variable}=${path} is not an executable file: point it at the emulator binary or unset it`);
  }
}

// pnpm exports its own npm_config_* settings to scripts; npm would read them as its own (some mean something
// else there), so only the settings that say where and how to reach the registry are passed on.
function npmEnv(env) {
  const kept = /^npm_config_(registry|cache|userconfig|globalconfig|proxy|https_proxy|noproxy|strict_ssl|cafile|ca)$/i;
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^npm_/i.test(k) || kept.test(k)));
}

function run(command, args, { cwd, env, logFile, missing }) {
  return new Promise((resolvePromise, reject) => {
    const logStream = createWriteStream(logFile);
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk) => {
      logStream.write(chunk);
      tail = (tail + chunk).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), INSTALL_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      logStream.end();
      reject(err.code === 'ENOENT' ? new Error(`\`${command}\` was not found. ${missing}.`) : err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      logStream.end();
      if (code === 0) resolvePromise();
      else
        reject(
          new Error(
            `\`${command} ${args.join(' ')}\` failed (${signal ?? `exit ${code}`}); last output:\n${tail}\n${missing}.`,
          ),
        );
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  const started = Date.now();
  installRig({
    s3: !argv.includes('--azure-only'),
    azure: !argv.includes('--s3-only'),
    log: (line) => console.error(line),
  }).then(
    (installed) => {
      for (const [name, { command, version }] of Object.entries(installed)) console.log(`${name} ${version}: ${command}`);
      console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    },
    (err) => {
      console.error(err.message);
      process.exitCode = 1;
    },
  );
}
