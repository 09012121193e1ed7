// Writes dist/src/protocol/typebox.js (compiled by tsc as a plain re-export of the typebox package)
// as one self-contained ES module: loading TypeBox's ~700 modules one by one costs every server
// process about half a second of CPU at start, the bundle next to nothing. Run after tsc by every
// build; without esbuild (no dev dependencies) it does nothing and the re-export stays, and an
// esbuild that cannot run (installed without its platform binary) leaves it too, with a warning:
// the server is the same, only slower to start.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let esbuild;
try {
  esbuild = createRequire(import.meta.url)('esbuild');
} catch {
  process.exit(0);
}
try {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['src/protocol/typebox.ts'],
    outfile: 'dist/src/protocol/typebox.js',
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
} catch (err) {
  console.warn(`bundle-typebox: TypeBox left unbundled (the server loads its modules one by one): ${err instanceof Error ? err.message : err}`);
}
