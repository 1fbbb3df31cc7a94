// README examples must keep working. Each package's readme test uses these helpers to take a code block
// out of a README, type-check it against the package's built declarations, run it with node as a user
// would (importing packages by name), and compare what it prints with its `// → ` comments.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';

/** Every fenced block of `lang` in `markdown`, in order. */
export function codeBlocks(markdown, lang) {
  return [...markdown.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((match) => match[1]);
}

/** The first `ts` block under the heading `## <heading>`. */
export function exampleUnder(markdown, heading = 'Example') {
  const section = markdown.split(new RegExp(`^## ${heading}$`, 'm'))[1];
  const [block] = section === undefined ? [] : codeBlocks(section, 'ts');
  if (block === undefined) throw new Error(`README has no \`\`\`ts block under "## ${heading}"`);
  return block;
}

/** What the example promises to print: its `// → ` comments, in order. */
export function promisedOutput(code) {
  return [...code.matchAll(/\/\/ → (.*)$/gm)].map((match) => match[1]);
}

const compilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  skipLibCheck: true,
  types: ['node'],
};

/** Fails loudly when `dist/` is older than `src/`: the example would test stale code. */
export function assertBuilt(packageDir) {
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
      const path = join(dir, entry.name);
      return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }, 0);
  let built = 0;
  try {
    built = statSync(join(packageDir, 'dist', 'index.js')).mtimeMs;
  } catch {
    // not built at all
  }
  if (built < newest(join(packageDir, 'src'))) {
    throw new Error(`${packageDir}dist is missing or older than src: build the package first (npm test does)`);
  }
}

/**
 * A scratch directory inside `packageDir`, so that the example's imports resolve as they would for a
 * user of the package (the package by its own name, its dependencies by theirs). Call `remove()` after.
 */
export function exampleDir(packageDir) {
  const dir = mkdtempSync(join(packageDir, '.readme-example-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** TypeScript's diagnostics for the example, formatted; '' when it type-checks. */
export function typeCheck(code, dir) {
  const file = join(dir, 'example.mts');
  writeFileSync(file, code);
  const diagnostics = ts.getPreEmitDiagnostics(ts.createProgram([file], { ...compilerOptions, noEmit: true }));
  return ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => dir, getNewLine: () => '\n' });
}

/** Runs the example (types stripped, nothing else changed) with node; resolves to its stdout. */
export async function runExample(code, dir, { cwd = dir, env = process.env, name = 'example' } = {}) {
  const script = join(dir, `${name}.mjs`);
  writeFileSync(script, ts.transpileModule(code, { compilerOptions, fileName: `${name}.mts` }).outputText);
  const { stdout } = await promisify(execFile)(process.execPath, [script], { cwd, env });
  return stdout;
}

/**
 * Registers the two checks of a package README's `## Example` block with vitest: it type-checks against
 * the built declarations, and it prints what its `// → ` comments say (at least `minLines` of them).
 */
export async function testReadmeExample(packageDir, { env, minLines = 1, built = false } = {}) {
  const { afterAll, beforeAll, expect, it } = await import('vitest');
  const example = exampleUnder(readFileSync(join(packageDir, 'README.md'), 'utf8'));
  const scratch = exampleDir(packageDir);
  if (built) beforeAll(() => assertBuilt(packageDir));
  afterAll(() => scratch.remove());

  it('type-checks against the built declarations', () => {
    expect(typeCheck(example, scratch.dir)).toBe('');
  });

  it('prints what its // → comments say', async () => {
    const promised = promisedOutput(example);
    expect(promised.length).toBeGreaterThanOrEqual(minLines);
    expect((await runExample(example, scratch.dir, env === undefined ? {} : { env })).trimEnd().split('\n')).toEqual(promised);
  });
}
