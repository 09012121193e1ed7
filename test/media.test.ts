// Product images over HTTP: every refusal of POST /media stores nothing, the same bytes are
// stored once, the headers of each kind of response, 304s, catalog.setImages and the product
// JSON for caches. Real servers on loopback, real files under DATA_DIR/media.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import sharp from 'sharp';
import { startEdgeTestServer, adminToken, connect, connectAdmin, connectGuest, until } from './helpers/server.js';
import { bombPng, makeImage } from './helpers/images.js';
import { MediaLimits } from '../src/protocol/media.js';
import type { CartwireClient } from '../src/client/index.js';

interface Uploaded {
  mediaId: string;
  width: number;
  height: number;
  url: string;
}

const post = (url: string, token: string | undefined, body: Uint8Array, type = 'application/octet-stream') =>
  fetch(`${url}/media`, { method: 'POST', body, headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) } });

/** Every file under DATA_DIR/media, by folder. */
function stored(dataDir: string): Record<string, string[]> {
  const root = join(dataDir, 'media');
  return Object.fromEntries(['originals', 'webp', 'tmp'].map((d) => [d, readdirSync(join(root, d)).sort()]));
}

async function upload(url: string, token: string, body: Uint8Array): Promise<Uploaded> {
  const res = await post(url, token, body);
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as Uploaded;
}

test('every bad upload is refused with its status and a JSON error, and nothing is stored', async (t) => {
  const srv = await startEdgeTestServer(t);
  const token = await adminToken(srv.url);
  const guest = await connectGuest(srv.url);
  t.after(() => guest.close());
  const guestToken = (await guest.call('auth.guest', {})).token;
  const png = await makeImage('png', 64, 48);
  const jpeg = await makeImage('jpeg', 640, 480, 3);

  const cases: { what: string; res: Promise<Response>; status: number; code: string; reason?: string }[] = [
    { what: 'no token', res: post(srv.url, undefined, png), status: 401, code: 'UNAUTHENTICATED' },
    { what: 'a forged token', res: post(srv.url, 'not-a-jwt', png), status: 401, code: 'UNAUTHENTICATED' },
    { what: 'a guest', res: post(srv.url, guestToken, png), status: 403, code: 'FORBIDDEN' },
    { what: 'over 8 MiB', res: post(srv.url, token, Buffer.alloc(MediaLimits.MAX_UPLOAD_BYTES + 1, 0xff)), status: 413, code: 'LIMIT_EXCEEDED' },
    { what: 'text', res: post(srv.url, token, Buffer.from('<html>not an image</html>'), 'image/png'), status: 415, code: 'BAD_REQUEST', reason: 'type' },
    {
      what: 'a GIF',
      res: post(srv.url, token, Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1')),
      status: 415,
      code: 'BAD_REQUEST',
      reason: 'type',
    },
    { what: 'an empty body', res: post(srv.url, token, Buffer.alloc(0)), status: 415, code: 'BAD_REQUEST', reason: 'type' },
    {
      what: 'a PNG signature then garbage',
      res: post(srv.url, token, Buffer.concat([png.subarray(0, 8), Buffer.alloc(200, 7)])),
      status: 422,
      code: 'BAD_REQUEST',
      reason: 'corrupt',
    },
    { what: 'a truncated JPEG', res: post(srv.url, token, jpeg.subarray(0, Math.floor(jpeg.length / 2))), status: 422, code: 'BAD_REQUEST', reason: 'corrupt' },
    { what: 'a 30000x30000 PNG bomb', res: post(srv.url, token, bombPng(30_000, 30_000)), status: 422, code: 'BAD_REQUEST', reason: 'pixels' },
    { what: 'just over 40 megapixels', res: post(srv.url, token, bombPng(8001, 5000)), status: 422, code: 'BAD_REQUEST', reason: 'pixels' },
  ];
  for (const c of cases) {
    const res = await c.res;
    assert.equal(res.status, c.status, `${c.what}: status`);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/, c.what);
    const body = (await res.json()) as { error: { code: string; message: string; details?: { reason?: string } } };
    assert.equal(body.error.code, c.code, `${c.what}: code`);
    assert.ok(body.error.message.length > 0, `${c.what}: a message`);
    if (c.reason) assert.equal(body.error.details?.reason, c.reason, `${c.what}: reason`);
  }
  assert.ok(bombPng(30_000, 30_000).length < 4096, 'the bomb is a few KB');
  assert.deepEqual(stored(srv.dataDir), { originals: [], webp: [], tmp: [] }, 'nothing stored for a refused upload');

  // The bytes decide, not Content-Type: a PNG sent as image/jpeg is a PNG.
  const ok = await post(srv.url, token, png, 'image/jpeg');
  assert.equal(ok.status, 201);
  const got = await fetch(`${srv.url}${((await ok.json()) as Uploaded).url}`);
  assert.equal(got.headers.get('content-type'), 'image/png');
});

test('the same bytes twice are stored once, with one id; the copies are WebP at 200, 400 and 800 px', async (t) => {
  const srv = await startEdgeTestServer(t);
  const token = await adminToken(srv.url);
  const jpeg = await makeImage('jpeg', 1200, 900, 1);
  const [a, b] = await Promise.all([upload(srv.url, token, jpeg), upload(srv.url, token, jpeg)]);
  const c = await upload(srv.url, token, jpeg);
  assert.deepEqual(a, b);
  assert.deepEqual(a, c);
  assert.match(a.mediaId, /^[0-9a-f]{64}$/);
  assert.deepEqual([a.width, a.height, a.url], [1200, 900, `/media/${a.mediaId}`]);
  const files = stored(srv.dataDir);
  assert.deepEqual(files.originals, [`${a.mediaId}-1200x900.jpg`]);
  assert.deepEqual(files.webp, [200, 400, 800].map((w) => `${a.mediaId}-w${w}.webp`).sort());
  assert.deepEqual(files.tmp, []);
  for (const w of [200, 400, 800]) {
    const meta = await sharp(Buffer.from(await (await fetch(`${srv.url}/media/${a.mediaId}?w=${w}`)).arrayBuffer())).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', w, (w * 3) / 4]);
  }
  // A smaller original is never enlarged.
  const small = await upload(srv.url, token, await makeImage('webp', 300, 100, 2));
  const meta = await sharp(Buffer.from(await (await fetch(`${srv.url}/media/${small.mediaId}?w=800`)).arrayBuffer())).metadata();
  assert.deepEqual([meta.width, meta.height], [300, 100]);
});

test('media responses: immutable caching, a strong ETag, 304 on If-None-Match, nosniff; 404 and 400', async (t) => {
  const srv = await startEdgeTestServer(t);
  const token = await adminToken(srv.url);
  const png = await makeImage('png', 500, 400, 5);
  const up = await upload(srv.url, token, png);
  for (const [path, type] of [
    [up.url, 'image/png'],
    [`${up.url}?w=400`, 'image/webp'],
  ]) {
    const res = await fetch(`${srv.url}${path}`);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-type'), type, path);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    const etag = res.headers.get('etag') ?? '';
    assert.match(etag, /^"[^"]+"$/, `${path}: a strong ETag`);
    const body = Buffer.from(await res.arrayBuffer());
    if (type === 'image/png') assert.ok(body.equals(png), 'the original is the uploaded bytes');
    const again = await fetch(`${srv.url}${path}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304, path);
    assert.equal(again.headers.get('etag'), etag);
    assert.equal(again.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal((await again.arrayBuffer()).byteLength, 0);
    assert.equal((await fetch(`${srv.url}${path}`, { headers: { 'if-none-match': '"other", ' + etag } })).status, 304, 'a list of tags');
    assert.equal((await fetch(`${srv.url}${path}`, { headers: { 'if-none-match': '"other"' } })).status, 200);
  }
  assert.notEqual((await fetch(`${srv.url}${up.url}`)).headers.get('etag'), (await fetch(`${srv.url}${up.url}?w=200`)).headers.get('etag'));
  assert.equal((await fetch(`${srv.url}/media/${'0'.repeat(64)}`)).status, 404);
  assert.equal((await fetch(`${srv.url}/media/nope`)).status, 404);
  const bad = await fetch(`${srv.url}${up.url}?w=300`);
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
  assert.equal((await fetch(`${srv.url}/media`, { method: 'GET' })).status, 405);
});

test('catalog.setImages: admin only, known media only, journalled; products carry images in get and search', async (t) => {
  const srv = await startEdgeTestServer(t);
  const token = await adminToken(srv.url);
  const [a, b] = [await upload(srv.url, token, await makeImage('jpeg', 1600, 1200, 7)), await upload(srv.url, token, await makeImage('png', 300, 300, 8))];
  const admin = await connectAdmin(srv.url);
  const guest = await connectGuest(srv.url);
  const anon = await connect(srv.url);
  t.after(() => Promise.all([admin, guest, anon].map((c: CartwireClient) => c.close())));
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: { code?: string }) => e.code,
    );
  const images = [
    { mediaId: a.mediaId, alt: 'The kite in the sky' },
    { mediaId: b.mediaId, alt: '' },
  ];
  assert.equal(await code(guest.call('catalog.setImages', { productId: 'kite', images })), 'FORBIDDEN');
  // catalog.* is open to anonymous connections; the admin ones answer FORBIDDEN there.
  assert.equal(await code(anon.call('catalog.setImages', { productId: 'kite', images })), 'FORBIDDEN');
  assert.equal(await code(admin.call('catalog.setImages', { productId: 'kite', images: [{ mediaId: 'f'.repeat(64), alt: 'x' }] })), 'NOT_FOUND');
  assert.equal(await code(admin.call('catalog.setImages', { productId: 'no-such-product', images })), 'NOT_FOUND');
  assert.equal(await code(admin.call('catalog.setImages', { productId: 'kite', images: [images[0], images[0]] })), 'BAD_REQUEST');
  assert.equal(await code(admin.call('catalog.setImages', { productId: 'kite', images: [{ mediaId: 'x', alt: 'x' }] })), 'BAD_REQUEST');
  const eleven = Array.from({ length: 11 }, () => images[0]);
  assert.equal(await code(admin.call('catalog.setImages', { productId: 'kite', images: eleven })), 'BAD_REQUEST');
  assert.deepEqual((await anon.call('catalog.get', { productId: 'kite' })).images, [], 'nothing changed by a refusal');

  const product = await admin.call('catalog.setImages', { productId: 'kite', images });
  const expected = [
    {
      mediaId: a.mediaId,
      alt: 'The kite in the sky',
      width: 1600,
      height: 1200,
      url: `/media/${a.mediaId}`,
      srcset: [200, 400, 800].map((w) => `/media/${a.mediaId}?w=${w} ${w}w`).join(', '),
    },
    { mediaId: b.mediaId, alt: '', width: 300, height: 300, url: `/media/${b.mediaId}`, srcset: `/media/${b.mediaId}?w=200 200w, /media/${b.mediaId} 300w` },
  ];
  assert.deepEqual(product.images, expected);
  assert.deepEqual((await anon.call('catalog.get', { productId: 'kite' })).images, expected);
  const found = (await anon.call('catalog.search', { q: 'kite' })).items.find((p) => p.productId === 'kite');
  assert.deepEqual(found?.images, expected);
  // A later upsert of the product's fields keeps its images.
  const upserted = await admin.call('catalog.upsert', { productId: 'kite', name: 'Delta Kite XL', category: 'toys', variants: [{ sku: 'kite', price: 3100 }] });
  assert.deepEqual(upserted.images, expected);
  await srv.close();

  // Journalled: the images are there after a restart on the same DATA_DIR.
  const again = await startEdgeTestServer(t, { DATA_DIR: srv.dataDir });
  const c = await connect(again.url);
  t.after(() => c.close());
  assert.deepEqual((await c.call('catalog.get', { productId: 'kite' })).images, expected);
  assert.equal((await fetch(`${again.url}/media/${a.mediaId}?w=800`)).status, 200);
});

/** A raw GET, so that Content-Encoding and the compressed bytes are seen as sent. */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    })
      .on('error', reject)
      .end();
  });
}

test('GET /products/<id>.json: the product as catalog.get gives it, ETag from its version and stock, 304, compressed, 404', async (t) => {
  const srv = await startEdgeTestServer(t);
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  // A description long enough for compression to pay.
  const tent = { productId: 'tent-2p', name: 'Two-Person Tent', category: 'outdoor', description: 'Light and quick to pitch. '.repeat(40) };
  await admin.call('catalog.upsert', { ...tent, variants: [{ sku: 'tent-2p', price: 24900 }] });
  const res = await fetch(`${srv.url}/products/tent-2p.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(res.headers.get('cache-control'), 'public, max-age=5, stale-while-revalidate=30');
  assert.equal(res.headers.get('vary'), 'Accept-Encoding');
  const etag = res.headers.get('etag') ?? '';
  assert.match(etag, /^"[^"]+"$/);
  assert.deepEqual(await res.json(), await admin.call('catalog.get', { productId: 'tent-2p' }));
  const same = await fetch(`${srv.url}/products/tent-2p.json`, { headers: { 'if-none-match': etag } });
  assert.equal(same.status, 304);
  assert.equal(same.headers.get('etag'), etag);
  assert.equal(same.headers.get('cache-control'), 'public, max-age=5, stale-while-revalidate=30');

  // A stock change is a new version: the old tag no longer matches, and the body shows the stock.
  await admin.call('inventory.adjust', { sku: 'tent-2p', type: 'purchase', qty: 5, reason: 'restock' });
  await until(async () => (await fetch(`${srv.url}/products/tent-2p.json`, { headers: { 'if-none-match': etag } })).status === 200, { what: 'a new ETag' });
  const fresh = await fetch(`${srv.url}/products/tent-2p.json`);
  assert.notEqual(fresh.headers.get('etag'), etag);
  assert.equal(((await fresh.json()) as { variants: { available: number }[] }).variants[0].available, 17);
  // So is a price change.
  const before = (await fetch(`${srv.url}/products/tent-2p.json`)).headers.get('etag') ?? '';
  await admin.call('catalog.upsert', { ...tent, variants: [{ sku: 'tent-2p', price: 22900 }] });
  const repriced = await fetch(`${srv.url}/products/tent-2p.json`, { headers: { 'if-none-match': before } });
  assert.equal(repriced.status, 200);
  assert.equal(((await repriced.json()) as { variants: { price: number }[] }).variants[0].price, 22900);

  // Compressed as Accept-Encoding allows: br first, then gzip, none without it.
  const url = `${srv.url}/products/tent-2p.json`;
  const plain = await rawGet(url, {});
  assert.equal(plain.headers['content-encoding'], undefined);
  const br = await rawGet(url, { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(br.headers['content-encoding'], 'br');
  const { brotliDecompressSync, gunzipSync } = await import('node:zlib');
  assert.ok(brotliDecompressSync(br.body).equals(plain.body));
  const gz = await rawGet(url, { 'accept-encoding': 'gzip;q=1, br;q=0' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.ok(gunzipSync(gz.body).equals(plain.body));
  assert.ok(gz.body.length < plain.body.length);

  assert.equal((await fetch(`${srv.url}/products/no-such.json`)).status, 404);
  assert.equal((await fetch(`${srv.url}/products/tent-2p`)).status, 404);
  await admin.call('catalog.upsert', { ...tent, status: 'draft', variants: [{ sku: 'tent-2p', price: 22900 }] });
  assert.equal((await fetch(`${srv.url}/products/tent-2p.json`)).status, 404, 'a draft product is not public');
});

test('files no product references are removed after the grace period; referenced ones stay', async (t) => {
  const srv = await startEdgeTestServer(t, { MEDIA_GC_GRACE_MS: '1000' });
  const token = await adminToken(srv.url);
  const kept = await upload(srv.url, token, await makeImage('png', 100, 100, 11));
  const dropped = await upload(srv.url, token, await makeImage('png', 100, 100, 12));
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  await admin.call('catalog.setImages', { productId: 'kite', images: [{ mediaId: kept.mediaId, alt: 'kite' }] });
  await until(async () => (await fetch(`${srv.url}${dropped.url}`)).status === 404, { timeoutMs: 15_000, what: 'the unreferenced file to go' });
  await until(() => stored(srv.dataDir).originals.length === 1 && stored(srv.dataDir).webp.length === 3, { what: 'its files deleted' });
  assert.deepEqual(stored(srv.dataDir).originals, [`${kept.mediaId}-100x100.png`]);
  assert.deepEqual(stored(srv.dataDir).webp, [200, 400, 800].map((w) => `${kept.mediaId}-w${w}.webp`).sort());
  assert.equal((await fetch(`${srv.url}${kept.url}`)).status, 200);
  // Once no product shows it, it goes too.
  await admin.call('catalog.setImages', { productId: 'kite', images: [] });
  await until(async () => (await fetch(`${srv.url}${kept.url}`)).status === 404, { timeoutMs: 15_000, what: 'the file no longer shown to go' });
  await until(() => stored(srv.dataDir).webp.length + stored(srv.dataDir).originals.length === 0, { what: 'its files deleted' });
  assert.deepEqual(stored(srv.dataDir), { originals: [], webp: [], tmp: [] });
  const code = await admin.call('catalog.setImages', { productId: 'kite', images: [{ mediaId: kept.mediaId, alt: 'kite' }] }).then(
    () => 'ok',
    (e: { code?: string }) => e.code,
  );
  assert.equal(code, 'NOT_FOUND', 'a removed file cannot be set');
});
