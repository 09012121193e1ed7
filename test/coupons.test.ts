// Coupons over real sockets: upsert and its validation, apply/remove on the cart with half-up
// discounts, tax and shipping in the cart (DEFAULT_COUNTRY) and in the order (the address's
// country), every refusal with its reason, and maxRedemptions under 200 concurrent checkouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { connectAdmin, connectGuest, startTestServer, until } from './helpers/server.js';
import { refused } from './helpers/commerce.js';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import type { CartView, OrderView } from '../src/protocol/types.js';

const GB = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const SE = { name: 'Greta Garbo', line1: 'Drottninggatan 1', city: 'Stockholm', postalCode: '111 51', country: 'SE' };

const totals = (c: CartView | OrderView) =>
  'totals' in c ? c.totals : { subtotal: c.subtotal, discount: c.discount, tax: c.tax, shipping: c.shipping, total: c.total };

async function rig(t: TestContext, env: Record<string, string> = {}) {
  // The cart has no address: its tax is DEFAULT_COUNTRY's, GB here (20%), so carts show tax too.
  const srv = await startTestServer(t, { SEED_DEMO: '0', DEFAULT_COUNTRY: 'GB', ...env });
  const clients: CartwireClient[] = [];
  t.after(() => Promise.all(clients.map((c) => c.close())));
  const admin = await connectAdmin(srv.url);
  clients.push(admin);
  const stock = async (sku: string, price: number, qty = 100) => {
    await admin.call('catalog.upsert', { productId: `p-${sku}`, name: `Product ${sku}`, category: 'test', variants: [{ sku, price }] });
    await admin.call('inventory.adjust', { sku, type: 'adjustment', qty, reason: 'test stock' });
  };
  const guest = async () => {
    const c = await connectGuest(srv.url);
    clients.push(c);
    return c;
  };
  return { srv, admin, stock, guest };
}

test('coupon.upsert: percent or amount with its terms; codes are case-insensitive; the same terms keep the version; bad terms and non-admins are refused', async (t) => {
  const { admin, guest } = await rig(t);
  const expiresAt = Date.now() + 3_600_000;
  const pct = await admin.call('coupon.upsert', { code: 'save15', percentOff: 15 });
  assert.deepEqual({ ...pct, updatedAt: 0 }, { code: 'SAVE15', percentOff: 15, redeemed: 0, held: 0, version: 1, updatedAt: 0 });
  const amt = await admin.call('coupon.upsert', { code: 'TenOff', amountOff: 1000, currency: 'USD', minSubtotal: 3000, expiresAt, maxRedemptions: 5 });
  assert.deepEqual(
    { ...amt, updatedAt: 0 },
    { code: 'TENOFF', amountOff: 1000, currency: 'USD', minSubtotal: 3000, expiresAt, maxRedemptions: 5, redeemed: 0, held: 0, version: 1, updatedAt: 0 },
  );
  const again = await admin.call('coupon.upsert', { code: 'TENOFF', amountOff: 1000, currency: 'USD', minSubtotal: 3000, expiresAt, maxRedemptions: 5 });
  assert.equal(again.version, 1, 'the same terms change nothing');
  const changed = await admin.call('coupon.upsert', { code: 'tenoff', amountOff: 1200 });
  assert.deepEqual(
    { ...changed, updatedAt: 0 },
    { code: 'TENOFF', amountOff: 1200, redeemed: 0, held: 0, version: 2, updatedAt: 0 },
    'an upsert replaces every term',
  );

  await refused(admin.call('coupon.upsert', { code: 'BOTH', percentOff: 10, amountOff: 100 }), 'BAD_REQUEST', 'percent and amount');
  await refused(admin.call('coupon.upsert', { code: 'NONE' }), 'BAD_REQUEST', 'neither percent nor amount');
  await refused(admin.call('coupon.upsert', { code: 'HUGE', percentOff: 101 }), 'BAD_REQUEST', 'over 100%');
  await refused(admin.call('coupon.upsert', { code: 'bad code', percentOff: 10 }), 'BAD_REQUEST', 'a space in the code');
  const shopper = await guest();
  await refused(shopper.call('coupon.upsert', { code: 'MINE', percentOff: 90 }), 'FORBIDDEN', 'a guest upserting');
  await refused(shopper.call('cart.applyCoupon', { code: 'BOTH' }), 'NOT_FOUND', 'a refused upsert created nothing');
});

test('apply and remove: percent discounts round half up, amounts stop at the subtotal, tax and shipping follow subtotal - discount', async (t) => {
  const { admin, stock, guest } = await rig(t);
  await stock('c-1030', 1030);
  await stock('c-5882', 5882);
  await stock('c-5881', 5881);
  await admin.call('coupon.upsert', { code: 'SAVE15', percentOff: 15 });
  await admin.call('coupon.upsert', { code: 'BIG', amountOff: 100_000 });
  await admin.call('coupon.upsert', { code: 'TENOFF', amountOff: 1000, minSubtotal: 3000 });
  const buyer = await guest();

  const plain = await buyer.call('cart.add', { sku: 'c-1030', qty: 1 });
  assert.deepEqual(totals(plain), { subtotal: 1030, discount: 0, tax: 206, shipping: 499, total: 1735 });
  const applied = await buyer.call('cart.applyCoupon', { code: 'save15' });
  assert.equal(applied.coupon, 'SAVE15');
  assert.equal(applied.version, plain.version + 1);
  // 15% of 1030 = 154.5 -> 155; tax 20% of 875 = 175.
  assert.deepEqual(totals(applied), { subtotal: 1030, discount: 155, tax: 175, shipping: 499, total: 1549 });
  const three = await buyer.call('cart.setQty', { sku: 'c-1030', qty: 3 });
  // 15% of 3090 = 463.5 -> 464; 20% of 2626 = 525.2 -> 525.
  assert.deepEqual(totals(three), { subtotal: 3090, discount: 464, tax: 525, shipping: 499, total: 3650 });
  const removed = await buyer.call('cart.removeCoupon', {});
  assert.equal(removed.coupon, undefined);
  assert.deepEqual(totals(removed), { subtotal: 3090, discount: 0, tax: 618, shipping: 499, total: 4207 });
  assert.equal((await buyer.call('cart.removeCoupon', {})).version, removed.version, 'removing no coupon changes nothing');

  const amount = await buyer.call('cart.applyCoupon', { code: 'TENOFF' });
  assert.deepEqual(totals(amount), { subtotal: 3090, discount: 1000, tax: 418, shipping: 499, total: 3007 });
  const big = await buyer.call('cart.applyCoupon', { code: 'BIG' });
  assert.equal(big.coupon, 'BIG', 'a second coupon replaces the first');
  assert.deepEqual(totals(big), { subtotal: 3090, discount: 3090, tax: 0, shipping: 499, total: 499 }, 'never more than the subtotal');

  // Free shipping from subtotal - discount = 5000: 15% of 5882 = 882.3 -> 882 leaves 5000 exactly.
  await buyer.call('cart.clear', {});
  await buyer.call('cart.add', { sku: 'c-5882', qty: 1 });
  const free = await buyer.call('cart.applyCoupon', { code: 'SAVE15' });
  assert.deepEqual(totals(free), { subtotal: 5882, discount: 882, tax: 1000, shipping: 0, total: 6000 });
  await buyer.call('cart.clear', {});
  const under = await buyer.call('cart.add', { sku: 'c-5881', qty: 1 });
  // 882.15 -> 882 leaves 4999: shipping is due; 20% of 4999 = 999.8 -> 1000.
  assert.deepEqual(totals(under), { subtotal: 5881, discount: 882, tax: 1000, shipping: 499, total: 6498 }, 'the coupon stays on a cleared cart');
});

test('the order carries the coupon and prices tax for the shipping address: GB 20%, SE 25% half up, free shipping at 5000', async (t) => {
  const { admin, stock, guest } = await rig(t);
  await stock('o-5882', 5882);
  await stock('o-5880', 5880);
  await admin.call('coupon.upsert', { code: 'SAVE15', percentOff: 15 });
  const [uk, swede] = await Promise.all([guest(), guest()]);

  await uk.call('cart.add', { sku: 'o-5882', qty: 1 });
  await uk.call('cart.applyCoupon', { code: 'SAVE15' });
  const gb = await uk.call('checkout', { idempotencyKey: 'gb', payment: { token: 'tok_visa' }, shippingAddress: GB });
  assert.equal(gb.status, 'confirmed');
  assert.equal(gb.coupon, 'SAVE15');
  assert.deepEqual(totals(gb), { subtotal: 5882, discount: 882, tax: 1000, shipping: 0, total: 6000 });
  const emptied = await uk.call('cart.get', {});
  assert.deepEqual([emptied.items.length, emptied.coupon], [0, undefined], 'a placed order takes the coupon with it');

  await swede.call('cart.add', { sku: 'o-5880', qty: 1 });
  const cart = await swede.call('cart.applyCoupon', { code: 'SAVE15' });
  assert.deepEqual(totals(cart), { subtotal: 5880, discount: 882, tax: 1000, shipping: 499, total: 6497 }, 'the cart is taxed as GB (DEFAULT_COUNTRY)');
  const se = await swede.call('checkout', { idempotencyKey: 'se', payment: { token: 'tok_visa' }, shippingAddress: SE });
  // 25% of 4998 = 1249.5 -> 1250.
  assert.deepEqual(totals(se), { subtotal: 5880, discount: 882, tax: 1250, shipping: 499, total: 6747 });
  const view = await admin.call('coupon.upsert', { code: 'SAVE15', percentOff: 15 });
  assert.deepEqual([view.redeemed, view.held], [2, 0]);
});

test('refusals: unknown is NOT_FOUND; expired, below minSubtotal and another currency are CONFLICT with details.reason, at apply and again at checkout', async (t) => {
  const { admin, stock, guest } = await rig(t);
  await stock('r-1000', 1000);
  const now = Date.now();
  await admin.call('coupon.upsert', { code: 'OLD', percentOff: 10, expiresAt: now - 60_000 });
  await admin.call('coupon.upsert', { code: 'MIN50', percentOff: 10, minSubtotal: 5000 });
  await admin.call('coupon.upsert', { code: 'EURO', amountOff: 500, currency: 'EUR' });
  await admin.call('coupon.upsert', { code: 'LATER', percentOff: 20 });
  const buyer = await guest();
  const start = await buyer.call('cart.add', { sku: 'r-1000', qty: 2 });

  assert.deepEqual(await refused(buyer.call('cart.applyCoupon', { code: 'NOPE' }), 'NOT_FOUND', 'unknown'), { code: 'NOPE' });
  const expired = await refused(buyer.call('cart.applyCoupon', { code: 'old' }), 'CONFLICT', 'expired');
  assert.deepEqual([expired.code, expired.reason, expired.expiresAt], ['OLD', 'expired', now - 60_000]);
  const below = await refused(buyer.call('cart.applyCoupon', { code: 'MIN50' }), 'CONFLICT', 'below minSubtotal');
  assert.deepEqual([below.code, below.reason, below.minSubtotal, below.subtotal], ['MIN50', 'min_subtotal', 5000, 2000]);
  const euro = await refused(buyer.call('cart.applyCoupon', { code: 'EURO' }), 'CONFLICT', 'another currency');
  assert.equal(euro.reason, 'currency');
  assert.equal((await buyer.call('cart.get', {})).version, start.version, 'refusals change nothing');

  // Applies at 6 x 1000, then the cart drops below the minimum: no discount, and checkout refuses it.
  await buyer.call('cart.setQty', { sku: 'r-1000', qty: 6 });
  assert.equal((await buyer.call('cart.applyCoupon', { code: 'MIN50' })).discount, 600);
  const dropped = await buyer.call('cart.setQty', { sku: 'r-1000', qty: 4 });
  assert.deepEqual([dropped.coupon, dropped.discount], ['MIN50', 0], 'a coupon that no longer applies gives 0');
  const atCheckout = await refused(
    buyer.call('checkout', { idempotencyKey: 'min', payment: { token: 'tok_visa' }, shippingAddress: GB }),
    'CONFLICT',
    'checkout below minSubtotal',
  );
  // The coupon is held before the order is created: a refused coupon leaves no order behind.
  assert.deepEqual([atCheckout.code, atCheckout.reason, atCheckout.orderId], ['MIN50', 'min_subtotal', undefined]);
  assert.deepEqual((await buyer.call('order.list', {})).items, [], 'no order for a refused coupon');
  const inv = await admin.call('inventory.get', { sku: 'r-1000' });
  assert.deepEqual([inv.onHand, inv.reserved], [100, 0], 'nothing stays reserved');

  // Applied while valid, expired by the admin before checkout.
  await buyer.call('cart.applyCoupon', { code: 'LATER' });
  await admin.call('coupon.upsert', { code: 'LATER', percentOff: 20, expiresAt: Date.now() - 1 });
  const late = await refused(
    buyer.call('checkout', { idempotencyKey: 'later', payment: { token: 'tok_visa' }, shippingAddress: GB }),
    'CONFLICT',
    'checkout of an expired coupon',
  );
  assert.deepEqual([late.code, late.reason], ['LATER', 'expired']);
  // The cart thawed: it can change again (and a retry of the key starts afresh).
  await buyer.call('cart.setQty', { sku: 'r-1000', qty: 4 });

  // Expiring by the clock between apply and checkout.
  const soon = Date.now() + 400;
  await admin.call('coupon.upsert', { code: 'SOON', percentOff: 5, expiresAt: soon });
  await buyer.call('cart.applyCoupon', { code: 'SOON' });
  await until(() => Date.now() > soon, { what: 'the coupon expiry' });
  const clock = await refused(
    buyer.call('checkout', { idempotencyKey: 'soon', payment: { token: 'tok_visa' }, shippingAddress: GB }),
    'CONFLICT',
    'checkout after expiry',
  );
  assert.deepEqual([clock.code, clock.reason], ['SOON', 'expired']);

  // The cart thawed each time: without the coupon it checks out at full price.
  await buyer.call('cart.removeCoupon', {});
  const order = await buyer.call('checkout', { idempotencyKey: 'plain', payment: { token: 'tok_visa' }, shippingAddress: GB });
  assert.deepEqual([order.status, order.coupon, order.totals.discount, order.totals.subtotal], ['confirmed', undefined, 0, 4000]);
});

test('a coupon changed after it was applied: checkout uses its current terms, not the copy in the cart', async (t) => {
  const { admin, stock, guest } = await rig(t);
  await stock('f-2000', 2000);
  await admin.call('coupon.upsert', { code: 'FLASH', percentOff: 50 });
  const buyer = await guest();
  await buyer.call('cart.add', { sku: 'f-2000', qty: 1 });
  assert.equal((await buyer.call('cart.applyCoupon', { code: 'FLASH' })).discount, 1000);
  await admin.call('coupon.upsert', { code: 'FLASH', percentOff: 5 }); // the flash sale is over
  const order = await buyer.call('checkout', { idempotencyKey: 'flash', payment: { token: 'tok_visa' }, shippingAddress: GB });
  assert.equal(order.totals.discount, 100, 'the order got 5%, as the coupon now says');
});

test('maxRedemptions holds under 200 concurrent checkouts: exactly 50 redeem, the rest are CONFLICT exhausted, nothing stays held', async (t) => {
  const { admin, stock, guest } = await rig(t);
  const MAX = 50;
  const BUYERS = 200;
  await stock('race-a', 1000, 1000);
  const terms = { code: 'RACE', percentOff: 10, maxRedemptions: MAX };
  await admin.call('coupon.upsert', terms);
  const buyers = await Promise.all(Array.from({ length: BUYERS }, () => guest()));
  await Promise.all(
    buyers.map(async (b) => {
      await b.call('cart.add', { sku: 'race-a', qty: 1 });
      const c = await b.call('cart.applyCoupon', { code: 'RACE' });
      assert.equal(c.discount, 100);
    }),
  );

  const outcomes = await Promise.allSettled(
    buyers.map((b, i) => b.call('checkout', { idempotencyKey: `race-${i}`, payment: { token: 'tok_visa' }, shippingAddress: GB }, { timeoutMs: 30_000 })),
  );
  const confirmed = outcomes.filter((o) => o.status === 'fulfilled').map((o) => o.value);
  const refusals = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason as CartwireError);
  const other = refusals.filter((e) => e.code !== 'CONFLICT' || e.details?.reason !== 'exhausted' || e.details?.code !== 'RACE');
  assert.deepEqual(
    other.map((e) => `${e.code} ${JSON.stringify(e.details)}`),
    [],
    'every refusal is the coupon being used up',
  );
  assert.equal(confirmed.length, MAX, 'exactly maxRedemptions orders got the coupon');
  for (const o of confirmed) assert.deepEqual([o.status, o.coupon, o.totals.discount], ['confirmed', 'RACE', 100]);

  const view = await admin.call('coupon.upsert', terms);
  assert.deepEqual([view.redeemed, view.held], [MAX, 0]);
  const inv = await admin.call('inventory.get', { sku: 'race-a' });
  assert.deepEqual([inv.onHand, inv.reserved], [1000 - MAX, 0], 'only the confirmed orders took stock');
  await refused(admin.call('coupon.upsert', { ...terms, maxRedemptions: MAX - 1 }), 'CONFLICT', 'maxRedemptions below what was redeemed');

  // A loser: the cart thawed with its coupon; it is used up now, at apply and at checkout.
  const loser = buyers[outcomes.findIndex((o) => o.status === 'rejected')];
  const thawed = await loser.call('cart.get', {});
  assert.deepEqual([thawed.items.length, thawed.coupon], [1, 'RACE']);
  const again = await refused(loser.call('cart.applyCoupon', { code: 'RACE' }), 'CONFLICT', 're-apply a used-up coupon');
  assert.equal(again.reason, 'exhausted');
  await loser.call('cart.removeCoupon', {});
  const full = await loser.call('checkout', { idempotencyKey: 'no-coupon', payment: { token: 'tok_visa' }, shippingAddress: GB });
  assert.deepEqual([full.status, full.totals.discount], ['confirmed', 0]);
  assert.equal((await admin.call('coupon.upsert', terms)).redeemed, MAX);
});
