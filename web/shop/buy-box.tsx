// The buying part of a product card and a product page: price, the variant to buy, its live
// stock, "Add to cart" and what the add answered. Keyed by product, so a new product starts over.
import type { ProductView } from '@cartwire/client';
import { useState } from 'preact/hooks';
import { money } from '../common/format.js';
import { stockText, useStock, type Shop } from './shop.js';

const variantName = (v: ProductView['variants'][number]): string => (v.attributes ? Object.values(v.attributes).join(' / ') || v.sku : v.sku);

export function BuyBox({ shop, product, addedText }: { shop: Shop; product: ProductView; addedText: string }) {
  const [sku, setSku] = useState(product.variants[0]?.sku ?? '');
  const [message, setMessage] = useState('');
  const variant = product.variants.find((v) => v.sku === sku) ?? product.variants[0];
  const available = useStock(shop.client, variant?.sku ?? '', variant?.available);
  if (!variant) return null;

  const add = async () => {
    setMessage('');
    setMessage((await shop.add(variant.sku)) ?? addedText);
  };

  return (
    <>
      <p class="price">{money(variant.price, variant.currency)}</p>
      {product.variants.length > 1 && (
        <label class="variant">
          Option
          <select aria-label={`Option of ${product.name}`} value={variant.sku} onChange={(e) => setSku(e.currentTarget.value)}>
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
    </>
  );
}
