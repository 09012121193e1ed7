// The HTTP endpoints against cross-site posts and scrapers: the sign-in endpoints read only
// `Content-Type: application/json` (415 before the body, so no "simple request" from a hostile
// page gets through), 413 over 64 KiB, 405 with `Allow: POST` for other methods; /metrics behind
// METRICS_TOKEN, and on a listener of its own with METRICS_PORT. Real servers on port 0, real
// HTTP requests (fetch) and raw sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, createServer, type AddressInfo } from 'node:net';
import { startEdgeTestServer } from './helpers/server.js';

const PASSWORD = 'correct horse battery';
const TOKEN = 'metrics-scrape-token-0123456789';
const CREDS = JSON.stringify({ email: 'nobody@example.com', password: PASSWORD });

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

/** Writes `head` (and `body`, if any) on a raw socket; resolves with all the server sent until it closed. */
function raw(port: number, head: string, body = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = netConnect(port, '127.0.0.1', () => s.write(head + body));
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.setTimeout(5000, () => {
      s.destroy();
      reject(new Error(`no close within 5 s; got ${JSON.stringify(got)}`));
    });
  });
}

test('sign-in bodies must be application/json: text/plain, forms and untyped bodies are 415 before the body is read', async (t) => {
  // Three attempts per address per minute: were a refused request counted, the three JSON logins below would meet 429.
  const srv = await startEdgeTestServer(t, { AUTH_IP_ATTEMPTS: '3' });
  const post = (path: string, body: RequestInit['body'], headers?: Record<string, string>) =>
    fetch(`${srv.url}${path}`, { method: 'POST', body, ...(headers ? { headers } : {}) });
  const form = new FormData();
  form.set('email', 'nobody@example.com');
  form.set('password', PASSWORD);
  const refused: [string, Promise<Response>][] = [
    ['text/plain (fetch default for a string)', post('/auth/login', CREDS)],
    ['text/plain, explicit', post('/auth/register', CREDS, { 'content-type': 'text/plain' })],
    ['urlencoded form', post('/auth/login', new URLSearchParams({ email: 'nobody@example.com', password: PASSWORD }))],
    ['multipart form', post('/auth/register', form)],
    ['no content type', post('/auth/login', new TextEncoder().encode(CREDS))],
    ['a JSON-ish type', post('/auth/login', CREDS, { 'content-type': 'application/json-patch+json' })],
    ['JSON in UTF-16', post('/auth/login', CREDS, { 'content-type': 'application/json; charset=utf-16' })],
    ['an oversized text/plain body: 415, not 413', post('/auth/login', 'x'.repeat(200_000), { 'content-type': 'text/plain' })],
  ];
  for (const [what, p] of refused) {
    const res = await p;
    assert.equal(res.status, 415, what);
    const e = await errorOf(res);
    assert.equal(e.code, 'BAD_REQUEST', what);
    assert.match(e.message, /Content-Type: application\/json/, what);
  }
  // Accepted spellings: reach the accounts service (401 for an unknown email).
  for (const type of ['application/json', 'Application/JSON; charset=UTF-8', 'application/json;charset="utf-8"']) {
    const res = await post('/auth/login', CREDS, { 'content-type': type });
    assert.equal(res.status, 401, type);
  }
  // The declared length is a megabyte and none of it is sent: the 415 comes anyway.
  const answer = await raw(srv.port, `POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n`);
  assert.match(answer, /^HTTP\/1\.1 415 /);
});

test('a sign-in body over 64 KiB is 413 (declared or streamed); another method is 405 with Allow: POST', async (t) => {
  const srv = await startEdgeTestServer(t);
  const big = await fetch(`${srv.url}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ' '.repeat(64 * 1024 + 1) });
  assert.equal(big.status, 413);
  assert.match((await errorOf(big)).message, /over 65536 bytes/);
  const streamed = await fetch(`${srv.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: new ReadableStream({
      start(ctl) {
        for (let i = 0; i < 20; i++) ctl.enqueue(new Uint8Array(8192).fill(0x20));
        ctl.close();
      },
    }),
    duplex: 'half',
  });
  assert.equal(streamed.status, 413);
  // Declared over the limit: answered before a byte of the body arrives.
  const answer = await raw(srv.port, `POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 70000\r\n\r\n`);
  assert.match(answer, /^HTTP\/1\.1 413 /);
  // Exactly at the limit is fine: 400 for the JSON that is not an object, not 413.
  const atLimit = await fetch(`${srv.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `${' '.repeat(64 * 1024 - 4)}null`,
  });
  assert.equal(atLimit.status, 400);

  for (const path of ['/auth/login', '/auth/register']) {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const res = await fetch(`${srv.url}${path}`, {
        method,
        ...(method === 'GET' || method === 'OPTIONS' ? {} : { body: CREDS, headers: { 'content-type': 'application/json' } }),
      });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get('allow'), 'POST', `${method} ${path}`);
      assert.equal((await errorOf(res)).code, 'BAD_REQUEST');
    }
  }
  assert.equal((await fetch(`${srv.url}/auth/nothing`, { method: 'POST' })).status, 404, 'other paths are still 404');
});

test('METRICS_TOKEN: /metrics is 401 without the bearer token or with a wrong one, 200 with it; health stays open', async (t) => {
  const srv = await startEdgeTestServer(t, { METRICS_TOKEN: TOKEN });
  const metrics = (authorization?: string) => fetch(`${srv.url}/metrics`, authorization === undefined ? {} : { headers: { authorization } });
  for (const [what, header] of [
    ['no header', undefined],
    ['a wrong token', `Bearer ${TOKEN}x`],
    ['a prefix of it', `Bearer ${TOKEN.slice(0, -1)}`],
    ['the token without the scheme', TOKEN],
    ['another scheme', `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`],
    ['an empty bearer', 'Bearer '],
  ] as const) {
    const res = await metrics(header);
    assert.equal(res.status, 401, what);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="metrics"', what);
    assert.equal((await errorOf(res)).code, 'UNAUTHENTICATED', what);
  }
  for (const header of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`]) {
    const res = await metrics(header);
    assert.equal(res.status, 200, header.slice(0, 6));
    assert.match(await res.text(), /^cartwire_connections \d+$/m);
  }
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);
});

test('METRICS_PORT: metrics, health and readiness on their own listener (token still required); the shop port answers 404 for /metrics; closed on shutdown', async (t) => {
  const srv = await startEdgeTestServer(t, { METRICS_PORT: '0', METRICS_TOKEN: TOKEN });
  assert.ok(srv.metricsUrl && srv.metricsPort && srv.metricsPort !== srv.port, `metrics at ${srv.metricsUrl}`);
  assert.equal(new URL(srv.metricsUrl).hostname, '127.0.0.1', 'METRICS_HOST defaults to loopback');
  const auth = { headers: { authorization: `Bearer ${TOKEN}` } };

  const ok = await fetch(`${srv.metricsUrl}/metrics`, auth);
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /^cartwire_connections \d+$/m);
  assert.equal((await fetch(`${srv.metricsUrl}/metrics`)).status, 401);
  assert.equal((await fetch(`${srv.metricsUrl}/healthz`)).status, 200);
  assert.equal((await fetch(`${srv.metricsUrl}/readyz`)).status, 200);
  for (const path of ['/auth/login', '/snapshot', '/ws', '/']) {
    assert.equal((await fetch(`${srv.metricsUrl}${path}`)).status, 404, `${path} is not on the metrics listener`);
  }

  const shop = await fetch(`${srv.url}/metrics`, auth);
  assert.equal(shop.status, 404);
  assert.equal((await errorOf(shop)).code, 'NOT_FOUND');
  assert.equal((await fetch(`${srv.url}/healthz`)).status, 200, 'the shop port keeps health and readiness');
  assert.equal((await fetch(`${srv.url}/readyz`)).status, 200);

  await srv.close();
  await assert.rejects(fetch(`${srv.metricsUrl}/healthz`), 'the metrics listener is closed with the server');
});

test('a METRICS_PORT that cannot be bound stops the start and leaves the shop port free', async (t) => {
  const first = await startEdgeTestServer(t, { METRICS_PORT: '0' });
  const port = await freePort();
  await assert.rejects(
    startEdgeTestServer(t, { PORT: String(port), METRICS_PORT: String(first.metricsPort) }),
    /cannot listen on 127\.0\.0\.1:\d+ \(METRICS_HOST:METRICS_PORT\)/,
  );
  const again = await startEdgeTestServer(t, { PORT: String(port) });
  assert.equal(again.port, port, 'the failed start released its port');
});

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

test('without METRICS_PORT and METRICS_TOKEN, /metrics stays open on the shop port', async (t) => {
  const srv = await startEdgeTestServer(t);
  assert.equal(srv.metricsPort, undefined);
  assert.equal((await fetch(`${srv.url}/metrics`)).status, 200);
});
