// Abuse limits against a live server: per-connection request rate and in-flight cap, per-IP
// upgrade rate, maximum connections, allowed origins, sign-in attempts per email and per IP,
// idle timeout. Each limit is hit, answered by its documented rule, and recovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import { resolveConfig, ConfigError } from '../src/config.js';
import { connect, connectGuest, startEdgeTestServer, until } from './helpers/server.js';

const PASSWORD = 'correct horse battery';

/** The HTTP status of a WebSocket upgrade (101 when it opened; the socket is closed again). */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] });
      req.destroy();
    });
    ws.once('error', reject);
  });
}

const metricsText = async (url: string) => (await fetch(`${url}/metrics`)).text();

async function outcomes(calls: Promise<unknown>[]): Promise<{ codes: Record<string, number>; errors: CartwireError[] }> {
  const codes: Record<string, number> = {};
  const errors: CartwireError[] = [];
  for (const r of await Promise.allSettled(calls)) {
    const k = r.status === 'fulfilled' ? 'ok' : (r.reason as CartwireError).code;
    codes[k] = (codes[k] ?? 0) + 1;
    if (r.status === 'rejected') errors.push(r.reason as CartwireError);
  }
  return { codes, errors };
}

test('limit settings are validated and default to values a benchmark from one host does not reach', () => {
  const d = resolveConfig({}).limits;
  assert.ok(d.connRequestsPerSec >= 20_000 && d.connMaxInflight >= 256 && d.maxConnections >= 10_000 && d.ipConnectsBurst >= 10_000, JSON.stringify(d));
  assert.equal(d.idleTimeoutSec, 120);
  const tight = resolveConfig({ CONN_REQUESTS_PER_SEC: '50', IP_CONNECTS_PER_SEC: '3' }).limits;
  assert.deepEqual([tight.connRequestsBurst, tight.ipConnectsBurst], [50, 30], 'bursts follow their rate unless set');
  const cases: [Record<string, string>, RegExp][] = [
    [{ CONN_REQUESTS_PER_SEC: 'lots' }, /^CONN_REQUESTS_PER_SEC must be a non-negative integer, got "lots"$/],
    [{ CONN_REQUESTS_BURST: '0' }, /CONN_REQUESTS_BURST must be a positive integer/],
    [{ CONN_MAX_INFLIGHT: '-1' }, /CONN_MAX_INFLIGHT must be a positive integer/],
    [{ MAX_CONNECTIONS: '1.5' }, /MAX_CONNECTIONS must be a positive integer/],
    [{ IP_CONNECTS_PER_SEC: 'x' }, /IP_CONNECTS_PER_SEC/],
    [{ AUTH_EMAIL_WINDOW_SEC: '0' }, /AUTH_EMAIL_WINDOW_SEC must be a positive integer/],
    [{ AUTH_IP_ATTEMPTS: 'ten' }, /AUTH_IP_ATTEMPTS/],
    [{ IDLE_TIMEOUT_SEC: '5' }, /IDLE_TIMEOUT_SEC must be 0 or 8\.\.960, got "5"/],
    [{ IDLE_TIMEOUT_SEC: '2000' }, /IDLE_TIMEOUT_SEC must be a non-negative integer <= 960/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => resolveConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
  }
});

test('the request rate per connection answers RATE_LIMITED with retryAfterMs, recovers, and leaves other connections alone', async (t) => {
  const srv = await startEdgeTestServer(t, { CONN_REQUESTS_PER_SEC: '10', CONN_REQUESTS_BURST: '20' });
  const c = await connect(srv.url);
  const other = await connect(srv.url);
  t.after(() => Promise.all([c.close(), other.close()]));
  const { codes, errors } = await outcomes(Array.from({ length: 30 }, () => c.call('ping', {}))); // one batch frame
  assert.ok(codes.ok === 20 || codes.ok === 21, JSON.stringify(codes));
  assert.equal(codes.ok + codes.RATE_LIMITED, 30, JSON.stringify(codes));
  for (const e of errors) {
    const wait = e.details?.retryAfterMs as number;
    assert.ok(Number.isInteger(wait) && wait > 0 && wait <= 100, `retryAfterMs ${wait}`);
  }
  assert.equal((await outcomes(Array.from({ length: 5 }, () => other.call('ping', {})))).codes.ok, 5, 'another connection has its own bucket');
  await new Promise((r) => setTimeout(r, errors[0].details!.retryAfterMs as number)); // what the server told us to wait
  await until(async () => (await outcomes([c.call('ping', {})])).codes.ok === 1, { what: 'a token after retryAfterMs', timeoutMs: 2000 });
  assert.equal(c.closeInfo, undefined, 'rate limiting never closes the connection');
});

test('the in-flight cap answers LIMIT_EXCEEDED with maxInFlight beyond it, and frees up as answers leave', async (t) => {
  const srv = await startEdgeTestServer(t, { CONN_MAX_INFLIGHT: '4' });
  const c = await connectGuest(srv.url);
  t.after(() => c.close());
  const { codes, errors } = await outcomes(Array.from({ length: 10 }, (_, i) => c.call('cart.setQty', { sku: 'soap-bar', qty: 1 + i })));
  assert.deepEqual(codes, { ok: 4, LIMIT_EXCEEDED: 6 });
  assert.deepEqual(errors[0].details, { maxInFlight: 4 });
  assert.deepEqual((await outcomes(Array.from({ length: 4 }, () => c.call('cart.get', {})))).codes, { ok: 4 });
});

test('per-IP upgrade rate: 429 with Retry-After beyond the burst, then recovers', async (t) => {
  const srv = await startEdgeTestServer(t, { IP_CONNECTS_PER_SEC: '2', IP_CONNECTS_BURST: '3' });
  const first = await Promise.all([0, 1, 2].map(() => upgrade(srv.url)));
  assert.deepEqual(
    first.map((r) => r.status),
    [101, 101, 101],
  );
  const refused = await upgrade(srv.url);
  assert.deepEqual(refused, { status: 429, retryAfter: '1' });
  assert.match(await metricsText(srv.url), /^cartwire_upgrades_refused_total\{reason="rate"\} 1$/m);
  await until(async () => (await upgrade(srv.url)).status === 101, { what: 'a new token (one per 500 ms)', timeoutMs: 3000 });
});

test('max connections: 503 beyond the limit, a new connection once one closes', async (t) => {
  const srv = await startEdgeTestServer(t, { MAX_CONNECTIONS: '3' });
  const open: CartwireClient[] = [];
  for (let i = 0; i < 3; i++) open.push(await connect(srv.url));
  t.after(() => Promise.all(open.map((c) => c.close())));
  assert.equal((await upgrade(srv.url)).status, 503);
  assert.match(await metricsText(srv.url), /^cartwire_upgrades_refused_total\{reason="capacity"\} 1$/m);
  assert.ok((await open[0].call('ping', {})).now > 0, 'the open ones keep working');
  await open.shift()!.close();
  await until(async () => (await upgrade(srv.url)).status === 101, { what: 'room for one more' });
});

test('ALLOWED_ORIGINS refuses a foreign Origin at upgrade (403) and lets listed origins and non-browser clients in', async (t) => {
  const srv = await startEdgeTestServer(t, { ALLOWED_ORIGINS: 'https://shop.example, https://admin.shop.example' });
  assert.equal((await upgrade(srv.url, { origin: 'https://evil.example' })).status, 403);
  assert.equal((await upgrade(srv.url, { origin: 'https://shop.example.evil.example' })).status, 403);
  assert.equal((await upgrade(srv.url, { origin: 'null' })).status, 403);
  assert.equal((await upgrade(srv.url, { origin: 'https://shop.example' })).status, 101);
  assert.equal((await upgrade(srv.url, { origin: 'https://admin.shop.example' })).status, 101);
  assert.equal((await upgrade(srv.url)).status, 101, 'no Origin: not a browser');
  assert.match(await metricsText(srv.url), /^cartwire_upgrades_refused_total\{reason="origin"\} 3$/m);
  const open = await startEdgeTestServer(t);
  assert.equal((await upgrade(open.url, { origin: 'https://evil.example' })).status, 101, 'unset: every origin');
});

test('sign-in attempts per email, from every IP together: past the ceiling the email is refused (even the right password) until tokens refill; successes do not count', async (t) => {
  // TRUST_PROXY: the test's requests come from loopback and name their client in X-Forwarded-For.
  const srv = await startEdgeTestServer(t, { AUTH_EMAIL_ATTEMPTS: '3', AUTH_EMAIL_WINDOW_SEC: '3', TRUST_PROXY: '127.0.0.1' });
  const login = (email: string, password: string, from: string) =>
    fetch(`${srv.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
      body: JSON.stringify({ email, password }),
    });
  const c = await connect(srv.url);
  t.after(() => c.close());
  await c.call('auth.register', { email: 'locked@example.com', password: PASSWORD });
  for (let i = 0; i < 4; i++)
    assert.equal((await c.call('auth.login', { email: 'locked@example.com', password: PASSWORD })).role, 'customer', 'successes give their token back');
  // Five addresses, one wrong password each (no address comes near its own limits), all at once.
  const wrong = await Promise.all([1, 2, 3, 4, 5].map((i) => login('Locked@Example.com', 'wrong password', `203.0.113.${i}`)));
  assert.deepEqual(wrong.map((r) => r.status).sort(), [401, 401, 401, 429, 429]);
  const limited = wrong.find((r) => r.status === 429)!;
  assert.equal(limited.headers.get('retry-after'), '1');
  const details = ((await limited.json()) as { error: { code: string; details: { retryAfterMs: number } } }).error;
  assert.equal(details.code, 'RATE_LIMITED');
  assert.ok(details.details.retryAfterMs > 0 && details.details.retryAfterMs <= 1000, JSON.stringify(details));
  assert.equal((await login('locked@example.com', PASSWORD, '198.51.100.1')).status, 429, 'locked for the right password too, from a fresh address');
  assert.equal((await outcomes([c.call('auth.login', { email: 'locked@example.com', password: PASSWORD })])).codes.RATE_LIMITED, 1, 'and over the WebSocket');
  assert.equal((await login('someone-else@example.com', PASSWORD, '203.0.113.1')).status, 401, 'other emails are not locked');
  await until(async () => (await outcomes([c.call('auth.login', { email: 'locked@example.com', password: PASSWORD })])).codes.ok === 1, {
    what: 'unlocked after a refill',
    timeoutMs: 3000,
  });
});

test('sign-in attempts per IP: every login and register counts; beyond the limit RATE_LIMITED (429 over HTTP), then recovers', async (t) => {
  const srv = await startEdgeTestServer(t, { AUTH_IP_ATTEMPTS: '4', AUTH_IP_WINDOW_SEC: '2' });
  const c = await connect(srv.url);
  t.after(() => c.close());
  const { codes } = await outcomes([
    c.call('auth.register', { email: 'ip1@example.com', password: PASSWORD }),
    c.call('auth.login', { email: 'nobody1@example.com', password: PASSWORD }),
    c.call('auth.login', { email: 'nobody2@example.com', password: PASSWORD }),
    c.call('auth.login', { email: 'nobody3@example.com', password: PASSWORD }),
    c.call('auth.register', { email: 'ip2@example.com', password: PASSWORD }),
    c.call('auth.login', { email: 'nobody4@example.com', password: PASSWORD }),
  ]);
  assert.deepEqual(codes, { ok: 1, UNAUTHENTICATED: 3, RATE_LIMITED: 2 });
  const http = await fetch(`${srv.url}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ip3@example.com', password: PASSWORD }),
  });
  assert.equal(http.status, 429);
  assert.ok(Number(http.headers.get('retry-after')) >= 1);
  assert.equal((await c.call('ping', {})).now > 0, true, 'other ops are not limited');
  await until(async () => (await outcomes([c.call('auth.register', { email: 'ip2@example.com', password: PASSWORD })])).codes.ok === 1, {
    what: 'a refilled token',
    timeoutMs: 3000,
  });
});

test('idle timeout: a client that answers no pings is closed; one that does stays', { timeout: 40_000 }, async (t) => {
  const srv = await startEdgeTestServer(t, { IDLE_TIMEOUT_SEC: '8' });
  const live = await connect(srv.url);
  t.after(() => live.close());
  const port = new URL(srv.url).port;
  const started = Date.now();
  const closedAfter = await new Promise<number>((resolve, reject) => {
    const s = netConnect(Number(port), '127.0.0.1', () => {
      s.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    let head = '';
    s.on('data', (d) => (head += d.toString('latin1'))); // pings arrive and are never answered
    s.on('close', () => (head.startsWith('HTTP/1.1 101') ? resolve(Date.now() - started) : reject(new Error(head))));
    s.on('error', reject);
  });
  // uWS counts idle time in 4 s ticks: a ping at the first tick, the close at the second (4-8 s).
  assert.ok(closedAfter >= 3_500 && closedAfter < 12_000, `closed after ${closedAfter} ms`);
  assert.ok((await live.call('ping', {})).now > 0, 'the client that answers pings is still connected');
});
