// Build-time bench: how long a RecsService.rebuild() takes in the Piscina pool for MovieLens
// latest-small (100k ratings) and a synthetic MovieLens-1M-sized set (1M interactions), and the
// main thread's event-loop delay (p99) while the 1M rebuild runs beside a timer-driven load.
// Run: npm run build && node dist/bench/recs/build-time.js [--threads 2] [--repeat 3]
import { Command, InvalidArgumentError } from 'commander';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { RecsService } from '../../src/app/recs/recs-service.js';
import { INTERACTION_KINDS, type RecsCandidateFilter } from '../../src/workers/recs/types.js';
import type { EventColumns } from '../../src/workers/recs/event-log.js';
import { loadMovieLens } from './movielens.js';
import { movieFeatures } from './protocol.js';
import { syntheticInteractions } from './synthetic.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
};
const opts = new Command('build-time')
  .option('--threads <n>', 'pool threads (build shards)', int, 2)
  .option('--repeat <n>', 'rebuilds per data set (the best and median are reported)', int, 3)
  .option('--nice <n>', 'nice increment of the pool threads (default: the service default, 10)', (v) => Number(v))
  .option('--tick-ms <n>', 'period of the main-thread load timer during the 1M rebuild', int, 1)
  .parse()
  .opts<{ threads: number; repeat: number; nice?: number; tickMs: number }>();

const ANY: RecsCandidateFilter = { eligible: () => true, price: () => undefined, category: () => undefined };

function serviceWith(ev: EventColumns): RecsService {
  const svc = new RecsService({
    poolThreads: opts.threads,
    ...(opts.nice === undefined ? {} : { poolNice: opts.nice }),
    rebuildEveryEvents: Number.MAX_SAFE_INTEGER,
    rebuildIntervalMs: 0,
  });
  for (let e = 0; e < ev.count; e++)
    svc.record({ userId: `u${ev.user[e]}`, productId: `p${ev.item[e]}`, kind: INTERACTION_KINDS[ev.kind[e]], at: ev.atSec[e] * 1000 });
  return svc;
}

const stagesOf = (stages: Record<string, number>) =>
  Object.entries(stages)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');

async function timeRebuilds(name: string, svc: RecsService): Promise<void> {
  const runs: { ms: number; stages: Record<string, number> }[] = [];
  for (let r = 0; r < opts.repeat; r++) {
    const t0 = performance.now();
    await svc.rebuild();
    runs.push({ ms: performance.now() - t0, stages: svc.buildTimings() });
  }
  const sorted = [...runs].sort((a, b) => a.ms - b.ms);
  // stage times are wall time inside the slowest shard: on a busy machine they include preemption
  const stages = stagesOf(sorted[0].stages);
  // the first build computes every lane; later ones keep the content lane (the catalog did not change)
  console.log(
    `${name}: first rebuild ${runs[0].ms.toFixed(0)} ms (stages: ${stagesOf(runs[0].stages)}); ` +
      `rebuild best ${sorted[0].ms.toFixed(0)} ms, median ${sorted[sorted.length >> 1].ms.toFixed(0)} ms ` +
      `(${opts.threads} threads, load average ${loadavg()[0].toFixed(1)}; best run's stages, ms: ${stages})`,
  );
}

const ml = loadMovieLens();
const mlEvents: EventColumns = {
  count: ml.user.length,
  user: ml.user,
  item: ml.item,
  kind: new Uint8Array(ml.user.length),
  atSec: Uint32Array.from(ml.timestamp),
};
const small = serviceWith(mlEvents);
small.setProducts(movieFeatures(ml).map((p) => ({ ...p, productId: `p${p.productId}` })));
await timeRebuilds('MovieLens latest-small (100,004 ratings, content on genres)', small);
await small.close();

const big = serviceWith(syntheticInteractions());
await timeRebuilds('synthetic ML-1M size (6,040 x 3,706, 1,000,000 interactions)', big);

// The main thread during a rebuild: a timer fires every tick and serves two recommendations, as
// request work would; the histogram records how late the event loop ran. The same load without a
// rebuild, for as long, is the baseline.
async function loopDelay(during: () => Promise<void>): Promise<{ ms: number; served: number; p50: number; p99: number; max: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let served = 0;
  let next = 0;
  const load = setInterval(() => {
    for (let r = 0; r < 2; r++) served += big.forUser(`u${(next++ * 7919) % 6040}`, 10, ANY, new Set()).length;
  }, opts.tickMs);
  h.enable();
  const t0 = performance.now();
  await during();
  const ms = performance.now() - t0;
  h.disable();
  clearInterval(load);
  return { ms, served, p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}
const show = (what: string, r: Awaited<ReturnType<typeof loopDelay>>) =>
  console.log(
    `event-loop delay ${what} (${r.ms.toFixed(0)} ms, ${r.served} recommendations served): ` +
      `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms`,
  );
const rebuilding = await loopDelay(() => big.rebuild());
const idle = await loopDelay(() => new Promise((r) => setTimeout(r, rebuilding.ms)));
show('during a 1M rebuild', rebuilding);
show('same load, no rebuild', idle);
await big.close();
