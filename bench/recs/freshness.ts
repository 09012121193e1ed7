// Freshness over the wire: how long after a shopper's event.view is acknowledged recs.forUser
// answers from a model that knows it (not a popularity or newest fallback). A real server (child
// process, loopback), a catalog of --products products (the demo's 50 plus generated ones), a
// background of --views views by guests, then --trials new shoppers one after another, each
// viewing two products and polling recs.forUser every --poll-ms until it is personal.
//   npm run build && node dist/bench/recs/freshness.js [--products 10000] [--trials 10]
import { Command, InvalidArgumentError } from 'commander';
import { loadavg } from 'node:os';
import { CartwireClient } from '../../src/client/index.js';
import { ADMIN_PASSWORD, getText, newJwtSecret, promValues, removeDir, spawnServer, tmpDataDir } from '../lib/server.js';
import { mulberry32 } from './split.js';
import { productIds } from '../lib/catalog.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected an integer >= 0');
  return n;
};
const opts = new Command('freshness')
  .option('--products <n>', 'products in the catalog (at least the demo 50)', int, 50)
  .option('--views <n>', 'background views by guests before the trials', int, 5_000)
  .option('--trials <n>', 'shoppers measured, one after another', int, 10)
  .option('--poll-ms <n>', 'recs.forUser polling period', int, 20)
  .option('--shards <n>', 'SHARDS of the server', int, 2)
  .parse()
  .opts<{ products: number; views: number; trials: number; pollMs: number; shards: number }>();

const dataDir = tmpDataDir('cartwire-freshness-');
const server = spawnServer({ dataDir, jwtSecret: newJwtSecret(), env: { SHARDS: String(opts.shards) } });
try {
  const { url } = await server.listening;
  const admin = await CartwireClient.connect(url);
  await admin.call('auth.login', { email: 'admin@example.com', password: ADMIN_PASSWORD });
  const ids: string[] = productIds(); // the demo catalog's
  const extra = Math.max(0, opts.products - ids.length);
  const t0 = performance.now();
  for (let from = 0; from < extra; from += 500) {
    const batch = Array.from({ length: Math.min(extra, from + 500) - from }, (_, b) => `gen-${from + b}`);
    await Promise.all(
      batch.map((id, b) => {
        const i = from + b;
        const variants = [{ sku: id, price: 500 + ((i * 7919) % 20_000) }];
        return admin.call('catalog.upsert', { productId: id, name: `Generated ${i}`, category: `cat-${i % 40}`, brand: `brand-${i % 25}`, variants });
      }),
    );
    // stock once the products are committed (the sku must exist)
    await Promise.all(batch.map((id) => admin.call('inventory.adjust', { sku: id, type: 'adjustment', qty: 1_000, reason: 'bench' })));
    ids.push(...batch);
  }
  if (extra > 0) console.log(`catalog: ${ids.length} products (${extra} created in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  // background: guests with a handful of views each over a Zipf-like taste
  const rand = mulberry32(7);
  const pick = () => ids[Math.min(ids.length - 1, Math.floor(ids.length * rand() ** 3))];
  const guests = await Promise.all(Array.from({ length: 20 }, () => CartwireClient.connect(url)));
  for (let v = 0; v < opts.views; v += guests.length * 10) {
    await Promise.all(
      guests.map(async (g) => {
        await g.call('auth.guest', {});
        await Promise.all(Array.from({ length: 10 }, () => g.call('event.view', { productId: pick() })));
      }),
    );
  }
  await Promise.all(guests.map((g) => g.close()));
  const metric = async (name: string) => promValues(await getText(`${url}/metrics`), [name])[name] ?? NaN;
  const delays: number[] = [];
  for (let trial = 0; trial < opts.trials; trial++) {
    const shopper = await CartwireClient.connect(url);
    await shopper.call('auth.guest', {});
    await shopper.call('event.view', { productId: pick() });
    await shopper.call('event.view', { productId: pick() });
    const acked = performance.now();
    for (;;) {
      const rs = await shopper.call('recs.forUser', { limit: 10 });
      if (rs.length > 0 && rs[0].algorithm !== 'popularity' && rs[0].algorithm !== 'newest') break;
      if (performance.now() - acked > 60_000) throw new Error('not personal within 60 s');
      await new Promise((r) => setTimeout(r, opts.pollMs));
    }
    delays.push(performance.now() - acked);
    await shopper.close();
  }
  const sorted = [...delays].sort((a, b) => a - b);
  const buildS = await metric('cartwire_recs_job_duration_seconds');
  console.log(
    `${ids.length} products, ${opts.views} background views: view acknowledged -> personal recs.forUser over ${opts.trials} shoppers: ` +
      `median ${sorted[sorted.length >> 1].toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms ` +
      `(polling every ${opts.pollMs} ms; last build ${(buildS * 1000).toFixed(0)} ms; builds ${await metric('cartwire_recs_builds')}; load average ${loadavg()[0].toFixed(1)})`,
  );
  await admin.close();
} finally {
  await server.term();
  removeDir(dataDir);
}
