// The pages over HTTP: HTML revalidated (no-cache, ETag, 304), assets under content-hashed names
// cached for a year, br/gzip made at build time and chosen by Accept-Encoding, and each page
// within its weight budget (HTML, scripts and styles, gzipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { startEdgeTestServer } from './helpers/server.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseEncoding, loadPages, notModified, type PageFile } from '../src/transport/static-pages.js';

const BUDGET = 150 * 1024;

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

/** The scripts and styles an HTML page loads. */
const assetsOf = (html: string): string[] => [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);

test('HTML: no-cache with an ETag, 304 on If-None-Match, br or gzip as the client accepts', async (t) => {
  const srv = await startEdgeTestServer(t);
  for (const path of ['/', '/admin']) {
    const plain = await get(`${srv.url}${path}`, { 'accept-encoding': 'identity' });
    assert.equal(plain.res.status, 200);
    assert.equal(plain.res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(plain.res.headers.get('cache-control'), 'no-cache');
    assert.equal(plain.res.headers.get('content-encoding'), null);
    assert.match(plain.res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const etag = plain.res.headers.get('etag') ?? '';
    assert.match(etag, /^"[\w-]+"$/);
    assert.match(plain.body.toString(), /<div id="app">/);

    const again = await fetch(`${srv.url}${path}`, { headers: { 'accept-encoding': 'identity', 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get('etag'), etag);
    const changed = await fetch(`${srv.url}${path}`, { headers: { 'accept-encoding': 'identity', 'if-none-match': '"something-else"' } });
    assert.equal(changed.status, 200);
    await changed.arrayBuffer();

    // fetch() would decompress: the raw bytes are checked through node:zlib.
    const br = await fetch(`${srv.url}${path}`, { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(br.headers.get('content-encoding'), 'br');
    assert.equal(br.headers.get('vary'), 'Accept-Encoding');
    assert.deepEqual(Buffer.from(await br.arrayBuffer()), plain.body);
    const gz = await fetch(`${srv.url}${path}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.headers.get('content-encoding'), 'gzip');
    assert.notEqual(gz.headers.get('etag'), etag, 'each encoding has its own strong ETag');
    assert.deepEqual(Buffer.from(await gz.arrayBuffer()), plain.body);
  }
});

test('assets: content-hashed names, immutable for a year, 404 for an unknown name', async (t) => {
  const srv = await startEdgeTestServer(t);
  const html = (await get(`${srv.url}/`)).body.toString();
  const assets = assetsOf(html);
  assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), `assets of /: ${assets.join(' ')}`);
  for (const a of assets) {
    assert.match(a, /^\/assets\/[\w]+-[A-Z0-9]{8}\.(js|css)$/);
    const { res } = await get(`${srv.url}${a}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(res.headers.get('content-type') ?? '', a.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
    assert.ok(res.headers.get('etag'));
  }
  const missing = await fetch(`${srv.url}/assets/shop-NOTTHERE.js`);
  assert.equal(missing.status, 404);
  await missing.arrayBuffer();
});

test('each page weighs at most 150 KB gzipped (HTML, scripts and styles)', async (t) => {
  const srv = await startEdgeTestServer(t);
  // Node's fetch decompresses; the wire size is read with a raw request through node:zlib.
  const { request } = await import('node:http');
  const gzipped = (path: string) =>
    new Promise<Buffer>((resolve, reject) => {
      request(`${srv.url}${path}`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          assert.equal(res.headers['content-encoding'], 'gzip', path);
          resolve(Buffer.concat(chunks));
        });
      })
        .on('error', reject)
        .end();
    });
  for (const page of ['/', '/admin']) {
    const html = await gzipped(page);
    let total = html.length;
    for (const a of assetsOf(gunzipSync(html).toString())) total += (await gzipped(a)).length;
    t.diagnostic(`${page}: ${(total / 1024).toFixed(1)} KB gzipped`);
    assert.ok(total <= BUDGET, `${page} weighs ${total} bytes gzipped`);
  }
});

test('Accept-Encoding and If-None-Match are read as RFC 9110 says', () => {
  const v = { body: new Uint8Array(), etag: '"x"' };
  const all: PageFile = { type: 'text/html', cacheControl: 'no-cache', variants: { identity: v, br: v, gzip: v } };
  const gzOnly: PageFile = { ...all, variants: { identity: v, gzip: v } };
  assert.equal(chooseEncoding('gzip, deflate, br', all), 'br');
  assert.equal(chooseEncoding('br;q=0, gzip', all), 'gzip');
  assert.equal(chooseEncoding('br', gzOnly), 'identity');
  assert.equal(chooseEncoding('*', all), 'br');
  assert.equal(chooseEncoding('*;q=0, identity', all), 'identity');
  assert.equal(chooseEncoding('', all), 'identity');
  assert.equal(chooseEncoding('GZIP;q=0.5', all), 'gzip');
  assert.ok(notModified('"a", "x"', '"x"'));
  assert.ok(notModified('W/"x"', '"x"'));
  assert.ok(notModified('*', '"x"'));
  assert.ok(!notModified('', '"x"'));
  assert.ok(!notModified('"y"', '"x"'));
});

test('loadPages: nothing without an index.html; HTML no-cache, assets immutable, precompressed forms beside them', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-pages-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(loadPages(dir), undefined, 'an unbuilt folder');
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html>');
  writeFileSync(join(dir, 'index.html.gz'), 'gz');
  writeFileSync(join(dir, 'assets', 'shop-ABCDEFGH.js'), 'js');
  writeFileSync(join(dir, 'assets', 'shop-ABCDEFGH.js.br'), 'br');
  const pages = loadPages(dir);
  assert.deepEqual([...(pages?.files.keys() ?? [])].sort(), ['/', '/assets/shop-ABCDEFGH.js']);
  const html = pages!.files.get('/')!;
  assert.equal(html.cacheControl, 'no-cache');
  assert.deepEqual(Object.keys(html.variants).sort(), ['gzip', 'identity']);
  const js = pages!.files.get('/assets/shop-ABCDEFGH.js')!;
  assert.equal(js.cacheControl, 'public, max-age=31536000, immutable');
  assert.equal(js.type, 'text/javascript; charset=utf-8');
  assert.deepEqual(Object.keys(js.variants).sort(), ['br', 'identity']);
  assert.notEqual(js.variants.br?.etag, js.variants.identity.etag);
});
