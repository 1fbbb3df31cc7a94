import type { RigAzure, RigS3 } from './index.mjs';

export interface ProbeCheck {
  service: 's3' | 'azure';
  name: string;
  ok: boolean;
  /** What was observed (on success too, e.g. `403 SignatureDoesNotMatch`). */
  detail: string;
}

export interface ProbeReport {
  checks: ProbeCheck[];
}

export declare class ProbeFailure extends Error {
  readonly report: ProbeReport;
}

/** Runs every check on the services present; rejects with ProbeFailure listing each failed check. */
export declare function runProbe(rig: {
  s3?: Pick<RigS3, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey' | 'clientConfig'>;
  azure?: Pick<RigAzure, 'blobEndpoint' | 'accountName' | 'accountKey' | 'connectionString'>;
}): Promise<ProbeReport>;
