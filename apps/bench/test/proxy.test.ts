import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLatencyProxy } from '@ltm/tooling/rig';
import type { LatencyProxy } from '@ltm/tooling/rig';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An upstream that records what reached it and answers with a status taken from the path. */
async function recordingServer(): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const status = Number(/\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
      res.writeHead(status, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
      res.end(req.method === 'HEAD' ? undefined : `echo ${req.method} ${req.url} ${body}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('startLatencyProxy', () => {
  let upstream: Awaited<ReturnType<typeof recordingServer>>;
  let proxy: LatencyProxy;

  beforeAll(async () => {
    upstream = await recordingServer();
    proxy = await startLatencyProxy({ target: upstream.url, delayMs: 0 });
  });

  afterAll(async () => {
    await proxy.close();
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  it('forwards method, path, headers (Host included, so signatures still verify) and bodies both ways', async () => {
    upstream.seen.length = 0;
    const answer = await fetch(`${proxy.url}/bucket/key?x-id=PutObject`, {
      method: 'PUT',
      headers: { 'x-amz-date': '20261126T000000Z', authorization: 'AWS4-HMAC-SHA256 signed' },
      body: 'hello bucket',
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-upstream')).toBe('yes');
    expect(await answer.text()).toBe('echo PUT /bucket/key?x-id=PutObject hello bucket');
    const [seen] = upstream.seen;
    expect(seen?.method).toBe('PUT');
    expect(seen?.url).toBe('/bucket/key?x-id=PutObject');
    expect(seen?.headers.host).toBe(new URL(proxy.url).host);
    expect(seen?.headers['x-amz-date']).toBe('20261126T000000Z');
    expect(seen?.headers.authorization).toBe('AWS4-HMAC-SHA256 signed');
  });

  it('forwards a streamed (chunked) request body intact', async () => {
    upstream.seen.length = 0;
    const parts = ['first part, ', 'second part'];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
        controller.close();
      },
    });
    const answer = await fetch(`${proxy.url}/stream`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(await answer.text()).toBe(`echo POST /stream ${parts.join('')}`);
    expect(upstream.seen[0]?.body).toBe(parts.join(''));
  });

  it('counts every request by method and answer status, until reset', async () => {
    proxy.reset();
    expect(proxy.counts()).toEqual({ requests: 0, byMethod: {}, byStatus: {}, failed: 0 });
    await (await fetch(`${proxy.url}/a`)).text();
    await (await fetch(`${proxy.url}/b`)).text();
    await fetch(`${proxy.url}/c`, { method: 'HEAD' });
    await (await fetch(`${proxy.url}/status/412`, { method: 'PUT', body: 'x' })).text();
    await (await fetch(`${proxy.url}/status/404`, { method: 'DELETE' })).text();
    expect(proxy.counts()).toEqual({
      requests: 5,
      byMethod: { GET: 2, HEAD: 1, PUT: 1, DELETE: 1 },
      byStatus: { 200: 3, 412: 1, 404: 1 },
      failed: 0,
    });
    // counts() is a copy: changing it changes nothing in the proxy.
    const copy = proxy.counts();
    copy.requests = 99;
    expect(proxy.counts().requests).toBe(5);
    proxy.reset();
    expect(proxy.counts().requests).toBe(0);
  });

  it('holds each request back for its delay before forwarding it, independently of later requests', async () => {
    upstream.seen.length = 0;
    proxy.reset();
    // A delay no test outlives: the request is counted on arrival, but must not reach the upstream.
    proxy.setDelay(3_600_000);
    expect(proxy.delayMs).toBe(3_600_000);
    const held = fetch(`${proxy.url}/held`).then(
      () => 'answered',
      () => 'failed',
    );
    await expect.poll(() => proxy.counts().requests).toBe(1);
    // A request arriving after the delay changed is forwarded at once, while the first one still waits.
    proxy.setDelay(0);
    expect(await (await fetch(`${proxy.url}/prompt`)).text()).toBe('echo GET /prompt ');
    expect(upstream.seen.map((s) => s.url)).toEqual(['/prompt']);
    expect(proxy.counts().requests).toBe(2);
    // Closing drops the held connection: its client sees a failure, and the upstream never saw it.
    await proxy.close();
    expect(await held).toBe('failed');
    expect(upstream.seen.map((s) => s.url)).toEqual(['/prompt']);
    proxy = await startLatencyProxy({ target: upstream.url, delayMs: 0 });
  });

  it('reports every answered request to onRequest: method, path, status and time', async () => {
    const seen: { method: string; url: string; status: number; ms: number }[] = [];
    const traced = await startLatencyProxy({ target: upstream.url, delayMs: 0, onRequest: (r) => seen.push(r) });
    try {
      await (await fetch(`${traced.url}/log/1?x=1`, { method: 'PUT', body: 'x' })).text();
      await (await fetch(`${traced.url}/status/404`)).text();
      await expect.poll(() => seen.length).toBe(2);
      expect(seen.map(({ method, url, status }) => ({ method, url, status }))).toEqual([
        { method: 'PUT', url: '/log/1?x=1', status: 200 },
        { method: 'GET', url: '/status/404', status: 404 },
      ]);
      expect(seen.every((r) => r.ms >= 0)).toBe(true);
    } finally {
      await traced.close();
    }
  });

  it('answers 502 naming the upstream when the emulator cannot be reached, and counts the failure', async () => {
    const closed = await recordingServer();
    await new Promise((resolve) => closed.server.close(resolve));
    const orphan = await startLatencyProxy({ target: closed.url, delayMs: 0 });
    try {
      const answer = await fetch(`${orphan.url}/x`);
      expect(answer.status).toBe(502);
      expect(await answer.text()).toContain(closed.url);
      expect(orphan.counts()).toMatchObject({ requests: 1, failed: 1 });
    } finally {
      await orphan.close();
    }
  });

  it('refuses a target that is not an http URL, and a negative or non-finite delay', async () => {
    await expect(startLatencyProxy({ target: 'localhost:9000' })).rejects.toThrow(/target must be an http:\/\/ URL/);
    await expect(startLatencyProxy({ target: upstream.url, delayMs: -1 })).rejects.toThrow(/delayMs must be/);
    expect(() => proxy.setDelay(Number.NaN)).toThrow(/delayMs must be/);
  });
});
