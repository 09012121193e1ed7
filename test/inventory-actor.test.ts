// The inventory (sku) actor as pure functions: every transaction type of docs/protocol.md
// "Inventory" with its reason and reference, warehouses, the never-below-reserved rule, holds
// (reserve / release / commit) and their expiry through nextTimer and the `timer` command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  InventoryActor,
  DEFAULT_LOW_STOCK_THRESHOLD,
  DEFAULT_WAREHOUSE,
  available,
  nextTimer,
  view,
  type Sku,
  type SkuCommand,
  type SkuEvent,
} from '../src/actors/inventory-actor.js';
import type { Decision } from '../src/actors/actor.js';
import type { ErrorCode } from '../src/protocol/errors.js';
import type { InventoryTxType } from '../src/protocol/schemas.js';
import { decodeRow, encodeRow } from '../src/persistence/row-codec.js';
import { NO_PRICES } from './helpers/actor-context.js';

const T0 = 1_700_000_000_000;

/** Decides and applies like the shard runtime does, and checks that decide left the state alone. */
function step(s: Sku, cmd: SkuCommand, now: number): Decision<SkuEvent> {
  const before = InventoryActor.snapshot(structuredClone(s));
  const d = InventoryActor.decide(s, cmd, now, NO_PRICES);
  assert.deepEqual(InventoryActor.snapshot(s), before, 'decide must not change the state');
  if (!d.error) for (const e of d.events) InventoryActor.apply(s, e);
  return d;
}

function accepted(d: Decision<SkuEvent>): readonly SkuEvent[] {
  if (d.error) assert.fail(`expected acceptance, got ${JSON.stringify(d.error)}`);
  return d.events;
}

function rejected(d: Decision<SkuEvent>, code: ErrorCode): Record<string, unknown> | undefined {
  if (!d.error) return assert.fail(`expected ${code}, got events ${JSON.stringify(d.events)}`);
  assert.equal(d.error.code, code);
  assert.ok(d.error.message.length > 0);
  return d.error.details;
}

const adjust = (txType: InventoryTxType, qty: number, more: Partial<Extract<SkuCommand, { type: 'adjust' }>> = {}): SkuCommand => ({
  type: 'adjust',
  txType,
  qty,
  reason: `${txType} reason`,
  warehouse: DEFAULT_WAREHOUSE,
  ...more,
});

/** A sku with stock per warehouse, built through purchases. */
function stocked(stock: Record<string, number>): Sku {
  const s = InventoryActor.create('tee-m');
  for (const [warehouse, qty] of Object.entries(stock)) accepted(step(s, adjust('purchase', qty, { warehouse }), T0));
  return s;
}

/** The invariants that must hold after every step. */
function checkInvariants(s: Sku): void {
  let onHand = 0;
  let reserved = 0;
  for (const [id, w] of s.warehouses) {
    assert.ok(w.reserved >= 0 && w.reserved <= w.onHand, `warehouse ${id}: reserved ${w.reserved}, onHand ${w.onHand}`);
    onHand += w.onHand;
    reserved += w.reserved;
  }
  assert.equal(s.onHand, onHand);
  assert.equal(s.reserved, reserved);
  let held = 0;
  for (const h of s.holds.values()) held += h.qty;
  assert.equal(s.reserved, held, 'reserved is the sum of the holds');
  assert.equal(view(s).available, s.onHand - s.reserved);
}

test('a new sku has nothing, the default low-stock threshold and version 0', () => {
  const s = InventoryActor.create('tee-m');
  assert.deepEqual(view(s), {
    sku: 'tee-m',
    onHand: 0,
    reserved: 0,
    available: 0,
    lowStockThreshold: DEFAULT_LOW_STOCK_THRESHOLD,
    warehouses: {},
    version: 0,
    updatedAt: 0,
  });
  assert.equal(DEFAULT_LOW_STOCK_THRESHOLD, 5);
  assert.equal(nextTimer(s), undefined);
  assert.deepEqual(accepted(step(s, { type: 'get' }, T0)), []);
});

test('purchase and return add on-hand, each one transaction event with its reason and reference', () => {
  const s = InventoryActor.create('tee-m');
  const p = accepted(step(s, adjust('purchase', 10, { reason: 'PO 17 arrived', referenceId: 'po-17' }), T0));
  assert.deepEqual(p, [
    { type: 'transaction', txType: 'purchase', reason: 'PO 17 arrived', referenceId: 'po-17', changes: [{ warehouse: 'main', delta: 10 }], at: T0 },
  ]);
  const r = accepted(step(s, adjust('return', 2, { reason: 'customer return' }), T0 + 1));
  assert.deepEqual(r, [{ type: 'transaction', txType: 'return', reason: 'customer return', changes: [{ warehouse: 'main', delta: 2 }], at: T0 + 1 }]);
  assert.ok(!('referenceId' in r[0]), 'no referenceId key when none was given');
  assert.deepEqual(view(s), {
    sku: 'tee-m',
    onHand: 12,
    reserved: 0,
    available: 12,
    lowStockThreshold: 5,
    warehouses: { main: { onHand: 12, reserved: 0 } },
    version: 2,
    updatedAt: T0 + 1,
  });
  checkInvariants(s);
});

for (const txType of ['sale', 'damage', 'expiry'] as const) {
  test(`${txType} removes on-hand, never below what is reserved in that warehouse (CONFLICT)`, () => {
    const s = stocked({ main: 10 });
    accepted(step(s, { type: 'reserve', holdId: 'h1', qty: 4, ttlMs: 60_000 }, T0));
    const ev = accepted(step(s, adjust(txType, 5, { reason: `${txType} of 5`, referenceId: `ref-${txType}` }), T0 + 1));
    assert.deepEqual(ev, [
      { type: 'transaction', txType, reason: `${txType} of 5`, referenceId: `ref-${txType}`, changes: [{ warehouse: 'main', delta: -5 }], at: T0 + 1 },
    ]);
    assert.equal(s.onHand, 5);
    assert.equal(s.version, 3);
    // 5 on hand, 4 reserved: removing 2 would leave 3 < 4.
    const details = rejected(step(s, adjust(txType, 2), T0 + 2), 'CONFLICT');
    assert.deepEqual(details, { sku: 'tee-m', warehouse: 'main', onHand: 5, reserved: 4 });
    assert.equal(s.onHand, 5);
    assert.equal(s.version, 3);
    accepted(step(s, adjust(txType, 1), T0 + 3)); // down to exactly reserved
    assert.deepEqual(view(s).warehouses, { main: { onHand: 4, reserved: 4 } });
    assert.equal(view(s).available, 0);
    // A warehouse the sku was never in has nothing to remove.
    rejected(step(s, adjust(txType, 1, { warehouse: 'east' }), T0 + 4), 'CONFLICT');
    assert.ok(!s.warehouses.has('east'));
    checkInvariants(s);
  });
}

test('qty 0 is BAD_REQUEST for every type but adjustment', () => {
  const s = stocked({ main: 3 });
  for (const t of ['purchase', 'return', 'sale', 'damage', 'expiry', 'transfer'] as const) {
    rejected(step(s, adjust(t, 0, { toWarehouse: 'east' }), T0), 'BAD_REQUEST');
  }
  assert.equal(s.version, 1);
  accepted(step(s, adjust('adjustment', 0), T0 + 1));
  assert.equal(s.onHand, 0);
  assert.equal(s.version, 2);
});

test('adjustment sets on-hand in the warehouse to a counted qty, not below reserved, and a same count is a no-op', () => {
  const s = stocked({ main: 10, east: 3 });
  accepted(step(s, { type: 'reserve', holdId: 'h1', qty: 6, ttlMs: 1000 }, T0));
  const ev = accepted(step(s, adjust('adjustment', 8, { reason: 'cycle count', referenceId: 'count-3' }), T0 + 1));
  assert.deepEqual(ev, [
    { type: 'transaction', txType: 'adjustment', reason: 'cycle count', referenceId: 'count-3', changes: [{ warehouse: 'main', delta: -2 }], at: T0 + 1 },
  ]);
  assert.deepEqual(view(s).warehouses, { main: { onHand: 8, reserved: 6 }, east: { onHand: 3, reserved: 0 } });
  assert.equal(s.onHand, 11);
  const v = s.version;
  assert.deepEqual(accepted(step(s, adjust('adjustment', 8), T0 + 2)), [], 'the count matches: nothing changes');
  assert.equal(s.version, v);
  assert.deepEqual(rejected(step(s, adjust('adjustment', 5), T0 + 3), 'CONFLICT'), { sku: 'tee-m', warehouse: 'main', onHand: 8, reserved: 6 });
  accepted(step(s, adjust('adjustment', 6), T0 + 4));
  accepted(step(s, adjust('adjustment', 20, { warehouse: 'east' }), T0 + 5));
  assert.deepEqual(view(s).warehouses, { main: { onHand: 6, reserved: 6 }, east: { onHand: 20, reserved: 0 } });
  assert.equal(view(s).available, 20);
  checkInvariants(s);
});

test('transfer moves free stock between warehouses and keeps the total', () => {
  const s = stocked({ main: 10 });
  accepted(step(s, { type: 'reserve', holdId: 'h1', qty: 7, ttlMs: 1000 }, T0));
  const ev = accepted(step(s, adjust('transfer', 3, { toWarehouse: 'east', reason: 'rebalance', referenceId: 'tr-1' }), T0 + 1));
  assert.deepEqual(ev, [
    {
      type: 'transaction',
      txType: 'transfer',
      reason: 'rebalance',
      referenceId: 'tr-1',
      changes: [
        { warehouse: 'main', delta: -3 },
        { warehouse: 'east', delta: 3 },
      ],
      at: T0 + 1,
    },
  ]);
  assert.deepEqual(view(s).warehouses, { main: { onHand: 7, reserved: 7 }, east: { onHand: 3, reserved: 0 } });
  assert.equal(s.onHand, 10);
  assert.equal(s.reserved, 7);
  // Reserved units cannot move.
  assert.deepEqual(rejected(step(s, adjust('transfer', 1, { toWarehouse: 'east' }), T0 + 2), 'CONFLICT'), {
    sku: 'tee-m',
    warehouse: 'main',
    onHand: 7,
    reserved: 7,
  });
  rejected(step(s, adjust('transfer', 1, { warehouse: 'east', toWarehouse: 'east' }), T0 + 2), 'BAD_REQUEST');
  rejected(step(s, adjust('transfer', 1, { warehouse: 'east' }), T0 + 2), 'BAD_REQUEST');
  accepted(step(s, adjust('transfer', 3, { warehouse: 'east', toWarehouse: 'west' }), T0 + 3));
  assert.deepEqual(view(s).warehouses, { main: { onHand: 7, reserved: 7 }, east: { onHand: 0, reserved: 0 }, west: { onHand: 3, reserved: 0 } });
  assert.equal(s.version, 4);
  checkInvariants(s);
});

test('reserve holds stock across warehouses in their order, up to what is available', () => {
  const s = stocked({ main: 2, east: 5, west: 1 });
  const ev = accepted(step(s, { type: 'reserve', holdId: 'order-1', qty: 6, ttlMs: 30_000 }, T0));
  assert.deepEqual(ev, [
    {
      type: 'reserved',
      holdId: 'order-1',
      qty: 6,
      parts: [
        { warehouse: 'main', qty: 2 },
        { warehouse: 'east', qty: 4 },
      ],
      expiresAt: T0 + 30_000,
      at: T0,
    },
  ]);
  assert.deepEqual(view(s), {
    sku: 'tee-m',
    onHand: 8,
    reserved: 6,
    available: 2,
    lowStockThreshold: 5,
    warehouses: { main: { onHand: 2, reserved: 2 }, east: { onHand: 5, reserved: 4 }, west: { onHand: 1, reserved: 0 } },
    version: 4,
    updatedAt: T0,
  });
  assert.deepEqual(rejected(step(s, { type: 'reserve', holdId: 'order-2', qty: 3, ttlMs: 1 }, T0 + 1), 'OUT_OF_STOCK'), { sku: 'tee-m', available: 2 });
  assert.equal(s.version, 4);
  accepted(step(s, { type: 'reserve', holdId: 'order-2', qty: 2, ttlMs: 1 }, T0 + 1));
  assert.equal(available(s), 0);
  assert.deepEqual(view(s).warehouses, { main: { onHand: 2, reserved: 2 }, east: { onHand: 5, reserved: 5 }, west: { onHand: 1, reserved: 1 } });
  checkInvariants(s);
});

test('a retried reserve with the same hold id holds once', () => {
  const s = stocked({ main: 10 });
  accepted(step(s, { type: 'reserve', holdId: 'o1', qty: 4, ttlMs: 1000 }, T0));
  assert.deepEqual(accepted(step(s, { type: 'reserve', holdId: 'o1', qty: 4, ttlMs: 1000 }, T0 + 1)), []);
  assert.equal(s.reserved, 4);
  assert.equal(s.version, 2);
});

test('release frees a hold exactly once; releasing an unknown hold changes nothing', () => {
  const s = stocked({ main: 4, east: 4 });
  accepted(step(s, { type: 'reserve', holdId: 'o1', qty: 6, ttlMs: 1000 }, T0));
  assert.deepEqual(accepted(step(s, { type: 'release', holdId: 'o1' }, T0 + 5)), [{ type: 'released', holdId: 'o1', expired: false, at: T0 + 5 }]);
  assert.deepEqual(view(s).warehouses, { main: { onHand: 4, reserved: 0 }, east: { onHand: 4, reserved: 0 } });
  assert.equal(s.version, 4);
  assert.deepEqual(accepted(step(s, { type: 'release', holdId: 'o1' }, T0 + 6)), []);
  assert.equal(s.version, 4);
  assert.equal(nextTimer(s), undefined);
  checkInvariants(s);
});

test('commit turns a hold into units gone from on-hand in the warehouses it held; an unknown hold is CONFLICT', () => {
  const s = stocked({ main: 3, east: 5 });
  accepted(step(s, { type: 'reserve', holdId: 'o1', qty: 5, ttlMs: 1000 }, T0));
  accepted(step(s, { type: 'reserve', holdId: 'o2', qty: 1, ttlMs: 1000 }, T0));
  assert.deepEqual(accepted(step(s, { type: 'commit', holdId: 'o1' }, T0 + 1)), [{ type: 'hold_committed', holdId: 'o1', at: T0 + 1 }]);
  assert.deepEqual(view(s).warehouses, { main: { onHand: 0, reserved: 0 }, east: { onHand: 3, reserved: 1 } });
  assert.equal(s.onHand, 3);
  assert.equal(s.reserved, 1);
  assert.equal(view(s).available, 2);
  assert.deepEqual(rejected(step(s, { type: 'commit', holdId: 'o1' }, T0 + 2), 'CONFLICT'), { sku: 'tee-m', holdId: 'o1' });
  assert.equal(s.version, 5);
  checkInvariants(s);
});

test('holds expire through nextTimer and the timer command: only the due ones, each once', () => {
  const s = stocked({ main: 10 });
  accepted(step(s, { type: 'reserve', holdId: 'late', qty: 3, ttlMs: 5000 }, T0));
  accepted(step(s, { type: 'reserve', holdId: 'soon', qty: 2, ttlMs: 1000 }, T0));
  accepted(step(s, { type: 'reserve', holdId: 'also-soon', qty: 1, ttlMs: 1000 }, T0 + 500));
  assert.equal(nextTimer(s), T0 + 1000);
  assert.equal(InventoryActor.nextTimer!(s), T0 + 1000);

  // Early: nothing is due yet.
  assert.deepEqual(accepted(step(s, { type: 'timer' }, T0 + 999)), []);
  assert.equal(s.reserved, 6);
  const v = s.version;

  const ev = accepted(step(s, { type: 'timer' }, T0 + 1000));
  assert.deepEqual(ev, [{ type: 'released', holdId: 'soon', expired: true, at: T0 + 1000 }]);
  assert.equal(s.reserved, 4);
  assert.equal(s.version, v + 1);
  assert.equal(nextTimer(s), T0 + 1500);

  // Overdue timers (a restart after the expiry) release everything that is due at once.
  const late = accepted(step(s, { type: 'timer' }, T0 + 60_000));
  assert.deepEqual(late.map((e) => e.type === 'released' && [e.holdId, e.expired]).sort(), [
    ['also-soon', true],
    ['late', true],
  ]);
  assert.equal(s.reserved, 0);
  assert.equal(view(s).available, 10);
  assert.equal(nextTimer(s), undefined);
  assert.deepEqual(accepted(step(s, { type: 'timer' }, T0 + 60_001)), []);
  checkInvariants(s);
});

test('a committed or released hold no longer sets the timer', () => {
  const s = stocked({ main: 10 });
  accepted(step(s, { type: 'reserve', holdId: 'a', qty: 1, ttlMs: 100 }, T0));
  accepted(step(s, { type: 'reserve', holdId: 'b', qty: 1, ttlMs: 200 }, T0));
  accepted(step(s, { type: 'reserve', holdId: 'c', qty: 1, ttlMs: 300 }, T0));
  accepted(step(s, { type: 'commit', holdId: 'a' }, T0 + 1));
  assert.equal(nextTimer(s), T0 + 200);
  accepted(step(s, { type: 'release', holdId: 'b' }, T0 + 2));
  assert.equal(nextTimer(s), T0 + 300);
  assert.deepEqual(accepted(step(s, { type: 'timer' }, T0 + 299)), []);
  assert.equal(accepted(step(s, { type: 'timer' }, T0 + 300)).length, 1);
  assert.equal(s.onHand, 9);
  assert.equal(s.reserved, 0);
});

test('low-stock threshold: reported with the stock, kept by snapshot/restore, and available is what it is compared with', () => {
  const s = stocked({ main: 8 });
  const atOrBelow = (x: Sku) => view(x).available <= view(x).lowStockThreshold;
  assert.equal(view(s).lowStockThreshold, DEFAULT_LOW_STOCK_THRESHOLD);
  assert.ok(!atOrBelow(s));
  // Reserving (not only selling) brings a sku to its threshold: available = 5 <= 5.
  accepted(step(s, { type: 'reserve', holdId: 'o1', qty: 3, ttlMs: 1000 }, T0));
  assert.equal(view(s).available, 5);
  assert.ok(atOrBelow(s));
  accepted(step(s, { type: 'release', holdId: 'o1' }, T0 + 1));
  assert.ok(!atOrBelow(s));
  s.lowStockThreshold = 2; // no command sets it yet; restore must keep whatever it is
  const back = InventoryActor.restore('tee-m', decodeRow(encodeRow(InventoryActor.snapshot(s))));
  assert.equal(view(back).lowStockThreshold, 2);
});

test('version grows by one per event and never on a rejection or no-op', () => {
  const s = InventoryActor.create('x');
  const script: [SkuCommand, number | ErrorCode][] = [
    [adjust('purchase', 5), 1],
    [adjust('sale', 6), 'CONFLICT'],
    [{ type: 'reserve', holdId: 'h', qty: 9, ttlMs: 10 }, 'OUT_OF_STOCK'],
    [{ type: 'reserve', holdId: 'h', qty: 2, ttlMs: 10 }, 1],
    [{ type: 'reserve', holdId: 'h', qty: 2, ttlMs: 10 }, 0],
    [{ type: 'reserve', holdId: 'k', qty: 1, ttlMs: 10 }, 1],
    [{ type: 'commit', holdId: 'nope' }, 'CONFLICT'],
    [{ type: 'release', holdId: 'nope' }, 0],
    [adjust('adjustment', 5), 0],
    [{ type: 'get' }, 0],
    [{ type: 'timer' }, 2], // both holds expired at T0 + 10: one event each
    [adjust('transfer', 5, { toWarehouse: 'b' }), 1],
  ];
  let version = 0;
  for (const [i, [cmd, outcome]] of script.entries()) {
    const d = step(s, cmd, T0 + (cmd.type === 'timer' ? 10 : 0));
    if (typeof outcome === 'number') {
      assert.equal(accepted(d).length, outcome, `step ${i}`);
      version += outcome;
    } else {
      rejected(d, outcome);
    }
    assert.equal(s.version, version, `version after step ${i}`);
    checkInvariants(s);
  }
});

test('snapshot -> msgpack -> restore and replay of the events both give back the same sku, holds included', () => {
  const s = InventoryActor.create('tee-m');
  const events: SkuEvent[] = [];
  const cmds: SkuCommand[] = [
    adjust('purchase', 10),
    adjust('purchase', 4, { warehouse: 'east' }),
    { type: 'reserve', holdId: 'a', qty: 11, ttlMs: 100 },
    { type: 'reserve', holdId: 'b', qty: 2, ttlMs: 50 },
    adjust('transfer', 1, { warehouse: 'east', toWarehouse: 'west' }),
    { type: 'commit', holdId: 'b' },
  ];
  cmds.forEach((c, i) => events.push(...accepted(step(s, c, T0 + i))));
  const restored = InventoryActor.restore('tee-m', decodeRow(encodeRow(InventoryActor.snapshot(s))));
  assert.deepEqual(InventoryActor.snapshot(restored), InventoryActor.snapshot(s));
  assert.deepEqual(view(restored), view(s));
  assert.equal(nextTimer(restored), T0 + 102);
  const replayed = (decodeRow(encodeRow(events)) as SkuEvent[]).reduce((x, e) => InventoryActor.apply(x, e), InventoryActor.create('tee-m'));
  assert.deepEqual(InventoryActor.snapshot(replayed), InventoryActor.snapshot(s));
  // The restored sku behaves the same: the hold still expires and releases its warehouses.
  accepted(step(restored, { type: 'timer' }, T0 + 102));
  assert.equal(restored.reserved, 0);
  checkInvariants(restored);
});

test('a commit of a hold its timer released says `expired`, also after snapshot/restore; one released by hand or committed does not', () => {
  const s = stocked({ main: 10 });
  accepted(step(s, { type: 'reserve', holdId: 'lost', qty: 2, ttlMs: 1000 }, T0));
  accepted(step(s, { type: 'reserve', holdId: 'kept', qty: 1, ttlMs: 1000 }, T0));
  accepted(step(s, { type: 'reserve', holdId: 'dropped', qty: 1, ttlMs: 1000 }, T0));
  accepted(step(s, { type: 'commit', holdId: 'kept' }, T0 + 1));
  accepted(step(s, { type: 'release', holdId: 'dropped' }, T0 + 1));
  accepted(step(s, { type: 'timer' }, T0 + 1000));
  assert.deepEqual(rejected(step(s, { type: 'commit', holdId: 'lost' }, T0 + 2000), 'CONFLICT'), { sku: 'tee-m', holdId: 'lost', expired: true });
  assert.deepEqual(rejected(step(s, { type: 'commit', holdId: 'kept' }, T0 + 2000), 'CONFLICT'), { sku: 'tee-m', holdId: 'kept' });
  assert.deepEqual(rejected(step(s, { type: 'commit', holdId: 'dropped' }, T0 + 2000), 'CONFLICT'), { sku: 'tee-m', holdId: 'dropped' });
  const restored = InventoryActor.restore('tee-m', decodeRow(encodeRow(InventoryActor.snapshot(s))));
  assert.deepEqual(rejected(step(restored, { type: 'commit', holdId: 'lost' }, T0 + 3000), 'CONFLICT'), { sku: 'tee-m', holdId: 'lost', expired: true });
  assert.deepEqual([restored.onHand, restored.reserved], [9, 0]);
  // Remembered a day, like restocks: a later expiry forgets the old ones.
  accepted(step(s, { type: 'reserve', holdId: 'next', qty: 1, ttlMs: 1000 }, T0 + 24 * 3600_000));
  accepted(step(s, { type: 'timer' }, T0 + 24 * 3600_000 + 1000));
  assert.deepEqual([...s.expired.keys()], ['next']);
  checkInvariants(s);
});
