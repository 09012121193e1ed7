// Checkout over real sockets: the saga's happy path, every failure answer, idempotency keys, and
// the stock arithmetic after each (sold + available + reserved = what there was).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { connectAdmin, connectGuest, startTestServer } from './helpers/server.js';
import { errorOf, stockedSku } from './helpers/commerce.js';

export const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

async function setup(t: TestContext, env: Record<string, string> = {}) {
  const srv = await startTestServer(t, { GATEWAY_TIMEOUT_MS: '300', ...env });
  const admin = await connectAdmin(srv.url);
  const buyer = await connectGuest(srv.url);
  t.after(() => Promise.all([admin.close(), buyer.close()]));
  return { srv, admin, buyer };
}

test('checkout confirms, charges once, sells the stock, empties the cart and prices tax and shipping for the address', async (t) => {
  const { admin, buyer } = await setup(t);
  await stockedSku(admin, 'ck-a', 10, 1250);
  await stockedSku(admin, 'ck-b', 5, 400);
  await buyer.call('cart.add', { sku: 'ck-a', qty: 2 });
  const cart = await buyer.call('cart.add', { sku: 'ck-b', qty: 1 });
  assert.equal(cart.subtotal, 2900);
  const order = await buyer.call('checkout', { idempotencyKey: 'k-1', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS });
  assert.equal(order.status, 'confirmed');
  assert.match(order.orderNumber, /^CW-\d{4}-[0-9A-Z]{6}$/);
  assert.equal(order.payment.status, 'approved');
  assert.match(order.payment.transactionId!, /^txn_/);
  // GB: 20% VAT on 2900 = 580; under the free-shipping threshold (5000): flat 499.
  assert.deepEqual(order.totals, { subtotal: 2900, discount: 0, tax: 580, shipping: 499, total: 3979 });
  assert.deepEqual(
    order.items.map((l) => [l.sku, l.qty, l.unitPrice]),
    [
      ['ck-a', 2, 1250],
      ['ck-b', 1, 400],
    ],
  );
  const a = await admin.call('inventory.get', { sku: 'ck-a' });
  assert.deepEqual([a.onHand, a.reserved, a.available], [8, 0, 8]);
  const after = await buyer.call('cart.get', {});
  assert.equal(after.items.length, 0);
  assert.equal(after.version, cart.version + 1);
  const { updatedAt: _u, version: _v, ...stored } = await buyer.call('order.get', { orderId: order.orderId });
  const { updatedAt: _u2, version: _v2, ...answered } = order;
  assert.deepEqual(stored, answered, 'order.get shows the order checkout answered (settling moves only its version)');
});

test('the same key returns the same order (also sent twice at once); another cart or payment under it is CONFLICT', async (t) => {
  const { admin, buyer } = await setup(t);
  await stockedSku(admin, 'ik-a', 10);
  await buyer.call('cart.add', { sku: 'ik-a', qty: 1 });
  const args = { idempotencyKey: 'same', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS };
  const [o1, o2] = await Promise.all([buyer.call('checkout', args), buyer.call('checkout', args)]);
  assert.equal(o1.orderId, o2.orderId);
  const o3 = await buyer.call('checkout', args);
  assert.equal(o3.orderId, o1.orderId);
  assert.equal((await admin.call('inventory.get', { sku: 'ik-a' })).onHand, 9, 'sold once');
  assert.equal((await errorOf(buyer.call('checkout', { ...args, payment: { token: 'tok_mastercard' } }))).code, 'CONFLICT');
  await buyer.call('cart.add', { sku: 'ik-a', qty: 1 });
  assert.equal((await errorOf(buyer.call('checkout', args))).code, 'CONFLICT', 'the cart changed since the key was used');
  const list = await buyer.call('order.list', {});
  assert.deepEqual(
    list.items.map((o) => o.orderId),
    [o1.orderId],
  );
});

test('declines, timeouts, fraud and stock failures answer their codes and leave nothing reserved; the cart thaws', async (t) => {
  const { admin, buyer } = await setup(t);
  await stockedSku(admin, 'df-a', 3);
  await buyer.call('cart.add', { sku: 'df-a', qty: 2 });
  let n = 0;
  const attempt = (token: string) => errorOf(buyer.call('checkout', { idempotencyKey: `d-${n++}`, payment: { token }, shippingAddress: ADDRESS }));
  for (const [token, reason] of [
    ['tok_chargeDeclined', 'card_declined'],
    ['tok_insufficientFunds', 'insufficient_funds'],
    ['tok_unknown', 'invalid_token'],
  ]) {
    const e = await attempt(token);
    assert.equal(e.code, 'PAYMENT_DECLINED', token);
    assert.equal(e.details?.reason, reason);
    assert.equal((await admin.call('inventory.get', { sku: 'df-a' })).reserved, 0, `${token}: nothing stays reserved`);
  }
  const t0 = performance.now();
  const timedOut = await attempt('tok_timeout');
  assert.equal(timedOut.code, 'PAYMENT_DECLINED');
  assert.equal(timedOut.details?.reason, 'timeout');
  assert.ok(performance.now() - t0 >= 290, 'answered after the gateway timeout');
  assert.equal((await admin.call('inventory.get', { sku: 'df-a' })).reserved, 0, 'timeout: nothing stays reserved once answered');
  const failed = await buyer.call('order.get', { orderId: timedOut.details.orderId as string });
  assert.deepEqual([failed.status, failed.payment.status, failed.failure?.code], ['cancelled', 'voided', 'PAYMENT_DECLINED']);
  // The cart was never emptied and can change again.
  await buyer.call('cart.setQty', { sku: 'df-a', qty: 3 });
  await admin.call('inventory.adjust', { sku: 'df-a', type: 'damage', qty: 1, reason: 'dropped' });
  const oos = await attempt('tok_visa');
  assert.equal(oos.code, 'OUT_OF_STOCK');
  assert.deepEqual([oos.details?.sku, oos.details?.available], ['df-a', 2]);
  assert.equal((await admin.call('inventory.get', { sku: 'df-a' })).reserved, 0);
  await buyer.call('cart.clear', {});
  assert.equal((await attempt('tok_visa')).code, 'CART_EMPTY');
});
