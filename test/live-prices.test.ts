// Live prices over real sockets (docs/protocol.md "Cart", live prices): a price change reaches
// subscribed carts at once (one cart.updated push, one new version), unwatched carts with their
// next change, checkout charges the current price, and the admin feed gets price_changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { connectAdmin, connectGuest, startTestServer, until } from './helpers/server.js';
import { CartwireClient, type CartwireError } from '../src/client/index.js';
import type { CartView } from '../src/protocol/types.js';
import { errorOf } from './helpers/commerce.js';

const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

const pushesOf = <T>(c: CartwireClient, name: string): T[] => {
  const got: T[] = [];
  c.onPush((push, data) => push === name && got.push(data as T));
  return got;
};

const price = (cart: CartView, sku: string) => cart.items.find((l) => l.sku === sku)?.unitPrice;

async function rig(t: TestContext) {
  const srv = await startTestServer(t, { SEED_DEMO: '0' });
  const clients: CartwireClient[] = [];
  t.after(() => Promise.all(clients.map((c) => c.close())));
  const admin = await connectAdmin(srv.url);
  clients.push(admin);
  const guest = async () => {
    const c = await connectGuest(srv.url);
    clients.push(c);
    return c;
  };
  /** Upserts product `lp` with these prices and gives each sku stock. */
  const product = async (prices: Record<string, number>, productId = 'lp') => {
    await admin.call('catalog.upsert', {
      productId,
      name: 'Live priced',
      category: 'test',
      variants: Object.entries(prices).map(([sku, p]) => ({ sku, price: p })),
    });
  };
  const stock = (sku: string) => admin.call('inventory.adjust', { sku, type: 'adjustment', qty: 100, reason: 'test stock' });
  return { srv, admin, guest, product, stock, clients };
}

test('a price change reaches a subscribed cart at once (one push, one new version); an unwatched cart takes it with its next change; the admin feed gets price_changed', async (t) => {
  const { srv, admin, guest, product, stock, clients } = await rig(t);
  await product({ 'lp-a': 1000, 'lp-b': 500 });
  await Promise.all([stock('lp-a'), stock('lp-b')]);
  const feed = pushesOf<Record<string, unknown>>(admin, 'price_changed');
  await admin.call('admin.subscribe', {});

  // One user on two devices, both subscribed to the cart.
  const watcher = await CartwireClient.connect(srv.url);
  const secondDevice = await CartwireClient.connect(srv.url);
  clients.push(watcher, secondDevice);
  const { token } = await watcher.call('auth.guest', {});
  await secondDevice.call('auth.resume', { token });
  const watched = await watcher.call('cart.add', { sku: 'lp-a', qty: 2 });
  const onWatcher = pushesOf<CartView>(watcher, 'cart.updated');
  const onSecond = pushesOf<CartView>(secondDevice, 'cart.updated');
  await watcher.call('cart.subscribe', {});
  await secondDevice.call('cart.subscribe', {});

  const bystander = await guest(); // watches a cart without the repriced sku
  const onBystander = pushesOf<CartView>(bystander, 'cart.updated');
  await bystander.call('cart.add', { sku: 'lp-b', qty: 1 });
  await bystander.call('cart.subscribe', {});
  const idle = await guest(); // holds the sku, subscribed to nothing
  const idleBefore = await idle.call('cart.add', { sku: 'lp-a', qty: 1 });

  await product({ 'lp-a': 1200, 'lp-b': 500 });
  await until(() => onWatcher.length >= 1 && onSecond.length >= 1, { what: 'the watched cart repriced on both devices' });
  await until(() => feed.length >= 1, { what: 'price_changed on the admin feed' });
  const pushed = onWatcher[0];
  assert.equal(price(pushed, 'lp-a'), 1200);
  assert.equal(pushed.version, watched.version + 1, 'one new version');
  assert.deepEqual([pushed.subtotal, pushed.total], [2400, 2400 + 499]);
  assert.deepEqual(await watcher.call('cart.get', {}), pushed, 'the push is the cart of that version');
  assert.deepEqual(onSecond, [pushed], 'the other device got the same push');
  assert.deepEqual({ ...feed[0], at: 0 }, { productId: 'lp', changes: [{ sku: 'lp-a', from: 1000, to: 1200, currency: 'USD' }], at: 0 });

  // The unwatched cart still shows the price it was given, until its next change.
  const stale = await idle.call('cart.get', {});
  assert.deepEqual([price(stale, 'lp-a'), stale.version], [1000, idleBefore.version]);
  const next = await idle.call('cart.add', { sku: 'lp-b', qty: 1 });
  assert.deepEqual([price(next, 'lp-a'), price(next, 'lp-b'), next.subtotal], [1200, 500, 1700]);

  // Nothing else moved: no push to a cart without the sku, no second push, one price_changed.
  await product({ 'lp-a': 1200, 'lp-b': 500 }); // the same prices: no event, no push
  await Promise.all([watcher.call('ping', {}), bystander.call('ping', {}), admin.call('ping', {})]);
  assert.equal(onWatcher.length, 1);
  assert.equal(onSecond.length, 1);
  assert.deepEqual(onBystander, []);
  assert.equal(feed.length, 1);
});

test('an unwatched cart that takes a new price with its next change moves one version, as every change does', async (t) => {
  const { admin, guest, product, stock } = await rig(t);
  await product({ 'lp-a': 1000, 'lp-b': 500 });
  await Promise.all([stock('lp-a'), stock('lp-b')]);
  const idle = await guest();
  const before = await idle.call('cart.add', { sku: 'lp-a', qty: 1 });
  await product({ 'lp-a': 1100, 'lp-b': 500 });
  await admin.call('ping', {});
  const next = await idle.call('cart.add', { sku: 'lp-b', qty: 1 });
  assert.equal(price(next, 'lp-a'), 1100);
  assert.equal(next.version, before.version + 1, 'docs/protocol.md: version grows by one per change');
});

test('two prices of a watched cart changed in one upsert: one push whose version follows the previous one', async (t) => {
  const { guest, product, stock } = await rig(t);
  await product({ 'lp-a': 1000, 'lp-b': 500 });
  await Promise.all([stock('lp-a'), stock('lp-b')]);
  const watcher = await guest();
  await watcher.call('cart.add', { sku: 'lp-a', qty: 1 });
  const before = await watcher.call('cart.add', { sku: 'lp-b', qty: 1 });
  const pushes = pushesOf<CartView>(watcher, 'cart.updated');
  await watcher.call('cart.subscribe', {});
  await product({ 'lp-a': 900, 'lp-b': 450 });
  await until(() => pushes.some((c) => price(c, 'lp-a') === 900 && price(c, 'lp-b') === 450), { what: 'both lines repriced' });
  await watcher.call('ping', {});
  assert.deepEqual(
    pushes.map((c) => c.version),
    [before.version + 1],
    'one push, the next version',
  );
});

test('checkout charges the current price, up or down, also for a cart that never saw the change; a retry of the key returns the same order', async (t) => {
  const { admin, guest, product, stock } = await rig(t);
  await product({ 'lp-up': 1000, 'lp-down': 3000 });
  await Promise.all([stock('lp-up'), stock('lp-down')]);
  const buyer = await guest();
  await buyer.call('cart.add', { sku: 'lp-up', qty: 2 });
  const cart = await buyer.call('cart.add', { sku: 'lp-down', qty: 1 });
  assert.equal(cart.subtotal, 5000);
  await product({ 'lp-up': 1250, 'lp-down': 2500 });
  await admin.call('ping', {});
  const seen = await buyer.call('cart.get', {});
  assert.equal(seen.subtotal, 5000, 'the unwatched cart still shows the old prices');

  const args = { idempotencyKey: 'live', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS };
  const order = await buyer.call('checkout', args);
  assert.equal(order.status, 'confirmed');
  assert.deepEqual(
    order.items.map((l) => [l.sku, l.unitPrice, l.lineTotal]),
    [
      ['lp-up', 1250, 2500],
      ['lp-down', 2500, 2500],
    ],
  );
  // 5000 at the new prices too: free shipping, GB 20%.
  assert.deepEqual(order.totals, { subtotal: 5000, discount: 0, tax: 1000, shipping: 0, total: 6000 });
  const again = await buyer.call('checkout', args);
  assert.equal(again.orderId, order.orderId, 'the retry names the same order');
  assert.equal((await admin.call('inventory.get', { sku: 'lp-up' })).onHand, 98, 'sold once');

  // The gateway captured the new total: a full refund of it is accepted, one unit more is not.
  const over = await errorOf(admin.call('order.refund', { orderId: order.orderId, amount: 6001 }));
  assert.equal(over.code, 'CONFLICT');
  assert.equal(over.details?.captured, 6000);
});

test('a line whose product was archived after it was added is not sold at checkout', async (t) => {
  const { admin, guest, stock } = await rig(t);
  await admin.call('catalog.upsert', { productId: 'gone', name: 'Gone soon', category: 'test', variants: [{ sku: 'gone-a', price: 1000 }] });
  await stock('gone-a');
  const buyer = await guest();
  await buyer.call('cart.add', { sku: 'gone-a', qty: 1 });
  await admin.call('catalog.upsert', {
    productId: 'gone',
    name: 'Gone soon',
    category: 'test',
    status: 'archived',
    variants: [{ sku: 'gone-a', price: 1000 }],
  });
  await admin.call('ping', {});
  const outcome = await buyer.call('checkout', { idempotencyKey: 'gone', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS }).then(
    (o) => o.status,
    (e: CartwireError) => e.code,
  );
  assert.notEqual(outcome, 'confirmed', 'an archived product is not for sale');
  assert.equal((await admin.call('inventory.get', { sku: 'gone-a' })).onHand, 100);
});
