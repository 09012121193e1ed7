// The demo shop loaded on first start when SEED_DEMO=1 (the default): 50 products over eight
// categories, with variants and stock, so a newcomer sees a real catalog at once.
import type { ProductInput } from '../../actors/catalog-actor.js';
import { CATALOG_KEY, skuKey, type ActorKey, type ActorKind } from '../../protocol/keys.js';
import type { CommandOf, ResultOf } from '../../actors/registry.js';
import type { Answer } from '../../transport/dispatch.js';
import type { CatalogView } from './catalog-view.js';
import type { ShardPool } from '../shard-pool.js';

type Row = [id: string, name: string, brand: string, price: number, variants: string[] | null, stock: number];

const CATALOG: Record<string, Row[]> = {
  apparel: [
    ['tee-classic', 'Classic Cotton Tee', 'Northline', 1900, ['s', 'm', 'l', 'xl'], 120],
    ['hoodie-zip', 'Zip Hoodie', 'Northline', 5400, ['s', 'm', 'l'], 60],
    ['jeans-slim', 'Slim Fit Jeans', 'Denimworks', 6900, ['30', '32', '34'], 45],
    ['rain-jacket', 'Packable Rain Jacket', 'Fjellwear', 8900, ['m', 'l'], 30],
    ['wool-socks', 'Merino Wool Socks', 'Fjellwear', 1500, ['m', 'l'], 200],
    ['polo-pique', 'Pique Polo Shirt', 'Harbor & Co', 3500, ['s', 'm', 'l'], 70],
    ['beanie', 'Ribbed Beanie', 'Northline', 1800, null, 90],
  ],
  footwear: [
    ['runner-one', 'Runner One Running Shoe', 'Stride', 11900, ['42', '43', '44'], 40],
    ['trail-x', 'Trail X Hiking Boot', 'Fjellwear', 15900, ['42', '44'], 25],
    ['canvas-low', 'Canvas Low Sneaker', 'Harbor & Co', 5500, ['40', '42', '44'], 80],
    ['slides', 'Recovery Slides', 'Stride', 2900, ['m', 'l'], 100],
    ['derby-leather', 'Leather Derby Shoe', 'Oakmoor', 17900, ['42', '43'], 15],
  ],
  electronics: [
    ['earbuds-pro', 'Wireless Earbuds Pro', 'Sonica', 14900, ['black', 'white'], 50],
    ['speaker-mini', 'Mini Bluetooth Speaker', 'Sonica', 4900, ['blue', 'grey'], 75],
    ['charger-65w', '65W USB-C Charger', 'Voltix', 3900, null, 150],
    ['powerbank-20k', '20,000 mAh Power Bank', 'Voltix', 4500, null, 60],
    ['kb-mech', 'Mechanical Keyboard', 'Keyforge', 9900, ['brown', 'red'], 35],
    ['mouse-ergo', 'Ergonomic Mouse', 'Keyforge', 5900, null, 55],
    ['webcam-hd', '1080p Webcam', 'Optica', 6900, null, 20],
  ],
  home: [
    ['mug-stoneware', 'Stoneware Mug', 'Hearth', 1400, ['sand', 'slate'], 160],
    ['french-press', 'French Press 1L', 'Hearth', 3400, null, 40],
    ['throw-blanket', 'Knitted Throw Blanket', 'Loomhaus', 5900, ['oat', 'charcoal'], 30],
    ['lamp-desk', 'LED Desk Lamp', 'Lumen', 4900, null, 45],
    ['candle-cedar', 'Cedar Scented Candle', 'Hearth', 2200, null, 110],
    ['towel-set', 'Cotton Towel Set', 'Loomhaus', 3900, ['white', 'grey'], 50],
    ['knife-chef', "Chef's Knife 20cm", 'Edgeworks', 7900, null, 25],
  ],
  books: [
    ['book-distributed', 'Designing Distributed Systems', 'Kestrel Press', 3900, null, 40],
    ['book-sqlite', 'The SQLite Handbook', 'Kestrel Press', 2900, null, 35],
    ['book-typescript', 'Effective TypeScript Patterns', 'Lantern Books', 3400, null, 50],
    ['book-cooking', 'Weeknight Cooking', 'Lantern Books', 2500, null, 60],
    ['book-hiking', 'Trails of the North', 'Kestrel Press', 2200, null, 25],
    ['notebook-dot', 'Dotted Notebook A5', 'Paperfield', 1200, ['black', 'olive'], 140],
  ],
  outdoor: [
    ['tent-2p', 'Two-Person Tent', 'Fjellwear', 24900, null, 12],
    ['sleeping-bag', 'Down Sleeping Bag', 'Fjellwear', 19900, ['regular', 'long'], 18],
    ['backpack-30', 'Daypack 30L', 'Trailhead', 7900, ['green', 'black'], 40],
    ['bottle-steel', 'Insulated Steel Bottle', 'Trailhead', 2900, ['0.5l', '1l'], 120],
    ['headlamp', 'Rechargeable Headlamp', 'Lumen', 3900, null, 65],
    ['camp-stove', 'Compact Camp Stove', 'Trailhead', 5900, null, 22],
  ],
  beauty: [
    ['soap-bar', 'Oat Milk Soap Bar', 'Meadow', 800, null, 250],
    ['face-cream', 'Daily Face Cream', 'Meadow', 2800, null, 70],
    ['shampoo', 'Gentle Shampoo 300ml', 'Meadow', 1600, null, 90],
    ['lip-balm', 'Beeswax Lip Balm', 'Meadow', 600, ['plain', 'mint'], 300],
    ['razor-safety', 'Safety Razor', 'Edgeworks', 3400, null, 30],
  ],
  toys: [
    ['blocks-wood', 'Wooden Building Blocks', 'Tinker', 3900, null, 45],
    ['puzzle-1000', '1000-Piece Puzzle', 'Tinker', 2400, ['city', 'forest'], 55],
    ['kite', 'Delta Kite', 'Skyward', 2900, null, 35],
    ['board-game', 'Strategy Board Game', 'Tinker', 4900, null, 28],
    ['plush-bear', 'Plush Bear', 'Tinker', 1900, null, 80],
    ['yo-yo', 'Ball-Bearing Yo-Yo', 'Skyward', 1200, ['red', 'blue'], 150],
  ],
};

export interface DemoItem {
  product: ProductInput;
  /** Units in stock per sku. */
  stock: { sku: string; qty: number }[];
}

/** The demo products with their stock (50 products, 8 categories). */
export function demoCatalog(): DemoItem[] {
  const items: DemoItem[] = [];
  for (const [category, rows] of Object.entries(CATALOG)) {
    for (const [id, name, brand, price, variants, stock] of rows) {
      const skus = variants ? variants.map((v) => ({ sku: `${id}-${v}`, price, attributes: { option: v } })) : [{ sku: id, price }];
      items.push({
        product: {
          productId: id,
          name,
          category,
          brand,
          status: 'active',
          description: `${name} by ${brand}.`,
          variants: skus,
        },
        stock: skus.map((v, i) => ({ sku: v.sku, qty: Math.max(1, Math.round(stock / skus.length) + i) })),
      });
    }
  }
  return items;
}

/** The demo products that get a picture at seed time: the first `perCategory` of each category. */
export function picturedDemoProducts(perCategory: number): string[] {
  return Object.values(CATALOG).flatMap((rows) => rows.slice(0, perCategory).map((r) => r[0]));
}

/**
 * SEED_DEMO=1: the demo products and their stock, through the normal actor path, until it has
 * completed once. Every step is idempotent (stock is set with `adjustment`, products are
 * upserted) and the last product is written last, so a start that died half-way seeds again.
 */
export async function seedDemo(pool: ShardPool, catalog: CatalogView, maxBacklog: number, clustered: boolean): Promise<void> {
  // In a cluster a partition may be moving between nodes while this node starts: wait that out.
  // On one node UNAVAILABLE means the disk refuses writes, and the start stops.
  const wait = clustered ? SEED_UNAVAILABLE_MS : 0;
  const items = demoCatalog();
  if (catalog.product(items[items.length - 1].product.productId, true)) return;
  // In chunks no larger than the shard backlog limit: more at once would be refused as OVERLOADED.
  const stock = items.flatMap((i) => i.stock);
  for (let i = 0; i < stock.length; i += maxBacklog) {
    const results = await Promise.all(
      stock
        .slice(i, i + maxBacklog)
        .map(({ sku, qty }) =>
          callUntilAvailable(pool, wait, skuKey(sku), { type: 'adjust', txType: 'adjustment', qty, reason: 'demo catalog', warehouse: 'main' }),
        ),
    );
    const failed = results.flatMap((r, j) => (r.ok ? [] : [`${stock[i + j].sku} (${r.error.code})`]));
    // Products without their stock would look ready: stop the start instead.
    if (failed.length > 0) throw new Error(`demo catalog stock not stored for ${failed.join(', ')}`);
  }
  for (const { product } of items) {
    const r = await callUntilAvailable(pool, wait, CATALOG_KEY, { type: 'upsert', product });
    if (!r.ok) throw new Error(`demo catalog: ${product.productId}: ${r.error.message}`);
  }
}

/** How long seeding in a cluster waits out UNAVAILABLE answers (a partition moving between nodes at start). */
const SEED_UNAVAILABLE_MS = 60_000;

/** pool.call, asked again after the hinted delay while the answer is UNAVAILABLE, for up to `waitMs` (every seed step is idempotent). */
async function callUntilAvailable<K extends ActorKind, const C extends CommandOf<K>>(
  pool: ShardPool,
  waitMs: number,
  key: ActorKey<K>,
  cmd: C,
): Promise<Answer<ResultOf<K, C>>> {
  const end = Date.now() + waitMs;
  for (;;) {
    const r = await pool.call(key, cmd);
    if (r.ok || r.error.code !== 'UNAVAILABLE' || Date.now() >= end) return r;
    const hint = Number((r.error.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs);
    await new Promise((resolve) => setTimeout(resolve, Number.isFinite(hint) && hint > 0 ? Math.min(hint, 5_000) : 200));
  }
}
