export * from './errors.js';
export * from './json.js';
export * from './types.js';
export * from './validation.js';
export * from './filter.js';
export * from './cursor.js';
export * from './format.js';
