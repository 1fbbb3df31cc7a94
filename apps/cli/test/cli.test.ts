/**
 * The built `ltm` command, run as a child process against a temporary DuckDB file, the way a user runs it.
 * Run `pnpm build` (or turbo's build) first: these tests execute dist/main.js.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { assertBuilt, ltm as runLtm } from './run-cli.js';
import type { Run } from './run-cli.js';

const ltm = (args: string[], cwd: string): Promise<Run> => runLtm(args, { cwd });

let dir: string;
let uri: string;
const run = (...args: string[]): Promise<Run> => ltm(['--uri', uri, ...args], dir);

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(path.join(os.tmpdir(), 'ltm-cli-test-'));
  uri = path.join(dir, 'memories.duckdb');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ltm put / get / del', () => {
  it('stores JSON, reads it back, updates it and deletes it', async () => {
    const put = await run('put', 'ana:preference:coffee', '{"drink":"flat white","sugar":false}', '--metadata', '{"user":"ana","type":"preference"}');
    expect(put).toMatchObject({ code: 0, stderr: '' });
    expect(put.stdout).toBe('stored ana:preference:coffee\n');

    const get = await run('get', 'ana:preference:coffee');
    expect(get.code).toBe(0);
    expect(get.stdout).toContain('"drink": "flat white"');
    expect(get.stdout).toContain('metadata  {"user":"ana","type":"preference"}');
    expect(get.stdout).toMatch(/updated\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);

    const update = await run('put', 'ana:preference:coffee', '"tea now"');
    expect(update.stdout).toBe('updated ana:preference:coffee\n');
    const json = await run('--json', 'get', 'ana:preference:coffee');
    expect(JSON.parse(json.stdout)).toMatchObject({ success: true, found: true, value: 'tea now', metadata: {} });

    expect(await run('del', 'ana:preference:coffee')).toMatchObject({ code: 0, stdout: 'deleted ana:preference:coffee\n' });
    expect(await run('del', 'ana:preference:coffee')).toMatchObject({ code: 0, stdout: 'nothing was stored under ana:preference:coffee\n' });
    const gone = await run('get', 'ana:preference:coffee');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('nothing is stored under "ana:preference:coffee"');
  });

  it('stores plain text with --text and a TTL with --ttl', async () => {
    expect((await run('put', 'note:1', 'call the dentist', '--text', '--ttl', '3600')).stdout).toBe('stored note:1, expires in 60 min\n');
    const result = JSON.parse((await run('--json', 'get', 'note:1')).stdout) as { value: string; expiresAt: string };
    expect(result.value).toBe('call the dentist');
    const inMs = Date.parse(result.expiresAt) - Date.now();
    expect(inMs).toBeGreaterThan(3_000_000);
    expect(inMs).toBeLessThanOrEqual(3_600_000);
  });

  it('explains a value that is not JSON and exits 2', async () => {
    const result = await run('put', 'k', 'hello world');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('value is not valid JSON');
    expect(result.stderr).toContain('--text');
    expect(result.stdout).toBe('');
  });

  it('rejects metadata that is not a JSON object with exit 2', async () => {
    expect((await run('put', 'k', '1', '--metadata', '[1,2]')).code).toBe(2);
    expect((await run('put', 'k', '1', '--metadata', '{oops')).stderr).toContain('--metadata is not valid JSON');
    expect((await run('put', 'k', '1', '--ttl', '-5')).code).toBe(2);
  });

  it('reports a bad key as an operation failure with its errorType, exit 1, no stack trace', async () => {
    const empty = await run('put', '', '1');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe('error: key must not be empty (validation_error)\n');
    const long = await run('put', 'k'.repeat(1025), '1');
    expect(long.code).toBe(1);
    expect(long.stderr).toContain('1025 UTF-8 bytes');
    expect(long.stderr).not.toMatch(/\n\s+at /);
    const json = await run('--json', 'put', '', '1');
    expect(JSON.parse(json.stdout)).toMatchObject({ success: false, errorType: 'validation_error' });
  });
});

describe('ltm search / list / stats', () => {
  beforeAll(async () => {
    const memories: [string, string, string][] = [
      ['ana:fact:trip', '"Ana is flying to Lisbon in May"', '{"user":"ana","type":"fact","importance":4}'],
      ['ana:preference:food', '"Ana is allergic to peanuts"', '{"user":"ana","type":"preference","importance":5}'],
      ['ben:fact:trip', '"Ben is flying to Tokyo in June"', '{"user":"ben","type":"fact","importance":2}'],
      ['ben:task:report', '{"task":"write the quarterly report","status":"open"}', '{"user":"ben","type":"task","importance":3}'],
    ];
    for (const [key, value, metadata] of memories) expect((await run('put', key, value, '--metadata', metadata)).code).toBe(0);
  });

  it('finds by words, best first, and narrows with a filter', async () => {
    const all = JSON.parse((await run('--json', 'search', 'flying Lisbon')).stdout) as { results: { key: string }[]; count: number };
    expect(all.results.map((hit) => hit.key)).toEqual(['ana:fact:trip', 'ben:fact:trip']);
    const filtered = await run('search', 'flying', '--filter', '{"user":"ben"}');
    expect(filtered.code).toBe(0);
    expect(filtered.stdout).toContain('1 result for "flying" where {"user":"ben"}');
    expect(filtered.stdout).toContain('ben:fact:trip');
    expect(filtered.stdout).not.toContain('ana:fact:trip');
    const byImportance = JSON.parse((await run('--json', 'search', '--filter', '{"importance":{"$gte":4}}', '--limit', '5')).stdout) as { results: { key: string; score: number }[] };
    expect(byImportance.results.map((hit) => hit.key).sort()).toEqual(['ana:fact:trip', 'ana:preference:food']);
    expect(byImportance.results.every((hit) => hit.score === 0)).toBe(true);
  });

  it('says so when nothing matches, and rejects a bad filter or limit', async () => {
    expect((await run('search', 'zeppelin')).stdout).toBe('no results for "zeppelin"\n');
    expect((await run('search', 'x', '--filter', 'user=ana')).code).toBe(2);
    expect((await run('search', 'x', '--limit', 'ten')).code).toBe(2);
    const badOperator = await run('search', 'x', '--filter', '{"n":{"$near":1}}');
    expect(badOperator.code).toBe(1);
    expect(badOperator.stderr).toContain('(validation_error)');
  });

  it('lists keys in order under a prefix, page by page', async () => {
    const page = JSON.parse((await run('--json', 'list', '--prefix', 'ana:', '--limit', '1')).stdout) as { items: { key: string }[]; nextCursor: string };
    expect(page.items.map((item) => item.key)).toEqual(['ana:fact:trip']);
    const next = JSON.parse((await run('--json', 'list', '--prefix', 'ana:', '--limit', '1', '--cursor', page.nextCursor)).stdout) as { items: { key: string }[] };
    expect(next.items.map((item) => item.key)).toEqual(['ana:preference:food']);
    const human = await run('list', '--prefix', 'ben:');
    expect(human.stdout.split('\n').filter(Boolean).map((line) => line.split(' ')[0])).toEqual(['ben:fact:trip', 'ben:task:report']);
  });

  it('reads with --read-only and refuses writes there', async () => {
    const read = await run('--read-only', '--json', 'get', 'ana:fact:trip');
    expect(read.code).toBe(0);
    expect(JSON.parse(read.stdout)).toMatchObject({ found: true, value: 'Ana is flying to Lisbon in May' });
    const write = await run('--read-only', 'put', 'ana:fact:new', '1');
    expect(write.code).toBe(1);
    expect(write.stderr).toContain('(read_only)');
  });

  it('shows stats', async () => {
    const stats = JSON.parse((await run('--json', 'stats')).stdout) as { backend: string; entries: number };
    expect(stats).toMatchObject({ success: true, backend: 'duckdb' });
    expect(stats.entries).toBeGreaterThanOrEqual(4);
    const human = await run('stats');
    expect(human.stdout).toMatch(/^backend\s+duckdb$/m);
    expect(human.stdout).toMatch(/^entries\s+\d+$/m);
  });
});

describe('ltm usage', () => {
  it('exits 2 for an unknown command, a missing argument or no command', async () => {
    expect((await run('frobnicate')).code).toBe(2);
    const missing = await run('put', 'only-a-key');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'value'");
    expect((await ltm([], dir)).code).toBe(2);
  });

  it('exits 0 for --help', async () => {
    const help = await ltm(['--help'], dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: ltm');
  });

  it('does not create a store just to read from it', async () => {
    const missing = path.join(dir, 'never-written.duckdb');
    const result = await ltm(['--uri', missing, 'get', 'k'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no store at');
    expect(existsSync(missing)).toBe(false);
  });
});

describe('ltm demo', () => {
  it('stores, retrieves, searches, lists and prints its summary, and reruns over its own file', async () => {
    const demoUri = path.join(dir, 'demo.duckdb');
    const first = await ltm(['--uri', demoUri, 'demo', '--count', '120'], dir);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    for (const heading of ['Storing 120 memories', 'Retrieving by key', 'Searching', 'Listing keys under', 'Stats', 'What it took', 'Try it yourself']) {
      expect(first.stdout).toContain(heading);
    }
    expect(first.stdout).toContain('maria:preference:coffee');
    expect(first.stdout).toMatch(/^\s+total\s+[\d.]+ m?s$/m);
    // Not a terminal: no progress bar drawing.
    expect(first.stdout).not.toContain('\u001b[');

    const again = await ltm(['--uri', demoUri, '--json', 'demo', '--count', '120'], dir);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout) as { stored: number; entries: number; steps: { name: string; ms: number }[]; searches: { count: number }[] };
    expect(summary.stored).toBe(120);
    expect(summary.entries).toBe(121); // the memories and the demo's marker: the rerun started fresh
    expect(summary.steps.map((step) => step.name)).toEqual(['prepare', 'open', 'store', 'retrieve', 'search', 'list', 'stats', 'close']);
    expect(summary.searches.some((search) => search.count > 0)).toBe(true);
  });

  it('refuses to overwrite a store it did not write', async () => {
    const precious = path.join(dir, 'precious.duckdb');
    expect((await ltm(['--uri', precious, 'put', 'mine', '"keep me"'], dir)).code).toBe(0);
    const result = await ltm(['--uri', precious, 'demo', '--count', '10'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the demo did not write');
    expect(JSON.parse((await ltm(['--uri', precious, '--json', 'get', 'mine'], dir)).stdout)).toMatchObject({ value: 'keep me' });
  });

  it('refuses a file that is not a store', async () => {
    const notes = path.join(dir, 'notes.duckdb');
    await writeFile(notes, 'just some text\n');
    const result = await ltm(['--uri', notes, 'demo', '--count', '10'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('not a store the demo can reuse');
  });
});
