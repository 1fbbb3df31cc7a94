import { createRequire } from 'node:module';
import { TextDecoder } from 'node:util';

/**
 * @duckdb/node-api 1.5.5-r.5 decodes every VARCHAR (and JSON) with a default `TextDecoder`, which drops
 * a leading U+FEFF: the string '\uFEFFkey' stored by DuckDB reads back as 'key'. Its accessor reads the
 * decoder from its module exports at each call, so swapping in one with `ignoreBOM: true` makes reads
 * exact for every user of node-api in the process (nothing else changes: the bytes are valid UTF-8).
 * `test/values.test.ts` checks the round trip, so a node-api release that moves the decoder fails loudly.
 */
const require = createRequire(import.meta.url);
const accessors = require('@duckdb/node-api/lib/vectors/dataAccessors') as { textDecoder?: TextDecoder };
if (accessors.textDecoder !== undefined && !accessors.textDecoder.ignoreBOM) {
  accessors.textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
}
