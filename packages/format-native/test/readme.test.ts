// The README's example must keep working: type-checked against the built declarations, run with node as a
// user would run it, and its output compared with its `// → ` comments (see tooling/readme-examples.mjs).
import { fileURLToPath } from 'node:url';
import { testReadmeExample } from '@ltm/tooling/readme-examples';

await testReadmeExample(fileURLToPath(new URL('..', import.meta.url)));
