// Top-k selection over (score, index) pairs. The order is total: higher score first, and on equal
// scores the lower index first, so results never depend on the order candidates arrive in.

/** True when (sa, ia) ranks before (sb, ib). */
export function ranksBefore(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa > sb || (sa === sb && ia < ib);
}

/**
 * Rearranges the pairs (score[t], index[t]), t < n, so that [0, min(k, n)) holds the best k,
 * best first; returns how many. Quickselect then a sort of the k: O(n + k log k), with the
 * scratch arrays hot in cache (a heap per row costs a sift per improvement, and on real data the
 * candidates come in no useful order). Indices must be distinct (they are ids), so the order has
 * no ties and any pivot choice gives the same result.
 */
export function selectTop(score: Float64Array, index: Int32Array, n: number, k: number): number {
  if (k <= 0) return 0;
  if (k < n) {
    let lo = 0;
    let hi = n - 1;
    while (hi > lo) {
      const [a, b] = partition(score, index, lo, hi);
      if (k - 1 <= b) hi = b;
      else if (k - 1 >= a) lo = a;
      else break; // k-1 sits on the pivot itself
    }
  }
  const m = Math.min(k, n);
  sortRange(score, index, 0, m - 1);
  return m;
}

/** Hoare partition around the median of three; [lo, b] ranks before [a, hi]. */
function partition(score: Float64Array, index: Int32Array, lo: number, hi: number): [number, number] {
  const mid = (lo + hi) >>> 1;
  const before = (x: number, y: number) => ranksBefore(score[x], index[x], score[y], index[y]);
  let p = mid;
  if (before(lo, mid) !== before(lo, hi)) p = lo;
  else if (before(hi, mid) !== before(hi, lo)) p = hi;
  const ps = score[p];
  const pi = index[p];
  let a = lo;
  let b = hi;
  while (a <= b) {
    while (ranksBefore(score[a], index[a], ps, pi)) a++;
    while (ranksBefore(ps, pi, score[b], index[b])) b--;
    if (a <= b) {
      const s = score[a];
      score[a] = score[b];
      score[b] = s;
      const i = index[a];
      index[a] = index[b];
      index[b] = i;
      a++;
      b--;
    }
  }
  return [a, b];
}

/** Sorts [lo, hi] best first: quicksort, insertion sort for short ranges. */
function sortRange(score: Float64Array, index: Int32Array, lo: number, hi: number): void {
  while (hi - lo > 16) {
    const [a, b] = partition(score, index, lo, hi);
    sortRange(score, index, lo, b);
    lo = a;
  }
  for (let t = lo + 1; t <= hi; t++) {
    const s = score[t];
    const i = index[t];
    let u = t - 1;
    while (u >= lo && ranksBefore(s, i, score[u], index[u])) {
      score[u + 1] = score[u];
      index[u + 1] = index[u];
      u--;
    }
    score[u + 1] = s;
    index[u + 1] = i;
  }
}

/**
 * Walks `candidates` best-first by `score` and returns the first `limit` that `accept` takes.
 * A max-heap is built in O(n) and popped lazily, so `accept` (which may be a string lookup) runs
 * only for the candidates actually looked at, not for all of them.
 */
export function takeBest(score: ArrayLike<number>, candidates: Int32Array, n: number, limit: number, accept: (index: number) => boolean): number[] {
  const heap = candidates.slice(0, n);
  const better = (a: number, b: number) => ranksBefore(score[a], a, score[b], b);
  const down = (c: number, size: number) => {
    const x = heap[c];
    for (;;) {
      let w = 2 * c + 1;
      if (w >= size) break;
      if (w + 1 < size && better(heap[w + 1], heap[w])) w++;
      if (!better(heap[w], x)) break;
      heap[c] = heap[w];
      c = w;
    }
    heap[c] = x;
  };
  for (let c = (n >> 1) - 1; c >= 0; c--) down(c, n);
  const out: number[] = [];
  let size = n;
  while (size > 0 && out.length < limit) {
    const top = heap[0];
    heap[0] = heap[--size];
    if (size > 0) down(0, size);
    if (accept(top)) out.push(top);
  }
  return out;
}
