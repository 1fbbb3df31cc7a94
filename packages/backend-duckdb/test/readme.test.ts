// The root README's examples and this package's README example must work exactly as written: they are
// type-checked, run with node (types stripped, nothing else changed) and their output checked.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { codeBlocks, exampleDir, runExample, typeCheck } from '@ltm/tooling/readme-examples';
import { tempDir } from './helpers.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const rootReadme = readFileSync(join(packageDir, '..', '..', 'README.md'), 'utf8');
const packageReadme = readFileSync(join(packageDir, 'README.md'), 'utf8');
const scratch = exampleDir(packageDir);
const work = tempDir('ltm-readme-');
afterAll(() => {
  scratch.remove();
  work.cleanup();
});

// Examples write their files (./agent-memory.duckdb, agent.yaml) in a clean working directory.
const env = { ...process.env };
delete env.LTM_URI;
const run = (code: string, name: string): Promise<string> => runExample(code, scratch.dir, { cwd: work.dir, env, name });

describe('README examples', () => {
  const [library, settings] = codeBlocks(rootReadme, 'ts');
  const [yaml] = codeBlocks(rootReadme, 'yaml');
  const [packageExample] = codeBlocks(packageReadme, 'ts');

  it('has the examples this test runs, and they type-check', () => {
    expect(library).toContain('DuckDBLTMBackend.open');
    expect(settings).toContain('parseLtmSettings');
    expect(yaml).toContain('backend: duckdb');
    for (const code of [library, settings, packageExample]) expect(typeCheck(code as string, scratch.dir)).toBe('');
  });

  it('runs the TypeScript example', async () => {
    const out = await run(library as string, 'library');
    expect(out).toContain("theme: 'dark'");
    expect(out).toMatch(/fact:paris \d+\.\d{3}/);
  });

  it("runs the package README's example", async () => {
    expect((await run(packageExample as string, 'package')).trim()).toBe("[ 'user:42:preferences' ]");
  });

  it('runs the YAML settings example', async () => {
    writeFileSync(join(work.dir, 'agent.yaml'), yaml as string);
    expect((await run(settings as string, 'settings')).trim()).toBe('true');
  });
});
