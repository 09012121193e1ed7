// Guest account rows have a retention: a guest row unchanged for GUEST_RETENTION_DAYS with no
// order is removed by the sweep; a guest with an order keeps its row, whose data key still opens
// the order's address copy. (Decimal days make the retention about four seconds here.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectAdmin, connectGuest, startTestServer, until } from './helpers/server.js';
import { stockedSku } from './helpers/commerce.js';
import { resolveConfig } from '../src/config.js';

const ADDRESS = { name: 'Guest Shopper', line1: '4 Ephemeral Way', city: 'Tmpville', postalCode: '1000', country: 'BE' };

test('guest rows without an order are removed after GUEST_RETENTION_DAYS; a guest with an order keeps its row and its address', async (t) => {
  const srv = await startTestServer(t, { GUEST_RETENTION_DAYS: '0.00005', TOKEN_TTL_SECONDS: '1' });
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  await stockedSku(admin, 'guest-sku', 10, 500);
  // The buyer's row first: the sweep looks at the oldest rows first.
  const buyer = await connectGuest(srv.url);
  const leaver = await connectGuest(srv.url);
  t.after(() => Promise.all([buyer.close(), leaver.close()]));
  const buyerId = (await buyer.call('user.get', {})).userId;
  const saved = await buyer.call('address.add', ADDRESS);
  await buyer.call('cart.add', { sku: 'guest-sku', qty: 1 });
  const order = await buyer.call('checkout', { idempotencyKey: 'g1', payment: { token: 'tok_visa' }, shippingAddressId: saved.addressId });
  const leaverId = (await leaver.call('user.get', {})).userId;
  await leaver.call('address.add', ADDRESS);
  assert.equal((await admin.call('user.list', { q: leaverId })).items.length, 1, 'the guest row exists');

  await until(async () => (await admin.call('user.list', { q: leaverId })).items.length === 0, { timeoutMs: 15_000, what: "the idle guest's row removed" });
  assert.equal((await admin.call('user.list', { q: buyerId })).items.length, 1, 'the guest with an order keeps its row');
  assert.equal((await admin.call('order.get', { orderId: order.orderId })).shippingAddress.line1, ADDRESS.line1, 'its key still opens the order');
});

test('GUEST_RETENTION_DAYS must be a non-negative number', () => {
  assert.throws(() => resolveConfig({ GUEST_RETENTION_DAYS: 'soon' }), /GUEST_RETENTION_DAYS must be a non-negative number, got "soon"/);
  assert.equal(resolveConfig({ GUEST_RETENTION_DAYS: '0' }).guestRetentionMs, 0);
});
