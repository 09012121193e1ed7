// Micro-benchmark behind the in-memory shape of carts: heap bytes per active 3-line cart in one
// shard (its cell, key, state, lines and the runtime's books), measured after a full GC with the
// carts filled through the real ShardRuntime (SQLite journal included, synchronous OFF: memory,
// not the disk, is measured here). `--snapshot` also writes a heap snapshot to look into.
// Run: npm run build && node --expose-gc dist/bench/micro/cart-memory.js [carts] [--snapshot]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { ShardRuntime } from '../../src/workers/shard/shard-runtime.js';
import { benchShardOptions } from '../lib/shard-options.js';
import { randomId } from '../../src/protocol/ids.js';
import type { ShardRequest } from '../../src/workers/shard-messages.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const carts = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 100_000);
const LINES = 3;
const BATCH = 1_000;

const dir = mkdtempSync(join(tmpdir(), 'cartwire-cartmem-'));
const rt = new ShardRuntime(benchShardOptions(dir, 'OFF'));
const skus = ['tee-classic-s', 'tee-classic-m', 'tee-classic-l', 'mug-stoneware-sand', 'soap-bar', 'kite'];
// Commands carry the item as the edge sends it: a fresh object per request, as decoded off the wire.
const item = (sku: string) => ({ productId: `p-${sku}`, name: `Product ${sku}`, unitPrice: 1900, currency: 'USD', available: 1_000 });

function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage().heapUsed;
}

const before = heapAfterGc();
let id = 0;
for (let first = 0; first < carts; first += BATCH) {
  const reqs: ShardRequest[] = [];
  for (let c = first; c < Math.min(carts, first + BATCH); c++) {
    const key = `cart:${randomId('g', 12)}`;
    for (let l = 0; l < LINES; l++) {
      const sku = skus[(c + l) % skus.length];
      reqs.push({ id: ++id, key, cmd: { type: 'add', sku, qty: 1 + l, item: item(sku) } as ShardRequest['cmd'] });
    }
  }
  rt.runBatches([reqs]);
}
const after = heapAfterGc();
console.log(`${carts} carts of ${LINES} lines in memory: ${rt.actorCount} actors, heap ${((after - before) / carts).toFixed(0)} bytes per cart`);
if (process.argv.includes('--snapshot')) console.log(`heap snapshot: ${writeHeapSnapshot()}`);
rt.close();
rmSync(dir, { recursive: true, force: true });
