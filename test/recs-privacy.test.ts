// The personalizedRecs hook: RecsOps consults it for every interaction before recording it, and
// for recs.forUser (false: popularity only, never the user's own history).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecsService } from '../src/app/recs/recs-service.js';
import { RecsOps } from '../src/app/recs/recs-ops.js';
import type { CatalogView } from '../src/app/catalog/catalog-view.js';
import type { ShardPool } from '../src/app/shard-pool.js';
import type { DomainEvent } from '../src/actors/actor.js';
import type { Identity, ProductView } from '../src/protocol/types.js';

const product = (productId: string, createdAt: number) =>
  ({ productId, name: productId, category: 'c', status: 'active', createdAt, variants: [{ sku: productId, price: 100 }] }) as unknown as ProductView;
const PRODUCTS = ['a', 'b', 'c', 'd'].map((id, i) => product(id, i));
const catalog = {
  stored: (id: string) => PRODUCTS.find((p) => p.productId === id),
  inStock: () => true,
  allProducts: () => PRODUCTS,
} as unknown as CatalogView;
// the cart is empty for everyone
const pool = { call: () => Promise.resolve({ ok: true, result: { items: [] } }) } as unknown as ShardPool;
const view = (userId: string, productId: string): DomainEvent => ({ name: 'product_viewed', data: { userId, productId, at: 1_000 } });
const who = (userId: string) => ({ userId, role: 'customer' }) as Identity;

test('users who turned personalised recommendations off are not recorded, and get popularity only', async (t) => {
  const service = new RecsService({ rebuildIntervalMs: 0 });
  t.after(() => service.close());
  const optedOut = new Set(['private']);
  const flag = (userId: string) => !optedOut.has(userId);
  const ops = new RecsOps(service, catalog, pool, {
    when: (userId, then) => then(flag(userId)),
    get: (userId) => Promise.resolve(flag(userId)),
    idle: () => Promise.resolve(),
  });
  // a and b are viewed together by two shoppers; the private user views a and c
  ops.onDomain([view('s1', 'a'), view('s1', 'b'), view('s2', 'a'), view('s2', 'b'), view('private', 'a'), view('private', 'c')]);
  assert.equal(service.stats().events, 4, "the private user's two views are not recorded");
  await service.rebuild();
  const mine = await ops.forUser({}, who('private'));
  assert.ok(mine.ok);
  assert.ok(
    mine.result.every((r) => r.algorithm === 'popularity' || r.algorithm === 'newest'),
    JSON.stringify(mine.result),
  );
  // the same views by a user who allows personalisation: the blend, from their history
  ops.onDomain([view('open', 'a')]);
  await service.rebuild();
  const open = await ops.forUser({}, who('open'));
  assert.ok(open.ok);
  assert.equal(open.result[0].productId, 'b');
  assert.ok(!['popularity', 'newest'].includes(open.result[0].algorithm), JSON.stringify(open.result));
  // a user known to the model who then opts out is answered from popularity only
  optedOut.add('open');
  const now = await ops.forUser({}, who('open'));
  assert.ok(now.ok && now.result.every((r) => r.algorithm === 'popularity' || r.algorithm === 'newest'));
});
