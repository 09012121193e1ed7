// @cartwire/client as users get it: the packed tarball installed into a fresh project runs a cart
// session against a real server, and a browser bundle of the SDK holds nothing of the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { startTestServer } from './helpers/server.js';

const PACKAGE = fileURLToPath(new URL('../../packages/client/', import.meta.url));

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-sdk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const SESSION = `
import { CartwireClient } from '@cartwire/client';
const shop = await CartwireClient.connect(process.argv[2]);
await shop.call('auth.guest', {});
const pushed = new Promise((resolve) => shop.subscribe('cart', (c) => c.version === 1 && resolve(c.version)));
const added = await shop.call('cart.add', { sku: 'soap-bar', qty: 2 });
const cart = await shop.call('cart.get', {});
const push = await pushed;
await shop.close();
console.log(JSON.stringify({ version: added.version, items: cart.items.map((l) => [l.sku, l.qty]), push }));
`;

test('the packed SDK installs into a fresh project and runs a cart session against a real server', { timeout: 180_000 }, async (t) => {
  const out = tempDir(t);
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: PACKAGE, encoding: 'utf8' })) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  t.diagnostic(`tarball ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.files.length} files`);
  const paths = packed.files.map((f) => f.path);
  assert.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts'), 'built ESM with declarations');
  assert.ok(!paths.some((p) => p.endsWith('.ts') && !p.endsWith('.d.ts')), 'no sources');
  assert.ok(packed.size < 60_000, `tarball ${packed.size} bytes`);

  const project = tempDir(t);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'shop-app', private: true, type: 'module' }));
  // msgpackr and ws come from npm's cache when this machine has installed cartwire.
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(out, packed.filename), 'ws@8'], {
    cwd: project,
    stdio: 'pipe',
  });
  const installed = readdirSync(join(project, 'node_modules'));
  for (const server of ['better-sqlite3', '@trufflesuite', 'piscina', 'typebox', 'pino']) assert.ok(!installed.includes(server), `${server} installed`);
  writeFileSync(join(project, 'session.mjs'), SESSION);

  const srv = await startTestServer(t);
  // Asynchronously: the server answers from this process's event loop.
  const run = await promisify(execFile)(process.execPath, ['session.mjs', srv.url], { cwd: project, encoding: 'utf8', timeout: 30_000 });
  assert.deepEqual(JSON.parse(run.stdout), { version: 1, items: [['soap-bar', 2]], push: 1 });
});

test('a browser bundle of the SDK holds no server module', async () => {
  const result = await build({
    entryPoints: [join(PACKAGE, 'src/index.ts')],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    minify: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(
    inputs.some((i) => i.includes('msgpackr')),
    'msgpackr is bundled',
  );
  const server = /better-sqlite3|uws|uWebSockets|piscina|worker_threads|typebox|pino|argon2|prom-client|nats|src\/(app|workers|persistence|transport)\//;
  assert.deepEqual(
    inputs.filter((i) => server.test(i)),
    [],
  );
  const code = result.outputFiles[0].text;
  assert.doesNotMatch(code, /node:(worker_threads|fs|net|child_process)|better-sqlite3|piscina/);
  assert.ok(existsSync(join(PACKAGE, 'src/index.ts')));
  assert.ok(code.length < 100_000, `bundle ${code.length} bytes`);
});
