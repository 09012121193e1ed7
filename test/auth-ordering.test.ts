// Requests sent right behind an auth op (in the same frame, as the SDK batches calls of one
// tick) run under the identity that auth op produced, in the order they were sent.
import test from 'node:test';
import assert from 'node:assert/strict';
import { CartwireClient } from '../src/client/index.js';
import { startTestServer, ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';

test('auth.resume and cart ops in one frame: the cart ops run as the resumed user', async (t) => {
  const server = await startTestServer(t);
  const owner = await CartwireClient.connect(server.url);
  const { token, userId } = await owner.call('auth.guest', {});
  await owner.call('cart.add', { sku: 'tee-classic-m', qty: 2 });

  const other = await CartwireClient.connect(server.url);
  const me = await other.call('auth.guest', {});
  // One tick: one frame holding auth.resume, then two cart ops.
  const [resumed, cart, added] = await Promise.all([
    other.call('auth.resume', { token }),
    other.call('cart.get', {}),
    other.call('cart.add', { sku: 'mug-stoneware-sand', qty: 1 }),
  ]);
  assert.equal(resumed.userId, userId);
  assert.notEqual(me.userId, userId);
  assert.equal(cart.userId, userId, 'cart.get ran after the identity switch');
  assert.deepEqual(
    cart.items.map((l) => l.sku),
    ['tee-classic-m'],
  );
  assert.deepEqual(added.items.map((l) => l.sku).sort(), ['mug-stoneware-sand', 'tee-classic-m']);
  await owner.close();
  await other.close();
});

test('a fresh connection may send auth.login (argon2, slow) and an admin op in one frame', async (t) => {
  const server = await startTestServer(t);
  const c = await CartwireClient.connect(server.url);
  const [login, stock] = await Promise.all([
    c.call('auth.login', { email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
    c.call('inventory.adjust', { sku: 'kite', type: 'purchase', qty: 1, reason: 'right after login' }),
  ]);
  assert.equal(login.role, 'admin');
  assert.equal(stock.sku, 'kite');
  // A failed login leaves the queued request to the identity in force: anonymous.
  const d = await CartwireClient.connect(server.url);
  const results = await Promise.allSettled([d.call('auth.login', { email: ADMIN_EMAIL, password: 'wrong-password' }), d.call('cart.get', {})]);
  assert.deepEqual(
    results.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok')),
    ['UNAUTHENTICATED', 'UNAUTHENTICATED'],
  );
  await c.close();
  await d.close();
});
