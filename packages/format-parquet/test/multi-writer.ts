import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
// @ts-expect-error: a plain-JS fixture module shared with the child processes
import { openStore } from './fixtures/open-store.mjs';

const WRITER = fileURLToPath(new URL('./fixtures/writer.mjs', import.meta.url));

interface Ack {
  n: number;
  seq: number;
  puts: [string, string][];
  deletes: string[];
}

interface Opened {
  engine: { query<T>(sql: string): Promise<T[]> };
  format: { relation(name: string): string };
  close(): Promise<void>;
}

function runWriter(uri: string, writer: number, commits: number, options: object): Promise<{ acks: Ack[]; stats: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, uri, String(writer), String(commits), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`writer ${writer} failed (exit ${code}): ${stderr.slice(-3000)}`));
      const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Ack & { done?: boolean; stats?: Record<string, unknown> });
      const done = lines.find((line) => line.done);
      resolve({ acks: lines.filter((line) => !line.done), stats: done?.stats ?? {} });
    });
  });
}

async function liveState(uri: string): Promise<Map<string, string>> {
  const reader = (await openStore(uri, { autoCompact: false }, { readOnly: true })) as Opened;
  try {
    const rows = await reader.engine.query<{ key: string; value: string }>(`SELECT key, value::VARCHAR AS value FROM ${reader.format.relation('entries')}`);
    return new Map(rows.map((row) => [row.key, row.value]));
  } finally {
    await reader.close();
  }
}

/**
 * Runs `writers` processes committing `commits` batches each to `uri` at once (with tiny compaction
 * thresholds, so compactions race too), then checks with fresh readers: every acknowledged write is
 * visible, the key all of them write holds the acknowledged value latest in commit order, readers agree.
 * Child processes inherit LTM_TEST_CLOUD, so the same check runs on object storage.
 */
export async function checkConcurrentWriters(uri: string, writers: number, commits: number): Promise<void> {
  const compaction = { flushInlineRecords: 4, maxSegments: 3 };
  const variants = [{ compaction }, { compaction, inlineMaxBytes: 0 }, { compaction }, { compaction, inlineMaxBytes: 2048 }];
  const results = await Promise.all(Array.from({ length: writers }, (_, writer) => runWriter(uri, writer, commits, variants[writer % variants.length]!)));

  const all = results.flatMap(({ acks }, writer) => acks.map((ack) => ({ ...ack, writer })));
  expect(all).toHaveLength(writers * commits);
  const seqs = all.map((ack) => ack.seq);
  expect(new Set(seqs).size).toBe(seqs.length); // each commit has its own log number

  // A writer's own keys: the effect of its acknowledged batches, in its order.
  const expected = new Map<string, string | null>();
  for (const { acks } of results) {
    for (const ack of acks) {
      for (const [key, value] of ack.puts) if (key !== 'shared') expected.set(key, value);
      for (const key of ack.deletes) expected.set(key, null);
    }
  }
  // The shared key: the value of the acknowledged commit latest in commit order.
  const last = all.reduce((a, b) => (b.seq > a.seq ? b : a));
  expected.set('shared', last.puts.find(([key]) => key === 'shared')![1]);

  const first = await liveState(uri);
  for (const [key, value] of expected) expect(first.get(key) ?? null, key).toBe(value);
  expect([...first.keys()].sort()).toEqual([...expected].filter(([, value]) => value !== null).map(([key]) => key).sort());
  for (let reader = 0; reader < 2; reader++) expect(await liveState(uri)).toEqual(first);
}
