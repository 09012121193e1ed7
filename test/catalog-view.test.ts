// The edge's catalog view: catalog.get replies encoded once per product and stock state, and a
// reply built from the cached body is byte for byte the one encoded from scratch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CatalogView } from '../src/app/catalog/catalog-view.js';
import { decodeValue, encodeOk, encodeOkEncoded, encodeValue } from '../src/protocol/frames.js';
import type { ProductView } from '../src/protocol/types.js';

const product = (price: number, status: ProductView['status'] = 'active'): ProductView => ({
  productId: 'p1',
  name: 'Kettle',
  category: 'kitchen',
  status,
  createdAt: 1,
  updatedAt: 2,
  variants: [
    { sku: 'k-1', price, currency: 'USD' },
    { sku: 'k-2', price: price + 1, currency: 'USD' },
  ],
});

test('encodeOkEncoded equals encodeOk, for small and large ids and bodies', () => {
  for (const id of [0, 7, 127, 128, 255, 256, 65_535, 65_536, 16_777_216, 4_294_967_295]) {
    for (const result of [{}, product(100), { items: Array.from({ length: 300 }, (_, i) => ({ i, s: 'x'.repeat(i) })) }]) {
      assert.deepEqual(Buffer.from(encodeOkEncoded(id, encodeValue(result))), Buffer.from(encodeOk(id, result)));
    }
  }
});

test('catalog.get bodies follow product and stock changes; hidden products stay hidden', () => {
  const v = new CatalogView();
  v.applyProducts([product(100)]);
  v.applyStock([
    ['k-1', 5],
    ['k-2', 0],
  ]);
  const first = v.productEncoded('p1', false)!;
  assert.equal(v.productEncoded('p1', false), first, 'cached while nothing changed');
  assert.deepEqual(decodeValue(first), v.product('p1', false));
  v.applyStock([['k-1', 5]]);
  assert.equal(v.productEncoded('p1', false), first, 'the same stock again keeps the body');
  v.applyStock([['k-2', 3]]);
  const restocked = decodeValue(v.productEncoded('p1', false)!) as ProductView;
  assert.deepEqual(
    restocked.variants.map((x) => x.available),
    [5, 3],
  );
  v.applyProducts([product(250)]);
  assert.equal((decodeValue(v.productEncoded('p1', false)!) as ProductView).variants[0].price, 250);
  v.applyProducts([product(250, 'draft')]);
  assert.equal(v.productEncoded('p1', false), undefined, 'a draft is not shown to shoppers');
  assert.ok(v.productEncoded('p1', true), 'admins see it');
  assert.equal(v.productEncoded('nope', true), undefined);
});
