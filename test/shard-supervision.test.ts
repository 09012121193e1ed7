// A shard worker thread that dies is restarted and recovers from its journal: the requests it
// held are answered UNAVAILABLE (none is left unanswered), the other shards keep serving, what was
// acknowledged is still there, subscriptions keep their pushes, and a shard that keeps dying is
// restarted after a growing delay. The worker is killed for real: FAULT_CRASH_SHARD_ON makes a
// request for one key throw an uncaught error in its worker.
import { test } from 'node:test';
import { rmSync } from 'node:fs';
import assert from 'node:assert/strict';
import { stableHash, couponKey } from '../src/protocol/keys.js';
import type { CartView } from '../src/protocol/types.js';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import { connect, connectGuest, guestOnShard, serverRestarts, startTestServer, tmpDataDir, until } from './helpers/server.js';

const SHARDS = 2;
const BOOM = 'BOOM';
const boomShard = stableHash(couponKey(BOOM)) % SHARDS;

/** A guest whose cart lives on `shard`, closed after the test. */
async function guestOn(url: string, shard: number, t: { after(fn: () => unknown): void }): Promise<{ c: CartwireClient; userId: string; token: string }> {
  const g = await guestOnShard(url, SHARDS, shard);
  t.after(() => g.c.close());
  return g;
}

async function settle(p: Promise<unknown>): Promise<{ ok: true } | { ok: false; code: string; details: Record<string, unknown> }> {
  try {
    await p;
    return { ok: true };
  } catch (err) {
    if (err instanceof CartwireError) return { ok: false, code: err.code, details: err.details ?? {} };
    throw err;
  }
}

async function metric(url: string, line: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.split('\n').find((l) => l.startsWith(`${line} `));
  return m === undefined ? undefined : Number(m.slice(line.length + 1));
}

test('a shard worker that dies: its requests answer UNAVAILABLE, other shards serve, it restarts with what was acknowledged and its subscribers', async (t) => {
  const srv = await startTestServer(t, { SHARDS: String(SHARDS), FAULT_CRASH_SHARD_ON: couponKey(BOOM) });
  const victim = await guestOn(srv.url, boomShard, t);
  const bystander = await guestOn(srv.url, 1 - boomShard, t);
  await victim.c.call('cart.add', { sku: 'soap-bar', qty: 2 });

  // A second device of the victim follows the cart: after the restart it must still hear changes.
  const device = await connect(srv.url);
  t.after(() => device.close());
  await device.call('auth.resume', { token: victim.token });
  const seen: CartView[] = [];
  device.onPush((push, data) => {
    if (push === 'cart.updated') seen.push(data as CartView);
  });
  await device.call('cart.subscribe', {});

  // One frame: three adds and the coupon read that kills the worker, all in its batch.
  const calls = [
    settle(victim.c.call('cart.add', { sku: 'soap-bar', qty: 1 })),
    settle(victim.c.call('cart.add', { sku: 'kite', qty: 1 })),
    settle(victim.c.call('cart.setQty', { sku: 'soap-bar', qty: 9 })),
    settle(victim.c.call('cart.applyCoupon', { code: BOOM })),
  ];
  const crashedAt = performance.now();
  const answers = await Promise.all(calls);
  for (const a of answers) {
    assert.ok(!a.ok && a.code === 'UNAVAILABLE', `a request in the dying batch answers UNAVAILABLE, got ${JSON.stringify(a)}`);
    assert.ok(typeof a.details.retryAfterMs === 'number' && a.details.retryAfterMs > 0, 'with retryAfterMs');
    assert.equal(a.details.applied, undefined, 'the batch was not committed: nothing applied');
  }
  const readyDuring = await fetch(`${srv.url}/readyz`);
  assert.equal(readyDuring.status, 503, '/readyz is 503 while the shard restarts');
  const body = (await readyDuring.json()) as { down: { shard: number }[] };
  assert.deepEqual(
    body.down.map((d) => d.shard),
    [boomShard],
  );

  // The other shard serves meanwhile.
  const other = await bystander.c.call('cart.add', { sku: 'soap-bar', qty: 1 });
  assert.equal(other.items[0].qty, 1);

  await until(async () => (await fetch(`${srv.url}/readyz`)).status === 200, { timeoutMs: 10_000, what: 'the shard serving again' });
  const servingAfterMs = performance.now() - crashedAt;
  t.diagnostic(`shard ${boomShard} served again ${Math.round(servingAfterMs)} ms after its worker died`);

  // Only what was acknowledged: the two units added before the crash.
  const cart = await victim.c.call('cart.get', {});
  assert.deepEqual(
    cart.items.map((l) => [l.sku, l.qty]),
    [['soap-bar', 2]],
  );
  const after = await victim.c.call('cart.add', { sku: 'kite', qty: 1 });
  await until(() => seen.some((c) => c.version === after.version), { what: 'the subscriber hearing a change made after the restart' });

  assert.equal(await metric(srv.url, `cartwire_shard_restarts_total{shard="${boomShard}"}`), 1);
  assert.equal(await metric(srv.url, `cartwire_shard_restarts_total{shard="${1 - boomShard}"}`), 0);
  assert.equal(await metric(srv.url, `cartwire_shard_up{shard="${boomShard}"}`), 1);
});

test('a shard that keeps dying is restarted after a growing delay, and new requests meanwhile answer UNAVAILABLE at once', async (t) => {
  const srv = await startTestServer(t, { SHARDS: String(SHARDS), FAULT_CRASH_SHARD_ON: couponKey(BOOM) });
  const c = await connectGuest(srv.url);
  t.after(() => c.close());
  const waits: number[] = [];
  for (let round = 0; round < 4; round++) {
    await until(async () => (await fetch(`${srv.url}/readyz`)).status === 200, { timeoutMs: 15_000, what: `shard up before crash ${round + 1}` });
    const a = await settle(c.call('cart.applyCoupon', { code: BOOM }));
    assert.ok(!a.ok && a.code === 'UNAVAILABLE');
    // While it is down, a request for it is refused at once with the time to wait.
    const b = await settle(c.call('cart.applyCoupon', { code: BOOM }));
    assert.ok(!b.ok && b.code === 'UNAVAILABLE');
    waits.push(b.details.retryAfterMs as number);
  }
  t.diagnostic(`retryAfterMs over four crashes in a row: ${waits.join(', ')}`);
  for (let i = 1; i < waits.length; i++) assert.ok(waits[i] > waits[i - 1], `the restart delay grows: ${waits.join(', ')}`);
});

test('a shard that dies while the server stops is not restarted: the process exits', async (t) => {
  // A child process: were a worker restarted, the stopping server would stay alive, and the kill
  // at the end of the test (serverRestarts) ends it instead of a hung test file.
  const srv = await serverRestarts(t, tmpDataDir(t))({ FAULT_CRASH_SHARD_AT_STOP: '1' });
  const c = await connectGuest(srv.url);
  assert.equal((await c.call('cart.add', { sku: 'soap-bar', qty: 1 })).items.length, 1);
  await c.close();
  const late = new Promise((resolve) => setTimeout(resolve, 20_000, 'still stopping after 20 s').unref());
  assert.equal(await Promise.race([srv.term(), late]), 0, 'SIGTERM: the server stopped and exited cleanly');
  assert.match(srv.output(), /failed while stopping/, 'the shards did die while stopping');
});

test('a server whose data directory is removed under it still stops: no shard keeps the stop waiting', async (t) => {
  // A child process, as above: a stop that hangs fails at 20 s instead of hanging the test file.
  const dataDir = tmpDataDir(t);
  const start = serverRestarts(t, dataDir);
  assert.equal(await (await start()).term(), 0);
  // Started again on the same data: nothing to seed, so its first commit is the snapshot at stop.
  const srv = await start();
  const c = await connectGuest(srv.url);
  assert.equal((await c.call('cart.get', {})).items.length, 0);
  await c.close();
  // The data directory disappears under the running server while it stops: stopping must not hang.
  rmSync(dataDir, { recursive: true, force: true });
  const late = new Promise((resolve) => setTimeout(resolve, 20_000, 'still stopping after 20 s').unref());
  assert.equal(await Promise.race([srv.term(), late]), 0, 'SIGTERM: the server stopped and exited cleanly');
});
