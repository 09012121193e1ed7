// Orders and payment ledgers (one per order) leave memory a minute after their last use, not after
// PASSIVATE_AFTER_MS like carts; read again, they come back exactly from their snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShardRuntime } from '../src/workers/shard/shard-runtime.js';
import { decodeValue } from '../src/protocol/frames.js';
import { shardOptions } from './helpers/holds.js';

test('order and payment actors passivate after their own idle time; carts keep PASSIVATE_AFTER_MS', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-orderpass-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rt = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => rt.close());
  const now = Date.now();
  const item = { productId: 'p', name: 'P', unitPrice: 500, currency: 'USD', available: 10 };
  const order = {
    type: 'create',
    orderNumber: 'CW-2611-AAAAAA',
    userId: 'u1',
    items: [{ sku: 's', productId: 'p', name: 'P', qty: 1, unitPrice: 500, lineTotal: 500 }],
    totals: { subtotal: 500, discount: 0, tax: 0, shipping: 499, total: 999 },
    currency: 'USD',
    shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'US' },
    paymentToken: 'tok_visa',
    idempotencyKey: 'k',
    deadlineMs: 30_000,
  };
  const [out] = rt.runBatches(
    [
      [
        { id: 1, key: 'cart:u1', cmd: { type: 'add', sku: 's', qty: 1, item } as { type: string } },
        { id: 2, key: 'order:o1', cmd: order },
        { id: 3, key: 'payment:o1', cmd: { type: 'charge', amount: 999, currency: 'USD', token: 'tok_visa', transactionId: 'txn_1' } as { type: string } },
        { id: 4, key: 'order:o1', cmd: { type: 'confirm', transactionId: 'txn_1', riskScore: 0.2 } as { type: string } },
      ],
    ],
    now,
  );
  assert.deepEqual([...out.outcomes], [0, 0, 0, 0]);
  assert.equal(rt.actorCount, 3);

  assert.equal(rt.passivate(now + 59_000, 600_000, 100), 0, 'not idle for a minute yet');
  assert.equal(rt.passivate(now + 61_000, 600_000, 100), 2, 'the order and its ledger go');
  assert.equal(rt.actorCount, 1, 'the cart stays until PASSIVATE_AFTER_MS');

  const [back] = rt.runBatches(
    [
      [
        { id: 5, key: 'order:o1', cmd: { type: 'get' } },
        { id: 6, key: 'payment:o1', cmd: { type: 'get' } },
      ],
    ],
    now + 62_000,
  );
  const orderView = decodeValue(back.frames[0]) as { result: { status: string; payment: { transactionId: string } } };
  const ledger = decodeValue(back.frames[1]) as { result: { status: string; amount: number } };
  assert.deepEqual([orderView.result.status, orderView.result.payment.transactionId], ['confirmed', 'txn_1']);
  assert.deepEqual([ledger.result.status, ledger.result.amount], ['approved', 999]);
});
