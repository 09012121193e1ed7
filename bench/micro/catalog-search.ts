// catalog.search over 100,000 products: the in-memory index the server uses (CatalogView +
// CatalogSearch, including building the live reply objects) against SQLite FTS5 with the same
// queries (prefix words, category, brand, price range, limit 20, productId order). Prints
// latency percentiles per query kind for both. Same process, same data, same run.
// Run: npm run build && node dist/bench/micro/catalog-search.js [products]
import Database from 'better-sqlite3';
import { CatalogView } from '../../src/app/catalog/catalog-view.js';
import type { ProductView } from '../../src/protocol/types.js';
import { newHistogram as histogram } from '../lib/histogram.js';

const N = Number(process.argv[2] ?? 100_000);
const WORDS = [
  'organic',
  'cotton',
  'wool',
  'linen',
  'steel',
  'ceramic',
  'bamboo',
  'leather',
  'vintage',
  'classic',
  'travel',
  'kitchen',
  'garden',
  'outdoor',
  'smart',
  'wireless',
  'compact',
  'premium',
  'eco',
  'handmade',
];
const NOUNS = [
  'shirt',
  'mug',
  'lamp',
  'kettle',
  'backpack',
  'speaker',
  'blanket',
  'chair',
  'bottle',
  'jacket',
  'towel',
  'knife',
  'pan',
  'watch',
  'wallet',
  'candle',
  'scarf',
  'planter',
  'headphones',
  'notebook',
];
const BRANDS = Array.from({ length: 200 }, (_, i) => `brand${i}`);
const CATEGORIES = Array.from({ length: 40 }, (_, i) => `cat${i}`);

let seed = 42;
const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];

const products: ProductView[] = [];
for (let i = 0; i < N; i++) {
  const name = `${pick(WORDS)} ${pick(WORDS)} ${pick(NOUNS)}`;
  const price = 100 + Math.floor(rand() * 20_000);
  products.push({
    productId: `p${String(i).padStart(7, '0')}`,
    name,
    category: pick(CATEGORIES),
    brand: pick(BRANDS),
    description: `A ${pick(WORDS)} ${pick(NOUNS)} for every ${pick(WORDS)} home, made to last.`,
    status: 'active',
    variants: [
      { sku: `s${i}a`, price, currency: 'USD' },
      { sku: `s${i}b`, price: price + 500, currency: 'USD' },
    ],
    createdAt: 0,
    updatedAt: 0,
  });
}

type Query = { q?: string; category?: string; brand?: string; minPrice?: number; maxPrice?: number };
const kinds: Record<string, () => Query> = {
  'one word prefix': () => ({ q: pick(NOUNS).slice(0, 3) }),
  'two words': () => ({ q: `${pick(WORDS)} ${pick(NOUNS)}` }),
  'word + category': () => ({ q: pick(WORDS), category: pick(CATEGORIES) }),
  'brand + price range': () => ({ brand: pick(BRANDS), minPrice: 1000, maxPrice: 5000 }),
  'category only': () => ({ category: pick(CATEGORIES) }),
  'rare prefix (few hits)': () => ({ q: `${pick(WORDS)} ${pick(WORDS)} ${pick(NOUNS).slice(0, 4)}`, category: pick(CATEGORIES) }),
};
const ITER = 2_000;

function measure(run: (q: Query) => unknown): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [kind, make] of Object.entries(kinds)) {
    for (let i = 0; i < 200; i++) run(make()); // warm-up
    const h = histogram();
    for (let i = 0; i < ITER; i++) {
      const q = make();
      const t0 = process.hrtime.bigint();
      run(q);
      h.recordValue(Math.max(1, Number(process.hrtime.bigint() - t0) / 1000));
    }
    out[kind] = [h.getValueAtPercentile(50), h.getValueAtPercentile(99), h.maxValue];
  }
  return out;
}

// In-memory (what the server runs).
let t0 = performance.now();
const view = new CatalogView();
view.applyProducts(products);
view.applyStock(products.flatMap((p) => p.variants.map((v): [string, number] => [v.sku, 10])));
const buildMem = performance.now() - t0;
const mem = measure((q) => view.search({ ...q, limit: 20 }, false));

// FTS5: a products table plus an FTS5 index of name, brand and description; filters in SQL.
t0 = performance.now();
const db = new Database(':memory:');
db.exec(`CREATE TABLE products (id TEXT PRIMARY KEY, category TEXT, brand TEXT, min_price INT, max_price INT) WITHOUT ROWID;
  CREATE INDEX by_cat ON products (category, id); CREATE INDEX by_brand ON products (brand, id);
  CREATE VIRTUAL TABLE fts USING fts5 (id UNINDEXED, name, brand, description, tokenize = 'unicode61 remove_diacritics 2');`);
const insP = db.prepare('INSERT INTO products VALUES (?, ?, ?, ?, ?)');
const insF = db.prepare('INSERT INTO fts VALUES (?, ?, ?, ?)');
db.transaction(() => {
  for (const p of products) {
    const prices = p.variants.map((v) => v.price);
    insP.run(p.productId, p.category.toLowerCase(), p.brand!.toLowerCase(), Math.min(...prices), Math.max(...prices));
    insF.run(p.productId, p.name, p.brand, p.description);
  }
})();
const buildFts = performance.now() - t0;
const byId = new Map(products.map((p) => [p.productId, p]));
const stmts = new Map<string, Database.Statement>();
function ftsSearch(q: Query): ProductView[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.q) {
    where.push('p.id IN (SELECT id FROM fts WHERE fts MATCH ?)');
    args.push(
      q.q
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => `"${w.replaceAll('"', '')}"*`)
        .join(' '),
    );
  }
  if (q.category) {
    where.push('p.category = ?');
    args.push(q.category);
  }
  if (q.brand) {
    where.push('p.brand = ?');
    args.push(q.brand);
  }
  if (q.minPrice !== undefined) {
    where.push('p.max_price >= ?');
    args.push(q.minPrice);
  }
  if (q.maxPrice !== undefined) {
    where.push('p.min_price <= ?');
    args.push(q.maxPrice);
  }
  const sql = `SELECT p.id FROM products p ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY p.id LIMIT 20`;
  let st = stmts.get(sql);
  if (!st) stmts.set(sql, (st = db.prepare(sql).pluck()));
  // The reply objects are built the same way as in memory (product + live available).
  return (st.all(...args) as string[]).map((id) => {
    const p = byId.get(id)!;
    return { ...p, variants: p.variants.map((v) => ({ ...v, available: 10 })) };
  });
}
const fts = measure(ftsSearch);

console.log(`catalog.search over ${N.toLocaleString()} products, ${ITER} queries per kind, limit 20 (µs)`);
console.log(`build: in-memory ${buildMem.toFixed(0)} ms, FTS5 ${buildFts.toFixed(0)} ms`);
console.log(['query', 'mem p50', 'mem p99', 'mem max', 'fts p50', 'fts p99', 'fts max'].join('\t'));
for (const kind of Object.keys(kinds)) console.log([kind, ...mem[kind].map((x) => x.toFixed(0)), ...fts[kind].map((x) => x.toFixed(0))].join('\t'));
