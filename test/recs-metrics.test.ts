// The offline protocol's arithmetic: metrics on hand-computed cases, and the holdout split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanSd, topNMetrics } from '../bench/recs/metrics.js';
import { holdoutSplit } from '../bench/recs/split.js';

const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);

test('precision, recall and NDCG on a hand-computed case', () => {
  // hits at ranks 2 and 4 of 4; 3 relevant items
  const m = topNMetrics([5, 1, 7, 2], new Set([1, 2, 9]), 4);
  near(m.precision, 2 / 4);
  near(m.recall, 2 / 3);
  const dcg = 1 / Math.log2(3) + 1 / Math.log2(5);
  const idcg = 1 + 1 / Math.log2(3) + 1 / Math.log2(4);
  near(m.ndcg, dcg / idcg);
  assert.ok(Math.abs(m.ndcg - 0.4981893) < 1e-7); // 1.0616063 / 2.1309298, by hand
});

test('ideal DCG stops at n; a short list still divides precision by n', () => {
  const allHits = topNMetrics([1, 2], new Set([1, 2, 3, 4]), 2);
  near(allHits.ndcg, 1); // ideal over min(|test|, n) = 2
  near(allHits.recall, 0.5);
  const short = topNMetrics([3], new Set([3]), 10);
  near(short.precision, 0.1);
  near(short.ndcg, 1);
  const miss = topNMetrics([1, 2, 3], new Set([9]), 3);
  assert.deepEqual(miss, { precision: 0, recall: 0, ndcg: 0 });
});

test('meanSd uses the sample standard deviation', () => {
  const r = meanSd([1, 2, 3, 4]);
  near(r.mean, 2.5);
  near(r.sd, Math.sqrt(5 / 3));
});

test('holdout: 20% per user (at least one), disjoint, and the same for the same seed', () => {
  const user: number[] = [];
  const item: number[] = [];
  const sizes = [1, 3, 10, 23];
  sizes.forEach((n, u) => {
    for (let i = 0; i < n; i++) {
      user.push(u);
      item.push(100 * u + i);
    }
  });
  const U = Int32Array.from(user);
  const I = Int32Array.from(item);
  const a = holdoutSplit(U, I, sizes.length, 1);
  assert.deepEqual(
    a.test.map((s) => s.size),
    [1, 1, 2, 5],
  );
  assert.equal(a.train.length, I.length - 9);
  for (const r of a.train) assert.ok(!a.test[U[r]].has(I[r]));
  const again = holdoutSplit(U, I, sizes.length, 1);
  assert.deepEqual(
    again.test.map((s) => [...s]),
    a.test.map((s) => [...s]),
  );
  const other = holdoutSplit(U, I, sizes.length, 2);
  assert.notDeepEqual(
    other.test.map((s) => [...s]),
    a.test.map((s) => [...s]),
  );
});
