// An HTTP proxy on loopback that puts a cloud round trip in front of an emulator and counts the requests that
// pass through it, so a benchmark can report both time and round trips per operation. It works at the HTTP
// level (not TCP) to count requests exactly, whatever the clients do with keep-alive and pipelining.
//
// Every request waits `delayMs` before it is forwarded: one added round trip per request, as a client in the
// same region as its bucket sees (~30 ms for S3 from another zone or a laptop near the region). Requests in
// flight at once are delayed independently, as on a real network. Headers are forwarded unchanged (the Host
// header included), so SigV4 signatures made for the proxy's address still verify upstream.

import { Agent, createServer, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const HOST = '127.0.0.1';
// Connection management is per hop: these describe the client's connection to the proxy, not the proxy's to
// the emulator. `expect: 100-continue` is answered by the proxy's server itself (and is never signed).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect']);

/**
 * Starts the proxy in front of `target` (`http://host:port`). Resolves to
 * `{ url, delayMs, counts(), reset(), setDelay(ms), close() }`. `onRequest`, when given, receives
 * `{ method, url, status, startedAt, ms }` for every answered request (a timeline for diagnosing a client).
 */
export async function startLatencyProxy({ target, delayMs = 30, host = HOST, onRequest } = {}) {
  if (typeof target !== 'string' || !/^http:\/\//.test(target)) {
    throw new Error(`startLatencyProxy: target must be an http:// URL of the emulator (got ${String(target)})`);
  }
  checkDelay(delayMs);
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let delay = delayMs;
  let counts = emptyCounts();

  const server = createServer(async (req, res) => {
    const startedAt = performance.now();
    counts.requests += 1;
    counts.byMethod[req.method] = (counts.byMethod[req.method] ?? 0) + 1;
    if (delay > 0) await sleep(delay);
    const forwarded = httpRequest(
      {
        agent,
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: withoutHopByHop(req.headers),
      },
      (answer) => {
        const status = answer.statusCode ?? 502;
        counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
        res.writeHead(status, answer.statusMessage, withoutHopByHop(answer.headers));
        answer.pipe(res);
        if (onRequest) res.on('finish', () => onRequest({ method: req.method, url: req.url, status, startedAt, ms: performance.now() - startedAt }));
        answer.on('error', () => res.destroy());
      },
    );
    forwarded.on('error', (error) => {
      counts.failed += 1;
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`latency proxy: upstream ${target} failed: ${error.message}`);
    });
    // A client that gives up (timeout, abort) must not leave the upstream request running.
    res.on('close', () => {
      if (!res.writableFinished) forwarded.destroy();
    });
    req.pipe(forwarded);
  });
  // Keep idle client connections open as long as the clients do (DuckDB and the SDKs reuse them).
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address();
  return {
    url: `http://${host}:${port}`,
    get delayMs() {
      return delay;
    },
    /** A copy of the counters since the start or the last `reset()`. */
    counts: () => structuredClone(counts),
    /** Zeroes the counters (requests in flight are counted where they arrived). */
    reset() {
      counts = emptyCounts();
    },
    /** Changes the delay of requests that arrive from now on. */
    setDelay(ms) {
      checkDelay(ms);
      delay = ms;
    },
    async close() {
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

function emptyCounts() {
  return { requests: 0, byMethod: {}, byStatus: {}, failed: 0 };
}

function checkDelay(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new Error(`startLatencyProxy: delayMs must be a finite number of milliseconds >= 0 (got ${String(ms)})`);
  }
}

function withoutHopByHop(headers) {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}
