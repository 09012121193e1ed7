// The offline protocol: every rating is an implicit 1; per seed, a 20% per-user holdout; each
// model ranks all items the user has not seen in training; Precision/Recall/NDCG@10 averaged over
// users. The models are the production code (buildModel + Scorer), not copies.
import { buildModel, DEFAULT_BUILD_PARAMS, type BuildParams, type RecsModel } from '../../src/workers/recs/model.js';
import { encodeFeatures, type FeatureWeights } from '../../src/workers/recs/content-features.js';
import { Scorer, type BlendWeights } from '../../src/app/recs/scorer.js';
import type { EventColumns } from '../../src/workers/recs/event-log.js';
import type { ProductFeatures } from '../../src/workers/recs/types.js';
import { DEFAULT_BLEND } from '../../src/app/recs/recs-options.js';
import type { MovieLens } from './movielens.js';
import type { Split } from './split.js';
import { topNMetrics, type TopNMetrics } from './metrics.js';

export interface EvalModel {
  name: string;
  blend: BlendWeights;
}

export const NONE: BlendWeights = { itemknn: 0, userknn: 0, content: 0, rp3beta: 0, ease: 0, popularity: 0 };

/** Movies as catalog products: each genre an attribute (the only content MovieLens has). */
export function movieFeatures(ml: MovieLens): ProductFeatures[] {
  return ml.genres.map((g, i) => ({
    productId: String(i),
    category: g.join('|'),
    attributes: Object.fromEntries(g.map((x) => [x, '1'])),
    price: 0,
  }));
}

/** The ratings of `rows` only, same ids (the inner validation split tunes on a training set). */
export function subset(ml: MovieLens, rows: Int32Array): MovieLens {
  return {
    ...ml,
    user: Int32Array.from(rows, (r) => ml.user[r]),
    item: Int32Array.from(rows, (r) => ml.item[r]),
    timestamp: Float64Array.from(rows, (r) => ml.timestamp[r]),
  };
}

export function trainEvents(ml: MovieLens, split: Split): EventColumns {
  const n = split.train.length;
  const ev: EventColumns = { count: n, user: new Int32Array(n), item: new Int32Array(n), kind: new Uint8Array(n), atSec: new Uint32Array(n) };
  for (let e = 0; e < n; e++) {
    const r = split.train[e];
    ev.user[e] = ml.user[r];
    ev.item[e] = ml.item[r];
    ev.atSec[e] = ml.timestamp[r]; // MovieLens stamps are seconds
  }
  return ev;
}

export interface BuildChoice {
  params: Omit<BuildParams, 'now' | 'kindWeights'>;
  features: FeatureWeights;
}

export const EVAL_BUILD: BuildChoice = {
  // implicit 1s and a half-life of infinity: popularity is the plain count, as in TopPop
  params: { ...DEFAULT_BUILD_PARAMS, halfLifeMs: Infinity },
  features: { category: 0, brand: 0, attribute: 1, priceBand: 0 }, // genres only (tune.ts)
};

/** The models of the table; the hybrid's blend is the service's default (tuned, see tune.ts). */
export const EVAL_MODELS: readonly EvalModel[] = [
  { name: 'TopPop', blend: { ...NONE, popularity: 1 } },
  { name: 'ItemKNN', blend: { ...NONE, itemknn: 1 } },
  { name: 'UserKNN', blend: { ...NONE, userknn: 1 } },
  { name: 'Content (genres)', blend: { ...NONE, content: 1 } },
  { name: 'RP3beta', blend: { ...NONE, rp3beta: 1 } },
  { name: 'EASE', blend: { ...NONE, ease: 1 } },
  { name: 'Hybrid', blend: DEFAULT_BLEND },
];

/** Builds the model on a split's training rows (no content part when `withContent` is false). */
export function trainModel(ml: MovieLens, split: Split, choice: BuildChoice = EVAL_BUILD, withContent = true): RecsModel {
  const features = withContent ? encodeFeatures(movieFeatures(ml), (id) => Number(id), choice.features) : null;
  return buildModel({
    events: trainEvents(ml, split),
    users: ml.users,
    items: ml.items,
    features,
    params: { ...choice.params, kindWeights: [1, 1, 1], now: 0 },
  });
}

/** Mean metrics@n of each model over the users with held-out items. */
export function evaluate(model: RecsModel, split: Split, models: readonly EvalModel[], n = 10): Map<string, TopNMetrics> {
  const scorer = new Scorer(model);
  const out = new Map<string, TopNMetrics>();
  for (const m of models) {
    const sum = { precision: 0, recall: 0, ndcg: 0 };
    let users = 0;
    for (let u = 0; u < split.test.length; u++) {
      if (split.test[u].size === 0) continue;
      const ranked = scorer.forUser(u, n, m.blend, () => true).map((s) => s.item);
      if (ranked.length < n) {
        // as in serving: popularity fills what the blend did not reach (never the user's own items)
        const seen = new Set([...scorer.history(u).idx, ...ranked]);
        for (const s of scorer.popular(n - ranked.length, (j) => !seen.has(j))) ranked.push(s.item);
      }
      const r = topNMetrics(ranked, split.test[u], n);
      sum.precision += r.precision;
      sum.recall += r.recall;
      sum.ndcg += r.ndcg;
      users++;
    }
    out.set(m.name, { precision: sum.precision / users, recall: sum.recall / users, ndcg: sum.ndcg / users });
  }
  return out;
}
