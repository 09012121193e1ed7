// `npm start`: builds the server (src/ only, incremental: tsc -b tsconfig.build.json) when a
// source is newer than the last build, and the web pages (web/, with the SDK they bundle) when
// one of theirs is newer than dist/pages, then runs the server in this process. On an unchanged
// tree no compiler or bundler is loaded at all. Without TypeScript (an install with --omit=dev)
// the built output in dist/ runs as it is.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const at = (p) => join(root, p);
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

/** The newest change under `dir`: files, and folders (a file added, renamed or removed). */
function newest(dir) {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function tscPath() {
  try {
    return createRequire(at('package.json')).resolve('typescript/bin/tsc');
  } catch {
    return undefined;
  }
}

const built = mtime(at('dist/src.tsbuildinfo'));
// The TypeBox package counts as a source: the build bundles it into dist/ (bundle-typebox.mjs).
const sources = Math.max(newest(at('src')), mtime(at('tsconfig.json')), mtime(at('tsconfig.build.json')), mtime(at('node_modules/typebox/package.json')));
if (sources > built || !existsSync(at('dist/src/main.js'))) {
  const tsc = tscPath();
  if (tsc) {
    const r = spawnSync(process.execPath, [tsc, '-b', at('tsconfig.build.json')], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
    const b = spawnSync(process.execPath, [at('scripts/bundle-typebox.mjs')], { stdio: 'inherit' });
    if (b.status !== 0) process.exit(b.status ?? 1);
    // tsc -b leaves its build info alone when no output changed (a file saved unchanged): mark the
    // build current, or every start would run the compiler again.
    const now = new Date();
    utimesSync(at('dist/src.tsbuildinfo'), now, now);
  } else if (!existsSync(at('dist/src/main.js'))) {
    console.error('cartwire: dist/src/main.js is missing and TypeScript is not installed: run `npm ci && npm run build:server` first');
    process.exit(1);
  }
}
// The pages: the bundler alone (type errors in them are for `npm run build`, not a reason not to start).
const pagesBuilt = mtime(at('dist/pages/index.html'));
const pageSources = Math.max(newest(at('web')), newest(at('packages/client/src')), mtime(at('scripts/build-pages.mjs')));
if (pageSources > pagesBuilt) {
  let bundler = true;
  try {
    createRequire(at('package.json')).resolve('esbuild');
  } catch {
    bundler = false;
  }
  if (bundler) {
    const r = spawnSync(process.execPath, [at('scripts/build-pages.mjs')], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  } else if (!pagesBuilt) {
    console.error('cartwire: the web pages are not built and esbuild is not installed: / and /admin will answer 404 (run `npm ci && npm run build`)');
  }
}
await import(new URL('../dist/src/main.js', import.meta.url).href);
