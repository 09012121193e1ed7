// catalog.search over real sockets (text prefixes, filters, visibility, live stock, cursor pages,
// argument bounds) and the index itself (pagination while products are added).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, connect, connectAdmin, connectGuest, until } from './helpers/server.js';
import { CartwireError, type CartwireClient } from '../src/client/index.js';
import { CatalogSearch, decodeCursor, encodeCursor } from '../src/app/catalog/catalog-search.js';
import { demoCatalog } from '../src/app/catalog/demo-catalog.js';
import type { ProductView } from '../src/protocol/types.js';
import type { OpArgs } from '../src/protocol/ops.js';

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof CartwireError ? e.code : `thrown ${String(e)}`),
  );
}

const ids = (r: { items: ProductView[] }) => r.items.map((p) => p.productId);
const demo = demoCatalog().map((d) => d.product);

/** Every page of a search, following nextCursor. */
async function all(c: CartwireClient, args: OpArgs<'catalog.search'>): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const r = await c.call('catalog.search', { ...args, ...(cursor === undefined ? {} : { cursor }) });
    out.push(...ids(r));
    cursor = r.nextCursor ?? undefined;
    assert.ok(out.length <= 1000, 'pagination ends');
  } while (cursor !== undefined);
  return out;
}

test('catalog.search over WebSocket', async (t) => {
  const srv = await startTestServer(t);
  const anon = await connect(srv.url);
  const guest = await connectGuest(srv.url);
  const admin = await connectAdmin(srv.url);
  t.after(() => Promise.all([anon, guest, admin].map((c) => c.close())));

  /** Upserts a product and waits until the edge's view has it. */
  async function upsert(p: OpArgs<'catalog.upsert'>): Promise<void> {
    await admin.call('catalog.upsert', p);
    await until(async () => (await code(admin.call('catalog.get', { productId: p.productId }))) === 'ok', { what: `${p.productId} at the edge` });
  }

  await t.test('anonymous connections may search; no arguments lists the catalog in productId order', async () => {
    const r = await anon.call('catalog.search', {});
    assert.equal(r.items.length, 20, 'default limit');
    const sorted = demo.map((p) => p.productId).sort();
    assert.deepEqual(ids(r), sorted.slice(0, 20));
    assert.equal(typeof r.nextCursor, 'string');
    assert.deepEqual(await all(anon, {}), sorted, 'every demo product once, in order');
  });

  await t.test('text: word prefixes over name, brand and description, every word, any case', async () => {
    assert.deepEqual(ids(await anon.call('catalog.search', { q: 'cot tee' })), ['tee-classic']);
    assert.deepEqual(ids(await anon.call('catalog.search', { q: 'COTTON' })), ['tee-classic', 'towel-set']);
    assert.deepEqual(ids(await anon.call('catalog.search', { q: '  Classic   cotton  ' })), ['tee-classic']);
    // Brand words are searchable too ("Sonica"), and a prefix must start a word: "otton" is no match.
    assert.deepEqual(ids(await anon.call('catalog.search', { q: 'soni' })), ['earbuds-pro', 'speaker-mini']);
    assert.deepEqual(ids(await anon.call('catalog.search', { q: 'otton' })), []);
    assert.deepEqual(ids(await anon.call('catalog.search', { q: 'cotton zzz' })), [], 'every word must match');
    const expected = demo
      .filter((p) => /\bhearth\b/i.test(`${p.name} ${p.brand} ${p.description}`))
      .map((p) => p.productId)
      .sort();
    assert.deepEqual(ids(await anon.call('catalog.search', { q: 'hEaRtH' })), expected);
    // Description words: the seed's descriptions read "<name> by <brand>."
    assert.equal((await anon.call('catalog.search', { q: 'by', limit: 100 })).items.length, demo.length);
    assert.equal((await anon.call('catalog.search', { q: '' })).items.length, 20, 'an empty q filters nothing');
  });

  await t.test('filters: category and brand exact and case-insensitive, price range on any variant', async () => {
    const footwear = demo
      .filter((p) => p.category === 'footwear')
      .map((p) => p.productId)
      .sort();
    assert.deepEqual(ids(await anon.call('catalog.search', { category: 'FootWear' })), footwear);
    assert.deepEqual(ids(await anon.call('catalog.search', { category: 'foot' })), [], 'category is exact, not a prefix');
    assert.deepEqual(ids(await anon.call('catalog.search', { brand: 'harbor & co' })), ['canvas-low', 'polo-pique']);
    assert.deepEqual(ids(await anon.call('catalog.search', { brand: 'Stride', category: 'footwear', q: 'run' })), ['runner-one']);
    const inRange = (min: number, max: number) =>
      demo
        .filter((p) => p.variants.some((v) => v.price >= min && v.price <= max))
        .map((p) => p.productId)
        .sort();
    assert.deepEqual(ids(await anon.call('catalog.search', { minPrice: 1900, maxPrice: 2900, limit: 100 })), inRange(1900, 2900));
    assert.deepEqual(ids(await anon.call('catalog.search', { minPrice: 15000, limit: 100 })), inRange(15000, Infinity));
    assert.deepEqual(ids(await anon.call('catalog.search', { maxPrice: 1500, limit: 100 })), inRange(0, 1500));
    // A product with variants at two prices matches a range holding either.
    await upsert({
      productId: 'zz-two-price',
      name: 'Two Price Widget',
      category: 'test',
      variants: [
        { sku: 'zz-tp-a', price: 100 },
        { sku: 'zz-tp-b', price: 900 },
      ],
    });
    for (const [min, max, hit] of [
      [50, 150, true],
      [800, 1000, true],
      [200, 800, false],
    ] as const) {
      const r = await anon.call('catalog.search', { q: 'widget', minPrice: min, maxPrice: max });
      assert.deepEqual(ids(r), hit ? ['zz-two-price'] : [], `${min}..${max}`);
    }
  });

  await t.test('draft and archived products are hidden from guests and anonymous, shown to admins', async () => {
    await upsert({ productId: 'zz-draft', name: 'Secret Gadget', category: 'test', status: 'draft', variants: [{ sku: 'zz-draft-1', price: 500 }] });
    await upsert({ productId: 'zz-archived', name: 'Old Gadget', category: 'test', status: 'archived', variants: [{ sku: 'zz-arch-1', price: 500 }] });
    await upsert({ productId: 'zz-active', name: 'New Gadget', category: 'test', variants: [{ sku: 'zz-active-1', price: 500 }] });
    for (const c of [anon, guest]) assert.deepEqual(ids(await c.call('catalog.search', { q: 'gadget' })), ['zz-active']);
    assert.deepEqual(ids(await admin.call('catalog.search', { q: 'gadget' })), ['zz-active', 'zz-archived', 'zz-draft']);
    // A product that goes back to draft leaves guests' results; its old words are unindexed.
    await admin.call('catalog.upsert', {
      productId: 'zz-active',
      name: 'Renamed Thing',
      category: 'test',
      status: 'draft',
      variants: [{ sku: 'zz-active-1', price: 500 }],
    });
    await until(async () => ids(await guest.call('catalog.search', { category: 'test', q: 'new' })).length === 0, { what: 'draft hidden' });
    assert.deepEqual(ids(await admin.call('catalog.search', { q: 'renamed' })), ['zz-active']);
    assert.deepEqual(ids(await admin.call('catalog.search', { q: 'new gadget' })), [], 'old name no longer matches');
  });

  await t.test('each variant shows live available, also after inventory.adjust', async () => {
    const r = await anon.call('catalog.search', { q: 'stoneware' });
    const mug = await anon.call('catalog.get', { productId: 'mug-stoneware' });
    assert.deepEqual(r.items, [mug], 'same shape as catalog.get');
    const sku = mug.variants[0].sku;
    const before = mug.variants[0].available!;
    assert.ok(before > 0);
    await admin.call('inventory.adjust', { sku, type: 'purchase', qty: 7, reason: 'restock' });
    await until(async () => (await anon.call('catalog.search', { q: 'stoneware' })).items[0].variants[0].available === before + 7, {
      what: 'new stock in search',
    });
  });

  await t.test('pages neither skip nor repeat when products are added between pages', async () => {
    const base = (await admin.call('catalog.search', { category: 'pages', limit: 100 })).items.length;
    assert.equal(base, 0);
    for (const n of [10, 20, 30, 40, 50, 60, 70]) {
      await upsert({ productId: `pg-${n}`, name: `Paged Item ${n}`, category: 'pages', variants: [{ sku: `pg-${n}`, price: 100 + n }] });
    }
    const p1 = await anon.call('catalog.search', { category: 'pages', limit: 3 });
    assert.deepEqual(ids(p1), ['pg-10', 'pg-20', 'pg-30']);
    // One added behind the cursor, one ahead of it.
    await upsert({ productId: 'pg-15', name: 'Paged Item 15', category: 'pages', variants: [{ sku: 'pg-15', price: 115 }] });
    await upsert({ productId: 'pg-45', name: 'Paged Item 45', category: 'pages', variants: [{ sku: 'pg-45', price: 145 }] });
    const p2 = await anon.call('catalog.search', { category: 'pages', limit: 3, cursor: p1.nextCursor! });
    assert.deepEqual(ids(p2), ['pg-40', 'pg-45', 'pg-50']);
    const p3 = await anon.call('catalog.search', { category: 'pages', limit: 3, cursor: p2.nextCursor! });
    assert.deepEqual(ids(p3), ['pg-60', 'pg-70']);
    assert.equal(p3.nextCursor, null, 'last page');
    // A text query pages the same way; an exactly full last page says so.
    assert.deepEqual(await all(anon, { q: 'paged item', limit: 3 }), ['pg-10', 'pg-15', 'pg-20', 'pg-30', 'pg-40', 'pg-45', 'pg-50', 'pg-60', 'pg-70']);
    const full = await anon.call('catalog.search', { category: 'pages', limit: 9 });
    assert.equal(full.items.length, 9);
    assert.equal(full.nextCursor, null);
  });

  await t.test('bounds: limit 1..100, cursors this server made, minPrice <= maxPrice', async () => {
    assert.equal((await anon.call('catalog.search', { limit: 1 })).items.length, 1);
    const total = (await all(anon, {})).length;
    assert.equal((await anon.call('catalog.search', { limit: 100 })).items.length, Math.min(100, total));
    for (const args of [
      { limit: 0 },
      { limit: 101 },
      { limit: 1.5 },
      { cursor: 'not a cursor!' },
      { cursor: '' },
      { cursor: encodeCursor('bad id with spaces') },
      { cursor: 'x'.repeat(89) },
      { minPrice: 500, maxPrice: 100 },
      { minPrice: -1 },
      { q: 'x'.repeat(201) },
      { q: Array.from({ length: 17 }, (_, i) => `w${i}`).join(' ') },
      { sort: 'price' },
    ]) {
      assert.equal(await code(anon.call('catalog.search', args as never)), 'BAD_REQUEST', JSON.stringify(args).slice(0, 80));
    }
  });
});

test('the index pages in productId order without skips or repeats while products are added', () => {
  const index = new CatalogSearch();
  const product = (id: string, name = 'Thing'): ProductView => ({
    productId: id,
    name,
    category: 'c',
    status: 'active',
    variants: [{ sku: id, price: 100, currency: 'EUR' }],
    createdAt: 0,
    updatedAt: 0,
  });
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const idOf = () => `p${Math.floor(rand() * 1e6).toString(36)}`;
  // One product in 40 is "Rare": a query for it takes the sparse path (collect and sort the
  // matches), the others the dense one (walk all ids from the cursor).
  let n = 0;
  const next = () => product(idOf(), n++ % 40 === 0 ? 'Rare Thing' : 'Thing');
  for (let i = 0; i < 2000; i++) index.upsert(next());
  for (const q of [undefined, 'thi', 'rare']) {
    const seen: string[] = [];
    const added: string[] = [];
    let cursor: string | undefined;
    do {
      const page = index.search({ limit: 7, ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) }, false);
      assert.ok(page.ok);
      seen.push(...page.products.map((p) => p.productId));
      cursor = page.nextCursor ?? undefined;
      for (let i = 0; i < 3; i++) {
        const p = next();
        added.push(p.productId);
        index.upsert(p);
      }
      assert.ok(seen.length <= 10_000, 'pagination ends');
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length, 'no repeats');
    assert.deepEqual(seen, [...seen].sort(), 'productId order');
    // Everything there at the start, and everything added ahead of the reader, was seen.
    const last = seen[seen.length - 1];
    const all: string[] = [];
    let c: string | undefined;
    do {
      const page = index.search({ limit: 100, ...(q ? { q } : {}), ...(c ? { cursor: c } : {}) }, true);
      assert.ok(page.ok);
      all.push(...page.products.map((p) => p.productId));
      c = page.nextCursor ?? undefined;
      assert.ok(all.length <= 20_000, 'pagination ends');
    } while (c);
    const missed = all.filter((id) => !seen.includes(id) && !added.includes(id));
    assert.deepEqual(missed, [], 'no skips');
    assert.ok(seen.length >= (q === 'rare' ? 40 : 2000), `${q}: ${seen.length} seen`);
    assert.ok(
      all.filter((id) => id > last).every((id) => added.includes(id)),
      'only products added after the last page lie past it',
    );
  }
  assert.equal(decodeCursor(encodeCursor('pabc')), 'pabc');
  assert.equal(decodeCursor('cGFiYw=='), undefined, 'padded base64 is not our form');
});
