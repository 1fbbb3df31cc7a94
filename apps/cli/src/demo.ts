/**
 * `ltm demo`: a newcomer's first contact. It fills a fresh local store with an agent's memories, then
 * uses it the way an agent would (retrieve by key, search with and without filters, list by prefix,
 * stats), showing what came back and how long each step took.
 */
import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import cliProgress from 'cli-progress';
import pc from 'picocolors';
import type { Failure, Filter, JsonObject, LTMBackend, SearchSuccess } from '@ltm/core';
import { generateDemoMemories } from './demo-data.js';
import { OperationError, UsageError } from './errors.js';
import { formatSearch, formatStats, preview } from './output.js';
import type { Output } from './output.js';

export interface DemoOptions {
  uri: string;
  tableName?: string;
  count: number;
  json: boolean;
  open(options: { uri: string; tableName?: string }): Promise<LTMBackend>;
  out: Output;
}

/** Marks a store as the demo's own, so a rerun may overwrite it and nothing else is ever overwritten. */
const MARKER_KEY = 'ltm-demo:about';

interface Step {
  name: string;
  ms: number;
  detail: string;
}

interface DemoSearch {
  title: string;
  query?: string;
  filter?: Filter;
}

const SEARCHES: DemoSearch[] = [
  { title: 'what do we know about allergies?', query: 'allergic' },
  { title: "María's travel plans", query: 'flight', filter: { user: 'maria' } },
  { title: 'failed deployments (tool results only)', query: 'deploy failed', filter: { type: 'tool_result' } },
  { title: 'urgent tasks, newest first (no query: filter only)', filter: { type: 'task', importance: { $gte: 5 } } },
  { title: 'Japanese text: "会議" (meeting) inside a sentence', query: '会議' },
  { title: 'a number: order 48213', query: '48213' },
];

export async function runDemo(options: DemoOptions): Promise<void> {
  const { out, uri, json } = options;
  if (/^[a-z][a-z0-9+]*:\/\//i.test(uri)) {
    throw new UsageError(`the demo writes a fresh local file and deletes it first; give it a local path, not ${uri}`);
  }
  const steps: Step[] = [];
  const say = (text = ''): void => {
    if (!json) out.line(text);
  };
  const timed = async <T>(name: string, body: () => Promise<T>, detail: (result: T) => string): Promise<T> => {
    const start = performance.now();
    const result = await body();
    steps.push({ name, ms: performance.now() - start, detail: detail(result) });
    return result;
  };

  const memories = generateDemoMemories(options.count);
  const withTtl = memories.filter((m) => m.ttlSeconds !== undefined).length;
  say(pc.bold(`ltm demo: an assistant agent's long-term memory, in ${uri}`));

  await timed('prepare', () => startFresh(options), () => `fresh store at ${uri}`);
  const backend = await timed('open', () => options.open({ uri, ...(options.tableName === undefined ? {} : { tableName: options.tableName }) }), (b) => `${b.name} backend`);
  try {
    section(say, `Storing ${memories.length} memories, one awaited store() at a time, as an agent does`);
    await timed(
      'store',
      async () => {
        const bar = json || !out.isTTY ? undefined : new cliProgress.SingleBar(
          { format: `  ${pc.cyan('{bar}')} {value}/{total} memories  {eta_formatted} left`, hideCursor: true, clearOnComplete: true, stream: out.stdout, barsize: 30 },
          cliProgress.Presets.shades_classic,
        );
        const about = 'This file was written by `ltm demo`. Running the demo again replaces it.';
        must(await backend.store(MARKER_KEY, about, { type: 'about' }), `storing ${MARKER_KEY}`);
        bar?.start(memories.length, 0);
        for (const memory of memories) {
          const expiry = memory.ttlSeconds === undefined ? undefined : { ttlSeconds: memory.ttlSeconds };
          must(await backend.store(memory.key, memory.value, memory.metadata, expiry), `storing ${memory.key}`);
          bar?.increment();
        }
        must(await backend.flush(), 'flushing');
        bar?.stop();
      },
      () => `${memories.length} memories (${withTtl} expire in 1 to 30 days)`,
    );
    const storeStep = steps[steps.length - 1] as Step;
    say(`  stored ${memories.length} memories (${withTtl} with a TTL) in ${duration(storeStep.ms)}, ${rate(memories.length, storeStep.ms)}`);

    section(say, 'Retrieving by key');
    const keys = ['maria:preference:coffee', 'kenji:preference:communication', 'nobody:preference:coffee'];
    await timed(
      'retrieve',
      async () => {
        for (const key of keys) {
          const start = performance.now();
          const result = must(await backend.retrieve(key), `retrieving ${key}`);
          const took = pc.dim(`(${duration(performance.now() - start)})`);
          say(`  ${pc.bold(key)} ${took}`);
          say(result.found ? `    ${preview(result.value, out.width - 4)}` : `    ${pc.dim('not found: a missing key is an answer, not an error')}`);
        }
      },
      () => `${keys.length} keys`,
    );

    const searchResults: { title: string; query?: string; filter?: Filter; count: number; keys: string[]; ms: number }[] = [];
    section(say, 'Searching: BM25 full text, best match first; filters narrow by metadata');
    await timed(
      'search',
      async () => {
        for (const search of SEARCHES) {
          const start = performance.now();
          const result: SearchSuccess = must(await backend.search({ query: search.query, filter: search.filter, limit: 3 }), `searching ${search.title}`);
          const ms = performance.now() - start;
          searchResults.push({ ...search, count: result.count, keys: result.results.map((hit) => hit.key), ms });
          const about = [search.query === undefined ? '' : `search ${JSON.stringify(search.query)}`, search.filter === undefined ? '' : `filter ${JSON.stringify(search.filter)}`]
            .filter(Boolean)
            .join(', ');
          say(`  ${pc.bold(search.title)}  ${pc.dim(`${about} (${duration(ms)})`)}`);
          for (const line of formatSearch(result, out.width - 4, result.nextCursor === undefined ? '' : '(best 3; there are more)', false)) say(`    ${line}`);
        }
      },
      () => `${SEARCHES.length} searches`,
    );

    const prefix = 'zoe:';
    section(say, `Listing keys under "${prefix}" (ordered by key)`);
    const listed = await timed(
      'list',
      async () => must(await backend.list({ prefix, limit: 8 }), `listing ${prefix}`),
      (result) => `${result.items.length} keys under ${prefix}`,
    );
    const keyWidth = Math.max(...listed.items.map((item) => item.key.length));
    for (const item of listed.items) say(`  ${item.key.padEnd(keyWidth)}  ${pc.dim(preview(item.metadata as JsonObject, Math.max(10, out.width - keyWidth - 4)))}`);
    if (listed.nextCursor !== undefined) say(pc.dim(`  … and more (ltm list --prefix ${prefix} --cursor <next>)`));

    section(say, 'Stats');
    const stats = await timed('stats', async () => must(await backend.stats(), 'reading stats'), (result) => `${result.entries} entries`);
    for (const line of formatStats(stats)) say(`  ${line}`);

    const closeStart = performance.now();
    await backend.close();
    steps.push({ name: 'close', ms: performance.now() - closeStart, detail: 'flushed and closed' });

    if (json) {
      out.line(JSON.stringify({ uri, stored: memories.length, withTtl, entries: stats.entries, steps, searches: searchResults }, null, 2));
      return;
    }
    section(say, 'What it took');
    const total = steps.reduce((sum, step) => sum + step.ms, 0);
    const nameWidth = Math.max(...steps.map((step) => step.name.length));
    for (const step of steps) say(`  ${step.name.padEnd(nameWidth)}  ${duration(step.ms).padStart(9)}  ${pc.dim(step.detail)}`);
    say(`  ${'total'.padEnd(nameWidth)}  ${duration(total).padStart(9)}`);
    say();
    const flag = `--uri ${shellQuote(uri)}`;
    say(pc.bold('Try it yourself:'));
    say(`  ltm ${flag} get maria:preference:food`);
    say(`  ltm ${flag} search "coffee" --filter '{"user":"soren"}'`);
    say(`  ltm ${flag} list --prefix kenji:`);
    say(`  ltm ${flag} put maria:preference:music '"María listens to fado while working"' --metadata '{"type":"preference","user":"maria"}'`);
  } finally {
    await backend.close();
  }
}

/**
 * Deletes the previous demo store, but only one the demo wrote (it holds the marker) or an empty one:
 * a mistyped --uri must never wipe someone's memories.
 */
async function startFresh(options: DemoOptions): Promise<void> {
  const { uri } = options;
  if (uri === ':memory:' || !existsSync(uri)) return;
  let backend: LTMBackend;
  try {
    backend = await options.open({ uri, ...(options.tableName === undefined ? {} : { tableName: options.tableName }) });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new OperationError(`${uri} exists and is not a store the demo can reuse (${reason}); pass another --uri or delete it yourself`, 'validation_error');
  }
  try {
    const marker = must(await backend.retrieve(MARKER_KEY), 'checking the existing store');
    const stats = must(await backend.stats(), 'checking the existing store');
    if (!marker.found && stats.entries > 0) {
      throw new OperationError(
        `${uri} holds ${stats.entries} memories the demo did not write; the demo replaces its file, so pass another --uri (or delete ${uri} yourself)`,
        'validation_error',
      );
    }
  } finally {
    await backend.close();
  }
  // DuckDB keeps uncheckpointed changes in `<file>.wal` next to the file.
  await Promise.all([rm(uri, { force: true }), rm(`${uri}.wal`, { force: true })]);
}

function section(say: (text?: string) => void, title: string): void {
  say();
  say(pc.cyan(`▸ ${title}`));
}

function must<T extends { success: boolean }>(result: T, what: string): Exclude<T, Failure> {
  if (!result.success) throw OperationError.from(result as unknown as Failure, what);
  return result as Exclude<T, Failure>;
}

function duration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function rate(count: number, ms: number): string {
  return `${Math.round((count * 1000) / ms).toLocaleString('en-US')} stores/s`;
}

function shellQuote(text: string): string {
  return /^[\w./:-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
