import type { S3ClientConfig } from '@aws-sdk/client-s3';

export { startLatencyProxy, type LatencyProxy, type LatencyProxyOptions, type ProxiedRequest, type ProxyCounts } from './proxy.mjs';

export interface RigS3 {
  /** `http://127.0.0.1:<port>`; path-style bucket addressing. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The emulator's version, e.g. `v1.8.0` (versitygw), or `user-provided`. */
  version: string;
  /** Ready for `new S3Client(clientConfig)`: endpoint, region, credentials, `forcePathStyle: true`. */
  clientConfig: S3ClientConfig & {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
    forcePathStyle: true;
  };
  /** Creates a bucket (a fresh random name when none is given) and resolves to its name. */
  createBucket(name?: string): Promise<string>;
  /** Writes an object (bytes or text) with the rig's credentials. */
  putObject(bucket: string, key: string, body: Uint8Array | string): Promise<void>;
}

export interface RigAzure {
  /** `http://127.0.0.1:<port>/<accountName>`. */
  blobEndpoint: string;
  accountName: string;
  accountKey: string;
  connectionString: string;
  version: string;
  /** Creates a container (a fresh random name when none is given) and resolves to its name. */
  createContainer(name?: string): Promise<string>;
  /** Writes a block blob (bytes or text) with the rig's credentials. */
  putBlob(container: string, name: string, body: Uint8Array | string): Promise<void>;
}

export interface RigService {
  name: string;
  /** Process-group id of the service (its watchdog shell leads the group). */
  pid: number;
  dataDir: string;
}

export interface Rig {
  s3?: RigS3;
  azure?: RigAzure;
  services: RigService[];
  /** Idempotent: kills every process group and removes the data directories. */
  stop(): Promise<void>;
  /** Kills one service as an outage would (connections are refused), keeping its data, port and credentials. */
  stopService(kind: 's3' | 'azure'): Promise<void>;
  /** Starts a service stopped by `stopService` again, on the same port with the same data and credentials. */
  startService(kind: 's3' | 'azure'): Promise<void>;
}

export interface StartRigOptions {
  s3?: boolean;
  azure?: boolean;
  /** Read for LTM_RIG_* overrides and passed to the services (proxy variables removed). */
  env?: NodeJS.ProcessEnv;
  /** Receives progress lines of a first-time install. */
  log?: (line: string) => void;
}

/** Plain data for vitest's provide/inject. */
export interface RigConnection {
  s3?: Pick<RigS3, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey' | 'version'>;
  azure?: Pick<RigAzure, 'blobEndpoint' | 'accountName' | 'accountKey' | 'connectionString' | 'version'>;
}

export declare function startRig(options?: StartRigOptions): Promise<Rig>;
export declare function rigFromEnv(env?: NodeJS.ProcessEnv): { s3?: RigS3; azure?: RigAzure };
export declare function exportRigEnv(rig: { s3?: RigS3; azure?: RigAzure }, env?: NodeJS.ProcessEnv): void;
export declare function rigConnection(rig: { s3?: RigS3; azure?: RigAzure }): RigConnection;
/** Sends `signal` (0 to test) to a process group; false when the group no longer exists. */
export declare function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean;
