// The build kernels: sparse matrices, top-k selection, cosine neighbours (hand-computed values,
// ties, and ml-matrix's dense product as the oracle on random data), popularity decay, and the
// RP3beta and EASE kernels against dense computations (ml-matrix's inverse for EASE).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Matrix, inverse } from 'ml-matrix';
import { csrFromTriples, transpose, type Csr } from '../src/workers/recs/sparse.js';
import { cosineNeighbours, allocNeighbours, type Neighbours } from '../src/workers/recs/cosine-neighbours.js';
import { selectTop, takeBest } from '../src/workers/recs/top-k.js';
import { decayedPopularity, popularityOrder, userItemMatrix } from '../src/workers/recs/interactions.js';
import { EventLog } from '../src/workers/recs/event-log.js';
import { EASE_NOISE, easeItems, easeNeighbours, spdInverse } from '../src/workers/recs/ease.js';
import { rp3betaNeighbours } from '../src/workers/recs/rp3beta.js';

/** users x items from dense rows (0 = no interaction). */
function fromDense(rows: number[][]): Csr {
  const r: number[] = [];
  const c: number[] = [];
  const v: number[] = [];
  rows.forEach((row, i) => row.forEach((x, j) => x !== 0 && (r.push(i), c.push(j), v.push(x))));
  return csrFromTriples(rows.length, rows[0].length, r, c, v, r.length);
}

const itemNeighbours = (ui: Csr, k: number, shrink = 0) => cosineNeighbours(transpose(ui), ui, { k, shrink });
const listOf = (nb: Neighbours, row: number) => Array.from({ length: nb.count[row] }, (_, t) => [nb.idx[row * nb.k + t], nb.sim[row * nb.k + t]] as const);

test('csrFromTriples sums duplicates and transpose is exact', () => {
  const m = csrFromTriples(2, 3, [0, 1, 0, 0], [2, 0, 2, 1], [1, 4, 2, 5], 4);
  assert.deepEqual([...m.ptr], [0, 2, 3]);
  assert.deepEqual([...m.idx], [2, 1, 0]);
  assert.deepEqual([...m.val], [3, 5, 4]);
  const t = transpose(m);
  assert.deepEqual([...t.ptr], [0, 1, 2, 3]);
  assert.deepEqual([...t.idx], [1, 0, 0]);
  assert.deepEqual([...t.val], [4, 5, 3]);
});

test('item-item cosine: known neighbours and exact scores on a hand-built matrix', () => {
  // items as columns: i0 = (2,1,0), i1 = (1,0,1), i2 = (0,3,1)
  const ui = fromDense([
    [2, 1, 0],
    [1, 0, 3],
    [0, 1, 1],
  ]);
  const nb = itemNeighbours(ui, 5);
  const close = (got: readonly (readonly [number, number])[], want: [number, number][]) => {
    assert.deepEqual(
      got.map((x) => x[0]),
      want.map((x) => x[0]),
    );
    got.forEach(([, s], t) => assert.ok(Math.abs(s - want[t][1]) < 1e-6, `${s} vs ${want[t][1]}`));
  };
  close(listOf(nb, 0), [
    [1, 2 / Math.sqrt(10)],
    [2, 3 / Math.sqrt(50)],
  ]);
  close(listOf(nb, 1), [
    [0, 2 / Math.sqrt(10)],
    [2, 1 / Math.sqrt(20)],
  ]);
  close(listOf(nb, 2), [
    [0, 3 / Math.sqrt(50)],
    [1, 1 / Math.sqrt(20)],
  ]);
  // shrink: dot / (|a||b| + s) favours the pair with more co-occurrence mass (i2 overtakes i1)
  close(listOf(itemNeighbours(ui, 5, 10), 0), [
    [2, 3 / (Math.sqrt(50) + 10)],
    [1, 2 / (Math.sqrt(10) + 10)],
  ]);
  // top-1 keeps only the best
  assert.deepEqual(
    listOf(itemNeighbours(ui, 1), 2).map((x) => x[0]),
    [0],
  );
});

test('ties are broken by the lower id, whatever the input order', () => {
  // i3 co-occurs identically with i0, i1, i2: equal similarities
  const ui = fromDense([
    [1, 1, 1, 1],
    [0, 0, 0, 1],
  ]);
  const nb = itemNeighbours(ui, 2);
  assert.deepEqual(
    listOf(nb, 3).map((x) => x[0]),
    [0, 1],
  );
  assert.deepEqual(
    listOf(nb, 2).map((x) => x[0]),
    [0, 1],
  );
  // the same matrix with users in the other order gives the same lists
  const flipped = itemNeighbours(
    fromDense([
      [0, 0, 0, 1],
      [1, 1, 1, 1],
    ]),
    2,
  );
  assert.deepEqual([...flipped.idx], [...nb.idx]);
});

test('a row is never its own neighbour; rows without co-occurrence have none', () => {
  const nb = itemNeighbours(
    fromDense([
      [1, 0, 1],
      [0, 0, 1],
    ]),
    3,
  );
  assert.equal(nb.count[1], 0);
  for (let r = 0; r < 3; r++) for (const [j] of listOf(nb, r)) assert.notEqual(j, r);
});

test('selectTop equals a full sort (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 300 }), fc.integer({ min: 0, max: 40 }), (scores, k) => {
      const n = scores.length;
      const s = Float64Array.from(scores);
      const ids = Int32Array.from({ length: n }, (_, i) => (i * 7919) % 1009); // distinct, shuffled
      const want = [...ids.keys()]
        .sort((a, b) => scores[b] - scores[a] || ids[a] - ids[b])
        .slice(0, k)
        .map((i) => ids[i]);
      const m = selectTop(s, ids, n, k);
      assert.deepEqual([...ids.subarray(0, m)], want);
    }),
  );
});

test('takeBest walks best-first and asks accept only as far as needed', () => {
  const score = [0.1, 0.9, 0.5, 0.9, 0.3];
  const asked: number[] = [];
  const got = takeBest(score, Int32Array.from([0, 1, 2, 3, 4]), 5, 2, (i) => (asked.push(i), i !== 1));
  assert.deepEqual(got, [3, 2]);
  assert.deepEqual(asked, [1, 3, 2]);
});

test('sparse cosine matches ml-matrix dense cosine on random data (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.array(fc.constantFrom(0, 0, 0, 1, 2, 5), { minLength: 6, maxLength: 6 }), { minLength: 1, maxLength: 12 }), (rows) => {
      const ui = fromDense(rows);
      const nb = itemNeighbours(ui, 6);
      const x = new Matrix(rows);
      const gram = x.transpose().mmul(x); // items x items dot products, the dense way
      for (let i = 0; i < 6; i++) {
        const want = new Map<number, number>();
        for (let j = 0; j < 6; j++) {
          const dot = gram.get(i, j);
          if (j !== i && dot > 0) want.set(j, dot / Math.sqrt(gram.get(i, i) * gram.get(j, j)));
        }
        const got = listOf(nb, i);
        assert.equal(got.length, want.size);
        for (const [j, s] of got) assert.ok(Math.abs(s - want.get(j)!) < 1e-5);
      }
    }),
  );
});

test('split rows (stride/offset into shared output) equal the whole computation', () => {
  const ui = fromDense([
    [1, 2, 0, 1],
    [0, 1, 1, 0],
    [3, 0, 1, 1],
  ]);
  const iu = transpose(ui);
  const whole = cosineNeighbours(iu, ui, { k: 3 });
  const out = allocNeighbours(4, 3, true);
  cosineNeighbours(iu, ui, { k: 3, out, stride: 2, offset: 0 });
  cosineNeighbours(iu, ui, { k: 3, out, stride: 2, offset: 1 });
  assert.deepEqual([...out.idx], [...whole.idx]);
  assert.deepEqual([...out.sim], [...whole.sim]);
  assert.ok(out.idx.buffer instanceof SharedArrayBuffer);
});

test('interaction weights per kind; popularity decays with age', () => {
  const log = new EventLog(100, 2); // tiny capacity: exercises growth
  const day = 86_400_000;
  const now = 100 * day;
  log.append(0, 0, 0, now - 10 * day); // view, 10 days ago
  log.append(0, 0, 2, now - 10 * day); // purchase of the same item
  log.append(1, 1, 0, now); // a view today
  log.append(1, 2, 0, now - 1 * day); // a view yesterday
  log.append(1, 2, 0, now + day); // stamped in the future: counts as now
  const ev = log.snapshot();
  const ui = userItemMatrix(ev, 2, 3, [1, 3, 5]);
  assert.deepEqual([...ui.val], [6, 1, 2]); // 1 + 5, then 1, then 1 + 1
  const pop = decayedPopularity(ev, 3, [1, 3, 5], now, day);
  assert.ok(Math.abs(pop[0] - 6 * 2 ** -10) < 1e-12);
  assert.equal(pop[1], 1);
  assert.ok(Math.abs(pop[2] - 1.5) < 1e-12);
  assert.deepEqual([...popularityOrder(pop)], [2, 1, 0]);
  // with a long half-life the purchase wins again
  assert.deepEqual([...popularityOrder(decayedPopularity(ev, 3, [1, 3, 5], now, 1000 * day))], [0, 2, 1]);
});

test('the event log drops the oldest half at its cap and keeps appending', () => {
  const log = new EventLog(4, 2);
  for (let e = 0; e < 5; e++) log.append(e, e, 0, e);
  const s = log.snapshot();
  assert.equal(s.count, 3);
  assert.deepEqual([...s.user.subarray(0, 3)], [2, 3, 4]);
});

test('fitted to its rows, the event log gives back its growth room in new buffers; a build holding the old ones reads them', () => {
  const log = new EventLog(1000, 4);
  for (let e = 0; e < 50; e++) log.append(e, e + 1, e % 3, (1_000 + e) * 1000);
  const held = log.snapshot();
  const before = log.bytes;
  assert.equal(log.fit(before), 0, 'less room than asked for: kept');
  const freed = log.fit();
  assert.equal(log.bytes, 50 * 13);
  assert.equal(freed, before - 50 * 13);
  const now = log.snapshot();
  assert.deepEqual(
    [now.count, [...now.user.subarray(0, 50)], [...now.atSec.subarray(45, 50)]],
    [50, [...held.user.subarray(0, 50)], [1045, 1046, 1047, 1048, 1049]],
  );
  assert.notEqual(now.user.buffer, held.user.buffer);
  log.append(7, 7, 0, 0);
  assert.deepEqual([log.count, log.snapshot().user[50], held.count], [51, 7, 50]);
  assert.equal(new EventLog(1000, 4).fit(), 0, 'an empty log keeps its initial capacity');
});

test('the event log names the users of its newest rows and renumbers them in new buffers', () => {
  const log = new EventLog(100, 4);
  const users = [0, 1, 2, 1, 3, 2, 4, 2];
  users.forEach((u, e) => log.append(u, 10 + e, e % 3, 1_000_000 + 1000 * e + 999)); // kept to the second
  // the newest rows name 2, 4, 3, 1, then 0: at most 3 users means from row 4 (user 3) on
  const three = log.newestUsers(3, 6);
  assert.deepEqual([three.from, [...three.named]], [4, [0, 0, 1, 1, 1, 0]]);
  const all = log.newestUsers(10, 6);
  assert.deepEqual([all.from, [...all.named]], [0, [1, 1, 1, 1, 1, 0]]);
  const before = log.snapshot();
  log.rewrite(three.from, Int32Array.from([-1, -1, 0, 1, 2, -1]));
  const after = log.snapshot();
  assert.deepEqual([after.count, [...after.user.subarray(0, 4)], [...after.item.subarray(0, 4)]], [4, [1, 0, 2, 0], [14, 15, 16, 17]]);
  assert.deepEqual([...after.kind.subarray(0, 4)], [1, 2, 0, 1]);
  assert.deepEqual([...after.atSec.subarray(0, 4)], [1004, 1005, 1006, 1007]);
  // a build holding the old buffers still reads them unchanged; appends go to the new ones
  assert.deepEqual([before.count, [...before.user.subarray(0, 8)]], [8, users]);
  log.append(1, 99, 2, 2000);
  assert.deepEqual([log.count, log.snapshot().user[4], before.user[4]], [5, 1, 3]);
});

/** A random users x items 0/1..3 matrix (seeded by fast-check) as dense rows. */
const denseArb = (users: number, items: number) =>
  fc.array(fc.array(fc.constantFrom<number>(0, 0, 0, 1, 2, 3), { minLength: items, maxLength: items }), { minLength: users, maxLength: users });

test('spdInverse matches ml-matrix on random positive-definite matrices', () => {
  fc.assert(
    fc.property(denseArb(12, 9), fc.double({ min: 0.5, max: 50, noNaN: true }), (rows, lambda) => {
      const x = new Matrix(rows);
      const g = x.transpose().mmul(x).add(Matrix.eye(9).mul(lambda));
      const got = spdInverse(Float64Array.from(g.to1DArray()), 9);
      const want = inverse(g).to1DArray();
      want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) < 1e-9 * Math.max(1, Math.abs(w)), `entry ${i}: ${got[i]} vs ${w}`));
    }),
    { numRuns: 40 },
  );
});

test('EASE neighbours are the positive entries of -P / diag(P) (P = (X^T X + lambda I)^-1), best first, on the kept items only', () => {
  fc.assert(
    fc.property(denseArb(15, 7), (rows) => {
      const ui = fromDense(rows);
      const iu = transpose(ui);
      const lambda = 3;
      const keptItems = [...easeItems(iu, 5)];
      const nb = easeNeighbours(ui, iu, { k: 7, lambda, maxItems: 5 });
      // the oracle: dense EASE on the kept columns
      const x = new Matrix(rows.map((r) => keptItems.map((j) => r[j])));
      const p = inverse(x.transpose().mmul(x).add(Matrix.eye(keptItems.length).mul(lambda)));
      for (let j = 0; j < 7; j++) {
        const a = keptItems.indexOf(j);
        if (a < 0) {
          assert.equal(nb.count[j], 0, `item ${j} is not kept: no EASE weights`);
          continue;
        }
        // a weight counts where the partial correlation is above the inverse's rounding noise
        const want = keptItems
          .map((i, b) => [i, -p.get(a, b) / p.get(b, b), -p.get(a, b) / Math.sqrt(p.get(a, a) * p.get(b, b))] as const)
          .filter(([i, , r]) => i !== j && r > EASE_NOISE)
          .map(([i, w]) => [i, w] as [number, number])
          .sort((u, v) => v[1] - u[1] || u[0] - v[0]);
        const got = listOf(nb, j);
        assert.equal(got.length, want.length, `row ${j}`);
        got.forEach(([i, w], t) => {
          assert.ok(Math.abs(w - want[t][1]) < 1e-5, `row ${j}: ${w} vs ${want[t][1]}`);
          if (Math.abs(want[t][1] - (want[t + 1]?.[1] ?? -1)) > 1e-6) assert.equal(i, want[t][0]);
        });
      }
    }),
    {
      numRuns: 40,
      // items 0 and 3 here have a weight of exactly 0 that the inverse gives as 1e-17
      examples: [
        [
          [
            [1, 2, 0, 0, 0, 0, 0],
            [0, 3, 0, 0, 0, 0, 3],
            [2, 3, 0, 0, 0, 0, 0],
            [0, 3, 0, 2, 2, 0, 0],
            [3, 3, 0, 2, 0, 0, 2],
            [0, 3, 0, 0, 1, 0, 1],
            [0, 0, 0, 0, 1, 0, 0],
            [2, 2, 0, 0, 0, 0, 3],
            [0, 0, 0, 3, 2, 0, 1],
            [0, 0, 0, 2, 1, 0, 1],
            [2, 0, 0, 0, 1, 0, 0],
            [0, 3, 0, 2, 0, 0, 0],
            [0, 2, 0, 1, 0, 0, 0],
            [0, 0, 0, 1, 3, 0, 0],
            [0, 0, 0, 0, 0, 0, 2],
          ],
        ],
      ],
    },
  );
});

test('RP3beta: W(i, j) = sum_u (1/deg i)^a (r(u, j) / |r(u)|)^a * deg(j)^-b, checked against a dense computation', () => {
  fc.assert(
    fc.property(denseArb(10, 8), fc.constantFrom(0.5, 1), fc.constantFrom(0, 0.5), (rows, alpha, beta) => {
      const ui = fromDense(rows);
      const nb = rp3betaNeighbours(ui, transpose(ui), { k: 8, alpha, beta });
      const deg = Array.from({ length: 8 }, (_, j) => rows.filter((r) => r[j] > 0).length);
      const rowSum = rows.map((r) => r.reduce((s, v) => s + v, 0));
      for (let i = 0; i < 8; i++) {
        const want: [number, number][] = [];
        for (let j = 0; j < 8; j++) {
          if (j === i || deg[i] === 0) continue;
          let w = 0;
          rows.forEach((r, u) => {
            if (r[i] > 0 && r[j] > 0) w += (1 / deg[i]) ** alpha * (r[j] / rowSum[u]) ** alpha;
          });
          if (w > 0) want.push([j, w * deg[j] ** -beta]);
        }
        want.sort((u, v) => v[1] - u[1] || u[0] - v[0]);
        const got = listOf(nb, i);
        assert.equal(got.length, want.length, `row ${i}`);
        got.forEach(([, w], t) => assert.ok(Math.abs(w - want[t][1]) < 1e-5, `row ${i}: ${w} vs ${want[t][1]}`));
      }
    }),
    { numRuns: 60 },
  );
});
