// Micro-benchmark of a shard's commit path alone (no sockets, no main thread): batches of `rows`
// cart.add commands on fresh carts (one journal row each) through the real ShardRuntime on a real
// shard file with SYNCHRONOUS=FULL, run back to back, in turn by the two paths of a single node:
// - serial: decide a batch, commit it on the shard's connection (transaction + fsync), answer,
//   decide the next (the path before the pipeline, still the one of cluster mode);
// - pipelined: the writer thread commits batch N while batch N+1 is decided (commit-pipeline.ts).
// Rounds alternate so both see the same background load; compare the ratio within a round.
// Run: npm run build && node dist/bench/micro/pipelined-commit.js [--rows 64] [--batches 300] [--rounds 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShardRuntime } from '../../src/workers/shard/shard-runtime.js';
import { CommitPipeline } from '../../src/workers/shard/commit-pipeline.js';
import { benchShardOptions } from '../lib/shard-options.js';
import type { ShardRequest } from '../../src/workers/shard-messages.js';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : Number(process.argv[i + 1]);
};
const ROWS = arg('rows', 64);
const BATCHES = arg('batches', 300);
const ROUNDS = arg('rounds', 3);
const skus = ['tee-classic-s', 'tee-classic-m', 'mug-stoneware-sand', 'soap-bar', 'kite'];
const item = (sku: string) => ({ productId: `p-${sku}`, name: `Product ${sku}`, unitPrice: 1900, currency: 'USD', available: 1_000 });

let id = 0;
function batch(round: number, b: number): ShardRequest[] {
  const reqs: ShardRequest[] = [];
  for (let r = 0; r < ROWS; r++) {
    const sku = skus[r % skus.length];
    reqs.push({ id: ++id, key: `cart:g${round}x${b}x${r}`, cmd: { type: 'add', sku, qty: 1, item: item(sku) } as ShardRequest['cmd'] });
  }
  return reqs;
}

function serial(round: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-pipe-'));
  const rt = new ShardRuntime(benchShardOptions(dir, 'FULL'));
  const t0 = performance.now();
  for (let b = 0; b < BATCHES; b++) rt.runBatches([batch(round, b)]);
  const ms = performance.now() - t0;
  rt.db.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

async function pipelined(round: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-pipe-'));
  const opts = benchShardOptions(dir, 'FULL');
  const rt = new ShardRuntime(opts);
  let feed = () => {};
  // Depth 2: one commit written, one waiting, never two written together; what is measured is
  // the overlap of deciding and committing alone, with the same commits as the serial path.
  const pipeline = new CommitPipeline(rt, opts, () => feed(), 2);
  // The writer thread opens its connection first: time from the first batch on, as on a running shard.
  await new Promise<void>((resolve) => pipeline.submit(rt.prepare([batch(-round, 0)]), undefined, () => resolve()));
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let next = 0;
    let done = 0;
    feed = () => {
      while (next < BATCHES && pipeline.ready) {
        pipeline.submit(rt.prepare([batch(round, next++)]), undefined, () => {
          if (++done === BATCHES) resolve();
        });
      }
    };
    feed();
  });
  const ms = performance.now() - t0;
  await pipeline.close();
  rt.db.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

const rate = (ms: number) => Math.round((BATCHES * ROWS) / (ms / 1000));
console.log(`${BATCHES} batches of ${ROWS} cart.add (one journal row each), SYNCHRONOUS=FULL`);
for (let round = 1; round <= ROUNDS; round++) {
  const s = serial(round * 2);
  const p = await pipelined(round * 2 + 1);
  console.log(
    `round ${round}: serial ${rate(s).toLocaleString('en-US')} rows/s (${(s / BATCHES).toFixed(2)} ms/batch), ` +
      `pipelined ${rate(p).toLocaleString('en-US')} rows/s (${(p / BATCHES).toFixed(2)} ms/batch), ratio ${(s / p).toFixed(2)}`,
  );
}
