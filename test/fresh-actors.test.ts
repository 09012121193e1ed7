// A command that says its actor is new (`fresh`: the server minted the id just now) is run without
// the journal lookup; a key that does have rows is still recovered, so a wrong or repeated hint
// (a crash after the first command of an order was durable) never forks an actor's journal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShardRuntime } from '../src/workers/shard/shard-runtime.js';
import { decodeValue } from '../src/protocol/frames.js';
import { decodeRow } from '../src/persistence/row-codec.js';
import { shardOptions } from './helpers/holds.js';

type Reply = { ok: boolean; result?: { version?: number; status?: string; amount?: number; transactionId?: string }; error?: { code: string } };

const T = 1_800_000_000_000;

function order(userId: string): { type: string } {
  return {
    type: 'create',
    orderNumber: 'CW-2611-AAAAAA',
    userId,
    items: [{ sku: 's', productId: 'p', name: 'P', qty: 1, unitPrice: 500, lineTotal: 500 }],
    totals: { subtotal: 500, discount: 0, tax: 0, shipping: 499, total: 999 },
    currency: 'USD',
    shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'US' },
    paymentToken: 'tok_visa',
    idempotencyKey: 'k',
    deadlineMs: 30_000,
    fresh: true,
  } as { type: string };
}

const charge = (transactionId: string): { type: string } =>
  ({ type: 'charge', amount: 999, currency: 'USD', token: 'tok_visa', transactionId, fresh: true }) as { type: string };

function run(rt: ShardRuntime, cmds: [string, { type: string }][], now: number): Reply[] {
  const [out] = rt.runBatches([cmds.map(([key, cmd], i) => ({ id: i + 1, key, cmd }))], now);
  return out.frames.map((f) => decodeValue(f) as Reply);
}

/** The seqs of an actor's journal rows, in order. */
const seqs = (rt: ShardRuntime, key: string): number[] =>
  (rt.db.prepare('SELECT seq FROM journal WHERE actor = ? ORDER BY g').all(key) as { seq: number }[]).map((r) => r.seq);

test('fresh order and ledger: created without a lookup, and recovered exactly after a crash', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-fresh-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rt = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => rt.db.open && rt.db.close());
  const [created, charged] = run(
    rt,
    [
      ['order:o1', order('u1')],
      ['payment:o1', charge('txn_1')],
    ],
    T,
  );
  assert.deepEqual([created.ok, created.result?.status, charged.ok, charged.result?.status], [true, 'pending', true, 'approved']);
  assert.deepEqual(seqs(rt, 'order:o1'), [1]);
  // The hint is not one of the order's facts.
  const { events } = rt.db.prepare("SELECT events FROM journal WHERE actor = 'order:o1'").get() as { events: Buffer };
  const [event] = decodeRow(events) as Record<string, unknown>[];
  assert.deepEqual([event.type, 'fresh' in event], ['created', false]);
  rt.db.close(); // like kill -9: no checkpoint, the rows are the only record

  const again = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => again.db.open && again.db.close());
  const [order1, ledger] = run(
    again,
    [
      ['order:o1', { type: 'get' }],
      ['payment:o1', { type: 'get' }],
    ],
    T + 1000,
  );
  assert.deepEqual([order1.result?.status, order1.result?.version], ['pending', 1]);
  assert.deepEqual([ledger.result?.status, ledger.result?.transactionId], ['approved', 'txn_1']);
});

test('a fresh hint for a key with rows on disk (a repeated first command after a crash) recovers it: no second order, no second charge', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-fresh-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rt = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => rt.db.open && rt.db.close());
  run(
    rt,
    [
      ['order:o2', order('u2')],
      ['payment:o2', charge('txn_2')],
    ],
    T,
  );
  rt.db.close();

  const again = new ShardRuntime(shardOptions(dir, 0));
  t.after(() => again.db.open && again.db.close());
  // The same first commands, hint and all, as a retry would send them.
  const [created, charged, confirmed] = run(
    again,
    [
      ['order:o2', order('someone-else')],
      ['payment:o2', charge('txn_other')],
      ['order:o2', { type: 'confirm', transactionId: 'txn_2', riskScore: 0.1 } as { type: string }],
    ],
    T + 1000,
  );
  assert.equal(created.result?.version, 1, 'the stored order answers; the create changes nothing');
  assert.deepEqual([charged.result?.transactionId, charged.result?.amount], ['txn_2', 999], 'the recorded charge answers');
  assert.deepEqual([confirmed.ok, confirmed.result?.status, confirmed.result?.version], [true, 'confirmed', 2]);
  assert.deepEqual(seqs(again, 'order:o2'), [1, 2], 'one journal, continued');
  assert.deepEqual(seqs(again, 'payment:o2'), [1], 'charged once');
});
