// The root README's examples must work exactly as written: this test extracts its TypeScript and YAML
// blocks, strips the types with the TypeScript compiler (no other change), and runs them with node.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const readme = readFileSync(join(here, '..', '..', '..', 'README.md'), 'utf8');
const packageReadme = readFileSync(join(here, '..', 'README.md'), 'utf8');
const blocks = (lang: string, text = readme): string[] =>
  [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] as string);

// Scripts live inside this package so `@ltm/backend-duckdb` and `@ltm/core` resolve as for a user.
const scriptDir = join(here, '..', '.readme-examples');
const work = tempDir('ltm-readme-');
afterAll(() => {
  rmSync(scriptDir, { recursive: true, force: true });
  work.cleanup();
});

function run(code: string, name: string): string {
  mkdirSync(scriptDir, { recursive: true });
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = join(scriptDir, `${name}.mjs`);
  writeFileSync(file, js);
  const env = { ...process.env };
  delete env.LTM_URI;
  return execFileSync(process.execPath, [file], { cwd: work.dir, encoding: 'utf8', env });
}

describe('README examples', () => {
  const [library, settings] = blocks('ts');
  const [yaml] = blocks('yaml');

  it('has the examples this test runs', () => {
    expect(library).toContain('DuckDBLTMBackend.open');
    expect(settings).toContain('parseLtmSettings');
    expect(yaml).toContain('backend: duckdb');
  });

  it('runs the TypeScript example', () => {
    const out = run(library as string, 'library');
    expect(out).toContain("theme: 'dark'");
    expect(out).toMatch(/fact:paris \d+\.\d{3}/);
  });

  it("runs the package README's example", () => {
    const [example] = blocks('ts', packageReadme);
    expect(run(example as string, 'package').trim()).toBe("[ 'user:42:preferences' ]");
  });

  it('runs the YAML settings example', () => {
    writeFileSync(join(work.dir, 'agent.yaml'), yaml as string);
    expect(run(settings as string, 'settings').trim()).toBe('true');
  });
});
