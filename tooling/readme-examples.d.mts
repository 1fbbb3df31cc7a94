export declare function codeBlocks(markdown: string, lang: string): string[];
export declare function exampleUnder(markdown: string, heading?: string): string;
export declare function promisedOutput(code: string): string[];
export declare function assertBuilt(packageDir: string): void;
export declare function exampleDir(packageDir: string): { dir: string; remove(): void };
export declare function typeCheck(code: string, dir: string): string;
export declare function runExample(
  code: string,
  dir: string,
  options?: { cwd?: string; env?: NodeJS.ProcessEnv; name?: string },
): Promise<string>;
export declare function testReadmeExample(
  packageDir: string,
  options?: { env?: NodeJS.ProcessEnv; minLines?: number; built?: boolean },
): Promise<void>;
