// Builds the web pages (web/): the storefront (/) and the admin dashboard (/admin) into
// dist/pages. Scripts and styles get content-hashed names under assets/ (served as immutable);
// every text file is compressed with brotli and gzip here, once, so the server never compresses
// on the request path. Fails when a page weighs more than its budget (gzipped HTML + scripts +
// styles).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist/pages');
const assets = join(out, 'assets');
const BUDGET = 150 * 1024;

const PAGES = [
  { name: 'shop', html: 'index.html', title: 'cartwire shop', entry: 'web/shop/main.tsx' },
  { name: 'admin', html: 'admin.html', title: 'cartwire admin', entry: 'web/admin/main.tsx' },
];

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: Object.fromEntries(PAGES.map((p) => [p.name, p.entry])),
  tsconfig: 'web/tsconfig.json',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  outdir: assets,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});

const compress = (path) => {
  const bytes = readFileSync(path);
  const br = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } });
  const gz = gzipSync(bytes, { level: 9 });
  writeFileSync(`${path}.br`, br);
  writeFileSync(`${path}.gz`, gz);
  return gz.length;
};

/** The output files one entry loads: its script, the chunks it imports (transitively), its CSS. */
function filesOf(entryOutput) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imp of result.metafile.outputs[file].imports) if (imp.kind === 'import-statement') visit(imp.path);
  };
  visit(entryOutput);
  const css = result.metafile.outputs[entryOutput].cssBundle;
  return { scripts: [...seen], css: css ? [css] : [] };
}

const gzBytes = new Map();
for (const file of Object.keys(result.metafile.outputs)) {
  if (file.endsWith('.map')) continue;
  gzBytes.set(file, compress(join(root, file)));
}

const url = (file) => `/assets/${basename(file)}`;
let over = false;
for (const page of PAGES) {
  const entryOutput = Object.keys(result.metafile.outputs).find((f) => result.metafile.outputs[f].entryPoint === page.entry);
  const { scripts, css } = filesOf(entryOutput);
  const html = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${page.title}</title>`,
    '<link rel="icon" href="data:,">',
    ...css.map((f) => `<link rel="stylesheet" href="${url(f)}">`),
    ...scripts.slice(1).map((f) => `<link rel="modulepreload" href="${url(f)}">`),
    `<script type="module" src="${url(scripts[0])}"></script>`,
    '</head>',
    '<body>',
    '<div id="app"><p class="loading">Loading…</p></div>',
    '<noscript>This shop needs JavaScript.</noscript>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
  const htmlPath = join(out, page.html);
  writeFileSync(htmlPath, html);
  const htmlGz = compress(htmlPath);
  gzBytes.set(page.html, htmlGz);
  const total = htmlGz + [...scripts, ...css].reduce((n, f) => n + gzBytes.get(f), 0);
  console.log(`pages: ${page.html} ${(total / 1024).toFixed(1)} KB gzipped (HTML, ${scripts.length} scripts, ${css.length} styles)`);
  if (total > BUDGET) {
    console.error(`pages: ${page.html} weighs ${total} bytes gzipped, over the budget of ${BUDGET}`);
    over = true;
  }
}
const all = [...gzBytes.values()].reduce((a, b) => a + b, 0);
console.log(`pages: both pages ${(all / 1024).toFixed(1)} KB gzipped together (shared scripts counted once)`);
if (over) process.exit(1);
