// A search page of big products (100 variants with long attributes) is cut below 1 MiB instead
// of becoming a multi-MiB reply that the per-connection send limit would close; paging still
// returns every product exactly once.
import test from 'node:test';
import assert from 'node:assert/strict';
import { connectAdmin, startTestServer } from './helpers/server.js';

test('search pages of big products stay under 1 MiB and still page through everything', async (t) => {
  const server = await startTestServer(t);
  const admin = await connectAdmin(server.url);
  const long = 'x'.repeat(200);
  const ids: string[] = [];
  for (let p = 0; p < 60; p++) {
    const productId = `big-${String(p).padStart(3, '0')}`;
    ids.push(productId);
    const variants = Array.from({ length: 100 }, (_, v) => ({ sku: `${productId}-${v}`, price: 1000 + v, attributes: { a: long, b: long } }));
    await admin.call('catalog.upsert', { productId, name: `Bulky ${p}`, category: 'bulk', variants });
  }
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = await admin.call('catalog.search', { category: 'bulk', limit: 100, ...(cursor ? { cursor } : {}) });
    pages++;
    assert.ok(page.items.length > 0 && page.items.length < 60, `a page of ${page.items.length} items`);
    seen.push(...page.items.map((p) => p.productId));
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
    assert.ok(pages < 60, 'paging ends');
  }
  assert.deepEqual(seen, ids);
  assert.ok(pages >= 2);
  await admin.close();
});
