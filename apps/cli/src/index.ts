export { DEFAULT_DEMO_URI, DEFAULT_URI, runCli } from './cli.js';
export type { CliDependencies, OpenOptions } from './cli.js';
export { DEMO_PEOPLE, generateDemoMemories } from './demo-data.js';
export type { DemoMemory } from './demo-data.js';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors.js';
export type { Output } from './output.js';
