import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, connectGuest, connectAdmin } from './helpers/server.js';

test('a guest adds to a cart and reads it back; admin adjusts stock', async (t) => {
  const srv = await startTestServer(t);
  const guest = await connectGuest(srv.url);
  t.after(() => guest.close());
  const cart = await guest.call('cart.add', { sku: 'tee-classic-m', qty: 2 });
  assert.equal(cart.version, 1);
  assert.equal(cart.items[0].lineTotal, 3800);
  assert.deepEqual(await guest.call('cart.get', {}), cart);
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  const inv = await admin.call('inventory.adjust', { sku: 'tent-2p', type: 'purchase', qty: 8, reason: 'restock' });
  assert.equal(inv.onHand, 20);
  const res = await fetch(`${srv.url}/readyz`);
  assert.equal(res.status, 200);
});
