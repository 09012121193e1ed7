// "For you" (recs.forUser) and "Similar" (recs.similar) as rows of product cards.
import type { ProductView } from '@cartwire/client';
import { useEffect, useState } from 'preact/hooks';
import { ProductCard } from './product-card.js';
import type { Shop } from './shop.js';

interface Props {
  shop: Shop;
  title: string;
  /** Similar to this product; without it, for the signed-in user. */
  productId?: string;
}

export function Recommendations({ shop, title, productId }: Props) {
  const [items, setItems] = useState<{ product: ProductView; reason: string }[]>([]);
  const userId = shop.session.userId;
  useEffect(() => {
    let current = true;
    const recs = productId ? shop.client.call('recs.similar', { productId, limit: 4 }) : shop.client.call('recs.forUser', { limit: 4 });
    recs
      .then((list) => Promise.all(list.map(async (r) => ({ product: await shop.client.call('catalog.get', { productId: r.productId }), reason: r.reason }))))
      .then((found) => current && setItems(found))
      .catch(() => current && setItems([]));
    return () => {
      current = false;
    };
  }, [shop.client, productId, userId]);
  if (items.length === 0) return null;
  const id = `recs-${productId ?? 'user'}`;
  return (
    <section class="recs" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <div class="grid small">
        {items.map(({ product, reason }) => (
          <ProductCard key={product.productId} shop={shop} product={product} reason={reason} />
        ))}
      </div>
    </section>
  );
}
