// Graceful degradation (AC-15), on a rig of this file's own (its services are stopped and restarted, which
// the other files' shared rig must not see):
// - an unreachable service at open is a connection_error that says which location and why;
// - when the service goes away mid-run, reads that need it fail with connection_error (retried with
//   backoff first), the circuit breaker opens, and further calls fail fast with circuit_open (retryable)
//   without touching DuckDB or the network;
// - when the service comes back, the breaker lets one probe through after its recovery timeout, closes,
//   and reads work again.
// Reads that need the service are reads of entries DuckDB has not fetched yet: it reads a database file
// on object storage block by block, so the fixture is a ~30 MB store and each read asks for another entry.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RetrieveResult } from '@ltm/core';
import { DuckDBQueryEngine, type EngineEvent } from '@ltm/engine-duckdb';
import { startRig, type Rig as StartedRig } from '@ltm/tooling/rig';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBLTMBackend } from '../../src/index.js';
import { Transcript, cloudOptions, engineCredentials, rig as sharedRig, secretsOf, type Provider, type Rig } from './helpers.js';

const ENTRIES = 3_000;
const key = (i: number) => `k${String(i).padStart(5, '0')}`;

const transcript = new Transcript();
transcript.captureOutput();
let privateRig: StartedRig & Rig;
let bigStore: Buffer;
let bucket: string;
let container: string;

beforeAll(async () => {
  const started = await startRig({ s3: true, azure: true });
  privateRig = started as StartedRig & Rig;
  [bucket, container] = await Promise.all([privateRig.s3.createBucket(), privateRig.azure.createContainer()]);
  // The story's table, as a tool or the SQLite migration would leave it: ~10 KB of incompressible text per entry.
  const dir = mkdtempSync(join(tmpdir(), 'ltm-big-store-'));
  try {
    const path = join(dir, 'big.duckdb');
    const engine = await DuckDBQueryEngine.open({ path });
    await engine.run('CREATE TABLE ltm_store(key VARCHAR PRIMARY KEY, value JSON NOT NULL, metadata JSON, created_at TIMESTAMP, updated_at TIMESTAMP)');
    await engine.run(
      `INSERT INTO ltm_store
       SELECT 'k' || lpad(i::VARCHAR, 5, '0'), to_json({ text: string_agg(md5(i::VARCHAR || '-' || j::VARCHAR), ' ') }), '{}',
              TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01'
       FROM range($1) r(i), range(300) s(j) GROUP BY i`,
      [ENTRIES],
    );
    await engine.close();
    bigStore = readFileSync(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(bigStore.length).toBeGreaterThan(20_000_000);
  await privateRig.s3.putObject(bucket, 'big.duckdb', bigStore);
  await privateRig.azure.putBlob(container, 'big.duckdb', bigStore);
});
afterAll(async () => {
  await privateRig?.stop();
});

const SERVICE: Record<Provider, 's3' | 'azure'> = { s3: 's3', gcs: 's3', azure: 'azure' };
const uriOf = (provider: Provider) => (provider === 'azure' ? `az://${container}/big.duckdb` : `${provider === 'gcs' ? 'gs' : 's3'}://${bucket}/big.duckdb`);

describe.each(['s3', 'gcs', 'azure'] as const)('%s goes away and comes back', (provider) => {
  it('at open: an unreachable service is a connection_error naming the location', async () => {
    await privateRig.stopService(SERVICE[provider]);
    try {
      const uri = uriOf(provider);
      const error = await DuckDBLTMBackend.open({ uri, ...cloudOptions(provider, privateRig) }).then(
        () => expect.fail('opened while the service was down'),
        (e: unknown) => e as Error & { errorType: string; retryable: boolean },
      );
      transcript.record('open while down', error);
      expect(error.errorType).toBe('connection_error');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain(`cannot open ${uri}`);
      expect(error.message).toContain('the storage service could not be reached');
    } finally {
      await privateRig.startService(SERVICE[provider]);
    }
  });

  it('mid-run: reads fail, the breaker opens and calls fail fast; after a restart one probe closes it and reads work', async () => {
    const events: EngineEvent[] = [];
    const engine = await DuckDBQueryEngine.open({
      credentials: engineCredentials(provider, privateRig),
      retry: { retries: 1, baseDelayMs: 10, maxDelayMs: 50 },
      circuitBreaker: { failureThreshold: 3, windowMs: 600_000, recoveryTimeoutMs: 500 },
      onEvent: (event) => {
        events.push(event);
        transcript.record(`${provider} event`, event);
      },
    });
    const backend = transcript.recorded(await DuckDBLTMBackend.open({ uri: uriOf(provider), queryEngine: engine }), provider);
    try {
      expect(await backend.retrieve(key(0))).toMatchObject({ success: true, found: true });

      await privateRig.stopService(SERVICE[provider]);
      const outcomes: RetrieveResult[] = [];
      for (let i = 1; i < ENTRIES && engine.stats().circuit?.state !== 'open'; i += 37) outcomes.push(await backend.retrieve(key(i)));
      const failures = outcomes.filter((outcome) => !outcome.success);
      expect(engine.stats().circuit?.state).toBe('open');
      expect(failures.length).toBeGreaterThan(0);
      for (const failure of failures) {
        expect(failure).toMatchObject({ errorType: expect.stringMatching(/^(connection_error|circuit_open)$/), retryable: true });
      }
      expect(failures.some((failure) => !failure.success && failure.errorType === 'connection_error')).toBe(true);
      expect(events.some((event) => event.type === 'retry')).toBe(true);

      // Open: the call is refused before it reaches a connection, so DuckDB runs nothing.
      const before = engine.stats();
      const refused = await backend.retrieve(key(ENTRIES - 1));
      expect(refused).toMatchObject({ success: false, errorType: 'circuit_open', retryable: true });
      if (!refused.success) expect(refused.error).toContain('circuit breaker open');
      const after = engine.stats();
      expect(after.queries).toBe(before.queries);
      expect(after.circuit?.rejected).toBeGreaterThan(before.circuit?.rejected ?? 0);
      transcript.record(`${provider} stats while open`, after);

      await privateRig.startService(SERVICE[provider]);
      let recovered: RetrieveResult | undefined;
      for (let attempt = 0; attempt < 600 && !recovered?.success; attempt++) {
        recovered = await backend.retrieve(key(ENTRIES - 1));
        if (!recovered.success) await sleep(100);
      }
      expect(recovered).toMatchObject({ success: true, found: true, value: { text: expect.any(String) } });
      expect(engine.stats().circuit).toMatchObject({ state: 'closed', failuresInWindow: 0 });
      const transitions = events.flatMap((event) => (event.type === 'circuit' ? [`${event.from}->${event.to}`] : []));
      expect(transitions[0]).toBe('closed->open');
      expect(transitions.at(-2)).toBe('open->half_open');
      expect(transitions.at(-1)).toBe('half_open->closed');
      // Reads of entries never fetched before work again.
      for (const i of [5, 500, 1_500, 2_500]) expect(await backend.retrieve(key(i))).toMatchObject({ success: true, found: true });
      transcript.record(`${provider} stats after recovery`, engine.stats());
    } finally {
      await backend.close();
      await engine.close();
    }
  });
});

describe('this file', () => {
  it('the secret scan fails when a secret shows up', () => {
    const probe = new Transcript();
    const [secret] = secretsOf(privateRig);
    probe.record('leak', new Error(`boom ${secret!}`));
    expect(() => probe.assertNoSecrets([secret!])).toThrow(/a secret appears in/);
  });

  it('saw no secret (of this rig or the shared one) in any result, error, stats output, event or output line', () => {
    transcript.assertNoSecrets([...secretsOf(privateRig), ...secretsOf(sharedRig())]);
  });
});
