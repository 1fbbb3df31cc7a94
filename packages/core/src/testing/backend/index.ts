import type { BackendCheck } from './common.js';
import { expiryChecks } from './expiry.js';
import { filterChecks } from './filters.js';
import { keyChecks } from './keys.js';
import { lifecycleChecks } from './lifecycle.js';
import { listChecks } from './list.js';
import { refusalChecks } from './refusals.js';
import { searchChecks } from './search.js';
import { shapeChecks } from './shapes.js';
import { valueChecks } from './values.js';
import { writeChecks } from './writes.js';

export type { BackendCheck } from './common.js';

/** Every check of the backend contract, in the order they run. */
export const backendContractChecks: readonly BackendCheck[] = [
  ...lifecycleChecks,
  ...shapeChecks,
  ...keyChecks,
  ...valueChecks,
  ...expiryChecks,
  ...filterChecks,
  ...writeChecks,
  ...listChecks,
  ...searchChecks,
  ...refusalChecks,
];
