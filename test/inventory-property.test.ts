// Properties, checked on random command sequences (fast-check):
// 1. the sku actor alone: 0 <= reserved <= onHand (per warehouse and in total), available =
//    onHand - reserved and reserved = the sum of the holds after every step, and each accepted or
//    rejected command moves the numbers exactly as its type says;
// 2. the cart actor alone: lines, quantities, totals and version stay within the rules;
// 3. through ShardRuntime on a real SQLite file: random batches (with group commits that fail,
//    checkpoint steps, snapshotAll, passivation and timers between them) answer exactly what the
//    pure actors answer, and a fresh ShardRuntime opened on the same directory at any point
//    (as after kill -9) recovers every actor equal to the live one, timers included. Half of
//    the time the fresh runtime then carries on as the live one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { InventoryActor, nextTimer, view as skuView, type Sku, type SkuCommand, type SkuEvent } from '../src/actors/inventory-actor.js';
import { CartActor, view as cartView, type Cart, type CartCommand, type ItemInfo } from '../src/actors/cart-actor.js';
import { actorTypeOf } from '../src/actors/registry.js';
import { Limits } from '../src/protocol/errors.js';
import type { InventoryTxType } from '../src/protocol/schemas.js';
import { ShardRuntime } from '../src/workers/shard/shard-runtime.js';
import { DEFAULT_PRICING } from '../src/actors/pricing.js';
import type { ShardOptions, ShardRequest } from '../src/workers/shard-messages.js';
import { decodeRow, encodeRow } from '../src/persistence/row-codec.js';
import { decodeValue, encodeError, encodeOk } from '../src/protocol/frames.js';
import { NO_PRICES } from './helpers/actor-context.js';

const WAREHOUSES = ['main', 'east', 'west'] as const;
const HOLDS = ['h0', 'h1', 'h2', 'h3'] as const;
const TX_TYPES: InventoryTxType[] = ['purchase', 'return', 'sale', 'damage', 'expiry', 'adjustment', 'transfer'];

const adjustArb: fc.Arbitrary<SkuCommand> = fc.record({
  type: fc.constant('adjust' as const),
  txType: fc.constantFrom(...TX_TYPES),
  qty: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 40 }), weight: 5 }, { arbitrary: fc.integer({ min: 0, max: 1000 }), weight: 1 }),
  reason: fc.constantFrom('restock', 'count', 'broken'),
  warehouse: fc.constantFrom(...WAREHOUSES),
  toWarehouse: fc.constantFrom(...WAREHOUSES),
  referenceId: fc.option(fc.constantFrom('ref-1', 'po-9'), { nil: undefined }),
});

const skuCmdArb: fc.Arbitrary<SkuCommand> = fc.oneof(
  { arbitrary: adjustArb, weight: 4 },
  {
    arbitrary: fc.record({
      type: fc.constant('reserve' as const),
      holdId: fc.constantFrom(...HOLDS),
      qty: fc.integer({ min: 1, max: 30 }),
      ttlMs: fc.integer({ min: 1, max: 600 }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ type: fc.constant('release' as const), holdId: fc.constantFrom(...HOLDS) }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('commit' as const), holdId: fc.constantFrom(...HOLDS) }), weight: 1 },
  { arbitrary: fc.constant({ type: 'timer' as const }), weight: 1 },
  { arbitrary: fc.constant({ type: 'get' as const }), weight: 1 },
);

function totals(s: Sku): { onHand: number; reserved: number; held: number } {
  let held = 0;
  for (const h of s.holds.values()) held += h.qty;
  return { onHand: s.onHand, reserved: s.reserved, held };
}

function checkSkuInvariants(s: Sku): void {
  let onHand = 0;
  let reserved = 0;
  for (const [id, w] of s.warehouses) {
    assert.ok(w.reserved >= 0 && w.reserved <= w.onHand, `warehouse ${id}: 0 <= reserved ${w.reserved} <= onHand ${w.onHand}`);
    onHand += w.onHand;
    reserved += w.reserved;
  }
  assert.ok(s.reserved >= 0 && s.reserved <= s.onHand, `0 <= reserved ${s.reserved} <= onHand ${s.onHand}`);
  assert.equal(s.onHand, onHand, 'onHand is the sum of the warehouses');
  assert.equal(s.reserved, reserved, 'reserved is the sum of the warehouses');
  assert.equal(s.reserved, totals(s).held, 'reserved is the sum of the holds');
  for (const h of s.holds.values())
    assert.equal(
      h.parts.reduce((n, p) => n + p.qty, 0),
      h.qty,
      'a hold is the sum of its parts',
    );
  const v = skuView(s);
  assert.equal(v.available, v.onHand - v.reserved);
  assert.ok(v.available >= 0);
}

/** What one command must do to the numbers, judged from the state before it (the oracle). */
function checkStep(before: Sku, c: SkuCommand, now: number, d: ReturnType<typeof InventoryActor.decide>, after: Sku): void {
  const b = totals(before);
  const a = totals(after);
  const wb = (id: string) => before.warehouses.get(id) ?? { onHand: 0, reserved: 0 };
  const wa = (id: string) => after.warehouses.get(id) ?? { onHand: 0, reserved: 0 };
  const events = d.error ? 0 : d.events.length;
  assert.equal(after.version, before.version + events, 'version grows by one per event');
  if (d.error || events === 0) assert.deepEqual(InventoryActor.snapshot(after), InventoryActor.snapshot(before), 'a rejection or no-op changes nothing');
  switch (c.type) {
    case 'get':
      assert.equal(events, 0);
      return;
    case 'adjust': {
      const w = wb(c.warehouse);
      const free = w.onHand - w.reserved;
      const removes = c.txType === 'sale' || c.txType === 'damage' || c.txType === 'expiry' || c.txType === 'transfer';
      if (c.qty === 0 && c.txType !== 'adjustment') return assert.equal(d.error?.code, 'BAD_REQUEST');
      if (removes && c.qty > free) return assert.equal(d.error?.code, 'CONFLICT');
      if (c.txType === 'transfer' && c.toWarehouse === c.warehouse) return assert.equal(d.error?.code, 'BAD_REQUEST');
      if (c.txType === 'adjustment' && c.qty < w.reserved) return assert.equal(d.error?.code, 'CONFLICT');
      assert.equal(d.error, undefined, `${c.txType} ${c.qty} in ${c.warehouse} should be accepted`);
      assert.equal(a.reserved, b.reserved, 'stock transactions never touch reservations');
      if (c.txType === 'purchase' || c.txType === 'return') assert.equal(a.onHand, b.onHand + c.qty);
      else if (c.txType === 'transfer') {
        assert.equal(a.onHand, b.onHand);
        assert.equal(wa(c.warehouse).onHand, w.onHand - c.qty);
        assert.equal(wa(c.toWarehouse!).onHand, wb(c.toWarehouse!).onHand + c.qty);
      } else if (c.txType === 'adjustment') {
        assert.equal(wa(c.warehouse).onHand, c.qty);
        assert.equal(a.onHand, b.onHand - w.onHand + c.qty);
      } else assert.equal(a.onHand, b.onHand - c.qty);
      if (events > 0) {
        const e = (d as { events: SkuEvent[] }).events[0];
        assert.ok(e.type === 'transaction' && e.txType === c.txType && e.reason === c.reason && e.referenceId === c.referenceId && e.at === now);
      }
      return;
    }
    case 'reserve':
      if (before.holds.has(c.holdId)) return assert.equal(events, 0, 'a retried reserve holds once');
      if (c.qty > b.onHand - b.reserved) return assert.deepEqual(d.error?.details, { sku: before.sku, available: b.onHand - b.reserved });
      assert.equal(a.reserved, b.reserved + c.qty);
      assert.equal(a.onHand, b.onHand);
      assert.equal(after.holds.get(c.holdId)?.expiresAt, now + c.ttlMs);
      return;
    case 'release': {
      const h = before.holds.get(c.holdId);
      assert.equal(events, h ? 1 : 0);
      assert.equal(a.reserved, b.reserved - (h?.qty ?? 0));
      assert.equal(a.onHand, b.onHand);
      assert.ok(!after.holds.has(c.holdId));
      return;
    }
    case 'commit': {
      const h = before.holds.get(c.holdId);
      if (!h) return assert.equal(d.error?.code, 'CONFLICT');
      assert.equal(a.reserved, b.reserved - h.qty);
      assert.equal(a.onHand, b.onHand - h.qty);
      assert.ok(!after.holds.has(c.holdId));
      return;
    }
    case 'timer': {
      let due = 0;
      for (const [id, h] of before.holds) {
        if (h.expiresAt <= now) {
          due += h.qty;
          assert.ok(!after.holds.has(id), `hold ${id} due at ${h.expiresAt} released at ${now}`);
        } else assert.deepEqual(after.holds.get(id), h, `hold ${id} not due yet stays`);
      }
      assert.equal(a.reserved, b.reserved - due);
      assert.equal(a.onHand, b.onHand);
      const next = nextTimer(after);
      assert.ok(next === undefined || next > now);
      return;
    }
  }
}

test('sku actor: random command sequences keep 0 <= reserved <= onHand and available = onHand - reserved', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(skuCmdArb, fc.integer({ min: 0, max: 300 }), fc.boolean()), { maxLength: 80 }), (steps) => {
      const s = InventoryActor.create('prop');
      let now = 1_000_000;
      for (const [c, dt, toNextTimer] of steps) {
        now += dt;
        // Half of the timer commands come exactly at the due time: the boundary matters.
        const due = nextTimer(s);
        if (c.type === 'timer' && toNextTimer && due !== undefined && due > now) now = due;
        const before = InventoryActor.restore('prop', decodeRow(encodeRow(InventoryActor.snapshot(s))));
        const d = InventoryActor.decide(s, c, now, NO_PRICES);
        if (!d.error) for (const e of d.events) InventoryActor.apply(s, e);
        checkStep(before, c, now, d, s);
        checkSkuInvariants(s);
      }
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
});

const itemArb: fc.Arbitrary<ItemInfo> = fc.record({
  productId: fc.constant('p'),
  name: fc.constantFrom('Tee', 'Mug'),
  unitPrice: fc.integer({ min: 0, max: 1_000_000_000 }),
  currency: fc.constant('USD'),
  available: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 2000 })),
});
const CART_SKUS = ['c0', 'c1', 'c2', 'c3', 'c4'] as const;
const cartCmdArb: fc.Arbitrary<CartCommand> = fc.oneof(
  {
    arbitrary: fc.record({ type: fc.constant('add' as const), sku: fc.constantFrom(...CART_SKUS), qty: fc.integer({ min: 1, max: 999 }), item: itemArb }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      type: fc.constant('setQty' as const),
      sku: fc.constantFrom(...CART_SKUS),
      qty: fc.integer({ min: 0, max: 999 }),
      item: fc.option(itemArb, { nil: undefined }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ type: fc.constant('remove' as const), sku: fc.constantFrom(...CART_SKUS) }), weight: 1 },
  { arbitrary: fc.constant({ type: 'clear' as const }), weight: 1 },
  { arbitrary: fc.constant({ type: 'get' as const }), weight: 1 },
);

test('cart actor: random command sequences keep lines, quantities, totals and version within the rules', () => {
  fc.assert(
    fc.property(fc.array(cartCmdArb, { maxLength: 60 }), (cmds) => {
      const c = CartActor.create('prop');
      let events = 0;
      cmds.forEach((cmd, i) => {
        const d = CartActor.decide(c, cmd, 1000 + i, NO_PRICES);
        if (!d.error) {
          for (const e of d.events) CartActor.apply(c, e);
          events += d.events.length;
          const line = c.items.find((l) => 'sku' in cmd && l.sku === cmd.sku);
          if ((cmd.type === 'add' || cmd.type === 'setQty') && line && d.events.length > 0) {
            assert.ok(line.qty <= cmd.item!.available, 'a line never goes above the available stock it was set with');
            assert.equal(line.unitPrice, cmd.item!.unitPrice, 'the line takes the price of the command');
          }
        }
        const v = cartView(c, DEFAULT_PRICING);
        assert.equal(v.version, events);
        assert.ok(v.items.length <= Limits.CART_MAX_LINES);
        assert.equal(new Set(v.items.map((l) => l.sku)).size, v.items.length, 'one line per sku');
        let subtotal = 0;
        for (const l of v.items) {
          assert.ok(Number.isInteger(l.qty) && l.qty >= 1 && l.qty <= Limits.LINE_MAX_QTY, `qty ${l.qty}`);
          assert.equal(l.lineTotal, l.qty * l.unitPrice);
          subtotal += l.lineTotal;
        }
        assert.ok(Number.isSafeInteger(v.subtotal));
        assert.equal(v.subtotal, subtotal);
        assert.equal(v.total, v.subtotal - v.discount + v.tax + v.shipping);
      });
    }),
    { numRuns: 300, includeErrorInReport: true },
  );
});

// ---- through ShardRuntime on a real SQLite file ----

const SKU_KEYS = ['sku:s0', 'sku:s1', 'sku:s2'] as const;
const CART_KEYS = ['cart:u0', 'cart:u1'] as const;
const ALL_KEYS = [...SKU_KEYS, ...CART_KEYS];

type Req = { key: string; cmd: { type: string } };
type Op =
  | { t: 'group'; batches: Req[][]; failKey: string | undefined; dt: number }
  | { t: 'timers'; failKey: string | undefined; dt: number; toNextTimer: boolean }
  | { t: 'checkpointStep'; limit: number }
  | { t: 'snapshotAll' }
  | { t: 'passivate'; olderThanMs: number; limit: number }
  | { t: 'recover'; swap: boolean };

const smallCartCmdArb: fc.Arbitrary<CartCommand> = cartCmdArb
  .map((c) => ('qty' in c ? { ...c, qty: c.qty % 12 } : c))
  .filter((c) => c.type !== 'add' || c.qty > 0);
const reqArb: fc.Arbitrary<Req> = fc.oneof(
  { arbitrary: fc.record({ key: fc.constantFrom(...SKU_KEYS), cmd: skuCmdArb }), weight: 3 },
  { arbitrary: fc.record({ key: fc.constantFrom(...CART_KEYS), cmd: smallCartCmdArb }), weight: 2 },
);
const failArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 6 },
  { arbitrary: fc.constantFrom(...ALL_KEYS), weight: 1 },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      t: fc.constant('group' as const),
      batches: fc.array(fc.array(reqArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 3 }),
      failKey: failArb,
      dt: fc.integer({ min: 0, max: 200 }),
    }),
    weight: 8,
  },
  { arbitrary: fc.record({ t: fc.constant('timers' as const), failKey: failArb, dt: fc.integer({ min: 0, max: 400 }), toNextTimer: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ t: fc.constant('checkpointStep' as const), limit: fc.integer({ min: 1, max: 3 }) }), weight: 2 },
  { arbitrary: fc.constant({ t: 'snapshotAll' as const }), weight: 1 },
  {
    arbitrary: fc.record({ t: fc.constant('passivate' as const), olderThanMs: fc.integer({ min: 0, max: 400 }), limit: fc.integer({ min: 1, max: 4 }) }),
    weight: 2,
  },
  { arbitrary: fc.record({ t: fc.constant('recover' as const), swap: fc.boolean() }), weight: 2 },
);

/** The pure actors, driven with the same commands at the same times: what the runtime must hold. */
class Model {
  readonly states = new Map<string, unknown>();

  state(key: string): unknown {
    let s = this.states.get(key);
    if (s === undefined) this.states.set(key, (s = actorTypeOf(key)!.type.create(actorTypeOf(key)!.id)));
    return s;
  }

  /** A deep copy through the persisted form (snapshot -> msgpack -> restore). */
  copy(key: string): unknown {
    const { type, id } = actorTypeOf(key)!;
    return type.restore(id, decodeRow(encodeRow(type.snapshot(this.state(key)))));
  }

  version(key: string): number {
    return (this.state(key) as Sku | Cart).version;
  }

  timers(): Map<string, number> {
    const due = new Map<string, number>();
    for (const key of SKU_KEYS) {
      const at = nextTimer(this.state(key) as Sku);
      if (at !== undefined) due.set(key, at);
    }
    return due;
  }
}

/** ShardRuntime keeps its actors private; views hide holds, so the deep comparison reads the cell. */
function liveState(rt: ShardRuntime, key: string): unknown {
  rt.inspect(key); // activates the actor if it is not in memory
  return (rt as unknown as { cells: { get(k: string): { state: unknown } | undefined } }).cells.get(key)!.state;
}

const persisted = (key: string, state: unknown): unknown => {
  const { type } = actorTypeOf(key)!;
  return decodeRow(encodeRow(type.snapshot(state)));
};

/** Every actor of `rt` equals the model: views, full persisted state and the durable timers. */
function checkEqualsModel(rt: ShardRuntime, model: Model, what: string): void {
  for (const key of ALL_KEYS) {
    const { type } = actorTypeOf(key)!;
    const v = rt.inspect(key);
    if (model.version(key) === 0) {
      assert.equal(v, undefined, `${what}: ${key} never changed, so it does not exist`);
      continue;
    }
    assert.deepEqual(v, type.view(model.state(key), { type: 'get' }, NO_PRICES), `${what}: view of ${key}`);
    assert.deepEqual(persisted(key, liveState(rt, key)), persisted(key, model.state(key)), `${what}: state of ${key}`);
  }
  const due = model.timers();
  const next = due.size ? Math.min(...due.values()) : undefined;
  assert.equal(rt.nextTimerAt(), next, `${what}: next timer`);
  assert.equal(rt.summary().timers, due.size, `${what}: one durable timer per sku with holds`);
}

const decoded = (frames: Uint8Array[]) => frames.map((f) => decodeValue(f));

const exercised = { failedGroups: 0, passivated: 0, truncations: 0, swaps: 0, timerReleases: 0, runs: 0 };

/** Runs one random scenario against a real ShardRuntime in a fresh temp dir. */
function runScenario(ops: Op[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'cartwire-prop-'));
  const opts: ShardOptions = {
    shard: 0,
    dataDir: dir,
    synchronous: 'NORMAL',
    snapshotEvery: 3,
    sweepIntervalMs: 1000,
    idleGcMs: 0,
    commitWindowUs: 0,
    checkpointRows: 10,
    checkpointIntervalMs: 1000,
    passivateAfterMs: 100,
    pricing: DEFAULT_PRICING,
    eventLogKeepRows: 1_000_000,
    maxActors: 1_000_000,
    guestCartRetentionMs: 0,
  };
  const open: ShardRuntime[] = [];
  const model = new Model();
  let now = Date.now();
  let nextId = 1;
  try {
    // Each runtime gets its own options object: failCommitsFor is set on the live one per group.
    let rtOpts: ShardOptions = { ...opts };
    let rt = new ShardRuntime(rtOpts);
    open.push(rt);
    const runGroup = (batches: Req[][], failKey: string | undefined): void => {
      const backups = new Map<string, unknown>();
      const touched = new Set<string>();
      const expected: Uint8Array[][] = [];
      const reqs: ShardRequest[][] = batches.map((b) => b.map((r) => ({ id: nextId++, key: r.key, cmd: r.cmd })));
      for (const b of reqs) {
        const frames: Uint8Array[] = [];
        for (const r of b) {
          const { type } = actorTypeOf(r.key)!;
          if (!backups.has(r.key)) backups.set(r.key, model.copy(r.key));
          const s = model.state(r.key);
          const d = type.decide(s, r.cmd, now, NO_PRICES);
          if (d.error) frames.push(encodeError(r.id, d.error.code, d.error.message, d.error.details));
          else {
            for (const e of d.events) model.states.set(r.key, type.apply(model.state(r.key), e));
            if (d.events.length > 0) touched.add(r.key);
            frames.push(encodeOk(r.id, type.view(model.state(r.key), r.cmd, NO_PRICES)));
          }
        }
        expected.push(frames);
      }
      const fails = failKey !== undefined && touched.has(failKey);
      rtOpts.failCommitsFor = failKey; // the runtime reads its test hook at every commit
      const out = rt.runBatches(reqs, now);
      rtOpts.failCommitsFor = undefined;
      assert.equal(out.length, reqs.length);
      if (fails) {
        exercised.failedGroups++;
        for (const [b, o] of out.entries()) {
          for (const [i, f] of decoded(o.frames).entries()) {
            assert.deepEqual(f, {
              id: reqs[b][i].id,
              ok: false,
              error: { code: 'UNAVAILABLE', message: 'the shard cannot write its journal now; nothing was changed', details: { retryAfterMs: 1000 } },
            });
          }
        }
        for (const [key, s] of backups) model.states.set(key, s);
      } else {
        for (const [b, o] of out.entries()) assert.deepEqual(decoded(o.frames), decoded(expected[b]), `batch ${b} replies`);
      }
    };

    for (const op of ops) {
      switch (op.t) {
        case 'group':
          now += op.dt;
          runGroup(op.batches, op.failKey);
          break;
        case 'timers': {
          now += op.dt;
          const next = rt.nextTimerAt();
          if (op.toNextTimer && next !== undefined && next > now) now = next; // exactly at the due time
          const keys = rt.dueTimers(now);
          const due = [...model.timers()].filter(([, at]) => at <= now).map(([k]) => k);
          assert.deepEqual([...keys].sort(), due.sort(), `timers due at ${now}`);
          if (keys.length > 0) {
            runGroup([keys.map((key) => ({ key, cmd: { type: 'timer' } }))], op.failKey);
            exercised.timerReleases++;
          }
          break;
        }
        case 'checkpointStep': {
          const w = rt.summary();
          rt.checkpointStep(op.limit);
          if (rt.summary().journalRows < w.journalRows) exercised.truncations++;
          break;
        }
        case 'snapshotAll':
          rt.snapshotAll();
          assert.equal(rt.summary().journalRows, 0, 'a whole checkpoint leaves no journal tail');
          break;
        case 'passivate':
          exercised.passivated += rt.passivate(now, op.olderThanMs, op.limit);
          break;
        case 'recover': {
          checkEqualsModel(rt, model, 'live runtime');
          // A second runtime on the same files, the first one left as it is (as after kill -9).
          const freshOpts: ShardOptions = { ...opts };
          const fresh = new ShardRuntime(freshOpts);
          open.push(fresh);
          checkEqualsModel(fresh, model, 'recovered runtime');
          if (op.swap) {
            rt.db.close();
            rt = fresh;
            rtOpts = freshOpts;
            exercised.swaps++;
          } else fresh.db.close();
          break;
        }
      }
    }
    const last = new ShardRuntime({ ...opts });
    open.push(last);
    checkEqualsModel(last, model, 'recovered at the end');
    exercised.runs++;
  } finally {
    for (const r of open) if (r.db.open) r.db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('ShardRuntime on SQLite: random batches answer like the pure actors, and a fresh runtime recovers every actor equal to the live one', (t) => {
  // Failed commits are logged by the runtime on purpose; keep the test output readable.
  const error = console.error;
  console.error = () => {};
  try {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 5, maxLength: 50 }), (ops) => runScenario(ops)),
      { numRuns: 300, includeErrorInReport: true },
    );
  } finally {
    console.error = error;
  }
  // The scenarios must have reached what they are meant to test.
  t.diagnostic(`exercised: ${JSON.stringify(exercised)}`);
  for (const [what, n] of Object.entries(exercised)) assert.ok(n > 0, `no scenario exercised ${what}: ${JSON.stringify(exercised)}`);
});
