// The guest-cart merge on the account's cart actor (pure decide/apply): quantities add up within
// the limits, prices come from the command, and the same merge twice adds nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CartActor, apply, create, decide, view, type Cart, type CartCommand, type ItemInfo } from '../src/actors/cart-actor.js';
import { NO_PRICES } from './helpers/actor-context.js';
import { DEFAULT_PRICING } from '../src/actors/pricing.js';

const item = (sku: string, unitPrice = 100, available = 1_000, currency = 'USD'): ItemInfo => ({
  productId: `p-${sku}`,
  name: `Name ${sku}`,
  unitPrice,
  currency,
  available,
});

function run(cart: Cart, c: CartCommand, now = 1): { cart: Cart; changed: boolean; error?: string } {
  const d = decide(cart, c, now, NO_PRICES);
  if (d.error) return { cart, changed: false, error: d.error.code };
  for (const e of d.events) cart = apply(cart, e);
  return { cart, changed: d.events.length > 0 };
}

const qtyOf = (cart: Cart) => Object.fromEntries(cart.items.map((l) => [l.sku, l.qty]));
const merge = (guestVersion: number, lines: { sku: string; qty: number; item?: ItemInfo }[], guestId = 'g_1'): CartCommand => ({
  type: 'merge',
  guestId,
  guestVersion,
  lines,
});

test("a merge adds quantities of the same sku, adds new lines, refreshes the merged lines' prices, in one version", () => {
  let cart = create('u_1');
  cart = run(cart, { type: 'add', sku: 'a', qty: 3, item: item('a', 100) }).cart;
  cart = run(cart, { type: 'add', sku: 'c', qty: 1, item: item('c', 500) }).cart;
  const r = run(
    cart,
    merge(4, [
      { sku: 'a', qty: 2, item: item('a', 120) },
      { sku: 'b', qty: 1, item: item('b', 250) },
    ]),
  );
  assert.equal(r.changed, true);
  assert.deepEqual(qtyOf(r.cart), { a: 5, b: 1, c: 1 });
  assert.equal(r.cart.version, 3, 'one version for the whole merge');
  assert.equal(view(r.cart, DEFAULT_PRICING).items.find((l) => l.sku === 'a')!.unitPrice, 120, "the merged line takes today's price");
  assert.equal(view(r.cart, DEFAULT_PRICING).subtotal, 5 * 120 + 250 + 500);
});

test('the same merge twice (a retry after a crash) adds nothing; a later version of that guest adds only what it gained', () => {
  let cart = create('u_1');
  const lines = [
    { sku: 'a', qty: 2, item: item('a') },
    { sku: 'b', qty: 1, item: item('b') },
  ];
  cart = run(cart, merge(3, lines)).cart;
  const again = run(cart, merge(3, lines));
  assert.equal(again.changed, false);
  assert.deepEqual(qtyOf(again.cart), { a: 2, b: 1 });
  assert.equal(again.cart.version, 1);
  // The guest cart changed before the retry: a went 2 -> 5, b unchanged, d new.
  const later = run(
    cart,
    merge(5, [
      { sku: 'a', qty: 5, item: item('a') },
      { sku: 'b', qty: 1, item: item('b') },
      { sku: 'd', qty: 1, item: item('d') },
    ]),
  );
  assert.deepEqual(qtyOf(later.cart), { a: 5, b: 1, d: 1 });
  // Another guest's merge is its own.
  const other = run(later.cart, merge(3, lines, 'g_2'));
  assert.deepEqual(qtyOf(other.cart), { a: 7, b: 2, d: 1 });
});

test('a merge keeps the limits: 999 per line, 100 lines, available stock, one currency; unknown skus are left out', () => {
  let cart = create('u_1');
  cart = run(cart, { type: 'add', sku: 'a', qty: 998, item: item('a') }).cart;
  for (let i = 0; i < 98; i++) cart = run(cart, { type: 'add', sku: `f${i}`, qty: 1, item: item(`f${i}`) }).cart;
  assert.equal(cart.items.length, 99);
  const r = run(
    cart,
    merge(9, [
      { sku: 'a', qty: 5, item: item('a') }, // 998 + 5 -> 999
      { sku: 'n1', qty: 4, item: item('n1', 100, 2) }, // the 100th line, clamped to the 2 in stock
      { sku: 'n2', qty: 1, item: item('n2') }, // would be the 101st line
      { sku: 'gone', qty: 1 }, // no longer in the catalog
      { sku: 'eur', qty: 1, item: item('eur', 100, 10, 'EUR') }, // another currency
      { sku: 'none', qty: 1, item: item('none', 100, 0) }, // out of stock
    ]),
  );
  assert.equal(r.changed, true);
  assert.equal(r.cart.items.length, 100);
  const q = qtyOf(r.cart);
  assert.equal(q.a, 999);
  assert.equal(q.n1, 2);
  for (const sku of ['n2', 'gone', 'eur', 'none']) assert.equal(q[sku], undefined, sku);
});

test('a merge never lowers a line the account already has, even when stock is now lower', () => {
  let cart = create('u_1');
  cart = run(cart, { type: 'add', sku: 'a', qty: 5, item: item('a') }).cart;
  const r = run(cart, merge(1, [{ sku: 'a', qty: 3, item: item('a', 100, 4) }]));
  assert.equal(r.changed, false);
  assert.equal(qtyOf(r.cart).a, 5);
});

test('clear at a version clears only at that version; the merge record survives snapshot and restore', () => {
  let guest = create('g_1');
  guest = run(guest, { type: 'add', sku: 'a', qty: 1, item: item('a') }).cart;
  assert.equal(run(guest, { type: 'clear', ifVersion: 7, mergedInto: 'u_1' }).changed, false);
  const cleared = run(guest, { type: 'clear', ifVersion: 1, mergedInto: 'u_1' });
  assert.equal(cleared.changed, true);
  assert.equal(cleared.cart.items.length, 0);

  let cart = run(create('u_1'), merge(1, [{ sku: 'a', qty: 1, item: item('a') }])).cart;
  cart = CartActor.restore('u_1', structuredClone(CartActor.snapshot(cart)));
  assert.equal(run(cart, merge(1, [{ sku: 'a', qty: 1, item: item('a') }])).changed, false, 'restored carts remember their merges');
  // Only the last few guests are remembered, so the record stays small.
  for (let g = 0; g < 10; g++) cart = run(cart, merge(1, [{ sku: `s${g}`, qty: 1, item: item(`s${g}`) }], `g_x${g}`)).cart;
  assert.ok(cart.merges!.length <= 4);
});
