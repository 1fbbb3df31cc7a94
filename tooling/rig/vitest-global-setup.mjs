// Vitest global setup: starts the rig once per test run, proves it with the conformance probe before any test
// runs, and hands the connection details to the test workers two ways: `inject('ltmRig')` (vitest's provide)
// and LTM_RIG_* environment variables (read back with `rigFromEnv()`, also usable from child processes).
//
// In a package's vitest config: `globalSetup: ['@ltm/tooling/rig/vitest-global-setup']` starts both services;
// LTM_RIG_SERVICES=s3 (or azure) narrows that. A package that always needs one service writes a two-line
// setup file: `export default rigGlobalSetup({ s3: true, azure: false })`.

import { exportRigEnv, rigConnection, startRig } from './index.mjs';
import { runProbe } from './probe.mjs';

export function rigGlobalSetup(options) {
  return async function setup(project) {
    const { s3, azure } = options ?? servicesFromEnv(process.env.LTM_RIG_SERVICES);
    const rig = await startRig({ s3, azure, log: (line) => console.log(line) });
    try {
      await runProbe(rig);
    } catch (err) {
      await rig.stop();
      throw err;
    }
    exportRigEnv(rig);
    project.provide('ltmRig', rigConnection(rig));
    return () => rig.stop();
  };
}

function servicesFromEnv(value) {
  if (!value) return { s3: true, azure: true };
  const names = value.split(',').map((s) => s.trim().toLowerCase());
  const unknown = names.filter((n) => n !== 's3' && n !== 'azure');
  if (unknown.length > 0) {
    throw new Error(`LTM_RIG_SERVICES=${value}: unknown service ${unknown.join(', ')}; use s3, azure or s3,azure`);
  }
  return { s3: names.includes('s3'), azure: names.includes('azure') };
}

export default rigGlobalSetup();
