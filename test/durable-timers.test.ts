// Hold expiry is a durable timer: it survives kill -9 and restarts, fires by itself (no client
// touches the sku), and is neither left behind once the hold is gone nor lost when the commit of
// the timer command fails. No wire op creates holds yet (checkout will), so holds are made
// through ShardRuntime on the server's own shard file while the server is down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShardRuntime } from '../src/workers/shard/shard-runtime.js';
import { serverRestarts, shardSummaries, connect, connectGuest, until, tmpDataDir, ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';
import { holdOffline as holdOn, run, shardOf, shardOptions, timerRowsOnDisk, type TimerRow } from './helpers/holds.js';

const SHARDS = 2;
const holdOffline = (dataDir: string, sku: string, holdId: string, qty: number, ttlMs: number) => holdOn(dataDir, SHARDS, sku, holdId, qty, ttlMs);

function timerRows(rt: ShardRuntime): TimerRow[] {
  return rt.db.prepare('SELECT actor, due FROM timers ORDER BY actor').all() as TimerRow[];
}

test('a hold released by its expiry timer leaves no durable timer behind', (t) => {
  const dir = tmpDataDir(t);
  const rt = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => rt.db.open && rt.db.close());
  const T = 1_800_000_000_000;
  run(rt, 'sku:a', [{ type: 'adjust', txType: 'purchase', qty: 10, reason: 'stock', warehouse: 'main' } as { type: string }], T);
  run(rt, 'sku:a', [{ type: 'reserve', holdId: 'o1', qty: 4, ttlMs: 1000 } as { type: string }], T);
  assert.deepEqual(timerRows(rt), [{ actor: 'sku:a', due: T + 1000 }]);
  assert.deepEqual(rt.dueTimers(T + 999), []);
  assert.deepEqual(rt.dueTimers(T + 1000), ['sku:a']);
  const [r] = run(rt, 'sku:a', [{ type: 'timer' }], T + 1000);
  assert.equal(r.result?.reserved, 0);
  assert.deepEqual(timerRows(rt), [], 'the durable timer row goes with the last hold');
  assert.equal(rt.nextTimerAt(), undefined);
  rt.db.close();
  const again = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => again.db.open && again.db.close());
  assert.equal(again.nextTimerAt(), undefined, 'a restart has no timer to fire');
  assert.equal(again.summary().timers, 0);
});

test('a timer left stale by an earlier version is cleaned up when it fires', (t) => {
  const dir = tmpDataDir(t);
  const rt = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => rt.db.open && rt.db.close());
  const T = 1_800_000_000_000;
  run(rt, 'sku:a', [{ type: 'adjust', txType: 'purchase', qty: 10, reason: 'stock', warehouse: 'main' } as { type: string }], T);
  rt.db.prepare('INSERT INTO timers (actor, due) VALUES (?, ?)').run('sku:a', T); // nothing is held
  rt.db.close();
  const again = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => again.db.open && again.db.close());
  assert.deepEqual(again.dueTimers(T + 1), ['sku:a']);
  const [r] = run(again, 'sku:a', [{ type: 'timer' }], T + 1);
  assert.equal(r.ok, true);
  assert.equal(r.result?.version, 1, 'the timer changed nothing');
  assert.deepEqual(timerRows(again), []);
});

test('a timer command whose commit fails is due again, and releases the hold once the disk works', (t) => {
  const dir = tmpDataDir(t);
  const opts = shardOptions(dir, 0);
  const rt = new ShardRuntime(opts);
  t.after(() => rt.db.open && rt.db.close());
  const error = console.error;
  console.error = () => {}; // the runtime logs the simulated failure
  t.after(() => (console.error = error));
  const T = 1_800_000_000_000;
  run(rt, 'sku:a', [{ type: 'adjust', txType: 'purchase', qty: 10, reason: 'stock', warehouse: 'main' } as { type: string }], T);
  run(rt, 'sku:a', [{ type: 'reserve', holdId: 'o1', qty: 4, ttlMs: 1000 } as { type: string }], T);

  opts.failCommitsFor = 'sku:a';
  assert.deepEqual(rt.dueTimers(T + 1000), ['sku:a']);
  const [failed] = run(rt, 'sku:a', [{ type: 'timer' }], T + 1000);
  assert.equal(failed.error?.code, 'UNAVAILABLE');
  assert.equal(rt.nextTimerAt(), T + 1000, 'the timer is armed again at its due time');
  assert.deepEqual(timerRows(rt), [{ actor: 'sku:a', due: T + 1000 }]);

  opts.failCommitsFor = undefined;
  assert.deepEqual(rt.dueTimers(T + 1001), ['sku:a']);
  const [ok] = run(rt, 'sku:a', [{ type: 'timer' }], T + 1001);
  assert.equal(ok.result?.reserved, 0);
  assert.equal(ok.result?.available, 10);
  assert.equal(rt.nextTimerAt(), undefined);
  assert.deepEqual(timerRows(rt), []);
});

// ---- the real server ----

const summary = shardSummaries;

/** The sku's availability as the edge's committed catalog view shows it: reading it activates no actor. */
async function catalogAvailable(url: string, productId: string, sku: string): Promise<number | undefined> {
  const c = await connect(url);
  try {
    const p = await c.call('catalog.get', { productId });
    return p.variants.find((v) => v.sku === sku)?.available;
  } finally {
    await c.close();
  }
}

test('after kill -9 before the expiry and a restart, the sku releases its hold by its own timer', async (t) => {
  const dataDir = tmpDataDir(t);
  const env = { SHARDS: String(SHARDS) };
  const sku = 'tent-2p';
  const shard = shardOf(`sku:${sku}`, SHARDS);
  const start = serverRestarts(t, dataDir, env);

  // First start seeds the demo catalog; note the stock, then stop hard.
  const t0 = Date.now();
  const seed = await start();
  const startMs = Date.now() - t0;
  const guest = await connectGuest(seed.url);
  const before = await guest.call('inventory.get', { sku });
  await guest.close();
  assert.equal(before.reserved, 0);
  assert.ok(before.available >= 5, `demo stock of ${sku}: ${before.available}`);
  await seed.kill9();

  // A hold whose expiry leaves time for one more start (measured, so a slow machine gets more).
  const ttlMs = 4000 + 3 * startMs;
  const held = holdOffline(dataDir, sku, 'order-lost-coordinator', 5, ttlMs);
  assert.equal(held.view.reserved, 5);
  assert.equal(held.view.available, before.available - 5);

  assert.deepEqual(timerRowsOnDisk(dataDir, shard), [{ actor: `sku:${sku}`, due: held.expiresAt }]);

  // Started before the expiry: the timer is loaded, the stock view shows the hold; then kill -9.
  const b = await start();
  const admin = await connect(b.url);
  const { token } = await admin.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  await admin.close();
  assert.equal((await summary(b.url, token))[shard].timers, 1);
  assert.equal(await catalogAvailable(b.url, sku, sku), before.available - 5);
  assert.ok(Date.now() < held.expiresAt, `the server must be killed before the expiry (ttl ${ttlMs} ms was too short)`);
  await b.kill9();

  // Restarted: nobody touches the sku; the timer alone releases the hold at (not before) its expiry.
  const c = await start();
  await until(async () => (await summary(c.url, token))[shard].timers === 0, {
    timeoutMs: held.expiresAt - Date.now() + 10_000,
    what: 'the hold timer to fire after the restart',
  });
  const releasedBy = Date.now();
  assert.ok(releasedBy >= held.expiresAt, 'not released before its expiry');
  assert.equal(await catalogAvailable(c.url, sku, sku), before.available, 'available restored in the committed stock view');
  const g = await connectGuest(c.url);
  const after = await g.call('inventory.get', { sku });
  await g.close();
  assert.equal(after.reserved, 0);
  assert.equal(after.onHand, before.onHand);
  assert.equal(after.available, before.available);
  assert.equal(after.version, before.version + 2, 'one reserve and one release');
  assert.ok(after.updatedAt >= held.expiresAt, `released at ${after.updatedAt}, due ${held.expiresAt}`);
  await c.kill9();
  assert.deepEqual(timerRowsOnDisk(dataDir, shard), [], 'the released hold left no durable timer');

  // A hold that expires while the server is down is released as soon as it is back.
  const late = holdOffline(dataDir, sku, 'order-expired-while-down', 2, 1);
  await until(() => Date.now() > late.expiresAt, { what: 'the second hold to be past its expiry' });
  const d = await start();
  await until(async () => (await catalogAvailable(d.url, sku, sku)) === before.available, {
    timeoutMs: 10_000,
    what: 'the overdue hold to be released at start',
  });
  assert.equal((await summary(d.url, token))[shard].timers, 0);
  await d.kill9();
  assert.deepEqual(timerRowsOnDisk(dataDir, shard), [], 'the released hold left no durable timer');

  // And nothing comes back after one more crash and restart.
  const e = await start();
  assert.equal((await summary(e.url, token))[shard].timers, 0);
  const g2 = await connectGuest(e.url);
  const last = await g2.call('inventory.get', { sku });
  await g2.close();
  assert.deepEqual([last.onHand, last.reserved, last.available], [before.onHand, 0, before.available]);
  assert.equal(last.version, before.version + 4);
});
