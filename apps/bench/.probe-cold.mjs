import { provisionExtensions } from '@ltm/tooling/extensions';
import { startLatencyProxy, startRig } from '@ltm/tooling/rig';
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import { createParquetFormat } from '@ltm/format-parquet';
import { oursOptions } from './dist/cloud/writers.js';
import { MemoryGenerator } from './dist/data.js';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const n = Number(process.argv[2] ?? 30000);
process.env.LTM_EXTENSION_DIR = (await provisionExtensions({ only: ['httpfs'] })).dir;
const rig = await startRig({ s3: true, azure: false });
const proxy = await startLatencyProxy({ target: rig.s3.endpoint, delayMs: 30 });
try {
  const bucket = await rig.s3.createBucket();
  const access = { endpoint: proxy.url, region: rig.s3.region, accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey };
  const w = await DuckDBLTMBackend.open(oursOptions(bucket, access));
  const gen = new MemoryGenerator(5); const keys = [];
  for (let i = 0; i < n; i += 1000) { const batch = Array.from({ length: 1000 }, () => gen.next()); keys.push(...batch.map(m => m.key)); const r = await w.storeMany(batch); if (!r.success) throw new Error(r.error); }
  console.log('compact', await w.compact());
  await w.close();
  const format = createParquetFormat({ s3: { ...access, forcePathStyle: true }, refreshIntervalMs: 0, autoCompact: false, vacuumIntervalMs: 0 });
  proxy.reset();
  const r = await DuckDBLTMBackend.open({ ...oursOptions(bucket, access), format });
  console.log('open', proxy.counts());
  const st = await r.stats(); console.log('stats', JSON.stringify(st.details).slice(0, 600));
  for (let i = 0; i < 12; i++) {
    proxy.reset(); const t = performance.now();
    const k = keys[(i * 7919) % keys.length];
    const res = await r.retrieve(k);
    console.log(i, res.found, (performance.now() - t).toFixed(1), 'ms', JSON.stringify(proxy.counts()));
  }
  await r.close();
} finally { await proxy.close(); await rig.stop(); }
