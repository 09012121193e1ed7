// Parameter search on an inner validation split: seed 1's training set is split again (20% per
// user held out) and every choice is scored on that, so the 5-seed test figures in the table
// never informed a choice. Neighbourhood sizes are searched by truncating one build's lists
// (they are sorted, so the first k of a K-list is exactly the k-list).
import type { Neighbours } from '../../src/workers/recs/cosine-neighbours.js';
import type { RecsModel } from '../../src/workers/recs/model.js';
import type { BlendWeights } from '../../src/app/recs/scorer.js';
import type { MovieLens } from './movielens.js';
import { EVAL_BUILD, NONE, evaluate, subset, trainModel, type BuildChoice } from './protocol.js';
import { holdoutSplit } from './split.js';

const truncate = (nb: Neighbours, k: number): Neighbours => ({ ...nb, count: nb.count.map((c) => Math.min(c, k)) });

/** The neighbourhood stages build only what they score (RP3beta and EASE off). */
const ONLY_KNN = { rp3K: 0, easeMaxItems: 0 };

export interface TuneLine {
  what: string;
  ndcg: number;
}

/** Runs the search and returns every line tried (best of each stage first in `best`). */
export function tune(ml: MovieLens, log: (s: string) => void): { lines: TuneLine[]; best: Record<string, string> } {
  const outer = holdoutSplit(ml.user, ml.item, ml.users, 1);
  const train = subset(ml, outer.train);
  const inner = holdoutSplit(train.user, train.item, train.users, 101);
  const lines: TuneLine[] = [];
  const best: Record<string, string> = {};
  const score = (model: RecsModel, name: string, blend: BlendWeights) => {
    const ndcg = evaluate(model, inner, [{ name, blend }]).get(name)!.ndcg;
    lines.push({ what: name, ndcg });
    return ndcg;
  };
  const pick = (stage: string, tried: [string, number][]) => {
    tried.sort((a, b) => b[1] - a[1]);
    best[stage] = tried[0][0];
    log(
      `${stage}: ${tried
        .slice(0, 5)
        .map(([w, n]) => `${w} ${n.toFixed(4)}`)
        .join(' | ')}`,
    );
    return tried[0][0];
  };
  const kMax = 400;
  const cf: [string, number][] = [];
  const uf: [string, number][] = [];
  const models = new Map<number, RecsModel>();
  for (const shrink of [0, 5, 10, 20, 50]) {
    const choice: BuildChoice = {
      ...EVAL_BUILD,
      params: { ...EVAL_BUILD.params, ...ONLY_KNN, itemK: kMax, userK: kMax, itemShrink: shrink, userShrink: shrink },
    };
    const m = trainModel(train, inner, choice, false);
    models.set(shrink, m);
    for (const k of [20, 50, 100, 200, 400]) {
      const name = `itemK=${k} shrink=${shrink}`;
      cf.push([name, score({ ...m, itemNeighbours: truncate(m.itemNeighbours!, k) }, name, { ...NONE, itemknn: 1 })]);
    }
    for (const k of [20, 40, 60, 80, 120, 200]) {
      const name = `userK=${k} shrink=${shrink}`;
      uf.push([name, score({ ...m, userNeighbours: truncate(m.userNeighbours!, k) }, name, { ...NONE, userknn: 1 })]);
    }
  }
  const num = (s: string, key: string) => Number(new RegExp(`${key}=([\\d.]+)`).exec(s)![1]);
  const itemBest = pick('itemknn', cf);
  const userBest = pick('userknn', uf);
  // content: genre combination as a category, or genres only; IDF on or off
  const ct: [string, number][] = [];
  for (const category of [0, 0.5, 1])
    for (const idf of [true, false]) {
      const choice: BuildChoice = { params: { ...EVAL_BUILD.params, ...ONLY_KNN, contentIdf: idf }, features: { ...EVAL_BUILD.features, category } };
      const name = `content category=${category} idf=${idf}`;
      ct.push([name, score(trainModel(train, inner, choice), name, { ...NONE, content: 1 })]);
    }
  const contentBest = pick('content', ct);
  // RP3beta: walk exponent x popularity penalty, neighbourhood sizes by truncation
  const rp: [string, number][] = [];
  for (const alpha of [0.3, 0.5, 0.8, 1])
    for (const beta of [0.2, 0.3, 0.4, 0.5]) {
      const choice: BuildChoice = { ...EVAL_BUILD, params: { ...EVAL_BUILD.params, ...ONLY_KNN, rp3K: kMax, rp3Alpha: alpha, rp3Beta: beta } };
      const m = trainModel(train, inner, choice, false);
      // at most 200: serving walks k neighbours per history item
      for (const k of [50, 100, 200]) {
        const name = `rp3K=${k} alpha=${alpha} beta=${beta}`;
        rp.push([name, score({ ...m, rp3Neighbours: truncate(m.rp3Neighbours!, k) }, name, { ...NONE, rp3beta: 1 })]);
      }
    }
  const rp3Best = pick('rp3beta', rp);
  // EASE: items kept (the n^3 inverse's budget) x L2 penalty; neighbours kept by truncation
  const ea: [string, number][] = [];
  // 800 items is what fits the build budget here (docs/recommendations.md, build times)
  for (const maxItems of [400, 800])
    for (const lambda of [100, 200, 500, 1000, 2000]) {
      const choice: BuildChoice = { ...EVAL_BUILD, params: { ...EVAL_BUILD.params, ...ONLY_KNN, easeK: kMax, easeMaxItems: maxItems, easeLambda: lambda } };
      const m = trainModel(train, inner, choice, false);
      for (const k of [100, 200]) {
        const name = `easeK=${k} items=${maxItems} lambda=${lambda}`;
        ea.push([name, score({ ...m, easeNeighbours: truncate(m.easeNeighbours!, k) }, name, { ...NONE, ease: 1 })]);
      }
    }
  const easeBest = pick('ease', ea);
  // the blend, on the best of each
  const choice: BuildChoice = {
    params: {
      ...EVAL_BUILD.params,
      itemK: num(itemBest, 'itemK'),
      itemShrink: num(itemBest, 'shrink'),
      userK: num(userBest, 'userK'),
      userShrink: num(userBest, 'shrink'),
      contentIdf: contentBest.includes('idf=true'),
      rp3K: num(rp3Best, 'rp3K'),
      rp3Alpha: num(rp3Best, 'alpha'),
      rp3Beta: num(rp3Best, 'beta'),
      easeK: num(easeBest, 'easeK'),
      easeMaxItems: num(easeBest, 'items'),
      easeLambda: num(easeBest, 'lambda'),
    },
    features: { ...EVAL_BUILD.features, category: num(contentBest, 'category') },
  };
  models.clear(); // the shrink sweep's models go before the blend's model is trained
  const m = trainModel(train, inner, choice);
  const hy: [string, number][] = [];
  // EASE, the strongest single model on this split, carries weight 1; the others add to it
  for (const userknn of [0, 0.1, 0.2, 0.3, 0.5])
    for (const rp3beta of [0, 0.1, 0.25])
      for (const itemknn of [0, 0.1, 0.25])
        for (const content of [0, 0.05, 0.1, 0.2])
          for (const popularity of [0, 0.02, 0.05]) {
            const blend = { ...NONE, ease: 1, userknn, rp3beta, itemknn, content, popularity };
            const name = `blend ease=1 user=${userknn} rp3=${rp3beta} item=${itemknn} content=${content} pop=${popularity}`;
            hy.push([name, score(m, name, blend)]);
          }
  pick('hybrid', hy);
  return { lines, best };
}
