// Authentication and authorization against a hostile client: forged tokens, every admin op by
// every lesser role, what survives an identity change, and injection-looking strings in every
// string field, stored and returned verbatim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import { OpNames, Ops } from '../src/protocol/ops.js';
import type { OpArgs, OpName } from '../src/protocol/ops.js';
import { connect, connectAdmin, connectGuest, startEdgeTestServer, until } from './helpers/server.js';

const SECRET = 's'.repeat(40);
const PASSWORD = 'correct horse battery';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const hmac = (alg: 'sha256' | 'sha512', key: string, input: string) => createHmac(alg, key).update(input).digest('base64url');

function jwt(header: Record<string, unknown>, claims: Record<string, unknown>, sign: (input: string) => string = (i) => hmac('sha256', SECRET, i)): string {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${sign(input)}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({
  sub: 'u_forged',
  role: 'admin',
  iss: 'cartwire',
  aud: 'cartwire',
  iat: now(),
  exp: now() + 600,
  ...over,
});
const HS256 = { alg: 'HS256', typ: 'JWT' };

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof CartwireError ? e.code : `thrown ${String(e)}`),
  );
}

test('forged, tampered, expired and foreign tokens are UNAUTHENTICATED over WebSocket and 401 over HTTP', async (t) => {
  const srv = await startEdgeTestServer(t, { JWT_SECRET: SECRET });
  const c = await connect(srv.url);
  t.after(() => c.close());

  // Control: a token made by the same recipe with the right key is accepted, so a refusal below
  // is the forgery's doing, not the recipe's.
  const good = jwt(HS256, claims());
  assert.deepEqual(await c.call('auth.resume', { token: good }), { userId: 'u_forged', role: 'admin' });
  const probe = await connect(srv.url);
  t.after(() => probe.close());

  const guest = (await probe.call('auth.guest', {})).token;
  const [gh, , gs] = guest.split('.');
  const forged: [string, string][] = [
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`],
    ['alg none, uppercase', `${b64({ alg: 'NONE', typ: 'JWT' })}.${b64(claims())}.`],
    ['wrong key', jwt(HS256, claims(), (i) => hmac('sha256', 'x'.repeat(40), i))],
    ['tampered payload (guest made admin)', `${gh}.${b64({ ...JSON.parse(Buffer.from(guest.split('.')[1], 'base64url').toString()), role: 'admin' })}.${gs}`],
    ['expired', jwt(HS256, claims({ iat: now() - 7200, exp: now() - 3600 }))],
    ['not yet valid', jwt(HS256, claims({ nbf: now() + 3600 }))],
    ['another issuer', jwt(HS256, claims({ iss: 'someone-else' }))],
    ['another audience', jwt(HS256, claims({ aud: 'another-app' }))],
    ['HS512 with the right key (not on the allowlist)', jwt({ alg: 'HS512', typ: 'JWT' }, claims(), (i) => hmac('sha512', SECRET, i))],
    ['RS256 header on an HMAC signature', jwt({ alg: 'RS256', typ: 'JWT' }, claims())],
    ['unknown role', jwt(HS256, claims({ role: 'root' }))],
    ['no subject', jwt(HS256, claims({ sub: undefined }))],
    ['no signature', good.split('.').slice(0, 2).join('.') + '.'],
    ['not a JWT', 'not-a-jwt'],
    ['a JWT as JSON', JSON.stringify(claims())],
  ];
  for (const [what, token] of forged) {
    assert.equal(await code(probe.call('auth.resume', { token })), 'UNAUTHENTICATED', what);
    const res = await fetch(`${srv.url}/snapshot`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401, `${what} over HTTP`);
  }
  // A failed resume leaves the identity the connection had: still the guest, never admin.
  assert.equal(await code(probe.call('inventory.adjust', { sku: 'soap-bar', type: 'purchase', qty: 1, reason: 'x' })), 'FORBIDDEN');
  const anon = await connect(srv.url);
  t.after(() => anon.close());
  await anon.call('auth.resume', { token: forged[0][1] }).catch(() => undefined);
  assert.equal(await code(anon.call('cart.get', {})), 'UNAUTHENTICATED', 'a refused token signs nobody in');
});

/** Valid arguments for every op, so that the role is what decides; a new op must be added here. */
const SAMPLE: { [O in OpName]: OpArgs<O> } = {
  ping: {},
  'auth.guest': {},
  'auth.register': { email: 'sample@example.com', password: PASSWORD },
  'auth.login': { email: 'sample@example.com', password: PASSWORD },
  'auth.resume': { token: 'x' },
  'catalog.upsert': { productId: 'soap-bar', name: 'Hijacked', category: 'x', variants: [{ sku: 'soap-bar', price: 1 }] },
  'catalog.setImages': { productId: 'soap-bar', images: [] },
  'catalog.get': { productId: 'soap-bar' },
  'catalog.search': { q: 'soap' },
  'inventory.get': { sku: 'soap-bar' },
  'inventory.adjust': { sku: 'soap-bar', type: 'adjustment', qty: 0, reason: 'hijack' },
  'cart.get': {},
  'cart.add': { sku: 'soap-bar', qty: 1 },
  'cart.setQty': { sku: 'soap-bar', qty: 1 },
  'cart.remove': { sku: 'soap-bar' },
  'cart.clear': {},
  'cart.subscribe': {},
  'cart.unsubscribe': {},
  'inventory.subscribe': { sku: 'soap-bar' },
  'inventory.unsubscribe': { sku: 'soap-bar' },
  'admin.subscribe': {},
  'admin.unsubscribe': {},
  'coupon.upsert': { code: 'HIJACK', percentOff: 100 },
  'cart.applyCoupon': { code: 'NOPE' },
  'cart.removeCoupon': {},
  checkout: { idempotencyKey: 'k1', payment: { token: 'tok_visa' }, shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'DE' } },
  'order.get': { orderId: 'ord_missing' },
  'order.list': {},
  'order.cancel': { orderId: 'ord_missing' },
  'order.ship': { orderId: 'ord_missing' },
  'order.deliver': { orderId: 'ord_missing' },
  'order.refund': { orderId: 'ord_missing' },
  'order.return': { orderId: 'ord_missing' },
  'order.subscribe': {},
  'event.view': { productId: 'soap' },
  'recs.forUser': {},
  'recs.similar': { productId: 'soap-bar' },
  'audit.history': { actor: 'inventory', key: 'soap-bar' },
  'audit.stateAt': { actor: 'inventory', key: 'soap-bar', at: 0 },
  'drop.create': { dropId: 'hijack', sku: 'soap-bar', startsAt: 0 },
  'drop.join': { dropId: 'missing' },
  'user.get': {},
  'user.update': { name: 'Sample' },
  'address.add': { name: 'A', line1: 'B', city: 'C', postalCode: '10115', country: 'DE' },
  'address.update': { addressId: 'adr_missing', city: 'D' },
  'address.remove': { addressId: 'adr_missing' },
  'address.list': {},
  'paymentMethod.add': { cardNumber: '4242424242424242', expMonth: 12, expYear: 2099, cvc: '123' },
  'paymentMethod.list': {},
  'paymentMethod.remove': { paymentMethodId: 'pm_missing' },
  'auth.changePassword': { oldPassword: 'wrong-password', newPassword: 'another-password' },
  'auth.logout': {},
  'user.export': {},
  'user.erase': { password: 'wrong-password' },
  'user.list': {},
  'user.setRole': { userId: 'u_missing', role: 'admin' },
};

test('every op has a role in the op table, and the edge enforces it: anonymous, guest and customer are refused what is not theirs', async (t) => {
  assert.deepEqual(Object.keys(SAMPLE).sort(), [...OpNames].sort(), 'SAMPLE covers the op table');
  for (const op of OpNames) assert.ok(['anonymous', 'user', 'admin'].includes(Ops[op].role), op);
  const srv = await startEdgeTestServer(t);
  const anon = await connect(srv.url);
  const guest = await connectGuest(srv.url);
  const customer = await connect(srv.url);
  await customer.call('auth.register', { email: 'customer@example.com', password: PASSWORD });
  const admin = await connectAdmin(srv.url);
  t.after(() => Promise.all([anon, guest, customer, admin].map((c) => c.close())));
  const call = (c: CartwireClient, op: OpName) => code(c.call(op, SAMPLE[op]));

  const adminOps = OpNames.filter((op) => Ops[op].role === 'admin');
  assert.ok(adminOps.length >= 4, adminOps.join());
  for (const op of adminOps) {
    // catalog.* is open to anonymous connections (docs/protocol.md), so its admin op is FORBIDDEN there.
    assert.equal(await call(anon, op), op.startsWith('catalog.') ? 'FORBIDDEN' : 'UNAUTHENTICATED', `anonymous ${op}`);
    assert.equal(await call(guest, op), 'FORBIDDEN', `guest ${op}`);
    assert.equal(await call(customer, op), 'FORBIDDEN', `customer ${op}`);
  }
  // What needs a password is for accounts: a guest has none to change or to confirm an erasure with.
  const accountOnly = new Set<OpName>(['auth.changePassword', 'user.erase']);
  for (const op of OpNames.filter((o) => Ops[o].role === 'user')) {
    assert.equal(await call(anon, op), 'UNAUTHENTICATED', `anonymous ${op}`);
    if (op === 'auth.logout') continue; // would sign the guest out for the ops after it
    if (accountOnly.has(op)) assert.equal(await call(guest, op), 'FORBIDDEN', `guest ${op}`);
    else assert.notEqual(await call(guest, op), 'FORBIDDEN', `guest ${op}`);
  }
  assert.equal(await call(guest, 'auth.logout'), 'ok', 'guest auth.logout');
  // Nothing the refused calls asked for happened.
  const product = await admin.call('catalog.get', { productId: 'soap-bar' });
  assert.equal(product.name, 'Oat Milk Soap Bar');
  assert.ok((await admin.call('inventory.get', { sku: 'soap-bar' })).onHand > 0);
  // The admin passes every admin op (the control that the samples are valid).
  // (Order samples name no real order: NOT_FOUND means the role check passed.)
  for (const op of adminOps) assert.equal(await call(admin, op), op.startsWith('order.') || op === 'user.setRole' ? 'NOT_FOUND' : 'ok', `admin ${op}`);
});

test("a user only ever sees their own cart; another user's cart is not reachable over HTTP without admin", async (t) => {
  const srv = await startEdgeTestServer(t);
  const a = await connect(srv.url);
  const b = await connect(srv.url);
  t.after(() => Promise.all([a.close(), b.close()]));
  const ra = await a.call('auth.register', { email: 'a@example.com', password: PASSWORD });
  const rb = await b.call('auth.register', { email: 'b@example.com', password: PASSWORD });
  await a.call('cart.add', { sku: 'kite', qty: 2 });
  const cartB = await b.call('cart.get', {});
  assert.deepEqual([cartB.userId, cartB.items], [rb.userId, []]);
  await b.call('cart.clear', {});
  assert.equal((await a.call('cart.get', {})).items.length, 1, "b's clear touched only b's cart");
  for (const token of [rb.token, ra.token]) {
    const res = await fetch(`${srv.url}/snapshot/carts/${ra.userId}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 403);
  }
});

test("an identity change ends the admin feed for a non-admin and the old identity's cart pushes", async (t) => {
  const srv = await startEdgeTestServer(t);
  const c = await connectAdmin(srv.url);
  t.after(() => c.close());
  const pushes: string[] = [];
  c.onPush((push) => pushes.push(push));
  await c.call('admin.subscribe', {});
  const { token: guestToken } = await c.call('auth.guest', {}); // the admin connection becomes a guest
  await c.call('cart.subscribe', {});
  await c.call('auth.register', { email: 'switch@example.com', password: PASSWORD }); // and then a customer

  const admin = await connectAdmin(srv.url);
  const sameGuest = await connect(srv.url);
  t.after(() => Promise.all([admin.close(), sameGuest.close()]));
  await sameGuest.call('auth.resume', { token: guestToken });
  const feed: string[] = [];
  admin.onPush((push) => feed.push(push));
  await admin.call('admin.subscribe', {});
  await sameGuest.call('cart.add', { sku: 'kite', qty: 1 }); // the old guest cart changes
  await admin.call('inventory.adjust', { sku: 'webcam-hd', type: 'sale', qty: 16, reason: 'to low stock' }); // an admin feed push
  await until(() => feed.includes('inventory.lowStock'), { what: 'the low-stock push on a real admin feed' });
  await c.call('ping', {});
  assert.deepEqual(pushes, [], 'no admin feed and no old cart pushes after the identity changed');
});

const NASTY = [
  "'; DROP TABLE users; --",
  "' OR '1'='1",
  '<script>alert("x")</script><img src=x onerror=alert(1)>',
  'nul\u0000byte\u0000',
  'Ω≈ç√ 😀 \u202Eevil\u202C \uFEFFbom',
  'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ 🏳️‍🌈',
  '${7*7} {{7*7}} %s %n \\x00 %00',
  '../../etc/passwd',
  'line\r\nSet-Cookie: x=y',
];
const oneLine = (s: string) => s.replace(/[\r\n]/g, ' ').slice(0, 64);

test('injection-looking strings in every string field are stored and returned verbatim, also after a restart', async (t) => {
  const env = { JWT_SECRET: SECRET };
  const srv = await startEdgeTestServer(t, env);
  const admin = await connectAdmin(srv.url);
  const products = NASTY.map((s, i) => ({
    productId: `inj-${i}`,
    name: s,
    category: s,
    brand: s,
    description: NASTY.join(' | '),
    attributes: { [oneLine(s)]: s, plain: s },
    variants: [{ sku: `inj-${i}-v`, price: 100 + i, attributes: { [oneLine(s)]: s } }],
  }));
  for (const p of products) await admin.call('catalog.upsert', p);
  for (const [i, s] of NASTY.entries()) {
    await admin.call('inventory.adjust', { sku: `inj-${i}-v`, type: 'purchase', qty: 10, reason: s, referenceId: s });
  }
  const check = async (c: CartwireClient) => {
    for (const p of products) {
      const got = await c.call('catalog.get', { productId: p.productId });
      assert.deepEqual(
        { ...got, createdAt: 0, updatedAt: 0, variants: got.variants.map((v) => ({ ...v, available: 0 })) },
        {
          ...p,
          status: 'active',
          images: [],
          createdAt: 0,
          updatedAt: 0,
          variants: p.variants.map((v) => ({ ...v, currency: 'USD', available: 0 })),
        },
      );
    }
  };
  await check(admin);

  const names = NASTY.map((s) => s.slice(0, 200));
  const emails = ["o'brien+<b>--@ex.com", 'x";DROP/**/TABLE/**/users;--@y.z', 'nul\u0000@x.y', 'ünï©ødé😀@例え.jp'];
  const shopper = await connectGuest(srv.url);
  for (const [i] of NASTY.entries()) await shopper.call('cart.add', { sku: `inj-${i}-v`, qty: 1 });
  const cart = await shopper.call('cart.get', {});
  assert.deepEqual(
    cart.items.map((l) => l.name),
    NASTY,
  );
  const registered: string[] = [];
  for (const [i, email] of emails.entries()) {
    const c = await connect(srv.url);
    registered.push((await c.call('auth.register', { email, password: `${NASTY[i]}-pw`, name: names[i] })).userId);
    await c.close();
  }
  // A SQL-looking email logs in only as itself.
  const who = await connect(srv.url);
  assert.equal(await code(who.call('auth.login', { email: "'OR'1'='1'--@x.y", password: 'whatever!' })), 'UNAUTHENTICATED');
  assert.equal((await who.call('auth.login', { email: emails[1], password: `${NASTY[1]}-pw` })).userId, registered[1]);
  await Promise.all([admin.close(), shopper.close(), who.close()]);

  // Each one's profile (sealed in the user store) opens as it was given.
  for (const [i, email] of emails.entries()) {
    const c = await connect(srv.url);
    await c.call('auth.login', { email, password: `${NASTY[i]}-pw` });
    const u = await c.call('user.get', {});
    assert.deepEqual([u.userId, u.name, u.email], [registered[i], names[i], email.toLowerCase()], email);
    await c.close();
  }

  await srv.close();
  const again = await startEdgeTestServer(t, { ...env, DATA_DIR: srv.dataDir });
  const reader = await connectAdmin(again.url);
  t.after(() => reader.close());
  await check(reader);
});
