// `npm run eval:recs`: the offline evaluation of the recommendation models on MovieLens
// latest-small (see docs/recommendations.md). Prints a table of mean ± sd over the seeds and
// writes it as JSON to bench/results/recs-eval-<ISO time>.json.
//   node dist/bench/recs/eval.js [--seeds 5] [--tune] [--cache-dir DIR]
import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { machine } from '../lib/format.js';
import { writeResult } from '../lib/results.js';
import { DEFAULT_CACHE, loadMovieLens } from './movielens.js';
import { EVAL_BUILD, EVAL_MODELS, evaluate, trainModel } from './protocol.js';
import { holdoutSplit } from './split.js';
import { meanSd, type TopNMetrics } from './metrics.js';
import { tune } from './tune.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
};
const opts = new Command('eval')
  .description('Precision/Recall/NDCG@10 of the recommendation models on MovieLens latest-small')
  .option('--seeds <n>', 'holdout seeds 1..n', int, 5)
  .option('--tune', 'search parameters on an inner validation split of seed 1 instead', false)
  .option('--cache-dir <dir>', 'where r-cran-dslabs is fetched and unpacked', DEFAULT_CACHE)
  .parse()
  .opts<{ seeds: number; tune: boolean; cacheDir: string }>();

const t0 = performance.now();
const ml = loadMovieLens(opts.cacheDir);
console.error(`MovieLens: ${ml.user.length} ratings, ${ml.users} users, ${ml.items} movies (${(performance.now() - t0).toFixed(0)} ms to load)`);

if (opts.tune) {
  const { lines, best } = tune(ml, (s) => console.log(s));
  console.log(`written: ${writeResult('recs-tune', { machine: machine(), best, lines })}`);
} else {
  const perSeed: { seed: number; buildMs: number; timings: Record<string, number>; metrics: Record<string, TopNMetrics> }[] = [];
  for (let seed = 1; seed <= opts.seeds; seed++) {
    const split = holdoutSplit(ml.user, ml.item, ml.users, seed);
    const b0 = performance.now();
    const model = trainModel(ml, split);
    const buildMs = performance.now() - b0;
    const metrics = Object.fromEntries(evaluate(model, split, EVAL_MODELS));
    perSeed.push({ seed, buildMs, timings: model.timings, metrics });
    console.error(`seed ${seed}: built in ${buildMs.toFixed(0)} ms; ` + EVAL_MODELS.map((m) => `${m.name} ${metrics[m.name].ndcg.toFixed(4)}`).join(', '));
  }
  const summary = EVAL_MODELS.map((m) => {
    const of = (k: keyof TopNMetrics) => meanSd(perSeed.map((s) => s.metrics[m.name][k]));
    return { model: m.name, blend: m.blend, precision: of('precision'), recall: of('recall'), ndcg: of('ndcg') };
  });
  const pm = (x: { mean: number; sd: number }) => `${x.mean.toFixed(4)} ± ${x.sd.toFixed(4)}`;
  const table = new Table({
    head: ['model', 'Precision@10', 'Recall@10', 'NDCG@10'],
    colAligns: ['left', 'right', 'right', 'right'],
    style: { head: [], border: [] }, // no colour codes: the table also goes to logs and docs
  });
  for (const s of summary) table.push([s.model, pm(s.precision), pm(s.recall), pm(s.ndcg)]);
  console.log(`MovieLens latest-small, 20% per-user holdout, seeds 1..${opts.seeds}, mean ± sd over seeds`);
  console.log(table.toString());
  const path = writeResult('recs-eval', {
    machine: machine(),
    data: { ratings: ml.user.length, users: ml.users, items: ml.items, source: 'r-cran-dslabs movielens' },
    protocol: { holdout: 0.2, minTest: 1, n: 10, seeds: opts.seeds, implicit: true },
    build: EVAL_BUILD,
    summary,
    perSeed,
  });
  console.log(`written: ${path}`);
}
