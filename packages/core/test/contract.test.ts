import { MemoryBackend } from '../src/memory-backend.js';
import { describeBackendContract } from '../src/testing/index.js';

describeBackendContract({
  name: 'MemoryBackend',
  capabilities: { persistent: false, writable: true, fullTextSearch: true, multiWriter: false },
  create: () => MemoryBackend.open({ maxValueBytes: 64 * 1024 }),
  maxValueBytes: 64 * 1024,
});

describeBackendContract({
  name: 'MemoryBackend (default options)',
  capabilities: { persistent: false, writable: true, fullTextSearch: true, multiWriter: false },
  create: () => MemoryBackend.open(),
});
