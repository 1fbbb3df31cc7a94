// The two commit modes of the group-commit pipeline, counted in commits (never timed): `sync` starts the
// next commit as soon as the previous one finished, `batched` waits for more calls until a delay, a size
// limit or a flush; in both, a call resolves only after the commit that holds it.
import { describe, expect, it } from 'vitest';
import type { CommitBatch } from '@ltm/core';
import { WritePipeline, type PipelineOptions } from '../src/store/write-pipeline.js';
import type { WriteOp } from '../src/store/types.js';

const put = (key: string): WriteOp => ({ kind: 'put', key, value: '1', metadata: '{}', expiresAt: null });
const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A pipeline over a fake format whose commits can be held open, counting what each commit held. */
function rig(options: Partial<PipelineOptions>) {
  const commits: CommitBatch[] = [];
  let hold: Promise<void> | null = null;
  let release: () => void = () => undefined;
  const pipeline = new WritePipeline(
    {
      readLive: async () => new Map(),
      commit: async (batch) => {
        if (hold) await hold;
        commits.push(batch);
      },
      indexRows: (row) => ({ terms: [], doc: { key: row.key, length: 0, extraLength: 0 } }),
    },
    options,
  );
  return {
    pipeline,
    commits,
    holdCommits() {
      hold = new Promise<void>((resolve) => (release = resolve));
    },
    releaseCommits() {
      hold = null;
      release();
    },
  };
}

describe('sync mode', () => {
  it('commits each call at once when idle, and shares the next commit among calls made during one', async () => {
    const r = rig({ mode: 'sync' });
    await r.pipeline.submit([put('a')]);
    expect(r.commits).toHaveLength(1);

    r.holdCommits();
    const first = r.pipeline.submit([put('b')]);
    await nextTick();
    await nextTick();
    // b's commit is in flight; these three arrive in separate ticks and wait for the next one.
    const later = [r.pipeline.submit([put('c')])];
    await nextTick();
    later.push(r.pipeline.submit([put('d'), put('e')]));
    await nextTick();
    later.push(r.pipeline.submit([put('f')]));
    r.releaseCommits();
    await Promise.all([first, ...later]);
    expect(r.commits.map((c) => c.puts.map((p) => p.key))).toEqual([['a'], ['b'], ['c', 'd', 'e', 'f']]);
  });
});

describe('batched mode', () => {
  it('gathers calls from separate ticks into one commit until flush() forces it', async () => {
    // A delay no test run reaches: only the flush can start this commit.
    const r = rig({ mode: 'batched', maxBatchDelayMs: 600_000, maxBatchOps: 1000 });
    const calls: Promise<unknown>[] = [];
    let resolved = 0;
    for (const key of ['a', 'b', 'c']) {
      calls.push(r.pipeline.submit([put(key)]).then(() => resolved++));
      await nextTick();
    }
    await nextTick();
    expect(r.commits).toHaveLength(0);
    expect(resolved).toBe(0);
    expect(r.pipeline.pendingOps).toBe(3);

    expect(await r.pipeline.flush()).toBe(3);
    expect(resolved).toBe(3);
    expect(r.commits.map((c) => c.puts.map((p) => p.key))).toEqual([['a', 'b', 'c']]);
    await Promise.all(calls);
  });

  it('starts the commit once maxBatchOps operations wait', async () => {
    const r = rig({ mode: 'batched', maxBatchDelayMs: 600_000, maxBatchOps: 4 });
    const first = r.pipeline.submit([put('a'), put('b')]);
    await nextTick();
    await nextTick();
    expect(r.commits).toHaveLength(0);
    const second = r.pipeline.submit([put('c'), put('d')]);
    await Promise.all([first, second]);
    expect(r.commits.map((c) => c.puts.map((p) => p.key))).toEqual([['a', 'b', 'c', 'd']]);
  });

  it('commits by itself after the delay', async () => {
    const r = rig({ mode: 'batched', maxBatchDelayMs: 5, maxBatchOps: 1000 });
    await Promise.all([r.pipeline.submit([put('a')]), r.pipeline.submit([put('b')])]);
    expect(r.commits.map((c) => c.puts.map((p) => p.key))).toEqual([['a', 'b']]);
    expect(r.pipeline.stats()).toMatchObject({ commits: 1, committedOps: 2, pendingOps: 0 });
  });

  it('a flush during a held commit also starts the next batch without its delay', async () => {
    const r = rig({ mode: 'batched', maxBatchDelayMs: 600_000, maxBatchOps: 1000 });
    r.holdCommits();
    const first = r.pipeline.submit([put('a')]);
    const flushed = r.pipeline.flush();
    await nextTick();
    await nextTick();
    const second = r.pipeline.submit([put('b')]);
    const flushedAgain = r.pipeline.flush();
    r.releaseCommits();
    await Promise.all([first, second, flushed, flushedAgain]);
    expect(r.commits.map((c) => c.puts.map((p) => p.key))).toEqual([['a'], ['b']]);
  });
});

describe('commitComing', () => {
  it('tells the format of each commit before the commit reads its keys and builds its rows', async () => {
    const events: string[] = [];
    const pipeline = new WritePipeline({
      readLive: async (keys) => {
        events.push(`readLive ${keys.join(',')}`);
        return new Map();
      },
      commitComing: () => events.push('coming'),
      commit: async (batch) => {
        events.push(`commit ${batch.puts.map((p) => p.key).join(',')}`);
      },
      indexRows: (row) => {
        events.push(`index ${row.key}`);
        return { terms: [], doc: { key: row.key, length: 0, extraLength: 0 } };
      },
    });
    await pipeline.submit([put('a')]);
    await Promise.all([pipeline.submit([put('b')]), pipeline.submit([put('c')])]);
    expect(events).toEqual(['coming', 'readLive a', 'index a', 'commit a', 'coming', 'readLive b,c', 'index b', 'index c', 'commit b,c']);
  });
});
