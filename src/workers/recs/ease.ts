// EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): the item x item weights B that best
// reconstruct each user's row from the user's other items under an L2 penalty, in closed form:
//
//   P = (X^T X + lambda I)^-1,   B(i, j) = -P(i, j) / P(j, j),   B(i, i) = 0
//
// The inverse is dense and costs ~n^3 / 2 multiply-adds for n items, so EASE runs on the n most
// interacted-with items only (`maxItems`, chosen so the build stays within its time budget); the
// other items get no EASE weights. Each kept row keeps its k largest positive weights, served
// like any item neighbour list: score(j) = sum over the user's items i of r(u, i) * B(i, j).
import { allocNeighbours, type Neighbours } from './cosine-neighbours.js';
import type { Csr } from './sparse.js';
import { selectTop } from './top-k.js';

export interface EaseOptions {
  k: number;
  lambda: number;
  /** Items kept (the most interacted-with), bounding the n^3 inverse. */
  maxItems: number;
  out?: Neighbours;
}

/** Partial correlations at or below this are rounding noise of the inverse, not a weight. */
export const EASE_NOISE = 1e-9;

/** The items EASE runs on: the `max` with most users, best first (ties: lower id). */
export function easeItems(itemUsers: Csr, max: number): Int32Array {
  const order: number[] = [];
  for (let i = 0; i < itemUsers.rows; i++) if (itemUsers.ptr[i + 1] > itemUsers.ptr[i]) order.push(i);
  const deg = (i: number) => itemUsers.ptr[i + 1] - itemUsers.ptr[i];
  order.sort((a, b) => deg(b) - deg(a) || a - b);
  return Int32Array.from(order.slice(0, max));
}

/** EASE neighbours for every item (rows of items outside the kept set stay empty). */
export function easeNeighbours(userItems: Csr, itemUsers: Csr, opts: EaseOptions): Neighbours {
  const items = itemUsers.rows;
  const out = opts.out ?? allocNeighbours(items, opts.k, false);
  if (out.rows !== items || out.k !== opts.k) throw new Error(`easeNeighbours: out is ${out.rows}x${out.k}, need ${items}x${opts.k}`);
  const kept = easeItems(itemUsers, opts.maxItems);
  const n = kept.length;
  if (n < 2) return out;
  const a = gram(userItems, kept, items);
  for (let i = 0; i < n; i++) a[i * n + i] += opts.lambda;
  const p = spdInverse(a, n);
  // row i's candidates: B(i, j) = -P(i, j) / P(j, j) > 0, counted only where the partial
  // correlation -P(i, j) / sqrt(P(i, i) P(j, j)) is above rounding noise (a weight that is 0 in
  // exact arithmetic comes out of the inverse as +-1e-17 and must not be served as a neighbour).
  const diag = new Float64Array(n);
  for (let j = 0; j < n; j++) diag[j] = p[j * n + j];
  const candScore = new Float64Array(n);
  const candIndex = new Int32Array(n);
  const { count, idx, sim, k } = out;
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let j = 0; j < n; j++) {
      const pij = -p[i * n + j];
      if (j === i || !(pij > EASE_NOISE * Math.sqrt(diag[i] * diag[j]))) continue;
      candScore[m] = pij / diag[j];
      candIndex[m++] = kept[j];
    }
    const got = selectTop(candScore, candIndex, m, k);
    const row = kept[i];
    idx.set(candIndex.subarray(0, got), row * k);
    for (let t = 0; t < got; t++) sim[row * k + t] = candScore[t];
    count[row] = got;
  }
  return out;
}

/** X^T X over the kept items (dense n x n, row-major), from each user's kept items. */
function gram(userItems: Csr, kept: Int32Array, items: number): Float64Array {
  const n = kept.length;
  const slot = new Int32Array(items).fill(-1);
  for (let s = 0; s < n; s++) slot[kept[s]] = s;
  const g = new Float64Array(n * n);
  const hs = new Int32Array(n);
  const hv = new Float64Array(n);
  const { ptr, idx, val } = userItems;
  for (let u = 0; u < userItems.rows; u++) {
    let h = 0;
    for (let p = ptr[u]; p < ptr[u + 1]; p++) {
      const s = slot[idx[p]];
      if (s >= 0) {
        hs[h] = s;
        hv[h++] = val[p];
      }
    }
    for (let x = 0; x < h; x++) {
      const row = hs[x] * n;
      const v = hv[x];
      for (let y = 0; y < h; y++) g[row + hs[y]] += v * hv[y];
    }
  }
  return g;
}

/**
 * Inverse of a symmetric positive-definite n x n matrix (row-major, overwritten): Cholesky
 * A = L L^T, then M = L^-1 row by row, then A^-1 = M^T M as a sum of outer products of M's rows.
 * Every inner loop runs over contiguous memory (axpy or dot of row prefixes): ~n^3 / 2
 * multiply-adds in all.
 */
export function spdInverse(a: Float64Array, n: number): Float64Array {
  // Cholesky, lower triangle in place
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    for (let i = j; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
      if (i === j) {
        if (!(s > 0)) throw new Error(`spdInverse: matrix is not positive definite (pivot ${j})`);
        a[rj + j] = Math.sqrt(s);
      } else a[ri + j] = s / a[rj + j];
    }
  }
  // M = L^-1 (lower), row i = (e_i - sum_{k<i} L(i, k) M(k, :)) / L(i, i)
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const f = a[ri + k];
      if (f === 0) continue;
      const rk = k * n;
      for (let c = 0; c <= k; c++) m[ri + c] -= f * m[rk + c];
    }
    m[ri + i] += 1;
    const d = 1 / a[ri + i];
    for (let c = 0; c <= i; c++) m[ri + c] *= d;
  }
  // A^-1 = M^T M = sum over rows k of M(k, :)^T M(k, :): lower triangle, then mirrored
  a.fill(0);
  for (let k = 0; k < n; k++) {
    const rk = k * n;
    for (let i = 0; i <= k; i++) {
      const f = m[rk + i];
      if (f === 0) continue;
      const ri = i * n;
      for (let c = 0; c <= i; c++) a[ri + c] += f * m[rk + c];
    }
  }
  for (let i = 0; i < n; i++) for (let c = 0; c < i; c++) a[c * n + i] = a[i * n + c];
  return a;
}
