// A flash sale over real sockets: 1,000 guest connections race for 100 units of one sku, each
// adding one unit and checking out with a card from a seeded mix (approve, decline, gateway
// timeout). Afterwards the stock, the orders, the payment ledger (read from the stopped server's
// shard files) and the domain event log must tell one story: never more sold than there was,
// nothing left reserved, every sale paid exactly once, no money kept for an order that failed.
// A second test sends the same checkout twice at once and once more after, for 20 buyers.
//
// Reproduce a run with FLASH_SEED=<seed printed by the test>.
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connectAdmin, serverRestarts, spawnServer, tmpDataDir, until, type ChildServer } from './helpers/server.js';
import { keptAmount, loggedEvents, paymentLedgers } from './helpers/ledger.js';
import { metricValue, prng } from './helpers/proc.js';
import { CartwireClient, CartwireError } from '../src/client/index.js';
import type { OrderView } from '../src/protocol/types.js';

const ADDRESS = { name: 'Ada Lovelace', line1: '12 St James Sq', city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' };
const SKU = 'flash-tee';
const STOCK = 100;
const BUYERS = 1000;
const CONNECT_CONCURRENCY = 100;
const PRICE = 2500;
const ENV = {
  SHARDS: '2',
  SEED_DEMO: '0',
  GATEWAY_TIMEOUT_MS: '300',
  CHECKOUT_DEADLINE_MS: '5000',
  // Every buyer connects from 127.0.0.1: the per-IP upgrade limit would count them all together.
  IP_CONNECTS_PER_SEC: '0',
};
/** Generous per-call deadline: 1,000 sagas share two cores with the test itself. */
const CALL_TIMEOUT_MS = 60_000;

type Token = 'tok_visa' | 'tok_chargeDeclined' | 'tok_timeout';
/** 60% approve, 20% decline, 20% time out at the gateway. */
const tokenFor = (r: number): Token => (r < 0.6 ? 'tok_visa' : r < 0.8 ? 'tok_chargeDeclined' : 'tok_timeout');

/**
 * The decline reasons each card may get: its own, or a timeout when the gateway (a shard under
 * this load) does not answer within GATEWAY_TIMEOUT_MS.
 */
const DECLINE_REASONS: Record<Token, readonly string[]> = {
  tok_visa: ['timeout'],
  tok_chargeDeclined: ['card_declined', 'timeout'],
  tok_timeout: ['timeout'],
};

type Answer = { ok: true; order: OrderView } | { ok: false; code: string; details: Record<string, unknown> };

async function answer<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string; details: Record<string, unknown> }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    if (!(err instanceof CartwireError) || !err.fromServer) throw err;
    return { ok: false, code: err.code, details: err.details ?? {} };
  }
}

async function checkout(c: CartwireClient, key: string, token: string): Promise<Answer> {
  const a = await answer(c.call('checkout', { idempotencyKey: key, payment: { token }, shippingAddress: ADDRESS }));
  return a.ok ? { ok: true, order: a.value } : a;
}

const orderIdOf = (a: Answer): unknown => (a.ok ? a.order.orderId : a.details.orderId);

/** Runs `fn` over `items` with at most `limit` at a time, in order of start. */
async function bounded<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

async function guestConnection(url: string): Promise<{ c: CartwireClient; userId: string }> {
  const c = await CartwireClient.connect(url, { timeoutMs: CALL_TIMEOUT_MS });
  const { userId } = await c.call('auth.guest', {});
  return { c, userId };
}

/** Every order the server holds (admin pages, newest first). */
async function allOrders(admin: CartwireClient): Promise<OrderView[]> {
  const out: OrderView[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await admin.call('order.list', cursor === undefined ? { limit: 100 } : { limit: 100, cursor });
    out.push(...page.items);
    if (page.nextCursor === null) return out;
    cursor = page.nextCursor;
  }
}

async function stockSku(admin: CartwireClient, sku: string, qty: number): Promise<void> {
  await admin.call('catalog.upsert', { productId: sku, name: `Product ${sku}`, category: 'test', variants: [{ sku, price: PRICE }] });
  await admin.call('inventory.adjust', { sku, type: 'adjustment', qty, reason: 'flash sale stock' });
}

async function server(t: TestContext): Promise<{ srv: ChildServer; dataDir: string }> {
  const dataDir = tmpDataDir(t);
  const srv = await spawnServer(dataDir, ENV);
  t.after(async () => {
    if (srv.proc.exitCode === null && srv.proc.signalCode === null) await srv.kill9();
  });
  return { srv, dataDir };
}

/** A wrong OUT_OF_STOCK would refuse a unit that was there: every one must name the sku and show less than 1 available. */
function checkOutOfStock(a: { code: string; details: Record<string, unknown> }, where: string, problems: string[]): void {
  const { sku, available } = a.details;
  if (sku !== SKU || typeof available !== 'number' || available >= 1) problems.push(`${where}: OUT_OF_STOCK with details ${JSON.stringify(a.details)}`);
}

test('flash sale: 1,000 buyers on 100 units never oversell, leave nothing reserved, and every sale is paid exactly once', { timeout: 120_000 }, async (t) => {
  const seed = Number(process.env.FLASH_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`FLASH_SEED=${seed}`);
  const rng = prng(seed);
  const { srv, dataDir } = await server(t);
  const admin = await connectAdmin(srv.url);
  await stockSku(admin, SKU, STOCK);

  const tokens = Array.from({ length: BUYERS }, () => tokenFor(rng()));
  const t0 = performance.now();
  const buyers = await bounded(tokens, CONNECT_CONCURRENCY, () => guestConnection(srv.url));
  t.after(() => Promise.all(buyers.map((b) => b.c.close())));
  const connectedMs = performance.now() - t0;

  // The rush: every buyer at once adds one unit, then checks out.
  const problems: string[] = [];
  const addRefused = new Set<number>();
  const answers = new Map<number, Answer>();
  await Promise.all(
    buyers.map(async (b, i) => {
      const added = await answer(b.c.call('cart.add', { sku: SKU, qty: 1 }));
      if (!added.ok) {
        // The edge saw no stock left: a legitimate loss, if it really is out of stock.
        if (added.code === 'OUT_OF_STOCK') checkOutOfStock(added, `buyer ${i} cart.add`, problems);
        else problems.push(`buyer ${i} cart.add: ${added.code} ${JSON.stringify(added.details)}`);
        addRefused.add(i);
        return;
      }
      answers.set(i, await checkout(b.c, `flash-${i}`, tokens[i]));
    }),
  );
  const rushMs = performance.now() - t0 - connectedMs;

  const tally: Record<string, number> = {};
  let rushConfirmed = 0;
  for (const [i, a] of answers) {
    const kind = a.ok ? a.order.status : `${a.code}${a.details.reason ? `/${a.details.reason as string}` : ''}`;
    tally[kind] = (tally[kind] ?? 0) + 1;
    if (a.ok) {
      rushConfirmed++;
      if (a.order.status !== 'confirmed' || tokens[i] !== 'tok_visa') problems.push(`buyer ${i} (${tokens[i]}): ${a.order.status}`);
    } else if (a.code === 'OUT_OF_STOCK') {
      checkOutOfStock(a, `buyer ${i} checkout`, problems);
    } else if (a.code === 'PAYMENT_DECLINED') {
      if (!DECLINE_REASONS[tokens[i]].includes(a.details.reason as string))
        problems.push(`buyer ${i} (${tokens[i]}): PAYMENT_DECLINED ${JSON.stringify(a.details)}`);
    } else {
      problems.push(`buyer ${i} (${tokens[i]}): ${a.code} ${JSON.stringify(a.details)}`);
    }
    if (typeof orderIdOf(a) !== 'string') problems.push(`buyer ${i}: no orderId in ${JSON.stringify(a)}`);
  }
  t.diagnostic(
    `connected ${BUYERS} in ${Math.round(connectedMs)} ms; rush ${Math.round(rushMs)} ms; cart.add refused ${addRefused.size}; ${JSON.stringify(tally)}`,
  );
  assert.deepEqual(problems.slice(0, 20), [], `seed ${seed}`);
  assert.ok(rushConfirmed <= STOCK, `seed ${seed}: ${rushConfirmed} confirmed out of ${STOCK}`);

  // Nothing stays reserved once every answer is out; sold + available + reserved = what there was.
  const afterRush = await admin.call('inventory.get', { sku: SKU });
  assert.equal(afterRush.reserved, 0, `seed ${seed}: nothing reserved once every checkout answered`);
  assert.equal(afterRush.onHand, STOCK - rushConfirmed, `seed ${seed}: sold exactly the confirmed units`);

  // Stock freed by failed checkouts goes to approving buyers who lost the race, one at a time,
  // until the sku is sold out: then exactly STOCK units are sold, and nothing was stranded.
  const late: { i: number; answer: Answer }[] = [];
  let confirmed = rushConfirmed;
  const losers = tokens.map((_, i) => i).filter((i) => tokens[i] === 'tok_visa' && !(answers.get(i)?.ok ?? false));
  for (const i of losers) {
    const c = buyers[i].c;
    const set = await answer(c.call('cart.setQty', { sku: SKU, qty: 1 }));
    if (confirmed === STOCK) {
      // One more buyer after the sell-out: refused, at the cart or at checkout.
      const refused = set.ok ? await checkout(c, `late-${i}`, 'tok_visa') : set;
      if (set.ok) late.push({ i, answer: refused });
      assert.ok(!refused.ok && refused.code === 'OUT_OF_STOCK', `sold out: ${JSON.stringify(refused)}`);
      break;
    }
    assert.ok(set.ok, `seed ${seed}: ${STOCK - confirmed} units left, yet buyer ${i} cannot put one in the cart (${JSON.stringify(set)})`);
    const a = await checkout(c, `late-${i}`, 'tok_visa');
    assert.ok(a.ok && a.order.status === 'confirmed', `seed ${seed}: ${STOCK - confirmed} units left, yet buyer ${i} got ${JSON.stringify(a)}`);
    late.push({ i, answer: a });
    confirmed++;
  }
  assert.equal(confirmed, STOCK, `seed ${seed}: enough approving buyers to sell out`);
  const soldOut = await admin.call('inventory.get', { sku: SKU });
  assert.deepEqual([soldOut.onHand, soldOut.reserved, soldOut.available], [0, 0, 0]);
  // Sold out, the cart itself refuses another unit, naming the sku.
  const lateAdds = await Promise.all(buyers.slice(0, 50).map((b) => answer(b.c.call('cart.add', { sku: SKU, qty: 1 }))));
  for (const [i, a] of lateAdds.entries()) {
    assert.ok(!a.ok && a.code === 'OUT_OF_STOCK', `buyer ${i}: cart.add after the sell-out: ${JSON.stringify(a)}`);
    checkOutOfStock(a, `buyer ${i} cart.add after the sell-out`, problems);
  }
  assert.deepEqual(problems, []);

  // The orders: one per checkout that passed the freeze, each in the state its answer said.
  const orders = await allOrders(admin);
  const byId = new Map(orders.map((o) => [o.orderId, o]));
  const calls = [...[...answers].map(([i, a]) => ({ i, answer: a })), ...late];
  assert.equal(orders.length, calls.length, 'one order per checkout');
  for (const { i, answer: a } of calls) {
    const o = byId.get(orderIdOf(a) as string);
    assert.ok(o, `buyer ${i}: the answered order ${String(orderIdOf(a))} exists`);
    assert.equal(o.userId, buyers[i].userId);
    assert.equal(o.status, a.ok ? 'confirmed' : 'cancelled', `buyer ${i}: the order's status matches the answer`);
  }
  const confirmedOrders = orders.filter((o) => o.status === 'confirmed');
  assert.equal(confirmedOrders.length, STOCK);
  assert.equal(
    confirmedOrders.reduce((n, o) => n + o.items.reduce((m, l) => m + l.qty, 0), 0),
    STOCK,
    'sold = confirmed quantity',
  );
  const completedMetric = await metricValue(srv.url, 'cartwire_orders_completed_total');
  await admin.close();
  assert.equal(await srv.term(), 0);

  // Money and events, from the shard files.
  const ledgers = paymentLedgers(dataDir);
  for (const o of orders) {
    const charge = ledgers.get(o.orderId);
    if (o.status === 'confirmed') {
      assert.ok(charge && charge.status === 'approved' && charge.token === 'tok_visa', `confirmed ${o.orderId} has an approved charge`);
      assert.equal(keptAmount(charge), o.totals.total, `confirmed ${o.orderId} captured its total once`);
      assert.equal(charge.transactionId, o.payment.transactionId);
    } else {
      assert.equal(keptAmount(charge), 0, `cancelled ${o.orderId} (${o.failure?.code}) keeps no money: ${JSON.stringify(charge)}`);
      if (o.failure?.code === 'OUT_OF_STOCK') assert.equal(charge, undefined, `${o.orderId}: out of stock never reaches the gateway`);
    }
  }
  const known = new Set(orders.map((o) => o.orderId));
  assert.deepEqual(
    [...ledgers.keys()].filter((id) => !known.has(id)),
    [],
    'no charge without an order',
  );
  const paid = loggedEvents(dataDir).filter((e) => e.name === 'order_paid');
  assert.equal(paid.length, STOCK, 'order_paid logged once per confirmed order');
  assert.deepEqual(new Set(paid.map((e) => e.data.orderId)), new Set(confirmedOrders.map((o) => o.orderId)));
  assert.equal(completedMetric, STOCK, 'cartwire_orders_completed_total');
});

test('the same checkout sent twice at once and once more after: one order per buyer, charged at most once', { timeout: 60_000 }, async (t) => {
  const { srv, dataDir } = await server(t);
  const admin = await connectAdmin(srv.url);
  const sku = 'idem-tee';
  await stockSku(admin, sku, 100);
  const tokens: Token[] = Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? 'tok_chargeDeclined' : 'tok_visa'));
  const buyers = await Promise.all(tokens.map(() => guestConnection(srv.url)));
  t.after(() => Promise.all(buyers.map((b) => b.c.close())));
  const results = await Promise.all(
    buyers.map(async (b, i) => {
      await b.c.call('cart.add', { sku, qty: 1 });
      const key = `twice-${i}`;
      const [a, b2] = await Promise.all([checkout(b.c, key, tokens[i]), checkout(b.c, key, tokens[i])]);
      const c = await checkout(b.c, key, tokens[i]);
      return [a, b2, c];
    }),
  );
  const approved = tokens.filter((tok) => tok === 'tok_visa').length;
  for (const [i, rs] of results.entries()) {
    const ids = new Set(rs.map(orderIdOf));
    assert.equal(ids.size, 1, `buyer ${i}: one order for three calls: ${JSON.stringify(rs)}`);
    for (const r of rs) {
      if (tokens[i] === 'tok_visa') assert.ok(r.ok && r.order.status === 'confirmed', `buyer ${i}: ${JSON.stringify(r)}`);
      else assert.ok(!r.ok && r.code === 'PAYMENT_DECLINED' && r.details.reason === 'card_declined', `buyer ${i}: ${JSON.stringify(r)}`);
    }
    const list = await buyers[i].c.call('order.list', {});
    assert.deepEqual(
      list.items.map((o) => o.orderId),
      [...ids],
      `buyer ${i}: order.list has the one order`,
    );
  }
  const inv = await admin.call('inventory.get', { sku });
  assert.deepEqual([inv.onHand, inv.reserved], [100 - approved, 0]);
  await admin.close();
  assert.equal(await srv.term(), 0);
  const ledgers = paymentLedgers(dataDir);
  assert.equal(ledgers.size, tokens.length, 'one ledger per order');
  for (const [i, rs] of results.entries()) {
    const charge = ledgers.get(orderIdOf(rs[0]) as string);
    assert.ok(charge, `buyer ${i}: the gateway saw the order`);
    assert.equal(charge.version, 1, `buyer ${i}: one ledger event (${JSON.stringify(charge)})`);
    assert.equal(charge.status, tokens[i] === 'tok_visa' ? 'approved' : 'declined');
  }
  assert.equal(loggedEvents(dataDir).filter((e) => e.name === 'order_paid').length, approved);
});

test(
  'kill -9 in the middle of a flash sale: after the restart every checkout ends confirmed or cancelled, and stock, keys and money agree',
  { timeout: 90_000 },
  async (t) => {
    const seed = Number(process.env.FLASH_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`FLASH_SEED=${seed}`);
    const rng = prng(seed);
    const n = 300;
    const stock = 50;
    const dataDir = tmpDataDir(t);
    const start = serverRestarts(t, dataDir, ENV);
    const s1 = await start();
    const admin1 = await connectAdmin(s1.url);
    await stockSku(admin1, SKU, stock);
    const tokens = Array.from({ length: n }, () => tokenFor(rng()));
    const first = await bounded(tokens, CONNECT_CONCURRENCY, async () => {
      const c = await CartwireClient.connect(s1.url, { timeoutMs: CALL_TIMEOUT_MS });
      const { token, userId } = await c.call('auth.guest', {});
      return { c, token, userId };
    });
    await Promise.all(first.map((b) => b.c.call('cart.add', { sku: SKU, qty: 1 })));

    // The rush, cut short: SIGKILL at a seeded moment from the send to shortly after the first
    // answers, so the kill lands anywhere from the cart freezes to the last commits.
    const key = (i: number) => `rush-${i}`;
    const killAfterMs = Number(process.env.FLASH_KILL_MS ?? Math.floor(rng() * 800));
    const lost = (err: unknown) => {
      if (err instanceof CartwireError && err.code === 'CLOSED') return undefined;
      throw err;
    };
    const sentAt = performance.now();
    let answered = 0;
    const rush = first.map((b, i) => checkout(b.c, key(i), tokens[i]).then((a) => (answered++, a), lost));
    await until(() => performance.now() - sentAt >= killAfterMs || answered === n, { timeoutMs: 30_000, what: 'the moment of the kill' });
    await s1.kill9();
    const before = await Promise.all(rush);
    await Promise.all([admin1.close(), ...first.map((b) => b.c.close())]);

    const s2 = await start();
    const admin = await connectAdmin(s2.url);
    const buyers = await bounded(first, CONNECT_CONCURRENCY, async (b) => {
      const c = await CartwireClient.connect(s2.url, { timeoutMs: CALL_TIMEOUT_MS });
      await c.call('auth.resume', { token: b.token });
      return c;
    });
    t.after(() => Promise.all([admin.close(), ...buyers.map((c) => c.close())]));

    // Every buyer retries the key: an answered checkout answers the same; a lost one is finished,
    // compensated, or (if the freeze never became durable) runs now for the first time.
    const after = await Promise.all(buyers.map((c, i) => checkout(c, key(i), tokens[i])));
    const problems: string[] = [];
    /** Carts frozen by a checkout whose order was never created (known bug, reported below). */
    const orphans: string[] = [];
    for (const [i, a] of after.entries()) {
      const b = before[i];
      if (!a.ok && a.code === 'NOT_FOUND') {
        orphans.push(`buyer ${i}: retry of ${key(i)} answers NOT_FOUND ${JSON.stringify(a.details)}`);
        continue;
      }
      if (typeof orderIdOf(a) !== 'string') problems.push(`buyer ${i}: retry answered ${JSON.stringify(a)} without an order`);
      if (b && (orderIdOf(b) !== orderIdOf(a) || b.ok !== a.ok || (!b.ok && !a.ok && b.code !== a.code))) {
        problems.push(`buyer ${i}: answered ${JSON.stringify(b)} before the kill, ${JSON.stringify(a)} after`);
      }
      if (a.ok && tokens[i] !== 'tok_visa') problems.push(`buyer ${i} (${tokens[i]}) confirmed`);
    }

    const orders = await settleOrders(admin);
    const byUser = new Map<string, OrderView[]>();
    for (const o of orders) byUser.set(o.userId, [...(byUser.get(o.userId) ?? []), o]);
    const orphanSet = new Set(orphans.map((o) => Number(/^buyer (\d+)/.exec(o)![1])));
    for (const [i, a] of after.entries()) {
      const mine = byUser.get(first[i].userId) ?? [];
      if (orphanSet.has(i)) {
        if (mine.length > 0) problems.push(`buyer ${i}: NOT_FOUND for the key, yet orders ${JSON.stringify(mine.map((o) => o.orderId))}`);
        continue;
      }
      if (mine.length > 1) problems.push(`buyer ${i}: ${mine.length} orders for one key`);
      const id = orderIdOf(a);
      if (typeof id === 'string' && !(mine.length === 1 && mine[0].orderId === id && mine[0].status === (a.ok ? 'confirmed' : 'cancelled'))) {
        problems.push(`buyer ${i}: answer ${JSON.stringify(a)} but orders ${JSON.stringify(mine.map((o) => [o.orderId, o.status]))}`);
      }
    }
    const confirmed = orders.filter((o) => o.status === 'confirmed');
    const sold = confirmed.reduce((s, o) => s + o.items.reduce((m, l) => m + l.qty, 0), 0);
    const inv = await admin.call('inventory.get', { sku: SKU });
    t.diagnostic(
      `killed after ${killAfterMs} ms, ${before.filter(Boolean).length}/${n} answered; orders ${orders.length}, confirmed ${confirmed.length}; ${JSON.stringify(inv)}; orphan frozen carts ${orphans.length}`,
    );
    assert.ok(sold <= stock, `seed ${seed}: sold ${sold} of ${stock}`);
    assert.deepEqual([inv.onHand, inv.reserved], [stock - sold, 0], `seed ${seed}: stock = sold + available, nothing reserved`);

    // Carts: thawed (a change is accepted) and empty iff the buyer's order was placed.
    await Promise.all(
      buyers.map(async (c, i) => {
        if (orphanSet.has(i)) return;
        const placed = (byUser.get(first[i].userId) ?? []).some((o) => o.status === 'confirmed');
        const cart = await c.call('cart.get', {});
        if ((cart.items.length === 0) !== placed) problems.push(`buyer ${i}: cart ${JSON.stringify(cart.items)} but placed=${placed}`);
        const cleared = await answer(c.call('cart.clear', {}));
        if (!cleared.ok) problems.push(`buyer ${i}: cart.clear ${cleared.code} ${JSON.stringify(cleared.details)}`);
      }),
    );
    assert.deepEqual(problems.slice(0, 20), [], `seed ${seed}`);

    await Promise.all([admin.close(), ...buyers.map((c) => c.close())]);
    assert.equal(await s2.term(), 0);
    const ledgers = paymentLedgers(dataDir);
    const byId = new Map(orders.map((o) => [o.orderId, o]));
    for (const [orderId, charge] of ledgers) {
      const o = byId.get(orderId);
      assert.ok(o, `seed ${seed}: a ledger for ${orderId} without an order`);
      assert.equal(keptAmount(charge), o.status === 'confirmed' ? o.totals.total : 0, `seed ${seed}: ${o.status} ${orderId} vs ${JSON.stringify(charge)}`);
    }
    for (const o of confirmed) assert.ok(ledgers.has(o.orderId), `confirmed ${o.orderId} was charged`);
    const paid = loggedEvents(dataDir).filter((e) => e.name === 'order_paid');
    assert.deepEqual(paid.map((e) => e.data.orderId).sort(), confirmed.map((o) => o.orderId).sort(), 'order_paid once per confirmed order');

    await t.test('no cart stays frozen without an order', () => {
      assert.deepEqual(orphans, []);
    });
  },
);

/** Every order, once none is pending any more (resumed sagas finish on their own). */
async function settleOrders(admin: CartwireClient): Promise<OrderView[]> {
  let orders: OrderView[] = [];
  await until(async () => (orders = await allOrders(admin)).every((o) => o.status !== 'pending'), { timeoutMs: 20_000, what: 'no pending order' });
  return orders;
}
