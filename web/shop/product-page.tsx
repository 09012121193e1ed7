// One product: description, attributes, options with live stock, "Similar" and "For you".
import { useEffect } from 'preact/hooks';
import { Recommendations } from './recommendations.js';
import { useProduct, type Shop } from './shop.js';
import { BuyBox } from './buy-box.js';
import { ProductImage } from './product-image.js';

export function ProductPage({ shop, productId }: { shop: Shop; productId: string }) {
  const product = useProduct(shop.client, productId);
  useEffect(() => {
    // Views feed the recommendations; losing one is harmless.
    shop.client.call('event.view', { productId }).catch(() => undefined);
  }, [shop.client, productId]);

  if (product === null) return <p>Loading…</p>;
  if (product === undefined || product.variants.length === 0)
    return (
      <p>
        This product is not sold here. <a href="#/">Back to the shop</a>
      </p>
    );
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
        <BuyBox key={product.productId} shop={shop} product={product} addedText="Added to your cart" />
      </article>
      <Recommendations shop={shop} title="Similar" productId={product.productId} />
      <Recommendations shop={shop} title="For you" />
    </>
  );
}
