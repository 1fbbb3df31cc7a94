/**
 * The `ltm` command. Every subcommand opens the store named by `--uri`, does one thing, closes it and
 * maps the outcome to an exit code: 0 success, 1 the operation failed (message and errorType printed),
 * 2 the command line was wrong. `--json` prints the protocol's result objects for scripts.
 */
import { existsSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import { LTMError, MAX_LIMIT } from '@ltm/core';
import type { ExpiryOptions, Failure, Filter, JsonObject, JsonValue, LTMBackend } from '@ltm/core';
import type { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import { runDemo } from './demo.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, OperationError, UsageError } from './errors.js';
import { registerExtensionsCommand } from './extensions-command.js';
import { formatEntry, formatList, formatSearch, formatStats, processOutput } from './output.js';
import type { Output } from './output.js';

export interface OpenOptions {
  uri: string;
  tableName?: string;
  /** Open without taking the write lock; every write is then a `read_only` failure. */
  readOnly?: boolean;
}

export interface CliDependencies {
  /** Opens the backend a command works on. */
  open(options: OpenOptions): Promise<LTMBackend>;
  output?: Output;
}

interface GlobalOptions {
  uri: string;
  table?: string;
  json?: boolean;
  readOnly?: boolean;
}

export const DEFAULT_URI = './ltm.duckdb';
export const DEFAULT_DEMO_URI = './ltm-demo.duckdb';

/** Runs the command line `argv` (user arguments only, without `node` and the script) and returns the exit code. */
export async function runCli(argv: readonly string[], deps: CliDependencies): Promise<number> {
  const out = deps.output ?? processOutput();
  const program = buildProgram(deps, out);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    return report(error, out, program.opts<GlobalOptions>().json === true);
  }
}

function buildProgram(deps: CliDependencies, out: Output): Command {
  const program = new Command()
    .name('ltm')
    .description('Long-term memory for AI agents on DuckDB: store, retrieve, search and list memories.')
    .option('--uri <uri>', 'the store: a .duckdb file, a directory for parquet, or s3:// gs:// az://', DEFAULT_URI)
    .option('--table <name>', 'table name inside the store (default ltm_store)')
    .option('--json', 'print result objects as JSON, for scripts')
    .option('--read-only', 'open the store for reading only, so several readers can share it')
    .showHelpAfterError('(run ltm --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => out.stdout.write(text),
      writeErr: (text) => out.error(text.trimEnd()),
    });

  // Commands run against an open backend, closed afterwards whatever happens.
  const withBackend = (command: Command, mustExist: boolean, body: (backend: LTMBackend, globals: GlobalOptions) => Promise<void>) =>
    async () => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (mustExist) assertStoreExists(globals.uri);
      const backend = await openBackend(deps, globals);
      try {
        await body(backend, globals);
      } finally {
        await backend.close();
      }
    };

  const put = program
    .command('put')
    .description('store a memory: the value is JSON (use --text for a plain string)')
    .argument('<key>', 'the key (1 to 1024 UTF-8 bytes)')
    .argument('<value>', 'the value as JSON, e.g. \'{"likes":"tea"}\' or \'"a string"\'')
    .option('--text', 'store <value> as a plain string instead of parsing it as JSON')
    .option('--metadata <json>', 'a JSON object to filter on later, e.g. \'{"user":"ana","type":"preference"}\'')
    .addOption(new Option('--ttl <seconds>', 'forget the memory after this many seconds').argParser(positiveNumber));
  put.action(
    withBackend(put, false, async (backend, globals) => {
      const [key = '', raw = ''] = put.args;
      const opts = put.opts<{ text?: boolean; metadata?: string; ttl?: number }>();
      const value = opts.text ? raw : parseJsonArgument(raw, 'value', 'To store plain text, quote it as JSON (\'"hello there"\') or add --text.');
      const metadata = opts.metadata === undefined ? undefined : parseJsonObject(opts.metadata, '--metadata');
      const expiry: ExpiryOptions | undefined = opts.ttl === undefined ? undefined : { ttlSeconds: opts.ttl };
      const result = ensure(await backend.store(key, value, metadata, expiry));
      if (globals.json) return printJson(out, result);
      const ttl = opts.ttl === undefined ? '' : `, expires in ${formatDuration(opts.ttl)}`;
      out.line(`${result.created ? 'stored' : 'updated'} ${pc.bold(key)}${ttl}${result.queued ? ' (queued)' : ''}`);
    }),
  );

  const get = program.command('get').description('show the memory stored under a key').argument('<key>');
  get.action(
    withBackend(get, true, async (backend, globals) => {
      const [key = ''] = get.args;
      const result = ensure(await backend.retrieve(key));
      if (globals.json) printJson(out, result);
      if (!result.found) throw new OperationError(`nothing is stored under ${JSON.stringify(key)}`, 'not_found');
      if (!globals.json) for (const line of formatEntry(key, result)) out.line(line);
    }),
  );

  const del = program.command('del').alias('delete').description('delete the memory under a key').argument('<key>');
  del.action(
    withBackend(del, true, async (backend, globals) => {
      const [key = ''] = del.args;
      const result = ensure(await backend.delete(key));
      if (globals.json) return printJson(out, result);
      out.line(result.deleted ? `deleted ${pc.bold(key)}` : `nothing was stored under ${pc.bold(key)}`);
    }),
  );

  const search = program
    .command('search')
    .description('full-text search (BM25), optionally narrowed by a metadata filter; without a query, newest first')
    .argument('[query]', 'words to look for')
    .option('--filter <json>', 'metadata filter, e.g. \'{"user":"ana","importance":{"$gte":4}}\'')
    .addOption(new Option('--limit <n>', `results per page (1 to ${MAX_LIMIT})`).argParser(limitNumber).default(10))
    .option('--cursor <cursor>', 'the next page of a previous search');
  search.action(
    withBackend(search, true, async (backend, globals) => {
      const [query] = search.args;
      const opts = search.opts<{ filter?: string; limit: number; cursor?: string }>();
      const filter = opts.filter === undefined ? undefined : (parseJsonObject(opts.filter, '--filter') as Filter);
      const result = ensure(await backend.search({ query, filter, limit: opts.limit, cursor: opts.cursor }));
      if (globals.json) return printJson(out, result);
      const about = [query ? `for ${JSON.stringify(query)}` : '(newest first)', filter ? `where ${JSON.stringify(filter)}` : ''].filter(Boolean).join(' ');
      for (const line of formatSearch(result, out.width, about)) out.line(line);
    }),
  );

  const list = program
    .command('list')
    .alias('ls')
    .description('list keys in order, optionally under a prefix')
    .option('--prefix <prefix>', 'only keys starting with this')
    .addOption(new Option('--limit <n>', `keys per page (1 to ${MAX_LIMIT})`).argParser(limitNumber).default(100))
    .option('--cursor <cursor>', 'the next page of a previous list');
  list.action(
    withBackend(list, true, async (backend, globals) => {
      const opts = list.opts<{ prefix?: string; limit: number; cursor?: string }>();
      const result = ensure(await backend.list({ prefix: opts.prefix, limit: opts.limit, cursor: opts.cursor }));
      if (globals.json) return printJson(out, result);
      for (const line of formatList(result, out.width)) out.line(line);
    }),
  );

  const stats = program.command('stats').description('entry count, capabilities and backend details');
  stats.action(
    withBackend(stats, true, async (backend, globals) => {
      const result = ensure(await backend.stats());
      if (globals.json) return printJson(out, result);
      for (const line of formatStats(result)) out.line(line);
    }),
  );

  // Maintenance of a Parquet store (a directory or bucket prefix); the native format answers unsupported.
  const compact = program.command('compact').description('merge a Parquet store\'s segments into one now, dropping replaced, deleted and expired rows');
  compact.action(
    withBackend(compact, true, async (backend, globals) => {
      const result = ensure(await maintenanceOf(backend).compact());
      if (globals.json) return printJson(out, result);
      out.line(`compacted: ${result.segments} segment${result.segments === 1 ? '' : 's'}`);
    }),
  );

  const vacuum = program
    .command('vacuum')
    .description('delete files of a Parquet store that no snapshot within the retention window needs')
    .addOption(new Option('--retention-ms <ms>', 'keep files recent snapshots need for this long instead of the store\'s window').argParser(wholeNumber));
  vacuum.action(
    withBackend(vacuum, true, async (backend, globals) => {
      const { retentionMs } = vacuum.opts<{ retentionMs?: number }>();
      const result = ensure(await maintenanceOf(backend).vacuum(retentionMs === undefined ? {} : { retentionMs }));
      if (globals.json) return printJson(out, result);
      out.line(`vacuumed: ${describeDeleted(result)}`);
    }),
  );

  const purge = program.command('purge').description('physically remove deleted and expired data of a Parquet store now (privacy requests)');
  purge.action(
    withBackend(purge, true, async (backend, globals) => {
      const result = ensure(await maintenanceOf(backend).purge());
      if (globals.json) return printJson(out, result);
      out.line(`purged: ${result.expired} expired entr${result.expired === 1 ? 'y' : 'ies'} dropped, ${describeDeleted(result)}`);
    }),
  );

  const exportCommand = program
    .command('export')
    .description('write the live entries of a Parquet store as one Parquet file (a path or s3:// gs:// az:// URI)')
    .argument('<target>', 'where to write the file');
  exportCommand.action(
    withBackend(exportCommand, true, async (backend, globals) => {
      const [target = ''] = exportCommand.args;
      const result = ensure(await maintenanceOf(backend).exportSnapshot(target));
      if (globals.json) return printJson(out, result);
      out.line(`exported ${result.rows} entr${result.rows === 1 ? 'y' : 'ies'} to ${result.target}`);
    }),
  );

  const demo = program
    .command('demo')
    .description(`store a few hundred realistic agent memories in a fresh local file (default ${DEFAULT_DEMO_URI}), then retrieve, search, list and time it all`)
    .addOption(new Option('--count <n>', 'how many memories to store').argParser(limitNumber).default(300));
  demo.action(async () => {
    const globals = demo.optsWithGlobals<GlobalOptions>();
    const uri = demo.getOptionValueSourceWithGlobals('uri') === 'default' ? DEFAULT_DEMO_URI : globals.uri;
    await runDemo({ uri, tableName: globals.table, count: demo.opts<{ count: number }>().count, json: globals.json === true, open: (o) => openBackend(deps, o), out });
  });

  registerExtensionsCommand(program, out);
  return program;
}

async function openBackend(deps: CliDependencies, options: { uri: string; table?: string; tableName?: string; readOnly?: boolean }): Promise<LTMBackend> {
  const tableName = options.tableName ?? options.table;
  try {
    return await deps.open({ uri: options.uri, ...(tableName === undefined ? {} : { tableName }), ...(options.readOnly ? { readOnly: true } : {}) });
  } catch (error) {
    if (error instanceof LTMError) throw new OperationError(`cannot open ${options.uri}: ${error.message}`, error.errorType, error.toFailure());
    throw error;
  }
}

/** Reading a local file that is not there would create an empty store; say what is wrong instead. */
function assertStoreExists(uri: string): void {
  const local = uri !== ':memory:' && !/^[a-z][a-z0-9+]*:\/\//i.test(uri);
  if (local && !existsSync(uri)) {
    throw new OperationError(`no store at ${uri}: nothing has been stored there yet (put something first, or pass --uri)`, 'not_found');
  }
}

type Maintenance = Pick<DuckDBLTMBackend, 'compact' | 'vacuum' | 'purge' | 'exportSnapshot'>;

/** The maintenance methods of the DuckDB backend; another backend has none. */
function maintenanceOf(backend: LTMBackend): Maintenance {
  const candidate = backend as LTMBackend & Partial<Maintenance>;
  if (typeof candidate.compact === 'function') return candidate as LTMBackend & Maintenance;
  throw new OperationError(`the ${backend.name} backend has no maintenance commands`, 'unsupported');
}

function describeDeleted(result: { deletedSegmentFiles: number; deletedRecords: number; deletedCheckpoints: number; deletedTemporaries: number }): string {
  return `${result.deletedSegmentFiles} segment file(s), ${result.deletedRecords} log record(s), ${result.deletedCheckpoints} checkpoint(s) and ${result.deletedTemporaries} leftover file(s) deleted`;
}

function ensure<T extends { success: boolean }>(result: T): Exclude<T, Failure> {
  if (!result.success) throw OperationError.from(result as unknown as Failure);
  return result as Exclude<T, Failure>;
}

function printJson(out: Output, value: unknown): void {
  out.line(JSON.stringify(value, null, 2));
}

function parseJsonArgument(text: string, what: string, hint: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${what} is not valid JSON (${reason}). ${hint}`);
  }
}

function parseJsonObject(text: string, what: string): JsonObject {
  const parsed = parseJsonArgument(text, what, `${what} takes a JSON object, e.g. '{"user":"ana"}'.`);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`${what} must be a JSON object, e.g. '{"user":"ana"}', got ${text}`);
  }
  return parsed;
}

function positiveNumber(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

function wholeNumber(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of milliseconds (0 or more)');
  return n;
}

function limitNumber(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_LIMIT}`);
  return n;
}

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

function report(error: unknown, out: Output, json: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has already printed its message (and the usage hint); help and --version exit 0.
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (error instanceof UsageError) {
    out.error(`${pc.red('error:')} ${error.message}`);
    out.error('(run ltm --help for usage)');
    return EXIT_USAGE;
  }
  if (error instanceof OperationError) {
    if (json && error.result !== undefined) printJson(out, error.result);
    out.error(`${pc.red('error:')} ${error.message}${error.errorType === 'not_found' ? '' : pc.dim(` (${error.errorType})`)}`);
    return EXIT_FAILURE;
  }
  // Anything else is a bug in ltm or a backend: show the stack so it can be reported.
  out.error(`${pc.red('unexpected error:')} ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return EXIT_FAILURE;
}
