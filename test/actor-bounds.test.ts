// Memory a client can make the server hold: a lookup of a key that does not exist leaves no actor
// behind, and MAX_ACTORS_PER_SHARD caps the actors in memory (the least recently used leave it,
// snapshotted first, and come back identical).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import type { CartView } from '../src/protocol/types.js';
import Database from 'better-sqlite3';
import { shardDbPath } from '../src/persistence/shard-db.js';
import { cartKey } from '../src/protocol/keys.js';
import { adminToken, connectAdmin, connectGuest, shardSummaries, startTestServer, until } from './helpers/server.js';

const actorsOf = async (url: string, token: string) => (await shardSummaries(url, token)).reduce((n, s) => n + s.actors, 0);

test('lookups of orders, coupons and carts that do not exist leave no actor in memory', async (t) => {
  const srv = await startTestServer(t, { SHARDS: '2' });
  const token = await adminToken(srv.url);
  const c = await connectGuest(srv.url);
  t.after(() => c.close());
  await c.call('cart.get', {}); // the caller's own empty cart: nothing on disk either
  const before = await actorsOf(srv.url, token);
  const N = 400;
  const answers = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      (i % 2 === 0 ? c.call('order.get', { orderId: `nx-order-${i}` }) : c.call('cart.applyCoupon', { code: `NX${i}` })).then(
        () => 'ok',
        (e: unknown) => (e instanceof CartwireError ? e.code : String(e)),
      ),
    ),
  );
  assert.deepEqual(new Set(answers), new Set(['NOT_FOUND']));
  // New guests reading their empty carts: nothing is stored for them, nothing stays in memory.
  for (let i = 0; i < 20; i++) {
    const g = await connectGuest(srv.url);
    assert.equal((await g.call('cart.get', {})).items.length, 0);
    await g.close();
  }
  assert.equal(await actorsOf(srv.url, token), before, 'no actor was created by the lookups');
  // A key that was looked up and then created works as usual.
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  await admin.call('coupon.upsert', { code: 'NX1', percentOff: 10 });
  await c.call('cart.add', { sku: 'soap-bar', qty: 1 });
  assert.equal((await c.call('cart.applyCoupon', { code: 'nx1' })).coupon, 'NX1');
});

test('MAX_ACTORS_PER_SHARD: past the cap the least recently used actors leave memory and read back identical', async (t) => {
  const CAP = 100;
  const srv = await startTestServer(t, { SHARDS: '2', MAX_ACTORS_PER_SHARD: String(CAP), PASSIVATE_AFTER_MS: '3600000' });
  const token = await adminToken(srv.url);
  const carts: { g: CartwireClient; cart: CartView }[] = [];
  for (let i = 0; i < 300; i++) {
    const g = await connectGuest(srv.url);
    carts.push({ g, cart: await g.call('cart.add', { sku: i % 2 ? 'soap-bar' : 'kite', qty: 1 + (i % 3) }) });
  }
  t.after(() => Promise.all(carts.map((c) => c.g.close())));
  await until(async () => (await shardSummaries(srv.url, token)).every((s) => s.actors <= CAP), { what: 'every shard at or under the cap' });
  const summaries = await shardSummaries(srv.url, token);
  t.diagnostic(`actors per shard after 300 carts with a cap of ${CAP}: ${summaries.map((s) => s.actors).join(', ')}`);
  for (const { g, cart } of carts) assert.deepEqual(await g.call('cart.get', {}), cart);
});

test('GUEST_CART_RETENTION_DAYS: a guest cart left alone is deleted; a customer cart and a busy guest cart are kept', async (t) => {
  // 0.00003 days = 2.6 s.
  const srv = await startTestServer(t, { SHARDS: '1', GUEST_CART_RETENTION_DAYS: '0.00003', PASSIVATE_AFTER_MS: '100', SWEEP_INTERVAL_MS: '50' });
  await adminToken(srv.url);
  const abandoned = await connectGuest(srv.url);
  const busy = await connectGuest(srv.url);
  const customer = await connectGuest(srv.url);
  t.after(() => Promise.all([abandoned.close(), busy.close(), customer.close()]));
  await customer.call('auth.register', { email: 'keeps-cart@example.com', password: 'long enough password' });
  const abandonedId = (await abandoned.call('cart.add', { sku: 'soap-bar', qty: 1 })).userId;
  const kept = await customer.call('cart.add', { sku: 'kite', qty: 2 });
  // The shard's own SQLite file, read by a second connection.
  const db = new Database(shardDbPath(srv.dataDir, 0), { readonly: true });
  t.after(() => db.close());
  const stored = () => db.prepare('SELECT count(*) AS n FROM snapshots WHERE actor = ?').get(cartKey(abandonedId)) as { n: number };
  await until(() => stored().n === 1, { what: 'the abandoned cart passivated (snapshotted)' });
  // The busy guest changes its cart all along: never older than the retention.
  let busyQty = 0;
  const deadline = Date.now() + 5_000;
  let gone = false;
  while (Date.now() < deadline && !gone) {
    busyQty = (await busy.call('cart.add', { sku: 'soap-bar', qty: 1 })).items[0].qty;
    gone = stored().n === 0;
    if (!gone) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(gone, 'the abandoned guest cart left the store');
  assert.deepEqual((await abandoned.call('cart.get', {})).items, [], 'it reads as a new, empty cart');
  assert.deepEqual((await customer.call('cart.get', {})).items, kept.items, 'a customer cart is never expired');
  assert.equal((await busy.call('cart.get', {})).items[0].qty, busyQty, 'a guest cart in use is kept');
});
