// Live carts and stock: pushes after every committed change, to every connection of the user,
// in version order, and never for a change that was not acknowledged.
import test from 'node:test';
import assert from 'node:assert/strict';
import { CartwireClient } from '../src/client/index.js';
import { connectAdmin, connectGuest, startTestServer, until, ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';
import type { CartView, InventoryView } from '../src/protocol/types.js';

const pushesOf = <T>(c: CartwireClient, name: string): T[] => {
  const got: T[] = [];
  c.onPush((push, data) => push === name && got.push(data as T));
  return got;
};

test("two devices of one user see each other's cart changes, one push per version, in order", async (t) => {
  const server = await startTestServer(t);
  const phone = await CartwireClient.connect(server.url);
  const { token } = await phone.call('auth.guest', {});
  const laptop = await CartwireClient.connect(server.url);
  await laptop.call('auth.resume', { token });
  const onLaptop = pushesOf<CartView>(laptop, 'cart.updated');
  const onPhone = pushesOf<CartView>(phone, 'cart.updated');
  const start = await laptop.call('cart.subscribe', {});
  assert.equal(start.version, 0);
  await phone.call('cart.subscribe', {});

  const a = await phone.call('cart.add', { sku: 'tee-classic-m', qty: 2 });
  const b = await laptop.call('cart.setQty', { sku: 'mug-stoneware-sand', qty: 1 });
  const c = await phone.call('cart.add', { sku: 'tee-classic-m', qty: 2 }); // over the limit? no: 4 of 30
  const unchanged = await laptop.call('cart.setQty', { sku: 'mug-stoneware-sand', qty: 1 }); // no change, no push
  assert.deepEqual([a.version, b.version, c.version, unchanged.version], [1, 2, 3, 3]);

  await until(() => onLaptop.length >= 3 && onPhone.length >= 3, { what: 'three pushes on each device' });
  for (const got of [onLaptop, onPhone]) {
    assert.deepEqual(
      got.map((x) => x.version),
      [1, 2, 3],
    );
    assert.deepEqual(got[2], c); // the push is the full object of that version
  }
  await phone.call('ping', {}); // a round trip after the last push: nothing more arrived
  assert.equal(onLaptop.length, 3);
  await phone.close();
  await laptop.close();
});

test('unsubscribe stops pushes; subscribing twice counts once; a closed device stops costing pushes', async (t) => {
  const server = await startTestServer(t);
  const a = await connectGuest(server.url);
  const got = pushesOf<CartView>(a, 'cart.updated');
  await a.call('cart.subscribe', {});
  await a.call('cart.subscribe', {}); // idempotent
  await a.call('cart.add', { sku: 'tee-classic-m', qty: 1 });
  await until(() => got.length === 1, { what: 'first push' });
  const after = await a.call('cart.unsubscribe', {});
  assert.equal(after.version, 1);
  await a.call('cart.add', { sku: 'tee-classic-m', qty: 1 });
  await a.call('ping', {});
  assert.equal(got.length, 1, 'no push after unsubscribe');
  await a.close();
});

test('inventory.subscribe pushes stock changes; admins get inventory.lowStock when available crosses the threshold', async (t) => {
  const server = await startTestServer(t);
  const admin = await connectAdmin(server.url);
  const shopper = await connectGuest(server.url);
  const stock = pushesOf<InventoryView>(shopper, 'inventory.updated');
  const low = pushesOf<{ sku: string; available: number; lowStockThreshold: number }>(admin, 'inventory.lowStock');
  await admin.call('admin.subscribe', {});
  const first = await shopper.call('inventory.subscribe', { sku: 'webcam-hd' });
  assert.equal(first.available, 20);
  await assert.rejects(shopper.call('inventory.subscribe', { sku: 'no-such-sku' }), { code: 'NOT_FOUND' });
  await assert.rejects(shopper.call('admin.subscribe', {}), { code: 'FORBIDDEN' });

  await admin.call('inventory.adjust', { sku: 'webcam-hd', type: 'sale', qty: 10, reason: 'store sale' }); // 10 left
  await admin.call('inventory.adjust', { sku: 'webcam-hd', type: 'sale', qty: 6, reason: 'store sale' }); // 4 left: crosses 5
  await admin.call('inventory.adjust', { sku: 'webcam-hd', type: 'sale', qty: 1, reason: 'store sale' }); // 3 left: already low
  await until(() => stock.length === 3 && low.length === 1, { what: 'stock pushes and one low-stock alert' });
  assert.deepEqual(
    stock.map((s) => s.available),
    [10, 4, 3],
  );
  assert.deepEqual(low[0], { sku: 'webcam-hd', available: 4, lowStockThreshold: 5, version: first.version + 2 });
  await admin.close();
  await shopper.close();
});

test('a change whose commit failed is never pushed', async (t) => {
  // A sku outside the demo catalog, so that seeding is not affected by the fault.
  const server = await startTestServer(t, { FAULT_FAIL_COMMITS_FOR: 'sku:fault-sku' });
  const admin = await connectAdmin(server.url);
  await admin.call('catalog.upsert', { productId: 'fault', name: 'Fault', category: 'test', variants: [{ sku: 'fault-sku', price: 100 }] });
  const watcher = await connectGuest(server.url);
  const stock = pushesOf<InventoryView>(watcher, 'inventory.updated');
  await watcher.call('inventory.subscribe', { sku: 'fault-sku' });
  await assert.rejects(admin.call('inventory.adjust', { sku: 'fault-sku', type: 'purchase', qty: 5, reason: 'restock' }), { code: 'UNAVAILABLE' });
  await admin.call('inventory.adjust', { sku: 'mouse-ergo', type: 'purchase', qty: 5, reason: 'restock' });
  await watcher.call('ping', {});
  assert.deepEqual(stock, []);
  await admin.close();
  await watcher.close();
});

test('subscriptions of a closed connection are given back: the shards stop encoding pushes', async (t) => {
  const server = await startTestServer(t);
  const admin = await CartwireClient.connect(server.url);
  const { token } = await admin.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
  const summary = async () => {
    const res = await fetch(`${server.url}/snapshot`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { shards: { watchedActors: number; adminFeed: boolean }[] };
    return { watched: body.shards.reduce((n, s) => n + s.watchedActors, 0), feeds: body.shards.filter((s) => s.adminFeed).length };
  };
  const devices = await Promise.all(Array.from({ length: 4 }, () => connectGuest(server.url)));
  for (const d of devices) {
    await d.call('cart.subscribe', {});
    await d.call('inventory.subscribe', { sku: 'tee-classic-m' });
  }
  await admin.call('admin.subscribe', {});
  await until(async () => (await summary()).watched === 5 && (await summary()).feeds === 2, { what: '4 carts + 1 sku watched, feed on' });
  for (const d of devices) await d.close();
  await admin.close();
  const probe = await connectAdmin(server.url);
  await until(
    async () => {
      const s = await summary();
      return s.watched === 0 && s.feeds === 0;
    },
    { what: 'every watch given back' },
  );
  await probe.close();
});

test('the subscription limit per connection answers LIMIT_EXCEEDED and keeps the connection', async (t) => {
  const server = await startTestServer(t);
  const c = await connectGuest(server.url);
  const admin = await connectAdmin(server.url);
  const variants = Array.from({ length: 101 }, (_, i) => ({ sku: `bulk-${i}`, price: 100 }));
  for (let i = 0; i < 101; i += 100)
    await admin.call('catalog.upsert', { productId: `bulk-${i}`, name: 'Bulk', category: 'test', variants: variants.slice(i, i + 100) });
  const results = await Promise.allSettled(variants.map((v) => c.call('inventory.subscribe', { sku: v.sku })));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 100);
  const refused = results.filter((r) => r.status === 'rejected');
  assert.equal(refused.length, 1);
  assert.equal((refused[0].reason as { code: string }).code, 'LIMIT_EXCEEDED');
  assert.ok((await c.call('ping', {})).now > 0);
  await c.close();
  await admin.close();
});
