// The protocol's contract suite against read-only native stores on object storage: a `.duckdb` file on S3,
// on GCS (through its S3-interop API, on the S3 emulator) and on Azure, opened through DuckDB's httpfs and
// azure extensions. Read-only: the suite runs its read checks and checks that every write is refused.
import { describeBackendContract } from '@ltm/core/testing';
import { describe, it } from 'vitest';
import { DuckDBLTMBackend } from '../../src/index.js';
import { PROVIDERS, Transcript, cloudOptions, rig, secretsOf, storeFile, upload } from './helpers.js';

const transcript = new Transcript();
transcript.captureOutput();
let emptyStore: Promise<Buffer> | undefined;

for (const provider of PROVIDERS) {
  for (const enableFts of [true, false]) {
    describeBackendContract({
      name: `duckdb (native, read-only on ${provider}${enableFts ? '' : ', enableFts: false'})`,
      capabilities: { persistent: true, writable: false, fullTextSearch: enableFts, multiWriter: false },
      create: async () => {
        // A fresh, empty store: written locally (that is how a .duckdb file reaches object storage), uploaded.
        emptyStore ??= storeFile([]);
        const uri = await upload(provider, await emptyStore);
        const backend = await DuckDBLTMBackend.open({ uri, enableFts, ...cloudOptions(provider) });
        return transcript.recorded(backend, `${provider} contract`);
      },
    });
  }
}

// Writable Parquet stores on the same buckets: every acknowledged write is committed on the object store.
let stores = 0;
const reopenable = new WeakMap<DuckDBLTMBackend, string>();
async function openParquet(provider: (typeof PROVIDERS)[number], uri: string): Promise<DuckDBLTMBackend> {
  const backend = transcript.recorded(await DuckDBLTMBackend.open({ uri, ...cloudOptions(provider) }), `${provider} parquet contract`);
  reopenable.set(backend, uri);
  return backend;
}
for (const provider of PROVIDERS) {
  describeBackendContract({
    name: `duckdb (parquet on ${provider})`,
    capabilities: { persistent: true, writable: true, fullTextSearch: true, multiWriter: true },
    create: async () => {
      const r = rig();
      const place = provider === 'azure' ? await r.azure.createContainer() : await r.s3.createBucket();
      const scheme = { s3: 's3', gcs: 'gs', azure: 'az' }[provider];
      const uri = `${scheme}://${place}/stores/${process.pid}-${++stores}`;
      return openParquet(provider, uri);
    },
    reopen: async (closed) => {
      const uri = reopenable.get(closed);
      if (uri === undefined) throw new Error('reopen: unknown backend');
      return openParquet(provider, uri);
    },
  });
}

// Runs after the suites above (a file's tests run in order).
describe('the contract runs', () => {
  it('returned no result, error or stats that carries a secret', () => {
    transcript.assertNoSecrets(secretsOf(rig()));
  });
});
