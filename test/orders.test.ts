// Orders over real sockets after checkout: every transition (legal and illegal) with the stock and
// the money it moves, who may do what, refund arithmetic, the domain events of a checkout on the
// admin feed, in /metrics and in the durable event log, order.list paging and order.subscribe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { connectAdmin, connectGuest, startTestServer, until } from './helpers/server.js';
import type { CartwireClient } from '../src/client/index.js';
import { errorOf, refused, stockedSku as stockSku } from './helpers/commerce.js';
const stockedSku = (admin: CartwireClient, sku: string, qty: number, price = 1000) => stockSku(admin, sku, qty, price, `p-${sku}`);
import { decodeRow } from '../src/persistence/row-codec.js';
import type { OrderView } from '../src/protocol/types.js';

const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };

let keys = 0;
/** Adds `qty` of `sku` to the buyer's cart and checks out; the order (or the error). */
async function buy(buyer: CartwireClient, sku: string, qty: number, token = 'tok_visa'): Promise<OrderView> {
  await buyer.call('cart.add', { sku, qty });
  return buyer.call('checkout', { idempotencyKey: `key-${++keys}`, payment: { token }, shippingAddress: ADDRESS });
}

interface Rig {
  url: string;
  dataDir: string;
  close: () => Promise<void>;
  admin: CartwireClient;
  guest: () => Promise<CartwireClient>;
}

async function rig(t: TestContext, env: Record<string, string> = {}): Promise<Rig> {
  const srv = await startTestServer(t, { SEED_DEMO: '0', ...env });
  const clients: CartwireClient[] = [];
  t.after(() => Promise.all(clients.map((c) => c.close())));
  const admin = await connectAdmin(srv.url);
  clients.push(admin);
  return {
    url: srv.url,
    dataDir: srv.dataDir,
    close: () => srv.close(),
    admin,
    guest: async () => {
      const c = await connectGuest(srv.url);
      clients.push(c);
      return c;
    },
  };
}

const pushesOf = (c: CartwireClient): [string, Record<string, unknown>][] => {
  const got: [string, Record<string, unknown>][] = [];
  c.onPush((name, data) => got.push([name, data as Record<string, unknown>]));
  return got;
};

test('confirmed -> shipped -> delivered -> returned restocks and refunds; every illegal step is CONFLICT; admin ops are FORBIDDEN to customers', async (t) => {
  const { admin, guest } = await rig(t);
  await stockedSku(admin, 'life-a', 10, 1250);
  const buyer = await guest();
  const order = await buy(buyer, 'life-a', 2);
  const id = { orderId: order.orderId };
  assert.equal(order.status, 'confirmed');
  // GB: 2500 + 20% VAT + flat shipping.
  assert.deepEqual(order.totals, { subtotal: 2500, discount: 0, tax: 500, shipping: 499, total: 3499 });
  assert.deepEqual(order.payment.refunded, 0);
  assert.equal((await admin.call('inventory.get', { sku: 'life-a' })).onHand, 8);

  for (const op of ['order.ship', 'order.deliver', 'order.refund', 'order.return'] as const) {
    await refused(buyer.call(op, id), 'FORBIDDEN', `${op} by the customer`);
  }
  const conflict = async (p: Promise<unknown>, status: string, what: string) => {
    const d = await refused(p, 'CONFLICT', what);
    assert.deepEqual(d, { orderId: order.orderId, status }, `${what}: details`);
  };
  await conflict(admin.call('order.deliver', id), 'confirmed', 'deliver before ship');
  await conflict(admin.call('order.return', id), 'confirmed', 'return before delivery');

  const shipped = await admin.call('order.ship', { ...id, carrier: 'DHL', trackingNumber: 'JD0001' });
  assert.equal(shipped.status, 'shipped');
  assert.equal(shipped.shipment?.carrier, 'DHL');
  assert.equal(shipped.shipment?.trackingNumber, 'JD0001');
  assert.ok(shipped.shipment.shippedAt >= order.createdAt);
  await conflict(admin.call('order.ship', id), 'shipped', 'ship twice');
  await conflict(admin.call('order.return', id), 'shipped', 'return from shipped');
  await conflict(buyer.call('order.cancel', id), 'shipped', 'cancel after shipped');

  const delivered = await admin.call('order.deliver', id);
  assert.equal(delivered.status, 'delivered');
  assert.ok(delivered.shipment!.deliveredAt! >= delivered.shipment!.shippedAt);
  await conflict(admin.call('order.deliver', id), 'delivered', 'deliver twice');
  await conflict(admin.call('order.ship', id), 'delivered', 'ship a delivered order');
  await conflict(buyer.call('order.cancel', id), 'delivered', 'cancel a delivered order');
  assert.equal((await admin.call('inventory.get', { sku: 'life-a' })).onHand, 8, 'nothing moved the stock yet');

  const returned = await admin.call('order.return', id);
  assert.equal(returned.status, 'returned');
  assert.deepEqual([returned.payment.status, returned.payment.refunded], ['refunded', 3499]);
  assert.deepEqual(
    returned.refunds.map((r) => r.amount),
    [3499],
  );
  const inv = await admin.call('inventory.get', { sku: 'life-a' });
  assert.deepEqual([inv.onHand, inv.reserved, inv.available], [10, 0, 10], 'the two units are back on the shelf');

  for (const [op, what] of [
    ['order.return', 'return twice'],
    ['order.ship', 'ship a returned order'],
    ['order.deliver', 'deliver a returned order'],
    ['order.refund', 'refund a returned order'],
  ] as const) {
    await conflict(admin.call(op, id), 'returned', what);
  }
  await conflict(buyer.call('order.cancel', id), 'returned', 'cancel a returned order');
  assert.equal((await admin.call('inventory.get', { sku: 'life-a' })).onHand, 10, 'restocked once');
  const stored = await buyer.call('order.get', id);
  assert.deepEqual([stored.status, stored.payment.refunded], ['returned', 3499]);
});

test('restocking after a return or a cancel is an inventory `return` transaction on the feed (every change is an inventory transaction)', async (t) => {
  const { admin, guest } = await rig(t);
  await stockedSku(admin, 'rt-a', 10, 700);
  const feed = pushesOf(admin);
  await admin.call('admin.subscribe', {});
  const buyer = await guest();
  const returned = await buy(buyer, 'rt-a', 2);
  await admin.call('order.ship', { orderId: returned.orderId });
  await admin.call('order.deliver', { orderId: returned.orderId });
  await admin.call('order.return', { orderId: returned.orderId });
  const cancelled = await buy(buyer, 'rt-a', 1);
  await buyer.call('order.cancel', { orderId: cancelled.orderId });
  await until(() => feed.filter(([n, d]) => n === 'inventory_updated' && d.sku === 'rt-a').length >= 6, { what: 'six stock changes of rt-a' });
  const changes = feed.filter(([n, d]) => n === 'inventory_updated' && d.sku === 'rt-a').map(([, d]) => d.change);
  // The holds and their commits aside, the two restocks.
  assert.deepEqual(
    changes.filter((c) => !['reservation', 'release', 'sale'].includes(c as string)),
    ['return', 'return'],
  );
  assert.equal((await admin.call('inventory.get', { sku: 'rt-a' })).onHand, 10);
});

test('a checkout that fails before any payment (out of stock) logs no payment_failed and counts no failed payment', async (t) => {
  const r = await rig(t);
  await stockedSku(r.admin, 'oos-a', 1, 700);
  const feed = pushesOf(r.admin);
  await r.admin.call('admin.subscribe', {});
  const buyer = await r.guest();
  await buyer.call('cart.add', { sku: 'oos-a', qty: 1 });
  await r.admin.call('inventory.adjust', { sku: 'oos-a', type: 'damage', qty: 1, reason: 'broken' });
  const d = await refused(
    buyer.call('checkout', { idempotencyKey: 'oos', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS }),
    'OUT_OF_STOCK',
    'checkout of a sold-out line',
  );
  await until(() => feed.some(([n, x]) => n === 'order.updated' && x.orderId === d.orderId && x.status === 'cancelled'), {
    what: 'the failed order on the feed',
  });
  await r.admin.call('ping', {});
  assert.deepEqual(
    feed.filter(([n]) => n.startsWith('payment_')),
    [],
    'no payment event: the gateway was never asked',
  );
  const text = await (await fetch(`${r.url}/metrics`)).text();
  assert.ok(!/^cartwire_payments_total\{outcome="failed"\} [1-9]/m.test(text), 'no failed payment counted');
});

test('while its checkout runs the order is pending: cancel, ship, refund are CONFLICT and the cart is frozen; a timeout then cancels it', async (t) => {
  const { admin, guest } = await rig(t, { GATEWAY_TIMEOUT_MS: '700' });
  await stockedSku(admin, 'pend-a', 5, 900);
  const buyer = await guest();
  const updates = pushesOf(buyer);
  await buyer.call('order.subscribe', {});
  const checkout = errorOf(buy(buyer, 'pend-a', 1, 'tok_timeout'));
  await until(() => updates.some(([n, d]) => n === 'order.updated' && d.status === 'pending'), { what: 'the pending order pushed' });
  const orderId = updates.find(([, d]) => d.status === 'pending')![1].orderId as string;
  const pending = async (p: Promise<unknown>, what: string) => {
    const d = await refused(p, 'CONFLICT', what);
    assert.equal(d.status, 'pending', what);
  };
  await pending(buyer.call('order.cancel', { orderId }), 'cancel while pending');
  await pending(admin.call('order.ship', { orderId }), 'ship while pending');
  await pending(admin.call('order.refund', { orderId }), 'refund while pending');
  await pending(admin.call('order.deliver', { orderId }), 'deliver while pending');
  const frozen = await refused(buyer.call('cart.add', { sku: 'pend-a', qty: 1 }), 'CONFLICT', 'a frozen cart');
  assert.equal(frozen.orderId, orderId);
  assert.equal((await admin.call('inventory.get', { sku: 'pend-a' })).reserved, 1);

  const timedOut = await checkout;
  assert.deepEqual([timedOut.code, timedOut.details?.reason, timedOut.details?.orderId], ['PAYMENT_DECLINED', 'timeout', orderId]);
  const failed = await buyer.call('order.get', { orderId });
  assert.deepEqual([failed.status, failed.payment.status, failed.payment.refunded], ['cancelled', 'voided', 0]);
  const d = await refused(buyer.call('order.cancel', { orderId }), 'CONFLICT', 'cancel a failed checkout');
  assert.equal(d.status, 'cancelled');
  await refused(admin.call('order.refund', { orderId }), 'CONFLICT', 'refund what was never captured');
  const inv = await admin.call('inventory.get', { sku: 'pend-a' });
  assert.deepEqual([inv.onHand, inv.reserved], [5, 0]);
});

test('the owner cancels a confirmed order: refunded and restocked once; others get NOT_FOUND; a cancelled order cannot move', async (t) => {
  const { admin, guest } = await rig(t);
  await stockedSku(admin, 'can-a', 5, 800);
  const [owner, stranger] = await Promise.all([guest(), guest()]);
  const order = await buy(owner, 'can-a', 3);
  const id = { orderId: order.orderId };
  assert.equal((await admin.call('inventory.get', { sku: 'can-a' })).onHand, 2);

  await refused(stranger.call('order.get', id), 'NOT_FOUND', 'another user reads it');
  await refused(stranger.call('order.cancel', id), 'NOT_FOUND', 'another user cancels it');
  assert.equal((await owner.call('order.get', id)).status, 'confirmed', 'the stranger changed nothing');
  await refused(owner.call('order.get', { orderId: 'ord_doesnotexist' }), 'NOT_FOUND', 'an unknown order');

  // Twice at once: one cancel wins; the money and the stock move once.
  const [a, b] = await Promise.allSettled([owner.call('order.cancel', id), owner.call('order.cancel', id)]);
  const wins = [a, b].filter((r) => r.status === 'fulfilled');
  const losses = [a, b].filter((r) => r.status === 'rejected');
  assert.equal(wins.length, 1, 'exactly one cancel succeeds');
  assert.equal((losses[0].reason as { code: string }).code, 'CONFLICT');
  const cancelled = wins[0].value;
  assert.equal(cancelled.status, 'cancelled');
  assert.deepEqual([cancelled.payment.status, cancelled.payment.refunded], ['refunded', order.totals.total]);
  assert.equal(cancelled.refunds.length, 1);
  const inv = await admin.call('inventory.get', { sku: 'can-a' });
  assert.deepEqual([inv.onHand, inv.reserved], [5, 0], 'restocked exactly once');

  const d = await refused(owner.call('order.cancel', id), 'CONFLICT', 'cancel a cancelled order');
  assert.deepEqual(d, { orderId: order.orderId, status: 'cancelled' });
  await refused(admin.call('order.ship', id), 'CONFLICT', 'ship a cancelled order');
  await refused(admin.call('order.refund', id), 'CONFLICT', 'refund a cancelled order');
  await refused(admin.call('order.deliver', id), 'CONFLICT', 'deliver a cancelled order');
  const after = await owner.call('order.get', id);
  assert.deepEqual([after.status, after.payment.refunded], ['cancelled', order.totals.total]);

  // An admin may cancel anyone's order too.
  const second = await buy(owner, 'can-a', 1);
  const byAdmin = await admin.call('order.cancel', { orderId: second.orderId });
  assert.deepEqual([byAdmin.status, byAdmin.payment.refunded], ['cancelled', second.totals.total]);
  assert.equal((await admin.call('inventory.get', { sku: 'can-a' })).onHand, 5);

  assert.equal((await admin.call('order.get', { orderId: second.orderId })).userId, owner.session!.userId, 'admins read any order');

  // Ship racing the owner's cancel: one wins, and the order is wholly one or the other.
  const raced = await buy(owner, 'can-a', 1);
  const [ship, cancelRace] = await Promise.allSettled([
    admin.call('order.ship', { orderId: raced.orderId }),
    owner.call('order.cancel', { orderId: raced.orderId }),
  ]);
  assert.equal([ship, cancelRace].filter((r) => r.status === 'fulfilled').length, 1, 'exactly one of ship and cancel succeeds');
  for (const r of [ship, cancelRace]) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'CONFLICT');
  const outcome = await owner.call('order.get', { orderId: raced.orderId });
  if (ship.status === 'fulfilled') {
    assert.deepEqual([outcome.status, outcome.payment.refunded], ['shipped', 0]);
    assert.equal((await admin.call('inventory.get', { sku: 'can-a' })).onHand, 4);
    await admin.call('inventory.adjust', { sku: 'can-a', type: 'purchase', qty: 1, reason: 'keep the count' });
  } else {
    assert.deepEqual([outcome.status, outcome.payment.refunded], ['cancelled', raced.totals.total]);
    assert.equal((await admin.call('inventory.get', { sku: 'can-a' })).onHand, 5);
  }

  // A partial refund racing the owner's cancel: whichever runs first, the money adds up and the
  // stock comes back once.
  const third = await buy(owner, 'can-a', 2);
  const [refund, cancel] = await Promise.allSettled([
    admin.call('order.refund', { orderId: third.orderId, amount: 100 }),
    owner.call('order.cancel', { orderId: third.orderId }),
  ]);
  for (const r of [refund, cancel]) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'CONFLICT');
  let end = await owner.call('order.get', { orderId: third.orderId });
  if (end.status !== 'cancelled') end = await owner.call('order.cancel', { orderId: third.orderId }); // the refund won: cancel now
  assert.deepEqual([end.status, end.payment.refunded, end.payment.status], ['cancelled', third.totals.total, 'refunded']);
  assert.equal(
    end.refunds.reduce((n, r) => n + r.amount, 0),
    third.totals.total,
  );
  assert.equal((await admin.call('inventory.get', { sku: 'can-a' })).onHand, 5, 'restocked once');
});

test('refund arithmetic: partials up to exactly the capture, one unit more is CONFLICT, no amount refunds the rest, a return refunds only what remains', async (t) => {
  const { admin, guest } = await rig(t);
  await stockedSku(admin, 'ref-a', 50, 1999);
  const buyer = await guest();

  // Partial refunds summing to exactly the total.
  const o = await buy(buyer, 'ref-a', 2);
  const total = o.totals.total;
  assert.equal(total, 3998 + 800 + 499); // 20% of 3998 = 799.6 -> 800
  const id = { orderId: o.orderId };
  const r1 = await admin.call('order.refund', { ...id, amount: 1000, reason: 'damaged box' });
  assert.deepEqual([r1.status, r1.payment.status, r1.payment.refunded], ['confirmed', 'partially_refunded', 1000]);
  assert.deepEqual(
    r1.refunds.map((r) => [r.amount, r.reason]),
    [[1000, 'damaged box']],
  );
  const r2 = await admin.call('order.refund', { ...id, amount: 1500 });
  assert.deepEqual([r2.status, r2.payment.refunded], ['confirmed', 2500]);
  const over = await refused(admin.call('order.refund', { ...id, amount: total - 2500 + 1 }), 'CONFLICT', 'one unit more than remains');
  assert.deepEqual(over, { orderId: o.orderId, captured: total, refunded: 2500, requested: total - 2500 + 1 });
  const r3 = await admin.call('order.refund', { ...id, amount: total - 2500 });
  assert.deepEqual([r3.status, r3.payment.status, r3.payment.refunded], ['refunded', 'refunded', total]);
  const after = await refused(admin.call('order.refund', { ...id, amount: 1 }), 'CONFLICT', 'refund a refunded order');
  assert.equal(after.status, 'refunded');
  assert.equal((await admin.call('order.get', id)).payment.refunded, total);

  // No amount: all that remains.
  const p = await buy(buyer, 'ref-a', 1);
  await admin.call('order.refund', { orderId: p.orderId, amount: 333 });
  const rest = await admin.call('order.refund', { orderId: p.orderId });
  assert.deepEqual([rest.status, rest.payment.refunded, rest.refunds.map((r) => r.amount)], ['refunded', p.totals.total, [333, p.totals.total - 333]]);

  // A partial refund, then the order comes back: the return refunds only what remains.
  const q = await buy(buyer, 'ref-a', 3);
  const qid = { orderId: q.orderId };
  await admin.call('order.refund', { ...qid, amount: 700 });
  await admin.call('order.ship', qid);
  const partAfterShip = await admin.call('order.refund', { ...qid, amount: 300 });
  assert.deepEqual([partAfterShip.status, partAfterShip.payment.refunded], ['shipped', 1000]);
  await admin.call('order.deliver', qid);
  const returned = await admin.call('order.return', qid);
  assert.deepEqual([returned.status, returned.payment.refunded, returned.payment.status], ['returned', q.totals.total, 'refunded']);
  assert.deepEqual(
    returned.refunds.map((r) => r.amount),
    [700, 300, q.totals.total - 1000],
  );

  // Many refunds at once: the order serializes them; the sum never passes the total.
  const s = await buy(buyer, 'ref-a', 1);
  const half = Math.ceil(s.totals.total / 2);
  const results = await Promise.allSettled(Array.from({ length: 6 }, () => admin.call('order.refund', { orderId: s.orderId, amount: half })));
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'CONFLICT');
  const final = await admin.call('order.get', { orderId: s.orderId });
  const sum = final.refunds.reduce((n, r) => n + r.amount, 0);
  assert.equal(final.payment.refunded, sum);
  assert.ok(sum <= final.totals.total, `refunded ${sum} of ${final.totals.total}`);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, final.refunds.length, 'each accepted refund is recorded once');
  // Stock was never touched by refunds alone.
  // 2 + 1 + 3 + 1 sold; the 3 returned are back.
  assert.equal((await admin.call('inventory.get', { sku: 'ref-a' })).onHand, 50 - 2 - 1 - 3 - 1 + 3);
});

test('a checkout emits each domain event once to the admin feed, the metrics count them, and the event log holds them durably', async (t) => {
  const r = await rig(t);
  const { admin } = r;
  await stockedSku(admin, 'ev-a', 10, 1500);
  const feed = pushesOf(admin);
  await admin.call('admin.subscribe', {});
  const buyer = await r.guest();
  const decliner = await r.guest();
  await buyer.call('event.view', { productId: 'p-ev-a' });
  await refused(buyer.call('event.view', { productId: 'p-nope' }), 'NOT_FOUND', 'viewing an unknown product');
  await buyer.call('cart.add', { sku: 'ev-a', qty: 2 });
  const paidArgs = { idempotencyKey: 'ev-paid', payment: { token: 'tok_visa' }, shippingAddress: ADDRESS };
  const paid = await buyer.call('checkout', paidArgs);
  assert.equal((await buyer.call('checkout', paidArgs)).orderId, paid.orderId, 'a retry of the key: the same order, and no new event');
  const declined = await refused(buy(decliner, 'ev-a', 1, 'tok_chargeDeclined'), 'PAYMENT_DECLINED', 'a declined card');
  const failedId = declined.orderId as string;
  await admin.call('order.ship', { orderId: paid.orderId, carrier: 'UPS' });
  await admin.call('order.deliver', { orderId: paid.orderId });
  await until(() => feed.some(([n, d]) => n === 'order_delivered' && d.orderId === paid.orderId), { what: 'order_delivered on the feed' });
  await admin.call('ping', {});

  const named = (name: string, match: (d: Record<string, unknown>) => boolean = () => true) =>
    feed.filter(([n, d]) => n === name && match(d)).map(([, d]) => d);
  const of = (orderId: string) => (d: Record<string, unknown>) => d.orderId === orderId;
  const counts = (orderId: string) =>
    Object.fromEntries(
      ['order_created', 'payment_processed', 'order_paid', 'payment_failed', 'order_shipped', 'order_delivered'].map((n) => [n, named(n, of(orderId)).length]),
    );
  assert.deepEqual(counts(paid.orderId), { order_created: 1, payment_processed: 1, order_paid: 1, payment_failed: 0, order_shipped: 1, order_delivered: 1 });
  assert.deepEqual(counts(failedId), { order_created: 1, payment_processed: 0, order_paid: 0, payment_failed: 1, order_shipped: 0, order_delivered: 0 });
  const [paidEvent] = named('order_paid', of(paid.orderId));
  assert.deepEqual(
    { ...paidEvent, at: 0 },
    {
      orderId: paid.orderId,
      userId: paid.userId,
      at: 0,
      orderNumber: paid.orderNumber,
      total: paid.totals.total,
      currency: 'USD',
      flagged: false,
      items: [{ sku: 'ev-a', productId: 'p-ev-a', qty: 2 }],
    },
  );
  const [processed] = named('payment_processed', of(paid.orderId));
  assert.deepEqual([processed.amount, processed.currency, processed.transactionId], [paid.totals.total, 'USD', paid.payment.transactionId]);
  const [failed] = named('payment_failed', of(failedId));
  assert.deepEqual([failed.code, failed.reason, failed.currency], ['PAYMENT_DECLINED', 'card_declined', 'USD']);
  assert.deepEqual(
    named('product_viewed').map((d) => [d.userId, d.productId, d.category]),
    [[paid.userId, 'p-ev-a', 'test']],
  );
  assert.deepEqual(
    named('product_added_to_cart').map((d) => [d.sku, d.productId, d.qty]),
    [
      ['ev-a', 'p-ev-a', 2],
      ['ev-a', 'p-ev-a', 1],
    ],
  );
  // The sku's own history: every stock change once, in order (the initial stock came before the feed).
  assert.deepEqual(
    named('inventory_updated', (d) => d.sku === 'ev-a').map((d) => d.change),
    ['reservation', 'sale', 'reservation', 'release'],
  );
  // order.updated: every version of the paid order once, in order, ending delivered.
  const updates = feed.filter(([n, d]) => n === 'order.updated' && d.orderId === paid.orderId).map(([, d]) => d as unknown as OrderView);
  assert.deepEqual(
    updates.map((u) => u.version),
    updates.map((_, i) => i + 1),
  );
  assert.deepEqual([...new Set(updates.map((u) => u.status))], ['pending', 'confirmed', 'shipped', 'delivered']);

  // /metrics: counted from the committed events.
  const metrics = async () => {
    const text = await (await fetch(`${r.url}/metrics`)).text();
    return (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    };
  };
  const m = await metrics();
  assert.deepEqual(
    {
      created: m('cartwire_orders_created_total'),
      completed: m('cartwire_orders_completed_total'),
      revenue: m('cartwire_revenue_minor_units_total{currency="USD"}'),
      processed: m('cartwire_payments_total{outcome="processed"}'),
      failed: m('cartwire_payments_total{outcome="failed"}'),
      additions: m('cartwire_cart_additions_total'),
      viewed: m('cartwire_products_viewed_total'),
      active: m('cartwire_active_users'),
    },
    { created: 2, completed: 1, revenue: paid.totals.total, processed: 1, failed: 1, additions: 3, viewed: 1, active: 3 },
  );
  await decliner.close();
  await until(async () => (await metrics())('cartwire_active_users') === 2, { what: 'active users down to 2 once a buyer left' });

  // Durable: the event log of the shards, read after the server stopped, holds the same events once.
  const fromFeed = feed
    .filter(([n]) => !n.includes('.') && !n.startsWith('user_'))
    .map(([n, d]) => `${n} ${JSON.stringify(d)}`)
    .sort();
  await r.close();
  const logged: string[] = [];
  for (const file of readdirSync(r.dataDir).filter((f) => /^shard-\d+\.db$/.test(f))) {
    const db = new Database(join(r.dataDir, file), { readonly: true });
    try {
      for (const row of db.prepare('SELECT events FROM event_log ORDER BY g').all() as { events: Buffer }[]) {
        for (const [name, data] of decodeRow(row.events) as [string, Record<string, unknown>][]) logged.push(`${name} ${JSON.stringify(data)}`);
      }
    } finally {
      db.close();
    }
  }
  const since = logged.filter((l) => fromFeed.includes(l));
  assert.deepEqual(since.sort(), fromFeed, 'every pushed domain event is in the log exactly once');
  for (const name of ['order_created', 'payment_processed', 'order_paid', 'order_shipped', 'order_delivered']) {
    assert.equal(logged.filter((l) => l.startsWith(`${name} `) && l.includes(paid.orderId)).length, 1, `${name} logged once`);
  }
  assert.equal(logged.filter((l) => l.startsWith('payment_failed ') && l.includes(failedId)).length, 1);
  assert.equal(logged.filter((l) => l.startsWith('product_viewed ')).length, 1);
});

test('order.list pages newest first with a cursor: own orders only, admins see all, each order once; a bad cursor is BAD_REQUEST', async (t) => {
  const { admin, guest } = await rig(t);
  await stockedSku(admin, 'list-a', 500, 100);
  const alice = await guest();
  const mine: OrderView[] = [];
  for (let i = 0; i < 5; i++) mine.push(await buy(alice, 'list-a', 1));
  // Ten other buyers at once: orders created in the same millisecond on one shard are paged by id.
  const others = await Promise.all(Array.from({ length: 10 }, () => guest()));
  const theirs = await Promise.all(others.map((c) => buy(c, 'list-a', 1)));

  const pages = async (c: CartwireClient, limit: number) => {
    const seen: OrderView[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 50; n++) {
      const page = await c.call('order.list', { limit, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items);
      sizes.push(page.items.length);
      if (page.nextCursor === null) return { seen, sizes };
      cursor = page.nextCursor;
    }
    assert.fail('paging did not end');
  };
  const newestFirst = (list: OrderView[]) => {
    for (let i = 1; i < list.length; i++) {
      const [a, b] = [list[i - 1], list[i]];
      assert.ok(a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.orderId > b.orderId), `order ${i} is not older than the one before it`);
    }
  };

  const own = await pages(alice, 2);
  assert.deepEqual(own.sizes, [2, 2, 1]);
  assert.deepEqual(
    own.seen.map((o) => o.orderId),
    mine.map((o) => o.orderId).reverse(),
    'her five orders, newest first',
  );
  newestFirst(own.seen);
  assert.ok(own.seen.every((o) => o.userId === alice.session!.userId));
  // An order placed between two pages: the next page goes on behind the cursor, no repeat.
  const first = await alice.call('order.list', { limit: 2 });
  mine.push(await buy(alice, 'list-a', 1));
  const rest = await alice.call('order.list', { limit: 10, cursor: first.nextCursor! });
  assert.deepEqual(
    [...first.items, ...rest.items].map((o) => o.orderId),
    mine
      .slice(0, 5)
      .map((o) => o.orderId)
      .reverse(),
  );
  assert.equal((await alice.call('order.list', { limit: 1 })).items[0].orderId, mine[5].orderId, 'the new order heads a new listing');
  mine.pop();
  const whole = await alice.call('order.list', { limit: 5 });
  assert.deepEqual([whole.items.length, typeof whole.nextCursor], [5, 'string']);
  assert.equal((await alice.call('order.list', {})).items.length, 6, 'the default limit (20) holds all six');
  const one = await others[0].call('order.list', {});
  assert.deepEqual(
    one.items.map((o) => o.orderId),
    [theirs[0].orderId],
  );
  const fresh = await guest();
  assert.deepEqual(await fresh.call('order.list', {}), { items: [], nextCursor: null });

  const all = await pages(admin, 3);
  assert.equal(all.seen.length, 16);
  const extra = (await alice.call('order.list', { limit: 1 })).items[0];
  assert.deepEqual(new Set(all.seen.map((o) => o.orderId)), new Set([...mine, extra, ...theirs].map((o) => o.orderId)), 'admins see every order once');
  newestFirst(all.seen);
  const ones = await pages(admin, 1);
  assert.deepEqual(
    ones.seen.map((o) => o.orderId),
    all.seen.map((o) => o.orderId),
    'pages of one give the same sequence',
  );

  for (const cursor of ['garbage', 'abc', Buffer.from('[1,2,3]').toString('base64url'), Buffer.from('"x"').toString('base64url')]) {
    await refused(alice.call('order.list', { cursor }), 'BAD_REQUEST', `cursor ${cursor}`);
  }
  await refused(alice.call('order.list', { limit: 0 }), 'BAD_REQUEST', 'limit 0');
  await refused(alice.call('order.list', { limit: 101 }), 'BAD_REQUEST', 'limit 101');
});

test("order.subscribe pushes order.updated for the caller's own orders only, on every connection that subscribed", async (t) => {
  const { admin, guest, url } = await rig(t);
  await stockedSku(admin, 'sub-a', 20, 500);
  const alice = await guest();
  const bob = await guest();
  const aliceToo = await connectGuest(url); // another connection of someone else
  t.after(() => aliceToo.close());
  const alicePushes = pushesOf(alice);
  const bobPushes = pushesOf(bob);
  const idlePushes = pushesOf(aliceToo);
  assert.deepEqual(await alice.call('order.subscribe', {}), {});
  await bob.call('order.subscribe', {});

  const a = await buy(alice, 'sub-a', 1);
  await admin.call('order.ship', { orderId: a.orderId });
  const b = await buy(bob, 'sub-a', 2);
  const bDeclined = await refused(buy(bob, 'sub-a', 1, 'tok_insufficientFunds'), 'PAYMENT_DECLINED', 'bob declined');
  await until(() => alicePushes.some(([, d]) => d.status === 'shipped'), { what: 'alice sees her order shipped' });
  await until(() => bobPushes.some(([, d]) => d.orderId === bDeclined.orderId && d.status === 'cancelled'), { what: 'bob sees his declined order' });
  await Promise.all([alice.call('ping', {}), bob.call('ping', {}), aliceToo.call('ping', {})]);

  assert.ok(
    alicePushes.every(([n, d]) => n === 'order.updated' && d.userId === alice.session!.userId && d.orderId === a.orderId),
    'alice gets only her order',
  );
  assert.ok(
    bobPushes.every(([n, d]) => n === 'order.updated' && d.userId === bob.session!.userId),
    'bob gets only his orders',
  );
  assert.ok(bobPushes.some(([, d]) => d.orderId === b.orderId && d.status === 'confirmed'));
  const versions = alicePushes.map(([, d]) => d.version as number);
  assert.deepEqual(
    versions,
    versions.map((_, i) => i + 1),
    'every version of her order once, in order',
  );
  assert.deepEqual([...new Set(alicePushes.map(([, d]) => d.status))], ['pending', 'confirmed', 'shipped']);
  assert.deepEqual(idlePushes, [], 'a connection that did not subscribe gets nothing');

  // A connection that signs in as someone else stops following the previous user's orders.
  await alice.call('auth.guest', {});
  const seen = alicePushes.length;
  await admin.call('order.deliver', { orderId: a.orderId });
  await buy(aliceToo, 'sub-a', 1);
  await Promise.all([alice.call('ping', {}), admin.call('ping', {})]);
  assert.equal(alicePushes.length, seen, 'no push for the old identity, none for another user');
});
