// Starts the emulator rig once for the cloud project (versitygw for S3 and GCS's interop API, Azurite for
// Azure), proves it with the conformance probe, and makes sure DuckDB's httpfs and azure extensions are in
// the extension directory, which the tests' engines find through LTM_EXTENSION_DIR.
import { provisionExtensions } from '@ltm/tooling/extensions';
import { rigGlobalSetup } from '@ltm/tooling/rig/vitest-global-setup';
import type { TestProject } from 'vitest/node';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The AWS SDK (used by the rig's helpers in the workers) warns about Node 20 on every first use.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { dir } = await provisionExtensions({ only: ['httpfs', 'azure'], log: (line) => console.log(line) });
  process.env.LTM_EXTENSION_DIR = dir;
  return rigGlobalSetup({ s3: true, azure: true })(project);
}
