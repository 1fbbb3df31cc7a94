export { DuckDBQueryEngine } from './engine.js';
export type { DuckDBQueryEngineOptions, EngineEvent, EngineStats, ExecuteResult } from './engine.js';
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
export { quoteStringLiteral } from './sql-literal.js';
export { CircuitBreaker } from './resilience/circuit-breaker.js';
export type { CircuitBreakerOptions, CircuitState, CircuitStats, CircuitTransition } from './resilience/circuit-breaker.js';
export { RetryPolicy } from './resilience/retry.js';
export type { RetryEvent, RetryOptions } from './resilience/retry.js';
export { parseCloudUri, isRemoteUri } from './cloud/location.js';
export type { CloudLocation, CloudProvider } from './cloud/location.js';
export { planSecret } from './cloud/credentials.js';
export type {
  AzureCredentials,
  CloudCredentialOptions,
  CredentialSource,
  Environment,
  GcsCredentials,
  S3Credentials,
  SecretPlan,
  SecretSummary,
} from './cloud/credentials.js';
export { EXTENSION_NAMES, defaultExtensionDirectory } from './cloud/extension-directory.js';
export type { ExtensionName } from './cloud/extension-directory.js';
export type { ExtensionEvent, ExtensionReport } from './cloud/extensions.js';
export { installExtensions } from './cloud/install.js';
export type { InstallExtensionsOptions, InstallExtensionsResult, InstalledExtension } from './cloud/install.js';
export type { RemoteAttachment, RemoteEvent, RemoteFile } from './cloud/remote.js';
export { displayUri } from './redaction.js';
