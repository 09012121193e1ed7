// Top-N accuracy with binary relevance: a recommended item is a hit when it is in the user's
// held-out set.

export interface TopNMetrics {
  precision: number;
  recall: number;
  ndcg: number;
}

/** Precision@n = hits / n; Recall@n = hits / |test|; NDCG@n with ideal DCG over min(|test|, n). */
export function topNMetrics(ranked: readonly number[], test: ReadonlySet<number>, n: number): TopNMetrics {
  let hits = 0;
  let dcg = 0;
  for (let r = 0; r < Math.min(n, ranked.length); r++) {
    if (!test.has(ranked[r])) continue;
    hits++;
    dcg += 1 / Math.log2(r + 2);
  }
  let idcg = 0;
  for (let r = 0; r < Math.min(test.size, n); r++) idcg += 1 / Math.log2(r + 2);
  return { precision: hits / n, recall: test.size > 0 ? hits / test.size : 0, ndcg: idcg > 0 ? dcg / idcg : 0 };
}

/** Mean and sample standard deviation. */
export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}
