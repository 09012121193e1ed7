// One product: description, attributes, options with live stock, "Similar" and "For you".
import { useEffect, useState } from 'preact/hooks';
import { money } from '../shared/format.js';
import { Recommendations } from './recommendations.js';
import { stockText, useProduct, useStock, type Shop } from './shop.js';
import { ProductImage } from './product-image.js';

export function ProductPage({ shop, productId }: { shop: Shop; productId: string }) {
  const product = useProduct(shop.client, productId);
  const [sku, setSku] = useState('');
  const [message, setMessage] = useState('');
  useEffect(() => {
    // Views feed the recommendations; losing one is harmless.
    shop.client.call('event.view', { productId }).catch(() => undefined);
  }, [shop.client, productId]);
  useEffect(() => setSku(product?.variants[0]?.sku ?? ''), [product]);
  const variant = product?.variants.find((v) => v.sku === sku) ?? product?.variants[0];
  const available = useStock(shop.client, variant?.sku ?? '', variant?.available);

  if (product === null) return <p>Loading…</p>;
  if (product === undefined || !variant)
    return (
      <p>
        This product is not sold here. <a href="#/">Back to the shop</a>
      </p>
    );
  const add = async () => {
    setMessage('');
    setMessage((await shop.add(variant.sku)) ?? 'Added to your cart');
  };
  return (
    <>
      <article class="product" aria-labelledby="product-name">
        <p>
          <a href="#/">← All products</a>
        </p>
        <h1 id="product-name">{product.name}</h1>
        {(product.images?.length ?? 0) > 0 && (
          <div class="gallery">
            {product.images!.map((image, i) => (
              // The first picture is the page's main content: loaded at once; the others when scrolled to.
              <ProductImage key={image.mediaId} image={image} sizes="(max-width: 800px) 100vw, 640px" eager={i === 0} />
            ))}
          </div>
        )}
        <p class="meta">
          {product.brand} · {product.category}
        </p>
        {product.description && <p>{product.description}</p>}
        {product.attributes && (
          <dl class="attributes">
            {Object.entries(product.attributes).map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
        )}
        <p class="price">{money(variant.price, variant.currency)}</p>
        {product.variants.length > 1 && (
          <label>
            Option
            <select value={variant.sku} onChange={(e) => setSku(e.currentTarget.value)}>
              {product.variants.map((v) => (
                <option key={v.sku} value={v.sku}>
                  {v.attributes ? Object.values(v.attributes).join(' / ') : v.sku}
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
      <Recommendations shop={shop} title="Similar" productId={product.productId} />
      <Recommendations shop={shop} title="For you" />
    </>
  );
}
