// Degradation without loss (issue 4, guarantee 7), on a rig of this file's own (its S3 emulator is
// stopped and restarted, which the other files' shared rig must not see). Two Parquet stores on the S3
// emulator, one with fallback: 'local-outbox' and one without, are written while the emulator goes away
// mid-run and comes back:
// - with the outbox, every write is acknowledged (queued while the emulator is down, with stats showing
//   the backlog), the backlog is replayed once it is back, and a fresh backend on a new engine finds every
//   acknowledged write with its last value;
// - without it, writes fail cleanly (retryable, nothing stored) and the data written before is intact.
import { setTimeout as sleep } from 'node:timers/promises';
import { startRig, type Rig as StartedRig } from '@ltm/tooling/rig';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBLTMBackend } from '../../src/index.js';
import { ok, tempDir } from '../helpers.js';
import { Transcript, secretsOf, rig as sharedRig, type Rig } from './helpers.js';

const transcript = new Transcript();
transcript.captureOutput();
let privateRig: StartedRig & Pick<Rig, 's3'>;
let bucket: string;
const outbox = tempDir('ltm-cloud-outbox-');

beforeAll(async () => {
  privateRig = (await startRig({ s3: true, azure: false })) as StartedRig & Pick<Rig, 's3'>;
  bucket = await privateRig.s3.createBucket();
});
const s3Options = () => ({
  s3AccessKeyId: privateRig.s3.accessKeyId,
  s3SecretAccessKey: privateRig.s3.secretAccessKey,
  s3Endpoint: privateRig.s3.endpoint,
  s3Region: privateRig.s3.region,
});
afterAll(async () => {
  await privateRig?.stop();
  outbox.cleanup();
});

/** Writes until stopped, one awaited call at a time (every 5th a storeMany), recording what was acknowledged. */
function writeLoop(backend: DuckDBLTMBackend, prefix: string) {
  const acked = new Map<string, number>();
  const failures: unknown[] = [];
  let queued = 0;
  let stop = false;
  let attempts = 0;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      attempts += 1;
      // A few keys are rewritten again and again: their last acknowledged value must win.
      const key = i % 4 === 0 ? `${prefix}:hot${i % 3}` : `${prefix}:${i}`;
      const result =
        i % 5 === 2
          ? await backend.storeMany([{ key, value: { i } }, { key: `${key}:b`, value: { i } }])
          : await backend.store(key, { i }, { n: i });
      transcript.record(`${prefix} write ${i}`, result);
      if (result.success) {
        acked.set(key, i);
        if (i % 5 === 2) acked.set(`${key}:b`, i);
        if (result.queued) queued += 1;
      } else {
        failures.push(result);
        await sleep(20);
      }
    }
  })();
  return {
    acked,
    failures,
    get queued() {
      return queued;
    },
    get attempts() {
      return attempts;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await condition()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('the S3 emulator goes away mid-run and comes back', () => {
  it('with fallback local-outbox every acknowledged write survives; without it writes fail cleanly and earlier data is intact', async () => {
    const withOutbox = `s3://${bucket}/with-outbox`;
    const without = `s3://${bucket}/without`;
    const queuing = transcript.recorded(
      await DuckDBLTMBackend.open({ uri: withOutbox, fallback: 'local-outbox', outboxDirectory: outbox.dir, ...s3Options() }),
      'with outbox',
    );
    const failing = transcript.recorded(await DuckDBLTMBackend.open({ uri: without, ...s3Options() }), 'without outbox');
    let acked = new Map<string, number>();
    try {
      for (let i = 0; i < 5; i++) ok(await failing.store(`kept${i}`, { i }));
      const loop = writeLoop(queuing, 'w');
      acked = loop.acked;
      await until(() => loop.acked.size >= 20, '20 writes before the outage');

      await privateRig.stopService('s3');
      const ackedAtStop = loop.attempts;
      await until(() => loop.queued >= 25, '25 queued writes during the outage');
      const backlog = ok(await queuing.stats()).details.outbox as Record<string, unknown>;
      transcript.record('backlog during the outage', backlog);
      expect(backlog.queuedWrites).toBeGreaterThan(0);
      expect(backlog.bytes).toBeGreaterThan(0);
      expect(backlog.oldestAgeMs).toEqual(expect.any(Number));
      expect(loop.failures).toEqual([]);
      expect(loop.attempts).toBeGreaterThan(ackedAtStop);

      // Without the fallback: a clean, retryable failure, and nothing is stored.
      const refused = await failing.store('kept0', 'lost');
      transcript.record('write without outbox while down', refused);
      expect(refused).toMatchObject({ success: false, retryable: true, errorType: expect.stringMatching(/^(connection_error|connection_timeout|circuit_open)$/) });
      expect(await failing.storeMany([{ key: 'never', value: 1 }])).toMatchObject({ success: false, retryable: true });

      await privateRig.startService('s3');
      const queuedBeforeRestart = loop.queued;
      // The loop keeps writing: while a backlog exists its writes line up behind it, so wait until what was
      // queued during the outage is replayed rather than for an empty outbox.
      await until(
        async () => ((ok(await queuing.stats()).details.outbox as Record<string, unknown>).replayed as number) >= queuedBeforeRestart,
        'the replay of the writes queued during the outage',
      );
      const afterRestart = loop.attempts;
      await until(() => loop.attempts >= afterRestart + 10, '10 writes after the replay');
      await loop.stop();
      expect(loop.failures).toEqual([]);
      expect(queuedBeforeRestart).toBeGreaterThanOrEqual(25);
      ok(await queuing.flush());
      const after = ok(await queuing.stats()).details.outbox as Record<string, unknown>;
      transcript.record('outbox after the replay', after);
      expect(after).toMatchObject({ queuedWrites: 0, bytes: 0 });
      expect(after.replayed).toBeGreaterThan(0);
    } finally {
      await queuing.close();
      await failing.close();
    }

    // Fresh backends (each on a new engine) on the store see every acknowledged write with its last value.
    const reader = transcript.recorded(await DuckDBLTMBackend.open({ uri: withOutbox, readOnly: true, ...s3Options() }), 'fresh reader');
    const other = transcript.recorded(await DuckDBLTMBackend.open({ uri: without, readOnly: true, ...s3Options() }), 'fresh reader without');
    try {
      const loopAcked = [...acked];
      const found = ok(await reader.retrieveMany(loopAcked.map(([key]) => key))).items;
      expect(found.filter((item) => !item.found).map((item) => item.key)).toEqual([]);
      for (const [index, item] of found.entries()) if (item.found) expect(item.value).toEqual({ i: loopAcked[index]![1] });
      const kept = ok(await other.retrieveMany(['kept0', 'kept4', 'never'])).items;
      expect(kept.map((item) => item.value)).toEqual([{ i: 0 }, { i: 4 }, null]);
    } finally {
      await reader.close();
      await other.close();
    }
  });
});

describe('this file', () => {
  it('saw no secret (of this rig or the shared one) in any result, error, stats output or output line', () => {
    transcript.assertNoSecrets([privateRig.s3.secretAccessKey, ...secretsOf(sharedRig())]);
  });
});
