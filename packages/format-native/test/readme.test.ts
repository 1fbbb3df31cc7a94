/**
 * The README's example must keep working: it is type-checked against the built declarations, run with
 * node as a user would run it (importing the package by name), and its output compared with its
 * `// →` comments, in order.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
const example = /^## Example$[\s\S]*?^```ts\n([\s\S]*?)^```$/m.exec(readme)?.[1] ?? '';
// Inside the package, so that importing it by name resolves to this package.
const workDir = mkdtempSync(join(packageDir, '.readme-example-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  skipLibCheck: true,
  types: ['node'],
};

it('type-checks against the built declarations', () => {
  expect(example).not.toBe('');
  const file = join(workDir, 'example.mts');
  writeFileSync(file, example);
  const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram([file], { ...options, noEmit: true }));
  expect(ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => workDir, getNewLine: () => '\n' })).toBe('');
});

it('prints what its // → comments say', async () => {
  const script = join(workDir, 'example.mjs');
  writeFileSync(script, ts.transpileModule(example, { compilerOptions: options, fileName: 'example.mts' }).outputText);
  const { stdout } = await promisify(execFile)(process.execPath, [script], { cwd: workDir });
  const expected = [...example.matchAll(/\/\/ → (.*)$/gm)].map((match) => match[1]);
  expect(stdout.trimEnd().split('\n')).toEqual(expected);
});
