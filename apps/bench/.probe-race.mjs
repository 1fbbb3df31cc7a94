import { startRig } from '@ltm/tooling/rig';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const rig = await startRig({ s3: true, azure: false });
try {
  const bucket = await rig.s3.createBucket();
  const clients = Array.from({ length: 8 }, () => new S3Client(rig.s3.clientConfig));
  let head = 0; const lat = { win: [], lose: [] };
  const t0 = performance.now();
  await Promise.all(clients.map(async (c, w) => {
    let seq = 0;
    while (performance.now() - t0 < 5000) {
      const n = Math.max(seq, head) + 1; const t = performance.now();
      try { await c.send(new PutObjectCommand({ Bucket: bucket, Key: `log/${String(n).padStart(10, '0')}`, Body: Buffer.alloc(20000, w), IfNoneMatch: '*' })); lat.win.push(performance.now() - t); head = Math.max(head, n); seq = n; }
      catch (e) { if (e.$metadata?.httpStatusCode !== 412) throw e; lat.lose.push(performance.now() - t); seq = n; }
    }
  }));
  const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(p * (s.length - 1))]?.toFixed(1); };
  console.log('commits', head, 'wins', lat.win.length, 'p50', q(lat.win, .5), 'p99', q(lat.win, .99), 'loses', lat.lose.length, 'p50', q(lat.lose, .5), 'p99', q(lat.lose, .99));
} finally { await rig.stop(); }
