// The SDK's 'orders' topic: order.updated pushes of the caller's orders, each order's stale
// versions dropped, delivered as OrderView.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectAdmin, connectGuest, startTestServer, until } from './helpers/server.js';
import { ADDRESS_GB, stockedSku } from './helpers/commerce.js';
import type { OrderView } from '../src/protocol/types.js';

test("SDK subscribe('orders') gets each of the caller's orders as it changes, in version order", async (t) => {
  const srv = await startTestServer(t);
  const admin = await connectAdmin(srv.url);
  const buyer = await connectGuest(srv.url);
  const other = await connectGuest(srv.url);
  t.after(() => Promise.all([admin.close(), buyer.close(), other.close()]));
  await stockedSku(admin, 'sdk-o', 10);
  const seen: OrderView[] = [];
  const sub = buyer.subscribe('orders', (o) => seen.push(o));
  await sub.ready;
  await other.call('cart.add', { sku: 'sdk-o', qty: 1 });
  await other.call('checkout', { idempotencyKey: 'x', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS_GB });
  await buyer.call('cart.add', { sku: 'sdk-o', qty: 2 });
  const order = await buyer.call('checkout', { idempotencyKey: 'k', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS_GB });
  await admin.call('order.ship', { orderId: order.orderId });
  await until(() => seen.some((o) => o.status === 'shipped'), { what: 'the shipped push' });
  assert.ok(
    seen.every((o) => o.userId === buyer.session!.userId && o.orderId === order.orderId),
    "only the caller's order",
  );
  assert.deepEqual(
    seen.map((o) => o.status),
    ['pending', 'confirmed', 'shipped'],
  );
  const versions = seen.map((o) => o.version);
  assert.deepEqual(
    versions,
    [...versions].sort((a, b) => a - b),
    'in version order',
  );
  await sub();
});
