// Product features as a sparse item x feature matrix: one column per category, brand, attribute
// key=value pair and price band. Strings are interned on the main thread (a few Map lookups per
// product, once per catalog change) so only typed arrays cross to the pool.
import type { ProductFeatures } from './types.js';
import { csrFromTriples, scaleColumns, type Csr } from './sparse.js';

/** Relative weight of each kind of feature in the cosine. */
export interface FeatureWeights {
  category: number;
  brand: number;
  attribute: number;
  priceBand: number;
}

export const DEFAULT_FEATURE_WEIGHTS: FeatureWeights = { category: 1, brand: 0.8, attribute: 0.5, priceBand: 0.5 };

/** The encoded catalog, in SharedArrayBuffers (immutable once built). */
export interface FeatureColumns {
  count: number;
  features: number;
  item: Int32Array;
  feature: Int32Array;
  weight: Float32Array;
}

/** Price bands double: 1.00-1.99, 2.00-3.99, ... (minor units, so band 6 ~ 0.64-1.27 at 100/unit). */
export function priceBand(price: number): number {
  return Math.floor(Math.log2(price));
}

/** Encodes products to feature triples; `itemId` maps a productId to its dense item id. */
export function encodeFeatures(
  products: readonly ProductFeatures[],
  itemId: (productId: string) => number,
  weights: FeatureWeights = DEFAULT_FEATURE_WEIGHTS,
): FeatureColumns {
  const dict = new Map<string, number>();
  const item: number[] = [];
  const feature: number[] = [];
  const weight: number[] = [];
  const add = (i: number, key: string, w: number) => {
    if (!(w > 0)) return;
    let f = dict.get(key);
    if (f === undefined) dict.set(key, (f = dict.size));
    item.push(i);
    feature.push(f);
    weight.push(w);
  };
  for (const p of products) {
    const i = itemId(p.productId);
    add(i, `c\0${p.category}`, weights.category);
    if (p.brand !== undefined) add(i, `b\0${p.brand}`, weights.brand);
    for (const [k, v] of Object.entries(p.attributes ?? {})) add(i, `a\0${k}\0${v}`, weights.attribute);
    if (p.price > 0) add(i, `p\0${priceBand(p.price)}`, weights.priceBand);
  }
  const n = item.length;
  const out: FeatureColumns = {
    count: n,
    features: dict.size,
    item: new Int32Array(new SharedArrayBuffer(n * 4)),
    feature: new Int32Array(new SharedArrayBuffer(n * 4)),
    weight: new Float32Array(new SharedArrayBuffer(n * 4)),
  };
  out.item.set(item);
  out.feature.set(feature);
  out.weight.set(weight);
  return out;
}

/**
 * The item x feature matrix with each column scaled by log((N + 1) / df): a feature every
 * product shares ("category: all") says little, a rare brand says a lot. Always > 0, which the
 * cosine kernel needs.
 */
export function featureMatrix(fc: FeatureColumns, items: number, idf: boolean): Csr {
  const m = csrFromTriples(items, fc.features, fc.item, fc.feature, fc.weight, fc.count);
  if (!idf) return m;
  const df = new Float64Array(fc.features);
  const nnz = m.ptr[m.rows];
  for (let p = 0; p < nnz; p++) df[m.idx[p]]++;
  let withFeatures = 0;
  for (let i = 0; i < items; i++) if (m.ptr[i + 1] > m.ptr[i]) withFeatures++;
  const w = df.map((d) => (d > 0 ? Math.log((withFeatures + 1) / d) : 0));
  return scaleColumns(m, w);
}
