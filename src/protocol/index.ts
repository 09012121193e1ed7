// The wire protocol as data: the op and push tables, argument schemas, error and close codes,
// result shapes and actor keys. Imports nothing of the server; shared by the server, the SDK,
// the docs and the tests.
export * from './errors.js';
export * from './schemas.js';
export * from './ops.js';
export * from './pushes.js';
export * from './types.js';
export type { ResultOf } from './result.js';
