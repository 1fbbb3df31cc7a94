/**
 * `ltm extensions install`: puts DuckDB's signed httpfs, azure and fts extensions where the engine loads
 * them from (by default the per-user cache directory, or $LTM_EXTENSION_DIR), from DuckDB's repository
 * or, on a machine without network, from a directory of downloaded files (`--from DIR`).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { LTMError } from '@ltm/core';
import { EXTENSION_NAMES, defaultExtensionDirectory, installExtensions, type ExtensionName } from '@ltm/engine-duckdb';
import { OperationError } from './errors.js';
import type { Output } from './output.js';

function extensionList(text: string): ExtensionName[] {
  const names = text.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = names.filter((name) => !(EXTENSION_NAMES as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(`expected a comma-separated list of ${EXTENSION_NAMES.join(', ')}`);
  }
  return names as ExtensionName[];
}

function seconds(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

interface InstallOptions {
  from?: string;
  dir?: string;
  only: ExtensionName[];
  repository?: string;
  timeout: number;
}

export function registerExtensionsCommand(program: Command, out: Output): void {
  const extensions = program.command('extensions').description("DuckDB's httpfs, azure and fts extensions, which cloud stores and fts search need");
  const install = extensions
    .command('install')
    .description(`install the extensions where stores find them (default ${defaultExtensionDirectory()})`)
    .option('--from <dir>', 'copy from a directory of downloaded files (offline): <name>.duckdb_extension[.gz], flat or in DuckDB\'s v<version>/<platform>/ layout')
    .option('--dir <dir>', 'the extension directory to fill (then pass it as extensionDirectory or LTM_EXTENSION_DIR)')
    .addOption(new Option('--only <names>', `a subset of ${EXTENSION_NAMES.join(',')}`).argParser(extensionList).default([...EXTENSION_NAMES]))
    .option('--repository <url>', "DuckDB extension repository to download from (a mirror); default DuckDB's own")
    .addOption(new Option('--timeout <seconds>', 'give up on a download after this long').argParser(seconds).default(30));
  install.action(async () => {
    const options = install.opts<InstallOptions>();
    const json = install.optsWithGlobals<{ json?: boolean }>().json === true;
    let result;
    try {
      result = await installExtensions({
        names: options.only,
        timeoutMs: Math.round(options.timeout * 1000),
        ...(options.dir === undefined ? {} : { directory: options.dir }),
        ...(options.from === undefined ? {} : { from: options.from }),
        ...(options.repository === undefined ? {} : { repository: options.repository }),
      });
    } catch (error) {
      if (error instanceof LTMError) throw new OperationError(error.message, error.errorType, error.toFailure());
      throw error;
    }
    if (json) {
      out.line(JSON.stringify({ success: true, ...result }, null, 2));
      return;
    }
    out.line(`DuckDB ${result.version} ${result.platform}, extension directory ${result.directory}`);
    for (const extension of result.extensions) {
      const how = extension.source === 'present' ? 'already installed, loads signed' : `installed from ${extension.source === 'from' ? options.from : 'the repository'}, loads signed`;
      out.line(`  ${extension.name.padEnd(7)} ${how}`);
    }
    if (result.directory !== defaultExtensionDirectory()) {
      out.line(`Stores find them with extensionDirectory: '${result.directory}' (or LTM_EXTENSION_DIR=${result.directory}).`);
    }
  });
}
