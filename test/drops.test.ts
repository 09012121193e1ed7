// Product drops over real sockets: joins before the start enter in a random order drawn at the
// start, positions are pushed as the queue moves, users are admitted at the drop's rate, and the
// sku is refused to anyone not admitted (and after the window). drops-crash.test.ts: a kill -9
// keeps the queue and the admissions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectAdmin, connectGuest, startTestServer, until } from './helpers/server.js';
import { ADDRESS_GB, refused, stockedSku } from './helpers/commerce.js';
import type { CartwireClient } from '../src/client/index.js';
import type { DropAdmission, DropPlace, DropPosition } from '../src/protocol/types.js';
import { Limits } from '../src/protocol/errors.js';

/** A joiner and what its connection was pushed. */
interface Joiner {
  c: CartwireClient;
  positions: DropPosition[];
  admitted: DropAdmission[];
}

async function joiner(url: string): Promise<Joiner> {
  const j: Joiner = { c: await connectGuest(url), positions: [], admitted: [] };
  j.c.onPush((push, data) => {
    if (push === 'drop.position') j.positions.push(data as DropPosition);
    if (push === 'drop.admitted') j.admitted.push(data as DropAdmission);
  });
  return j;
}

const checkout = (c: CartwireClient, key: string) => c.call('checkout', { idempotencyKey: key, payment: { token: 'tok_visa' }, shippingAddress: ADDRESS_GB });

test('20 joiners before the start are admitted in a shuffled order at the drop rate, with their positions pushed; the sku is refused to the rest', async (t) => {
  const srv = await startTestServer(t);
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  await stockedSku(admin, 'drop-tee', 100);
  const joiners: Joiner[] = [];
  for (let i = 0; i < 20; i++) joiners.push(await joiner(srv.url));
  t.after(() => Promise.all(joiners.map((j) => j.c.close())));

  const startsAt = Date.now() + 3_000;
  const drop = await admin.call('drop.create', { dropId: 'tee-launch', sku: 'drop-tee', startsAt, admitPerSecond: 10, checkoutWindowMs: 4_000 });
  assert.deepEqual(
    { sku: drop.sku, started: drop.started, joined: drop.joined, perUserLimit: drop.perUserLimit, maxQueue: drop.maxQueue },
    { sku: 'drop-tee', started: false, joined: 0, perUserLimit: 1, maxQueue: Limits.DROP_MAX_QUEUE },
  );
  await refused(admin.call('drop.create', { dropId: 'tee-again', sku: 'drop-tee', startsAt }), 'CONFLICT', 'a second drop of the sku');
  await refused(admin.call('drop.create', { dropId: 'tee-launch', sku: 'soap-bar', startsAt }), 'CONFLICT', 'a dropId taken');
  await refused(admin.call('drop.create', { dropId: 'ghost', sku: 'no-such-sku', startsAt }), 'NOT_FOUND', 'an unknown sku');

  // Joined one after another, in a known order: the fastest has no head start.
  for (const j of joiners) {
    const place: DropPlace = await j.c.call('drop.join', { dropId: 'tee-launch' });
    assert.equal(place.position, null, 'before the start no place is drawn yet');
    assert.equal(place.admitted, false);
  }
  assert.ok(Date.now() < startsAt, 'every join landed before the start (raise the lead time if this machine is slower)');
  const again = await joiners[0].c.call('drop.join', { dropId: 'tee-launch' });
  assert.equal(again.position, null, 'a second join changes nothing');
  await refused(joiners[0].c.call('drop.join', { dropId: 'nope' }), 'NOT_FOUND', 'an unknown drop');

  // Someone who never joined is refused the sku, before and after the start.
  const outsider = await connectGuest(srv.url);
  t.after(() => outsider.close());
  await outsider.call('cart.add', { sku: 'drop-tee', qty: 1 });
  const d1 = await refused(checkout(outsider, 'outsider-1'), 'FORBIDDEN', 'checkout by someone not in the drop');
  assert.equal(d1.reason, 'drop');
  assert.equal(d1.why, 'not_admitted');
  assert.equal((await outsider.call('cart.get', {})).items.length, 1, 'the refused checkout left the cart as it was');

  await until(() => joiners.every((j) => j.admitted.length === 1), { timeoutMs: 20_000, what: 'every joiner admitted' });
  // One admission step may admit several when the timer ran late: within a step, by place.
  const firstPlace = (j: Joiner) => j.positions[0]?.position ?? 0;
  const byAdmission = [...joiners].sort((a, b) => a.admitted[0].admittedAt - b.admitted[0].admittedAt || firstPlace(a) - firstPlace(b));
  // The rate: the k-th admission is at least k / admitPerSecond after the start.
  byAdmission.forEach((j, k) => assert.ok(j.admitted[0].admittedAt >= startsAt + k * 100, `admission ${k} at +${j.admitted[0].admittedAt - startsAt} ms`));
  // Everyone admitted once, each with its own window.
  for (const j of joiners) assert.equal(j.admitted[0].expiresAt - j.admitted[0].admittedAt, 4_000);
  // The places pushed at the start are the admission order (the first is admitted at once).
  assert.equal(byAdmission[0].positions.length, 0, 'the first in line was admitted at the start, no place to push');
  byAdmission.slice(1).forEach((j, i) => {
    assert.equal(firstPlace(j), i + 1, 'the place pushed at the start');
    const seen = j.positions.map((p) => p.position);
    assert.ok(
      seen.every((p, k) => k === 0 || p < seen[k - 1]),
      `places only move forward: ${seen.join(',')}`,
    );
  });
  // The places told as the queue moved: at least one push per later admission step for the last in line.
  assert.ok(byAdmission[19].positions.length > 1, 'the last in line heard its place move');
  const joinOrder = joiners.map((_, i) => i);
  const admittedOrder = byAdmission.map((j) => joiners.indexOf(j));
  assert.notDeepEqual(admittedOrder, joinOrder, 'the start shuffled the early joiners (1 in 20! to fail by chance)');

  // An admitted user buys within the window, once (perUserLimit 1).
  const buyer = byAdmission[19];
  await buyer.c.call('cart.add', { sku: 'drop-tee', qty: 2 });
  const over = await refused(checkout(buyer.c, 'buyer-over'), 'FORBIDDEN', 'two units past the limit of one');
  assert.equal(over.why, 'limit');
  await buyer.c.call('cart.setQty', { sku: 'drop-tee', qty: 1 });
  // A declined payment gives the unit back: the next attempt may buy it.
  const declined = buyer.c.call('checkout', { idempotencyKey: 'buyer-declined', payment: { token: 'tok_chargeDeclined' }, shippingAddress: ADDRESS_GB });
  await refused(declined, 'PAYMENT_DECLINED', 'a declined card');
  const order = await checkout(buyer.c, 'buyer-1');
  assert.equal(order.status, 'confirmed');
  await buyer.c.call('cart.add', { sku: 'drop-tee', qty: 1 });
  assert.equal((await refused(checkout(buyer.c, 'buyer-2'), 'FORBIDDEN', 'a second purchase')).why, 'limit');

  // After the window: refused.
  const late = byAdmission[0];
  await late.c.call('cart.add', { sku: 'drop-tee', qty: 1 });
  await until(() => Date.now() > late.admitted[0].expiresAt + 50, { timeoutMs: 10_000, what: 'the first window to close' });
  assert.equal((await refused(checkout(late.c, 'late-1'), 'FORBIDDEN', 'checkout after the window')).why, 'window_closed');
  assert.equal((await refused(checkout(outsider, 'outsider-2'), 'FORBIDDEN', 'the outsider after the start')).why, 'not_admitted');
});

test('joins before the start are shuffled fairly: over 100 drops nobody is first more often than chance allows', async (t) => {
  const srv = await startTestServer(t);
  const admin = await connectAdmin(srv.url);
  t.after(() => admin.close());
  const DROPS = 100;
  const USERS = 4;
  await admin.call('catalog.upsert', {
    productId: 'fair',
    name: 'Fair',
    category: 'test',
    variants: Array.from({ length: DROPS }, (_, i) => ({ sku: `fair-${i}`, price: 100 })),
  });
  const users = await Promise.all(Array.from({ length: USERS }, () => joiner(srv.url)));
  t.after(() => Promise.all(users.map((u) => u.c.close())));
  const startsAt = Date.now() + 3_000;
  await Promise.all(Array.from({ length: DROPS }, (_, i) => admin.call('drop.create', { dropId: `fair-${i}`, sku: `fair-${i}`, startsAt, admitPerSecond: 1 })));
  // Always the same join order: user 0 joins every drop first, then user 1, ...
  for (const u of users) await Promise.all(Array.from({ length: DROPS }, (_, i) => u.c.call('drop.join', { dropId: `fair-${i}` })));
  assert.ok(Date.now() < startsAt, 'every join landed before the start');
  // At 1 a second only the first in line is admitted within the first second.
  const firstOf = (u: Joiner) => u.admitted.filter((a) => a.admittedAt < startsAt + 1_000);
  await until(() => users.reduce((n, u) => n + firstOf(u).length, 0) >= DROPS, { timeoutMs: 15_000, what: 'the first admission of every drop' });
  const firsts = users.map((u) => firstOf(u).length);
  assert.equal(
    firsts.reduce((a, b) => a + b),
    DROPS,
    'one first admission per drop',
  );
  // Each user is first with probability 1/4: 25 of 100 expected, sd 4.3; 5..45 is beyond 4.6 sd.
  for (const [u, n] of firsts.entries()) assert.ok(n >= 5 && n <= 45, `user ${u} was first in ${n} of ${DROPS} drops: ${firsts.join(',')}`);
});

test('a joined user who is not admitted yet is refused the sku', async (t) => {
  const srv = await startTestServer(t);
  const admin = await connectAdmin(srv.url);
  const fan = await connectGuest(srv.url);
  t.after(() => Promise.all([admin.close(), fan.close()]));
  await stockedSku(admin, 'drop-later', 5);
  await admin.call('drop.create', { dropId: 'later', sku: 'drop-later', startsAt: Date.now() + 3_600_000 });
  await fan.call('drop.join', { dropId: 'later' });
  await fan.call('cart.add', { sku: 'drop-later', qty: 1 });
  assert.equal((await refused(checkout(fan, 'fan-1'), 'FORBIDDEN', 'joined, not admitted')).why, 'not_admitted');
  // Other skus are not gated.
  await fan.call('cart.setQty', { sku: 'drop-later', qty: 0 });
  await fan.call('cart.add', { sku: 'soap-bar', qty: 1 });
  assert.equal((await checkout(fan, 'fan-2')).status, 'confirmed');
});
