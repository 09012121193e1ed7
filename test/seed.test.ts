// The demo catalog is seeded until it has completed once: a first start that fails half-way
// (here: every catalog commit fails) leaves no threads behind, and the next start finishes the
// seed without doubling any stock.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, tmpDataDir, connectGuest } from './helpers/server.js';
import { demoCatalog } from '../src/app/catalog/demo-catalog.js';

test('a seed that failed half-way is completed by the next start, stock set exactly once', async (t) => {
  const dataDir = tmpDataDir(t);
  await assert.rejects(startTestServer(t, { DATA_DIR: dataDir, FAULT_FAIL_COMMITS_FOR: 'catalog' }), /demo catalog/);
  const server = await startTestServer(t, { DATA_DIR: dataDir });
  const guest = await connectGuest(server.url);
  for (const { product, stock } of demoCatalog()) {
    const view = await guest.call('catalog.get', { productId: product.productId });
    for (const { sku, qty } of stock) {
      assert.equal(view.variants.find((v) => v.sku === sku)?.available, qty, `${sku} stock`);
    }
  }
  await guest.close();
});
