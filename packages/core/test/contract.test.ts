import { MemoryBackend } from '../src/memory-backend.js';
import { describeBackendContract } from '../src/testing/index.js';

const capabilities = { persistent: false, writable: true, fullTextSearch: true, multiWriter: false };

describeBackendContract({
  name: 'MemoryBackend',
  capabilities,
  create: () => MemoryBackend.open({ maxValueBytes: 64 * 1024 }),
  maxValueBytes: 64 * 1024,
});

// The default limit is 16 MiB: the size check once at full size.
describeBackendContract(
  { name: 'MemoryBackend (default maxValueBytes)', capabilities, create: () => MemoryBackend.open() },
  { filter: (name) => name.startsWith('values: above the size limit') },
);
