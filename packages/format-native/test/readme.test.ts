// The README's example must keep working: type-checked against the built declarations, run with node as a
// user would run it, and its output compared with its `// → ` comments (see tooling/readme-examples.mjs).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { exampleDir, exampleUnder, promisedOutput, runExample, typeCheck } from '@ltm/tooling/readme-examples';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const example = exampleUnder(readFileSync(join(packageDir, 'README.md'), 'utf8'));
const scratch = exampleDir(packageDir);
afterAll(() => scratch.remove());

it('type-checks against the built declarations', () => {
  expect(typeCheck(example, scratch.dir)).toBe('');
});

it('prints what its // → comments say', async () => {
  const stdout = await runExample(example, scratch.dir);
  expect(stdout.trimEnd().split('\n')).toEqual(promisedOutput(example));
});
