export { ParquetFormat, createParquetFormat } from './parquet-format.js';
export type { CompactResult, ParquetFormatOptions, ParquetFormatStats, VacuumOptions, VacuumResult } from './parquet-format.js';
export { DEFAULT_COMPACTION_POLICY } from './compaction.js';
export type { CompactionPolicy } from './compaction.js';
export { PARQUET_FORMAT_VERSION } from './log.js';
export { LocalObjectStore } from './object-store/local.js';
export type { LocalObjectStoreOptions } from './object-store/local.js';
export type { ObjectInfo, ObjectStore } from './object-store/types.js';
