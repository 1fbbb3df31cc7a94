#!/usr/bin/env node
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2), { open: (options) => DuckDBLTMBackend.open(options) });
