// RecsService end to end on a small shop: builds in the real Piscina pool, then the rules of
// docs/protocol.md's recs.forUser / recs.similar (filters, exclusions, context, cold start, reasons),
// and serving from the old model while a rebuild runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { RecsService } from '../src/app/recs/recs-service.js';
import { freshnessWaitMs } from '../src/app/recs/recs-options.js';
import { syntheticInteractions } from '../bench/recs/synthetic.js';
import type { Interaction, ProductFeatures, Recommendation, RecsCandidateFilter } from '../src/workers/recs/types.js';

const DAY = 86_400_000;
const NOW = 1_750_000_000_000;

const PRODUCTS: ProductFeatures[] = [
  { productId: 'tee-black', name: 'Black Tee', category: 'apparel', brand: 'acme', price: 1900, attributes: { fit: 'regular' } },
  { productId: 'tee-white', name: 'White Tee', category: 'apparel', brand: 'acme', price: 1900, attributes: { fit: 'regular' } },
  { productId: 'hoodie', category: 'apparel', brand: 'acme', price: 4900 },
  { productId: 'socks', category: 'apparel', brand: 'knit', price: 900 },
  { productId: 'mug', category: 'kitchen', brand: 'brew', price: 1200 },
  { productId: 'kettle', category: 'kitchen', brand: 'brew', price: 3900 },
  { productId: 'new-tee', name: 'New Tee', category: 'apparel', brand: 'acme', price: 1900, attributes: { fit: 'regular' } },
];

const ev = (userId: string, productId: string, kind: Interaction['kind'], daysAgo = 0): Interaction => ({ userId, productId, kind, at: NOW - daysAgo * DAY });
const EVENTS: Interaction[] = [
  ev('u1', 'tee-black', 'view'),
  ev('u1', 'tee-white', 'view'),
  ev('u1', 'hoodie', 'cart'),
  ev('u2', 'tee-black', 'view'),
  ev('u2', 'tee-white', 'view'),
  ev('u2', 'hoodie', 'purchase'),
  ev('u3', 'mug', 'view'),
  ev('u3', 'kettle', 'purchase', 60), // bought long ago: decayed
  ev('u4', 'tee-black', 'view'),
  ev('u4', 'mug', 'view'),
  ev('u5', 'tee-white', 'view'),
  ev('u5', 'socks', 'view'),
];

function shopFilter(inactive: ReadonlySet<string> = new Set()): RecsCandidateFilter {
  const byId = new Map(PRODUCTS.map((p) => [p.productId, p]));
  return {
    eligible: (id) => byId.has(id) && !inactive.has(id),
    price: (id) => byId.get(id)?.price,
    category: (id) => byId.get(id)?.category,
  };
}

async function builtService(t: { after: (f: () => Promise<void>) => void }, extra: ConstructorParameters<typeof RecsService>[0] = {}) {
  const svc = new RecsService({ now: () => NOW, rebuildIntervalMs: 0, rebuildEveryEvents: 1_000_000, ...extra });
  t.after(() => svc.close());
  svc.setProducts(PRODUCTS);
  for (const e of EVENTS) svc.record(e);
  await svc.rebuild();
  return svc;
}

const ids = (rs: Recommendation[]) => rs.map((r) => r.productId);
const NONE = new Set<string>();

test('a built shop', async (t) => {
  const svc = await builtService(t);
  const all = shopFilter();

  await t.test('similar: co-viewed first, never the product itself, content fills for the never-viewed', () => {
    const rs = svc.similar('tee-black', 10, all, NONE);
    // hoodie: both co-viewers carted or bought it (weights 3 and 5), so it outranks tee-white
    assert.deepEqual(ids(rs).slice(0, 2), ['hoodie', 'tee-white']);
    assert.ok(rs.slice(0, 2).every((r) => r.reason === 'viewed together with Black Tee' && r.algorithm === 'hybrid'));
    assert.ok(!ids(rs).includes('tee-black'));
    const fresh = rs.find((r) => r.productId === 'new-tee');
    assert.ok(fresh, 'new-tee (no interactions) reached through content');
    assert.equal(fresh.algorithm, 'content');
    assert.equal(fresh.reason, 'similar to Black Tee');
    assert.deepEqual(
      rs.map((r) => r.score),
      [...rs.map((r) => r.score)].sort((a, b) => b - a),
    );
  });

  await t.test('similar respects exclude (cart), eligibility and limit', () => {
    const rs = svc.similar('tee-black', 10, shopFilter(new Set(['hoodie'])), new Set(['tee-white']));
    assert.ok(!ids(rs).includes('tee-white'));
    assert.ok(!ids(rs).includes('hoodie'));
    assert.ok(!ids(rs).includes('tee-black'));
    assert.equal(svc.similar('tee-black', 1, all, NONE).length, 1);
    assert.deepEqual(svc.similar('tee-black', 0, all, NONE), []);
  });

  await t.test('similar for a product unknown to the model: its category best sellers, then the shop', () => {
    const rs = svc.similar('brand-new-sku', 3, { ...all, category: (id) => (id === 'brand-new-sku' ? 'kitchen' : all.category(id)) }, NONE);
    assert.deepEqual(ids(rs), ['mug', 'kettle', 'hoodie']);
    assert.ok(rs.every((r) => r.algorithm === 'popularity'));
    assert.deepEqual(
      rs.map((r) => r.reason),
      ['popular in kitchen', 'popular in kitchen', 'popular in apparel'],
    );
  });

  await t.test('forUser: never the user own history, cart items or ineligible products', () => {
    const base = svc.forUser('u4', 10, all, NONE);
    assert.ok(base.length > 0);
    assert.ok(!ids(base).includes('tee-black') && !ids(base).includes('mug'), 'history is not recommended back');
    assert.ok(ids(base).includes('tee-white'));
    const rs = svc.forUser('u4', 10, shopFilter(new Set(['hoodie'])), new Set(['tee-white']));
    assert.ok(!ids(rs).includes('hoodie') && !ids(rs).includes('tee-white'));
    assert.equal(svc.forUser('u4', 2, all, NONE).length, 2);
  });

  await t.test('forUser: context category and price range filter every result', () => {
    const kitchen = svc.forUser('u1', 10, all, NONE, { category: 'kitchen' });
    assert.ok(kitchen.length > 0);
    assert.ok(kitchen.every((r) => all.category(r.productId) === 'kitchen'));
    const cheap = svc.forUser('u4', 10, all, NONE, { priceRange: { min: 1000, max: 2000 } });
    assert.ok(cheap.length > 0);
    assert.ok(cheap.every((r) => r.productId !== 'hoodie' && all.price(r.productId)! >= 1000 && all.price(r.productId)! <= 2000));
  });

  await t.test('cold start: time-decayed popularity, context-filtered, with its reason', () => {
    const rs = svc.forUser('stranger', 10, all, NONE);
    // hoodie 3+5, tee-black 3, tee-white 3, mug 2, socks 1; the kettle purchase is 60 days old;
    // then the product nobody has touched yet, as the newest
    assert.deepEqual(ids(rs), ['hoodie', 'tee-black', 'tee-white', 'mug', 'socks', 'kettle', 'new-tee']);
    assert.deepEqual(
      rs.map((r) => r.algorithm),
      [...Array<string>(6).fill('popularity'), 'newest'],
    );
    assert.equal(rs[0].reason, 'popular in apparel');
    assert.equal(rs[6].reason, 'new in apparel');
    const kitchen = svc.forUser('stranger', 10, all, NONE, { category: 'kitchen' });
    assert.deepEqual(ids(kitchen), ['mug', 'kettle']);
    assert.equal(kitchen[0].reason, 'popular in kitchen');
  });

  await t.test('hybrid results name the blend and the strongest reason', () => {
    const rs = svc.forUser('u4', 10, all, NONE);
    const reasons: Record<Recommendation['algorithm'], RegExp> = {
      itemknn: /^viewed together with (Black Tee|mug)$/,
      content: /^similar to (Black Tee|mug) you viewed$/,
      userknn: /^customers like you bought this$/,
      rp3beta: /^viewed together with (Black Tee|mug)$/,
      ease: /^goes with (Black Tee|mug)$/,
      popularity: /^popular in (apparel|kitchen)$/,
      newest: /^new in (apparel|kitchen)$/,
      hybrid: /^(viewed together with|similar to|goes with|customers like you|popular in)/,
    };
    for (const r of rs) assert.match(r.reason, reasons[r.algorithm], JSON.stringify(r));
    const hybrid = rs.find((r) => r.algorithm === 'hybrid');
    assert.ok(hybrid, JSON.stringify(rs));
    const white = rs.find((r) => r.productId === 'tee-white')!;
    assert.equal(white.algorithm, 'hybrid'); // co-viewed and same brand/category: several lanes
    assert.match(white.reason, /Black Tee/);
  });

  await t.test('stats', () => {
    const s = svc.stats();
    assert.equal(s.builds, 1);
    assert.equal(s.events, EVENTS.length);
    assert.equal(s.modelAgeMs, 0);
    assert.ok(s.lastBuildMs > 0);
    assert.ok(s.poolUtilization >= 0 && s.poolUtilization <= 1);
    // 17 bytes per row of the log's capacity (1,024 at first), the interner's starting buffers,
    // and a model that holds at least its popularity and user x item arrays.
    assert.equal(s.memoryBytes.log, 1024 * 13); // 13 bytes a row
    assert.ok(s.memoryBytes.users >= 64 * 1024, JSON.stringify(s.memoryBytes));
    assert.ok(s.memoryBytes.model >= EVENTS.length * 8, JSON.stringify(s.memoryBytes));
  });
});

test('memory in stats: the log grows with its rows, the model appears with the first build', async (t) => {
  const svc = new RecsService({ now: () => NOW, rebuildIntervalMs: 0, rebuildEveryEvents: 1_000_000 });
  t.after(() => svc.close());
  svc.setProducts(PRODUCTS);
  const empty = svc.stats().memoryBytes;
  assert.equal(empty.model, 0, 'no model before the first build');
  for (let i = 0; i < 5000; i++) svc.record(ev(`user-${i}`, PRODUCTS[i % PRODUCTS.length].productId, 'view'));
  const filled = svc.stats().memoryBytes;
  assert.equal(filled.log, 5184 * 13, 'capacity grew by half at a time: 1,024, 1,536, 2,304, 3,456, 5,184 rows for 5,000');
  assert.ok(filled.users > empty.users, `5,000 user ids grew the interner: ${empty.users} -> ${filled.users}`);
  await svc.rebuild();
  assert.ok(svc.stats().memoryBytes.model > 5000 * 4, JSON.stringify(svc.stats().memoryBytes));
  assert.equal(svc.trim(), 0, 'growth room under 1 MiB is kept');
  // 200,000 events: the log's capacity is 298,932 rows, 1.29 MiB of it room to grow
  for (let i = 5000; i < 200_000; i++) svc.record(ev(`user-${i}`, PRODUCTS[i % PRODUCTS.length].productId, 'view'));
  const grown = svc.stats().memoryBytes;
  assert.equal(grown.log, 298_932 * 13);
  const freed = svc.trim();
  const fitted = svc.stats().memoryBytes;
  assert.equal(fitted.log, 200_000 * 13, 'the log fits its rows');
  assert.equal(freed, grown.log - fitted.log + grown.users - fitted.users, 'what trim() reports is what the buffers lost');
  assert.equal(svc.forUser('user-4', 3, shopFilter(), NONE).length, 3, 'the service still serves from its ids after a trim');
});

test('serves from the old model while a rebuild runs in the pool, then switches', async (t) => {
  const svc = new RecsService({ now: () => NOW, rebuildIntervalMs: 0, rebuildEveryEvents: 1_000_000 });
  t.after(() => svc.close());
  svc.setProducts(PRODUCTS);
  for (const e of EVENTS) svc.record(e);
  // background traffic on other products, so that a build takes a while (tens of ms, not µs)
  const bg = syntheticInteractions({ users: 1500, items: 1000, interactions: 150_000, seed: 7 });
  for (let e = 0; e < bg.count; e++) svc.record({ userId: `bg${bg.user[e]}`, productId: `bg${bg.item[e]}`, kind: 'view', at: NOW });
  await svc.rebuild();
  const all = shopFilter();
  svc.record(ev('u9', 'tee-black', 'view'));
  svc.record(ev('u9', 'tee-white', 'view'));
  const cold = svc.forUser('u9', 3, all, NONE);
  assert.ok(
    cold.every((r) => r.algorithm === 'popularity'),
    'u9 is new to the live model',
  );
  let done = false;
  const rebuilt = svc.rebuild().then(() => (done = true));
  let turns = 0;
  while (!done) {
    // the main thread keeps turning and answering from the old model meanwhile
    assert.ok(svc.forUser('u9', 3, all, NONE).every((r) => r.algorithm === 'popularity'));
    assert.equal(svc.stats().builds, 1);
    turns++;
    await tick();
  }
  await rebuilt;
  assert.ok(turns > 1, `event loop turned ${turns} times during the rebuild`);
  assert.equal(svc.stats().builds, 2);
  const warm = svc.forUser('u9', 3, all, NONE);
  assert.equal(warm[0].productId, 'hoodie');
  assert.notEqual(warm[0].algorithm, 'popularity');
});

test('before the first build: the newest eligible products, newest first; nothing only when no product is eligible', (t) => {
  const svc = new RecsService({ rebuildIntervalMs: 0 });
  t.after(() => svc.close());
  assert.deepEqual(svc.forUser('u1', 5, shopFilter(), NONE), [], 'no catalog yet');
  const dated = PRODUCTS.map((p, i) => ({ ...p, createdAt: NOW + i * DAY }));
  svc.setProducts(() => dated);
  const rs = svc.forUser('u1', 3, shopFilter(new Set(['new-tee'])), new Set(['kettle']));
  assert.deepEqual(ids(rs), ['mug', 'socks', 'hoodie'], 'newest first, never ineligible or excluded');
  assert.ok(rs.every((r) => r.algorithm === 'newest' && r.score > 0));
  assert.equal(rs[0].reason, 'new in kitchen');
  assert.deepEqual(ids(svc.similar('mug', 2, shopFilter(), NONE)), ['kettle', 'new-tee'], "the product's category first");
  assert.deepEqual(svc.forUser('u1', 5, shopFilter(new Set(PRODUCTS.map((p) => p.productId))), NONE), [], 'nothing eligible');
  assert.equal(svc.stats().modelAgeMs, -1);
});

test('record() starts a background build after rebuildEveryEvents events', async (t) => {
  const svc = new RecsService({ now: () => NOW, rebuildEveryEvents: 5, rebuildIntervalMs: 0, rebuildMinMs: 0, poolThreads: 2 });
  t.after(() => svc.close());
  for (const e of EVENTS.slice(0, 4)) svc.record(e);
  assert.equal(svc.stats().builds, 0);
  svc.record(EVENTS[4]);
  const deadline = Date.now() + 10_000;
  while (svc.stats().builds === 0) {
    assert.ok(Date.now() < deadline, 'no build within 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(svc.forUser('stranger', 3, shopFilter(), NONE).length > 0);
});

test('options are validated with the option name and value', () => {
  assert.throws(() => new RecsService({ topK: 0 }), /recs\.topK must be an integer >= 1, got 0/);
  assert.throws(() => new RecsService({ weights: { view: 1, cart: -3, purchase: 5 } }), /recs\.weights\.cart must be a finite number > 0, got -3/);
  assert.throws(() => new RecsService({ blend: { itemknnn: 1 } as never }), /recs\.blend\.itemknnn must be one of/);
  assert.throws(() => new RecsService({ poolThreads: 1.5 }), /recs\.poolThreads/);
  assert.throws(() => new RecsService({ maxUsers: 1 }), /recs\.maxUsers must be an integer >= 2, got 1/);
  assert.throws(() => new RecsService({ maxUsers: 2 ** 24 + 1 }), /recs\.maxUsers must be an integer 2\.\.16777216/);
});

test('past maxUsers the users with no event left are forgotten: the interner stays bounded, recent users keep their recommendations', async (t) => {
  const maxUsers = 1_000;
  const svc = new RecsService({ now: () => NOW, rebuildIntervalMs: 0, rebuildEveryEvents: 1_000_000, maxEvents: 4_000, maxUsers });
  t.after(() => svc.close());
  svc.setProducts(PRODUCTS);
  const all = shopFilter();
  const reference = await builtService(t); // the shop alone, never a guest
  const expected = (userId: string) => reference.forUser(userId, 10, all, NONE).map((r) => [r.productId, r.algorithm]);
  const got = (userId: string) => svc.forUser(userId, 10, all, NONE).map((r) => [r.productId, r.algorithm]);
  let guests = 0;
  let most = 0;
  const guest = (views = 1) => {
    const g = guests++;
    for (let v = 0; v < views; v++) svc.record({ userId: `guest${g}`, productId: `bg${(g * 7 + v) % 40}`, kind: 'view', at: NOW - (v + 1) * DAY });
    most = Math.max(most, svc.stats().users);
    assert.ok(svc.stats().logEvents <= 4_000);
  };

  // Weeks of guests, each a view or two of other products than the shop's: 20 x maxUsers of them.
  for (let g = 0; g < 20 * maxUsers; g++) guest(1 + (g % 2));
  assert.equal(most, maxUsers, 'the interner filled up to maxUsers and never passed it');
  // Then the shop's users, after as many guests as leave 400 more before the next forgetting.
  while (svc.stats().users !== maxUsers - 5 - 400) guest();
  for (const e of EVENTS) svc.record(e);
  await svc.rebuild();
  for (const u of ['u1', 'u4', 'u5']) assert.deepEqual(got(u), expected(u), u);
  assert.notEqual(got('u4')[0][1], 'popularity');
  assert.ok(
    got('guest0').every(([, algorithm]) => algorithm === 'popularity' || algorithm === 'newest'),
    'a guest forgotten long ago is a stranger',
  );

  // A build starts, then more guests make the service forget again while it runs: the build's
  // model (on the old ids) and the next one (on the new ids) both answer for the shop's users.
  const building = svc.rebuild();
  const full = svc.stats().users;
  while (svc.stats().users >= full) guest();
  assert.equal(svc.stats().users, maxUsers / 2 + 1, 'forgotten down to the users of the newest events, then the new one');
  assert.deepEqual(got('u4'), expected('u4'), 'the live model keeps its own ids');
  await building;
  assert.deepEqual(got('u4'), expected('u4'), 'the model built before the forgetting keeps its own ids');
  await svc.rebuild();
  for (const u of ['u1', 'u4', 'u5']) assert.deepEqual(got(u), expected(u), `${u} after the forgetting`);
  assert.equal(most, maxUsers);
});

test('freshness: the wait before a rebuild is a multiple of the last build, between the floor and the interval', () => {
  const o = { rebuildCostFactor: 4, rebuildMinMs: 1_000, rebuildIntervalMs: 60_000 };
  assert.equal(freshnessWaitMs(0, o), 1_000, 'no build yet: the floor');
  assert.equal(freshnessWaitMs(100, o), 1_000, 'a cheap build: the floor');
  assert.equal(freshnessWaitMs(2_500, o), 10_000, 'an expensive one: 4 x its duration');
  assert.equal(freshnessWaitMs(30_000, o), 60_000, 'never longer than the interval');
  assert.equal(freshnessWaitMs(100, { ...o, rebuildIntervalMs: 300 }), 300, 'an interval below the floor wins');
  assert.throws(() => new RecsService({ rebuildCostFactor: -1 }), /recs\.rebuildCostFactor must be a finite number >= 0, got -1/);
});

test('freshness: new events rebuild the model on their own, and a user with history sees them', async (t) => {
  const svc = new RecsService({ now: () => NOW, rebuildMinMs: 20, rebuildIntervalMs: 60_000 });
  t.after(() => svc.close());
  svc.setProducts(PRODUCTS);
  const all = shopFilter();
  for (const e of EVENTS) svc.record(e);
  await until(() => svc.stats().builds >= 1, 'a build from the first events, with no rebuild() call');
  const before = svc.forUser('u8', 5, all, NONE);
  assert.ok(before.length > 0 && before.every((r) => r.algorithm === 'popularity' || r.algorithm === 'newest'), 'u8 is unknown: fallbacks');
  svc.record(ev('u8', 'tee-black', 'view'));
  svc.record(ev('u8', 'hoodie', 'cart'));
  await until(() => svc.stats().builds >= 2, 'a second build, for the new events');
  await until(() => !['popularity', 'newest'].includes(svc.forUser('u8', 5, all, NONE)[0].algorithm), 'u8 history reaches the model');
  const after = ids(svc.forUser('u8', 5, all, NONE));
  assert.ok(!after.includes('tee-black') && !after.includes('hoodie'), 'never the history');
  assert.equal(after[0], 'tee-white', 'viewed with the black tee and the hoodie by u1 and u2');
});

async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    assert.ok(Date.now() < deadline, `not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("a user's memoised candidates of the model before are not served once a new model is live", async (t) => {
  const svc = await builtService(t);
  const all = shopFilter();
  const before = ids(svc.forUser('u4', 3, all, NONE));
  assert.ok(before.includes('tee-white'), `u4's candidates, memoised: ${before.join(', ')}`);
  svc.record(ev('u4', 'tee-white', 'view'));
  svc.record(ev('u4', 'hoodie', 'purchase'));
  await svc.rebuild();
  const after = ids(svc.forUser('u4', 3, all, NONE));
  assert.ok(!after.includes('tee-white') && !after.includes('hoodie'), `u4's new history is never recommended: ${after.join(', ')}`);
  const fresh = await builtService(t);
  fresh.record(ev('u4', 'tee-white', 'view'));
  fresh.record(ev('u4', 'hoodie', 'purchase'));
  await fresh.rebuild();
  assert.deepEqual(after, ids(fresh.forUser('u4', 3, all, NONE)), 'what a service that never saw the old model answers');
});
