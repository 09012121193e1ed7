// Token revocation over real sockets: auth.changePassword and auth.logout end every earlier
// token, at auth.resume and on connections already open (also over HTTP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, connectAdmin, startEdgeTestServer, ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';
import { refused } from './helpers/commerce.js';

const PASSWORD = 'first-password-1';

test('auth.changePassword: earlier tokens are refused on new and open connections; the caller carries on with its new token', async (t) => {
  const srv = await startEdgeTestServer(t);
  const a = await connect(srv.url);
  const first = await a.call('auth.register', { email: 'grace@example.com', password: PASSWORD });
  const b = await connect(srv.url);
  await b.call('auth.resume', { token: first.token });
  await b.call('cart.subscribe', {});
  t.after(() => Promise.all([a.close(), b.close()]));
  assert.equal((await b.call('cart.get', {})).userId, first.userId, 'the second device is signed in');

  await refused(a.call('auth.changePassword', { oldPassword: 'not-the-password', newPassword: 'second-password-2' }), 'FORBIDDEN', 'a wrong old password');
  await refused(a.call('auth.changePassword', { oldPassword: PASSWORD, newPassword: 'short' }), 'BAD_REQUEST', 'a short new password');
  assert.equal((await b.call('cart.get', {})).userId, first.userId, 'refused changes revoke nothing');

  const second = await a.call('auth.changePassword', { oldPassword: PASSWORD, newPassword: 'second-password-2' });
  assert.equal(second.userId, first.userId);
  assert.notEqual(second.token, first.token);
  assert.equal((await a.call('cart.get', {})).userId, first.userId, 'the caller stays signed in');
  await refused(b.call('cart.get', {}), 'UNAUTHENTICATED', 'the open connection of the old token');
  const c = await connect(srv.url);
  t.after(() => c.close());
  await refused(c.call('auth.resume', { token: first.token }), 'UNAUTHENTICATED', 'resuming the old token');
  await refused(c.call('auth.login', { email: 'grace@example.com', password: PASSWORD }), 'UNAUTHENTICATED', 'the old password');
  assert.equal((await c.call('auth.resume', { token: second.token })).userId, first.userId, 'the new token works');
  assert.equal((await b.call('auth.login', { email: 'grace@example.com', password: 'second-password-2' })).userId, first.userId);
});

test('auth.logout: every token of the user stops working, the caller included; a guest can log out too', async (t) => {
  const srv = await startEdgeTestServer(t);
  const a = await connect(srv.url);
  const reg = await a.call('auth.register', { email: 'lin@example.com', password: PASSWORD });
  const b = await connect(srv.url);
  const login = await b.call('auth.login', { email: 'lin@example.com', password: PASSWORD });
  t.after(() => Promise.all([a.close(), b.close()]));
  assert.deepEqual(await a.call('auth.logout', {}), {});
  await refused(a.call('cart.get', {}), 'UNAUTHENTICATED', 'the caller');
  await refused(b.call('cart.get', {}), 'UNAUTHENTICATED', 'the other device');
  for (const token of [reg.token, login.token]) await refused(a.call('auth.resume', { token }), 'UNAUTHENTICATED', 'an old token');
  const again = await a.call('auth.login', { email: 'lin@example.com', password: PASSWORD });
  assert.equal((await a.call('auth.resume', { token: again.token })).userId, reg.userId, 'signing in again works');

  const g = await connect(srv.url);
  t.after(() => g.close());
  const guest = await g.call('auth.guest', {});
  await g.call('cart.get', {});
  await g.call('auth.logout', {});
  await refused(g.call('cart.get', {}), 'UNAUTHENTICATED', 'the guest connection');
  await refused(g.call('auth.resume', { token: guest.token }), 'UNAUTHENTICATED', "the guest's token");
});

test('a logged-out admin token is refused by the HTTP admin endpoints too', async (t) => {
  const srv = await startEdgeTestServer(t);
  const res = await fetch(`${srv.url}/auth/login`, {
    method: 'POST',
    body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
    headers: { 'content-type': 'application/json' },
  });
  const { token } = (await res.json()) as { token: string };
  const get = () => fetch(`${srv.url}/snapshot`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
  assert.equal(await get(), 200);
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  await admin.call('auth.logout', {});
  assert.equal(await get(), 401);
});
