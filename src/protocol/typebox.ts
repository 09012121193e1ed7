// TypeBox, as cartwire loads it: every module imports the schema builder and the compiler from
// here. The package is some 700 small ES modules, and resolving, reading and compiling them cost
// a process about half a second of CPU at each start; the build (scripts/bundle-typebox.mjs)
// writes this file's output as one esbuild bundle of the same exports instead. Without the
// bundler (an install without dev dependencies) this plain re-export runs: same API, slower start.
export * from 'typebox';
export { default } from 'typebox';
export { Compile, Validator } from 'typebox/compile';
