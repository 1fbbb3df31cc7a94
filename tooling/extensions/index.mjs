// Makes DuckDB's httpfs, fts and azure extensions available in a project-local extension directory, for the exact
// DuckDB version and platform that @duckdb/node-api (as pinned by @ltm/engine-duckdb) runs. Sources, in order:
//   install  DuckDB's own `INSTALL name` (its extension repository), in a child process with a hard timeout
//            because a blocked network can hang a download;
//   pypi     the `duckdb-extension-<name>==<version>` wheels, which carry the official signed binaries, fetched
//            with `pip download` and unpacked with Python's zipfile;
//   from     a directory the user gives (air-gapped machines).
// Every file is accepted only after DuckDB loads it with signature checking on (`allow_unsigned_extensions` off)
// and answers a real call, so an unsigned, truncated or wrong-platform binary is never left in place.
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The extensions the project uses, in the order they are provisioned. */
export const EXTENSIONS = Object.freeze(['httpfs', 'fts', 'azure']);
export const SOURCES = Object.freeze(['install', 'pypi', 'from']);

/** A real call per extension that fails unless the extension is loaded. */
const SMOKE = {
  fts: { sql: "SELECT stem('running', 'porter') AS result", expect: 'run' },
  httpfs: { sql: "CREATE TEMPORARY SECRET ltm_provision_probe (TYPE s3, KEY_ID 'probe', SECRET 'probe')" },
  azure: {
    sql:
      'CREATE TEMPORARY SECRET ltm_provision_probe (TYPE azure, CONNECTION_STRING ' +
      "'DefaultEndpointsProtocol=http;AccountName=probe;AccountKey=cHJvYmU=;BlobEndpoint=http://127.0.0.1:9/probe')",
  },
};

const DEFAULT_INSTALL_TIMEOUT_MS = 20_000;
const DEFAULT_PIP_TIMEOUT_MS = 300_000;

/** `$LTM_EXTENSION_DIR`, else `<repo>/.ltm-cache/extensions` (git-ignored). */
export function defaultExtensionDir() {
  return process.env.LTM_EXTENSION_DIR || join(REPO_ROOT, '.ltm-cache', 'extensions');
}

/** Where DuckDB looks for an extension under `SET extension_directory = dir`. */
export function extensionPath(dir, name, { version, platform }) {
  return join(dir, version, platform, `${name}.duckdb_extension`);
}

let duckdbModule;
/** The @duckdb/node-api the engine package pins, so the binaries match the DuckDB that will load them. */
async function loadDuckDB() {
  if (duckdbModule) return duckdbModule;
  const anchors = [join(REPO_ROOT, 'packages', 'engine-duckdb', 'package.json'), join(process.cwd(), 'package.json')];
  for (const anchor of anchors) {
    try {
      const entry = createRequire(anchor).resolve('@duckdb/node-api');
      duckdbModule = { entry, api: await import(pathToFileURL(entry).href) };
      return duckdbModule;
    } catch {
      // try the next anchor
    }
  }
  throw new Error('@duckdb/node-api is not installed: run `pnpm install` at the repository root first.');
}

async function withConnection(config, work) {
  const { api } = await loadDuckDB();
  const instance = await api.DuckDBInstance.create(':memory:', config);
  const connection = await instance.connect();
  try {
    return await work(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** DuckDB's version tag (`v1.5.5`) and extension platform (`linux_amd64`, `osx_arm64`, ...). */
export async function duckdbTarget() {
  return withConnection({}, async (connection) => {
    const reader = await connection.runAndReadAll('SELECT version() AS version, platform FROM pragma_platform()');
    const [row] = reader.getRowObjectsJson();
    return { version: String(row.version), platform: String(row.platform) };
  });
}

/**
 * Loads `name` from `dir` in a fresh in-memory DuckDB with signature checks on and no auto-install, then runs its
 * smoke call. Resolves to undefined when it works, else to the reason.
 */
export async function verifyExtension(dir, name) {
  try {
    return await withConnection(
      {
        extension_directory: dir,
        allow_unsigned_extensions: 'false',
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
      },
      async (connection) => {
        await connection.run(`LOAD ${name}`);
        const smoke = SMOKE[name];
        const rows = (await connection.runAndReadAll(smoke.sql)).getRows();
        if (smoke.expect !== undefined && rows[0]?.[0] !== smoke.expect) {
          return `${smoke.sql} returned ${JSON.stringify(rows[0]?.[0])}, expected ${JSON.stringify(smoke.expect)}`;
        }
        return undefined;
      },
    );
  } catch (error) {
    return firstLine(error);
  }
}

function firstLine(error) {
  return String(error instanceof Error ? error.message : error).split('\n')[0];
}

/** Runs a command; resolves with its exit code and output, or with `timedOut` after killing it. */
function run(command, args, { timeoutMs, env } = {}) {
  return new Promise((resolvePromise) => {
    let output = '';
    let settled = false;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolvePromise({ ...result, output });
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ code: null, timedOut: true });
    }, timeoutMs);
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => finish({ code: null, spawnError: error }));
    child.on('close', (code) => finish({ code }));
  });
}

function lastLines(text, count = 3) {
  return text.trim().split('\n').slice(-count).join(' | ');
}

/** Source 1: DuckDB's `INSTALL`, in a child process so a hanging download can be killed. */
async function fromInstall(name, context) {
  const { entry } = await loadDuckDB();
  const script = join(dirname(fileURLToPath(import.meta.url)), 'install-child.mjs');
  const args = [script, pathToFileURL(entry).href, context.dir, name];
  if (context.repository) args.push(context.repository);
  const result = await run(process.execPath, args, { timeoutMs: context.installTimeoutMs });
  if (result.timedOut) {
    context.unavailable.add('install');
    return { error: `INSTALL ${name} did not finish within ${context.installTimeoutMs} ms (network blocked?)` };
  }
  if (result.code !== 0) return { error: `INSTALL ${name} failed: ${result.output.trim().split("\n")[0]}` };
  return { placed: true };
}

const PYTHONS = ['python3', 'python'];

/** Source 2: the PyPI wheel `duckdb-extension-<name>`, whose only payload is the official binary. */
async function fromPypi(name, context) {
  const work = await mkdtemp(join(tmpdir(), `ltm-ext-${name}-`));
  try {
    const requirement = `duckdb-extension-${name}==${context.version.replace(/^v/, '')}`;
    let download;
    for (const python of PYTHONS) {
      download = await run(
        python,
        ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '--no-input',
          '--retries', '1', '--timeout', '15', '--dest', work, requirement],
        { timeoutMs: context.pipTimeoutMs },
      );
      if (!download.spawnError) {
        context.python = python;
        break;
      }
    }
    if (download.spawnError) {
      context.unavailable.add('pypi');
      return { error: 'python3 with pip was not found (needed to fetch the PyPI wheels)' };
    }
    if (download.timedOut) {
      context.unavailable.add('pypi');
      return { error: `pip download ${requirement} did not finish within ${context.pipTimeoutMs} ms` };
    }
    if (download.code !== 0) return { error: `pip download ${requirement} failed: ${lastLines(download.output)}` };
    const wheel = (await readdir(work)).find((file) => file.endsWith('.whl'));
    if (!wheel) return { error: `pip download ${requirement} produced no wheel` };
    const binary = await extractFromWheel(join(work, wheel), name, context);
    await place(binary, name, context);
    return { placed: true, detail: wheel };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Unpacks a wheel with Python's zipfile and returns the path of `<name>.duckdb_extension` inside it. */
async function extractFromWheel(wheel, name, context) {
  const out = await mkdtemp(join(tmpdir(), `ltm-wheel-${name}-`));
  context.cleanup.push(out);
  const python = context.python ?? PYTHONS[0];
  const unzip = await run(python, ['-m', 'zipfile', '-e', wheel, out], { timeoutMs: 120_000 });
  if (unzip.code !== 0) throw new Error(`cannot unpack ${basename(wheel)}: ${lastLines(unzip.output)}`);
  // Layout: duckdb_extension_<name>/extensions/<version>/<name>.duckdb_extension
  const found = await findFile(out, `${name}.duckdb_extension`);
  const expected = found.find((file) => file.includes(`${context.version}`)) ?? found[0];
  if (!expected) throw new Error(`${basename(wheel)} holds no ${name}.duckdb_extension`);
  return expected;
}

async function findFile(root, fileName) {
  const matches = [];
  for (const entry of await readdir(root, { recursive: true })) {
    if (basename(entry) === fileName) matches.push(join(root, entry));
  }
  return matches;
}

async function exists(path) {
  return stat(path).then(
    (info) => info.isFile(),
    () => false,
  );
}

/** Source 3: a user-given directory: DuckDB's layout, a flat file, a `.gz` from DuckDB's repository, or a wheel. */
async function fromDirectory(name, context) {
  if (!context.from) return { error: 'no --from directory given' };
  const from = resolve(context.from);
  const candidates = [
    extensionPath(from, name, context),
    join(from, `${name}.duckdb_extension`),
  ];
  for (const candidate of candidates) {
    if (await exists(candidate)) {
      await place(candidate, name, context);
      return { placed: true, detail: candidate };
    }
    if (await exists(`${candidate}.gz`)) {
      const unpacked = join(await mkdtemp(join(tmpdir(), `ltm-gz-${name}-`)), `${name}.duckdb_extension`);
      context.cleanup.push(dirname(unpacked));
      await writeFile(unpacked, gunzipSync(await readFile(`${candidate}.gz`)));
      await place(unpacked, name, context);
      return { placed: true, detail: `${candidate}.gz` };
    }
  }
  const files = await readdir(from).catch(() => null);
  if (files === null) return { error: `--from directory ${from} cannot be read` };
  const version = context.version.replace(/^v/, '');
  const wheel = files.find((file) => file.startsWith(`duckdb_extension_${name}-${version}-`) && file.endsWith('.whl'));
  if (wheel) {
    await place(await extractFromWheel(join(from, wheel), name, context), name, context);
    return { placed: true, detail: join(from, wheel) };
  }
  return { error: `${from} holds none of ${candidates.map((c) => basename(c)).join(', ')} (or .gz) nor a ${name} wheel` };
}

/** Copies a binary into place through a temporary name, so a reader never sees half a file. */
async function place(source, name, context) {
  const target = extensionPath(context.dir, name, context);
  await mkdir(dirname(target), { recursive: true });
  const temporary = `${target}.${process.pid}.tmp`;
  await copyFile(source, temporary);
  await rename(temporary, target);
}

const ATTEMPTS = { install: fromInstall, pypi: fromPypi, from: fromDirectory };
const LABELS = { install: "DuckDB's INSTALL", pypi: 'PyPI', from: '--from' };

/**
 * Provisions the extensions into `dir` (default `defaultExtensionDir()`). Extensions that already load are left
 * alone, so a second run only verifies. Rejects, naming every source's reason, when one cannot be provisioned.
 *
 * @param {object} [options]
 * @param {string} [options.dir] extension directory (DuckDB's `extension_directory`)
 * @param {string} [options.from] directory to copy binaries from when the network sources fail
 * @param {string[]} [options.only] subset of `EXTENSIONS`
 * @param {string[]} [options.sources] subset of `SOURCES`, tried in that order (default all)
 * @param {string} [options.repository] extension repository URL for `INSTALL` (default: DuckDB's)
 * @param {number} [options.installTimeoutMs] bound on one `INSTALL` (default 20 s)
 * @param {number} [options.pipTimeoutMs] bound on one `pip download` (default 300 s)
 * @param {(line: string) => void} [options.log] progress lines (default: silent)
 */
export async function provisionExtensions(options = {}) {
  const dir = resolve(options.dir ?? defaultExtensionDir());
  const only = options.only ?? EXTENSIONS;
  const sources = options.sources ?? SOURCES;
  const log = options.log ?? (() => {});
  const unknown = only.filter((name) => !EXTENSIONS.includes(name));
  if (unknown.length > 0) throw new Error(`unknown extension ${unknown.join(', ')}: choose from ${EXTENSIONS.join(', ')}`);
  const badSources = sources.filter((source) => !SOURCES.includes(source));
  if (badSources.length > 0) throw new Error(`unknown source ${badSources.join(', ')}: choose from ${SOURCES.join(', ')}`);

  const target = await duckdbTarget();
  const context = {
    ...target,
    dir,
    from: options.from,
    repository: options.repository,
    installTimeoutMs: options.installTimeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS,
    pipTimeoutMs: options.pipTimeoutMs ?? DEFAULT_PIP_TIMEOUT_MS,
    unavailable: new Set(),
    cleanup: [],
  };
  log(`DuckDB ${target.version} ${target.platform}, extension directory ${dir}`);
  const results = [];
  const failures = [];
  try {
    for (const name of only) {
      const started = performance.now();
      const path = extensionPath(dir, name, target);
      const elapsed = () => Math.round(performance.now() - started);
      if ((await exists(path)) && (await verifyExtension(dir, name)) === undefined) {
        results.push({ name, source: 'present', path, ms: elapsed() });
        log(`${name}: already provisioned, loads signed (${elapsed()} ms)`);
        continue;
      }
      const reasons = [];
      let provisioned = false;
      for (const source of sources) {
        if (context.unavailable.has(source)) {
          reasons.push(`${source}: skipped, it failed to answer for an earlier extension`);
          continue;
        }
        const attempt = await ATTEMPTS[source](name, context).catch((error) => ({ error: firstLine(error) }));
        if (attempt.error) {
          reasons.push(`${source}: ${attempt.error}`);
          log(`${name}: ${LABELS[source]} failed: ${attempt.error}`);
          continue;
        }
        const problem = await verifyExtension(dir, name);
        if (problem !== undefined) {
          reasons.push(`${source}: the binary does not load with signature checks on: ${problem}`);
          log(`${name}: ${LABELS[source]} gave a binary that does not load: ${problem}`);
          await rm(path, { force: true });
          continue;
        }
        results.push({ name, source, path, detail: attempt.detail, ms: elapsed() });
        log(`${name}: provisioned from ${LABELS[source]}${attempt.detail ? ` (${attempt.detail})` : ''}, loads signed (${elapsed()} ms)`);
        provisioned = true;
        break;
      }
      if (!provisioned) failures.push(`${name}:\n    ${reasons.join('\n    ')}`);
    }
  } finally {
    await Promise.all(context.cleanup.map((path) => rm(path, { recursive: true, force: true })));
  }
  if (failures.length > 0) {
    throw new Error(
      `cannot provision DuckDB ${target.version} ${target.platform} extensions into ${dir}:\n  ${failures.join('\n  ')}\n` +
        'Fix: allow access to the DuckDB extension repository or to PyPI, or pass --from DIR with the ' +
        `<name>.duckdb_extension files (or duckdb_extension_<name>-${target.version.replace(/^v/, '')}-*.whl wheels) for ${target.platform}.`,
    );
  }
  return { dir, ...target, extensions: results };
}
