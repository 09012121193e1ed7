// The session scenarios' pure parts: skus on distinct shards, the token mix, the sell-out time,
// errors by code, and that checkout, flash-sale and recs are registered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickToken, sellOutMs, skusOnDistinctShards } from '../bench/lib/sessions.js';
import { errorsOf } from '../bench/lib/session-step.js';
import { loadScenarios } from '../bench/lib/registry.js';
import { stockedSkus } from '../bench/lib/catalog.js';
import { stableHash } from '../src/protocol/keys.js';

test('skusOnDistinctShards takes one sku per shard first, then fills from the list', () => {
  const hash = (k: string) => Number(k.slice(-1)); // 'sku:a0' -> 0 ...
  assert.deepEqual(skusOnDistinctShards(['a0', 'b0', 'c1', 'd2', 'e1'], 3, 3, hash), ['a0', 'c1', 'd2']);
  assert.deepEqual(skusOnDistinctShards(['a0', 'b0', 'c1'], 2, 3, hash), ['a0', 'c1', 'b0']);
  assert.deepEqual(skusOnDistinctShards(['a0', 'b0'], 3, 1, hash), ['a0']);
  for (const shards of [2, 3, 4]) {
    const skus = skusOnDistinctShards(stockedSkus(), shards, shards, stableHash);
    assert.equal(new Set(skus.map((s) => stableHash(`sku:${s}`) % shards)).size, shards, `the demo catalog covers ${shards} shards`);
  }
});

test('pickToken follows the weights', () => {
  const t: [string, number][] = [
    ['v', 80],
    ['d', 10],
    ['t', 10],
  ];
  assert.equal(pickToken(t, 0), 'v');
  assert.equal(pickToken(t, 0.799), 'v');
  assert.equal(pickToken(t, 0.85), 'd');
  assert.equal(pickToken(t, 0.95), 't');
  assert.equal(pickToken(t, 0.99999), 't');
  const counts: Record<string, number> = {};
  for (let i = 0; i < 10_000; i++) counts[pickToken(t, i / 10_000)] = (counts[pickToken(t, i / 10_000)] ?? 0) + 1;
  assert.deepEqual(counts, { v: 8000, d: 1000, t: 1000 });
});

test('sellOutMs is the U-th confirmation after the first send, whatever the order', () => {
  assert.equal(sellOutMs(1000, [1500, 1200, 1900, 1300], 3), 500);
  assert.equal(sellOutMs(1000, [1500, 1200], 3), undefined);
  assert.equal(sellOutMs(1000, [1500, 1200, 1100], 3), 500);
});

test('errorsOf keeps one op and drops OK', () => {
  assert.deepEqual(errorsOf({ 'checkout:OK': 5, 'checkout:OUT_OF_STOCK': 2, 'cart.add:OUT_OF_STOCK': 1 }, 'checkout'), { OUT_OF_STOCK: 2 });
});

test('checkout, flash-sale and recs are registered', async () => {
  const names = (await loadScenarios()).map((s) => s.name);
  for (const n of ['checkout', 'flash-sale', 'recs']) assert.ok(names.includes(n), `${n} in ${names.join(',')}`);
});
