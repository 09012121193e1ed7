// Micro-benchmark behind src/workers/request-codec.ts: the cost of posting one batch of cart
// requests to another thread as nested objects vs the flat primitive layout (send + receive).
// Run: npm run build && node dist/bench/micro/thread-clone.js
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { appendRequest } from '../../src/workers/request-codec.js';

const BATCH = 64;
const ROUNDS = 2000;
const item = { productId: 'tee-classic', name: 'Classic Cotton Tee', unitPrice: 1900, currency: 'USD', available: 30 };
const keys = Array.from({ length: BATCH }, (_, i) => `cart:g_abcdefghijklmnopqrstu${i}`);
const { port1, port2 } = new MessageChannel();

function nsPerRequest(make: (round: number) => unknown): number {
  const t0 = performance.now();
  for (let r = 0; r < ROUNDS; r++) {
    port1.postMessage(make(r));
    receiveMessageOnPort(port2);
  }
  return ((performance.now() - t0) * 1e6) / (ROUNDS * BATCH);
}

const objects = nsPerRequest((batch) => ({
  t: 'batch',
  batch,
  reqs: keys.map((key, id) => ({ id, key, cmd: { type: 'setQty', sku: 'tee-classic-m', qty: 3, item } })),
}));
const flat = nsPerRequest((batch) => {
  const out: unknown[] = [];
  for (let id = 0; id < BATCH; id++) appendRequest(out, id, keys[id], { type: 'setQty', sku: 'tee-classic-m', qty: 3, item } as never);
  return { t: 'batch', batch, flat: out };
});
console.log(`post + receive per cart request: objects ${objects.toFixed(0)} ns, flat ${flat.toFixed(0)} ns (${(objects / flat).toFixed(1)}x)`);
port1.close();
