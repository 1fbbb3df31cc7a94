#!/usr/bin/env node
import { DuckDBLTMBackend } from '@ltm/backend-duckdb';
import { runCli } from './cli.js';

// One command, one search at most: building the in-memory search index would cost more than it saves.
process.exitCode = await runCli(process.argv.slice(2), { open: (options) => DuckDBLTMBackend.open({ searchCacheMaxBytes: 0, ...options }) });
