// Sign-in limits per email and client address: an attacker's failures lock out only the
// attacker's address, never the account's owner elsewhere; growing delays per (email, address);
// a success starts the pair over; the per-IP limit over HTTP follows X-Forwarded-For only from
// TRUST_PROXY proxies; the settings are validated. Real servers on port 0, real HTTP requests.
// All test traffic comes from loopback: with TRUST_PROXY=127.0.0.1 each request names its client
// in X-Forwarded-For, which is how several client addresses are simulated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveConfig, ConfigError } from '../src/config.js';
import { KeyedBackoff } from '../src/transport/rate-limit.js';
import { CartwireError } from '../src/client/index.js';
import { connect, startEdgeTestServer } from './helpers/server.js';

const PASSWORD = 'correct horse battery';

interface Outcome {
  status: number;
  retryAfter: string | null;
  code?: string;
  retryAfterMs?: number;
}

/** POST /auth/<what> as JSON from client address `from` (X-Forwarded-For). */
async function auth(url: string, what: 'login' | 'register', email: string, password: string, from?: string): Promise<Outcome> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (from !== undefined) headers['x-forwarded-for'] = from;
  const res = await fetch(`${url}/auth/${what}`, { method: 'POST', headers, body: JSON.stringify({ email, password }) });
  const body = (await res.json()) as { error?: { code: string; details?: { retryAfterMs?: number } } };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), code: body.error?.code, retryAfterMs: body.error?.details?.retryAfterMs };
}

const statuses = (outs: Outcome[]): Record<number, number> => {
  const n: Record<number, number> = {};
  for (const o of outs) n[o.status] = (n[o.status] ?? 0) + 1;
  return n;
};

test('an attacker address failing many times locks out only itself: the owner signs in from elsewhere; an unknown email answers the same', async (t) => {
  // Limits at their defaults, but for a first wait of 10 s (not 1 s): long enough to outlast the
  // storm below (six argon2id hashes at once take about a second on a cold server).
  const srv = await startEdgeTestServer(t, { TRUST_PROXY: '127.0.0.1', AUTH_DELAY_BASE_MS: '10000' });
  const ATTACKER = '203.0.113.66';
  const OWNER = '198.51.100.7';
  assert.equal((await auth(srv.url, 'register', 'victim@example.com', PASSWORD, OWNER)).status, 200);

  // Thirty guesses at once: failures count from the start of an attempt, so only the free five and
  // the one that sets the first wait are hashed; the rest are refused before any hashing.
  const storm = await Promise.all(Array.from({ length: 30 }, (_, i) => auth(srv.url, 'login', 'victim@example.com', `guess ${i}`, ATTACKER)));
  assert.deepEqual(statuses(storm), { 401: 6, 429: 24 });
  for (const o of storm.filter((o) => o.status === 429)) {
    assert.equal(o.code, 'RATE_LIMITED');
    assert.ok(o.retryAfterMs! > 0 && o.retryAfterMs! <= 10_000, `retryAfterMs ${o.retryAfterMs}`);
    assert.equal(o.retryAfter, String(Math.ceil(o.retryAfterMs! / 1000)));
  }
  // The attacker's pair is shut for the right password too (the refusal says nothing about it).
  assert.equal((await auth(srv.url, 'login', 'victim@example.com', PASSWORD, ATTACKER)).status, 429);

  // The owner, from another address: a typo is an ordinary 401, the password signs in.
  assert.equal((await auth(srv.url, 'login', 'victim@example.com', 'typo password', OWNER)).status, 401);
  const ok = await auth(srv.url, 'login', 'victim@example.com', PASSWORD, OWNER);
  assert.equal(ok.status, 200, JSON.stringify(ok));
  // And over the WebSocket (from loopback itself: yet another address).
  const ws = await connect(srv.url);
  t.after(() => ws.close());
  assert.equal((await ws.call('auth.login', { email: 'victim@example.com', password: PASSWORD })).role, 'customer');

  // The same storm at an email nobody registered is answered exactly alike.
  const ghost = await Promise.all(Array.from({ length: 30 }, (_, i) => auth(srv.url, 'login', 'nobody-here@example.com', `guess ${i}`, ATTACKER)));
  assert.deepEqual(statuses(ghost), { 401: 6, 429: 24 });
});

test('growing delays per email and address: retryAfterMs doubles up to the cap, refusals do not lengthen it, a success starts over', async (t) => {
  const srv = await startEdgeTestServer(t, { TRUST_PROXY: '127.0.0.1', AUTH_DELAY_AFTER: '2', AUTH_DELAY_BASE_MS: '400', AUTH_DELAY_MAX_MS: '1600' });
  const FROM = '203.0.113.9';
  assert.equal((await auth(srv.url, 'register', 'slow@example.com', PASSWORD, '198.51.100.1')).status, 200);
  const wrong = () => auth(srv.url, 'login', 'slow@example.com', 'wrong password', FROM);

  assert.deepEqual([(await wrong()).status, (await wrong()).status], [401, 401], 'two free failures');
  const seen: string[] = [];
  const expected = [400, 800, 1600, 1600]; // after failures 3, 4, 5 and 6 (capped)
  for (const [i, delay] of expected.entries()) {
    const t0 = performance.now();
    assert.equal((await wrong()).status, 401, `failure ${3 + i} is hashed and answered`);
    const refused = await wrong(); // at once: inside the wait that failure set
    const span = performance.now() - t0;
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'RATE_LIMITED');
    const wait = refused.retryAfterMs!;
    seen.push(`${wait} (+${Math.round(span)})`);
    // The wait runs from the start of the failed attempt, which lies within `span` before the refusal.
    assert.ok(
      wait <= delay && wait + span >= delay,
      `after failure ${3 + i}: retryAfterMs ${wait}, ${Math.round(span)} ms after it started, expected a ${delay} ms wait`,
    );
    if (i === 0) {
      const again = await wrong();
      assert.ok(again.status === 429 && again.retryAfterMs! <= wait, `a refused attempt does not lengthen the wait: ${wait} then ${again.retryAfterMs}`);
      // Meanwhile the same email from another address is not delayed at all.
      assert.equal((await auth(srv.url, 'login', 'slow@example.com', 'wrong password', '203.0.113.10')).status, 401);
    }
    await sleep(wait + 20);
  }
  t.diagnostic(`retryAfterMs (+ ms since the failed attempt was sent) after failures 3..6: ${seen.join(', ')}`);

  // The right password once the wait is over: signed in, and the pair starts over (two free failures again).
  assert.equal((await auth(srv.url, 'login', 'slow@example.com', PASSWORD, FROM)).status, 200);
  assert.deepEqual([(await wrong()).status, (await wrong()).status, (await wrong()).status], [401, 401, 401]);
  const fresh = await wrong();
  assert.ok(fresh.status === 429 && fresh.retryAfterMs! <= 400, `the first wait again: ${JSON.stringify(fresh)}`);
});

test('per email and address, the attempt bucket caps failures even without delays; register of a taken email counts too', async (t) => {
  const srv = await startEdgeTestServer(t, { TRUST_PROXY: '127.0.0.1', AUTH_DELAY_BASE_MS: '0', AUTH_PAIR_ATTEMPTS: '3', AUTH_PAIR_WINDOW_SEC: '3' });
  assert.equal((await auth(srv.url, 'register', 'pair@example.com', PASSWORD, '198.51.100.2')).status, 200);
  const outs = await Promise.all(Array.from({ length: 5 }, () => auth(srv.url, 'register', 'pair@example.com', PASSWORD, '203.0.113.20')));
  assert.deepEqual(statuses(outs), { 409: 3, 429: 2 });
  assert.ok(
    outs.filter((o) => o.status === 429).every((o) => o.retryAfterMs! > 0 && o.retryAfterMs! <= 1000),
    JSON.stringify(outs),
  );
  assert.equal((await auth(srv.url, 'login', 'pair@example.com', PASSWORD, '203.0.113.20')).status, 429, 'that pair, whatever the op and password');
  assert.equal((await auth(srv.url, 'login', 'pair@example.com', PASSWORD, '203.0.113.21')).status, 200, 'another address');
  assert.equal((await auth(srv.url, 'login', 'other@example.com', PASSWORD, '203.0.113.20')).status, 401, 'another email from that address');
});

test('the per-IP limit over HTTP counts the X-Forwarded-For client only when the socket is a trusted proxy', async (t) => {
  const behindProxy = await startEdgeTestServer(t, { TRUST_PROXY: '127.0.0.1', AUTH_IP_ATTEMPTS: '3', AUTH_IP_WINDOW_SEC: '60' });
  const a = [];
  for (let i = 0; i < 4; i++) a.push((await auth(behindProxy.url, 'login', `n${i}@example.com`, PASSWORD, '203.0.113.30')).status);
  assert.deepEqual(a, [401, 401, 401, 429]);
  assert.equal(
    (await auth(behindProxy.url, 'login', 'n9@example.com', PASSWORD, '203.0.113.31')).status,
    401,
    'another client behind the proxy has its own bucket',
  );
  // The proxy appends the address it saw: the right-most untrusted entry is the client, so a
  // forged left-hand entry changes nothing.
  assert.equal((await auth(behindProxy.url, 'login', 'n8@example.com', PASSWORD, '10.9.9.9, 203.0.113.30')).status, 429);

  const direct = await startEdgeTestServer(t, { AUTH_IP_ATTEMPTS: '3', AUTH_IP_WINDOW_SEC: '60' }); // no TRUST_PROXY
  const b = [];
  for (let i = 0; i < 4; i++) b.push((await auth(direct.url, 'login', `n${i}@example.com`, PASSWORD, `203.0.113.${40 + i}`)).status);
  assert.deepEqual(b, [401, 401, 401, 429], 'a forged X-Forwarded-For from an untrusted socket is ignored');
  // The WebSocket counts against the same per-IP bucket.
  const ws = await connect(direct.url);
  t.after(() => ws.close());
  const err = await ws.call('auth.login', { email: 'n1@example.com', password: PASSWORD }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof CartwireError && err.code === 'RATE_LIMITED', String(err));
});

test('KeyedBackoff: free failures, doubling waits up to the cap, reset, forgetting, and a bounded number of keys', () => {
  const b = new KeyedBackoff({ free: 2, baseMs: 100, maxMs: 500, forgetMs: 10_000 });
  assert.deepEqual([b.fail('k', 0), b.fail('k', 0)], [0, 0]);
  assert.equal(b.wait('k', 0), 0);
  assert.deepEqual([b.fail('k', 0), b.wait('k', 0), b.wait('k', 60), b.wait('k', 100)], [100, 100, 40, 0]);
  assert.deepEqual([b.fail('k', 100), b.fail('k', 300), b.fail('k', 700), b.fail('k', 1200)], [200, 400, 500, 500]);
  assert.equal(b.wait('other', 1200), 0, 'keys are independent');
  b.reset('k');
  assert.deepEqual([b.wait('k', 1200), b.fail('k', 1200), b.fail('k', 1200), b.fail('k', 1200)], [0, 0, 0, 100]);
  assert.equal(b.fail('k', 1200 + 10_000), 0, 'a key quiet for forgetMs starts over');
  assert.equal(new KeyedBackoff({ free: 0, baseMs: 0, maxMs: 0, forgetMs: 1 }).fail('k', 0), 0, 'base 0: off');

  const small = new KeyedBackoff({ free: 0, baseMs: 100, maxMs: 100, forgetMs: 1_000 }, 100);
  for (let i = 0; i < 1000; i++) small.fail(`k${i}`, i);
  assert.ok(small.size <= 100, `size ${small.size}`);
  assert.ok(small.wait('k999', 999) > 0, 'the newest keys keep their wait');
  for (let i = 0; i < 50; i++) small.fail(`late${i}`, 10_000); // every older key is forgotten by now
  assert.ok(small.size <= 100 && small.size >= 50, `size ${small.size}`);
});

test('sign-in and metrics settings: defaults, and bad values named', () => {
  const d = resolveConfig({});
  const l = d.limits;
  assert.deepEqual(
    [
      l.authIpAttempts,
      l.authIpWindowSec,
      l.authPairAttempts,
      l.authPairWindowSec,
      l.authEmailAttempts,
      l.authEmailWindowSec,
      l.authDelayAfter,
      l.authDelayBaseMs,
      l.authDelayMaxMs,
    ],
    [300, 60, 10, 900, 100, 900, 5, 1000, 300_000],
  );
  assert.deepEqual([d.metricsPort, d.metricsHost, d.metricsToken], [undefined, '127.0.0.1', undefined]);
  const m = resolveConfig({ METRICS_PORT: '9100', METRICS_HOST: '0.0.0.0', METRICS_TOKEN: 'a-long-enough-token' });
  assert.deepEqual([m.metricsPort, m.metricsHost, m.metricsToken], [9100, '0.0.0.0', 'a-long-enough-token']);
  const cases: [Record<string, string>, RegExp][] = [
    [{ AUTH_PAIR_ATTEMPTS: 'ten' }, /^AUTH_PAIR_ATTEMPTS must be a non-negative integer, got "ten"$/],
    [{ AUTH_PAIR_WINDOW_SEC: '0' }, /^AUTH_PAIR_WINDOW_SEC must be a positive integer, got "0"$/],
    [{ AUTH_EMAIL_ATTEMPTS: '-5' }, /^AUTH_EMAIL_ATTEMPTS must be/],
    [{ AUTH_DELAY_AFTER: 'x' }, /^AUTH_DELAY_AFTER must be a non-negative integer <= 1000, got "x"$/],
    [{ AUTH_DELAY_BASE_MS: '1.5' }, /^AUTH_DELAY_BASE_MS must be/],
    [{ AUTH_DELAY_BASE_MS: '5000', AUTH_DELAY_MAX_MS: '1000' }, /^AUTH_DELAY_MAX_MS must be at least AUTH_DELAY_BASE_MS \(5000\), got "1000"$/],
    [{ AUTH_DELAY_MAX_MS: '99999999' }, /^AUTH_DELAY_MAX_MS must be a non-negative integer <= 3600000/],
    [{ METRICS_PORT: 'nine' }, /^METRICS_PORT must be a non-negative integer <= 65535, got "nine"$/],
    [{ METRICS_PORT: '8080' }, /^METRICS_PORT must differ from PORT, got "8080"$/],
    [{ METRICS_PORT: '9100', METRICS_HOST: 'bad host' }, /^METRICS_HOST must be a host name or IP address, got "bad host"$/],
    [{ METRICS_HOST: '0.0.0.0' }, /^METRICS_HOST is set but METRICS_PORT is not/],
    [{ METRICS_TOKEN: 'short' }, /^METRICS_TOKEN must be 16 to 1024 printable ASCII characters/],
    [{ METRICS_TOKEN: 'has a space in the middle' }, /^METRICS_TOKEN must be/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => resolveConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
  }
});
