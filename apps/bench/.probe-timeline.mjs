import { fork } from 'node:child_process';
import { provisionExtensions } from '@ltm/tooling/extensions';
import { startLatencyProxy, startRig } from '@ltm/tooling/rig';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const writers = Number(process.argv[2] ?? 8), delay = Number(process.argv[3] ?? 30);
process.env.LTM_EXTENSION_DIR = (await provisionExtensions({ only: ['httpfs'] })).dir;
const rig = await startRig({ s3: true, azure: false });
const timeline = [];
const proxy = await startLatencyProxy({ target: rig.s3.endpoint, delayMs: delay, onRequest: (r) => timeline.push(r) });
try {
  const bucket = await rig.s3.createBucket();
  const s3 = { endpoint: proxy.url, region: rig.s3.region, accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey };
  const kids = Array.from({ length: writers }, (_, index) => {
    const c = fork(new URL('./dist/cloud/writer-child.js', import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const msgs = []; c.on('message', (m) => msgs.push(m));
    c.send({ type: 'open', config: { side: 'ours', index, seed: 1, bucket, s3, inFlight: 64, sessionStores: 50 } });
    return { c, msgs, until: async (t) => { while (!msgs.some((m) => m.type === t || m.type === 'error')) await new Promise((r) => setTimeout(r, 50)); const m = msgs.find((m) => m.type === t || m.type === 'error'); if (m.type === 'error') throw new Error(m.message); return m; } };
  });
  await Promise.all(kids.map((k) => k.until('ready')));
  timeline.length = 0;
  const start = performance.timeOrigin + performance.now() + 100, t0 = performance.now() + 100;
  kids.forEach((k) => k.c.send({ type: 'go', startAt: start, deadline: start + 6000 }));
  const res = (await Promise.all(kids.map((k) => k.until('done')))).map((m) => m.result);
  console.log('per process acked/commits/cpu', res.map((r) => `${r.acked}/${r.commits}/${Math.round(r.cpuMs)}`).join(' '));
  const kinds = {};
  for (const r of timeline) { const k = `${r.method} ${r.url.replace(/\?.*/, '').replace(/[0-9a-f-]{20,}/g, '#').replace(/\d{6,}/g, 'N').split('/').slice(2).join('/')} ${r.status}`; (kinds[k] ??= []).push(r.ms); }
  for (const [k, v] of Object.entries(kinds).sort((a, b) => b[1].length - a[1].length)) { v.sort((a, b) => a - b); console.log(k.padEnd(70), v.length, 'p50', v[v.length >> 1].toFixed(0), 'max', v.at(-1).toFixed(0)); }
  console.log('first 40 s of timeline (ms from start):');
  for (const r of timeline.slice(0, 60)) console.log((r.startedAt - t0).toFixed(0).padStart(6), r.ms.toFixed(0).padStart(5), r.method, r.status, r.url.replace(/\?.*/, '').slice(-60));
} finally { await proxy.close(); await rig.stop(); }
