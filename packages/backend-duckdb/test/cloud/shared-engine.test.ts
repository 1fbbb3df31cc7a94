// A Parquet store on object storage opened through a shared engine: the format's SDK clients (which list,
// create and delete objects) must reach the store with the credentials the engine was opened with, since
// the backend's own cloud options cannot be combined with `queryEngine`.
import { DuckDBQueryEngine } from '@ltm/engine-duckdb';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBLTMBackend } from '../../src/index.js';
import { Transcript, engineCredentials, rig, secretsOf, type Provider } from './helpers.js';

const transcript = new Transcript();

afterAll(() => {
  transcript.assertNoSecrets(secretsOf(rig()));
});

describe('Parquet on object storage through a shared queryEngine', () => {
  for (const provider of ['s3', 'gcs', 'azure'] as const satisfies readonly Provider[]) {
    it(`writes and reads back on ${provider} with only the engine's credentials`, async () => {
      const r = rig();
      const place = provider === 'azure' ? await r.azure.createContainer() : await r.s3.createBucket();
      const scheme = { s3: 's3', gcs: 'gs', azure: 'az' }[provider];
      const uri = `${scheme}://${place}/shared-engine/${process.pid}`;
      // An empty environment: nothing but the engine's options can authenticate the SDK clients.
      const engine = await DuckDBQueryEngine.open({ credentials: engineCredentials(provider), env: {} });
      try {
        const writer = transcript.recorded(await DuckDBLTMBackend.open({ uri, queryEngine: engine }), `${provider} shared writer`);
        expect(await writer.storeMany([
          { key: 'a', value: { text: 'shared engine memory' } },
          { key: 'b', value: 2 },
        ])).toMatchObject({ success: true, stored: 2 });
        await writer.close();

        const other = await DuckDBQueryEngine.open({ credentials: engineCredentials(provider), env: {} });
        try {
          const reader = transcript.recorded(await DuckDBLTMBackend.open({ uri, queryEngine: other }), `${provider} shared reader`);
          expect(await reader.retrieve('a')).toMatchObject({ found: true, value: { text: 'shared engine memory' } });
          expect(await reader.search('memory')).toMatchObject({ success: true, results: [{ key: 'a' }] });
          await reader.close();
        } finally {
          await other.close();
        }
      } finally {
        await engine.close();
      }
    });
  }
});
