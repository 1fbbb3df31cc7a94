/**
 * The README's example must keep working: this type-checks it against the built package's declarations,
 * runs it with node as a user would (importing `@ltm/core` by name, which resolves to this package), and
 * compares what it prints with its `// →` comments.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
let workDir: string;
let example: string;

/** The first `ts` code block under the `## Example` heading. */
function exampleBlock(readme: string): string {
  const section = readme.split(/^## Example$/m)[1];
  const block = section === undefined ? undefined : /^```ts\n([\s\S]*?)^```$/m.exec(section);
  if (block?.[1] === undefined) throw new Error('README.md has no ```ts block under "## Example"');
  return block[1];
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestMtime(path));
    else if (entry.isFile()) newest = Math.max(newest, (await stat(path)).mtimeMs);
  }
  return newest;
}

function compilerOptions(): ts.CompilerOptions {
  const file = join(packageDir, 'tsconfig.build.json');
  const { config } = ts.readConfigFile(file, (path) => ts.sys.readFile(path));
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, packageDir);
  return { ...options, rootDir: undefined, outDir: undefined, declaration: false, declarationMap: false, sourceMap: false };
}

beforeAll(async () => {
  const built = await stat(join(packageDir, 'dist', 'index.js')).then(
    (info) => info.mtimeMs,
    () => 0,
  );
  if (built < (await newestMtime(join(packageDir, 'src')))) {
    throw new Error('dist/ is missing or older than src/: run `turbo run build --filter=@ltm/core` first');
  }
  example = exampleBlock(await readFile(join(packageDir, 'README.md'), 'utf8'));
  // Inside the package directory, so that `import ... from '@ltm/core'` resolves to this package by its name.
  workDir = await mkdtemp(join(packageDir, '.readme-example-'));
});

afterAll(async () => {
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('the README example', () => {
  it('type-checks against the published declarations', async () => {
    const file = join(workDir, 'example.mts');
    await writeFile(file, example);
    const program = ts.createProgram([file], { ...compilerOptions(), noEmit: true });
    const diagnostics = ts.getPreEmitDiagnostics(program);
    const report = ts.formatDiagnostics(diagnostics, {
      getCanonicalFileName: (name) => name,
      getCurrentDirectory: () => workDir,
      getNewLine: () => '\n',
    });
    expect(report).toBe('');
  });

  it('runs and prints what its comments say', async () => {
    const { outputText } = ts.transpileModule(example, { compilerOptions: compilerOptions(), fileName: 'example.mts' });
    const script = join(workDir, 'example.mjs');
    await writeFile(script, outputText);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.LTM_MAX_VALUE_BYTES;
    const { stdout } = await promisify(execFile)(process.execPath, [script], { cwd: workDir, env });
    const promised = [...example.matchAll(/\/\/ → (.*)$/gm)].map((match) => match[1]);
    expect(promised.length).toBeGreaterThan(3);
    expect(stdout.trimEnd().split('\n')).toEqual(promised);
  });
});
