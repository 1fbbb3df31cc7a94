export { DuckDBQueryEngine } from './engine.js';
export type { DuckDBQueryEngineOptions, EngineStats, ExecuteResult } from './engine.js';
export type { EngineConnection } from './connection.js';
export type { PoolStats } from './pool.js';
export type { SqlValue } from './values.js';
export { quoteIdentifier } from './identifiers.js';
export {
  EngineError,
  classifyDuckDBError,
  duckDBErrorType,
  failureOrigin,
  isInfrastructureFailure,
  isTransientFailure,
  redactCredentials,
} from './errors.js';
export type { ErrorContext, FailureOrigin } from './errors.js';
export { resolveDatabasePath } from './instances.js';
