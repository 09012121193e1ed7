// The wire protocol as data: op table, schemas, error and close codes, result shapes.
// Dependency-free apart from TypeBox; shared by the server, the SDK, the docs and the tests.
export * from './errors.js';
export * from './schemas.js';
export * from './ops.js';
export * from './types.js';
