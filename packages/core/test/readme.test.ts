// The README's example must keep working: type-checked against the built declarations, run with node as a
// user would run it (importing `@ltm/core` by name), and its output compared with its `// → ` comments.
import { fileURLToPath } from 'node:url';
import { testReadmeExample } from '@ltm/tooling/readme-examples';

const env: NodeJS.ProcessEnv = { ...process.env };
delete env.LTM_MAX_VALUE_BYTES;
await testReadmeExample(fileURLToPath(new URL('..', import.meta.url)), { env, minLines: 4, built: true });
