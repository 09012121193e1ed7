// RP3beta (Paudel et al. 2017; Dacrema et al. 2019's strongest graph baseline): the probability
// of a three-step random walk item -> user -> item on the bipartite interaction graph, divided by
// the destination's degree to the power beta so that popular items do not win every walk.
//
//   W(i, j) = sum over users u of Piu(i, u)^alpha * Pui(u, j)^alpha  *  deg(j)^-beta
//
// Piu is the item's step (1 / number of users of i), Pui the user's (r(u, j) / sum of u's row).
// Computed row by row like the cosine kernel (gather through the columns row i touches, then the
// top k), so it costs what item-item cosine costs.
import { allocNeighbours, type Neighbours } from './cosine-neighbours.js';
import type { Csr } from './sparse.js';
import { selectTop } from './top-k.js';

export interface Rp3Options {
  k: number;
  alpha: number;
  beta: number;
  /** Rows r with r % stride === offset (see cosineNeighbours). */
  stride?: number;
  offset?: number;
  out?: Neighbours;
}

/** Top-k RP3beta neighbours of every item, from the user x item matrix and its transpose. */
export function rp3betaNeighbours(userItems: Csr, itemUsers: Csr, opts: Rp3Options): Neighbours {
  const { k, alpha, beta, stride = 1, offset = 0 } = opts;
  const items = itemUsers.rows;
  const out = opts.out ?? allocNeighbours(items, k, false);
  if (out.rows !== items || out.k !== k) throw new Error(`rp3betaNeighbours: out is ${out.rows}x${out.k}, need ${items}x${k}`);
  // the user's step, per stored value: (r(u, j) / row sum)^alpha
  const { ptr: uPtr, idx: uIdx, val: uVal } = userItems;
  const step = new Float32Array(uIdx.length);
  for (let u = 0; u < userItems.rows; u++) {
    let sum = 0;
    for (let p = uPtr[u]; p < uPtr[u + 1]; p++) sum += uVal[p];
    for (let p = uPtr[u]; p < uPtr[u + 1]; p++) step[p] = Math.pow(uVal[p] / sum, alpha);
  }
  const { ptr: iPtr, idx: iIdx } = itemUsers;
  const penalty = new Float64Array(items);
  for (let j = 0; j < items; j++) {
    const deg = iPtr[j + 1] - iPtr[j];
    penalty[j] = deg > 0 ? Math.pow(deg, -beta) : 0;
  }
  const acc = new Float64Array(items);
  const touched = new Int32Array(items + 1);
  const candScore = new Float64Array(items);
  const candIndex = new Int32Array(items);
  const { count, idx, sim } = out;
  for (let i = offset; i < items; i += stride) {
    const deg = iPtr[i + 1] - iPtr[i];
    if (deg === 0) {
      count[i] = 0;
      continue;
    }
    const first = Math.pow(1 / deg, alpha);
    let nt = 0;
    for (let p = iPtr[i]; p < iPtr[i + 1]; p++) {
      const u = iIdx[p];
      for (let q = uPtr[u], end = uPtr[u + 1]; q < end; q++) {
        const j = uIdx[q];
        const x = acc[j];
        touched[nt] = j; // branch-free first touch, as in the cosine kernel
        nt += x === 0 ? 1 : 0;
        acc[j] = x + step[q];
      }
    }
    let m = 0;
    for (let t = 0; t < nt; t++) {
      const j = touched[t];
      if (j !== i) {
        candScore[m] = first * acc[j] * penalty[j];
        candIndex[m++] = j;
      }
      acc[j] = 0;
    }
    const kept = selectTop(candScore, candIndex, m, k);
    idx.set(candIndex.subarray(0, kept), i * k);
    for (let t = 0; t < kept; t++) sim[i * k + t] = candScore[t];
    count[i] = kept;
  }
  return out;
}
