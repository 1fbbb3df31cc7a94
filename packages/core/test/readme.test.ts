// The README's example must keep working: type-checked against the built declarations, run with node as a
// user would run it (importing `@ltm/core` by name), and its output compared with its `// → ` comments.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, exampleDir, exampleUnder, promisedOutput, runExample, typeCheck } from '@ltm/tooling/readme-examples';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const example = exampleUnder(readFileSync(join(packageDir, 'README.md'), 'utf8'));
const scratch = exampleDir(packageDir);
beforeAll(() => assertBuilt(packageDir));
afterAll(() => scratch.remove());

describe('the README example', () => {
  it('type-checks against the published declarations', () => {
    expect(typeCheck(example, scratch.dir)).toBe('');
  });

  it('runs and prints what its comments say', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.LTM_MAX_VALUE_BYTES;
    const promised = promisedOutput(example);
    expect(promised.length).toBeGreaterThan(3);
    expect((await runExample(example, scratch.dir, { env })).trimEnd().split('\n')).toEqual(promised);
  });
});
