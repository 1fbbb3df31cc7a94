#!/usr/bin/env node
// Usage: node tooling/extensions/provision.mjs [--dir DIR] [--from DIR] [--only fts,httpfs,azure] [--offline]
//        [--repository URL] [--install-timeout SECONDS]
// Makes DuckDB's httpfs, fts and azure extensions loadable (signed) from DIR; see README.md beside this file.
import { parseArgs } from 'node:util';
import { EXTENSIONS, defaultExtensionDir, provisionExtensions } from './index.mjs';

const usage = `usage: node tooling/extensions/provision.mjs [options]
  --dir DIR                 extension directory (default ${defaultExtensionDir()})
  --from DIR                copy binaries from DIR when DuckDB's repository and PyPI fail
  --only LIST               comma-separated subset of ${EXTENSIONS.join(',')}
  --offline                 use only --from (no INSTALL, no PyPI)
  --repository URL          extension repository for DuckDB's INSTALL (default: DuckDB's own)
  --install-timeout SECONDS bound on DuckDB's INSTALL (default 20)
  --help`;

let args;
try {
  args = parseArgs({
    options: {
      dir: { type: 'string' },
      from: { type: 'string' },
      only: { type: 'string' },
      offline: { type: 'boolean', default: false },
      repository: { type: 'string' },
      'install-timeout': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (error) {
  console.error(`${error.message}\n${usage}`);
  process.exit(2);
}
if (args.help) {
  console.log(usage);
  process.exit(0);
}
if (args.offline && !args.from) {
  console.error(`--offline needs --from DIR\n${usage}`);
  process.exit(2);
}
const timeoutSeconds = args['install-timeout'] === undefined ? undefined : Number(args['install-timeout']);
if (timeoutSeconds !== undefined && !(timeoutSeconds > 0)) {
  console.error(`--install-timeout must be a positive number of seconds\n${usage}`);
  process.exit(2);
}

const started = performance.now();
try {
  const result = await provisionExtensions({
    dir: args.dir,
    from: args.from,
    repository: args.repository,
    only: args.only?.split(',').map((name) => name.trim()).filter(Boolean),
    sources: args.offline ? ['from'] : undefined,
    installTimeoutMs: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000,
    log: (line) => console.log(line),
  });
  console.log(
    `ok: ${result.extensions.map((e) => `${e.name} (${e.source})`).join(', ')} in ${result.dir} ` +
      `[${Math.round(performance.now() - started)} ms]`,
  );
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
