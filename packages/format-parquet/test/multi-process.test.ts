import { afterAll, test } from 'vitest';
import { tempDirectory } from './helpers.js';
import { checkConcurrentWriters } from './multi-writer.js';

const directory = tempDirectory('ltm-parquet-multi-');
afterAll(() => directory.remove());

test('4 processes committing concurrently on local disk (with racing compactions): every acknowledged write is visible, the shared key holds the last one in commit order, and every reader agrees', async () => {
  await checkConcurrentWriters(directory.path, 4, 30);
}, 300_000);
