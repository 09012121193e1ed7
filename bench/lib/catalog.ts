// What the load asks for, from the demo catalog the server seeds (SEED_DEMO=1).
import { demoCatalog } from '../../src/app/catalog/demo-catalog.js';

/** Skus with stock enough for a line of qty `min`. */
export function stockedSkus(min = 10): string[] {
  return demoCatalog().flatMap((d) => d.stock.filter((s) => s.qty >= min).map((s) => s.sku));
}

/** Every product id (catalog.get). */
export function productIds(): string[] {
  return demoCatalog().map((d) => d.product.productId);
}

/** Units in stock per sku (the Redis peer's stock hash). */
export function stockBySku(): Record<string, number> {
  return Object.fromEntries(demoCatalog().flatMap((d) => d.stock.map((s) => [s.sku, s.qty])));
}
