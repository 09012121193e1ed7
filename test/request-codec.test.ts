// The flat batch layout between the main thread and a shard: every command shape must come back
// exactly as it went in, including the rare ones that ride as objects.
import test from 'node:test';
import assert from 'node:assert/strict';
import { appendRequest, readRequests } from '../src/workers/request-codec.js';
import type { ShardRequest } from '../src/workers/shard-messages.js';

const item = { productId: 'tee-classic', name: 'Classic Cotton Tee', unitPrice: 1900, currency: 'USD', available: 30 };

const requests: ShardRequest[] = [
  { id: 1, key: 'cart:g_a', cmd: { type: 'get' } },
  { id: 2, key: 'cart:g_a', cmd: { type: 'add', sku: 'tee-classic-m', qty: 2, item } as ShardRequest['cmd'] },
  { id: 3, key: 'cart:g_b', cmd: { type: 'setQty', sku: 'tee-classic-m', qty: 0 } as ShardRequest['cmd'] },
  { id: 4, key: 'cart:g_b', cmd: { type: 'setQty', sku: 'mug-stoneware-sand', qty: 7, item } as ShardRequest['cmd'] },
  { id: 5, key: 'cart:g_c', cmd: { type: 'remove', sku: 'tee-classic-m' } as ShardRequest['cmd'] },
  { id: 6, key: 'cart:g_c', cmd: { type: 'clear' } },
  { id: 0, key: 'sku:tee-classic-m', cmd: { type: 'timer' } },
  {
    id: 7,
    key: 'sku:tee-classic-m',
    cmd: { type: 'adjust', txType: 'transfer', qty: 3, reason: 'rebalance', warehouse: 'main', toWarehouse: 'east' } as ShardRequest['cmd'],
  },
  { id: 8, key: 'catalog', cmd: { type: 'upsert', product: { productId: 'p', variants: [{ sku: 's', price: 1 }] } } as ShardRequest['cmd'] },
  // A `get` with extra fields must not lose them to the short layout.
  { id: 9, key: 'sku:x', cmd: { type: 'get', warehouse: 'east' } as ShardRequest['cmd'] },
  { id: 4294967295, key: 'cart:ünïcode-ключ', cmd: { type: 'add', sku: 'sku-ß', qty: 999, item: { ...item, name: 'Tee “quoted” 🎽' } } as ShardRequest['cmd'] },
];

test('every request shape survives the flat layout, in order', () => {
  const flat: unknown[] = [];
  for (const r of requests) appendRequest(flat, r.id, r.key, r.cmd);
  assert.ok(flat.every((v) => v === undefined || v === null || typeof v !== 'object' || !Array.isArray(v)));
  assert.deepEqual(readRequests(structuredClone(flat)), requests);
});

test('the hot cart commands cross as primitives only (no objects to clone)', () => {
  const flat: unknown[] = [];
  for (const r of requests.slice(0, 7)) appendRequest(flat, r.id, r.key, r.cmd);
  assert.deepEqual(
    flat.filter((v) => typeof v === 'object' && v !== null),
    [],
  );
});

test('a corrupt layout fails loudly instead of misreading fields', () => {
  assert.throws(() => readRequests([1, 'cart:x', 99, 'get']), /unknown shape 99/);
});
