// The SDK's reconnect: across a kill -9 and restart of the server process on the same port and
// DATA_DIR it re-authenticates, resubscribes and keeps receiving pushes; it never reconnects
// after a policy close, and stops for good when its token is refused.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { CartwireClient, CartwireError, backoffDelay, shouldReconnect, type ConnectionState, type StateInfo } from '../src/client/index.js';
import { spawnServer, startEdgeTestServer, tmpDataDir, until } from './helpers/server.js';
import type { CartView } from '../src/protocol/types.js';

const FAST = { baseDelayMs: 50, maxDelayMs: 400 };

/** A port nobody listens on right now (the server is then started on it explicitly). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

function recordStates(c: CartwireClient): { state: ConnectionState; info: StateInfo }[] {
  const got: { state: ConnectionState; info: StateInfo }[] = [];
  c.on('state', (state, info) => got.push({ state, info }));
  return got;
}

test('kill -9 and restart on the same port: the SDK reconnects, re-auths as the same user, resubscribes, and gets pushes again', async (t) => {
  const dataDir = tmpDataDir(t);
  const port = await freePort();
  const env = { PORT: String(port) };
  let srv = await spawnServer(dataDir, env);
  t.after(() => srv.kill9());

  const c = await CartwireClient.connect(srv.url, { reconnect: FAST, timeoutMs: 30_000 });
  t.after(() => c.close());
  const states = recordStates(c);
  const me = await c.call('auth.guest', {});
  const v1 = await c.call('cart.add', { sku: 'tee-classic-m', qty: 2 });
  const carts: CartView[] = [];
  const sub = c.subscribe('cart', (cart) => carts.push(cart));
  await sub.ready;
  assert.deepEqual(carts, [v1]);

  await srv.kill9();
  await until(() => c.state === 'reconnecting' || c.state === 'connecting', { what: 'the client noticed the crash' });
  // Waits for the restart. Settled into a value at once, so a failure is an assertion below.
  const whileDown = c.call('cart.add', { sku: 'mug-stoneware-sand', qty: 1 }).catch((e: CartwireError) => e);

  srv = await spawnServer(dataDir, env);
  await until(() => c.state === 'open', { timeoutMs: 20_000, what: 'reconnected' });
  assert.equal(c.session?.userId, me.userId, 'resumed as the same user');
  const v2 = await whileDown;
  if (v2 instanceof Error) assert.fail(`the call made while down failed: ${String(v2)}`);
  assert.equal(v2.version, 2);
  assert.deepEqual(v2.items.map((i) => i.sku).sort(), ['mug-stoneware-sand', 'tee-classic-m']);
  // The resubscription's reply (v1, fresh from the restarted server) or, if the waiting add ran
  // first, v2: either way a fresh full object, then nothing older.
  await until(() => carts.at(-1)?.version === 2, { what: 'the handler reached v2' });
  assert.ok(carts.length >= 2, 'a fresh object after the reconnect');
  assert.deepEqual(carts.at(-1), v2);
  for (let i = 1; i < carts.length; i++) assert.ok(carts[i].version >= carts[i - 1].version, 'never backwards');

  // A second device of the same user, after the restart: its change arrives as a push.
  const phone = await CartwireClient.connect(srv.url);
  t.after(() => phone.close());
  await phone.call('auth.resume', { token: me.token });
  const v3 = await phone.call('cart.setQty', { sku: 'tee-classic-m', qty: 5 });
  await until(() => carts.at(-1)?.version === 3, { what: "the other device's change pushed" });
  assert.deepEqual(carts.at(-1), v3);

  const seq = states.map((s) => s.state);
  assert.equal(seq[0], 'reconnecting');
  assert.equal(seq.at(-1), 'open');
  assert.ok(!seq.includes('closed'));
  const first = states[0].info;
  assert.ok(first.attempt === 1 && first.delayMs! >= 0 && first.delayMs! < FAST.baseDelayMs, `first backoff ${JSON.stringify(first)}`);
});

test('no reconnect after a policy close (1008, 10 bad frames) or a frame over 64 KiB (1009)', async (t) => {
  const server = await startEdgeTestServer(t);
  for (const [code, misbehave] of [
    [
      1008,
      (c: CartwireClient) => {
        for (let i = 0; i < 10; i++) c.sendRaw('not binary');
      },
    ],
    [1009, (c: CartwireClient) => c.sendRaw(new Uint8Array(70_000))],
  ] as const) {
    const c = await CartwireClient.connect(server.url, { reconnect: FAST });
    t.after(() => c.close());
    const states = recordStates(c);
    await c.call('auth.guest', {});
    const sub = c.subscribe('cart', () => {});
    await sub.ready;
    const pending = c.call('ping', {}, { timeoutMs: 60_000 });
    misbehave(c);
    const closed = await c.whenClosed();
    assert.equal(closed.code, code);
    assert.deepEqual(
      states.map((s) => s.state),
      ['closed'],
      `${code}: closed for good, no reconnecting`,
    );
    assert.equal(c.state, 'closed');
    await pending.then(
      (r) => assert.ok(r.now > 0), // answered before the close
      (e: CartwireError) => assert.equal(e.code, 'CLOSED'),
    );
    await assert.rejects(c.call('ping', {}), (e: CartwireError) => e.code === 'CLOSED' && e.details?.sent === false);
  }
});

test('a token the restarted server refuses (signed with another key) stops reconnecting with UNAUTHENTICATED', async (t) => {
  const port = await freePort();
  const first = await startEdgeTestServer(t, { PORT: String(port), JWT_SECRET: 'a'.repeat(40) });
  const c = await CartwireClient.connect(first.url, { reconnect: FAST, timeoutMs: 30_000 });
  t.after(() => c.close());
  const states = recordStates(c);
  const errors: unknown[] = [];
  c.on('error', (e) => errors.push(e));
  const { token } = await c.call('auth.guest', {});
  await c.subscribe('cart', () => {}).ready;

  await first.close(); // 1001: a reconnect is in order
  await until(() => states.some((s) => s.state === 'reconnecting'), { what: 'reconnecting' });
  const waiting = c.call('cart.get', {});
  // Same port, new key: the remembered token now looks forged.
  await startEdgeTestServer(t, { PORT: String(port), JWT_SECRET: 'b'.repeat(40) });
  await assert.rejects(waiting, (e: CartwireError) => e.code === 'UNAUTHENTICATED');
  const closed = await c.whenClosed();
  assert.equal(c.state, 'closed');
  const last = states.at(-1)!;
  assert.equal(last.state, 'closed');
  assert.equal(last.info.error?.code, 'UNAUTHENTICATED');
  assert.equal(closed.code, 1000);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as CartwireError).code, 'UNAUTHENTICATED');
  assert.equal(states.filter((s) => s.state === 'connecting').length, states.filter((s) => s.state === 'reconnecting').length, 'no attempt after the refusal');
  await assert.rejects(c.call('ping', {}), { code: 'CLOSED' });

  // The same token given at connect: connect() itself rejects, nothing retries.
  await assert.rejects(CartwireClient.connect(`http://127.0.0.1:${port}`, { token, reconnect: FAST }), { code: 'UNAUTHENTICATED' });
});

test('backoff is exponential with full jitter, capped; the no-retry close codes', async () => {
  const p = { baseDelayMs: 100, maxDelayMs: 10_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 8, 20].map((n) => backoffDelay(n, p, () => 0.999999)),
    [99, 199, 399, 799, 9999, 9999],
  );
  assert.equal(
    backoffDelay(5, p, () => 0),
    0,
  );
  const spread = Array.from({ length: 200 }, () => backoffDelay(3, p));
  assert.ok(spread.every((d) => d >= 0 && d < 400) && new Set(spread).size > 50, 'uniform over [0, 400)');
  for (const code of [1008, 1009, 1002, 1003, 1007]) assert.equal(shouldReconnect(code), false, String(code));
  for (const code of [1000, 1001, 1005, 1006, 1011, 1012, 1013]) assert.equal(shouldReconnect(code), true, String(code));
  await assert.rejects(CartwireClient.connect('http://127.0.0.1:1', { reconnect: { baseDelayMs: -1 } }), /reconnect\.baseDelayMs must be a positive number/);
});
