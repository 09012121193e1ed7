// The edge's read model of the catalog and of committed stock. It is fed only by committed shard
// replies, so every read it serves is durable; cart commands take price and availability from it.
import type { ItemInfo } from '../../actors/cart-actor.js';
import type { ProductView, VariantView } from '../../protocol/types.js';
import { CatalogSearch, type SearchQuery } from './catalog-search.js';
import { encodeValue } from '../../protocol/frames.js';
import type { Page } from '../../protocol/ops.js';
import { skuKey } from '../../protocol/keys.js';
import { Encoded, fail, type Answer } from '../../transport/dispatch.js';
import { CachedText } from '../../transport/http-cache.js';
import { createHash } from 'node:crypto';

/** A search page stays far below the per-connection send limit: fewer items instead (nextCursor goes on). */
const MAX_SEARCH_REPLY_BYTES = 1024 * 1024;

interface SkuEntry {
  product: ProductView;
  variant: VariantView;
}

export class CatalogView {
  private readonly products = new Map<string, ProductView>();
  private readonly bySku = new Map<string, SkuEntry>();
  private readonly stock = new Map<string, number>();
  private readonly index = new CatalogSearch();
  /** catalog.get reply bodies (product with live stock), encoded once until the product or its stock changes. */
  private readonly encoded = new Map<string, Uint8Array>();
  /** GET /products/<id>.json bodies with their ETags, dropped with `encoded`. */
  private readonly json = new Map<string, CachedText>();

  get productCount(): number {
    return this.products.size;
  }

  applyProducts(products: readonly ProductView[]): void {
    for (const p of products) {
      const before = this.products.get(p.productId);
      if (before) for (const v of before.variants) this.bySku.delete(v.sku);
      this.products.set(p.productId, p);
      for (const variant of p.variants) this.bySku.set(variant.sku, { product: p, variant });
      this.index.upsert(p);
      this.forget(p.productId);
    }
  }

  applyStock(entries: readonly [string, number][]): void {
    for (const [sku, available] of entries) {
      if (this.stock.get(sku) === available) continue;
      this.stock.set(sku, available);
      const e = this.bySku.get(sku);
      if (e) this.forget(e.product.productId);
    }
  }

  /** The committed availability of the skus `pick` selects (cluster mode: the partitions a node owns). */
  stockWhere(pick: (skuKey: string) => boolean): [string, number][] {
    const out: [string, number][] = [];
    for (const [sku, n] of this.stock) if (pick(skuKey(sku))) out.push([sku, n]);
    return out;
  }

  allProducts(): ProductView[] {
    return [...this.products.values()];
  }

  available(sku: string): number {
    return this.stock.get(sku) ?? 0;
  }

  hasSku(sku: string): boolean {
    return this.bySku.has(sku);
  }

  /** Price and stock of a sku that can go in a cart (its product active), else undefined. */
  itemInfo(sku: string): ItemInfo | undefined {
    const e = this.bySku.get(sku);
    if (!e || e.product.status !== 'active') return undefined;
    return { productId: e.product.productId, name: e.product.name, unitPrice: e.variant.price, currency: e.variant.currency, available: this.available(sku) };
  }

  /** product() encoded for a reply (cached: catalog.get is the hottest read), or undefined. */
  productEncoded(productId: string, admin: boolean): Uint8Array | undefined {
    const p = this.stored(productId, admin);
    if (!p) return undefined;
    let bytes = this.encoded.get(productId);
    if (!bytes) this.encoded.set(productId, (bytes = encodeValue(this.live(p))));
    return bytes;
  }

  /**
   * An active product as JSON for GET /products/<id>.json, kept until it or its stock changes.
   * The ETag is the product's version (updatedAt) and a digest of the body, live stock included:
   * a cache revalidating it never keeps a price or a stock level older than its max-age.
   */
  productJson(productId: string): CachedText | undefined {
    const p = this.stored(productId, false);
    if (!p) return undefined;
    let text = this.json.get(productId);
    if (!text) {
      const body = JSON.stringify(this.live(p));
      const digest = createHash('sha256').update(body).digest('base64url').slice(0, 16);
      this.json.set(productId, (text = new CachedText(body, `"${p.updatedAt.toString(36)}-${digest}"`, 'application/json')));
    }
    return text;
  }

  /** Every media id some product (any status) shows. */
  *referencedMedia(): Iterable<string> {
    for (const p of this.products.values()) for (const i of p.images ?? []) yield i.mediaId;
  }

  /** The stored product (no live stock, nothing copied: for checks on hot paths), if visible. */
  stored(productId: string, admin: boolean): ProductView | undefined {
    const p = this.products.get(productId);
    return p && (admin || p.status === 'active') ? p : undefined;
  }

  /** Whether some variant of the product has stock now. */
  inStock(p: ProductView): boolean {
    for (const v of p.variants) if (this.available(v.sku) > 0) return true;
    return false;
  }

  /** A product with each variant's live `available`; non-admins see active products only. */
  product(productId: string, admin: boolean): ProductView | undefined {
    const p = this.stored(productId, admin);
    return p && this.live(p);
  }

  /**
   * catalog.search: one page of matching products in productId order, each variant with its
   * live `available`; non-admins see active products only. A bad cursor or range is an error.
   */
  search(query: SearchQuery, admin: boolean): { ok: true; result: { items: ProductView[]; nextCursor: string | null } } | { ok: false; message: string } {
    const page = this.index.search(query, admin);
    if (!page.ok) return page;
    return { ok: true, result: { items: page.products.map((p) => this.live(p)), nextCursor: page.nextCursor } };
  }

  /**
   * catalog.search encoded for the reply. Big products (100 variants, long descriptions) could
   * make a page of several MiB: it then holds fewer items, and nextCursor carries on.
   */
  searchEncoded(query: SearchQuery, admin: boolean): Encoded<Page<ProductView>> | Answer<never> {
    let r = this.search(query, admin);
    if (!r.ok) return fail('BAD_REQUEST', r.message);
    let bytes = encodeValue(r.result);
    while (bytes.length > MAX_SEARCH_REPLY_BYTES && r.result.items.length > 1) {
      const smaller = this.search({ ...query, limit: Math.ceil(r.result.items.length / 2) }, admin);
      if (!smaller.ok) break;
      r = smaller;
      bytes = encodeValue(r.result);
    }
    return new Encoded(bytes);
  }

  private live(p: ProductView): ProductView {
    return { ...p, variants: p.variants.map((v) => ({ ...v, available: this.available(v.sku) })), images: p.images ?? [] };
  }

  private forget(productId: string): void {
    this.encoded.delete(productId);
    this.json.delete(productId);
  }
}
