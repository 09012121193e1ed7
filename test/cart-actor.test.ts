// The cart actor as pure functions: decide(cart, command, now) -> events or a coded rejection,
// apply(cart, event) -> cart. No server, no disk: every case is a fact about the domain rules of
// docs/protocol.md "Cart".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Compile } from '../src/protocol/typebox.js';
import { CartActor, view, type Cart, type CartCommand, type CartEvent, type ItemInfo } from '../src/actors/cart-actor.js';
import type { Decision } from '../src/actors/actor.js';
import { ErrorCode, Limits } from '../src/protocol/errors.js';
import { Ops } from '../src/protocol/ops.js';
import { NO_PRICES } from './helpers/actor-context.js';
import { DEFAULT_PRICING } from '../src/actors/pricing.js';

const T0 = 1_700_000_000_000;

function item(over: Partial<ItemInfo> = {}): ItemInfo {
  return { productId: 'tee', name: 'Classic Cotton Tee', unitPrice: 1900, currency: 'USD', available: 1000, ...over };
}

/** Decides and applies like the shard runtime does, and checks that decide left the state alone. */
function step(cart: Cart, cmd: CartCommand, now: number): Decision<CartEvent> {
  const before = structuredClone(cart);
  const d = CartActor.decide(cart, cmd, now, NO_PRICES);
  assert.deepEqual(cart, before, 'decide must not change the state');
  if (!d.error) for (const e of d.events) CartActor.apply(cart, e);
  return d;
}

function accepted(d: Decision<CartEvent>): readonly CartEvent[] {
  if (d.error) assert.fail(`expected acceptance, got ${JSON.stringify(d.error)}`);
  return d.events;
}

function rejected(d: Decision<CartEvent>, code: ErrorCode): Record<string, unknown> | undefined {
  assert.ok(d.error, `expected ${code}, got events ${JSON.stringify('events' in d ? d.events : undefined)}`);
  assert.equal(d.error.code, code);
  assert.equal(typeof d.error.message, 'string');
  assert.ok(d.error.message.length > 0);
  return d.error.details;
}

test('a new cart is empty, version 0, USD, with integer zero totals', () => {
  const c = CartActor.create('u1');
  assert.deepEqual(view(c, DEFAULT_PRICING), {
    cartId: 'cart_u1',
    userId: 'u1',
    version: 0,
    currency: 'USD',
    items: [],
    subtotal: 0,
    discount: 0,
    tax: 0,
    shipping: 0,
    total: 0,
    updatedAt: 0,
  });
  assert.deepEqual(accepted(step(c, { type: 'get' }, T0)), []);
  assert.equal(c.version, 0);
});

test('add puts a line with the price captured from the item info, and a second add sums the qty', () => {
  const c = CartActor.create('u1');
  const events = accepted(step(c, { type: 'add', sku: 'tee-m', qty: 2, item: item() }, T0));
  assert.deepEqual(events, [
    { type: 'line_set', sku: 'tee-m', productId: 'tee', name: 'Classic Cotton Tee', qty: 2, unitPrice: 1900, currency: 'USD', at: T0 },
  ]);
  assert.deepEqual(view(c, DEFAULT_PRICING).items, [{ sku: 'tee-m', productId: 'tee', name: 'Classic Cotton Tee', qty: 2, unitPrice: 1900, lineTotal: 3800 }]);
  assert.equal(view(c, DEFAULT_PRICING).version, 1);
  assert.equal(view(c, DEFAULT_PRICING).updatedAt, T0);

  accepted(step(c, { type: 'add', sku: 'tee-m', qty: 3, item: item() }, T0 + 5));
  const v = view(c, DEFAULT_PRICING);
  assert.equal(v.items.length, 1);
  assert.equal(v.items[0].qty, 5);
  assert.equal(v.items[0].lineTotal, 9500);
  assert.equal(v.subtotal, 9500);
  assert.equal(v.total, 9500);
  assert.equal(v.version, 2);
  assert.equal(v.updatedAt, T0 + 5);
});

test('the price of a line is the one seen when the line was last set, not a later catalog price', () => {
  const c = CartActor.create('u1');
  accepted(step(c, { type: 'add', sku: 'tee-m', qty: 1, item: item({ unitPrice: 1900 }) }, T0));
  // The catalog price changes; another line is added: the first line keeps its captured price.
  accepted(step(c, { type: 'add', sku: 'mug', qty: 1, item: item({ productId: 'mug', name: 'Mug', unitPrice: 1400 }) }, T0 + 1));
  assert.deepEqual(
    view(c, DEFAULT_PRICING).items.map((l) => [l.sku, l.unitPrice]),
    [
      ['tee-m', 1900],
      ['mug', 1400],
    ],
  );
  // Touching the line takes the price of the item info that comes with the command.
  accepted(step(c, { type: 'add', sku: 'tee-m', qty: 1, item: item({ unitPrice: 2100 }) }, T0 + 2));
  const v = view(c, DEFAULT_PRICING);
  assert.deepEqual(
    v.items.map((l) => [l.sku, l.qty, l.unitPrice, l.lineTotal]),
    [
      ['tee-m', 2, 2100, 4200],
      ['mug', 1, 1400, 1400],
    ],
  );
  assert.equal(v.subtotal, 5600);
  assert.equal(v.version, 3);
});

test('setQty with the same qty and price changes nothing and keeps the version; a new price is a change', () => {
  const c = CartActor.create('u1');
  accepted(step(c, { type: 'setQty', sku: 'tee-m', qty: 4, item: item() }, T0));
  assert.equal(c.version, 1);
  assert.deepEqual(accepted(step(c, { type: 'setQty', sku: 'tee-m', qty: 4, item: item() }, T0 + 1)), []);
  assert.equal(c.version, 1);
  assert.equal(c.updatedAt, T0, 'a no-op keeps updatedAt');
  const ev = accepted(step(c, { type: 'setQty', sku: 'tee-m', qty: 4, item: item({ unitPrice: 1700 }) }, T0 + 2));
  assert.equal(ev.length, 1);
  assert.equal(c.version, 2);
  assert.equal(view(c, DEFAULT_PRICING).items[0].lineTotal, 4 * 1700);
});

test('setQty replaces the qty, adds a sku not in the cart, and 0 removes the line', () => {
  const c = CartActor.create('u1');
  accepted(step(c, { type: 'setQty', sku: 'a', qty: 7, item: item({ productId: 'pa', name: 'A', unitPrice: 100 }) }, T0));
  assert.deepEqual(
    view(c, DEFAULT_PRICING).items.map((l) => [l.sku, l.qty]),
    [['a', 7]],
  );
  accepted(step(c, { type: 'setQty', sku: 'a', qty: 2, item: item({ productId: 'pa', name: 'A', unitPrice: 100 }) }, T0 + 1));
  assert.deepEqual(
    view(c, DEFAULT_PRICING).items.map((l) => [l.sku, l.qty, l.lineTotal]),
    [['a', 2, 200]],
  );
  assert.equal(c.version, 2);

  assert.deepEqual(accepted(step(c, { type: 'setQty', sku: 'a', qty: 0 }, T0 + 2)), [{ type: 'line_removed', sku: 'a', at: T0 + 2 }]);
  assert.deepEqual(view(c, DEFAULT_PRICING).items, []);
  assert.equal(c.version, 3);
  // 0 on a sku that is not in the cart: nothing to do, the version stays.
  assert.deepEqual(accepted(step(c, { type: 'setQty', sku: 'a', qty: 0 }, T0 + 3)), []);
  assert.equal(c.version, 3);
});

test('setQty above 0 for a sku the catalog no longer has is NOT_FOUND with the sku', () => {
  const c = CartActor.create('u1');
  const details = rejected(step(c, { type: 'setQty', sku: 'gone', qty: 1 }, T0), 'NOT_FOUND');
  assert.deepEqual(details, { sku: 'gone' });
  assert.equal(c.version, 0);
});

test('remove drops one line; removing a missing line keeps the version', () => {
  const c = CartActor.create('u1');
  accepted(step(c, { type: 'add', sku: 'a', qty: 1, item: item({ unitPrice: 300 }) }, T0));
  accepted(step(c, { type: 'add', sku: 'b', qty: 2, item: item({ unitPrice: 500 }) }, T0 + 1));
  assert.deepEqual(accepted(step(c, { type: 'remove', sku: 'a' }, T0 + 2)), [{ type: 'line_removed', sku: 'a', at: T0 + 2 }]);
  assert.deepEqual(
    view(c, DEFAULT_PRICING).items.map((l) => l.sku),
    ['b'],
  );
  assert.equal(view(c, DEFAULT_PRICING).subtotal, 1000);
  assert.equal(c.version, 3);
  assert.deepEqual(accepted(step(c, { type: 'remove', sku: 'a' }, T0 + 3)), []);
  assert.equal(c.version, 3);
  assert.equal(c.updatedAt, T0 + 2);
});

test('clear empties the cart once; clearing an empty cart keeps the version', () => {
  const c = CartActor.create('u1');
  accepted(step(c, { type: 'add', sku: 'a', qty: 1, item: item() }, T0));
  accepted(step(c, { type: 'add', sku: 'b', qty: 1, item: item() }, T0));
  assert.deepEqual(accepted(step(c, { type: 'clear' }, T0 + 1)), [{ type: 'cleared', at: T0 + 1 }]);
  const v = view(c, DEFAULT_PRICING);
  assert.deepEqual(v.items, []);
  assert.equal(v.total, 0);
  assert.equal(v.version, 3);
  assert.deepEqual(accepted(step(c, { type: 'clear' }, T0 + 2)), []);
  assert.equal(c.version, 3);
});

test('qty is 1..999 at the edge schema; setQty also takes 0', () => {
  const add = Compile(Ops['cart.add'].args);
  const setQty = Compile(Ops['cart.setQty'].args);
  for (const qty of [1, 2, 998, 999]) assert.ok(add.Check({ sku: 'a', qty }), `add qty ${qty}`);
  for (const qty of [0, -1, 1000, 1.5, '3', null]) assert.ok(!add.Check({ sku: 'a', qty }), `add qty ${String(qty)}`);
  for (const qty of [0, 1, 999]) assert.ok(setQty.Check({ sku: 'a', qty }), `setQty qty ${qty}`);
  for (const qty of [-1, 1000, 2.5]) assert.ok(!setQty.Check({ sku: 'a', qty }), `setQty qty ${qty}`);
  assert.equal(Limits.LINE_MAX_QTY, 999);
});

test('an add that takes a line past 999 is LIMIT_EXCEEDED and changes nothing; exactly 999 is fine', () => {
  const c = CartActor.create('u1');
  accepted(step(c, { type: 'add', sku: 'a', qty: 998, item: item() }, T0));
  const details = rejected(step(c, { type: 'add', sku: 'a', qty: 2, item: item() }, T0 + 1), 'LIMIT_EXCEEDED');
  assert.deepEqual(details, { sku: 'a', maxQty: 999 });
  assert.equal(c.version, 1);
  assert.equal(view(c, DEFAULT_PRICING).items[0].qty, 998);
  accepted(step(c, { type: 'add', sku: 'a', qty: 1, item: item() }, T0 + 2));
  assert.equal(view(c, DEFAULT_PRICING).items[0].qty, 999);
  rejected(step(c, { type: 'add', sku: 'a', qty: 1, item: item() }, T0 + 3), 'LIMIT_EXCEEDED');
  assert.equal(c.version, 2);
});

test('a line above the available stock is OUT_OF_STOCK with { sku, available }, also when an add sums past it', () => {
  const c = CartActor.create('u1');
  const few = item({ available: 3 });
  assert.deepEqual(rejected(step(c, { type: 'add', sku: 'a', qty: 4, item: few }, T0), 'OUT_OF_STOCK'), { sku: 'a', available: 3 });
  assert.equal(c.version, 0);
  accepted(step(c, { type: 'add', sku: 'a', qty: 3, item: few }, T0));
  assert.deepEqual(rejected(step(c, { type: 'add', sku: 'a', qty: 1, item: few }, T0 + 1), 'OUT_OF_STOCK'), { sku: 'a', available: 3 });
  assert.deepEqual(rejected(step(c, { type: 'setQty', sku: 'a', qty: 4, item: few }, T0 + 1), 'OUT_OF_STOCK'), { sku: 'a', available: 3 });
  assert.deepEqual(rejected(step(c, { type: 'setQty', sku: 'b', qty: 1, item: item({ available: 0 }) }, T0 + 1), 'OUT_OF_STOCK'), { sku: 'b', available: 0 });
  assert.equal(c.version, 1);
  assert.equal(view(c, DEFAULT_PRICING).items[0].qty, 3);
  // Lowering a line that stock has fallen below is allowed down to what is available.
  accepted(step(c, { type: 'setQty', sku: 'a', qty: 1, item: item({ available: 1 }) }, T0 + 2));
  assert.equal(view(c, DEFAULT_PRICING).items[0].qty, 1);
});

test('at most 100 lines: the 101st distinct sku is LIMIT_EXCEEDED, existing lines still change', () => {
  const c = CartActor.create('u1');
  for (let i = 0; i < Limits.CART_MAX_LINES; i++) accepted(step(c, { type: 'add', sku: `s${i}`, qty: 1, item: item({ unitPrice: 100 + i }) }, T0 + i));
  assert.equal(view(c, DEFAULT_PRICING).items.length, 100);
  assert.equal(c.version, 100);
  assert.deepEqual(rejected(step(c, { type: 'add', sku: 'one-more', qty: 1, item: item() }, T0 + 200), 'LIMIT_EXCEEDED'), { maxLines: 100 });
  rejected(step(c, { type: 'setQty', sku: 'one-more', qty: 1, item: item() }, T0 + 200), 'LIMIT_EXCEEDED');
  assert.equal(c.version, 100);
  assert.equal(view(c, DEFAULT_PRICING).items.length, 100);
  accepted(step(c, { type: 'add', sku: 's50', qty: 1, item: item({ unitPrice: 150 }) }, T0 + 201));
  assert.equal(view(c, DEFAULT_PRICING).items[50].qty, 2);
  assert.equal(c.version, 101);
  accepted(step(c, { type: 'remove', sku: 's0' }, T0 + 202));
  accepted(step(c, { type: 'add', sku: 'one-more', qty: 1, item: item() }, T0 + 203));
  assert.equal(view(c, DEFAULT_PRICING).items.length, 100);
  assert.equal(c.version, 103);
});

test('a sku priced in another currency than the cart is CONFLICT', () => {
  const c = CartActor.create('u1');
  accepted(step(c, { type: 'add', sku: 'a', qty: 1, item: item() }, T0));
  assert.deepEqual(rejected(step(c, { type: 'add', sku: 'b', qty: 1, item: item({ currency: 'EUR' }) }, T0), 'CONFLICT'), { currency: 'USD' });
  assert.equal(c.version, 1);
});

test('totals are exact integers: lineTotal = qty x unitPrice, total = subtotal - discount + tax + shipping, even at the limits', () => {
  const c = CartActor.create('u1');
  let expected = 0;
  for (let i = 0; i < Limits.CART_MAX_LINES; i++) {
    const unitPrice = 1_000_000_000 - i * 7; // the schema's highest prices
    accepted(step(c, { type: 'setQty', sku: `s${i}`, qty: 999, item: item({ unitPrice, available: 999 }) }, T0));
    expected += 999 * unitPrice;
  }
  const v = view(c, DEFAULT_PRICING);
  for (const l of v.items) {
    assert.ok(Number.isSafeInteger(l.lineTotal));
    assert.equal(l.lineTotal, l.qty * l.unitPrice);
  }
  assert.ok(Number.isSafeInteger(v.subtotal));
  assert.equal(v.subtotal, expected);
  assert.equal(v.total, v.subtotal - v.discount + v.tax + v.shipping);
  for (const k of ['subtotal', 'discount', 'tax', 'shipping', 'total'] as const) assert.ok(Number.isInteger(v[k]), k);
});

test('version grows by exactly one per accepted change and never on a rejection or no-op', () => {
  const c = CartActor.create('u1');
  const script: [CartCommand, 'change' | 'same' | ErrorCode][] = [
    [{ type: 'add', sku: 'a', qty: 1, item: item() }, 'change'],
    [{ type: 'add', sku: 'a', qty: 999, item: item() }, 'LIMIT_EXCEEDED'],
    [{ type: 'setQty', sku: 'a', qty: 1, item: item() }, 'same'],
    [{ type: 'setQty', sku: 'a', qty: 5, item: item() }, 'change'],
    [{ type: 'add', sku: 'b', qty: 9, item: item({ available: 8 }) }, 'OUT_OF_STOCK'],
    [{ type: 'remove', sku: 'b' }, 'same'],
    [{ type: 'get' }, 'same'],
    [{ type: 'add', sku: 'b', qty: 8, item: item({ available: 8 }) }, 'change'],
    [{ type: 'remove', sku: 'a' }, 'change'],
    [{ type: 'clear' }, 'change'],
    [{ type: 'clear' }, 'same'],
  ];
  let version = 0;
  for (const [i, [cmd, outcome]] of script.entries()) {
    const d = step(c, cmd, T0 + i);
    if (outcome === 'change') {
      assert.equal(accepted(d).length, 1, `step ${i}`);
      version++;
    } else if (outcome === 'same') {
      assert.equal(accepted(d).length, 0, `step ${i}`);
    } else {
      rejected(d, outcome);
    }
    assert.equal(c.version, version, `version after step ${i}`);
  }
  assert.equal(version, 5);
});

test('snapshot and restore give back the same cart, and replaying the events does too', () => {
  const c = CartActor.create('u9');
  const events: CartEvent[] = [];
  const cmds: CartCommand[] = [
    { type: 'add', sku: 'a', qty: 3, item: item({ unitPrice: 250 }) },
    { type: 'add', sku: 'b', qty: 1, item: item({ productId: 'pb', name: 'B', unitPrice: 999 }) },
    { type: 'setQty', sku: 'a', qty: 1, item: item({ unitPrice: 260 }) },
    { type: 'remove', sku: 'b' },
    { type: 'add', sku: 'c', qty: 2, item: item({ unitPrice: 10 }) },
  ];
  cmds.forEach((cmd, i) => events.push(...accepted(step(c, cmd, T0 + i))));
  const restored = CartActor.restore('u9', structuredClone(CartActor.snapshot(c)));
  assert.deepEqual(view(restored, DEFAULT_PRICING), view(c, DEFAULT_PRICING));
  const replayed = events.reduce((s, e) => CartActor.apply(s, e), CartActor.create('u9'));
  assert.deepEqual(view(replayed, DEFAULT_PRICING), view(c, DEFAULT_PRICING));
  assert.equal(replayed.version, events.length);
});
