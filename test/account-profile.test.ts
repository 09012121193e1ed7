// Accounts over real sockets: profile and preferences, the address book, payment methods
// tokenized by the built-in gateway, checkout by saved ids, export, and the admin's user ops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CartwireClient } from '../src/client/index.js';
import { connect, connectAdmin, connectGuest, startEdgeTestServer, startTestServer } from './helpers/server.js';
import { errorOf, refused, stockedSku } from './helpers/commerce.js';

const PASSWORD = 'correct horse battery';
const HOME = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const WORK = {
  name: 'Ada L.',
  line1: '1 Analytical Row',
  line2: 'Floor 2',
  city: 'Manchester',
  region: 'Lancs',
  postalCode: 'M1 1AA',
  country: 'GB',
  phone: '+44 161 000',
};
const VISA = { cardNumber: '4242424242424242', expMonth: 12, expYear: new Date().getUTCFullYear() + 2, cvc: '123' };

async function customer(url: string, email: string): Promise<{ c: CartwireClient; userId: string; token: string }> {
  const c = await connect(url);
  const r = await c.call('auth.register', { email, password: PASSWORD, name: 'Ada' });
  return { c, userId: r.userId, token: r.token };
}

test('profile and preferences: user.get, user.update with a unique username, coded errors for bad input', async (t) => {
  const srv = await startEdgeTestServer(t);
  const { c: ada, userId } = await customer(srv.url, 'Ada@Example.com');
  const { c: bob } = await customer(srv.url, 'bob@example.com');
  t.after(() => Promise.all([ada.close(), bob.close()]));
  const me = await ada.call('user.get', {});
  assert.deepEqual(
    { ...me, createdAt: 0, updatedAt: 0 },
    {
      userId,
      email: 'ada@example.com',
      name: 'Ada',
      role: 'customer',
      preferences: { language: 'en', currency: 'USD', marketing: false, personalizedRecs: true },
      createdAt: 0,
      updatedAt: 0,
    },
  );
  const changed = await ada.call('user.update', { name: 'Ada Lovelace', username: 'ada_l', preferences: { language: 'en-GB', marketing: true } });
  assert.deepEqual(
    [changed.name, changed.username, changed.preferences],
    ['Ada Lovelace', 'ada_l', { language: 'en-GB', currency: 'USD', marketing: true, personalizedRecs: true }],
  );
  assert.ok(changed.updatedAt >= me.updatedAt);
  await refused(bob.call('user.update', { username: 'ada_l' }), 'CONFLICT', 'a taken username');
  assert.equal((await bob.call('user.get', {})).username, undefined, 'the refused change changed nothing');
  for (const [args, what] of [
    [{ username: 'Ab' }, 'short, upper case'],
    [{ username: 'a b c' }, 'spaces'],
    [{ preferences: { currency: 'usd' } }, 'currency code'],
    [{ preferences: { personalizedRecs: 'no' } }, 'boolean'],
    [{ name: '' }, 'empty name'],
    [{ email: 'x@y.z' }, 'unknown field'],
  ] as const) {
    await refused(bob.call('user.update', args as never), 'BAD_REQUEST', what);
  }
  // The username frees up once its owner takes another.
  await ada.call('user.update', { username: 'countess' });
  assert.equal((await bob.call('user.update', { username: 'ada_l' })).username, 'ada_l');
});

test('address book: add, default, update, remove, at most 20, and another user sees none of it', async (t) => {
  const srv = await startEdgeTestServer(t);
  const { c: ada } = await customer(srv.url, 'ada@example.com');
  const { c: bob } = await customer(srv.url, 'bob@example.com');
  t.after(() => Promise.all([ada.close(), bob.close()]));
  const home = await ada.call('address.add', HOME);
  assert.equal(home.isDefault, true, 'the first address is the default');
  const work = await ada.call('address.add', { ...WORK, isDefault: true });
  assert.deepEqual({ ...work, addressId: '' }, { ...WORK, addressId: '', isDefault: true });
  assert.deepEqual(
    (await ada.call('address.list', {})).map((a) => [a.addressId, a.isDefault]),
    [
      [work.addressId, true],
      [home.addressId, false],
    ],
  );
  const moved = await ada.call('address.update', { addressId: work.addressId, city: 'Leeds', line2: '', phone: '' });
  assert.deepEqual([moved.city, moved.line2, moved.phone, moved.region], ['Leeds', undefined, undefined, 'Lancs']);
  for (const [args, what] of [
    [{ ...HOME, country: 'gbr' }, 'country code'],
    [{ ...HOME, country: 'gb' }, 'lower-case country'],
    [{ ...HOME, postalCode: '1234567890123' }, 'postal code length'],
    [{ ...HOME, postalCode: '<script>' }, 'postal code characters'],
    [{ ...HOME, phone: 'call me' }, 'phone'],
    [{ ...HOME, line1: '' }, 'empty line1'],
  ] as const) {
    await refused(ada.call('address.add', args), 'BAD_REQUEST', what);
  }
  // Another user's address id is NOT_FOUND, and changes nothing.
  await refused(bob.call('address.update', { addressId: home.addressId, city: 'Paris' }), 'NOT_FOUND', "another user's address");
  await refused(bob.call('address.remove', { addressId: home.addressId }), 'NOT_FOUND', "another user's address");
  assert.deepEqual(await bob.call('address.list', {}), []);
  const left = await ada.call('address.remove', { addressId: work.addressId });
  assert.deepEqual(
    left.map((a) => [a.addressId, a.isDefault, a.city]),
    [[home.addressId, true, 'London']],
    'the default went: the next one takes its place',
  );
  for (let i = 1; i < 20; i++) await ada.call('address.add', { ...HOME, line1: `${i} Main St` });
  const e = await errorOf(ada.call('address.add', HOME));
  assert.equal(e.code, 'LIMIT_EXCEEDED');
  assert.equal((await ada.call('address.list', {})).length, 20);
});

test('payment methods: the gateway tokenizes a card (Luhn and expiry checked); only brand, last4 and expiry come back', async (t) => {
  const srv = await startEdgeTestServer(t);
  const { c: ada } = await customer(srv.url, 'ada@example.com');
  const { c: bob } = await customer(srv.url, 'bob@example.com');
  t.after(() => Promise.all([ada.close(), bob.close()]));
  const visa = await ada.call('paymentMethod.add', VISA);
  assert.deepEqual({ ...visa, paymentMethodId: '' }, { paymentMethodId: '', brand: 'visa', last4: '4242', expMonth: VISA.expMonth, expYear: VISA.expYear });
  const mc = await ada.call('paymentMethod.add', { ...VISA, cardNumber: '5555555555554444' });
  assert.deepEqual([mc.brand, mc.last4], ['mastercard', '4444']);
  const year = new Date().getUTCFullYear();
  for (const [args, what] of [
    [{ ...VISA, cardNumber: '4242424242424241' }, 'Luhn'],
    [{ ...VISA, expYear: year - 1 }, 'expired year'],
    [{ ...VISA, cardNumber: '4242 4242 4242 4242' }, 'digits only'],
    [{ ...VISA, cardNumber: '42' }, 'too short'],
    [{ ...VISA, cvc: '12a' }, 'cvc'],
    [{ ...VISA, expMonth: 13 }, 'month'],
  ] as const) {
    const err = await errorOf(ada.call('paymentMethod.add', args));
    assert.equal(err.code, 'BAD_REQUEST', what);
    assert.ok(!err.message.includes(args.cardNumber.slice(0, 12)), `${what}: the message carries no card number`);
  }
  if (new Date().getUTCMonth() > 0)
    await refused(ada.call('paymentMethod.add', { ...VISA, expYear: year, expMonth: new Date().getUTCMonth() }), 'BAD_REQUEST', 'expired last month');
  assert.deepEqual(
    (await ada.call('paymentMethod.list', {})).map((p) => p.last4),
    ['4242', '4444'],
  );
  await refused(bob.call('paymentMethod.remove', { paymentMethodId: visa.paymentMethodId }), 'NOT_FOUND', "another user's method");
  assert.deepEqual(
    (await ada.call('paymentMethod.remove', { paymentMethodId: visa.paymentMethodId })).map((p) => p.last4),
    ['4444'],
  );
});

test('checkout by paymentMethodId and shippingAddressId: the order keeps the address as it was; declines and foreign ids are refused', async (t) => {
  const srv = await startEdgeTestServer(t);
  const admin = await connectAdmin(srv.url);
  const { c: ada } = await customer(srv.url, 'ada@example.com');
  const { c: bob } = await customer(srv.url, 'bob@example.com');
  const guest = await connectGuest(srv.url);
  t.after(() => Promise.all([admin.close(), ada.close(), bob.close(), guest.close()]));
  await stockedSku(admin, 'lamp', 100, 2500);
  const home = await ada.call('address.add', WORK);
  const visa = await ada.call('paymentMethod.add', VISA);
  const declining = await ada.call('paymentMethod.add', { ...VISA, cardNumber: '4000000000000002' });
  await ada.call('cart.add', { sku: 'lamp', qty: 2 });

  const both = { shippingAddress: HOME, shippingAddressId: home.addressId };
  await refused(
    ada.call('checkout', { idempotencyKey: 'k0', payment: { paymentMethodId: visa.paymentMethodId }, ...both }),
    'BAD_REQUEST',
    'both address forms',
  );
  await refused(ada.call('checkout', { idempotencyKey: 'k0', payment: { paymentMethodId: visa.paymentMethodId } }), 'BAD_REQUEST', 'no address');
  await refused(
    bob
      .call('cart.add', { sku: 'lamp', qty: 1 })
      .then(() => bob.call('checkout', { idempotencyKey: 'kb', payment: { paymentMethodId: visa.paymentMethodId }, shippingAddress: HOME })),
    'NOT_FOUND',
    "another user's payment method",
  );
  await refused(
    bob.call('checkout', { idempotencyKey: 'kb2', payment: { token: 'tok_visa' }, shippingAddressId: home.addressId }),
    'NOT_FOUND',
    "another user's address",
  );
  const declined = await refused(
    ada.call('checkout', { idempotencyKey: 'k1', payment: { paymentMethodId: declining.paymentMethodId }, shippingAddressId: home.addressId }),
    'PAYMENT_DECLINED',
    'the declining test card',
  );
  assert.equal(declined.reason, 'card_declined');

  const order = await ada.call('checkout', { idempotencyKey: 'k2', payment: { paymentMethodId: visa.paymentMethodId }, shippingAddressId: home.addressId });
  assert.equal(order.status, 'confirmed');
  assert.deepEqual(order.shippingAddress, {
    name: WORK.name,
    line1: WORK.line1,
    line2: WORK.line2,
    city: WORK.city,
    region: WORK.region,
    postalCode: WORK.postalCode,
    country: WORK.country,
    phone: WORK.phone,
  });
  assert.equal(order.totals.subtotal, 5000);
  // The book changes; the order keeps its copy.
  await ada.call('address.update', { addressId: home.addressId, line1: '99 Elsewhere' });
  const again = await ada.call('order.get', { orderId: order.orderId });
  assert.equal(again.shippingAddress.line1, WORK.line1);
  assert.equal((await admin.call('order.get', { orderId: order.orderId })).shippingAddress.city, WORK.city, 'the admin reads it too');
  const listed = await ada.call('order.list', {});
  assert.equal(listed.items[0].shippingAddress.postalCode, WORK.postalCode);

  // A guest keeps its own address and card, and checks out by them.
  const gAddress = await guest.call('address.add', HOME);
  const gCard = await guest.call('paymentMethod.add', { ...VISA, cardNumber: '5555555555554444' });
  await guest.call('cart.add', { sku: 'lamp', qty: 1 });
  const gOrder = await guest.call('checkout', {
    idempotencyKey: 'g1',
    payment: { paymentMethodId: gCard.paymentMethodId },
    shippingAddressId: gAddress.addressId,
  });
  assert.deepEqual([gOrder.status, gOrder.shippingAddress.line1], ['confirmed', HOME.line1]);
});

test('personalizedRecs off: views are not recorded and recs.forUser answers popularity only; user.export has every stored fact', async (t) => {
  // Two shards: the export gathers the user's events from every shard's log.
  const srv = await startTestServer(t);
  const admin = await connectAdmin(srv.url);
  const { c: ada, userId } = await customer(srv.url, 'ada@example.com');
  const { c: bob, userId: bobId } = await customer(srv.url, 'bob@example.com');
  t.after(() => Promise.all([admin.close(), ada.close(), bob.close()]));
  await stockedSku(admin, 'kettle', 50, 3000);
  await ada.call('user.update', { preferences: { personalizedRecs: false } });
  const products = (await ada.call('catalog.search', { limit: 3 })).items;
  for (const p of products) {
    await ada.call('event.view', { productId: p.productId });
    await bob.call('event.view', { productId: p.productId });
  }
  const recs = await ada.call('recs.forUser', { limit: 5 });
  assert.ok(recs.length > 0, 'popular products are recommended');
  assert.ok(
    recs.every((r) => r.algorithm === 'popularity' || r.algorithm === 'newest'),
    JSON.stringify(recs.map((r) => r.algorithm)),
  );

  await ada.call('address.add', HOME);
  await ada.call('paymentMethod.add', VISA);
  await ada.call('cart.add', { sku: 'kettle', qty: 1 });
  const order = await ada.call('checkout', { idempotencyKey: 'x1', payment: { token: 'tok_visa' }, shippingAddress: HOME });
  const exported = await ada.call('user.export', {});
  assert.deepEqual([exported.user.userId, exported.user.email, exported.user.preferences.personalizedRecs], [userId, 'ada@example.com', false]);
  assert.deepEqual(
    exported.addresses.map((a) => a.line1),
    [HOME.line1],
  );
  assert.deepEqual(
    exported.paymentMethods.map((p) => Object.keys(p).sort()),
    [['brand', 'expMonth', 'expYear', 'last4', 'paymentMethodId']],
  );
  assert.deepEqual(
    (exported.orders as { orderId: string }[]).map((o) => o.orderId),
    [order.orderId],
  );
  const names = (exported.events as { name: string; data: { userId: string } }[]).map((e) => e.name);
  assert.ok(names.includes('user_registered') && names.includes('order_created'), names.join());
  assert.ok(!names.includes('product_viewed'), 'no view of an opted-out user was recorded');
  assert.ok((exported.events as { data: { userId: string } }[]).every((e) => e.data.userId === userId));
  const bobEvents = (await bob.call('user.export', {})).events as { name: string; data: { userId: string } }[];
  assert.equal(bobEvents.filter((e) => e.name === 'product_viewed').length, products.length, "the other user's views are recorded");
  assert.ok(bobEvents.every((e) => e.data.userId === bobId));
  assert.ok(!JSON.stringify(exported).includes(VISA.cardNumber), 'no card number was kept');
});

test('admin: user.list finds by email and pages by id; user.setRole changes the role and ends the old tokens', async (t) => {
  const srv = await startEdgeTestServer(t);
  const admin = await connectAdmin(srv.url);
  const { c: ada, userId, token } = await customer(srv.url, 'ada@example.com');
  t.after(() => Promise.all([admin.close(), ada.close()]));
  for (let i = 0; i < 3; i++) await (await customer(srv.url, `user${i}@example.com`)).c.close();
  const found = await admin.call('user.list', { q: ' ADA@example.com ' });
  assert.deepEqual(
    found.items.map((u) => [u.userId, u.email]),
    [[userId, 'ada@example.com']],
  );
  assert.deepEqual((await admin.call('user.list', { q: 'nobody@example.com' })).items, []);
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await admin.call('user.list', { limit: 2, ...(cursor ? { cursor } : {}) });
    assert.ok(page.items.length <= 2);
    seen.push(...page.items.map((u) => u.userId));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  assert.equal(new Set(seen).size, seen.length, 'no account twice');
  assert.ok(seen.includes(userId) && seen.length >= 5, `${seen.length} accounts`);
  await refused(admin.call('user.setRole', { userId: 'u_nobody', role: 'admin' }), 'NOT_FOUND', 'unknown user');
  const promoted = await admin.call('user.setRole', { userId, role: 'admin' });
  assert.equal(promoted.role, 'admin');
  await refused(ada.call('cart.get', {}), 'UNAUTHENTICATED', 'the open connection lost its old identity');
  const probe = await connect(srv.url);
  t.after(() => probe.close());
  await refused(probe.call('auth.resume', { token }), 'UNAUTHENTICATED', 'the token from before the role change');
  const back = await probe.call('auth.login', { email: 'ada@example.com', password: PASSWORD });
  assert.equal(back.role, 'admin');
  assert.equal((await probe.call('user.list', { limit: 1 })).items.length, 1, 'signed in again, as an admin');
});

test("a guest's saved addresses and payment methods move into the account it registers or signs in to", async (t) => {
  const srv = await startEdgeTestServer(t);
  const g = await connect(srv.url);
  const guest = await g.call('auth.guest', {});
  const saved = await g.call('address.add', HOME);
  const card = await g.call('paymentMethod.add', VISA);
  const reg = await g.call('auth.register', { email: 'mover@example.com', password: PASSWORD });
  assert.deepEqual(
    (await g.call('address.list', {})).map((a) => [a.addressId, a.isDefault]),
    [[saved.addressId, true]],
  );
  assert.deepEqual(
    (await g.call('paymentMethod.list', {})).map((p) => p.paymentMethodId),
    [card.paymentMethodId],
  );
  const old = await connect(srv.url);
  t.after(() => Promise.all([g.close(), old.close()]));
  await old.call('auth.resume', { token: guest.token });
  assert.deepEqual([await old.call('address.list', {}), await old.call('paymentMethod.list', {})], [[], []], 'the guest keeps no copy');

  // Signing in from another guest adds its book after the account's; the account's default stays.
  const g2 = await connectGuest(srv.url);
  t.after(() => g2.close());
  const second = await g2.call('address.add', WORK);
  await g2.call('auth.login', { email: 'mover@example.com', password: PASSWORD });
  assert.deepEqual(
    (await g2.call('address.list', {})).map((a) => [a.addressId, a.isDefault]),
    [
      [saved.addressId, true],
      [second.addressId, false],
    ],
  );
  assert.equal((await g2.call('user.get', {})).userId, reg.userId);
});
