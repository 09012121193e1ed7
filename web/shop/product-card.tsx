// One product in a list: name, price, live stock of the chosen variant, and "Add to cart".
import type { ProductView } from '@cartwire/client';
import { useState } from 'preact/hooks';
import { money } from '../shared/format.js';
import { stockText, useStock, type Shop } from './shop.js';
import { ProductImage } from './product-image.js';

const variantName = (v: ProductView['variants'][number]): string => (v.attributes ? Object.values(v.attributes).join(' / ') || v.sku : v.sku);

export function ProductCard({ shop, product, reason }: { shop: Shop; product: ProductView; reason?: string }) {
  const [sku, setSku] = useState(product.variants[0]?.sku ?? '');
  const [message, setMessage] = useState('');
  const variant = product.variants.find((v) => v.sku === sku) ?? product.variants[0];
  const available = useStock(shop.client, sku, variant?.available);
  if (!variant) return null;

  const add = async () => {
    setMessage('');
    setMessage((await shop.add(sku)) ?? 'Added');
  };

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
      <p class="price">{money(variant.price, variant.currency)}</p>
      {product.variants.length > 1 && (
        <label class="variant">
          Option
          <select aria-label={`Option of ${product.name}`} value={sku} onChange={(e) => setSku(e.currentTarget.value)}>
            {product.variants.map((v) => (
              <option key={v.sku} value={v.sku}>
                {variantName(v)}
              </option>
            ))}
          </select>
        </label>
      )}
      <p class={available === 0 ? 'stock out' : 'stock'}>{stockText(available)}</p>
      <button type="button" disabled={available === 0} onClick={() => void add()}>
        Add to cart
      </button>
      <p class="note" aria-live="polite">
        {message}
      </p>
    </article>
  );
}
