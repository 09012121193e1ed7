// One product in a list: name, price, live stock of the chosen variant, and "Add to cart".
import type { ProductView } from '@cartwire/client';
import type { Shop } from './shop.js';
import { ProductImage } from './product-image.js';
import { BuyBox } from './buy-box.js';

export function ProductCard({ shop, product, reason }: { shop: Shop; product: ProductView; reason?: string }) {
  if (product.variants.length === 0) return null;
  return (
    <article class="card" aria-label={product.name}>
      {product.images?.[0] && <ProductImage image={product.images[0]} sizes="(max-width: 640px) 100vw, 280px" />}
      <h3>
        <a href={`#/product/${encodeURIComponent(product.productId)}`}>{product.name}</a>
      </h3>
      <p class="meta">
        {product.brand} · {product.category}
      </p>
      {reason && <p class="reason">{reason}</p>}
      <BuyBox key={product.productId} shop={shop} product={product} addedText="Added" />
    </article>
  );
}
