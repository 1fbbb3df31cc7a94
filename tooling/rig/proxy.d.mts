export interface ProxyCounts {
  /** Requests that reached the proxy (each is one added round trip). */
  requests: number;
  /** Requests by HTTP method: `GET`, `PUT`, `HEAD`, `POST`, `DELETE`. */
  byMethod: Record<string, number>;
  /** Answers by status code (e.g. 412 for a put-if-absent that lost its race). */
  byStatus: Record<number, number>;
  /** Requests the emulator could not be reached for (answered 502 by the proxy). */
  failed: number;
}

export interface LatencyProxy {
  /** `http://127.0.0.1:<port>`: give clients this as their endpoint instead of the emulator's. */
  url: string;
  /** The delay each request waits before it is forwarded, in milliseconds. */
  readonly delayMs: number;
  /** A copy of the counters since the start or the last `reset()`. */
  counts(): ProxyCounts;
  reset(): void;
  /** Changes the delay of requests that arrive from now on. */
  setDelay(ms: number): void;
  /** Closes the listener and every connection, idle or not. */
  close(): Promise<void>;
}

export interface LatencyProxyOptions {
  /** The emulator, e.g. `rig.s3.endpoint`. */
  target: string;
  /** Added to every request's round trip (default 30). */
  delayMs?: number;
  /** Address to listen on (default `127.0.0.1`). */
  host?: string;
  /** Called once per answered request, when its answer has been sent: a timeline for diagnosing a client. */
  onRequest?: (request: ProxiedRequest) => void;
}

export interface ProxiedRequest {
  method: string;
  /** Path and query, e.g. `/bucket/prefix/_log/00000000000000000042.json`. */
  url: string;
  status: number;
  /** `performance.now()` when the request reached the proxy. */
  startedAt: number;
  /** From arrival to the last byte of the answer, the added delay included. */
  ms: number;
}

/** An HTTP proxy on a random loopback port that delays every request by `delayMs` and counts requests. */
export declare function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy>;
