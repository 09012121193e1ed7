// The catalog actor: a single writer for all products, so a sku belongs to exactly one product
// whatever the concurrency. Catalog writes are rare admin operations; reads are served from the
// committed catalog view that the edge keeps (src/transport/catalog-view.ts).
import { accept, reject, type ActorType, type Decision, type DomainEvent } from './actor.js';
import type { ImageView, ProductStatus, ProductView, VariantView } from '../protocol/types.js';
import { mediaSrcset, mediaUrl } from '../protocol/media.js';
import { DEFAULT_CURRENCY } from './money.js';

export interface ProductInput {
  productId: string;
  name: string;
  category: string;
  brand?: string;
  description?: string;
  attributes?: Record<string, string>;
  status?: ProductStatus;
  variants: { sku: string; price: number; currency?: string; attributes?: Record<string, string> }[];
}

export interface Catalog {
  products: Map<string, ProductView>;
  /** sku -> productId: the uniqueness index. */
  owners: Map<string, string>;
}

/** An image as catalog.setImages names it, with the size the media store read from its header. */
export interface ImageInput {
  mediaId: string;
  alt: string;
  width: number;
  height: number;
}

export type CatalogCommand =
  { type: 'upsert'; product: ProductInput } | { type: 'get'; productId: string } | { type: 'setImages'; productId: string; images: ImageInput[] };
/** Every catalog event carries the whole product as it is after the event. */
export type CatalogEvent = { type: 'product_upserted'; product: ProductView; at: number } | { type: 'images_set'; product: ProductView; at: number };

export function decide(c: Catalog, cmd: CatalogCommand, now: number): Decision<CatalogEvent> {
  if (cmd.type === 'get') {
    return c.products.has(cmd.productId) ? { events: [] } : reject('NOT_FOUND', `unknown product ${cmd.productId}`);
  }
  if (cmd.type === 'setImages') return setImages(c, cmd.productId, cmd.images, now);
  const p = cmd.product;
  const seen = new Set<string>();
  const variants: VariantView[] = [];
  for (const v of p.variants) {
    if (seen.has(v.sku)) return reject('BAD_REQUEST', `sku ${v.sku} appears twice`, { sku: v.sku });
    seen.add(v.sku);
    const owner = c.owners.get(v.sku);
    if (owner !== undefined && owner !== p.productId) {
      return reject('CONFLICT', `sku ${v.sku} belongs to product ${owner}`, { sku: v.sku, productId: owner });
    }
    const variant: VariantView = { sku: v.sku, price: v.price, currency: v.currency ?? DEFAULT_CURRENCY };
    if (v.attributes) variant.attributes = v.attributes;
    variants.push(variant);
  }
  const before = c.products.get(p.productId);
  const product: ProductView = {
    productId: p.productId,
    name: p.name,
    category: p.category,
    status: p.status ?? 'active',
    variants,
    createdAt: before?.createdAt ?? now,
    updatedAt: now,
  };
  if (p.brand !== undefined) product.brand = p.brand;
  if (p.description !== undefined) product.description = p.description;
  if (p.attributes !== undefined) product.attributes = p.attributes;
  // Images are set apart (catalog.setImages): replacing the product's fields keeps them.
  product.images = before?.images ?? [];
  return accept([{ type: 'product_upserted', product, at: now }]);
}

function setImages(c: Catalog, productId: string, images: ImageInput[], now: number): Decision<CatalogEvent> {
  const before = c.products.get(productId);
  if (!before) return reject('NOT_FOUND', `unknown product ${productId}`);
  const views: ImageView[] = images.map(({ mediaId, alt, width, height }) => ({
    mediaId,
    alt,
    width,
    height,
    url: mediaUrl(mediaId),
    srcset: mediaSrcset(mediaId, width),
  }));
  return accept([{ type: 'images_set', product: { ...before, images: views, updatedAt: now }, at: now }]);
}

export function apply(c: Catalog, e: CatalogEvent): Catalog {
  const before = c.products.get(e.product.productId);
  // Skus dropped from a product are free for another product again.
  if (before) for (const v of before.variants) c.owners.delete(v.sku);
  for (const v of e.product.variants) c.owners.set(v.sku, e.product.productId);
  c.products.set(e.product.productId, e.product);
  return c;
}

export function create(): Catalog {
  return { products: new Map(), owners: new Map() };
}

/** price_changed when an upsert moves the price of a variant that existed before. */
function priceChanged(c: Catalog, e: CatalogEvent): DomainEvent | undefined {
  const before = c.products.get(e.product.productId);
  if (!before) return undefined;
  const old = new Map(before.variants.map((v) => [v.sku, v]));
  const changes = [];
  for (const v of e.product.variants) {
    const o = old.get(v.sku);
    if (o && (o.price !== v.price || o.currency !== v.currency)) changes.push({ sku: v.sku, from: o.price, to: v.price, currency: v.currency });
  }
  return changes.length === 0 ? undefined : { name: 'price_changed', data: { productId: e.product.productId, changes, at: e.at } };
}

/** The product the command named (a `get` of an unknown product is rejected, so never undefined in a reply). */
export type CatalogResults = { readonly [T in CatalogCommand['type']]: ProductView };

export const CatalogActor: ActorType<Catalog, CatalogCommand, CatalogEvent, CatalogResults> = {
  kind: 'catalog',
  domain: priceChanged,
  create,
  decide,
  apply,
  view: (c, cmd) => c.products.get(cmd.type === 'upsert' ? cmd.product.productId : cmd.productId)!,
  snapshot: (c) => [...c.products.values()],
  restore(_id, data) {
    const c = create();
    for (const product of data as ProductView[]) apply(c, { type: 'product_upserted', product, at: product.updatedAt });
    return c;
  },
};
